"""The app of bench/e2e/workers.py: every answer is the pid of the worker process that made it.

Lifespan is answered so every server starts without warnings.
"""

from __future__ import annotations

import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    pid = str(os.getpid()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(pid))],
        }
    )
    await send({"type": "http.response.body", "body": pid})
