"""Raw-socket helpers for the integration tests: connect, read whole responses, wait for close.

`Conn` wraps a blocking socket with a timeout and a buffer, so several responses that arrive in
one segment (pipelining) are split correctly. `read_response()` understands Content-Length,
chunked and close-delimited bodies and skips nothing: a 100 Continue is returned as its own
response, so a test can see it. `wait_for` (bounded polling that fails with a message) comes
from tests/waiting.py and is re-exported here.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from waiting import wait_for

TIMEOUT = 5.0


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


class Closed(Exception):
    """The peer closed the connection before a whole response arrived."""

    def __init__(self, buffered: bytes) -> None:
        super().__init__(
            f"the peer closed the connection with {len(buffered)} byte(s) of an incomplete "
            f"response buffered: {buffered[:120]!r}{'...' if len(buffered) > 120 else ''}"
        )
        self.buffered = buffered


class Conn:
    """A client connection to 127.0.0.1:port with a read buffer."""

    def __init__(self, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buffer = b""

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(262144)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise Closed(self.buffer)
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def _read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise Closed(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_head(self) -> Response:
        head = self._read_until(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        version, status, *reason = lines[0].decode("latin-1").split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return Response(
            status=int(status),
            reason=reason[0] if reason else "",
            version=version,
            headers=headers,
            raw_head=head,
        )

    def read_response(self, method: str = "GET") -> Response:
        """One whole response (a 1xx is a response of its own, without a body)."""
        response = self.read_head()
        if 100 <= response.status < 200 or response.status in (204, 304) or method == "HEAD":
            return response
        length = response.header("content-length")
        if response.header("transfer-encoding") == "chunked":
            parts = []
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self._read_until(b"\r\n"):  # trailer fields, then an empty line
                        pass
                    break
                parts.append(self._read_exact(size))
                assert self._read_exact(2) == b"\r\n"
            response.body = b"".join(parts)
        elif length is not None:
            response.body = self._read_exact(int(length))
        else:
            while self._fill():
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def read_until_closed(self, timeout: float = TIMEOUT) -> bytes:
        """Everything until the peer closes; raises TimeoutError if it does not in time."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server did not close the connection")
            self.sock.settimeout(remaining)
            try:
                if not self._fill():
                    break
            except ConnectionResetError:
                break
        data, self.buffer = self.buffer, b""
        return data

    def is_closed_by_peer(self, timeout: float = TIMEOUT) -> bool:
        """True if the peer closes (EOF or reset) within `timeout` with no more bytes."""
        try:
            return self.read_until_closed(timeout) == b""
        except TimeoutError:
            return False


def request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
    host: str | None = "127.0.0.1",
) -> bytes:
    """The bytes of one request; Content-Length is added for a non-empty body."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if body and not any(
        n.lower() in ("content-length", "transfer-encoding") for n, _ in headers or []
    ):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_bytes(actual: bytes, expected: bytes) -> None:
    """Equality of large byte strings with a short message (pytest's diff of MBs is useless)."""
    if actual == expected:
        return
    index = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    raise AssertionError(
        f"{len(actual)} bytes received, {len(expected)} expected; first difference at byte {index}"
    )


__all__ = ["Closed", "Conn", "Response", "assert_bytes", "request", "wait_for"]
