"""Shell test helpers: a stand-in protocol, apps, and a server run in a thread.

`StandInProtocol` speaks just enough HTTP/1.1 (one GET per connection round, keep-alive,
Content-Length responses) to exercise Server without sailfish.protocols; it honours the same
constructor and `shutdown()` contract the real HTTPProtocol implements.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from sailfish.config import Config
from sailfish.server import Server
from waiting import poll_until

# Make the sailfish loggers propagate to the root logger, where caplog listens.
PROPAGATE_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "sailfish": {"level": "DEBUG", "propagate": True},
        "sailfish.access": {"level": "DEBUG", "propagate": True},
    },
}


class StandInProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 protocol with the HTTPProtocol constructor and shutdown()."""

    def __init__(
        self,
        config: Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server_state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.busy or b"\r\n\r\n" not in self.buffer:
            return
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n")[0].split(b" ")
        headers = [
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
        ]
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        client = tuple(peer[:2]) if isinstance(peer, tuple) else None
        path, _, query = target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.5"},
            "http_version": "1.1",
            "method": method.decode(),
            "scheme": "http",
            "path": path.decode(),
            "raw_path": path,
            "query_string": query,
            "root_path": self.config.root_path,
            "headers": headers,
            "client": client,
            "server": None,
            "state": dict(self.app_state),
        }
        self.busy = True
        self.server_state.total_requests += 1
        task = self.loop.create_task(self.run_app(scope))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    async def run_app(self, scope: dict[str, Any]) -> None:
        status = 500
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                chunks.append(message.get("body", b""))

        try:
            await self.config.loaded_app(scope, receive, send)
        finally:
            body = b"".join(chunks)
            assert self.transport is not None
            if not self.transport.is_closing():
                self.transport.write(
                    b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)
                )
            self.busy = False
            if self.closing:
                self.transport.close()

    def shutdown(self) -> None:
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()


def get(port: int, path: str = "/", host: str = "127.0.0.1", timeout: float = 5.0) -> bytes:
    """One GET over a fresh connection; returns everything until the peer closes or a body."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return read_response(sock)


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


async def hello_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello " + scope["path"].encode()})


def make_config(app: Any = hello_app, **options: Any) -> Config:
    options.setdefault("port", 0)
    options.setdefault("log_config", PROPAGATE_LOG_CONFIG)
    options.setdefault("loop", "asyncio")
    return Config.from_options(app, **options)


@contextlib.contextmanager
def server_in_thread(
    config: Config, protocol: Any = StandInProtocol, timeout: float = 10.0
) -> Iterator[Server]:
    """Run Server(config).run() in a thread; stop it (gracefully) when the block ends."""
    server = Server(config, protocol_factory=protocol)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    poll_until(lambda: server.started or not thread.is_alive(), timeout)
    if errors:
        raise errors[0]
    assert server.started, "the server did not start"
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout)
        assert not thread.is_alive(), "the server did not stop"
    if errors:
        raise errors[0]


def port_of(server: Server) -> int:
    return int(server.sockets[0].getsockname()[1])
