"""The one raw ASGI application every server under test runs (no framework).

Routes (what each scenario asks for):
- S1, S2, S4: any GET outside the routes below -> 200 "Hello, world!" (13 bytes, content-length).
- S3: POST /upload -> reads the whole body, answers its length in decimal ("4096").
- S5: GET /stream -> 200 streamed as STREAM_PARTS body messages with no content-length, so the
  server frames it chunked.
Lifespan is answered so every server starts without warnings.
"""

from __future__ import annotations

HELLO = b"Hello, world!"
STREAM_PART = b"Hello, world!\n"
STREAM_PARTS = 10

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO}
_STREAM_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        return
    path = scope["path"]
    if path == "/upload":
        size = 0
        more = True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = str(size).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif path == "/stream":
        await send(_STREAM_START)
        for _ in range(STREAM_PARTS - 1):
            await send({"type": "http.response.body", "body": STREAM_PART, "more_body": True})
        await send({"type": "http.response.body", "body": STREAM_PART})
    else:
        await send(_HELLO_START)
        await send(_HELLO_BODY)
