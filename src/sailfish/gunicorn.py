"""A gunicorn worker that runs sailfish's server: `gunicorn -k sailfish.gunicorn.Worker main:app`.

Strategy: gunicorn keeps its process model (the arbiter forks, binds, restarts and times out
workers); each worker process runs one `sailfish.server.Server` on the sockets gunicorn bound,
configured from gunicorn's settings through the options table's gunicorn mapping
(`options.from_gunicorn`: keep-alive, graceful timeout, backlog, forwarded IPs, request-line and
field-count limits, and TLS: --certfile, --keyfile, --ca-certs, --cert-reqs, --ciphers), as
uvicorn's `UvicornWorker` does for uvicorn; the worker does the TLS handshakes itself. The
server's `on_tick` hook is the gunicorn heartbeat (`notify()`, at most once a second) and
enforces `--max-requests` (gunicorn's jitter included) and a dead parent; signals are the
server's (SIGTERM/SIGINT graceful, a second one forces) plus SIGQUIT (gunicorn's quick
shutdown) and SIGUSR1 (gunicorn reopens its log files). sailfish's loggers write to gunicorn's
error and access log handlers; the access line is emitted only if gunicorn has an access log.
This module imports gunicorn, which is not a dependency of sailfish: only gunicorn imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]
from gunicorn.workers.base import Worker as BaseWorker  # type: ignore[import-untyped]

from sailfish.config import Config
from sailfish.errors import SailfishError
from sailfish.options import GUNICORN_GRACE_MARGIN, from_gunicorn
from sailfish.server import Server

__all__ = ["Worker"]

NOTIFY_INTERVAL = 1.0  # seconds between heartbeats; gunicorn's --timeout is 30 s by default
GRACE_MARGIN = GUNICORN_GRACE_MARGIN  # finish before the arbiter's SIGKILL at --graceful-timeout


class _WorkerServer(Server):
    """The sailfish server inside one gunicorn worker process."""

    def __init__(self, config: Config, worker: Worker) -> None:
        super().__init__(config)
        self.worker = worker
        self._last_notify = 0.0

    def setup_logging(self) -> None:
        pass  # Worker.__init__ wired sailfish's loggers to gunicorn's handlers

    def on_tick(self) -> None:
        worker = self.worker
        now = time.monotonic()
        if now - self._last_notify >= NOTIFY_INTERVAL:
            self._last_notify = now
            worker.notify()
        if self.should_exit:
            return
        if self.server_state.total_requests >= worker.max_requests:
            logging.getLogger("sailfish.error").info(
                "Maximum request limit of %d exceeded. Terminating process.", worker.max_requests
            )
            self.should_exit = True
        elif not worker.alive or worker.ppid != os.getppid():
            logging.getLogger("sailfish.error").info("Parent changed or reload: shutting down")
            self.should_exit = True

    def _quick_exit(self) -> None:
        # gunicorn's SIGQUIT: "quick shutdown", no graceful drain.
        self.force_exit = True
        self.should_exit = True

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        installed = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGQUIT, self._quick_exit)
            installed = True
        try:
            await super().serve(sockets)
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGQUIT)


class Worker(BaseWorker):  # type: ignore[misc]
    """gunicorn worker class running the sailfish server (`-k sailfish.gunicorn.Worker`).

    Settings taken from gunicorn: `--keep-alive`, `--graceful-timeout` (less one second, so
    the drain ends before the arbiter kills), `--backlog`, `--forwarded-allow-ips`,
    `--limit-request-line` (0: sailfish's default), `--limit-request-fields`, `--max-requests`
    (+ jitter), `--timeout` (heartbeat), `--access-logformat` (its default included; a
    `{name}o` atom is refused at boot), and TLS: `--certfile`, `--keyfile`, `--ca-certs`,
    `--cert-reqs`, `--ciphers` (gunicorn's `--ssl-version` and `ssl_context` hook are not read:
    the lowest version is sailfish's `TLSv1.2`).
    """

    CONFIG_KWARGS: dict[str, Any] = {}  # subclasses may set e.g. {"loop": "asyncio"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, source in (
            ("sailfish.error", self.log.error_log),
            ("sailfish.access", self.log.access_log),
        ):
            logger = logging.getLogger(name)
            logger.handlers = list(source.handlers)
            logger.setLevel(source.level)
            logger.propagate = False

        self.config = Config.from_options(
            None,  # gunicorn loads the app in the worker process; see run()
            app_dir=None,
            log_config=None,
            log_level=None,
            access_log=bool(self.log.access_log.handlers),
            **{**from_gunicorn(self.cfg), **self.CONFIG_KWARGS},
        )

    def init_signals(self) -> None:
        # The server installs its own SIGINT/SIGTERM (and SIGQUIT) handlers on the loop;
        # gunicorn's would only set `alive` (uvicorn's worker does the same, uvicorn #894).
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        # Don't let SIGUSR1 (reopen logs) interrupt system calls of active requests.
        signal.siginterrupt(signal.SIGUSR1, False)

    def run(self) -> None:
        """Serve until a signal, --max-requests or a dead parent; exit 3 if boot fails."""
        self.config.app = self.wsgi
        server = _WorkerServer(self.config, self)
        sockets = [getattr(listener, "sock", listener) for listener in self.sockets]
        try:
            server.run(sockets=sockets)
        except SailfishError as exc:
            self.log.error("%s", exc)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
