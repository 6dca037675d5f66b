"""The ASGI application of the soak (bench/soak.py): every kind of traffic one worker serves.

Routes:
- GET / (and any path below not listed) -> 200 "Hello, world!" (13 bytes, content-length).
- GET /missing... -> 404 (any path starting with /missing).
- POST /upload -> reads the whole body (Content-Length or chunked), answers its length.
- GET /stream -> 10 body messages of 14 bytes, no content-length: chunked.
- GET /drip -> 64 body messages of 1 KiB, yielding to the loop between them (a client that
  leaves in the middle finds the app still sending).
- GET /error -> raises before the response starts: 500 and a logged traceback.
- GET /error-late -> raises after the response started: the connection is aborted.
- GET /_soak/stats -> JSON {"tasks": N}: the asyncio tasks alive on the server's loop besides
  the one answering, read by the driver between rounds (a private route, so measuring needs
  nothing from sailfish itself).
- websocket -> accepted; each message echoed as it came until the client leaves.
Lifespan is answered.
"""

from __future__ import annotations

import asyncio
import json

HELLO = b"Hello, world!"
STREAM_PART = b"Hello, world!\n"
STREAM_PARTS = 10
DRIP_PART = b"d" * 1024
DRIP_PARTS = 64

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO}
_NOT_FOUND_START = {
    "type": "http.response.start",
    "status": 404,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"9")],
}
_NOT_FOUND_BODY = {"type": "http.response.body", "body": b"not found"}
_STREAMED_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
_ACCEPT = {"type": "websocket.accept"}


class SoakError(Exception):
    """What /error and /error-late raise: the server must answer 500 or abort, and go on."""


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _small(send, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _echo(receive, send):
    await receive()  # websocket.connect
    await send(_ACCEPT)
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "websocket":
        await _echo(receive, send)
        return
    if kind != "http":
        if kind == "lifespan":
            await _lifespan(receive, send)
        return
    path = scope["path"]
    if path == "/":
        await send(_HELLO_START)
        await send(_HELLO_BODY)
    elif path == "/upload":
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        await _small(send, 200, str(size).encode())
    elif path.startswith("/missing"):
        await send(_NOT_FOUND_START)
        await send(_NOT_FOUND_BODY)
    elif path == "/stream":
        await send(_STREAMED_START)
        for _ in range(STREAM_PARTS - 1):
            await send({"type": "http.response.body", "body": STREAM_PART, "more_body": True})
        await send({"type": "http.response.body", "body": STREAM_PART})
    elif path == "/drip":
        await send(_STREAMED_START)
        for _ in range(DRIP_PARTS - 1):
            await send({"type": "http.response.body", "body": DRIP_PART, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": DRIP_PART})
    elif path == "/error":
        raise SoakError("soak: an error before the response started (500 expected)")
    elif path == "/error-late":
        await send(_STREAMED_START)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise SoakError("soak: an error after the response started (abort expected)")
    elif path == "/_soak/stats":
        current = asyncio.current_task()
        tasks = sum(1 for task in asyncio.all_tasks() if task is not current)
        await _small(send, 200, json.dumps({"tasks": tasks}).encode(), b"application/json")
    else:
        await send(_HELLO_START)
        await send(_HELLO_BODY)
