"""sailfish's protocols for uvicorn: `uvicorn app:app --http sailfish.uvicorn:HTTPProtocol`
and `--ws sailfish.uvicorn:WSProtocol`.

Strategy: `HTTPProtocol` here is sailfish's HTTP/1.1 protocol (same core, flow control,
pipelining and error handling), built the way uvicorn builds its protocols
(`HTTPProtocol(config=, server_state=, app_state=, _loop=)`, uvicorn's `Config` and
`ServerState`) and fitted to uvicorn 0.54's contract by composition only: sailfish settings
derived from uvicorn's Config, the documented `Quirks` switches for each uvicorn behaviour
that uvicorn's own test-suite pins and sailfish's server does differently, an upgrade handler
that hands WebSocket connections to `config.ws_protocol_class`, and the loop's deadline
strategy (per-connection timers on a loop without `time()`, as uvicorn's test loop is). It
overrides no method of the protocol. It logs to `uvicorn.error`, and to `uvicorn.access` in
uvicorn's format at response start; it sends uvicorn's `server_state.default_headers` (which
uvicorn's server refreshes every second). Nothing here imports uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from sailfish.config import Config
from sailfish.http import ResponseWriter
from sailfish.options import from_uvicorn
from sailfish.protocols import (
    HTTPProtocol as _HTTPProtocol,
    Quirks,
    Timers,
    WebSocketProtocol,
)

__all__ = ["HTTPProtocol", "WSProtocol", "service_unavailable"]

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


def log_access(scope: dict[str, Any], status: int) -> None:
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


def quirks_for(config: Any) -> Quirks:
    """uvicorn's behaviour where sailfish's server differs, each pinned by uvicorn's tests."""
    return Quirks(
        spec_version="2.3",  # uvicorn's ASGI HTTP spec version (sailfish: 2.5)
        continue_on_first_receive=True,
        start_before_validation=True,  # test_invalid_header_name: close, nothing sent
        drop_content_length_with_te=True,  # uvicorn sends chunked when an app sets both
        log_start=log_access if access_logger.hasHandlers() else None,
        close_on_late_error=True,  # test_message_after_body_complete
        close_on_return_value=True,
        silent_disconnect=True,  # send() after a disconnect is ignored
        drain_unread_body=True,
        abort_closes=True,  # uvicorn closes (flushing) instead of resetting
        lingering_close=False,
        count_own_connection=True,  # test_max_concurrency: limit N serves N - 1
        eager_tasks=False,  # uvicorn's protocols never start a task eagerly
        fresh_context=bool(getattr(config, "reset_contextvars", False)),
        unavailable_app=service_unavailable,
        headers_from_state=True,
        shutdown_idle=0.0,  # test_shutdown_during_idle: an idle connection closes at once
    )


def settings_from(config: Any) -> Config:
    """The sailfish settings the protocol reads, derived from uvicorn's Config through the
    options table's uvicorn mapping (sailfish.options.from_uvicorn)."""
    values = from_uvicorn(config)
    # uvicorn's own ProxyHeadersMiddleware (in loaded_app) applies the proxy headers, and
    # uvicorn's server adds the --header fields to server_state.default_headers.
    values.pop("headers", None)
    values["proxy_headers"] = False
    values["timeout_write"] = 0.0  # uvicorn has no write deadline: none here either
    settings = Config.from_options(None, **values)
    settings.limits.validate()
    settings.timeouts.validate()
    settings.access_log = False  # uvicorn's access line is logged at start (Quirks.log_start)
    settings.loaded_app = config.loaded_app
    settings.asgi_version = config.asgi_version
    settings.loaded = True
    return settings


def _is_proxy_headers_middleware(app: Any) -> bool:
    """Whether `app` is exactly uvicorn's ProxyHeadersMiddleware (not a subclass)."""
    kind = type(app)
    return (
        kind.__name__ == "ProxyHeadersMiddleware"
        and kind.__module__ == "uvicorn.middleware.proxy_headers"
        and hasattr(app, "app")
    )


def _websocket_upgrade(conn: Any, request: Any) -> bool:
    """Hand a WebSocket upgrade to uvicorn's WebSocket protocol, as uvicorn's protocols do."""
    ws_protocol_class = conn.ws_protocol_class
    tokens = [item.strip(b" \t") for item in bytes(request.upgrade).lower().split(b",")]
    if b"websocket" not in tokens or ws_protocol_class is None:
        conn.logger.warning("Unsupported upgrade request.")
        if ws_protocol_class is None:
            conn.logger.warning(NO_WEBSOCKET_LIBRARY)
        return False  # served as plain HTTP/1.1

    def hand_over() -> None:
        if conn.closing:
            return
        if isinstance(ws_protocol_class, type) and issubclass(ws_protocol_class, WSProtocol):
            # sailfish's own: it takes the parsed request, no byte is parsed twice.
            transport = conn.transport
            protocol = ws_protocol_class(
                config=conn.config_source,
                server_state=conn.server_state,
                app_state=conn.app_state,
                _loop=conn.loop,
            )
            leftover = conn.hand_over()
            protocol.take_over(transport, conn)
            protocol.start(request, leftover)
            return
        # Another WebSocket protocol parses the request again: it gets the head rebuilt from the
        # scope (names lower-cased), then every byte received after it.
        scope = request.scope
        target = scope["raw_path"]
        prefix = conn.root_path.encode()
        if prefix and target.startswith(prefix):
            target = target[len(prefix) :]  # the WebSocket protocol adds root_path itself
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        head = [scope["method"].encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in scope["headers"]:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        transport = conn.transport
        data = b"".join(head) + conn.hand_over()
        protocol = ws_protocol_class(
            config=conn.config_source, server_state=conn.server_state, app_state=conn.app_state
        )
        protocol.connection_made(transport)
        if conn.write_paused:
            # The transport resumes writing on its new protocol only: it must know it waits.
            protocol.pause_writing()
        protocol.data_received(data)
        transport.set_protocol(protocol)

    conn.when_idle(hand_over)
    return True


class HTTPProtocol(_HTTPProtocol):
    """sailfish's HTTP/1.1 protocol with uvicorn's protocol contract (uvicorn 0.54).

    Args:
        config: uvicorn's `Config` (loaded here if it is not yet). Read: `loaded_app`,
            `root_path`, `limit_concurrency`, `timeout_keep_alive`,
            `h11_max_incomplete_event_size` (the header-section limit, if set),
            `ws_protocol_class`, `asgi_version`, `reset_contextvars`.
        server_state: uvicorn's `ServerState` (connections, tasks, total_requests,
            default_headers).
        app_state: the lifespan state; each request gets a shallow copy as `scope["state"]`.
        _loop: the loop that runs the request tasks and the deadlines.

    Attributes:
        ws_protocol_class: The protocol WebSocket upgrades are handed to (None: served as
            plain HTTP with a warning), from `config.ws_protocol_class`.
        scope: The latest request's scope (uvicorn's tests read it).
        timeout_keep_alive_task: The keep-alive timer while one is armed, on a loop that
            runs deadlines as timers (uvicorn's tests read it).
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any] | None = None,
        _loop: Any = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config_source = config
        self.ws_protocol_class = config.ws_protocol_class
        super().__init__(
            settings_from(config),
            server_state,
            app_state,
            _loop,
            quirks=quirks_for(config),
            upgrades={b"*": _websocket_upgrade},
            logger=error_logger,
        )
        if _is_proxy_headers_middleware(self.app):
            # It rewrites nothing for a request without X-Forwarded-* fields, but scans every
            # header of every request in Python to find that out: the core already knows.
            self.direct_app = self.app.app

    @property
    def scope(self) -> dict[str, Any] | None:
        return self.last_scope

    @property
    def timeout_keep_alive_task(self) -> Any:
        deadlines = self.deadlines
        if not isinstance(deadlines, Timers) or self.reading_head or self.lingering:
            return None
        return deadlines.handle


def log_ws_handshake(scope: dict[str, Any], status: int) -> None:
    """uvicorn's WebSocket handshake line on `uvicorn.error`: "[accepted]" or the status."""
    client = scope.get("client")
    path = quote(scope["path"])
    if scope["query_string"]:
        path = f"{path}?{scope['query_string'].decode('latin-1')}"
    error_logger.info(
        '%s - "WebSocket %s" %s',
        f"{client[0]}:{int(client[1])}" if client else "",
        path,
        "[accepted]" if status == 101 else status,
    )


class WSProtocol(WebSocketProtocol):
    """sailfish's WebSocket protocol with uvicorn's WS protocol contract (uvicorn 0.54).

    Args:
        config: uvicorn's `Config` (loaded here if it is not yet). Read: `loaded_app`,
            `root_path`, `asgi_version`, the `ws_*` settings (through `from_uvicorn`).
        server_state: uvicorn's `ServerState` (connections, tasks, default_headers).
        app_state: the lifespan state; the scope gets a shallow copy.
        _loop: the loop that runs the app and the deadlines.

    It reads the upgrade request from `data_received` (what uvicorn's HTTP protocols hand
    over), or takes a parsed one from sailfish's HTTP protocol through `start()`.

    Attributes:
        ping_timer: Not None while keepalive pings run (uvicorn's tests read it).
        close_timer: Not None while our close frame waits for the peer's reply.
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any] | None = None,
        _loop: Any = None,
    ) -> None:
        if not config.loaded:
            config.load()
        loop = _loop if _loop is not None else asyncio.get_running_loop()
        settings = settings_from(config)
        headers = server_state.default_headers
        super().__init__(
            loop,
            server_state.connections,
            server_state.tasks,
            config.loaded_app,
            settings.websocket,
            app_state=app_state,
            writer=ResponseWriter(server_header=None, date_header=False, default_headers=headers),
            headers=list(headers),
            asgi_version=config.asgi_version,
            log_handshake=log_ws_handshake,
            close_frame_on_exit=False,  # uvicorn closes the transport, with no close frame
            raw=True,
            root_path=config.root_path or "",
            logger=error_logger,
        )

    @property
    def ping_timer(self) -> Any:
        return True if self.keepalive_armed() else None

    @property
    def close_timer(self) -> Any:
        return True if self.close_pending() else None

    def shutdown(self, restart: bool = True) -> None:
        """uvicorn's contract: 1012 (Service Restart) at every shutdown, since uvicorn cannot
        tell a restart from a final stop (test_send_close_on_server_shutdown)."""
        WebSocketProtocol.shutdown(self, True)
