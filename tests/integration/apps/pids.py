"""An ASGI app for the worker-process tests: every answer names the process that made it.

Paths:
    /block      block the worker's event loop (time.sleep) for 60 s: a hung worker
    /slow?t=S   write "slow <pid>" to stderr, sleep S seconds (asyncio), then answer
    anything    the pid, as the body and in x-pid
`broken` is a module that raises while importing (see broken.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/block":
        time.sleep(60)
    elif path == "/slow":
        print(f"slow {os.getpid()}", file=sys.stderr, flush=True)
        await asyncio.sleep(float(scope["query_string"].decode().partition("=")[2] or 0.1))
    pid = str(os.getpid()).encode()
    headers = [(b"x-pid", pid), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": pid})
