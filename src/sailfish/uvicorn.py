"""sailfish's HTTP/1.1 protocol for uvicorn: `uvicorn app:app --http sailfish.uvicorn:HTTPProtocol`.

Strategy: `HTTPProtocol` here is the shell of sailfish.protocol (same core, same flow control,
pipelining and error handling) fitted to uvicorn 0.54's protocol contract by overriding the
shell's hooks, and nothing else: it is built as `HTTPProtocol(config=, server_state=,
app_state=, _loop=)` with uvicorn's `Config` and `ServerState`; it schedules tasks and timers
only through the loop it is given (one `call_later` per connection, uvicorn's
`timeout_keep_alive_task`, instead of sailfish's per-loop ticker, which needs `loop.time()`);
it sends uvicorn's `server_state.default_headers` (uvicorn's server refreshes the date there
every second) instead of the writer's own date/server; it logs to `uvicorn.error` and, in
uvicorn's format at response start, to `uvicorn.access`; it hands WebSocket upgrades to
`config.ws_protocol_class`. Where uvicorn's own test-suite pins a uvicorn behaviour that
sailfish's server does differently, the uvicorn behaviour lives here, marked "uvicorn quirk",
so `sailfish.protocol` keeps its documented behaviour. Nothing here imports uvicorn.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import quote

from sailfish import protocol as shell
from sailfish.config import Limits, Timeouts
from sailfish.errors import ResponseError
from sailfish.http import ResponseWriter

__all__ = ["HTTPProtocol", "RequestCycle"]

error_logger = logging.getLogger("uvicorn.error")
access_logger = logging.getLogger("uvicorn.access")

NO_WEBSOCKET_LIBRARY = (
    "No supported WebSocket library detected. Please use \"pip install 'uvicorn[standard]'\", "
    "or install 'websockets' or 'wsproto' manually."
)


async def service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """uvicorn's 503 for `--limit-concurrency`, byte for byte (its fields, in its order)."""
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"19"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"Service Unavailable"})


def _without_content_length(message: dict[str, Any]) -> dict[str, Any] | None:
    """The start message minus its Content-Length if it also sets Transfer-Encoding, else None.

    uvicorn quirk: an app that sends both gets a chunked body from uvicorn (which also sends
    both fields). "A sender MUST NOT send a Content-Length header field in any message that
    contains a Transfer-Encoding header field." -- RFC 9112 §6.2, so the drop-in keeps
    uvicorn's framing and drops the Content-Length; sailfish's server refuses the response.
    """
    headers = message.get("headers") or []
    try:
        names = {bytes(name).lower() for name, _ in headers}
    except (TypeError, ValueError):
        return None
    if b"transfer-encoding" not in names or b"content-length" not in names:
        return None
    kept = [pair for pair in headers if bytes(pair[0]).lower() != b"content-length"]
    return {**message, "headers": kept}


def _is_proxy_headers_middleware(app: Any) -> bool:
    """Whether `app` is exactly uvicorn's ProxyHeadersMiddleware (not a subclass)."""
    kind = type(app)
    return (
        kind.__name__ == "ProxyHeadersMiddleware"
        and kind.__module__ == "uvicorn.middleware.proxy_headers"
        and hasattr(app, "app")
    )


class RequestCycle(shell.RequestCycle):
    """One request/response, with uvicorn's scope["asgi"], 100-continue and access log."""

    __slots__ = ()
    proto: HTTPProtocol

    def __init__(self, proto: HTTPProtocol, request: Any) -> None:
        super().__init__(proto, request)
        # uvicorn quirk: ASGI spec 2.3 (sailfish: 2.4) and the app's interface version (2.0
        # for ASGI 2 apps behind uvicorn's ASGI2Middleware); its tests read `protocol.scope`.
        scope = self.scope
        asgi = scope["asgi"]  # the core makes a new one per request
        asgi["spec_version"] = "2.3"
        if proto.asgi_version != "3.0":
            asgi["version"] = proto.asgi_version
        proto.scope = scope

    async def receive(self) -> dict[str, Any]:
        # uvicorn quirk: the first receive() sends 100 Continue even when the body is already
        # in (sailfish sends it only while the body is awaited). Allowed: "A server MAY omit
        # sending a 100 (Continue) response if it has already received some or all of the
        # content for the corresponding request" -- RFC 9110 §10.1.1.
        if self.expect_continue and not self.continue_sent and not self.response_started:
            self.continue_sent = True
            proto = self.proto
            if proto.transport is not None and not proto.closing:
                proto.write(shell.CONTINUE)
                proto.flush()
        return await super().receive()

    def _start_response(self, message: dict[str, Any]) -> None:
        proto = self.proto
        # uvicorn quirk: the response counts as started before its head is validated, so an
        # invalid status or header (a bad name, CR/LF in a value) closes the connection with
        # nothing sent, where sailfish answers 500 (uvicorn's test_invalid_header_name).
        self.response_started = True
        self.status = message["status"]
        scope = self.scope
        if proto.uvicorn_access_log:
            proto.log_access(scope, self.status)  # uvicorn logs at response start
        headers = message.get("headers")
        if headers is not None and type(headers) is not list:
            message = {**message, "headers": list(headers)}  # may be read twice below
        writer = proto.current_writer()
        method, version = scope["method"], scope["http_version"]
        keep_alive = proto._response_keep_alive(self)
        try:
            writer.start(message, method, version, keep_alive)
        except ResponseError:
            retry = _without_content_length(message)
            if retry is None:
                raise
            writer.start(retry, method, version, keep_alive)

    def _fail(self) -> None:
        # uvicorn quirk: an app error after a complete response (e.g. a second final body)
        # closes the connection (uvicorn's test_message_after_body_complete); sailfish keeps
        # the complete response and the connection.
        if self.response_complete:
            self.proto._close()
            return
        super()._fail()

    def _returned(self, result: object) -> None:
        super()._returned(result)
        self.proto._close()  # uvicorn quirk: a returned value closes the connection


class HTTPProtocol(shell.HTTPProtocol):
    """sailfish's HTTP/1.1 protocol with uvicorn's protocol contract (uvicorn 0.54).

    Args:
        config: uvicorn's `Config` (loaded here if it is not yet). Read: `loaded_app`,
            `root_path`, `limit_concurrency`, `timeout_keep_alive`,
            `h11_max_incomplete_event_size` (the header-section limit, if set),
            `ws_protocol_class`, `asgi_version`, `reset_contextvars`.
        server_state: uvicorn's `ServerState` (connections, tasks, total_requests,
            default_headers).
        app_state: the lifespan state; each request gets a shallow copy as `scope["state"]`.
        _loop: the loop that runs the request tasks and the keep-alive timer.
    """

    logger = error_logger
    cycle_class = RequestCycle
    unavailable_app = staticmethod(service_unavailable)
    # uvicorn quirk: send() after a disconnect is ignored; sailfish raises an OSError (ASGI 2.4).
    silent_disconnect = True

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any] | None = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.scope: dict[str, Any] | None = None  # the latest request's scope
        self.timeout_keep_alive_task: asyncio.TimerHandle | None = None
        self.timeout_header_read_task: asyncio.TimerHandle | None = None
        # uvicorn's own protocol tests drive the protocol with a loop that has only
        # create_task and call_later (no call_soon, no time) and inspect
        # `timeout_keep_alive_task`. On such a loop writes go out at once and each deadline is
        # a call_later timer, as in uvicorn's protocols; on a real loop the shell's cheaper
        # ways are used: collected writes, and one ticker per loop instead of a timer armed
        # and cancelled per request (~1.7 us each on uvloop).
        loop = _loop or asyncio.get_running_loop()
        if not (hasattr(loop, "call_soon") and hasattr(loop, "time")):
            self._use_timers()
        self.ws_protocol_class: Any = None
        self.asgi_version = "3.0"
        self.reset_contextvars = False
        self.uvicorn_access_log = False
        self._headers_seen: list[tuple[bytes, bytes]] | None = None
        self._upgrade_request: Any = None  # an upgrade waiting for the responses before it
        self._upgrade_buffer = bytearray()
        super().__init__(config, server_state, app_state, _loop)

    def _read_config(self, config: Any) -> None:
        self.app = config.loaded_app
        if _is_proxy_headers_middleware(self.app):
            # It rewrites nothing for a request without X-Forwarded-* fields, but scans every
            # header of every request in Python to find that out: the core already knows.
            self.direct_app = self.app.app
        self.root_path = config.root_path or ""
        header_size = config.h11_max_incomplete_event_size
        self.limits = Limits(
            max_header_size=Limits.max_header_size if header_size is None else header_size,
            concurrency=config.limit_concurrency,
        )
        self.limits.validate()
        self.limit_concurrency = config.limit_concurrency
        self.timeout_keep_alive = config.timeout_keep_alive
        # uvicorn has no header-read deadline; sailfish's default protects against slowloris.
        self.timeout_header_read = Timeouts.header_read
        self.access_log = False  # not sailfish's access line at completion ...
        self.uvicorn_access_log = access_logger.hasHandlers()  # ... uvicorn's, at start
        self.ws_protocol_class = config.ws_protocol_class
        self.asgi_version = config.asgi_version
        self.reset_contextvars = bool(getattr(config, "reset_contextvars", False))

    # -- default headers: uvicorn's list, as it is when each response starts ----------------

    def _new_writer(self) -> Any:
        # uvicorn's server replaces `server_state.default_headers` (date, then server and
        # --header fields) once a second; the writer adds no date or server of its own.
        headers = self.server_state.default_headers
        self._headers_seen = headers
        return ResponseWriter(server_header=None, date_header=False, default_headers=headers)

    def current_writer(self) -> Any:
        """The writer, rebuilt first if uvicorn replaced its default-headers list since.

        A writer takes its default headers at construction, so a changed list (a new date,
        once a second) costs one new writer, not a header merge per response.
        """
        if self.server_state.default_headers is not self._headers_seen and not (
            self.writer.started
        ):
            self.writer = self._new_writer()
        return self.writer

    def _send_error(self, status: int) -> None:
        if self.writer is not None:
            self.current_writer()
        super()._send_error(status)

    def log_access(self, scope: dict[str, Any], status: int) -> None:
        """One `uvicorn.access` line in uvicorn's format and arguments."""
        client = scope.get("client")
        path = quote(scope["path"])
        if scope["query_string"]:
            path = f"{path}?{scope['query_string'].decode('latin-1')}"
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            f"{client[0]}:{int(client[1])}" if client else "",
            scope["method"],
            path,
            scope["http_version"],
            status,
        )

    # -- requests ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._upgrade_request is not None:
            self._upgrade_buffer += data  # for the WebSocket protocol, after the handover
            return
        super().data_received(data)

    def _overloaded(self) -> bool:
        # uvicorn quirk: this connection counts against the limit too, so
        # `limit_concurrency=N` serves N - 1 connections (uvicorn's test_max_concurrency).
        limit = self.limit_concurrency
        assert limit is not None
        return len(self.connections) >= limit or len(self.tasks) >= limit

    def _spawn(self, coro: Coroutine[Any, Any, None], eager: bool = True) -> asyncio.Task[None]:
        if self.reset_contextvars:
            # uvicorn's opt-in workaround for https://github.com/python/cpython/issues/140947
            # (context variables leaking between tasks): each request starts from an empty one.
            task: asyncio.Task[None] = contextvars.Context().run(self.loop.create_task, coro)
            return task
        return super()._spawn(coro, False)  # as uvicorn's protocols: never eagerly

    def _drain_body(self, cycle: shell.RequestCycle) -> bool:
        # uvicorn quirk: a response sent before the request body was read keeps the
        # connection; the rest of the body is read and dropped (sailfish closes instead).
        return True

    def _abort(self) -> None:
        # uvicorn quirk: close (flushing what was written), not abort; uvicorn's transports
        # (and its tests' MockTransport) need only close().
        self._close()

    def on_response_complete(self, cycle: shell.RequestCycle) -> None:
        super().on_response_complete(cycle)
        request = self._upgrade_request
        if request is None:
            return
        if self.cycle is None:
            self._upgrade_request = None
            if not self.closing:
                self._upgrade(request)

    # -- upgrades ---------------------------------------------------------------------------

    def _on_upgrade(self, request: Any) -> bool:
        upgrade = request.upgrade.lower()
        if upgrade != b"websocket" or self.ws_protocol_class is None:
            self.logger.warning("Unsupported upgrade request.")
            if self.ws_protocol_class is None:
                self.logger.warning(NO_WEBSOCKET_LIBRARY)
            return False  # served as plain HTTP/1.1
        if self.cycle is not None:
            # Responses to the requests before it go out first; then the handover.
            self._upgrade_request = request
            self._pause_reading()
        else:
            self._upgrade(request)
        return True

    def _upgrade(self, request: Any) -> None:
        """Hand the connection to uvicorn's WebSocket protocol, as uvicorn's protocols do.

        The WebSocket protocol parses the request again, so it gets the head rebuilt from
        the scope (names lower-cased), then every byte received after it.
        """
        self._disarm()
        self.flush()  # the responses before the upgrade go out first
        self.connections.discard(self)
        self.closing = True  # the transport is no longer ours
        scope = request.scope
        target = scope["raw_path"]
        prefix = self.root_path.encode()
        if prefix and target.startswith(prefix):
            target = target[len(prefix) :]  # the WebSocket protocol adds root_path itself
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        head = [scope["method"].encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in scope["headers"]:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        data = b"".join(head) + self.parser.unparsed() + bytes(self._upgrade_buffer)
        self._upgrade_buffer.clear()
        protocol = self.ws_protocol_class(
            config=self.config, server_state=self.server_state, app_state=self.app_state
        )
        transport = self.transport
        assert transport is not None
        protocol.connection_made(transport)
        protocol.data_received(data)
        transport.set_protocol(protocol)

    # -- uvicorn's test loop: writes at once, one timer per deadline -----------------------
    # Bound per instance in __init__ on a loop without call_soon/time; a real loop never runs
    # these, so the shell's hooks stay one call each on the request path.

    def _use_timers(self) -> None:
        self.write = self._write_now  # type: ignore[method-assign]
        self._watch_deadlines = self._no_ticker  # type: ignore[method-assign]
        self._unwatch_deadlines = self._cancel_timers  # type: ignore[method-assign]
        self._disarm = self._cancel_timers  # type: ignore[method-assign]
        self._arm_keep_alive = self._timer_keep_alive  # type: ignore[method-assign]
        self._arm_header_read = self._timer_header_read  # type: ignore[method-assign]
        self._arm_linger = self._timer_linger  # type: ignore[method-assign]

    def _write_now(self, data: bytes, last: bool = False) -> None:
        if data and self.transport is not None and not self.closing:
            self.transport.write(data)

    def _no_ticker(self) -> None:
        pass

    def _timer_keep_alive(self) -> None:
        self._cancel_timers()
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._on_timer)

    def _timer_header_read(self) -> None:
        self._cancel_timers()
        self.timeout_header_read_task = self.loop.call_later(
            self.timeout_header_read, self._on_timer
        )

    def _timer_linger(self) -> None:
        self._cancel_timers()
        self.timeout_header_read_task = self.loop.call_later(shell.LINGER_TIMEOUT, self._on_timer)

    def _cancel_timers(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        if self.timeout_header_read_task is not None:
            self.timeout_header_read_task.cancel()
            self.timeout_header_read_task = None

    def _on_timer(self) -> None:
        self.timeout_keep_alive_task = self.timeout_header_read_task = None
        self.on_deadline()
