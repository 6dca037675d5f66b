"""The raw ASGI app of the flood benchmark (bench/floods.py), the same for every server.

HTTP: `/slow?t=S` answers after S seconds and counts its calls and the most that ran at once
(`/arrived` reports "calls max"); any other path is answered with the path as the body, so a
pipelining client can check the order. WebSocket: `/slow` reads one message per millisecond
(an app that is behind), `/spew` sends 1 KiB messages until the peer goes, anything else
echoes. Lifespan is answered so every server starts without warnings.
"""

from __future__ import annotations

import asyncio

STATE = {"arrived": 0, "running": 0, "max": 0}
_CHUNK = b"x" * 1024


async def _answer(send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _http(scope, receive, send) -> None:
    path = scope["path"]
    if path == "/slow":
        STATE["arrived"] += 1
        STATE["running"] += 1
        STATE["max"] = max(STATE["max"], STATE["running"])
        try:
            query = scope["query_string"].decode()
            await asyncio.sleep(float(query[2:]) if query.startswith("t=") else 1.0)
            await _answer(send, b"ok")
        finally:
            STATE["running"] -= 1
    elif path == "/arrived":
        await _answer(send, b"%d %d" % (STATE["arrived"], STATE["max"]))
    elif path == "/reset":
        STATE.update(arrived=0, running=0, max=0)
        await _answer(send, b"reset")
    else:
        await _answer(send, path.encode())


async def _websocket(scope, receive, send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    path = scope["path"]
    if path == "/spew":
        reader = asyncio.ensure_future(receive())
        try:
            while not reader.done():
                await send({"type": "websocket.send", "bytes": _CHUNK})
        except OSError:
            pass
        finally:
            reader.cancel()
        return
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        if path == "/slow":
            await asyncio.sleep(0.001)
        else:
            data = {k: message[k] for k in ("text", "bytes") if message.get(k) is not None}
            await send({"type": "websocket.send", **data})


async def app(scope, receive, send) -> None:
    kind = scope["type"]
    if kind == "http":
        await _http(scope, receive, send)
    elif kind == "websocket":
        await _websocket(scope, receive, send)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
