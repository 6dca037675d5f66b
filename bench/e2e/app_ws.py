"""The raw ASGI WebSocket echo app of the WebSocket benchmark (bench/e2e/ws.py), no framework.

Every handshake is accepted; each message goes back as it came (text as text, bytes as bytes)
until the client disconnects. An HTTP request gets a short 200, which the driver uses to see
that the server is up. Lifespan is answered so every server starts without warnings.
"""

from __future__ import annotations

_ACCEPT = {"type": "websocket.accept"}
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")],
}
_OK_BODY = {"type": "http.response.body", "body": b"ok\n"}


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "websocket":
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
    elif kind == "http":
        await send(_OK_START)
        await send(_OK_BODY)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
