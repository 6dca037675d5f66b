"""WSGIMiddleware: a WSGI app as an ASGI 3 app, usable under any ASGI server.

Strategy: the same machinery as `sailfish --interface wsgi` (runner.py): the environ from
`build_environ`, the app on a `WorkerPool` thread as a `Call`, the body through a `WSGIInput`,
and the thread's output drained by one loop wake-up per batch, here turned into ASGI `send`
calls. The request body is pulled with `receive()` only once the app first reads it (so a
server that sends `100 Continue` on the first receive() sends it then), or once a streamed
response begins (to notice `http.disconnect`). Reading stops while HIGH_WATER bytes wait for
the app. Lifespan scopes are answered (a WSGI app has none; at shutdown the pool's threads are
told to end); websocket ones refused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sailfish._types import Receive, Scope, Send
from sailfish.wsgi.runner import (
    EMPTY_INPUT,
    HIGH_WATER,
    Call,
    EmptyInput,
    WorkerPool,
    WSGIApp,
    WSGIInput,
    base_environ,
)

__all__ = ["WSGIMiddleware"]

_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]


class WSGIMiddleware:
    """Serve a WSGI application as an ASGI 3 application.

    Args:
        app: The WSGI application.
        workers: Threads of the pool it runs on (ignored when `pool` is given).
        pool: A WorkerPool to share (sailfish's server passes its own).
        logger: Where app errors and `wsgi.errors` go (default `sailfish.error`).
        multiprocess: `wsgi.multiprocess`: the server runs the app in several processes.
    """

    def __init__(
        self,
        app: WSGIApp,
        workers: int = 10,
        *,
        pool: WorkerPool | None = None,
        logger: logging.Logger | None = None,
        multiprocess: bool = False,
    ) -> None:
        self.app = app
        self.pool = pool if pool is not None else WorkerPool(workers)
        self.logger = logger if logger is not None else logging.getLogger("sailfish.error")
        self.base = base_environ(self.logger, multiprocess)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await _Exchange(self, scope, receive, send).run()
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    # The threads end once their jobs are done (not waited for here: a stuck
                    # app must not hold the shutdown); a later request starts new ones.
                    self.pool.shutdown(timeout=0)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise RuntimeError(f"WSGIMiddleware cannot serve a {kind!r} scope")


class _Exchange:
    """One HTTP request through WSGIMiddleware."""

    def __init__(self, owner: WSGIMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        from sailfish.wsgi import build_environ

        self.loop = asyncio.get_running_loop()
        self.receive = receive
        self.send = send
        self.wake = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.room = asyncio.Event()  # the input has room for more body
        self.room.set()
        self.buffered = 0  # body bytes fed and not yet taken by the app
        self.gone = False  # the client disconnected
        environ = build_environ(scope if type(scope) is dict else dict(scope), owner.base)
        has_body = _may_have_body(scope)
        if has_body:
            self.input: WSGIInput | EmptyInput = WSGIInput(self._first_read, self._taken)
        else:
            self.input = EMPTY_INPUT
        environ["wsgi.input"] = self.input
        self.call = Call(
            owner.app, environ, self.loop, self.wake.set, owner.logger, scope["method"] == "HEAD"
        )
        self.pool = owner.pool

    def _first_read(self) -> None:
        self.loop.call_soon_threadsafe(self._start_reader)

    def _taken(self, size: int) -> None:
        self.loop.call_soon_threadsafe(self._took, size)

    def _took(self, size: int) -> None:
        self.buffered -= size
        if self.buffered < HIGH_WATER:
            self.room.set()

    def _start_reader(self) -> None:
        if self.reader is None:
            self.reader = self.loop.create_task(self._read_body())

    async def _read_body(self) -> None:
        """Feed the input from receive(); on http.disconnect, stop the call."""
        while True:
            message = await self.receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                more = message.get("more_body", False)
                self.input.feed(body, not more)
                self.buffered += len(body)
                if not more:
                    # Keep listening for a disconnect while the response goes on.
                    while True:
                        message = await self.receive()
                        if message["type"] == "http.disconnect":
                            break
                    self._gone()
                    return
                if self.buffered >= HIGH_WATER:
                    self.room.clear()
                    await self.room.wait()
            elif message["type"] == "http.disconnect":
                self._gone()
                return

    def _gone(self) -> None:
        self.gone = True
        self.input.abort()
        self.call.stop()
        self.wake.set()

    async def run(self) -> None:
        call = self.call
        self.pool.submit(call.run)
        started = False
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.gone:
                    return
                call.scheduled = False
                outbox = call.outbox
                body: Any = None
                final = False
                failed: BaseException | None = None
                start: dict[str, Any] | None = None
                while outbox:
                    item = outbox.popleft()
                    if type(item) is bytes:
                        body = item if body is None else body + item
                    elif type(item) is dict:
                        start = item
                    elif item is None:
                        final = True
                    else:
                        failed = item
                        break
                if start is not None:
                    await self.send(start)
                    started = True
                if failed is not None:
                    call.stop()
                    if body is not None and started:
                        await self.send(
                            {"type": "http.response.body", "body": body, "more_body": True}
                        )
                    if not started:
                        await self.send(
                            {"type": "http.response.start", "status": 500, "headers": _TEXT}
                        )
                        await self.send(
                            {"type": "http.response.body", "body": b"Internal Server Error"}
                        )
                        return
                    raise RuntimeError("the WSGI application failed after its response began")
                if body is None and not final:
                    continue
                if not final:
                    self._start_reader()  # a streamed response: listen for a disconnect
                await self.send(
                    {"type": "http.response.body", "body": body or b"", "more_body": not final}
                )
                if final:
                    return
                call.ack(len(body))
        except OSError:
            call.stop()  # the client is gone (ASGI spec 2.4: send raises OSError)
            self.input.abort()
            raise
        finally:
            if self.reader is not None and not self.reader.done():
                self.reader.cancel()


def _may_have_body(scope: Scope) -> bool:
    """Whether the request may carry a body: a Content-Length other than 0, or chunked."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False
