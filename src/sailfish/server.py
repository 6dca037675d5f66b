"""Server: bind the sockets, run the app's lifespan, serve, and shut down gracefully.

Strategy: `Server.serve()` is the whole life of one server, in this order: configure logging,
validate the config, load the app (config errors surface before any socket exists), bind (a
bind failure is a `StartupError`, raised before the app starts), lifespan startup, listen and
serve until a signal, then shut down: stop accepting, ask every connection to `shutdown()`,
wait for connections and request tasks to drain (bounded by timeouts.graceful_shutdown; a
second signal forces it), cancel what is left with `SHUTDOWN_CANCEL` (one log line for them
all), lifespan shutdown (after a forced shutdown too, then bounded by the same timeout; a
further signal cancels it). Protocols are created by
`HTTPProtocol(config=..., server_state=..., app_state=..., _loop=...)`, imported lazily, with
the WebSocket upgrade handler unless `--ws none`. With `--metrics-bind` (and no supervisor)
the server also serves sailfish.metrics' listener on its loop, answering readiness with 503
from the first signal until the drain has ended.
Nothing here exits the process: errors are raised for the CLI to report.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import os
import signal
import socket
import sys
import threading
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, ClassVar

from sailfish import metrics, sockets
from sailfish._compat import pure_core_warning
from sailfish.acceptor import Acceptor, can_watch, proxy_prelude
from sailfish.config import Config
from sailfish.errors import StartupError
from sailfish.lifespan import LifespanOff, LifespanOn
from sailfish.logging import configure_logging
from sailfish.loops import loop_factory
from sailfish.state import SHUTDOWN_CANCEL, ServerState

logger = logging.getLogger("sailfish.error")

HANDLED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
if sys.platform == "win32":  # pragma: no cover
    HANDLED_SIGNALS += (signal.SIGBREAK,)
# A hang-up (a closed terminal, or `kill -HUP` meant as "reload") stops one process gracefully
# rather than by the default action, which kills it with every request in flight.
_SIGHUP: int | None = getattr(signal, "SIGHUP", None)

_AF_UNIX: int | None = getattr(socket, "AF_UNIX", None)
_TICK = 0.1  # seconds between checks while draining and while serving

ProtocolFactory = Callable[..., asyncio.BaseProtocol]


class Server:
    """One listening server running one application.

    Args:
        config: The configuration; validated and loaded by `serve()`.
        protocol_factory: The protocol class (or factory) to build per connection, called
            with `config=`, `server_state=`, `app_state=` and `_loop=` keywords. Default:
            `sailfish.protocols.HTTPProtocol`.

    Attributes:
        server_state: Shared with every protocol (connections, tasks, request count).
        lifespan_state: The lifespan "state" dict; each request gets a shallow copy.
        started: True once the sockets listen.
        force_exit: Set by a second signal: stop waiting, cancel everything.
        restarting: Set by a host whose successor takes over (a worker being replaced):
            connections are told the service restarts (WebSocket 1012) rather than that it
            goes away for good (1001).
        servers: The asyncio servers, one per listening socket.
        sockets: The listening sockets (read `getsockname()` for the port chosen for 0).
        hangup_stops: Whether SIGHUP is a graceful stop, as SIGTERM is (a process whose
            supervisor owns SIGHUP sets it False).
    """

    hangup_stops: ClassVar[bool] = True

    def __init__(self, config: Config, *, protocol_factory: ProtocolFactory | None = None) -> None:
        self.config = config
        self.server_state = ServerState()
        self.lifespan_state: dict[str, Any] = {}
        self.lifespan: LifespanOn | LifespanOff = LifespanOff(config, self.lifespan_state)
        self.started = False
        self.force_exit = False
        self.restarting = False
        self.servers: list[asyncio.AbstractServer] = []
        self.sockets: list[socket.socket] = []
        self._protocol_factory = protocol_factory
        self._should_exit = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._uds_path: str | None = None
        self._signals = 0  # handle_exit calls so far
        self._metrics_sock: socket.socket | None = None  # --metrics-bind, in one process
        self._metrics_server: asyncio.Server | None = None
        if config.process.metrics_bind is not None:
            self.server_state.metrics = metrics.Metrics()

    # -- control --------------------------------------------------------------------------

    @property
    def should_exit(self) -> bool:
        """Whether a graceful shutdown was requested; set it (from any thread) to stop."""
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value:
            self._wake()

    def handle_exit(self, sig: int, frame: FrameType | None = None) -> None:
        """Signal handler: the first signal shuts down gracefully, the second forces it.

        A signal that arrives during the app's lifespan shutdown cancels that too.
        """
        self._signals += 1
        if sig == _SIGHUP and not self._should_exit:
            logger.info(
                "Received SIGHUP: one process cannot restart itself, so it stops gracefully "
                "(with --workers, a supervisor restarts the workers on SIGHUP instead)"
            )
        if self._should_exit:
            self.force_exit = True
            logger.info("Forcing shutdown")
        self.should_exit = True

    def _wake(self) -> None:
        loop, event = self._loop, self._wakeup
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    # -- entry points ---------------------------------------------------------------------

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Create the event loop named by `config.loop` and serve until shut down.

        Args:
            sockets: Already bound sockets to serve on instead of binding from the config.

        Raises:
            ConfigError: invalid settings, or an app that cannot be loaded.
            StartupError: a socket cannot be bound or the app's lifespan startup failed.
        """
        self.config.validate()
        loop = loop_factory(self.config.loop)()
        try:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.serve(sockets))
        finally:
            try:
                _cancel_all_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve on the running loop until shut down (see the module docstring for the order).

        Args:
            sockets: Already bound sockets to serve on instead of binding from the config.

        Raises:
            ConfigError: invalid settings, or an app that cannot be loaded.
            StartupError: a socket cannot be bound or the app's lifespan startup failed.
        """
        self.config.validate()
        self.setup_logging()
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        with self._capture_signals():
            await self._serve(sockets)

    async def _serve(self, sockets: list[socket.socket] | None) -> None:
        config = self.config
        pid = os.getpid()
        logger.info("Started server process [%d]", pid)
        warning = pure_core_warning()
        if warning is not None:
            logger.warning(warning)
        config.load()
        self.sockets = list(sockets) if sockets is not None else self._bind()
        try:
            self._check_loop()
            self.lifespan = (
                LifespanOff(config, self.lifespan_state)
                if config.lifespan == "off"
                else LifespanOn(config, self.lifespan_state)
            )
            if not await self._startup_lifespan():
                return  # forced out during startup
            if not self._should_exit:
                await self._listen()
                await self._main_loop()
        except BaseException:
            self._close_sockets()
            raise
        await self._shutdown()
        logger.info("Finished server process [%d]", pid)

    # -- hooks for hosts that embed the server (sailfish.gunicorn) -------------------------

    def setup_logging(self) -> None:
        """Configure the sailfish loggers from the config; first thing `serve()` does.

        A host that wires the loggers itself (gunicorn's worker) overrides this to do nothing.
        """
        config = self.config
        configure_logging(config.log_config, config.log_level, config.access_log)

    def on_tick(self) -> None:
        """Called while serving, at least every 0.5 s (a host's heartbeat, e.g. gunicorn's)."""

    # -- startup --------------------------------------------------------------------------

    def _bind(self) -> list[socket.socket]:
        listeners = sockets.bind(self.config)  # --fd, systemd's LISTEN_FDS, --uds, host:port
        self._uds_path = listeners.uds_path
        bind = self.config.process.metrics_bind
        if bind is not None:
            try:
                self._metrics_sock = metrics.bind(bind)
            except OSError as exc:
                for sock in listeners.sockets:
                    sock.close()
                raise StartupError(
                    f"could not bind --metrics-bind {bind}: {sockets.reason(exc)}"
                ) from exc
        return listeners.sockets

    def _check_loop(self) -> None:
        """Refuse, before the app starts, what this loop cannot serve.

        The PROXY header in front of TLS is read off the raw socket, which needs a loop that
        watches sockets (`add_reader`); Windows' default proactor loop does not.
        """
        config = self.config
        if config.ssl_context is None or config.proxy_protocol_peers is None or not self.sockets:
            return
        if not can_watch(asyncio.get_running_loop(), self.sockets[0]):
            raise StartupError(
                "--proxy-protocol with TLS needs an event loop that can watch sockets, and this "
                "one cannot (Windows' proactor loop): use --loop asyncio:SelectorEventLoop"
            )

    def ready(self) -> bool:
        """Readiness: serving, and not draining (a load balancer should send requests)."""
        return self.started and not self._should_exit

    def _scrape(self, head: bytes) -> bytes:
        state = self.server_state
        return metrics.respond(
            head,
            self.config.process.readiness_path,
            self.ready,
            lambda: metrics.render(metrics.collect(state, self.config.wsgi)),
        )

    async def _startup_lifespan(self) -> bool:
        """Run lifespan startup; False if a forced exit interrupted it."""
        assert self._wakeup is not None
        startup = asyncio.ensure_future(self.lifespan.startup())
        while not startup.done():
            waiter = asyncio.ensure_future(self._wakeup.wait())
            await asyncio.wait({startup, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            self._wakeup.clear()
            if self.force_exit and not startup.done():
                startup.cancel()
                await asyncio.gather(startup, return_exceptions=True)
                self._close_sockets()
                return False
        startup.result()  # raises StartupError
        return True

    def _protocol_class(self) -> ProtocolFactory:
        if self._protocol_factory is not None:
            return self._protocol_factory
        protocols = importlib.import_module("sailfish.protocols")
        protocol_cls: ProtocolFactory = protocols.HTTPProtocol
        if self.config.websocket.protocol != "none":
            # `Upgrade: websocket` requests are handed to sailfish's WebSocket protocol.
            upgrades = {b"websocket": protocols.websocket_upgrade_handler(self.config)}
            protocol_cls = functools.partial(protocol_cls, upgrades=upgrades)
        return protocol_cls

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        config, state, app_state = self.config, self.server_state, self.lifespan_state
        protocol_cls = self._protocol_class()

        def factory() -> asyncio.BaseProtocol:
            return protocol_cls(config=config, server_state=state, app_state=app_state, _loop=loop)

        backlog = config.limits.backlog
        # TLS: the loop does the handshake (bounded by ssl_handshake_timeout) before a
        # protocol exists, so a stalled handshake never holds a connection slot.
        tls: dict[str, Any] = {}
        if config.ssl_context is not None:
            tls = {
                "ssl": config.ssl_context,
                "ssl_handshake_timeout": config.tls.handshake_timeout,
            }
        if tls and config.proxy_protocol_peers is not None:
            # The PROXY header comes before the ClientHello: read it off the raw socket first.
            prelude = proxy_prelude(config.proxy_protocol_peers, config.tls.handshake_timeout)
            for sock in self.sockets:
                sock.listen(backlog)
                acceptor = Acceptor(sock, factory, lambda: 0, None, tls, prelude)
                acceptor.start()
                self.servers.append(acceptor)
        else:
            for sock in self.sockets:
                if _AF_UNIX is not None and sock.family == _AF_UNIX:
                    server = await loop.create_unix_server(
                        factory, sock=sock, backlog=backlog, **tls
                    )
                else:
                    server = await loop.create_server(factory, sock=sock, backlog=backlog, **tls)
                self.servers.append(server)
        if self._metrics_sock is not None:
            self._metrics_server = await metrics.serve_async(self._metrics_sock, self._scrape)
            logger.info("Metrics on %s", metrics.describe(self._metrics_sock))
        self.started = True
        for sock in self.sockets:
            logger.info("Listening on %s (Press CTRL+C to quit)", self._describe(sock))

    def _describe(self, sock: socket.socket) -> str:
        inherited = "fd" if self.config.fd is not None else None
        return sockets.describe(sock, inherited, secure=self.config.ssl_context is not None)

    async def _main_loop(self) -> None:
        assert self._wakeup is not None
        while not self._should_exit:
            if self.lifespan.should_exit:  # the lifespan app crashed after startup
                self._should_exit = True
                break
            self.on_tick()
            if self._should_exit:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.5)
            self._wakeup.clear()

    # -- shutdown -------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        logger.info("Shutting down")
        assert self._wakeup is not None
        self._wakeup.clear()  # from here on it is set only by a signal or should_exit
        for server in self.servers:
            server.close()
        self._close_sockets()
        state = self.server_state
        restart = self.restarting
        for connection in list(state.connections):
            if restart:
                connection.shutdown(restart=True)
            else:
                connection.shutdown()

        loop = asyncio.get_running_loop()
        timeout = self.config.timeouts.graceful_shutdown
        deadline = None if timeout is None else loop.time() + timeout
        drained = await self._drain(deadline)
        if self._metrics_server is not None:  # answered "draining" until now
            self._metrics_server.close()

        if not drained:
            tasks = list(state.tasks)
            for task in tasks:
                task.cancel(msg=SHUTDOWN_CANCEL)  # protocols log nothing for these
            if tasks:
                logger.warning(
                    "Cancelled %d request(s) still running at shutdown: %s",
                    len(tasks),
                    "forced" if self.force_exit else "timeout graceful shutdown exceeded",
                )
                await asyncio.wait(tasks, timeout=1.0)
            for connection in list(state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
            await asyncio.sleep(0)

        for server in self.servers:
            # Python >= 3.12 waits here for every connection; they are all gone or aborted.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        if self._uds_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._uds_path)
        await self._shutdown_lifespan(forced=not drained)

    async def _drain(self, deadline: float | None) -> bool:
        """Wait for connections, then request tasks, to finish; False on timeout or force.

        Connections that `shutdown()` closed at once (idle ones) are not waited for in the
        log: "Waiting for connections to close" names only those still busy. A request task
        ending or the wakeup event (a signal) ends a wait at once. Nothing announces that a
        connection left, so `connections` is polled: first every loop turn or so, as closed
        transports report connection_lost, backing off to every _TICK.
        """
        state = self.server_state
        for items, what in (
            (state.connections, "connections to close"),
            (state.tasks, "background tasks to complete"),
        ):
            busy = [c for c in items if not _closing(c)] if items is state.connections else items
            if busy and not self.force_exit:
                logger.info("Waiting for %s. (CTRL+C to force quit)", what)
            interval = 0.0
            while items:
                running = len(state.tasks)
                if self.force_exit or not await self._wait(state.tasks, interval, deadline):
                    return False
                # A request that ended is about to close its connection: look again soon.
                interval = 0.0 if len(state.tasks) < running else min(2 * interval or 1e-3, _TICK)
        return True

    async def _wait(
        self, futures: set[asyncio.Task[Any]], interval: float | None, deadline: float | None
    ) -> bool:
        """Wait until one of `futures` ends, a signal or should_exit wakes us, or `interval`.

        Returns:
            False if `deadline` (a `loop.time()`) has passed, else True.
        """
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        if deadline is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            interval = remaining if interval is None else min(interval, remaining)
        waiter = loop.create_task(self._wakeup.wait())
        pending = {future for future in futures if not future.done()}
        try:
            await asyncio.wait({waiter, *pending}, timeout=interval, return_when=FIRST_COMPLETED)
        finally:
            waiter.cancel()
        self._wakeup.clear()
        return deadline is None or loop.time() < deadline

    async def _shutdown_lifespan(self, forced: bool) -> None:
        """Run lifespan shutdown, after a forced shutdown too; a signal meanwhile cancels it.

        After a forced shutdown (a second signal, or the graceful timeout expiring) it is
        bounded by timeouts.graceful_shutdown as well, a window of its own, so a hung
        shutdown handler cannot keep the process alive; after a graceful one, as in uvicorn,
        it has no time bound.
        """
        loop = asyncio.get_running_loop()
        timeout = self.config.timeouts.graceful_shutdown
        deadline = None if timeout is None or not forced else loop.time() + timeout
        signals = self._signals
        shutdown = loop.create_task(self.lifespan.shutdown())
        while not shutdown.done():
            if not await self._wait({shutdown}, None, deadline):
                reason = "timeout graceful shutdown exceeded"
            elif self._signals != signals:
                reason = "forced"
            else:
                continue
            if not shutdown.done():  # it may have ended just now, with the timeout
                shutdown.cancel()
                await asyncio.gather(shutdown, return_exceptions=True)
                logger.warning("Cancelled the application's lifespan shutdown: %s", reason)
                return
        shutdown.result()  # raises StartupError

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()
        if self._metrics_server is None and self._metrics_sock is not None:
            self._metrics_sock.close()

    @contextlib.contextmanager
    def _capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return
        loop = asyncio.get_running_loop()
        added: list[signal.Signals] = []
        previous: dict[signal.Signals, Any] = {}
        handled = list(HANDLED_SIGNALS)
        if self.hangup_stops and _SIGHUP is not None:
            handled.append(signal.Signals(_SIGHUP))
        try:
            for sig in handled:
                try:
                    loop.add_signal_handler(sig, self.handle_exit, sig, None)
                    added.append(sig)
                except NotImplementedError:  # Windows: the proactor loop has none
                    previous[sig] = signal.signal(sig, self.handle_exit)
            yield
        finally:
            for sig in added:
                loop.remove_signal_handler(sig)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _closing(connection: Any) -> bool:
    """Whether a connection's transport is already closing (it leaves on its own)."""
    transport = getattr(connection, "transport", None)
    return transport is not None and bool(transport.is_closing())


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def run(app: Any, **kwargs: Any) -> None:
    """Serve `app` until interrupted: `sailfish.run("main:app", port=8080)`.

    Args:
        app: The ASGI application or its "module:attr" import string.
        **kwargs: `Config` fields and the CLI's option names (`limit_concurrency`,
            `timeout_keep_alive`, `headers=["name:value"]`, ...).

    Raises:
        ConfigError: invalid settings, or an app that cannot be loaded.
        StartupError: a socket cannot be bound or the app's lifespan startup failed.
    """
    from sailfish import supervisor  # workers, reload and --pid-file live there

    supervisor.run(Config.from_options(app, **kwargs))


__all__ = ["HANDLED_SIGNALS", "Server", "run"]
