"""Apps whose requests wait for the test: they announce they are in flight, then hold.

For tests that signal a server process while requests are in flight. Each request (and each
WebSocket, and each WSGI call) writes a line to stderr as it reaches the app, so the test
waits for exactly that; then it waits until the file named by SAILFISH_TEST_RELEASE exists
(the test creates it to let them finish; a process cannot share an Event with the test).

ASGI `app`:
    /held            "held /held", wait for the release, then BODY (Content-Length)
    anything else    "quick <path>" at once
    websocket        accept, "ws open", then wait for a message; "ws disconnect <code>"
                     when the server's shutdown ends it
WSGI `wsgi`: "wsgi held" in its thread, wait for the release, then BODY.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

BODY = bytes(range(256)) * 64  # 16 KiB: a response that is whole or visibly not
POLL = 0.005  # seconds between looks at the release file


def released() -> bool:
    return os.path.exists(os.environ["SAILFISH_TEST_RELEASE"])


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        say("ws open")
        message = await receive()
        say(f"ws {message['type'].rpartition('.')[2]} {message.get('code')}")
        return
    path = scope["path"]
    if path == "/held":
        say("held /held")
        while not released():
            await asyncio.sleep(POLL)
        body = BODY
    else:
        say(f"quick {path}")
        body = b"quick " + path.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    say("wsgi held")
    while not released():
        time.sleep(POLL)
    start_response("200 OK", [("Content-Length", str(len(BODY)))])
    return [BODY]
