"""One worker process under the supervisor, and the board both of them read and write.

Strategy: the supervisor (sailfish.supervisor) forks a worker per slot; the worker runs the
ordinary `Server` on listening sockets the supervisor owns, so a worker that exits never closes
a listening socket: its successor, already accepting on the same socket, takes the queue.
`WorkerServer` adds to `Server` only what a process under a supervisor needs:

- the board: one row per worker in memory shared with the supervisor (an anonymous shared
  mmap made before the fork), where the worker writes a heartbeat, its open connections,
  requests served and resident memory every `HEARTBEAT` seconds. The supervisor reads it for
  health and recycling; with `--metrics-bind` a row also carries the worker's metrics
  (sailfish.metrics), summed over rows by the supervisor, and written once more as the
  worker exits so the supervisor's totals of exited workers miss nothing.
- a status pipe: "ready" once it listens, or the error that stopped its startup.
- its own accept loop (`Acceptor`). With a socket shared by all workers it is gated: a worker
  accepts only while its open connections are at most the fewest of any other live worker's
  plus `SLACK`, so the kernel's wake-up order (which favours whichever worker is idle, or
  last in the wait queue) cannot pile connections onto one worker.
- retiring (SIGUSR1): stop accepting, then let each keep-alive connection end after its next
  response (`connection: close`) instead of closing idle ones under a request in flight;
  then the ordinary graceful shutdown, telling WebSocket clients the service restarts (1012)
  rather than goes away (1001). SIGTERM is the ordinary shutdown, and a repeat changes
  nothing (systemd may send it besides the supervisor's relay); SIGQUIT forces it; SIGINT is
  ignored (a Ctrl-C reaches the whole process group; the supervisor relays it once, as SIGTERM).

Nothing here binds, forks or exits; `run_worker()` returns an exit code for the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mmap
import os
import signal
import socket
import struct
import sys
import time
import traceback
from types import FrameType
from typing import Any

from sailfish.acceptor import Acceptor, proxy_prelude
from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.importer import AppImportError
from sailfish.metrics import GAUGES, LATENCY_CELLS, REQUEST_CELLS, Sample, collect
from sailfish.server import Server

logger = logging.getLogger("sailfish.error")

HEARTBEAT = 0.1  # seconds between board updates
STALE = 2.0  # a worker whose row is older than this is not waited for by the accept gate
SLACK = 1  # connections a worker may hold above the least loaded live worker
EXIT_ERROR = 1
MAX_MESSAGE = 2000  # characters of an error sent up the status pipe

# -- the board ---------------------------------------------------------------------------------

FREE, STARTING, SERVING, RETIRING = 0, 1, 2, 3
_ROW = struct.Struct("=qqdqqqq8x")  # pid, state, beat, connections, requests, rss, accepted
# After those 64 bytes, the row's metrics (written only with --metrics-bind): the counters,
# the latency sum and the gauges of a `sailfish.metrics.Sample`.
_COUNTERS = REQUEST_CELLS + LATENCY_CELLS + 2  # + bytes received, sent
_METRICS = struct.Struct(f"={_COUNTERS}qd{GAUGES}q")
ROW_SIZE = -(-(_ROW.size + _METRICS.size) // 64) * 64
_USED = struct.Struct("=q")  # header, offset 0: rows in use (a high-water mark)
_EXPECTED = struct.Struct("=q")  # header, offset 8: workers expected while the server boots
_HEADER_SIZE = 64


class Board:
    """Worker rows in shared memory: written by each worker, read by all and the supervisor.

    Made by the supervisor before it forks, so every worker maps the same pages. One row per
    worker process (a slot's old and new worker have a row each while both run). A row's
    fields are each written by one side: `pid` and `FREE`/`STARTING` by the supervisor, the
    rest by the worker; readers tolerate a row being updated while they read it.

    Args:
        rows: Capacity in rows.
    """

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.memory = mmap.mmap(-1, _HEADER_SIZE + rows * ROW_SIZE)

    def _offset(self, row: int) -> int:
        return _HEADER_SIZE + row * ROW_SIZE

    @property
    def used(self) -> int:
        """Rows that were ever claimed (readers scan only these)."""
        return int(_USED.unpack_from(self.memory, 0)[0])

    @property
    def expected(self) -> int:
        """Supervisor: how many workers the booting server waits for; 0 once it serves."""
        return int(_EXPECTED.unpack_from(self.memory, 8)[0])

    @expected.setter
    def expected(self, count: int) -> None:
        _EXPECTED.pack_into(self.memory, 8, count)

    def claim(self, pid: int) -> int:
        """Supervisor: a free row for a new worker, marked STARTING."""
        used = self.used
        for row in range(self.rows):
            if self.read(row)[1] == FREE:
                self._clear(row)
                _ROW.pack_into(self.memory, self._offset(row), pid, STARTING, 0.0, 0, 0, 0, 0)
                if row >= used:
                    _USED.pack_into(self.memory, 0, row + 1)
                return row
        raise RuntimeError("no free worker row")  # the supervisor caps the worker count

    def set_pid(self, row: int, pid: int) -> None:
        """Supervisor: record the forked worker's pid in its row."""
        struct.pack_into("=q", self.memory, self._offset(row), pid)

    def release(self, row: int) -> None:
        """Supervisor: the row's worker is gone."""
        self._clear(row)

    def _clear(self, row: int) -> None:
        offset = self._offset(row)
        self.memory[offset : offset + ROW_SIZE] = bytes(ROW_SIZE)

    def read(self, row: int) -> tuple[int, int, float, int, int, int, int]:
        """(pid, state, beat, connections, requests, rss, accepted) of a row."""
        values: tuple[int, int, float, int, int, int, int] = _ROW.unpack_from(
            self.memory, self._offset(row)
        )
        return values

    def write(
        self, row: int, state: int, connections: int, requests: int, rss: int, accepted: int
    ) -> None:
        """Worker: publish its state and counters, stamped with the time (the heartbeat)."""
        pid = struct.unpack_from("=q", self.memory, self._offset(row))[0]
        _ROW.pack_into(
            self.memory,
            self._offset(row),
            pid,
            state,
            time.monotonic(),
            connections,
            requests,
            rss,
            accepted,
        )

    def write_metrics(self, row: int, sample: Sample) -> None:
        """Worker: publish its metrics (on the heartbeat, with `write`)."""
        ints, total = sample.counters()
        _METRICS.pack_into(
            self.memory, self._offset(row) + _ROW.size, *ints, total, *sample.gauges()
        )

    def read_metrics(self, row: int) -> Sample:
        """The metrics a row's worker published last (all zero before its first beat)."""
        values = _METRICS.unpack_from(self.memory, self._offset(row) + _ROW.size)
        return Sample.from_flat(values[:_COUNTERS], values[_COUNTERS], values[_COUNTERS + 1 :])

    def fewest_connections(self, exclude: int, now: float) -> int | None:
        """The fewest open connections of any other worker that serves and beat recently.

        While the server boots, a worker expected but not serving yet counts as one with no
        connections, so the first worker up does not take every connection made meanwhile.
        """
        fewest: int | None = None
        serving = 1  # the asking worker
        for row in range(self.used):
            if row == exclude:
                continue
            _pid, state, beat, connections, _r, _m, _a = self.read(row)
            if state == SERVING and now - beat < STALE:
                serving += 1
                if fewest is None or connections < fewest:
                    fewest = connections
        if serving < self.expected:
            return 0
        return fewest


def resident_memory() -> int:
    """This process's resident set size in bytes (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as file:
            return int(file.read().split()[1]) * mmap.PAGESIZE
    except (OSError, IndexError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)


# -- the worker's server ---------------------------------------------------------------------


class WorkerServer(Server):
    """The server inside one worker process (see the module docstring).

    SIGHUP is the supervisor's (a rolling restart); the worker ignores it.

    Args:
        config: The configuration (the supervisor's, inherited through the fork).
        board: The shared board; this worker writes row `row`.
        row: This worker's row.
        status_fd: Write end of the status pipe to the supervisor.
        gated: Whether accepts are balanced through the board (a socket shared by workers).
        parent: The supervisor's pid; the worker shuts down if its parent changes.
    """

    hangup_stops = False

    def __init__(
        self, config: Config, *, board: Board, row: int, status_fd: int, gated: bool, parent: int
    ) -> None:
        super().__init__(config)
        self.board = board
        self.row = row
        self.status_fd = status_fd
        self.gated = gated
        self.parent = parent
        self.retiring = False
        self.acceptors: list[Acceptor] = []
        self._beat: asyncio.TimerHandle | None = None
        self._rss = 0
        self._rss_at = 0.0

    # -- signals --------------------------------------------------------------------------

    def handle_exit(self, sig: int, frame: FrameType | None = None) -> None:
        if sig == signal.SIGINT:
            return  # the supervisor relays a Ctrl-C as SIGTERM
        self.restarting = False  # SIGTERM is the supervisor's final stop, even mid-retirement
        if self.should_exit:
            # Already stopping: a repeat is not "force". systemd's default KillMode sends
            # SIGTERM to every process of the service besides the supervisor's relay; the
            # supervisor forces with SIGQUIT.
            return
        super().handle_exit(sig, frame)

    def force(self) -> None:
        """SIGQUIT, the supervisor's second stop: end the graceful shutdown now."""
        self.restarting = False
        if not self.should_exit:
            super().handle_exit(signal.SIGTERM)
        super().handle_exit(signal.SIGQUIT)

    def retire(self) -> None:
        """SIGUSR1: a successor serves our sockets; drain gently, then shut down."""
        if self.retiring or self.should_exit:
            return
        self.retiring = True
        self.restarting = True  # WebSocket clients hear 1012: a successor already serves
        asyncio.get_running_loop().create_task(self._retire())

    async def _retire(self) -> None:
        for server in self.servers:
            server.close()
        self._publish(RETIRING)
        state = self.server_state
        for connection in list(state.connections):
            end = getattr(connection, "end_keep_alive", None)
            if end is not None:
                end()
        # Idle keep-alive connections end at their deadline at the latest; then the ordinary
        # shutdown (bounded by the graceful timeout) takes what is left.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeouts.keep_alive + HEARTBEAT
        while state.connections and not self.should_exit and loop.time() < deadline:
            await asyncio.sleep(HEARTBEAT / 2)
        self.should_exit = True

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.retire)
        loop.add_signal_handler(signal.SIGQUIT, self.force)
        try:
            await super().serve(sockets)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
            loop.remove_signal_handler(signal.SIGQUIT)
            if self._beat is not None:
                self._beat.cancel()
            if self.started:  # the last counts, for the supervisor's totals of exited workers
                self._publish(RETIRING)

    # -- listening: our own acceptors instead of loop.create_server ------------------------

    async def _listen(self) -> None:
        config, state, app_state = self.config, self.server_state, self.lifespan_state
        loop = asyncio.get_running_loop()
        protocol_cls = self._protocol_class()

        def factory() -> asyncio.BaseProtocol:
            return protocol_cls(config=config, server_state=state, app_state=app_state, _loop=loop)

        tls: dict[str, Any] = {}
        prelude = None
        if config.ssl_context is not None:
            tls = {"ssl": config.ssl_context, "ssl_handshake_timeout": config.tls.handshake_timeout}
            if config.proxy_protocol_peers is not None:
                # The PROXY header comes before the ClientHello: read it off the raw socket.
                prelude = proxy_prelude(config.proxy_protocol_peers, config.tls.handshake_timeout)
        gate = self._may_accept if self.gated else None
        for sock in self.sockets:
            acceptor = Acceptor(sock, factory, self._connections, gate, tls, prelude)
            acceptor.start()
            self.acceptors.append(acceptor)
            self.servers.append(acceptor)
        self.started = True
        self._heartbeat()
        self.send_status({"event": "ready"})

    def _connections(self) -> int:
        return len(self.server_state.connections)

    def _may_accept(self, mine: int) -> bool:
        now = time.monotonic()
        self._publish(SERVING)
        fewest = self.board.fewest_connections(self.row, now)
        return fewest is None or mine <= fewest + SLACK

    # -- heartbeat ------------------------------------------------------------------------

    def _publish(self, state: int) -> None:
        now = time.monotonic()
        if now - self._rss_at >= 1.0:
            self._rss, self._rss_at = resident_memory(), now
        accepted = sum(acceptor.accepted for acceptor in self.acceptors)
        self.board.write(
            self.row,
            state,
            len(self.server_state.connections),
            self.server_state.total_requests,
            self._rss,
            accepted,
        )
        if self.server_state.metrics is not None:
            sample = collect(self.server_state, self.config.wsgi)
            self.board.write_metrics(self.row, sample)

    def _heartbeat(self) -> None:
        self._publish(RETIRING if self.retiring or self.should_exit else SERVING)
        if os.getppid() != self.parent and not self.should_exit:
            logger.info("The supervisor is gone: shutting down")
            self.should_exit = True
        loop = asyncio.get_running_loop()
        self._beat = loop.call_later(HEARTBEAT, self._heartbeat)

    def send_status(self, message: dict[str, Any]) -> None:
        """Tell the supervisor something: one JSON line on the status pipe."""
        with contextlib.suppress(OSError):
            os.write(self.status_fd, json.dumps(message).encode() + b"\n")


def run_worker(
    config: Config,
    sockets: list[socket.socket],
    *,
    board: Board,
    row: int,
    status_fd: int,
    gated: bool,
    parent: int,
) -> int:
    """Run one worker until it is told to stop; returns the process exit code.

    A startup failure is sent to the supervisor ({"event": "error", "code": 2 or 3,
    "message": ...}) and returned as the code: 2 for a config error (e.g. an app that cannot
    be found), 3 for a startup error (bind, lifespan, an app module that raises while
    importing; its traceback is printed here, to stderr). Anything else is printed and is 1.
    """
    server = WorkerServer(
        config, board=board, row=row, status_fd=status_fd, gated=gated, parent=parent
    )
    try:
        server.run(sockets=sockets)
    except (ConfigError, StartupError) as exc:
        if isinstance(exc, AppImportError) and exc.__cause__ is not None:
            cause = exc.__cause__
            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
        code = 2 if isinstance(exc, ConfigError) else 3
        message = " ".join(str(exc).split())[:MAX_MESSAGE]
        server.send_status({"event": "error", "code": code, "message": message})
        return code
    except BaseException as exc:  # noqa: BLE001 - the process boundary: report, exit 1
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        server.send_status(
            {"event": "error", "code": EXIT_ERROR, "message": repr(exc)[:MAX_MESSAGE]}
        )
        return EXIT_ERROR
    return 0


__all__ = [
    "FREE",
    "RETIRING",
    "SERVING",
    "STARTING",
    "Board",
    "WorkerServer",
    "resident_memory",
    "run_worker",
]
