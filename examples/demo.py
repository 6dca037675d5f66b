"""The app `make demo` serves: plain ASGI 3, no framework, a few routes to try with curl.

curl -i http://127.0.0.1:8000/                 hello
curl -i http://127.0.0.1:8000/json             a JSON document
curl -i http://127.0.0.1:8000/stream           a chunked response in 5 parts
curl -i -d 'some body' http://127.0.0.1:8000/echo   the request body back
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/json":
        body = json.dumps(
            {
                "method": scope["method"],
                "path": path,
                "query": scope["query_string"].decode("latin-1"),
                "client": scope["client"],
                "headers": {k.decode(): v.decode("latin-1") for k, v in scope["headers"]},
            },
            indent=2,
        ).encode()
        await respond(send, 200, body, b"application/json")
    elif path == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for i in range(5):
            await send({"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"done\n"})
    elif path == "/echo":
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await respond(send, 200, b"".join(chunks))
    elif path == "/":
        await respond(send, 200, b"Hello from sailfish!\n")
    else:
        await respond(send, 404, b"Not Found\n")


async def respond(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
