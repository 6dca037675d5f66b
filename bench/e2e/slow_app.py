"""The ASGI app of bench/slow_peers.py: a tiny answer and a large streamed one.

- GET /big: 200, 1 MiB with Content-Length, sent as 16 body messages of 64 KiB (what
  Starlette's FileResponse does), so write flow control decides how much waits in memory.
- anything else: 200 "Hello, world!" (13 bytes), the normal client's request.
Lifespan is answered so every server starts without warnings.
"""

from __future__ import annotations

HELLO = b"Hello, world!"
BIG = bytes(range(256)) * 4096  # 1 MiB
PART = 65536

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO}
_BIG_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", b"1048576")],
}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/big":
        await send(_BIG_START)
        for start in range(0, len(BIG), PART):
            more = start + PART < len(BIG)
            part = BIG[start : start + PART]
            await send({"type": "http.response.body", "body": part, "more_body": more})
    else:
        await send(_HELLO_START)
        await send(_HELLO_BODY)
