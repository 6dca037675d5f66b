"""HTTP/1.1 over a Connection: requests, pipelining, 100-continue, upgrade dispatch.

Strategy: bytes go into the core's `RequestParser.feed`, which returns whole events (Request
heads, `http.request` messages, or a final HTTPError). Each Request becomes a `RequestCycle`
whose app runs in its own Task; cycles answer one at a time per connection, in arrival order
(pipelined ones wait in `pipeline`), because responses leave in order. The scope the core built
is finished in one place, `_on_request` (state, proxy headers, ASGI version, extensions). A
cycle talks to its connection only through the methods marked "For the cycle:"; response
messages go through the connection's `ResponseWriter`, which validates and frames them. An
`Upgrade` head is offered to the protocol registered for its token in `upgrades`; with none,
it is served as plain HTTP/1.1. Another server's contract (sailfish.uvicorn) is met through
`Quirks`, a fixed set of documented switches, not by overriding methods. With
`--proxy-protocol`, a connection starts with a PROXY header (sailfish.proxy_protocol parses it,
sans-IO) that sets the client and server addresses before the HTTP parser sees a byte; only
peers in `--forwarded-allow-ips` may send one. Nothing here parses bytes, builds headers or
imports the server. Compiled with the shell (http1.pxd).

Reading order, top-down: `HTTPProtocol.connection_made` -> `data_received` -> `_on_request`
(the scope finished) -> `_launch`; then, below it, `RequestCycle.run_asgi` -> `receive` /
`send` -> back in the protocol, `response_complete` -> the next pipelined cycle, or keep-alive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from sailfish.access_format import compile_format, escape
from sailfish.errors import HTTPError, ProxyHeaderError, ResponseError
from sailfish.http import Request, RequestParser, ResponseWriter
from sailfish.middleware import apply_proxy_headers
from sailfish.proxy_protocol import parse_proxy_header
from sailfish.state import is_shutdown_cancel
from sailfish.tls import proxied_tls_extension, scheme

from .base import FEED_SLICE, HIGH_WATER, Connection
from .deadlines import tick_interval

__all__ = [
    "ClientDisconnected",
    "HTTPProtocol",
    "MAX_PIPELINE",
    "SHUTDOWN_IDLE",
    "Quirks",
    "RequestCycle",
    "service_unavailable",
]

error_logger = logging.getLogger("sailfish.error")
access_logger = logging.getLogger("sailfish.access")

# Reading stops while this many requests wait in the pipeline, and resumes at half.
MAX_PIPELINE = 16
# At shutdown a keep-alive connection idle for this many seconds is closed at once; one that
# answered more recently is closed when it has been idle this long, unless its client sends
# the next request first (answered with `connection: close`). A client sending back to back
# has its next request on the wire at the signal; closing under it would lose that request
# (it could only retry it). bench/shutdown.py measures the difference.
SHUTDOWN_IDLE = 0.25
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
CLOSE = (b"connection", b"close")
REASONS = {
    400: b"Invalid HTTP request received.",
    408: b"Request header read timed out.",
    413: b"Request body too large.",
    414: b"Request line too long.",
    417: b"Expectation failed.",
    431: b"Request header fields too large.",
    500: b"Internal Server Error",
    501: b"Transfer coding not implemented.",
    503: b"Service Unavailable",
    505: b"HTTP version not supported.",
}
DISCONNECT = "http.disconnect"
# The response messages of the ASGI extensions (docs: README "ASGI extensions"); send()
# looks at them only after the three core messages.
EXTENSION_MESSAGES = frozenset(
    ("http.response.early_hint", "http.response.pathsend", "http.response.zerocopysend")
)
# The response messages this protocol knows; anything else is an app error (see send()).
RESPONSE_MESSAGES = (
    frozenset(("http.response.start", "http.response.body", "http.response.trailers"))
    | EXTENSION_MESSAGES
)
NO_WEBSOCKET = (
    "Upgrade to %r requested by %s, but this server has no protocol for it: answered as "
    "plain HTTP. WebSocket support is turned off (--ws none)."
)

# "eager_start" (Python 3.12+): a task runs its first step inside create, not a loop turn later.
EAGER_TASKS = sys.version_info >= (3, 12)
_Task = asyncio.Task


class ClientDisconnected(OSError):
    """send() after the client went away (ASGI HTTP spec 2.4: an OSError subclass)."""


async def service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    """The app that answers past `--limit-concurrency`."""
    await send({"type": "http.response.start", "status": 503, "headers": [TEXT_PLAIN, CLOSE]})
    await send({"type": "http.response.body", "body": REASONS[503]})


class Quirks:
    """Switches for another server's documented behaviour (sailfish.uvicorn sets them).

    The defaults are sailfish's own behaviour; each switch names what changes.

    Attributes:
        spec_version: scope["asgi"]["spec_version"] (the core writes "2.5").
        continue_on_first_receive: the first receive() sends 100 Continue even when the body
            is already in (sailfish: only while the body is awaited).
        start_before_validation: the response counts as started before its head is
            validated, so an invalid head closes with nothing sent (sailfish: 500).
        drop_content_length_with_te: a start message with both Content-Length and
            Transfer-Encoding loses the Content-Length (sailfish: an app error).
        log_start: called with (scope, status) at each response start (uvicorn's access log).
        close_on_late_error: an app error after a complete response closes the connection
            (sailfish: the response stands and the connection stays).
        close_on_return_value: an app that returns a value gets its connection closed.
        silent_disconnect: send() after a disconnect returns quietly (sailfish: raises
            ClientDisconnected).
        drain_unread_body: a response sent before the request body was read keeps the
            connection; the rest of the body is read and dropped (sailfish: close).
        abort_closes: an aborted response closes the connection after flushing (sailfish:
            a reset).
        lingering_close: close after an error answer with RFC 9112's lingering close.
        count_own_connection: `limit_concurrency=N` counts this connection too (serves N-1).
        eager_tasks: on Python 3.12+, the first request of a packet starts eagerly.
        fresh_context: each request task runs in a new, empty contextvars.Context.
        unavailable_app: the app that answers past the concurrency limit.
        headers_from_state: `server_state.default_headers` is replaced by the host while
            serving (uvicorn refreshes its date header there each second): the writer is
            rebuilt when the list object changes; the writer adds no date or server itself.
        shutdown_idle: seconds a keep-alive connection must have been idle for `shutdown()`
            to close it at once (SHUTDOWN_IDLE); 0: every connection with no request in
            progress closes at once, even one whose next head is arriving.
    """

    def __init__(self, **switches: Any) -> None:
        self.spec_version = "2.5"
        self.continue_on_first_receive = False
        self.start_before_validation = False
        self.drop_content_length_with_te = False
        self.log_start: Callable[[dict[str, Any], int], None] | None = None
        self.close_on_late_error = False
        self.close_on_return_value = False
        self.silent_disconnect = False
        self.drain_unread_body = False
        self.abort_closes = False
        self.lingering_close = True
        self.count_own_connection = False
        self.eager_tasks = True
        self.fresh_context = False
        self.unavailable_app: Any = service_unavailable
        self.headers_from_state = False
        self.shutdown_idle = SHUTDOWN_IDLE
        for name, value in switches.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown quirk {name!r}")
            setattr(self, name, value)


DEFAULT_QUIRKS = Quirks()


class HTTPProtocol(Connection):
    """One HTTP/1.1 connection.

    Args:
        config: A loaded `sailfish.config.Config` (reads `loaded_app`, `asgi_version`,
            `root_path`, `http`, `limits`, `timeouts`, `access_log`, `trusted_proxies`).
        server_state: The server's `ServerState` (connections, tasks, total_requests,
            default_headers).
        app_state: The lifespan state; each request gets a shallow copy as `scope["state"]`.
        _loop: The loop to run request tasks on (uvicorn's protocol signature).
        quirks: Another server's behaviour where it differs (see `Quirks`).
        deadlines: The deadline strategy; default: the loop's ticker (see deadlines.py).
        upgrades: Upgrade handlers by lower-case Upgrade token (b"websocket"; b"*" for any
            token), each called as `handler(conn, request)`. A handler that returns True
            takes the connection: `conn.upgrading` is then set, later bytes are kept, and
            the handler calls `conn.hand_over()` once `conn.when_idle()` says the responses
            before the upgrade are out, and the new protocol `take_over(transport, conn)`
            (which carries a pause for writing over). False serves the request as plain
            HTTP/1.1.
        logger: Where connection and app errors go (default `sailfish.error`).
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any] | None = None,
        _loop: Any = None,
        *,
        quirks: Quirks | None = None,
        deadlines: Any = None,
        upgrades: dict[bytes, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        loop = _loop if _loop is not None else asyncio.get_running_loop()
        Connection.__init__(self, loop, server_state.connections, deadlines, logger)
        self.config = config
        self.server_state = server_state
        self.tasks: set[Any] = server_state.tasks
        self.app_state = app_state if app_state is not None else {}
        self.quirks = quirks if quirks is not None else DEFAULT_QUIRKS
        self.upgrades = upgrades if upgrades is not None else {}
        # Tasks are made directly (uvloop's create_task wrapper cost ~3% of a request's
        # instructions), unless the loop has a task factory, which then makes them.
        factory = getattr(loop, "get_task_factory", None)
        self.direct_tasks = (
            factory is not None and factory() is None and not self.quirks.fresh_context
        )
        self.eager = self.quirks.eager_tasks and EAGER_TASKS
        self.app = config.loaded_app
        # The app for a request with no Forwarded / X-Forwarded-* field, if not `app`
        # (sailfish.uvicorn: the app inside uvicorn's proxy-headers middleware).
        self.direct_app: Any = None
        self.asgi_version = getattr(config, "asgi_version", "3.0")
        self.root_path = config.root_path or ""
        self.limits = config.limits
        self.limit_concurrency = config.limits.concurrency
        self.timeout_keep_alive = config.timeouts.keep_alive
        self.timeout_header_read = config.timeouts.header_read
        self.timeout_write = float(getattr(config.timeouts, "write", 0.0) or 0.0)
        self.access_log = bool(config.access_log)
        # sailfish.metrics.Metrics with --metrics-bind: each response is counted into it.
        self.metrics = getattr(server_state, "metrics", None)
        # --access-log-format, compiled (cached per process); None: the default line.
        log_format = getattr(config, "access_log_format", None)
        self.access_format = compile_format(log_format) if log_format and self.access_log else None
        self.trusted_proxies = getattr(config, "trusted_proxies", None)
        # Who may open a connection with a PROXY header; None: no header is expected.
        self.proxy_peers = getattr(config, "proxy_protocol_peers", None)
        self.watch_interval = min(
            self.watch_interval,
            tick_interval(self.timeout_keep_alive, self.timeout_header_read, self.timeout_write),
        )
        self.headers_seen: Any = None
        # With --interface wsgi: the WSGIRunner (protocols/wsgi.py) that makes and runs cycles.
        self.wsgi: Any = getattr(config, "wsgi", None)

        # Per-connection state
        self.parser: Any = None
        self.writer: Any = None
        self.cycle: RequestCycle | None = None  # the cycle whose response is being written
        self.receiving: RequestCycle | None = None  # the cycle the next body bytes belong to
        self.pipeline: deque[RequestCycle] = deque()
        self.pending_error: HTTPError | None = None
        self.backlog = b""  # received bytes not parsed yet: the pipeline is full (see _take)
        # `cycle` waits to start until the transport takes writes again: a client that does
        # not read its responses gets no more of them queued in the transport.
        self.held = False
        self.buffered_body = 0
        self.shutting_down = False
        self.eof = False
        self.reading_head = False
        self.proxy_trusted = False  # the peer may set Forwarded / X-Forwarded-*
        self.proxy_buffer: bytes | None = None  # a PROXY header's bytes so far, while awaited
        self.proxy_preset: Any = None  # a PROXY header read before the TLS handshake
        self.deferred: RequestCycle | None = None  # to start once this packet is parsed
        # scope["extensions"] of this connection's HTTP/1.1 and HTTP/1.0 requests: what works
        # there. Trailers need the chunked coding and early hints a 1xx response, which
        # HTTP/1.0 has neither of; files go out on every connection (os.sendfile, or the
        # read-and-write fallback on TLS). On a TLS connection both also get "tls".
        self.extensions: dict[str, Any] = {
            "http.response.trailers": {},
            "http.response.early_hint": {},
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
        }
        self.extensions10: dict[str, Any] = {
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
        }
        self.upgrading = False  # an upgrade handler has the connection: bytes are kept
        self.upgrade_buffer = bytearray()
        self.idle_callback: Callable[[], None] | None = None  # see when_idle()
        self.last_scope: dict[str, Any] | None = None  # the latest request's scope

    def _new_writer(self) -> Any:
        """The connection's ResponseWriter (what it adds to every response)."""
        if self.quirks.headers_from_state:
            headers = self.headers_seen = self.server_state.default_headers
            return ResponseWriter(server_header=None, date_header=False, default_headers=headers)
        http = self.config.http
        return ResponseWriter(
            server_header=b"sailfish" if http.server_header else None,
            date_header=http.date_header,
            default_headers=list(self.server_state.default_headers) + list(http.default_headers),
        )

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        Connection.connection_made(self, transport)
        trusted = self.trusted_proxies
        if trusted is not None:
            # The peer of a connection never changes: ask whether it is trusted once.
            self.proxy_trusted = (self.client[0] if self.client else None) in trusted
        if self.tls is not None:
            self.extensions["tls"] = self.extensions10["tls"] = self.tls
        self.parser = self._new_parser()
        self.writer = self._new_writer()
        if self.proxy_peers is not None:
            if (self.client[0] if self.client else None) not in self.proxy_peers:
                peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a unix socket"
                self.logger.warning(
                    "PROXY protocol: connection from %s refused (not in --forwarded-allow-ips)",
                    peer,
                )
                self.close()
                return
            if self.proxy_preset is not None:
                self._apply_proxy_header(self.proxy_preset)  # read before the TLS handshake
                self.proxy_preset = None
                return
            self.proxy_buffer = b""
        self.arm(self.timeout_keep_alive)

    def _new_parser(self) -> Any:
        """The connection's RequestParser, with its addresses and scheme as they stand."""
        limits = self.limits
        return RequestParser(
            client=self.client,
            server=self.server,
            scheme=scheme(self.secure),
            root_path=self.root_path,
            max_request_line=limits.max_request_line,
            max_header_size=limits.max_header_size,
            max_headers=limits.max_headers,
            max_body_size=limits.max_body_size,
            max_chunk_ext_size=limits.max_chunk_ext_size,
            max_trailer_size=limits.max_trailer_size,
        )

    def connection_lost(self, exc: Exception | None) -> None:
        Connection.connection_lost(self, exc)
        for cycle in (self.cycle, *self.pipeline):
            if cycle is not None:
                cycle.on_disconnect()
        # Each cycle points back at this protocol: let go of them, so that a closed connection
        # is freed by reference counting, not left to the cyclic collector with its transport
        # (on TLS its SSL objects and buffers) until the next collection.
        self.cycle = self.receiving = self.deferred = None
        self.pipeline.clear()
        self.backlog = b""

    def eof_received(self) -> bool | None:
        if self.lingering:
            return None  # the peer has stopped sending: the lingering close is over
        # A half-closed peer may still read: what it asked is answered, then we close.
        # Every request learns that nothing more comes (an app waiting in receive() past
        # its body gets http.disconnect at once).
        self.eof = True
        for cycle in (self.cycle, *self.pipeline):
            if cycle is not None:
                cycle.on_eof()
        if self.cycle is None and not self.pipeline:
            return None
        if self.transport.get_extra_info("sslcontext") is not None:
            # A TLS transport closes after EOF whatever we answer (and the loop logs a
            # warning per connection if we say True): nothing can be written after it.
            return None
        return True

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.closing:
            return
        if self.proxy_buffer is not None:
            data = self._on_proxy_data(data)
            if not data:
                return
        if self.upgrading:
            self.upgrade_buffer += data  # for the protocol the connection is handed to
            return
        if self.backlog or self.read_paused:
            # Reading was resumed by someone else, or a transport handed over a tail, or it
            # was paused without pausing the transport (a full WSGI queue: WSGIRunner.launch):
            # keep the bytes back, and stop reading (_maybe_resume_reading parses them).
            self.backlog += data
            self.read_paused = True
            self.transport.pause_reading()
            return
        self._take(data, self.eager)

    def _take(self, data: bytes, eager: bool) -> None:
        """Parse received bytes, FEED_SLICE at a time once they are many: while MAX_PIPELINE
        requests wait, the rest stays unparsed in `backlog` and reading pauses, so a deep
        pipeline in one write costs its bytes, not a Request and a cycle per request."""
        if len(data) <= FEED_SLICE:
            got = self._parse(data)
        else:
            view = memoryview(data)
            size = len(view)
            start = 0
            got = False
            while start < size:
                got = self._parse(view[start : start + FEED_SLICE]) or got
                start += FEED_SLICE
                if start >= size or self.closing:
                    break
                if self.upgrading:
                    self.upgrade_buffer += view[start:]
                    break
                if len(self.pipeline) >= MAX_PIPELINE:
                    self.backlog = bytes(view[start:])
                    self.pause_reading()
                    break
        cycle = self.deferred
        if cycle is not None:
            # Started only now, with the whole packet parsed: its body (if it came along) is
            # already queued, and a bad request later in the packet never reaches an app.
            self.deferred = None
            if self.cycle is cycle and not self.closing:
                self._start(cycle, eager)
        if (
            not got
            and self.cycle is None
            and not self.pipeline
            and self.receiving is None
            and not self.closing
            and not self.reading_head
        ):
            # Bytes but no complete head: the header-read deadline runs from the first byte.
            self.reading_head = True
            self.arm(self.timeout_header_read)

    def _parse(self, data: Any) -> bool:
        """Feed the parser and act on its events; True if there were any."""
        events = self.parser.feed(data)
        for event in events:
            if type(event) is dict:
                self._on_body(event)
            elif type(event) is Request:
                if event.upgrade is not None and self._on_upgrade(event):
                    break  # the parser is paused; another protocol takes the connection
                self._on_request(event)
            else:
                self._on_error(event)
        else:
            if events and type(events[-1]) is Request and events[-1].upgrade is not None:
                # The upgrade was declined: go on with the buffered bytes as HTTP/1.1.
                self._parse(b"")
        return bool(events)

    # -- the PROXY protocol ----------------------------------------------------------------

    def _on_proxy_data(self, data: bytes) -> bytes:
        """Collect a PROXY header; returns the bytes after it once it is complete, else b""."""
        buffered = self.proxy_buffer + data if self.proxy_buffer else data
        try:
            header = parse_proxy_header(buffered)
        except ProxyHeaderError as exc:
            peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a unix socket"
            self.logger.warning("Invalid PROXY protocol header from %s: %s", peer, exc)
            self.proxy_buffer = None
            self.abort()  # nothing to answer: the peer is a proxy that broke the protocol
            return b""
        if header is None:
            if not self.proxy_buffer:
                self.arm(self.timeout_header_read)  # from the first byte, as for a head
            self.proxy_buffer = buffered
            return b""
        self.proxy_buffer = None
        self._apply_proxy_header(header)
        return buffered[header.size :]

    def accept_prelude(self, header: Any) -> None:
        """The PROXY header read off the raw socket before TLS (sailfish.acceptor)."""
        self.proxy_preset = header

    def _apply_proxy_header(self, header: Any) -> None:
        """Take the connection's addresses (and TLS, if the proxy says) from a PROXY header;
        the head's deadline starts."""
        if not header.local:
            self.client = header.client
            self.server = header.server
            trusted = self.trusted_proxies
            if trusted is not None:
                # Forwarded / X-Forwarded-* count only if the original client is a trusted
                # proxy itself: the PROXY header has already named the client.
                self.proxy_trusted = (self.client[0] if self.client else None) in trusted
            if header.ssl and not self.secure:
                self.secure = True
                self.tls = proxied_tls_extension(header.ssl_version, header.ssl_cipher)
                self.extensions["tls"] = self.extensions10["tls"] = self.tls
        self.parser = self._new_parser()
        self.arm(self.timeout_keep_alive)

    # -- events from the parser ------------------------------------------------------------

    def _on_upgrade(self, request: Any) -> bool:
        """A head asks for `Upgrade`; True if a registered protocol took the connection.

        The field is a list ("Upgrade: h2c, websocket" offers both, RFC 9110 §7.8): the first
        element with a registered protocol wins, else the `b"*"` handler is asked.
        """
        token = bytes(request.upgrade).lower()
        factory = self.upgrades.get(token)
        if factory is None and b"," in token:
            for item in token.split(b","):
                item = item.strip(b" \t")
                factory = self.upgrades.get(item)
                if factory is not None:
                    token = item
                    break
        if factory is None:
            factory = self.upgrades.get(b"*")
        if factory is None:
            if b"websocket" in [item.strip(b" \t") for item in token.split(b",")]:
                client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
                self.logger.warning(NO_WEBSOCKET, token.decode("latin-1"), client)
            return False
        if not factory(self, request):
            return False
        self.upgrading = True
        return True

    def _on_request(self, request: Any) -> None:
        self.reading_head = False
        self.disarm()
        # The scope is finished here, and only here.
        scope = self.last_scope = request.scope
        scope["state"] = self.app_state.copy()
        if self.asgi_version != "3.0" or self.quirks.spec_version != "2.5":
            asgi = scope["asgi"]  # the core makes a new one per request
            asgi["version"] = self.asgi_version
            asgi["spec_version"] = self.quirks.spec_version
        # What works on this connection; one dict per connection and HTTP version, shared by
        # its requests (a new dict per request made the collector run measurably more often).
        scope["extensions"] = (
            self.extensions if scope["http_version"] == "1.1" else self.extensions10
        )
        if self.proxy_trusted and request.forwarded and self.trusted_proxies is not None:
            apply_proxy_headers(scope, self.trusted_proxies)
        cycle = RequestCycle(self, request) if self.wsgi is None else self.wsgi.cycle(self, request)
        if self.metrics is not None and not cycle.access_log:
            cycle.start_time = time.perf_counter()  # for the latency histogram
        self.receiving = cycle if request.has_body else None
        if self.eof:
            cycle.on_eof()
        if self.cycle is None:
            self.cycle = cycle
            self.deferred = cycle  # data_received launches it once the packet is parsed
        else:
            self.pipeline.append(cycle)
            if len(self.pipeline) >= MAX_PIPELINE:
                self.pause_reading()

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
            self.error_response(exc.status)
        elif cycle is broken:
            # The request being answered cannot finish: answer the error now if nothing of
            # its response was started, else cut the connection (no truncated response).
            if cycle.response_started:
                self.abort_response()
            else:
                cycle.response_started = cycle.response_complete = True
                if self.deferred is cycle:
                    self.deferred = None  # bad bytes in the same packet: the app never runs
                elif not cycle.started:
                    cycle.abandoned = True  # its task, not run yet, returns at once
                self.error_response(exc.status)
        else:
            self.pending_error = exc  # answered once the responses before it are out

    # -- cycles ----------------------------------------------------------------------------

    def _start(self, cycle: RequestCycle, eager: bool) -> None:
        """Launch `cycle` now, or once the transport takes writes again (see `held`)."""
        if self.write_paused:
            self.held = True
        else:
            self._launch(cycle, eager)

    def resume_writing(self) -> None:
        Connection.resume_writing(self)
        if self.held:
            self.held = False
            cycle = self.cycle
            if cycle is not None and not self.closing:
                self._launch(cycle, False)

    def _launch(self, cycle: RequestCycle, eager: bool) -> None:
        """Run the app for `cycle` (the 503 app past the concurrency limit) in its task."""
        app = self.app
        if self.direct_app is not None and not cycle.request.forwarded:
            app = self.direct_app
        if self.limit_concurrency is not None and self._overloaded():
            app = self.quirks.unavailable_app
            self.logger.warning("Exceeded concurrency limit.")
        if self.wsgi is not None and app is self.app:
            self.wsgi.launch(cycle)  # on the WSGI thread pool, not in a task
            return
        coro = cycle.run_asgi(app)
        if not self.direct_tasks:
            task = self._create_task(coro)
        elif eager:
            task = _Task(coro, loop=self.loop, eager_start=True)  # type: ignore[call-arg]
        else:
            task = _Task(coro, loop=self.loop)
        if not cycle.finished:  # an eager start may have run the whole request already
            # run_asgi takes it out of `tasks` when it ends (task_done): cheaper than a done
            # callback, which costs a loop turn per request.
            cycle.task = task
            self.tasks.add(task)

    def _create_task(self, coro: Coroutine[Any, Any, None]) -> Any:
        if self.quirks.fresh_context:
            # uvicorn's opt-in workaround for https://github.com/python/cpython/issues/140947
            # (context variables leaking between tasks): each request starts from an empty one.
            import contextvars

            return contextvars.Context().run(self.loop.create_task, coro)
        return self.loop.create_task(coro)

    def _overloaded(self) -> bool:
        """With a concurrency limit set, whether this request gets the 503."""
        limit = self.limit_concurrency
        assert limit is not None
        # This connection is one of `connections`: the limit counts the others.
        connections = len(self.connections) + (1 if self.quirks.count_own_connection else 0)
        return bool(connections > limit or len(self.tasks) >= limit)

    # -- For the cycle: ---------------------------------------------------------------------

    def body_queued(self, size: int) -> None:
        """For the cycle: `size` body bytes wait for the app; reading pauses past HIGH_WATER."""
        self.buffered_body += size
        if self.buffered_body > HIGH_WATER:
            self.pause_reading()

    def body_taken(self, size: int) -> None:
        """For the cycle: the app took `size` body bytes."""
        self.buffered_body -= size
        if self.read_paused:
            self._maybe_resume_reading()

    def send_continue(self) -> None:
        """For the cycle: the interim 100 (Continue), at once: the client waits for it."""
        if self.transport is not None and not self.closing:
            self.write(CONTINUE)
            self.flush()

    def task_done(self, cycle: RequestCycle) -> None:
        """For the cycle: its task has ended (or will never run the app)."""
        task = cycle.task
        if task is not None:
            cycle.task = None  # the task holds the cycle: no reference cycle per request
            self.tasks.discard(task)

    def current_writer(self) -> Any:
        """For the cycle: the writer for a response about to start.

        With `headers_from_state`, rebuilt first if the host replaced its default-headers
        list since: a writer takes its default headers at construction, so a changed list (a
        new date, once a second) costs one new writer, not a header merge per response.
        """
        if (
            self.quirks.headers_from_state
            and self.server_state.default_headers is not self.headers_seen
            and not self.writer.started
        ):
            self.writer = self._new_writer()
        return self.writer

    def response_keep_alive(self, cycle: RequestCycle) -> bool:
        """For the cycle: whether its response may announce keep-alive.

        No when the client asked to close, when the server is shutting down, or when the
        request body is not all in and will not be drained (RFC 9112 §9.6: a server that
        closes after a response should say so in it, "connection: close").
        """
        return (
            cycle.request.keep_alive
            and not self.shutting_down
            and (cycle.body_done or self.quirks.drain_unread_body)
        )

    def response_complete(self, cycle: RequestCycle) -> None:
        """For the cycle: its response is written; go on with the next request, or close."""
        self.server_state.total_requests += 1
        metrics = self.metrics
        if metrics is not None:
            metrics.observe(
                cycle.scope["method"], cycle.status, time.perf_counter() - cycle.start_time
            )
        body = cycle.body
        if body:  # the app never read these: release them for flow control
            for message in body:
                self.buffered_body -= len(message["body"])
            body.clear()
        if self.transport is None or self.closing:
            return
        if not cycle.body_done and not self.quirks.drain_unread_body:
            self.close(linger=self.quirks.lingering_close)  # the client may still be sending
            return
        if not self.writer.keep_alive:
            self.close()
            return
        self.cycle = None
        if self.pipeline:
            # Not eagerly: an eager start here would nest each pipelined app inside the one
            # before it, as deep as the pipeline. One loop turn each; their writes coalesce.
            cycle = self.cycle = self.pipeline.popleft()
            self._start(cycle, False)
            if self.read_paused and len(self.pipeline) < MAX_PIPELINE // 2:
                self._maybe_resume_reading()
        elif self.pending_error is not None:
            self.error_response(self.pending_error.status)
        elif self.eof:
            self.close()
        else:
            self.arm(self.timeout_keep_alive)
            if self.read_paused:
                self._maybe_resume_reading()
        callback = self.idle_callback
        if callback is not None and self.cycle is None:
            self.idle_callback = None
            callback()

    def error_response(self, status: int) -> None:
        """For the cycle (and the parser's errors): a response of our own, then close.

        The close lingers (the client may still be sending) except after a header-read
        timeout, whose client is too slow to deserve it.
        """
        if self.transport is None or self.closing:
            return
        writer = self.current_writer()
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
        self.close(linger=status != 408 and self.quirks.lingering_close)

    def abort_response(self) -> None:
        """For the cycle: drop the connection mid-response, so no client trusts a short body."""
        if self.quirks.abort_closes:
            self.close()
        else:
            self.abort()

    # -- upgrades ---------------------------------------------------------------------------

    def when_idle(self, callback: Callable[[], None]) -> None:
        """Call `callback` once no response is in progress (at once if none is now)."""
        if self.cycle is None and not self.pipeline:
            callback()
        else:
            self.idle_callback = callback
            self.pause_reading()

    def hand_over(self) -> bytes:
        """Give the transport up to an upgrade's protocol; returns the bytes it must parse.

        What was written goes out first; the deadline is dropped; the connection leaves the
        server's set (the new protocol adds itself). The bytes are everything received after
        the upgrade's head.
        """
        self.disarm()
        self.flush()
        self.connections.discard(self)
        self.deadlines.unwatch(self)
        self.closing = True  # the transport is no longer ours
        data: bytes = self.parser.unparsed() + bytes(self.upgrade_buffer)
        self.upgrade_buffer.clear()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        return data

    # -- the connection --------------------------------------------------------------------

    def hold_flush(self, last: bool) -> bool:
        if last:
            # A response ended: the next pipelined one starts now and may join the write.
            return bool(self.pipeline)
        # A pipelined request was started and has not run yet: its response may join the
        # collected write. Its task runs before the next loop turn.
        cycle = self.cycle
        return cycle is not None and not cycle.started and not self.closing and not self.held

    def shutdown(self, restart: bool = False) -> None:
        """Graceful shutdown: close now if idle, else once the current response is done.

        A response that has not started yet announces `connection: close`. "Idle" means idle
        for `quirks.shutdown_idle` seconds (SHUTDOWN_IDLE): a connection that answered more
        recently closes when it has been idle that long, or after answering the request its
        client sends meanwhile. A request whose head is arriving is answered (the header-read
        deadline bounds it). `restart` (a successor takes over) changes nothing for HTTP/1.1.
        """
        self.shutting_down = True
        if self.cycle is None and not self.pipeline:
            grace = self.quirks.shutdown_idle
            if grace <= 0.0:
                self.close()
                return
            if self.reading_head:
                return  # answered with `connection: close`, or 408 at its deadline
            wait = grace - self._idle_for()
            if wait <= 0.0:
                self.close()
            else:
                self.loop.call_later(wait, self._close_if_idle)
            return
        self.pipeline.clear()
        self.eof = True  # response_complete closes the connection

    def _idle_for(self) -> float:
        """Seconds since the connection went idle, from its keep-alive deadline; 0 if unknown
        (per-connection timers keep no deadline value)."""
        deadline: float = self.deadline
        timeout: float = self.timeout_keep_alive
        clock = getattr(self.deadlines, "clock", None)
        if deadline <= 0.0 or timeout <= 0.0 or clock is None:
            return 0.0
        return float(clock()) - (deadline - timeout)

    def _close_if_idle(self) -> None:
        if self.cycle is None and not self.pipeline and not self.reading_head:
            self.close()

    def end_keep_alive(self) -> None:
        """Drain without the keep-alive race: the next response says `connection: close`.

        Unlike `shutdown()`, an idle connection is not closed now: its client may have a
        request on the wire, which a close would lose (RFC 9112 §9.3.1 lets the client retry
        only idempotent ones). It closes after its next response, or at its keep-alive
        deadline. For a worker whose successor already serves the same socket.
        """
        self.shutting_down = True

    def on_timeout(self) -> None:
        if self.cycle is not None or self.pipeline:
            return
        if self.reading_head:
            self.error_response(408)
        else:
            self.close()

    def _maybe_resume_reading(self) -> None:
        backlog = self.backlog
        if backlog and len(self.pipeline) < MAX_PIPELINE // 2 and not self.closing:
            self.backlog = b""
            self._take(backlog, False)  # may keep some back again
        if (
            not self.backlog
            and self.buffered_body < HIGH_WATER
            and len(self.pipeline) < MAX_PIPELINE
        ):
            self.resume_reading()


class RequestCycle:
    """One request/response: the app's `receive` and `send`, and the response state.

    Args:
        conn: The connection. The cycle calls its "For the cycle:" methods and
            `write` / `drain`, and reads its `writer`, `quirks`, `logger`, `loop`, `closing`
            and `write_paused`; nothing else. It holds no other reference (fewer references
            per waiting cycle is less work for the collector).
        request: The core's Request (its scope is already finished).
    """

    __slots__ = (
        "abandoned",
        "access_log",
        "app_error",
        "body",
        "body_done",
        "conn",
        "continue_sent",
        "disconnected",
        "empty_body_sent",
        "expect_continue",
        "finished",
        "peer_done",
        "request",
        "response_complete",
        "response_started",
        "scope",
        "size",
        "start_time",
        "started",
        "status",
        "task",
        "told_disconnect",
        "waiter",
    )

    def __init__(self, conn: HTTPProtocol, request: Any) -> None:
        self.conn = conn
        self.request = request
        self.scope = request.scope
        access_log = self.access_log = conn.access_log
        self.body: deque[dict[str, Any]] | None = None  # made when a body message comes
        self.body_done = not request.has_body  # every body message has arrived
        self.expect_continue = request.expect_continue
        self.continue_sent = False
        self.empty_body_sent = False
        self.disconnected = False  # the connection is gone
        self.peer_done = False  # the peer sent EOF: nothing more will arrive
        self.told_disconnect = False  # receive() gave the app http.disconnect
        self.response_started = False
        self.response_complete = False
        self.waiter: asyncio.Future[None] | None = None
        self.task: Any = None
        self.started = False  # run_asgi has begun
        self.finished = False  # run_asgi has ended
        self.abandoned = False  # the app must never run (its request turned out bad)
        self.app_error: RuntimeError | None = None  # see _app_error
        self.status = 0
        self.size = 0
        self.start_time = time.perf_counter() if access_log else 0.0

    # -- fed by the connection --------------------------------------------------------------

    def on_body(self, message: dict[str, Any]) -> None:
        if self.response_complete:  # the response is out: drop the rest (drain_unread_body)
            self.body_done = not message["more_body"]
            return
        body = self.body
        if body is None:
            body = self.body = deque()
        body.append(message)
        if not message["more_body"]:
            self.body_done = True
        self.conn.body_queued(len(message["body"]))
        if self.waiter is not None:
            self._wake()

    def on_disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def on_eof(self) -> None:
        """The peer will send nothing more: a receive() past the body gets http.disconnect."""
        self.peer_done = True
        if not self.body_done:
            self.disconnected = True  # the body will never be whole
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the app's side --------------------------------------------------------------------

    async def run_asgi(self, app: Any) -> None:
        if self.abandoned:
            self.finished = True
            self.conn.task_done(self)
            return
        self.started = True
        try:
            try:
                result = await app(self.scope, self.receive, self.send)
            except BaseException as exc:
                self._raised(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            if self.app_error is not None:  # the app caught it: the error still stands
                self._log_app_error(self.app_error)
            if result is not None:
                self.conn.logger.error("ASGI callable should return None, but returned %r.", result)
                if self.conn.quirks.close_on_return_value:
                    self.conn.close()
            if not self.response_complete:
                # An app told http.disconnect may stop without answering; only a gone
                # client or that message excuses a missing response.
                if not (self.disconnected or self.told_disconnect):
                    self.conn.logger.error(
                        "ASGI callable returned without %s response.",
                        "completing" if self.response_started else "starting",
                    )
                self.fail()
        finally:
            self.finished = True
            self.conn.task_done(self)

    def _raised(self, exc: BaseException) -> None:
        error = self.app_error
        if error is not None:
            # An error send() already answered: logged once, whether the app let it out or
            # caught it and then failed on the connection it aborted.
            self._log_app_error(error)
        if exc is error or (
            error is not None and isinstance(exc, (ClientDisconnected, asyncio.CancelledError))
        ):
            pass
        elif is_shutdown_cancel(exc):
            pass  # a forced shutdown: the server logs one line for all of them
        elif self.disconnected and isinstance(exc, (ClientDisconnected, asyncio.CancelledError)):
            # The client went away and the app let the resulting error out: not a bug.
            self.conn.logger.debug("ASGI application stopped after a disconnect: %r", exc)
        else:
            self.conn.logger.error("Exception in ASGI application", exc_info=exc)
        self.fail()

    def fail(self) -> None:
        """The app broke or gave up: 500 if nothing was sent, else abort (no short body).

        A complete response stands (the error came after it); a cycle whose client went away
        only makes sure the connection is closed, and so does one whose app was told
        http.disconnect (a half-closed peer) before it started a response.
        """
        conn = self.conn
        if self.response_complete:
            if self.conn.quirks.close_on_late_error:
                conn.close()
            return
        if self.disconnected or (self.told_disconnect and not self.response_started):
            conn.close()
        elif not self.response_started:
            self.response_started = self.response_complete = True
            self.status = 500
            self.size = len(REASONS[500])
            conn.error_response(500)
            metrics = conn.metrics
            if metrics is not None:
                metrics.observe(self.scope["method"], 500, time.perf_counter() - self.start_time)
            if self.access_log:
                self._log_access()
        else:
            conn.abort_response()

    async def receive(self) -> dict[str, Any]:
        if self.expect_continue and self.conn.quirks.continue_on_first_receive:
            self._send_continue()
        while True:
            body = self.body
            if body:
                message = body.popleft()
                self.conn.body_taken(len(message["body"]))
                return message
            if self.disconnected:
                return {"type": DISCONNECT}
            if self.body_done:
                if not self.request.has_body and not self.empty_body_sent:
                    self.empty_body_sent = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                if self.response_complete or self.peer_done:
                    self.told_disconnect = True
                    return {"type": DISCONNECT}
            elif self.expect_continue:
                self._send_continue()
            self.waiter = self.conn.loop.create_future()
            await self.waiter

    def _send_continue(self) -> None:
        if not self.continue_sent and not self.response_started:
            self.continue_sent = True
            self.conn.send_continue()

    async def send(self, message: dict[str, Any]) -> None:
        conn = self.conn
        if self.disconnected or conn.closing:
            if self.disconnected and self.conn.quirks.silent_disconnect:
                return
            raise ClientDisconnected("the client disconnected")
        kind = message["type"]
        writer = conn.writer
        if kind == "http.response.body":
            if not self.response_started:
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got {kind!r}.")
            try:
                data = writer.body(message)
            except ResponseError as exc:
                raise self._body_error(exc) from None
            if self.access_log:
                self.size += len(message.get("body", b""))
        elif kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("Unexpected ASGI message 'http.response.start' sent twice.")
            self._start_response(message)
            return
        elif kind == "http.response.trailers":
            data = self._trailers(message)
        elif kind in EXTENSION_MESSAGES:
            await self._send_extension(kind, message)
            return
        else:
            raise self._unsupported(kind)
        if writer.complete:
            self._end_response(data)
        else:
            if data:
                conn.write(data)
            if conn.write_paused:
                await conn.drain()

    def _trailers(self, message: dict[str, Any]) -> bytes:
        """The wire bytes of an `http.response.trailers` (validated whatever happens to it)."""
        writer = self.conn.writer
        data: bytes = writer.trailers(message)
        if data:
            # "The ASGI server will only send the trailing headers in case the client has
            # sent the ``TE: trailers`` header in the request." -- ASGI extensions, HTTP
            # Trailers. The chunked body still ends: an empty trailer section, then CRLF.
            if not accepts_trailers(self.scope["headers"]):
                data = b"\r\n" if writer.complete else b""
        elif not message.get("more_trailers", False):
            scope = self.scope
            if scope["method"] == "HEAD" or self.status in (204, 205, 304):
                pass  # no content, so nothing to trail: not the app's mistake
            elif scope["http_version"] == "1.0":
                self.conn.logger.warning(
                    "Response trailers dropped: HTTP/1.0 has no chunked coding"
                )
            else:
                self.conn.logger.warning(
                    "Response trailers dropped: the response is not chunked (it has a "
                    "Content-Length)"
                )
        return data

    def _body_error(self, exc: ResponseError) -> Exception:
        """A body message the writer refused (a length that breaks the Content-Length, a body
        that is not bytes): while the head is still held, nothing was sent, so the response is
        dropped for a 500 and the error is the app's, caught or not; after it, the app gets
        the error and the connection aborts if it lets it out."""
        try:
            self.conn.writer.reset()
        except ResponseError:
            return exc
        self.response_started = False
        return self._app_error(str(exc))

    def _unsupported(self, kind: object) -> RuntimeError:
        """A message type this connection does not support: an app error, even if the app
        catches the exception (a 500 if nothing was sent yet, else the connection aborts).
        Returns the exception for send() to raise."""
        return self._app_error(
            f"Unexpected ASGI message {kind!r} for an HTTP connection "
            f"(supported here: {', '.join(sorted(RESPONSE_MESSAGES))})."
        )

    def _app_error(self, text: str) -> RuntimeError:
        """An app error that stands even if the app catches it: fail() now, and one logged
        traceback when the app ends (by then the error's traceback reaches into the app, to
        the line that raised it or the one that caught it)."""
        error = self.app_error = RuntimeError(text)
        self.fail()
        return error

    def _log_app_error(self, error: RuntimeError) -> None:
        self.app_error = None
        self.conn.logger.error("Exception in ASGI application", exc_info=error)

    # -- the extensions' messages (cold: only apps that use them get here) ------------------

    async def _send_extension(self, kind: str, message: dict[str, Any]) -> None:
        if kind == "http.response.early_hint":
            await self._early_hint(message)
            return
        if not self.response_started:
            raise RuntimeError(f"Expected ASGI message 'http.response.start', got {kind!r}.")
        if self.response_complete:
            # As for a body message then: the response stands, the app's error is its own.
            raise RuntimeError(f"Unexpected ASGI message {kind!r} after the response ended.")
        # pathsend "cannot be mixed with http.response.body" (ASGI extensions, Path Send):
        # an app that still sends body messages first gets them and then the file, framed
        # as one body (chunked, or under its Content-Length), which a client reads intact.
        if kind == "http.response.pathsend":
            await self._pathsend(message)
        else:
            await self._zerocopysend(message)

    async def _early_hint(self, message: dict[str, Any]) -> None:
        """103 (Early Hints) before the response; never to HTTP/1.0 (RFC 9110 §15.2), where
        the extension is not advertised and a hint is dropped (hints are advisory)."""
        if self.response_started:
            raise self._app_error("ASGI message 'http.response.early_hint' after the start.")
        conn = self.conn
        data = conn.writer.early_hint(message, self.scope["http_version"])
        if data:
            conn.write(data)
            conn.flush()  # the client may fetch the hinted resources while the app works
            if conn.write_paused:
                await conn.drain()

    async def _pathsend(self, message: dict[str, Any]) -> None:
        """The file at message["path"] as the rest of the body, with os.sendfile."""
        path = message.get("path")
        if not isinstance(path, str):
            raise self._file_error(f"http.response.pathsend: path must be a str, not {path!r}")
        # O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, with the whole
        # event loop (it changes nothing for a regular file, the only kind that is sent).
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
        flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise self._file_error(f"http.response.pathsend: cannot open {path!r}: {exc}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._file_error(f"http.response.pathsend: {path!r} is not a regular file")
            await self._send_file(fd, 0, info.st_size, False)
        finally:
            os.close(fd)

    async def _zerocopysend(self, message: dict[str, Any]) -> None:
        """`count` bytes of message["file"] from `offset` (default: its position, which then
        moves past them, as a read would), with os.sendfile. The app closes the file.

        A file object's position is its own `tell()`, not the descriptor's: a buffered file
        that was read from has read ahead of what it returned."""
        file = message.get("file")
        offset = message.get("offset")
        count = message.get("count")
        for name, value in (("offset", offset), ("count", count)):
            if value is not None and (type(value) is not int or value < 0):
                raise self._file_error(
                    f"http.response.zerocopysend: {name} must be an int >= 0, not {value!r}"
                )
        try:
            if type(file) is int:
                fd = file
                start = os.lseek(fd, 0, os.SEEK_CUR) if offset is None else offset
            else:
                fd = file.fileno()  # type: ignore[union-attr]
                start = file.tell() if offset is None else offset  # type: ignore[union-attr]
            info = os.fstat(fd)
        except (AttributeError, OSError, TypeError, ValueError) as exc:
            raise self._file_error(f"http.response.zerocopysend: bad file {file!r}: {exc}") from exc
        if count is None:
            count = max(info.st_size - start, 0)
        elif stat.S_ISREG(info.st_mode) and start + count > info.st_size:
            # Known before a byte is written: a 500 rather than a head that promises bytes the
            # file does not have (a file that shrinks later still ends in an abort).
            raise self._file_error(
                f"http.response.zerocopysend: offset {start} + count {count} runs past the end "
                f"of the file ({info.st_size} bytes)"
            )
        await self._send_file(fd, start, count, message.get("more_body", False))
        if offset is None:
            if type(file) is int:
                os.lseek(fd, start + count, os.SEEK_SET)
            else:
                file.seek(start + count)  # type: ignore[union-attr]

    def _file_error(self, text: str) -> RuntimeError:
        """A file that cannot be sent: before the head went out, the response is dropped and
        the error is the app's (a 500 when it lets it out); after, the connection aborts."""
        try:
            self.conn.writer.reset()
        except ResponseError:
            return self._app_error(text)
        self.response_started = False
        return RuntimeError(text)

    async def _send_file(self, fd: int, offset: int, count: int, more: bool) -> None:
        conn = self.conn
        writer = conn.writer
        try:
            before, after, write = writer.frame_external(count, more)
        except ResponseError as exc:
            raise self._file_error(str(exc)) from exc
        if before:
            conn.write(before)
        if write:
            sent = await conn.sendfile(fd, offset, count)
            if sent < count:
                if conn.closing:
                    self.disconnected = True  # the connection is gone (or going)
                if self.disconnected:
                    if conn.quirks.silent_disconnect:
                        return
                    raise ClientDisconnected("the client disconnected")
                raise self._app_error(f"the file ended {count - sent} bytes early")
        if self.access_log:
            self.size += count
        if writer.complete:
            self._end_response(after)
        else:
            if after:
                conn.write(after)
            if conn.write_paused:
                await conn.drain()

    def _end_response(self, data: Any) -> None:
        """Write a response's last bytes, wake a waiting receive(), log the response, and let
        the connection go on (send() and the file extensions end a response here)."""
        conn = self.conn
        conn.write(data, True)
        self.response_complete = True
        if self.waiter is not None:
            self._wake()
        if self.access_log:
            self._log_access()
        conn.response_complete(self)

    def _start_response(self, message: dict[str, Any]) -> None:
        conn = self.conn
        quirks = conn.quirks
        scope = self.scope
        method, version = scope["method"], scope["http_version"]
        keep_alive = conn.response_keep_alive(self)
        if not (
            quirks.start_before_validation
            or quirks.log_start is not None
            or quirks.headers_from_state
            or quirks.drop_content_length_with_te
        ):
            conn.writer.start(message, method, version, keep_alive)
            self.response_started = True
            self.status = message["status"]
            return
        if quirks.start_before_validation:
            self.response_started = True
            self.status = message["status"]
        if quirks.log_start is not None:
            quirks.log_start(scope, message["status"])
        writer = conn.current_writer()
        if quirks.drop_content_length_with_te:
            headers = message.get("headers")
            if headers is not None and type(headers) is not list:
                message = {**message, "headers": list(headers)}  # may be read twice below
            try:
                writer.start(message, method, version, keep_alive)
            except Exception:
                retry = _without_content_length(message)
                if retry is None:
                    raise
                writer.start(retry, method, version, keep_alive)
        else:
            writer.start(message, method, version, keep_alive)
        self.response_started = True
        self.status = message["status"]

    def _log_access(self) -> None:
        access_format = self.conn.access_format
        if access_format is not None:
            access_format.log(self.scope, self.status, self.size, self.start_time)
            return
        scope = self.scope
        path = scope["path"]
        if scope["query_string"]:
            path = f"{path}?{scope['query_string'].decode('latin-1')}"
        if not path.isprintable():
            # The path is percent-decoded: %0D%0A must not split the line or forge another.
            path = escape(path)
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


def accepts_trailers(headers: Any) -> bool:
    """The request's TE field lists `trailers`: the client takes trailer fields.

    TE = #t-codings; t-codings = "trailers" / ( transfer-coding [ weight ] ) -- RFC 9110 §10.1.4
    """
    for name, value in headers:
        if name == b"te":
            for element in value.split(b","):
                if element.strip(b" \t").lower() == b"trailers":
                    return True
    return False


def _without_content_length(message: dict[str, Any]) -> dict[str, Any] | None:
    """The start message minus its Content-Length if it also sets Transfer-Encoding, else None.

    "A sender MUST NOT send a Content-Length header field in any message that contains a
    Transfer-Encoding header field." -- RFC 9112 §6.2
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
