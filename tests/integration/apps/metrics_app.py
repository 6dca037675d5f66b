"""An ASGI app for the metrics tests.

Paths:
    /status/NNN  answer with status NNN
    /slow?t=S    sleep S seconds (asyncio), then answer 200
    anything     200 with the worker's pid as the body
"""

from __future__ import annotations

import asyncio
import os
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    status = 200
    if path.startswith("/status/"):
        status = int(path.rpartition("/")[2])
    elif path == "/slow":
        await asyncio.sleep(float(scope["query_string"].decode().partition("=")[2] or 0.1))
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})
