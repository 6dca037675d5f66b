"""The supervisor: binds the sockets, forks the workers, and keeps them healthy and current.

Strategy: `run(config)` is what the CLI and `sailfish.run()` call. One process with no
supervision to do runs the `Server` itself; otherwise a `Supervisor` owns the process model:

- Sockets: the supervisor binds every listening socket and keeps it open for its whole life,
  so no worker's exit ever closes one. On Linux with `reuse_port` there is one SO_REUSEPORT
  listener per worker slot (the kernel spreads connections over them); a slot's replacement
  worker inherits the slot's listener, and while old and new both hold it, whatever waits in
  its queue is accepted by one of them, never reset. Otherwise (`--no-reuse-port`, a unix
  socket, `--fd`, systemd's sockets, other systems) every worker shares the sockets and
  balances its accepts through the board (sailfish.worker). docs/workers.md has the why.
- Workers are forked, not spawned: the supervisor is single-threaded and never imports the
  app, so a fork copies nothing that must not be copied, starts in milliseconds, and hands
  the sockets, the board and the status pipe over without passing descriptors. Each worker
  imports the app itself (a reload needs fresh imports; a broken app fails in the worker).
- Health: each worker beats on the board; one that misses `timeout_worker_healthcheck` is
  killed (SIGKILL) and, like one that died, replaced after a back-off that grows with each
  consecutive crash. A worker that fails while starting (exit 2 or 3, an app that cannot be
  imported) stops the whole server with its error, unless it was starting to replace one that
  still serves (SIGHUP, reload, recycling): then the old one keeps serving.
- Replacements (SIGHUP, reload, `--max-requests`, `--max-worker-memory`, `--worker-lifetime`)
  go one at a time: start the new worker, wait until it serves, then retire the old one
  (SIGUSR1: it stops accepting and lets keep-alive connections finish).
- Signals: SIGINT/SIGTERM stop (graceful: SIGTERM to the workers; a second forces them with
  SIGQUIT, a third kills), SIGHUP restarts every worker, SIGTTIN/SIGTTOU add or remove one.

The main loop is plain `selectors` over the status pipes and a signal wake-up fd, with no event
loop and no threads (forking from a running asyncio loop or a threaded process is unsafe).
Library code: errors are raised (a worker's startup error as its ConfigError/StartupError).
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sailfish import metrics, sockets as socks
from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.logging import configure_logging
from sailfish.worker import RETIRING, Board, run_worker

logger = logging.getLogger("sailfish.error")

TICK = 0.05  # seconds between health and recycling checks
BACKOFF_MAX = 10.0  # seconds: the longest wait before restarting a crashed worker
STABLE = 30.0  # a worker serving this long resets its slot's crash count
KILL_MARGIN = 5.0  # seconds past twice the graceful timeout before stragglers are killed
BOOT_HOLD = 10.0  # seconds the first workers up hold back accepts for the others to start
MAX_WORKERS = 1024
RELOAD_EXCLUDES = (".*", "*.py[cod]", "*.sw.*", "~*", "__pycache__")

_WATCH_READY = b"ready"


@dataclass(eq=False)
class Slot:
    """A place for one worker; its listener in reuse-port mode."""

    index: int
    listener: socket.socket | None = None
    worker: Worker | None = None  # the one serving, or starting in its place
    crashes: int = 0
    respawn_at: float | None = None
    removed: bool = False


@dataclass(eq=False)
class Worker:
    """One worker process as the supervisor sees it."""

    pid: int
    slot: Slot
    row: int
    status_fd: int
    born: float
    request_limit: int | None
    successor_of: Worker | None = None
    cause: str = ""
    ready: bool = False
    ready_at: float = 0.0
    retiring: bool = False
    killed: str | None = None
    recycle_after: float = 0.0
    error: dict[str, Any] | None = None
    buffer: bytes = b""


@dataclass
class _Pending:
    """Replacements waiting to run, one at a time."""

    queue: list[tuple[Worker, str]] = field(default_factory=list)
    active: Worker | None = None  # the new worker now starting


def reload_filter(
    includes: list[str], excludes: list[str]
) -> Any:  # a watchfiles filter callable: (change, path) -> bool
    """Which changed paths trigger a reload: a file name matching an include, and no part of
    the path matching an exclude (dotfiles, bytecode, editor swap files always)."""
    include = includes or ["*.py"]
    exclude = [*RELOAD_EXCLUDES, *excludes]

    def accept(_change: Any, path: str) -> bool:
        parts = Path(path).parts
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in exclude):
            return False
        return any(fnmatch.fnmatch(parts[-1], pattern) for pattern in include)

    return accept


class Supervisor:
    """Runs the server in worker processes (see the module docstring).

    Args:
        config: A validated configuration.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = config.process
        self.pid = os.getpid()
        self.listeners = socks.Listeners()
        self.reuse_port = False
        self.slots: list[Slot] = []
        self.workers: dict[int, Worker] = {}  # by pid
        self.board = Board(2 * MAX_WORKERS + 8)
        self.selector = selectors.DefaultSelector()
        self.pending = _Pending()
        self.signals: list[int] = []
        self.stopping = 0  # stop requests so far
        self.kill_at: float | None = None
        self.fatal: SailfishFailure | None = None
        self.booted = False
        self.boot_deadline = 0.0
        self.watcher: int | None = None
        self.watcher_fd: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._previous: dict[int, Any] = {}
        self.scrapes: metrics.ScrapeServer | None = None  # --metrics-bind
        self.retired = metrics.Sample()  # counters of the workers that exited
        self.counters = metrics.WorkerCounters()

    # -- the whole life -------------------------------------------------------------------

    def run(self) -> None:
        """Bind, start the workers, supervise until stopped; then close the sockets.

        Raises:
            ConfigError: a worker's config error at startup.
            StartupError: a bind failure, or a worker's startup failure.
        """
        config = self.config
        configure_logging(config.log_config, config.log_level, config.access_log)
        logger.info("Started supervisor process [%d]", self.pid)
        want_reuse = reuse_port_wanted(self.settings.reuse_port)
        self.listeners = socks.bind(config, reuse_port=want_reuse)
        try:
            self.reuse_port = (
                want_reuse
                and self.listeners.inherited is None
                and socks.reuse_port_available(self.listeners.sockets)
            )
            for sock in self.listeners.sockets:
                sock.listen(config.limits.backlog)
            self._start_metrics()
            self._install_signals()
            try:
                if self.settings.reload:
                    self._start_watcher()
                for _ in range(self.settings.workers or 1):
                    self._add_slot()
                self.board.expected = len(self.slots)
                self.boot_deadline = time.monotonic() + BOOT_HOLD
                self._loop()
            finally:
                self._restore_signals()
        finally:
            if self.workers:  # an error of ours ended the loop: don't leave workers behind
                self._signal_all(signal.SIGTERM)
            self._stop_watcher()
            self._close_listeners()
            if self.scrapes is not None:
                self.scrapes.close()
            self.selector.close()
            self._wake_r.close()
            self._wake_w.close()
        if self.fatal is not None:
            raise self.fatal.exception()
        logger.info("Finished supervisor process [%d]", self.pid)

    def _loop(self) -> None:
        while True:
            for key, _events in self.selector.select(self._timeout()):
                key.data()
            self._handle_signals()
            self._reap()
            now = time.monotonic()
            if self.scrapes is not None:
                self.scrapes.expire(now)
            if self.stopping:
                if not self.workers:
                    return
                if self.kill_at is not None and now >= self.kill_at:
                    self._signal_all(signal.SIGKILL)
                    self.kill_at = None
                continue
            if self.board.expected and (self.booted or now >= self.boot_deadline):
                self.board.expected = 0  # every worker serves, or we waited long enough
            self._check_health(now)
            self._check_recycling(now)
            self._respawn(now)
            self._advance()

    def _timeout(self) -> float:
        return 0.0 if self.signals else TICK

    # -- metrics and readiness -------------------------------------------------------------

    def _start_metrics(self) -> None:
        bind = self.settings.metrics_bind
        if bind is None:
            return
        try:
            sock = metrics.bind(bind)
        except OSError as exc:
            reason = socks.reason(exc)
            raise StartupError(f"could not bind --metrics-bind {bind}: {reason}") from exc
        self.scrapes = metrics.ScrapeServer(sock, self.selector, self._scrape)
        logger.info("Metrics on %s", metrics.describe(sock))

    def ready(self) -> bool:
        """Readiness: booted, not stopping, and some worker serving and not retiring."""
        return (
            self.booted
            and not self.stopping
            and any(w.ready and not w.retiring for w in self.workers.values())
        )

    def sample(self) -> metrics.Sample:
        """The metrics of all workers: the live ones' rows plus those that exited."""
        total = metrics.Sample()
        total.add(self.retired)
        for worker in self.workers.values():
            total.add(self.board.read_metrics(worker.row))
        return total

    def _scrape(self, head: bytes) -> bytes:
        self.counters.serving = sum(1 for w in self.workers.values() if w.ready and not w.retiring)
        return metrics.respond(
            head,
            self.settings.readiness_path,
            self.ready,
            lambda: metrics.render(self.sample(), self.counters),
        )

    # -- signals --------------------------------------------------------------------------

    def _install_signals(self) -> None:
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wakeup)
        self._previous[-1] = signal.set_wakeup_fd(self._wake_w.fileno())
        for sig in (
            signal.SIGINT,
            signal.SIGTERM,
            signal.SIGHUP,
            signal.SIGTTIN,
            signal.SIGTTOU,
            signal.SIGCHLD,
            signal.SIGUSR1,  # a worker's "retire"; ignored here rather than fatal
        ):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _restore_signals(self) -> None:
        wakeup = self._previous.pop(-1, -1)
        signal.set_wakeup_fd(wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signals.append(sig)

    def _drain_wakeup(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGINT, signal.SIGTERM):
                self.stop(signal.Signals(sig).name)
            elif self.stopping or sig == signal.SIGCHLD:
                continue
            elif sig == signal.SIGHUP:
                logger.info("Received SIGHUP: restarting the workers one by one")
                self._replace_all("SIGHUP")
            elif sig == signal.SIGTTIN:
                if len(self._live_slots()) >= MAX_WORKERS:
                    logger.warning("SIGTTIN: already at %d workers", MAX_WORKERS)
                else:
                    logger.info("Received SIGTTIN: adding a worker")
                    self._add_slot()
            elif sig == signal.SIGTTOU:
                self._remove_slot()

    def stop(self, why: str) -> None:
        """Stop every worker: gracefully the first time, forced the second, killed the third."""
        self.stopping += 1
        if self.stopping == 1:
            logger.info("Stopping the workers (%s)", why)
            self._stop_watcher()
            self.pending = _Pending()
            timeout = self.config.timeouts.graceful_shutdown
            if timeout is not None:
                self.kill_at = time.monotonic() + 2 * timeout + KILL_MARGIN
            self._signal_all(signal.SIGTERM)
            # The workers stop accepting now; once our descriptors are closed too, a new
            # connection is refused at once (a balancer moves on) instead of waiting in a
            # queue nobody serves until the drain ends.
            self._close_listeners()
        elif self.stopping == 2:
            logger.info("Forcing the workers to stop")
            self._signal_all(signal.SIGQUIT)  # a worker's forced shutdown
        else:
            self._signal_all(signal.SIGKILL)

    def _close_listeners(self) -> None:
        for slot in self.slots:
            if slot.listener is not None and slot.listener not in self.listeners.sockets:
                slot.listener.close()
        self.listeners.close()  # and remove the unix socket file

    def _signal_all(self, sig: int) -> None:
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # -- slots and workers ----------------------------------------------------------------

    def _live_slots(self) -> list[Slot]:
        return [slot for slot in self.slots if not slot.removed]

    def _add_slot(self) -> None:
        slot = Slot(index=len(self.slots))
        if self.reuse_port:
            first = self.listeners.sockets[0]
            if not self.slots:
                slot.listener = first
            else:
                slot.listener = socks.bind_reuse_port(first)
                slot.listener.listen(self.config.limits.backlog)
        self.slots.append(slot)
        slot.worker = self._spawn(slot)

    def _remove_slot(self) -> None:
        live = self._live_slots()
        if len(live) <= 1:
            logger.warning("SIGTTOU: not removing the last worker")
            return
        slot = live[-1]
        slot.removed = True
        logger.info("Received SIGTTOU: removing a worker")
        self.pending.queue = [job for job in self.pending.queue if job[0].slot is not slot]
        if slot.worker is not None:
            self._retire(slot.worker)
        if slot.listener is not None and slot.listener not in self.listeners.sockets:
            # The worker stops accepting now. Without net.ipv4.tcp_migrate_req a connection
            # the kernel queued here in the meantime is reset when the listener closes.
            if not socks.migrate_req_enabled():
                logger.info(
                    "Closing the worker's SO_REUSEPORT listener: connections queued on it are "
                    "reset (net.ipv4.tcp_migrate_req=1 would hand them to the others)"
                )
            slot.listener.close()

    def _sockets_for(self, slot: Slot) -> list[socket.socket]:
        return [slot.listener] if slot.listener is not None else list(self.listeners.sockets)

    def _spawn(self, slot: Slot, successor_of: Worker | None = None, cause: str = "") -> Worker:
        settings = self.settings
        limit = None
        if settings.max_requests is not None:
            limit = settings.max_requests + random.randint(0, settings.max_requests_jitter)
        read_fd, write_fd = os.pipe()
        row = self.board.claim(0)
        self.counters.starts += 1
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; covered by the worker tests
            code = 1
            try:
                os.close(read_fd)
                self._become_worker(slot)
                code = run_worker(
                    self.config,
                    self._sockets_for(slot),
                    board=self.board,
                    row=row,
                    status_fd=write_fd,
                    gated=not self.reuse_port,
                    parent=self.pid,
                )
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the server is done: just exit
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.board.set_pid(row, pid)
        worker = Worker(
            pid=pid,
            slot=slot,
            row=row,
            status_fd=read_fd,
            born=time.monotonic(),
            request_limit=limit,
            successor_of=successor_of,
            cause=cause,
        )
        self.workers[pid] = worker
        self.selector.register(read_fd, selectors.EVENT_READ, lambda: self._read_status(worker))
        return worker

    def _become_worker(self, slot: Slot) -> None:  # pragma: no cover - runs in the child
        """In the forked child: drop what belongs to the supervisor."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)  # SIGUSR1 until the worker's server handles it
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        self.selector.close()  # closes our copy of the epoll descriptor only
        self._wake_r.close()
        self._wake_w.close()
        for worker in self.workers.values():
            with contextlib.suppress(OSError):
                os.close(worker.status_fd)
        if self.watcher_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.watcher_fd)
        mine = self._sockets_for(slot)
        for other in self.slots:
            if other.listener is not None and other.listener not in mine:
                other.listener.close()

    def _read_status(self, worker: Worker) -> None:
        try:
            data = os.read(worker.status_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_status(worker)
            return
        worker.buffer += data
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("event") == "ready":
                self._on_ready(worker)
            elif message.get("event") == "error":
                worker.error = message

    def _close_status(self, worker: Worker) -> None:
        if worker.status_fd < 0:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.status_fd)
        os.close(worker.status_fd)
        worker.status_fd = -1

    def _on_ready(self, worker: Worker) -> None:
        worker.ready = True
        worker.ready_at = time.monotonic()
        slot = worker.slot
        old = worker.successor_of
        if self.pending.active is worker:
            self.pending.active = None
        if slot.removed or self.stopping:
            self._retire(worker)
            return
        slot.worker = worker
        if old is not None:
            logger.info(
                "Worker [%d] serves in place of [%d] (%s)", worker.pid, old.pid, worker.cause
            )
            self._retire(old)
        if not self.booted and all(
            s.worker is not None and s.worker.ready for s in self._live_slots()
        ):
            self.booted = True
            mode = "one SO_REUSEPORT listener each" if self.reuse_port else "shared sockets"
            logger.info("%d worker(s) serving (%s)", len(self._live_slots()), mode)
            for sock in self.listeners.sockets:
                logger.info(
                    "Listening on %s (Press CTRL+C to quit)",
                    socks.describe(
                        sock,
                        self.listeners.inherited,
                        secure=self.config.ssl is not None or self.config.tls.enabled,
                    ),
                )

    def _retire(self, worker: Worker) -> None:
        if worker.retiring:
            return
        worker.retiring = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGUSR1)

    # -- exits ----------------------------------------------------------------------------

    def _reap(self) -> None:
        # Our children only, by pid: an embedding process may have children of its own.
        children = [*self.workers, *([self.watcher] if self.watcher is not None else [])]
        for child in children:
            try:
                pid, status = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: gone, status unknown
                pid, status = child, 1 << 8
            if pid == 0:
                continue
            code = os.waitstatus_to_exitcode(status)
            if pid == self.watcher:
                self.watcher = None
                if not self.stopping:
                    logger.error("The file watcher exited (%s): no more reloads", _exit_text(code))
                continue
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            if worker.status_fd >= 0:
                self._read_status(worker)  # a last "error" line may still be in the pipe
                self._close_status(worker)
            if self.scrapes is not None:
                self.retired.add(self.board.read_metrics(worker.row), gauges=False)
            self.board.release(worker.row)
            self._exited(worker, code)

    def _exited(self, worker: Worker, code: int) -> None:
        slot = worker.slot
        if self.pending.active is worker:
            self.pending.active = None
        if worker.retiring or self.stopping:
            log = logger.info if code == 0 else logger.warning
            log("Worker [%d] stopped (%s)", worker.pid, _exit_text(code))
            return
        if not worker.ready:
            self._failed_start(worker, code)
            return
        if slot.worker is worker:
            slot.worker = None
        self.pending.queue = [job for job in self.pending.queue if job[0] is not worker]
        why = worker.killed or _exit_text(code)
        if any(w.successor_of is worker for w in self.workers.values()):
            logger.warning("Worker [%d] died (%s); its successor is starting", worker.pid, why)
            return
        self.counters.restarts["hung" if worker.killed else "crash"] += 1
        lived = time.monotonic() - worker.ready_at
        slot.crashes = 1 if lived >= STABLE else slot.crashes + 1
        delay = 0.0 if slot.crashes == 1 else min(0.5 * 2 ** (slot.crashes - 2), BACKOFF_MAX)
        logger.warning("Worker [%d] died (%s): restarting it in %.1fs", worker.pid, why, delay)
        slot.respawn_at = time.monotonic() + delay

    def _failed_start(self, worker: Worker, code: int) -> None:
        error = worker.error or {}
        message = str(error.get("message") or f"worker exited ({_exit_text(code)}) while starting")
        old = worker.successor_of
        if old is not None and old.pid in self.workers and not old.retiring:
            logger.error(
                "Worker [%d] failed to start (%s): worker [%d] keeps serving",
                worker.pid,
                message,
                old.pid,
            )
            old.recycle_after = time.monotonic() + BACKOFF_MAX
            self.pending.queue = [job for job in self.pending.queue if job[1] != worker.cause]
            return
        if worker.slot.worker is worker:
            worker.slot.worker = None
        logger.error("Worker [%d] failed to start: stopping", worker.pid)
        if self.fatal is None:
            self.fatal = SailfishFailure(int(error.get("code") or 3), message)
        self.stop("a worker failed to start")

    def _respawn(self, now: float) -> None:
        for slot in self._live_slots():
            if slot.worker is None and slot.respawn_at is not None and now >= slot.respawn_at:
                slot.respawn_at = None
                slot.worker = self._spawn(slot)

    # -- health and recycling -------------------------------------------------------------

    def _check_health(self, now: float) -> None:
        timeout = self.settings.healthcheck_timeout
        for worker in list(self.workers.values()):
            if not worker.ready or worker.killed:
                continue
            beat = self.board.read(worker.row)[2]
            if now - beat > timeout:
                worker.killed = f"no heartbeat for {now - beat:.1f}s: killed"
                logger.error("Worker [%d] is not responding: killing it", worker.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)

    def _check_recycling(self, now: float) -> None:
        settings = self.settings
        queued = {job[0] for job in self.pending.queue}
        for slot in self._live_slots():
            worker = slot.worker
            if (
                worker is None
                or not worker.ready
                or worker.retiring
                or worker in queued
                or now < worker.recycle_after
                or any(w.successor_of is worker for w in self.workers.values())
            ):
                continue
            _pid, state, _beat, _conns, requests, rss, _acc = self.board.read(worker.row)
            if state == RETIRING:
                continue
            cause = None
            if worker.request_limit is not None and requests >= worker.request_limit:
                cause = f"--max-requests {worker.request_limit}"
            elif settings.max_worker_memory is not None and rss > settings.max_worker_memory << 20:
                cause = f"--max-worker-memory {settings.max_worker_memory} MiB"
            elif (
                settings.worker_lifetime is not None
                and now - worker.born >= settings.worker_lifetime
            ):
                cause = f"--worker-lifetime {settings.worker_lifetime:g}s"
            if cause is not None:
                self.pending.queue.append((worker, cause))

    def _replace_all(self, cause: str) -> None:
        queued = {job[0] for job in self.pending.queue}
        for slot in self._live_slots():
            worker = slot.worker
            if worker is not None and worker.ready and not worker.retiring and worker not in queued:
                self.pending.queue.append((worker, cause))

    def _advance(self) -> None:
        pending = self.pending
        while pending.active is None and pending.queue:
            old, cause = pending.queue.pop(0)
            if old.pid not in self.workers or old.retiring or old.slot.removed:
                continue
            logger.info("Replacing worker [%d] (%s)", old.pid, cause)
            kind = cause.lower() if cause in ("SIGHUP", "reload") else "recycle"
            self.counters.restarts[kind] += 1
            pending.active = self._spawn(old.slot, successor_of=old, cause=cause)

    # -- reload ---------------------------------------------------------------------------

    def _start_watcher(self) -> None:
        settings = self.settings
        dirs = [os.path.abspath(d) for d in settings.reload_dirs] or [os.getcwd()]
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; covered by the reload test
            code = 1
            try:
                os.close(read_fd)
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
                    signal.signal(sig, signal.SIG_IGN)
                for sig in (signal.SIGTERM, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                self.selector.close()
                self._wake_r.close()
                self._wake_w.close()
                for sock in self.listeners.sockets:
                    sock.close()
                code = _watch(dirs, settings.reload_includes, settings.reload_excludes, write_fd)
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.watcher, self.watcher_fd = pid, read_fd
        self.selector.register(read_fd, selectors.EVENT_READ, self._read_watcher)
        self._watch_buffer = b""
        self._watch_dirs = dirs

    def _read_watcher(self) -> None:
        assert self.watcher_fd is not None
        try:
            data = os.read(self.watcher_fd, 65536)
        except BlockingIOError:
            return
        if not data:
            self.selector.unregister(self.watcher_fd)
            os.close(self.watcher_fd)
            self.watcher_fd = None
            return
        self._watch_buffer += data
        *lines, self._watch_buffer = self._watch_buffer.split(b"\n")
        for line in lines:
            if line == _WATCH_READY:
                logger.info("Will watch for changes in: %s", ", ".join(self._watch_dirs))
            elif line and not self.stopping:
                logger.info("Detected changes in %s: reloading", line.decode("utf-8", "replace"))
                self._replace_all("reload")

    def _stop_watcher(self) -> None:
        if self.watcher is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.watcher, signal.SIGTERM)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.watcher, 0)
            self.watcher = None
        if self.watcher_fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.watcher_fd)
            os.close(self.watcher_fd)
            self.watcher_fd = None


def _watch(dirs: list[str], includes: list[str], excludes: list[str], fd: int) -> int:
    """The watcher process: report batches of changed files, one line each, until killed."""
    import watchfiles

    accept = reload_filter(includes, excludes)
    parent = os.getppid()
    announced = False
    for changes in watchfiles.watch(
        *dirs, watch_filter=accept, yield_on_timeout=True, rust_timeout=200, raise_interrupt=False
    ):
        if os.getppid() != parent:
            return 0
        if not announced:
            os.write(fd, _WATCH_READY + b"\n")
            announced = True
        if changes:
            names = sorted({os.path.relpath(path) for _change, path in changes})
            os.write(fd, ", ".join(names).encode("utf-8", "replace") + b"\n")
    return 0


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def reuse_port_wanted(requested: bool) -> bool:
    """Whether to give each worker slot its own SO_REUSEPORT listener (`--reuse-port`).

    Only Linux spreads a port's connections over its SO_REUSEPORT listeners; elsewhere (macOS,
    the BSDs) they are not balanced, so the workers share the sockets, and a warning says so.
    """
    if not requested:
        return False
    if sys.platform.startswith("linux"):
        return True
    logger.warning(
        "--reuse-port is Linux-only (on %s SO_REUSEPORT does not balance connections): "
        "the workers share the sockets instead",
        sys.platform,
    )
    return False


@dataclass
class SailfishFailure:
    """A worker's startup error, raised again by the supervisor once everything stopped."""

    code: int
    message: str

    def exception(self) -> Exception:
        if self.code == 2:
            return ConfigError(self.message)
        return StartupError(self.message)


def run(config: Config) -> None:
    """Serve as the config says: in this process, or in workers under a supervisor.

    Writes `--pid-file` first and removes it at exit.

    Raises:
        ConfigError: invalid settings, or an app that cannot be loaded.
        StartupError: a socket cannot be bound or the app's startup failed.
    """
    config.validate()
    settings = config.process
    if settings.supervised and not hasattr(os, "fork"):  # Windows
        raise ConfigError(
            "--workers, --reload and worker recycling need os.fork(), which this platform lacks"
        )
    if settings.reload:
        if not isinstance(config.app, str):
            raise ConfigError("--reload needs the app as an import string, for example main:app")
        if importlib.util.find_spec("watchfiles") is None:
            raise ConfigError("--reload needs watchfiles: pip install 'sailfish[standard]'")
        for directory in settings.reload_dirs:
            if not os.path.isdir(directory):
                raise ConfigError(f"--reload-dir {directory} is not a directory")
    pid_file = settings.pid_file
    if pid_file is not None:
        try:
            Path(pid_file).write_text(f"{os.getpid()}\n", encoding="ascii")
        except OSError as exc:
            raise StartupError(
                f"could not write --pid-file {pid_file}: {socks.reason(exc)}"
            ) from exc
    try:
        if settings.supervised:
            Supervisor(config).run()
        else:
            from sailfish.server import Server

            Server(config).run()
    finally:
        if pid_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(pid_file)


__all__ = ["Supervisor", "reload_filter", "reuse_port_wanted", "run"]
