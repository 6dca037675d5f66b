"""HTTPProtocol: the asyncio shell between a transport, the sans-IO core and the app.

Strategy: bytes go into `RequestParser.feed`, which returns whole events (Request heads,
`http.request` messages, or a final HTTPError); each Request becomes a `RequestCycle` whose
app runs in its own Task. Cycles run one at a time per connection, in arrival order
(pipelined requests wait in `self.pipeline`), because responses must leave in order.
Response messages go through the connection's `ResponseWriter`, which validates them and
returns wire bytes. Writes are coalesced: they collect in `out` and go to the transport once
per loop iteration (so a streamed response written in one step, or the responses to pipelined
requests, share one write), at once past HIGH_WATER bytes. No timer is armed per
request: one ticker per event loop checks every connection's single deadline (keep-alive
idle, or header read). This module never parses bytes or builds headers itself, and never
imports the server: everything it needs comes in through `config` and `server_state`.
Other servers' contracts (sailfish.uvicorn) subclass `HTTPProtocol` and `RequestCycle` and
override the hook methods marked "Hook:"; the behaviour documented here stays the default.

This one source is also compiled: setup.py builds it with Cython, in pure-Python mode, into
the extension `sailfish.protocol`, which Python imports instead of this file. protocol.pxd
makes both classes extension types with typed attributes (what pays: ~18% of the shell's CPU
per request in bench/bench_shell.py; compiled without the types it ran slower than the .py),
so the classes here avoid what extension types cannot have: a Python base class, attributes
assigned to the class after it is made, attributes not in the .pxd. Methods stay `def`, so
subclasses override them as before. SAILFISH_NO_EXTENSIONS=1 runs this file as plain Python
(see sailfish._compat); `COMPILED` says which one runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, ClassVar

from sailfish import http as _twin
from sailfish.errors import HTTPError
from sailfish.http import Request, RequestParser, ResponseWriter
from sailfish.middleware import apply_proxy_headers

try:
    import cython  # at compile time Cython answers this import itself
except ImportError:  # running as plain Python, Cython not installed
    COMPILED = False
else:
    COMPILED = bool(cython.compiled)
if not COMPILED and _twin.REQUIRE_EXTENSIONS and not _twin.NO_EXTENSIONS:
    raise ImportError("SAILFISH_REQUIRE_EXTENSIONS=1, but sailfish.protocol runs uncompiled")

__all__ = ["COMPILED", "ClientDisconnected", "HTTPProtocol", "RequestCycle"]

error_logger = logging.getLogger("sailfish.error")
access_logger = logging.getLogger("sailfish.access")

# Reading stops while this many body bytes wait for the app, or this many requests wait in the
# pipeline, and resumes once the app has taken them. Collected writes go out past HIGH_WATER.
HIGH_WATER = 65536
MAX_PIPELINE = 16
# "a server ... that closes the connection ... while the client might still be sending data
# ... SHOULD ... close the sending half first, then keep reading (and discarding) for a while"
# -- the lingering close of RFC 9112 §9.6, bounded by this many seconds.
LINGER_TIMEOUT = 2.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
CLOSE = (b"connection", b"close")
REASONS = {
    400: b"Invalid HTTP request received.",
    408: b"Request header read timed out.",
    413: b"Request body too large.",
    414: b"Request line too long.",
    431: b"Request header fields too large.",
    500: b"Internal Server Error",
    501: b"Transfer coding not implemented.",
    503: b"Service Unavailable",
    505: b"HTTP version not supported.",
}
DISCONNECT = "http.disconnect"


class ClientDisconnected(OSError):
    """send() after the client went away (ASGI HTTP spec 2.4: an OSError subclass)."""


class _Ticker:
    """One periodic callback per event loop that enforces every connection's deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.protocols: set[HTTPProtocol] = set()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, protocol: HTTPProtocol, interval: float) -> None:
        self.protocols.add(protocol)
        if interval < self.interval:
            self.interval = interval
            if self.handle is not None:
                self.handle.cancel()
                self.handle = None
        if self.handle is None:
            self.handle = self.loop.call_later(self.interval, self.tick)

    def discard(self, protocol: HTTPProtocol) -> None:
        self.protocols.discard(protocol)

    def tick(self) -> None:
        now = self.loop.time()
        for protocol in [p for p in self.protocols if 0.0 < p.deadline <= now]:
            protocol.on_deadline()
        if self.protocols:
            self.handle = self.loop.call_later(self.interval, self.tick)
        else:
            self.handle = None
            _tickers.pop(self.loop, None)


_tickers: dict[asyncio.AbstractEventLoop, _Ticker] = {}


# "eager_start" (Python 3.12+): a task runs its first step inside create, not a loop turn later.
EAGER_TASKS = sys.version_info >= (3, 12)
_Task = asyncio.Task


def _tick_interval(*timeouts: float) -> float:
    return max(0.05, min([1.0] + [t / 4 for t in timeouts if t > 0]))


async def _service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [TEXT_PLAIN, CLOSE],
        }
    )
    await send({"type": "http.response.body", "body": REASONS[503]})


class RequestCycle:
    """One request/response: the app's `receive` and `send`, and the response state."""

    __slots__ = (
        "body",
        "body_done",
        "continue_sent",
        "disconnected",
        "empty_body_sent",
        "expect_continue",
        "proto",
        "request",
        "response_complete",
        "response_started",
        "scope",
        "size",
        "start_time",
        "finished",
        "started",
        "status",
        "task",
        "waiter",
    )

    def __init__(self, proto: HTTPProtocol, request: Any) -> None:
        self.proto = proto
        self.request = request
        scope = request.scope
        scope["state"] = proto.app_state.copy()
        self.scope = scope
        self.body: deque[dict[str, Any]] | None = None  # made when a body message comes
        self.body_done = not request.has_body  # every body message has arrived
        self.expect_continue = request.expect_continue
        self.continue_sent = False
        self.empty_body_sent = False
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.waiter: asyncio.Future[None] | None = None
        self.task: Any = None
        self.started = False  # run_asgi has begun
        self.finished = False  # run_asgi has ended
        self.status = 0
        self.size = 0
        self.start_time = time.perf_counter() if proto.access_log else 0.0

    # -- fed by the protocol ----------------------------------------------------------------

    def on_body(self, message: dict[str, Any]) -> None:
        if self.response_complete:  # the response is out: drop the rest (see _drain_body)
            self.body_done = not message["more_body"]
            return
        body = self.body
        if body is None:
            body = self.body = deque()
        body.append(message)
        self.proto.buffered_body += len(message["body"])
        if not message["more_body"]:
            self.body_done = True
        if self.proto.buffered_body > HIGH_WATER:
            self.proto._pause_reading()
        self._wake()

    def on_disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the app's side --------------------------------------------------------------------

    def cancel_unstarted(self) -> None:
        """Cancel the app's task if it has not begun: the app will never see this request."""
        task = self.task
        if self.started or task is None:
            return
        # A task cancelled before its first step never runs run_asgi, whose end would
        # have taken it out of `tasks`.
        self.task = None
        self.proto.tasks.discard(task)
        cancel = getattr(task, "cancel", None)  # test doubles may have none
        if cancel is not None:
            cancel()

    async def run_asgi(self, app: Any) -> None:
        self.started = True
        try:
            try:
                result = await app(self.scope, self.receive, self.send)
            except BaseException as exc:
                self._raised(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            if result is not None:
                self._returned(result)
            if not self.response_complete:
                if not self.disconnected:
                    self.proto.logger.error(
                        "ASGI callable returned without %s response.",
                        "completing" if self.response_started else "starting",
                    )
                self._fail()
        finally:
            self.finished = True
            task = self.task
            if task is not None:
                self.task = None  # the task holds this cycle: no reference cycle per request
                self.proto.tasks.discard(task)

    def _raised(self, exc: BaseException) -> None:
        if self.disconnected and isinstance(exc, (ClientDisconnected, asyncio.CancelledError)):
            # The client went away and the app let the resulting error out: not a bug.
            self.proto.logger.debug("ASGI application stopped after a disconnect: %r", exc)
        else:
            self.proto.logger.error("Exception in ASGI application", exc_info=exc)
        self._fail()

    def _returned(self, result: object) -> None:
        """Hook: the app returned something other than None."""
        self.proto.logger.error("ASGI callable should return None, but returned %r.", result)

    def _fail(self) -> None:
        """The app broke or gave up: 500 if nothing was sent, else abort (no short body).

        A complete response stands (the error came after it); a cycle whose client went away
        only makes sure the connection is closed.
        """
        proto = self.proto
        if self.response_complete or proto.closing or proto.transport is None:
            return
        if self.disconnected:
            proto._close()
        elif not self.response_started:
            self.response_started = self.response_complete = True
            self.status = 500
            self.size = len(REASONS[500])
            proto._send_error(500)
            if proto.access_log:
                self._log_access()
        else:
            proto._abort()

    async def receive(self) -> dict[str, Any]:
        while True:
            if self.body:
                message = self.body.popleft()
                proto = self.proto
                proto.buffered_body -= len(message["body"])
                if proto.read_paused:
                    proto._maybe_resume_reading()
                return message
            if self.disconnected:
                return {"type": DISCONNECT}
            if self.body_done:
                if not self.request.has_body and not self.empty_body_sent:
                    self.empty_body_sent = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                if self.response_complete:
                    return {"type": DISCONNECT}
            elif self.expect_continue and not self.continue_sent and not self.response_started:
                self.continue_sent = True
                proto = self.proto
                if proto.transport is not None and not proto.closing:
                    proto.write(CONTINUE)
                    proto.flush()  # the client waits for it before it sends the body
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter

    async def send(self, message: dict[str, Any]) -> None:
        proto = self.proto
        if self.disconnected or proto.closing:
            if self.disconnected and proto.silent_disconnect:
                return
            raise ClientDisconnected("the client disconnected")
        kind = message["type"]
        writer = proto.writer
        if kind == "http.response.body":
            if not self.response_started:
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got {kind!r}.")
            data = writer.body(message)
            if proto.access_log:
                self.size += len(message.get("body", b""))
        elif kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("Unexpected ASGI message 'http.response.start' sent twice.")
            self._start_response(message)
            return
        elif kind == "http.response.trailers":
            data = writer.trailers(message)
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} for an HTTP connection.")
        if writer.complete:
            proto.write(data, True)
            self.response_complete = True
            if self.waiter is not None:
                self._wake()
            if proto.access_log:
                self._log_access()
            proto.on_response_complete(self)
        else:
            if data:
                proto.write(data)
            if proto.write_paused:
                await proto.drain()

    def _start_response(self, message: dict[str, Any]) -> None:
        """Hook: hand an `http.response.start` to the writer (which validates it)."""
        scope = self.scope
        proto = self.proto
        keep_alive = proto._response_keep_alive(self)
        proto.writer.start(message, scope["method"], scope["http_version"], keep_alive)
        self.response_started = True
        self.status = message["status"]

    def _log_access(self) -> None:
        scope = self.scope
        path = scope["path"]
        if scope["query_string"]:
            path = f"{path}?{scope['query_string'].decode('latin-1')}"
        peer = scope.get("client")  # after the app: proxy headers may have set it
        client = f"{peer[0]}:{peer[1]}" if peer else "-"
        duration_ms = (time.perf_counter() - self.start_time) * 1000
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d %d %.1fms',
            client,
            scope["method"],
            path,
            scope["http_version"],
            self.status,
            self.size,
            duration_ms,
            extra={
                "client": client,
                "method": scope["method"],
                "path": path,
                "http_version": scope["http_version"],
                "status": self.status,
                "size": self.size,
                "duration_ms": duration_ms,
            },
        )


class HTTPProtocol:
    """One HTTP/1.1 connection.

    Subclasses adapt it to another server's contract by overriding the methods whose
    docstrings start with "Hook:" and the class attributes below.

    Args:
        config: a loaded `sailfish.config.Config` (uses `loaded_app`, `root_path`, `http`,
            `limits`, `timeouts`, `access_log`).
        server_state: shared `ServerState` (connections, tasks, total_requests, default_headers).
        app_state: the lifespan state; each request gets a shallow copy as `scope["state"]`.
        _loop: the loop to schedule tasks on (uvicorn's protocol signature).
    """

    logger = error_logger
    # Hook: the per-request class, and the app that answers when the concurrency limit is hit.
    cycle_class: ClassVar[type[RequestCycle]] = RequestCycle
    unavailable_app = staticmethod(_service_unavailable)
    # Hook: send() after a disconnect returns quietly instead of raising ClientDisconnected.
    silent_disconnect = False

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any] | None = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.config = config
        self.loop = _loop or asyncio.get_running_loop()
        # Tasks are made directly (uvloop's create_task wrapper cost ~3% of a request's
        # instructions), unless the loop has a task factory, which then makes them.
        factory = getattr(self.loop, "get_task_factory", None)
        self.direct_tasks = factory is not None and factory() is None
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.app_state = app_state if app_state is not None else {}
        self.app: Any = None
        # Hook: the app for a request with no Forwarded / X-Forwarded-* field, if not `app`
        # (sailfish.uvicorn: the app inside uvicorn's proxy-headers middleware).
        self.direct_app: Any = None
        self.root_path = ""
        self.limits: Any = None
        self.limit_concurrency: int | None = None
        self.timeout_keep_alive = 0.0
        self.timeout_header_read = 0.0
        self.access_log = False
        self.trusted_proxies: Any = None
        self._read_config(config)

        # Per-connection state
        self.transport: asyncio.Transport | None = None
        self.parser: Any = None
        self.writer: Any = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.cycle: RequestCycle | None = None  # the cycle whose response is being written
        self.receiving: RequestCycle | None = None  # the cycle the next body bytes belong to
        self.pipeline: deque[RequestCycle] = deque()
        self.pending_error: HTTPError | None = None
        self.buffered_body = 0
        self.read_paused = False
        self.write_paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.closing = False
        self.lingering = False  # half-closed: reading and dropping until EOF or the deadline
        self.shutting_down = False
        self.eof = False
        self.deadline = 0.0  # loop.time() at which on_deadline fires; 0.0: none
        self.reading_head = False
        self.proxy_trusted = False  # the peer may set Forwarded / X-Forwarded-*
        self.deferred: RequestCycle | None = None  # to start once this packet is parsed
        self.out: list[bytes] = []  # collected writes (see write())
        self.out_size = 0
        self.flush_scheduled = False

    def _read_config(self, config: Any) -> None:
        """Hook: set app, root_path, limits, limit_concurrency, timeouts, access_log."""
        self.app = config.loaded_app
        self.root_path = config.root_path
        self.limits = config.limits
        self.limit_concurrency = config.limits.concurrency
        self.timeout_keep_alive = config.timeouts.keep_alive
        self.timeout_header_read = config.timeouts.header_read
        self.access_log = bool(config.access_log)
        self.trusted_proxies = getattr(config, "trusted_proxies", None)

    def _new_writer(self) -> Any:
        """Hook: the connection's ResponseWriter (what it adds to every response)."""
        http = self.config.http
        return ResponseWriter(
            server_header=b"sailfish" if http.server_header else None,
            date_header=http.date_header,
            default_headers=list(self.server_state.default_headers) + list(http.default_headers),
        )

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _address(transport.get_extra_info("sockname"))
        trusted = self.trusted_proxies
        if trusted is not None:
            # The peer of a connection never changes: ask whether it is trusted once.
            self.proxy_trusted = (self.client[0] if self.client else None) in trusted
        limits = self.limits
        scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.parser = RequestParser(
            client=self.client,
            server=self.server,
            scheme=scheme,
            root_path=self.root_path,
            max_request_line=limits.max_request_line,
            max_header_size=limits.max_header_size,
            max_headers=limits.max_headers,
            max_body_size=limits.max_body_size,
            max_chunk_ext_size=limits.max_chunk_ext_size,
            max_trailer_size=limits.max_trailer_size,
        )
        self.writer = self._new_writer()
        self._watch_deadlines()
        self._arm_keep_alive()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.out.clear()
        self.out_size = 0
        self.connections.discard(self)
        self._unwatch_deadlines()
        for cycle in (self.cycle, *self.pipeline):
            if cycle is not None:
                cycle.on_disconnect()
        self.pipeline.clear()
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.drain_waiters.clear()

    def eof_received(self) -> bool | None:
        if self.lingering:
            return None  # the peer has stopped sending: the lingering close is over
        # A half-closed peer still reads: finish what was asked, then close.
        self.eof = True
        if self.receiving is not None and not self.receiving.body_done:
            self.receiving.on_disconnect()
        if self.cycle is None and not self.pipeline:
            return None
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        events = self.parser.feed(data)
        taken_over = False
        while not taken_over:
            for event in events:
                if type(event) is dict:
                    self._on_body(event)
                elif type(event) is Request:
                    if event.upgrade is not None and self._on_upgrade(event):
                        taken_over = True  # the parser is paused; the hook has the connection
                        break
                    self._on_request(event)
                else:
                    self._on_error(event)
            if not events or type(events[-1]) is not Request or events[-1].upgrade is None:
                break
            if not taken_over:
                # The upgrade was declined: go on with the buffered bytes as HTTP/1.1.
                events = self.parser.feed(b"")
        cycle = self.deferred
        if cycle is not None:
            # Started only now, with the whole packet parsed: its body (if it came along) is
            # already queued, and a bad request later in the packet never reaches an app.
            self.deferred = None
            if self.cycle is cycle and not self.closing:
                self._launch(cycle)
        if (
            not events
            and self.cycle is None
            and not self.pipeline
            and self.receiving is None
            and not self.closing
            and not self.reading_head
        ):
            # Bytes but no complete head: the header-read deadline runs from the first byte.
            self.reading_head = True
            self._arm_header_read()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.drain_waiters.clear()

    # -- events from the parser ------------------------------------------------------------

    def _on_upgrade(self, request: Any) -> bool:
        """Hook: a head asks for `Upgrade` (`request.upgrade`); True if the hook took over.

        The parser is paused after that head. Returning False serves the request as plain
        HTTP/1.1 and parsing goes on; this server speaks no upgrade yet.
        """
        return False

    def _on_request(self, request: Any) -> None:
        self.reading_head = False
        self._disarm()
        if self.proxy_trusted and request.forwarded:
            apply_proxy_headers(request.scope, self.trusted_proxies)
        cycle = self.cycle_class(self, request)
        self.receiving = cycle if request.has_body else None
        if self.cycle is None:
            self.cycle = cycle
            self.deferred = cycle  # data_received launches it once the packet is parsed
        else:
            self.pipeline.append(cycle)
            if len(self.pipeline) >= MAX_PIPELINE:
                self._pause_reading()

    def _on_body(self, message: dict[str, Any]) -> None:
        cycle = self.receiving
        assert cycle is not None
        if not message["more_body"]:
            self.receiving = None
        cycle.on_body(message)

    def _on_error(self, exc: HTTPError) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
        self.logger.warning("Invalid HTTP request from %s: %s (%d)", client, exc, exc.status)
        broken = self.receiving  # a request whose body turned out bad, if any
        self.receiving = None
        if broken is not None:
            broken.on_disconnect()  # its app sees http.disconnect: the body will never be whole
            if broken is not self.cycle and broken in self.pipeline:
                self.pipeline.remove(broken)  # never run a request whose body is bad
        cycle = self.cycle
        if cycle is None:
            self._send_error(exc.status)
        elif cycle is broken:
            # The request being answered cannot finish: answer the error now if nothing of
            # its response was started, else cut the connection (no truncated response).
            if cycle.response_started:
                self._abort()
            else:
                cycle.response_started = cycle.response_complete = True
                if self.deferred is cycle:
                    self.deferred = None  # bad bytes in the same packet: the app never runs
                cycle.cancel_unstarted()
                self._send_error(exc.status)
        else:
            self.pending_error = exc  # answered once the responses before it are out

    # -- cycles ----------------------------------------------------------------------------

    def _start(self, cycle: RequestCycle) -> None:
        """Start the next pipelined request (from inside the previous one's send())."""
        self.cycle = cycle
        # Not eagerly: an eager start here would nest each pipelined app inside the one
        # before it, as deep as the pipeline. One loop turn each; their writes still coalesce.
        self._launch(cycle, eager=False)

    def _launch(self, cycle: RequestCycle, eager: bool = True) -> None:
        """Run the app for `cycle` (the 503 app past the concurrency limit) in its task."""
        app = self.app
        if self.direct_app is not None and not cycle.request.forwarded:
            app = self.direct_app
        if self.limit_concurrency is not None and self._overloaded():
            app = self.unavailable_app
            self.logger.warning("Exceeded concurrency limit.")
        task = self._spawn(cycle.run_asgi(app), eager)
        if not cycle.finished:  # an eager start may have run the whole request already
            # run_asgi takes it out of `tasks` when it ends: cheaper than a done callback,
            # which costs a loop turn per request.
            cycle.task = task
            self.tasks.add(task)

    def _overloaded(self) -> bool:
        """Hook: with a concurrency limit set, whether this request gets the 503."""
        limit = self.limit_concurrency
        assert limit is not None
        # This connection is one of `connections`: the limit counts the others.
        return len(self.connections) > limit or len(self.tasks) >= limit

    def _spawn(self, coro: Coroutine[Any, Any, None], eager: bool = True) -> asyncio.Task[None]:
        """Hook: start the task that runs one request.

        From Python 3.12 the task starts eagerly when `eager`: the app runs at once, up to its
        first real suspension, so a simple request is answered within data_received. A task
        factory set on the loop before the connection opened makes the task instead.
        """
        if not self.direct_tasks:
            return self.loop.create_task(coro)
        if eager and EAGER_TASKS:
            return _Task(coro, loop=self.loop, eager_start=True)  # type: ignore[call-arg]
        return _Task(coro, loop=self.loop)

    def on_response_complete(self, cycle: RequestCycle) -> None:
        self.server_state.total_requests += 1
        if cycle.body:  # the app never read these: release them for flow control
            self.buffered_body -= sum(len(message["body"]) for message in cycle.body)
            cycle.body.clear()
        if self.transport is None or self.closing:
            return
        if not cycle.body_done and not self._drain_body(cycle):
            self._close(linger=True)  # the client may still be sending the body
            return
        if not self.writer.keep_alive:
            self._close()
            return
        self.cycle = None
        if self.pipeline:
            self._start(self.pipeline.popleft())
            if self.read_paused and len(self.pipeline) < MAX_PIPELINE // 2:
                self._maybe_resume_reading()
        elif self.pending_error is not None:
            self._send_error(self.pending_error.status)
        elif self.eof:
            self._close()
        else:
            self._arm_keep_alive()
            if self.read_paused:
                self._maybe_resume_reading()

    def _drain_body(self, cycle: RequestCycle) -> bool:
        """Hook: the response is complete but the request body is not all in: read on?

        False (the default) closes the connection: an unread request body is not worth
        reading. True keeps it; the rest of the body is read and dropped.
        """
        return False

    def _response_keep_alive(self, cycle: RequestCycle) -> bool:
        """Whether the response to `cycle` may announce keep-alive.

        No when the client asked to close, when the server is shutting down, or when the
        request body is not all in and will not be drained (RFC 9112 §9.6: a server that
        closes after a response should say so in it, "connection: close").
        """
        return (
            cycle.request.keep_alive
            and not self.shutting_down
            and (cycle.body_done or self._drain_body(cycle))
        )

    def _send_error(self, status: int) -> None:
        """A response of our own (parse error, timeout), then close.

        The close lingers (the client may still be sending) except after a header-read
        timeout, whose client is too slow to deserve it.
        """
        if self.transport is None or self.closing:
            return
        writer = self.writer
        try:
            writer.start(
                {"type": "http.response.start", "status": status, "headers": [TEXT_PLAIN, CLOSE]},
                "GET",
                "1.1",
                False,
            )
            data = writer.body({"type": "http.response.body", "body": REASONS.get(status, b"")})
        except Exception:  # pragma: no cover - our own messages are valid
            self.logger.exception("Could not write a %d response", status)
            data = b""
        if data:
            self.write(data)
        self._close(linger=status != 408)

    def _close(self, linger: bool = False) -> None:
        """Close the connection; with `linger`, the lingering close of RFC 9112 §9.6.

        Closing a socket that still has unread request bytes makes the kernel send a reset,
        which can destroy the response before the client reads it. So when the client may
        still be sending, close only our sending half, keep reading and dropping, and close
        on its EOF or after LINGER_TIMEOUT.
        """
        transport = self.transport
        if transport is None or self.closing:
            return
        self.flush()
        self.closing = True
        if linger and _can_write_eof(transport):
            try:
                transport.write_eof()
            except (OSError, RuntimeError):
                transport.close()
                return
            self.lingering = True
            if self.read_paused:
                self.read_paused = False
                transport.resume_reading()
            self._arm_linger()
            return
        transport.close()

    def _abort(self) -> None:
        """Hook: drop the connection mid-response, so no client trusts a short body."""
        if self.transport is not None and not self.closing:
            self.flush()  # what the app wrote goes as far as it gets before the reset
            self.closing = True
            self.transport.abort()

    # -- writes ----------------------------------------------------------------------------

    def write(self, data: bytes, last: bool = False) -> None:
        """Hook: queue bytes for the client; they go out by the end of this loop iteration.

        `last`: the bytes end a response. Unless a pipelined response may join them, they
        go out at once: nothing else would come before the loop turn.
        """
        out = self.out
        if last and not out and not self.pipeline:
            # The usual small response: one write, nothing collected before it.
            if data and self.transport is not None and not self.closing:
                self.transport.write(data)
            return
        if data:
            out.append(data)
            self.out_size += len(data)
        if self.out_size >= HIGH_WATER or (last and not self.pipeline):
            self.flush()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self.flush_scheduled = False
        cycle = self.cycle
        if cycle is not None and not cycle.started and not self.closing:
            # A pipelined request was started and has not run yet: its response may join
            # this write. Its task runs before this callback comes round again.
            self.flush_scheduled = True
            self.loop.call_soon(self._flush_soon)
            return
        self.flush()

    def flush(self) -> None:
        """Hand every collected write to the transport, as one write."""
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self.out_size = 0
            if self.transport is not None and not self.closing:
                self.transport.write(data)

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else once the current response is done.

        A response that has not started yet announces `connection: close`.
        """
        self.shutting_down = True
        if self.cycle is None and not self.pipeline:
            self._close()
            return
        self.pipeline.clear()
        self.eof = True  # on_response_complete closes the connection

    def on_deadline(self) -> None:
        self.deadline = 0.0
        if self.lingering:
            self.lingering = False
            if self.transport is not None:
                self.transport.close()
            return
        if self.cycle is not None or self.pipeline:
            return
        if self.reading_head:
            self._send_error(408)
        else:
            self._close()

    # -- deadlines: hooks, so a subclass may arm one timer per connection instead -----------

    def _watch_deadlines(self) -> None:
        """Hook: start enforcing this connection's deadlines (connection_made)."""
        ticker = _tickers.get(self.loop)
        interval = _tick_interval(self.timeout_keep_alive, self.timeout_header_read)
        if ticker is None:
            ticker = _tickers[self.loop] = _Ticker(self.loop, interval)
        ticker.add(self, interval)

    def _unwatch_deadlines(self) -> None:
        """Hook: stop enforcing this connection's deadlines (connection_lost)."""
        self.deadline = 0.0
        ticker = _tickers.get(self.loop)
        if ticker is not None:
            ticker.discard(self)

    def _arm_keep_alive(self) -> None:
        """Hook: idle between requests; `on_deadline` after `timeout_keep_alive`."""
        timeout = self.timeout_keep_alive
        self.deadline = self.loop.time() + timeout if timeout > 0 else 0.0

    def _arm_header_read(self) -> None:
        """Hook: a head has begun; `on_deadline` after `timeout_header_read`."""
        self._set_deadline(self.timeout_header_read)

    def _arm_linger(self) -> None:
        """Hook: a lingering close began; `on_deadline` after LINGER_TIMEOUT."""
        self._set_deadline(LINGER_TIMEOUT)

    def _disarm(self) -> None:
        """Hook: a request is in flight; no deadline."""
        self.deadline = 0.0

    def _set_deadline(self, timeout: float) -> None:
        self.deadline = self.loop.time() + timeout if timeout > 0 else 0.0

    # -- flow control ----------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.closing:
            self.read_paused = True
            self.transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if (
            self.read_paused
            and self.buffered_body < HIGH_WATER
            and len(self.pipeline) < MAX_PIPELINE
            and self.transport is not None
            and not self.closing
        ):
            self.read_paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        if self.write_paused and not self.closing:
            waiter = asyncio.get_running_loop().create_future()
            self.drain_waiters.append(waiter)
            await waiter


def _can_write_eof(transport: Any) -> bool:
    try:
        return bool(transport.can_write_eof())
    except (AttributeError, NotImplementedError):  # test doubles, transports without halves
        return False


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
