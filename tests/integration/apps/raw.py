"""A plain ASGI 3 application whose paths exercise the server, and records what it saw.

Each `RawApp` instance keeps what the test needs to inspect from the app side (disconnects,
errors raised by `send`, how many requests arrived) in thread-safe containers, because the
server runs in another thread. `app` is a module-level instance for subprocess servers;
`announcing` also writes "arrived <path>" to stderr as each request reaches it, so a test
driving a server process can wait for its requests to be in the app instead of sleeping.

Paths:
    /echo              read the whole body, answer it back (x-body-sha256, x-body-length)
    /slow?t=SECONDS    sleep, then "done"
    /forever           never answer
    /big?n=BYTES       an n-byte body in 1 MiB sends with Content-Length
    /stream?n=PARTS    n chunked parts "part i\n"
    /stream-forever    64 KiB parts until send() fails; the failure is recorded
    /wait-body         receive() until the body ends or http.disconnect; both are recorded
    /raise             raise ValueError before anything is sent
    /raise-after?n=N   a complete N-byte response, then an exception
    /state             the lifespan state keys seen in scope["state"]
    anything else      "hello <path>" (with the query string after "?")
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
from typing import Any
from urllib.parse import parse_qs

PATTERN = bytes(range(256)) * 4096  # 1 MiB


def pattern(size: int) -> bytes:
    full, rest = divmod(size, len(PATTERN))
    return PATTERN * full + PATTERN[:rest]


class RawApp:
    def __init__(self, announce: bool = False) -> None:
        self.announce = announce
        self.lock = threading.Lock()
        self.arrived = 0
        self.finished = 0
        self.received: list[dict[str, Any]] = []  # messages seen by /wait-body
        self.disconnected = threading.Event()
        self.send_errors: list[BaseException] = []
        self.send_failed = threading.Event()
        self.all_arrived = threading.Event()
        self.expected = 0  # set by a test: all_arrived fires when this many have arrived
        self.lifespan_events: list[str] = []
        self.cancelled: list[asyncio.CancelledError] = []  # what cancelled requests saw

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan_events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["started_by"] = "raw"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "http"
        with self.lock:
            self.arrived += 1
            if self.expected and self.arrived >= self.expected:
                self.all_arrived.set()
        if self.announce:
            print(f"arrived {scope['path']}", file=sys.stderr, flush=True)
        try:
            await self.dispatch(scope, receive, send)
        except asyncio.CancelledError as exc:
            self.cancelled.append(exc)
            raise
        finally:
            with self.lock:
                self.finished += 1

    async def dispatch(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if path == "/echo":
            body = await read_body(receive)
            await respond(
                send,
                body,
                [
                    (b"content-type", b"application/octet-stream"),
                    (b"x-body-sha256", hashlib.sha256(body).hexdigest().encode()),
                    (b"x-body-length", str(len(body)).encode()),
                ],
            )
        elif path == "/slow":
            await read_body(receive)
            await asyncio.sleep(float(query.get("t", "0.3")))
            await respond(send, b"done")
        elif path == "/forever":
            await asyncio.Event().wait()
        elif path == "/big":
            size = int(query.get("n", str(10 * 1024 * 1024)))
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(size).encode())],
                }
            )
            body = pattern(size)
            step = 1024 * 1024
            for start in range(0, size, step):
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[start : start + step],
                        "more_body": start + step < size,
                    }
                )
            if size == 0:
                await send({"type": "http.response.body", "body": b""})
        elif path == "/stream":
            parts = int(query.get("n", "5"))
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(parts):
                await send(
                    {"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True}
                )
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
        elif path == "/stream-forever":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            chunk = b"x" * 65536
            try:
                for _ in range(100000):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await asyncio.sleep(0.001)
            except BaseException as exc:
                self.send_errors.append(exc)
                self.send_failed.set()
                raise
        elif path == "/wait-body":
            while True:
                message = await receive()
                self.received.append(message)
                if message["type"] == "http.disconnect":
                    self.disconnected.set()
                    return
                if not message.get("more_body", False):
                    break
            size = sum(len(m.get("body", b"")) for m in self.received)
            await respond(send, b"got %d" % size)
        elif path == "/raise":
            raise ValueError("the app fails before its response starts")
        elif path == "/raise-after":
            size = int(query.get("n", "10"))
            await respond(send, pattern(size), [(b"content-length", str(size).encode())])
            raise RuntimeError("the app fails after its response is complete")
        elif path == "/state":
            await respond(send, ",".join(sorted(scope["state"])).encode())
        else:
            await read_body(receive)
            text = path + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
            await respond(send, b"hello " + text.encode())


async def read_body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client disconnected")
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def respond(
    send: Any, body: bytes, headers: list[tuple[bytes, bytes]] | None = None, status: int = 200
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers or [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = RawApp()
announcing = RawApp(announce=True)
