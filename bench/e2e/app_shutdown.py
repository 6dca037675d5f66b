"""The app of bench/shutdown.py: quick answers, and slow ones held until the bench releases them.

`/slow` appends one byte to the file named by BENCH_ARRIVALS as it arrives (so the bench knows,
across worker processes, when all are in flight), then waits until the file named by
BENCH_RELEASE exists, and answers SLOW_BODY. Anything else answers "ok" at once.
Lifespan is answered so every server starts without warnings.
"""

from __future__ import annotations

import asyncio
import os

SLOW_BODY = b"s" * 4096
POLL = 0.005


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = b"ok"
    if scope["path"] == "/slow":
        fd = os.open(os.environ["BENCH_ARRIVALS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        release = os.environ["BENCH_RELEASE"]
        while not os.path.exists(release):
            await asyncio.sleep(POLL)
        body = SLOW_BODY
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
