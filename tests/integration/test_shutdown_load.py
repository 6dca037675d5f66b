"""SIGTERM to a real server process while 200 requests are in flight, one process or two workers.

What a server behind a load balancer owes its clients when it is told to stop: every request it
has begun is answered whole, and says `connection: close`; a new connection is refused at once
(ECONNREFUSED: the balancer or client tries elsewhere); an idle keep-alive connection is closed
at once, not at the end of its keep-alive timeout; a request racing that close is answered or
not read at all, never cut halfway; what outlives `--timeout-graceful-shutdown` is cut and
logged. The app (apps/held.py) announces each request on stderr and holds it until the test
creates a release file, so every wait here is for the exact state it relies on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apps.held import BODY
from integ_helpers import Closed, Conn, request

from waiting import wait_for

Process = Any
ServeProcess = Callable[..., Process]

IN_FLIGHT = 200
KEEP_ALIVE = "60"  # seconds: far above every bound these tests wait
# Seconds within which an idle connection closes and the listener refuses: far below the
# keep-alive timeout (on an idle machine it is milliseconds), with room for a loaded CI box.
PROMPT = 5.0

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or not hasattr(os, "fork"), reason="POSIX signals and workers"
)

PROCESS_MODELS = [
    pytest.param((), id="one_process"),
    pytest.param(("--workers", "2"), id="two_workers"),
]


@pytest.fixture(params=PROCESS_MODELS)
def model(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return tuple(request.param)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """The file whose creation lets the held requests finish."""
    return tmp_path / "release"


@pytest.fixture
def start(serve_process: ServeProcess, release: Path) -> Callable[..., Process]:
    def factory(*args: str, app: str = "apps.held:app") -> Process:
        env = {"SAILFISH_TEST_RELEASE": str(release)}
        return serve_process(
            app, "--timeout-keep-alive", KEEP_ALIVE, *args, env=env, start_timeout=30
        )

    return factory


@pytest.fixture
def conns() -> Iterator[list[Conn]]:
    opened: list[Conn] = []
    yield opened
    for conn in opened:
        conn.close()


def open_held(port: int, count: int, conns: list[Conn]) -> list[Conn]:
    held = []
    for _ in range(count):
        conn = Conn(port, timeout=10)
        conns.append(conn)
        conn.send(request("GET", "/held"))
        held.append(conn)
    return held


def open_idle(port: int, count: int, conns: list[Conn]) -> list[Conn]:
    """Keep-alive connections that have had one answer and now wait."""
    idle = []
    for _ in range(count):
        conn = Conn(port, timeout=10)
        conns.append(conn)
        conn.send(request("GET", "/quick"))
        response = conn.read_response()
        assert response.status == 200 and response.header("connection") != "close"
        idle.append(conn)
    return idle


def refused(port: int) -> bool:
    """One connection attempt: True if refused. An accepted probe is closed again."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:  # a timeout: the queue is full, or the machine slow; look again
        return False
    return False


def assert_whole_and_last(conn: Conn) -> None:
    """The held response: 200, the whole body, `connection: close`, then the server's close."""
    response = conn.read_response()
    assert response.status == 200
    assert response.body == BODY
    assert response.header("connection") == "close"
    assert conn.is_closed_by_peer(timeout=5)


def closed_by(conn: Conn, deadline: float) -> bool:
    return conn.is_closed_by_peer(timeout=max(0.0, deadline - time.monotonic()))


def test_sigterm_with_200_requests_in_flight_loses_none(
    start: Callable[..., Process], model: tuple[str, ...], release: Path, conns: list[Conn]
) -> None:
    process = start("--timeout-graceful-shutdown", "20", *model)
    idle = open_idle(process.port, 5, conns)
    held = open_held(process.port, IN_FLIGHT, conns)
    process.wait_for_stderr("held /held", count=IN_FLIGHT, timeout=20)

    signalled = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    # Idle keep-alive connections close at once, not after their 60 s keep-alive.
    deadline = signalled + PROMPT
    assert all(closed_by(conn, deadline) for conn in idle)
    # New connections are refused once the listener is closed, while the drain goes on.
    wait_for(lambda: refused(process.port), PROMPT, "the listener to refuse connections")
    assert process.popen.poll() is None, "the server exited with requests in flight"

    release.touch()
    for conn in held:
        assert_whole_and_last(conn)
    assert process.wait(20) == 0
    assert process.stderr.count("quick /quick") == 5
    assert "Cancelled" not in process.stderr
    assert refused(process.port)


def test_a_request_racing_the_close_of_an_idle_connection_is_answered_or_unread(
    start: Callable[..., Process], model: tuple[str, ...], release: Path, conns: list[Conn]
) -> None:
    """RFC 9112 §9.3.1: a client may retry a request on a connection closed before it was read.

    The server must never read such a request and then close without the whole answer.
    """
    process = start("--timeout-graceful-shutdown", "20", *model)
    idle = open_idle(process.port, 20, conns)
    [busy] = open_held(process.port, 1, conns)  # keeps the server draining meanwhile
    process.wait_for_stderr("held /held", timeout=15)
    process.popen.send_signal(signal.SIGTERM)
    outcomes = []
    for index, conn in enumerate(idle):
        try:
            conn.send(request("GET", f"/race{index}"))
        except (BrokenPipeError, ConnectionResetError):
            outcomes.append("unread")
            continue
        try:
            response = conn.read_response()
        except (Closed, ConnectionResetError) as exc:
            assert not getattr(exc, "buffered", b""), exc  # no part of an answer
            outcomes.append("unread")
            continue
        # Answered before the shutdown began (keep-alive) or after (`connection: close`);
        # either way the connection then closes with nothing more.
        assert response.status == 200 and response.body == f"quick /race{index}".encode()
        assert conn.is_closed_by_peer(timeout=PROMPT)
        outcomes.append("answered")
    release.touch()
    assert_whole_and_last(busy)
    assert process.wait(20) == 0
    # Each answered request was seen by the app once, and each unread one never.
    for index, outcome in enumerate(outcomes):
        seen = process.stderr.count(f"quick /race{index}\n")
        assert seen == (1 if outcome == "answered" else 0), (index, outcome, seen)


def test_requests_outliving_the_graceful_timeout_are_cut_and_logged(
    start: Callable[..., Process], model: tuple[str, ...], conns: list[Conn]
) -> None:
    process = start("--timeout-graceful-shutdown", "0.5", *model)
    held = open_held(process.port, 4, conns)
    process.wait_for_stderr("held /held", count=4, timeout=15)
    signalled = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0  # a graceful stop, even when it had to cut
    assert time.monotonic() - signalled >= 0.5
    for conn in held:
        try:  # cancelled before anything was sent: a 500, then the close
            assert conn.read_response().status == 500
        except (Closed, ConnectionResetError) as exc:
            assert not getattr(exc, "buffered", b""), exc
        assert conn.is_closed_by_peer(timeout=2)
    # One line per process that cut something (with workers, one per worker that held any).
    cut = "request(s) still running at shutdown: timeout graceful shutdown exceeded"
    logged = [
        int(line.split("Cancelled ")[1].split(" ")[0])
        for line in process.stderr.splitlines()
        if cut in line
    ]
    assert sum(logged) == 4, process.stderr


def test_websockets_get_1001_going_away_on_a_final_stop(
    start: Callable[..., Process], model: tuple[str, ...]
) -> None:
    sync_client = pytest.importorskip("websockets.sync.client")
    from websockets.exceptions import ConnectionClosed

    process = start("--timeout-graceful-shutdown", "5", *model)
    url = f"ws://127.0.0.1:{process.port}/"
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(sync_client.connect(url, open_timeout=5, compression=None))
            for _ in range(3)
        ]
        process.wait_for_stderr("ws open", count=3, timeout=15)
        process.popen.send_signal(signal.SIGTERM)
        for ws in sockets:
            with pytest.raises(ConnectionClosed):
                ws.recv(10)
            assert ws.close_code == 1001
    assert process.wait(20) == 0
    assert process.stderr.count("ws disconnect 1001") == 3, process.stderr


def test_websockets_get_1012_service_restart_when_a_worker_is_replaced(
    start: Callable[..., Process],
) -> None:
    sync_client = pytest.importorskip("websockets.sync.client")
    from websockets.exceptions import ConnectionClosed

    # The retiring worker waits for its connections up to the keep-alive timeout.
    process = start("--workers", "2", "--timeout-keep-alive", "0.5")
    url = f"ws://127.0.0.1:{process.port}/"
    with sync_client.connect(url, open_timeout=5, compression=None) as ws:
        process.wait_for_stderr("ws open", timeout=15)
        process.popen.send_signal(signal.SIGHUP)
        with pytest.raises(ConnectionClosed):
            ws.recv(30)  # after up to two replacement workers have started
        assert ws.close_code == 1012, process.stderr
    process.wait_for_stderr("ws disconnect 1012", timeout=10)
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def test_wsgi_requests_running_in_threads_finish(
    start: Callable[..., Process], release: Path, conns: list[Conn]
) -> None:
    count = 8
    process = start("--interface", "wsgi", "--wsgi-threads", str(count), app="apps.held:wsgi")
    held = open_held(process.port, count, conns)
    process.wait_for_stderr("wsgi held", count=count, timeout=15)
    process.popen.send_signal(signal.SIGTERM)
    wait_for(lambda: refused(process.port), PROMPT, "the listener to refuse connections")
    release.touch()
    for conn in held:
        assert_whole_and_last(conn)
    assert process.wait(20) == 0
