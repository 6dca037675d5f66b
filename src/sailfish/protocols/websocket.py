"""WebSocket (RFC 6455) over a Connection: the ASGI websocket protocol (spec 2.5).

Strategy: a `WebSocketProtocol` is handed a connection whose HTTP/1.1 head asked to upgrade,
either by http1's upgrade API (`upgrade_handler`: the head is already parsed, no byte is parsed
twice) or raw, as another server hands it over (the head's bytes come in `data_received` and
a RequestParser reads them first). The core does every byte: `check_handshake` (the scope, or
a `HandshakeError` answered as HTTP), `accept_response` (the 101 head), `FrameParser` (client
frames -> receive dicts, Ping, Pong, Close, or a final WebSocketError) and `FrameWriter`
(ASGI send dicts -> frames). What lives here is the connection's life:
- states: CONNECTING (the app decides) -> OPEN (accepted) -> CLOSING (our close frame is out,
  the peer's reply is awaited) -> CLOSED; or CONNECTING -> RESPONSE (the app answers with
  HTTP: a 403 for a close before accept, or the `websocket.http.response` extension).
- one deadline at a time, through the connection's strategy: the next keepalive ping, the
  pong it waits for, or the end of the close handshake.
- flow control both ways: reading pauses while `max_queue` messages wait for the app, and
  while the transport is paused (a peer that does not read gets no pongs queued without end);
  received bytes are parsed FEED_SLICE at a time, the rest kept unparsed meanwhile; `send`
  waits while the transport is paused.
Nothing here parses or frames bytes, or imports the server. Compiled with the shell
(websocket.pxd).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from sailfish.access_format import escape
from sailfish.errors import ResponseError
from sailfish.http import Request, RequestParser, ResponseWriter
from sailfish.middleware import apply_proxy_headers
from sailfish.state import is_shutdown_cancel
from sailfish.ws import (
    Close,
    FrameParser,
    FrameWriter,
    HandshakeError,
    Ping,
    Pong,
    WebSocketError,
    accept_response,
    check_handshake,
    negotiate_deflate,
)

from .base import FEED_SLICE, Connection
from .deadlines import tick_interval
from .http1 import ClientDisconnected

__all__ = [
    "CLOSE_TIMEOUT",
    "DEFLATE_SETTINGS",
    "WebSocketProtocol",
    "handshake_headers",
    "upgrade_handler",
]

access_logger = logging.getLogger("sailfish.access")

# "The underlying TCP connection, in most normal cases, SHOULD be closed first by the server"
# -- RFC 6455 §7.1.1: so after our close frame we wait for the peer's, this many seconds.
CLOSE_TIMEOUT = 10.0

# A slice of input that gave more events than this (pings, tiny messages) ends the turn: the
# rest is parsed on the next loop iteration, so one flooding peer does not keep the others
# waiting for a whole read's worth (bench/floods.py, ws-ping).
MANY_EVENTS = 64

# Connection states.
CONNECTING = 0
OPEN = 1
RESPONSE = 2
CLOSING = 3
CLOSED = 4

# What the armed deadline means.
NO_TIMER = 0
PING_DUE = 1
PONG_DUE = 2
CLOSE_DUE = 3

# permessage-deflate, when on: a 4 KiB window each way and zlib memLevel 5 (websockets' and
# uvicorn's server settings) hold about a quarter of zlib's defaults per connection, for a
# little less compression (bench/RESULTS.md).
DEFLATE_SETTINGS: dict[str, Any] = {
    "server_max_window_bits": 12,
    "client_max_window_bits": 12,
    "mem_level": 5,
}

TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
REASONS = {
    403: b"",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


def _over_high_water(transport: Any) -> bool:
    """Whether `transport` holds more than its high-water mark, and so has paused its protocol
    for writing (asyncio pauses past the high mark and resumes at the low one: a buffer in
    between says nothing, and False is then the answer that cannot leave a send waiting)."""
    try:
        size = transport.get_write_buffer_size()
        high = transport.get_write_buffer_limits()[1]
    except (AttributeError, NotImplementedError, TypeError, IndexError):
        return False
    return bool(size > high)


def handshake_headers(config: Any, default_headers: Any) -> list[tuple[bytes, bytes]]:
    """The fields sailfish adds to a 101 response, as the HTTP writer adds them to others:
    `server`, `date` (each if the config says so) and the default headers."""
    headers: list[tuple[bytes, bytes]] = []
    http = config.http
    if http.server_header:
        headers.append((b"server", b"sailfish"))
    if http.date_header:
        headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
    headers += default_headers
    headers += http.default_headers
    return headers


def upgrade_handler(config: Any) -> Callable[[Any, Any], bool]:
    """The http1 upgrade handler for `Upgrade: websocket` under `config` (a loaded Config).

    It takes every such request: once the responses before it are out, the HTTP protocol
    hands its transport over to a new WebSocketProtocol, which answers the handshake.
    """
    settings = config.websocket
    asgi_version = getattr(config, "asgi_version", "3.0")
    access_log = bool(config.access_log)

    def handler(conn: Any, request: Any) -> bool:
        def take() -> None:
            if conn.closing:
                return
            transport = conn.transport
            scope = request.scope
            if conn.proxy_trusted and request.forwarded and conn.trusted_proxies is not None:
                apply_proxy_headers(scope, conn.trusted_proxies)
            state = conn.server_state
            protocol = WebSocketProtocol(
                conn.loop,
                state.connections,
                state.tasks,
                conn.app,
                settings,
                app_state=conn.app_state,
                writer=conn.current_writer(),
                headers=handshake_headers(config, state.default_headers),
                asgi_version=asgi_version,
                log_handshake=log_handshake if access_log else None,
                deadlines=conn.deadlines,
                logger=conn.logger,
            )
            # The same write deadline for its frames (HTTPProtocol's interval allowed for it).
            protocol.timeout_write = conn.timeout_write
            protocol.watch_interval = min(protocol.watch_interval, conn.watch_interval)
            data = conn.hand_over()
            protocol.take_over(transport, conn)  # byte counts and a pause for writing go on
            protocol.start(request, data)

        conn.when_idle(take)
        return True

    return handler


def log_handshake(scope: dict[str, Any], status: int) -> None:
    """One `sailfish.access` line per handshake: 101, or the HTTP status it was answered."""
    path = scope["path"]
    if scope["query_string"]:
        path = f"{path}?{scope['query_string'].decode('latin-1')}"
    if not path.isprintable():
        path = escape(path)  # percent-decoded: %0D%0A must not split the line
    peer = scope.get("client")
    client = f"{peer[0]}:{peer[1]}" if peer else "-"
    access_logger.info(
        '%s - "WebSocket %s" %d',
        client,
        path,
        status,
        extra={"client": client, "path": path, "status": status},
    )


class WebSocketProtocol(Connection):
    """One WebSocket connection, from the handshake to the close.

    Args:
        loop: The event loop (runs the app's task and the deadlines).
        connections: The server's set of open connections.
        tasks: The server's set of running app tasks.
        app: The ASGI 3 application.
        settings: `max_size`, `max_queue`, `ping_interval`, `ping_timeout` and
            `per_message_deflate`, as `sailfish.options.WebSocketSettings` has them.
        app_state: The lifespan state; the scope gets a shallow copy.
        writer: The ResponseWriter for answers in HTTP (a refused handshake, 403, 500, the
            denial response); it adds the server's default fields.
        headers: The fields to add to the 101 response (see `handshake_headers`).
        asgi_version: scope["asgi"]["version"].
        log_handshake: Called with (scope, status) once the handshake is answered.
        close_frame_on_exit: An app that ends (or fails) after accepting, without closing,
            gets a close frame sent for it (1000, or 1011 after an error), and the close
            handshake runs. False: the transport is closed with no close frame (uvicorn).
        raw: The connection is handed over before its upgrade head was parsed: the head
            comes in `data_received` and is read here (with `root_path`), unless `start()`
            is called first with a parsed request.
        root_path: The ASGI root_path, for a head read here.
        deadlines: The deadline strategy; default: the loop's ticker.
        logger: Where protocol and app errors go.

    Attributes:
        close_timeout: Seconds to wait for the peer's reply to our close frame.
        ping_sent_at: loop time of the latest keepalive ping (0.0: none yet).
    """

    def __init__(
        self,
        loop: Any,
        connections: set[Any],
        tasks: set[Any],
        app: Any,
        settings: Any,
        *,
        app_state: dict[str, Any] | None = None,
        writer: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        asgi_version: str = "3.0",
        log_handshake: Callable[[dict[str, Any], int], None] | None = None,
        close_frame_on_exit: bool = True,
        raw: bool = False,
        root_path: str = "",
        deadlines: Any = None,
        logger: logging.Logger | None = None,
    ) -> None:
        Connection.__init__(self, loop, connections, deadlines, logger)
        self.tasks = tasks
        self.app = app
        self.app_state = app_state if app_state is not None else {}
        self.writer = writer if writer is not None else ResponseWriter()
        self.headers = headers if headers is not None else []
        self.asgi_version = asgi_version
        self.log_handshake = log_handshake
        self.close_frame_on_exit = close_frame_on_exit
        self.raw = raw
        self.root_path = root_path
        self.max_size = settings.max_size
        self.max_queue = settings.max_queue
        self.ping_interval = float(settings.ping_interval or 0.0)
        self.ping_timeout = float(settings.ping_timeout or 0.0)
        self.per_message_deflate = bool(settings.per_message_deflate)
        self.close_timeout = CLOSE_TIMEOUT
        self.watch_interval = min(
            self.watch_interval, tick_interval(self.ping_interval, self.ping_timeout)
        )

        # Per-connection state
        self.state = CONNECTING
        self.http_parser: Any = None  # reads the head when handed a raw connection
        self.handshake: Any = None
        self.scope: dict[str, Any] | None = None
        self.parser: Any = None
        self.frames: Any = None  # the FrameWriter
        self.pending = bytearray()  # bytes received before the app accepted
        self.queue: deque[dict[str, Any]] = deque()
        self.backlog = b""  # received bytes not parsed yet: the app or the peer is behind
        self.waiter: asyncio.Future[None] | None = None
        self.disconnect: dict[str, Any] | None = None  # queued once; then repeated
        self.task: Any = None
        self.timer = NO_TIMER
        self.ping_payload = b""
        self.ping_sent_at = 0.0
        self.peer_closed = False  # the connection ended by the peer (or was lost)
        self.empty_denial = False  # the denial response's head declared Content-Length: 0

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        Connection.connection_made(self, transport)
        if self.raw and not self.write_paused and _over_high_water(transport):
            # Handed over by another server's protocol, which tells nothing of a pause for
            # writing: a buffer past the high-water mark shows one (and resume_writing follows).
            self.pause_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        Connection.connection_lost(self, exc)
        self.timer = NO_TIMER
        self.backlog = b""
        if self.state != CLOSED:
            self.state = CLOSED
            self.peer_closed = True
        self._disconnected({"type": "websocket.disconnect", "code": 1006})

    def eof_received(self) -> bool | None:
        return None  # a peer that stops sending is gone: close (connection_lost follows)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.closing:
            return
        state = self.state
        if state == OPEN or state == CLOSING:
            if self.backlog:
                self.backlog += data  # a transport may hand over a tail: keep it back too
                self.pause_reading()
                return
            self._feed(data)
        elif self.raw and state == CONNECTING and self.handshake is None:
            self._read_head(data)
        elif state == CONNECTING:
            # Frames before the app accepted: kept for the parser the accept creates.
            self.pending += data
            if len(self.pending) > self.max_size:
                self.pause_reading()

    # -- the handshake ---------------------------------------------------------------------

    def start(self, request: Any, data: bytes = b"") -> None:
        """Answer the upgrade `request` (already parsed); `data` are the bytes after its head."""
        http_scope = request.scope
        handshake = check_handshake(request, scheme_secure=http_scope["scheme"] == "https")
        if isinstance(handshake, HandshakeError):
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
            self.logger.warning(
                "Invalid WebSocket handshake from %s: %s (%d)",
                client,
                handshake.reason,
                handshake.status,
            )
            self.state = RESPONSE
            if self.log_handshake is not None:
                self.log_handshake(http_scope, handshake.status)
            self._http_error(handshake.status, list(handshake.headers), handshake.reason.encode())
            return
        self.handshake = handshake
        scope = self.scope = handshake.scope
        scope["state"] = self.app_state.copy()
        scope["extensions"] = {"websocket.http.response": {}}
        if self.tls is not None:
            scope["extensions"]["tls"] = self.tls
        if self.asgi_version != "3.0":
            scope["asgi"]["version"] = self.asgi_version
        if data:
            self.pending += data
        self.queue.append({"type": "websocket.connect"})
        coro = self.run_asgi()
        task = self.task = self.loop.create_task(coro)
        self.tasks.add(task)

    def _http_scheme(self) -> str:
        transport = self.transport
        if transport is not None and transport.get_extra_info("sslcontext"):
            return "https"
        return "http"

    def _read_head(self, data: bytes) -> None:
        parser = self.http_parser
        if parser is None:
            parser = self.http_parser = RequestParser(
                client=self.client,
                server=self.server,
                scheme=self._http_scheme(),
                root_path=self.root_path,
            )
        for event in parser.feed(data):
            if type(event) is dict:
                continue  # a body on an upgrade request: nothing reads it
            if isinstance(event, Request):
                self.http_parser = None
                self.start(event, parser.unparsed())
                return
            self.state = RESPONSE
            self._http_error(event.status, [], b"")
            return

    def _http_error(self, status: int, headers: list[Any], body: bytes) -> None:
        """An HTTP answer of our own instead of the upgrade, then close."""
        writer = self.writer
        try:
            writer.start(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [*headers, TEXT_PLAIN, (b"connection", b"close")],
                },
                "GET",
                "1.1",
                False,
            )
            data = writer.body({"type": "http.response.body", "body": REASONS.get(status, body)})
        except Exception:  # pragma: no cover - our own messages are valid
            self.logger.exception("Could not write a %d response", status)
            data = b""
        self.write(data)
        self.state = CLOSED
        self.close(linger=True)

    # -- the app's side --------------------------------------------------------------------

    async def run_asgi(self) -> None:
        try:
            try:
                result = await self.app(self.scope, self.receive, self.send)
            except BaseException as exc:
                self._app_failed(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned %r.", result)
            self._app_returned()
        finally:
            task = self.task
            self.task = None
            self.tasks.discard(task)

    def _app_failed(self, exc: BaseException) -> None:
        if is_shutdown_cancel(exc):
            pass  # a forced shutdown: the server logs one line for all of them
        elif (self.peer_closed or self.closing) and isinstance(
            exc, (ClientDisconnected, asyncio.CancelledError)
        ):
            # The connection went away (or the server closed it) and the app let the
            # resulting error out: not a bug.
            self.logger.debug("ASGI application stopped after a disconnect: %r", exc)
        else:
            self.logger.error("Exception in ASGI application", exc_info=exc)
        state = self.state
        if state == CONNECTING:
            self._reject(500)
        elif state == RESPONSE:
            if self.writer.started and not self.writer.complete:
                self._end_denial()
            else:
                self.close()
        elif state == OPEN:
            self._app_close(1011)

    def _app_returned(self) -> None:
        state = self.state
        if state == CONNECTING:
            self.logger.error("ASGI callable returned without accepting the WebSocket.")
            self._reject(500)
        elif state == RESPONSE:
            if self.writer.started and not self.writer.complete:
                self.logger.error("ASGI callable returned without completing the response.")
                self._end_denial()
            else:
                self.close()
        elif state == OPEN:
            self._app_close(1000)

    def _end_denial(self) -> None:
        """The app stopped in the middle of a denial response. A head that declared no body
        (`Content-Length: 0`) is a whole response: it goes out, then the connection closes
        (as uvicorn's wsproto protocol does). Anything else is cut short, so the connection
        aborts: no client trusts a short body."""
        if self.empty_denial and not self.closing:
            self.write(self.writer.body({"type": "http.response.body", "body": b""}), True)
            self.close()
        else:
            self.abort()

    def _app_close(self, code: int) -> None:
        """The app left an open connection: close it for the app."""
        if self.close_frame_on_exit:
            self._send_close(code, "")
        else:
            self.state = CLOSED
            self.close()

    def _reject(self, status: int) -> None:
        """Answer the handshake with an HTTP error of ours (403, 500, 503), then close."""
        if self.closing:
            return
        self.state = RESPONSE
        if self.log_handshake is not None and self.scope is not None:
            self.log_handshake(self.scope, status)
        self._http_error(status, [], b"")
        self._disconnected({"type": "websocket.disconnect", "code": 1006})

    async def receive(self) -> dict[str, Any]:
        queue = self.queue
        while not queue:
            if self.disconnect is not None:
                return dict(self.disconnect)  # asked again: the connection stays gone
            waiter = self.waiter = self.loop.create_future()
            await waiter
        message = queue.popleft()
        if self.read_paused and self.state == OPEN and len(queue) < self.max_queue:
            self._maybe_resume_reading()
        return message

    def resume_writing(self) -> None:
        Connection.resume_writing(self)
        if self.read_paused and self.state == OPEN and len(self.queue) < self.max_queue:
            self._maybe_resume_reading()

    def _maybe_resume_reading(self) -> None:
        """Parse what was kept back, then read again if the app and the peer keep up."""
        backlog = self.backlog
        if backlog and not self._behind():
            self.backlog = b""
            self._feed(backlog)  # may keep some back again
        if not self.backlog and not self._behind() and self.state == OPEN:
            self.resume_reading()

    def _behind(self) -> bool:
        """Whether reading must wait: the app has `max_queue` messages to take, or the peer
        does not read what we write (our pongs)."""
        return self.state == OPEN and (len(self.queue) >= self.max_queue or self.write_paused)

    def _put(self, message: dict[str, Any]) -> None:
        self.queue.append(message)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _disconnected(self, message: dict[str, Any]) -> None:
        """Queue the app's one `websocket.disconnect` (later ones are ignored)."""
        if self.disconnect is None:
            self.disconnect = message
            self._put(message)

    async def send(self, message: dict[str, Any]) -> None:
        if self.write_paused and not self.closing:
            await self.drain()  # nothing is written while the peer does not read
        state = self.state
        kind = message["type"]
        if state == OPEN:
            if kind == "websocket.send":
                self.write(self.frames.send(message))
                return
            if kind == "websocket.close":
                self._close_from_app(message)
                return
            raise RuntimeError(
                f"Expected ASGI message 'websocket.send' or 'websocket.close', got {kind!r}."
            )
        if state == CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                # "If this is sent before the socket is accepted, the server must close the
                # connection with a HTTP 403 error code" -- ASGI websocket spec, Close
                self._reject(403)
            elif kind == "websocket.http.response.start":
                self._response_start(message)
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start', got {kind!r}."
                )
            return
        if state == RESPONSE and self.writer.started and not self.writer.complete:
            if kind != "websocket.http.response.body":
                raise RuntimeError(
                    f"Expected ASGI message 'websocket.http.response.body' but got {kind!r}."
                )
            self._response_body(message)
            return
        if self.peer_closed or self.closing:
            raise ClientDisconnected("the client disconnected")
        raise RuntimeError(f"Unexpected ASGI message {kind!r} after the WebSocket was closed.")

    def _accept(self, message: dict[str, Any]) -> None:
        if self.closing:
            raise ClientDisconnected("the client disconnected")
        handshake = self.handshake
        deflate = None
        extensions = None
        if self.per_message_deflate and handshake.extensions is not None:
            negotiated = negotiate_deflate(handshake.extensions, **DEFLATE_SETTINGS)
            if negotiated is not None:
                extensions, deflate = negotiated
        headers = self.headers
        extra = message.get("headers")
        if extra:
            headers = [*headers, *extra]
        head = accept_response(
            handshake,
            subprotocol=message.get("subprotocol"),
            extensions=extensions,
            headers=headers,
        )
        self.write(head)
        self.state = OPEN
        self.parser = FrameParser(max_message_size=self.max_size, deflate=deflate)
        self.frames = FrameWriter(deflate=deflate)
        if self.log_handshake is not None:
            self.log_handshake(self.scope, 101)  # type: ignore[arg-type]
        self._keepalive()
        if self.pending:
            data = bytes(self.pending)
            self.pending.clear()
            self.resume_reading()
            self._feed(data)

    def _response_start(self, message: dict[str, Any]) -> None:
        status = message.get("status")
        if type(status) is int and status < 200:
            # A denial is the final answer to the handshake: an interim 1xx would leave the
            # client waiting, and a 101 without Sec-WebSocket-Accept read as a broken accept.
            raise ResponseError(f"a denial response needs a final status (200-599), not {status}")
        self.writer.start(message, "GET", "1.1", False)  # validates status and headers
        self.state = RESPONSE
        headers = message.get("headers")
        self.empty_denial = isinstance(headers, (list, tuple)) and any(
            bytes(name).lower() == b"content-length" and bytes(value).strip() == b"0"
            for name, value in headers
        )
        if self.log_handshake is not None:
            self.log_handshake(self.scope, status)  # type: ignore[arg-type]

    def _response_body(self, message: dict[str, Any]) -> None:
        writer = self.writer
        data = writer.body(message)
        if writer.complete:
            self.write(data, True)
            self._disconnected({"type": "websocket.disconnect", "code": 1006})
            self.close(linger=True)
        elif data:
            self.write(data)

    def _close_from_app(self, message: dict[str, Any]) -> None:
        code = message.get("code")
        reason = message.get("reason") or ""
        self._send_close(1000 if code is None else code, reason)

    def _send_close(self, code: int, reason: str, with_reason: bool = True) -> None:
        """Our close frame: the close handshake starts (RFC 6455 §7.1.2)."""
        data = self.frames.close(code, reason)  # an invalid code raises for the app
        self.write(data)
        self.state = CLOSING
        message: dict[str, Any] = {"type": "websocket.disconnect", "code": code}
        if with_reason:
            message["reason"] = reason
        self._disconnected(message)
        self.resume_reading()  # the peer's close frame must get through
        backlog = self.backlog
        if backlog:
            self.backlog = b""
            self._feed(backlog)  # CLOSING: nothing is queued or answered, so none is kept back
        if self.close_timeout > 0:
            self.timer = CLOSE_DUE
            self.arm(self.close_timeout)
        else:
            self.timer = NO_TIMER
            self.state = CLOSED
            self.close()

    # -- frames from the peer --------------------------------------------------------------

    def _feed(self, data: Any) -> None:
        """Parse received bytes, FEED_SLICE at a time once they are many, keeping the rest
        in `backlog` (and pausing reading) while the app or the peer is behind."""
        if len(data) <= FEED_SLICE:
            self._parse(data)
        else:
            view = memoryview(data)
            size = len(view)
            start = 0
            while start < size:
                events = self._parse(view[start : start + FEED_SLICE])
                start += FEED_SLICE
                if start >= size or self.closing or self.state == CLOSED:
                    break
                if events > MANY_EVENTS or self._behind():
                    self.backlog = bytes(view[start:])
                    self.pause_reading()
                    if not self._behind():
                        self.loop.call_soon(self._maybe_resume_reading)  # the others first
                    return
        if self.write_paused and self.state == OPEN:
            self.pause_reading()  # the peer does not read our pongs: it gets no more read

    def _parse(self, data: Any) -> int:
        """Act on the events of `data`; returns how many there were."""
        events = self.parser.feed(data)
        for event in events:
            if type(event) is dict:
                if self.state == OPEN:
                    self._put(event)
                    if len(self.queue) >= self.max_queue:
                        self.pause_reading()
                # CLOSING: the app is past `websocket.close`; the message is dropped.
            elif isinstance(event, Ping):
                if self.state == OPEN:
                    # Collected, not written at once: the pongs of a slice full of pings go
                    # out in one write by the end of this loop iteration.
                    self.write(self.frames.pong(event.payload))
            elif isinstance(event, Pong):
                self._on_pong(event.payload)
            elif isinstance(event, Close):
                self._on_close(event.code, event.reason)
                break
            elif isinstance(event, WebSocketError):
                self._on_error(event)
                break
        return len(events)

    def _on_close(self, code: int, reason: str) -> None:
        if self.state == OPEN:
            # "If an endpoint receives a Close frame and did not previously send a Close
            # frame, the endpoint MUST send a Close frame in response. ... It SHOULD do so
            # as soon as practical. An endpoint MAY delay sending a Close frame until its
            # current message is sent" -- RFC 6455 §5.5.1; the server then closes TCP first.
            try:
                reply = self.frames.close(code, "")  # the received code, echoed
            except ValueError:  # 1005 (no code) cannot be sent
                reply = self.frames.close(1000, "")
            self.write(reply)
            self._disconnected({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.peer_closed = True
        self.timer = NO_TIMER
        self.disarm()
        self.state = CLOSED
        self.close()

    def _on_error(self, error: Any) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
        self.logger.info(
            "WebSocket protocol error from %s: %s (%d)", client, error.reason, error.code
        )
        if self.state == OPEN:
            self.write(self.frames.close(error.code, ""))
            self._disconnected(
                {"type": "websocket.disconnect", "code": error.code, "reason": error.reason}
            )
            self.peer_closed = True
        self.timer = NO_TIMER
        self.disarm()
        self.state = CLOSED
        self.close()

    # -- keepalive and deadlines -----------------------------------------------------------

    def keepalive_armed(self) -> bool:
        """Whether a keepalive ping, or the pong it waits for, is due."""
        return self.timer == PING_DUE or self.timer == PONG_DUE

    def close_pending(self) -> bool:
        """Whether our close frame is out and the peer's reply is awaited."""
        return self.timer == CLOSE_DUE and not self.closing

    def _keepalive(self) -> None:
        if self.ping_interval > 0:
            self.timer = PING_DUE
            self.arm(self.ping_interval)

    def _on_pong(self, payload: bytes) -> None:
        if self.timer == PONG_DUE and payload == self.ping_payload:
            self._keepalive()

    def on_timeout(self) -> None:
        timer = self.timer
        self.timer = NO_TIMER
        if self.closing:
            return
        if timer == CLOSE_DUE:
            # The peer never answered our close frame: RFC 6455 leaves the wait to us.
            self.state = CLOSED
            self.close()
        elif timer == PING_DUE and self.state == OPEN:
            payload = self.ping_payload = os.urandom(4)
            self.ping_sent_at = self.loop.time() if hasattr(self.loop, "time") else time.time()
            self.write(self.frames.ping(payload), True)
            if self.ping_timeout > 0:
                self.timer = PONG_DUE
                self.arm(self.ping_timeout)
            else:
                self._keepalive()
        elif timer == PONG_DUE and self.state == OPEN:
            self.logger.info("WebSocket keepalive ping timeout: closing with 1011")
            self.write(self.frames.close(1011, "keepalive ping timeout"))
            self._disconnected({"type": "websocket.disconnect", "code": 1011})
            self.peer_closed = True
            self.state = CLOSED
            self.close()

    def shutdown(self, restart: bool = False) -> None:
        """Graceful shutdown: an open connection starts the close handshake and the app hears
        it; one still in its handshake gets 503; a close handshake under way ends now.

        Args:
            restart: A successor serves in this process's place (a worker being replaced):
                close with 1012 (Service Restart: reconnecting soon will work). Otherwise the
                server is going for good: 1001 (Going Away), RFC 6455 §7.4.1's code for "a
                server going down".
        """
        state = self.state
        if state == OPEN:
            self._send_close(1012 if restart else 1001, "", False)
        elif state == CONNECTING:
            self._reject(503)
        elif state == CLOSING or state == CLOSED:
            self.timer = NO_TIMER
            self.disarm()
            self.state = CLOSED
            self.close()
        # RESPONSE: the app's answer is under way; it closes when done.
