"""WSGI requests over HTTPProtocol: the loop's side of a request run on the thread pool.

Strategy: with `--interface wsgi`, HTTPProtocol asks its `wsgi` runner (a `WSGIRunner`) for
each request's cycle and hands the cycle to it instead of starting a task. A `WSGICycle` is a
RequestCycle (so the connection's pipelining, keep-alive, 100-continue, error answers and
access log apply unchanged) whose app runs on a worker thread as a `sailfish.wsgi.runner.Call`:
the environ comes from the core (`build_environ`, from the scope the parser built), the body
goes to the thread through a `WSGIInput`, and the thread's output comes back through one
loop callback, `deliver`, which frames it with the connection's ResponseWriter (the same one
ASGI responses use). Reading pauses while the pool's queue is longer than its thread count
(the transport itself only once bytes come: see `WSGIRunner.launch`).
Nothing here runs app code or blocks. Compiled with the shell (wsgi.pxd); import it from
sailfish.protocols.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from sailfish.wsgi import build_environ
from sailfish.wsgi.runner import (
    EMPTY_INPUT,
    SENDFILE,
    Call,
    EmptyInput,
    SendFile,
    WorkerPool,
    WSGIApp,
    WSGIInput,
    base_environ,
)

from .http1 import RequestCycle

__all__ = ["WSGICycle", "WSGIRunner"]


class WSGIRunner:
    """What an HTTPProtocol needs to serve a WSGI app (one per server, shared).

    Args:
        app: The WSGI application.
        pool: The worker threads it runs on.
        logger: Where app errors and `wsgi.errors` go.
        multiprocess: `wsgi.multiprocess` (the server runs several worker processes).
    """

    def __init__(
        self,
        app: WSGIApp,
        pool: WorkerPool,
        logger: logging.Logger | None = None,
        multiprocess: bool = False,
    ) -> None:
        self.app = app
        self.pool = pool
        self.logger = logger if logger is not None else logging.getLogger("sailfish.error")
        self.base = base_environ(self.logger, multiprocess)
        self.stalled: list[Any] = []  # connections paused while the queue is full
        self.batch: list[Any] = []  # jobs of this loop iteration, not yet handed over

    def cycle(self, conn: Any, request: Any) -> WSGICycle:
        """The cycle of a request whose scope the protocol has just finished."""
        return WSGICycle(conn, request, self)

    def launch(self, cycle: WSGICycle) -> None:
        """Queue the cycle's app call; past `pool.size` waiting calls, stop reading `conn`."""
        cycle.started = True  # handed over: the connection must not hold writes for it
        pool = self.pool
        # Handed to the pool once per loop iteration, all together: waking a thread for each
        # request would switch away from the loop in the middle of its iteration.
        batch = self.batch
        batch.append(cycle.work)
        if len(batch) == 1:
            cycle.conn.loop.call_soon(self._flush)
        conn = cycle.conn
        if pool.backlog + len(batch) > pool.size and not conn.read_paused:
            # Paused without pausing the transport: HTTPProtocol.data_received pauses it once
            # bytes come. A keep-alive client waits for its response and sends none, so most
            # stalls never cost the two epoll changes of a pause and a resume.
            conn.read_paused = True
            self.stalled.append(conn)

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        self.pool.submit_many(batch)

    def check_backlog(self) -> None:
        """After a response: resume the stalled connections once the queue has room."""
        if self.stalled and self.pool.backlog <= self.pool.size // 2:
            stalled, self.stalled = self.stalled, []
            for conn in stalled:
                if conn.read_paused:
                    conn._maybe_resume_reading()  # parses what came meanwhile, then reads on


class WSGICycle(RequestCycle):
    """One WSGI request on an HTTPProtocol connection (see the module docstring).

    Args:
        conn: The connection (as for RequestCycle).
        request: The core's Request, its scope finished (proxy headers applied).
        runner: The server's WSGIRunner.
    """

    def __init__(self, conn: Any, request: Any, runner: WSGIRunner) -> None:
        RequestCycle.__init__(self, conn, request)
        self.runner = runner
        self.queued = 0  # body bytes given to the input
        self.told = 0  # of those, reported to the connection as taken
        self.raw = False  # a file response's head is out: body bytes go unframed
        self.by_sendfile = False  # ... and the thread sends them (os.sendfile, not `_write`)
        environ = build_environ(self.scope, runner.base)
        self.input: WSGIInput | EmptyInput
        if request.has_body:
            loop = conn.loop
            self.input = WSGIInput(
                (lambda: loop.call_soon_threadsafe(self._send_continue))
                if request.expect_continue
                else None,
                lambda size: loop.call_soon_threadsafe(self.taken, size),
            )
        else:
            self.input = EMPTY_INPUT
        environ["wsgi.input"] = self.input
        self.call = Call(
            runner.app,
            environ,
            conn.loop,
            self.deliver,
            conn.logger,
            self.scope["method"] == "HEAD",
            SENDFILE,
        )

    # -- the worker thread ---------------------------------------------------------------------

    def work(self) -> None:
        if not self.abandoned:
            self.call.run()

    # -- fed by the connection -----------------------------------------------------------------

    def on_body(self, message: dict[str, Any]) -> None:
        more = message["more_body"]
        if not more:
            self.body_done = True
        if self.response_complete:
            return
        data = message["body"]
        self.input.feed(data, not more)
        if data:
            self.queued += len(data)
            self.conn.body_queued(len(data))

    def on_disconnect(self) -> None:
        self.disconnected = True
        self.input.abort()
        self.call.stop()

    def on_eof(self) -> None:
        self.peer_done = True
        if not self.body_done:
            self.on_disconnect()

    def taken(self, size: int) -> None:
        """The app's thread took `size` body bytes (read flow control)."""
        size = min(size, self.queued - self.told)
        if size > 0:
            self.told += size
            self.conn.body_taken(size)

    # -- the thread's output -------------------------------------------------------------------

    def deliver(self) -> None:
        """Drain the call's outbox: frame and write what the app produced."""
        call = self.call
        call.scheduled = False
        outbox = call.outbox
        conn = self.conn
        if self.response_complete or self.disconnected or conn.closing:
            self._drop()
            if self.disconnected and not self.response_complete:
                # The client left mid-request (EOF before the whole body): the app's output
                # has nowhere to go, and a half-closed connection would stay open for good.
                conn.close()
            return
        body: Any = None
        final = False
        failed: BaseException | None = None
        while outbox:
            item = outbox.popleft()
            if type(item) is bytes:
                body = item if body is None else body + item
            elif type(item) is SendFile:
                try:
                    self._start_file(item)
                except Exception as exc:
                    item.ready.set()
                    conn.logger.error("Exception in WSGI application", exc_info=exc)
                    failed = exc
                    break
            elif type(item) is dict:
                try:
                    self._start_response(item)
                except Exception as exc:
                    conn.logger.error("Exception in WSGI application", exc_info=exc)
                    failed = exc
                    break
            elif item is None:
                final = True
            else:
                failed = item
                break
        if failed is not None:
            self._drop()
            if body is not None and self.response_started:
                self._write(body, False)
            self.fail()
            self.runner.check_backlog()
            return
        if body is None and not final:
            return
        self._write(body if body is not None else b"", final)

    def _drop(self) -> None:
        """Produce nothing more: the response is answered, cut, or its client gone."""
        call = self.call
        call.stop()
        for item in call.outbox:
            if type(item) is SendFile:
                item.ready.set()  # its thread waits for the socket: it will not come
        call.outbox.clear()

    def _start_file(self, plan: SendFile) -> None:
        """Start a file response: the head now, then the socket for the thread's sendfile.

        The writer frames it as it would a HEAD response (the head, with the Content-Length
        the thread put in, and no body), and the body bytes go out raw after it: by sendfile
        from the thread on a duplicate of the socket's descriptor when the transport is a
        plain socket with nothing waiting to be written, else as chunks through `_write`.
        """
        conn = self.conn
        message = plan.message
        conn.writer.start(
            message, "HEAD", self.scope["http_version"], conn.response_keep_alive(self)
        )
        self.response_started = True
        self.status = message["status"]
        self.raw = True
        conn.write(conn.writer.body({"type": "http.response.body", "body": b""}))
        conn.flush()
        transport = conn.transport
        if (
            SENDFILE
            and transport is not None
            and not conn.closing
            and transport.get_extra_info("sslcontext") is None
            and transport.get_write_buffer_size() == 0
        ):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    plan.sock = os.dup(sock.fileno())
                    self.by_sendfile = True
                except (OSError, ValueError):
                    plan.sock = None
        plan.ready.set()

    def _write(self, body: bytes, final: bool) -> None:
        conn = self.conn
        if self.raw:
            # After a file response's head: the writer is done, the bytes go as they are
            # (the last ones may come with the end, when the Content-Length is reached).
            if body:
                conn.write(body)
                if self.access_log:
                    self.size += len(body)
            if final:
                self._complete(b"")
            elif conn.write_paused:
                conn.loop.create_task(self._ack_after_drain(len(body)))
            else:
                self.call.ack(len(body))
            return
        try:
            data = conn.writer.body(
                {"type": "http.response.body", "body": body, "more_body": not final}
            )
        except Exception as exc:
            conn.logger.error("Exception in WSGI application", exc_info=exc)
            self.call.stop()
            self.fail()
            return
        if self.access_log:
            self.size += len(body)
        if final:
            self._complete(data)
            return
        if data:
            conn.write(data)
        if conn.write_paused:
            conn.loop.create_task(self._ack_after_drain(len(body)))
        else:
            self.call.ack(len(body))

    def _complete(self, data: bytes) -> None:
        conn = self.conn
        conn.write(data, True)
        self.response_complete = True
        if self.by_sendfile:
            conn.sent += self.call.file_sent  # what the thread sent (the connection's count)
        if self.access_log:
            if self.raw:
                self.size = self.call.count
            self._log_access()
        self.taken(self.queued - self.told)  # what the app left unread is released
        conn.response_complete(self)
        self.runner.check_backlog()

    async def _ack_after_drain(self, size: int) -> None:
        await self.conn.drain()
        self.call.ack(size)
