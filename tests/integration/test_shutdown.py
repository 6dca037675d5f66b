"""Graceful shutdown under load, its timeout, signals to a real process, and --limit-concurrency."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from apps.raw import RawApp
from integ_helpers import Closed, Conn, Response, request, wait_for

from sailfish.state import is_shutdown_cancel

Serve = Callable[..., Any]


def fire(port: int, target: str, results: list[Any], index: int) -> None:
    """One request on its own connection; stores the Response (or the exception)."""
    try:
        with Conn(port, timeout=8) as conn:
            conn.send(request("GET", target))
            results[index] = conn.read_response()
    except Exception as exc:  # noqa: BLE001 - reported by the test
        results[index] = exc


def fire_many(port: int, target: str, count: int) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * count
    threads = [
        threading.Thread(target=fire, args=(port, target, results, i), daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads, results


def join_all(threads: list[threading.Thread], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client never finished"


def unsent_bytes(running: Any) -> int:
    """Bytes the server's transports hold for clients that do not read (on the loop thread)."""
    connections = running.server.server_state.connections
    return sum(c.transport.get_write_buffer_size() for c in connections if c.transport)


def connection_refused(port: int) -> bool:
    """True if a new connection is refused (or closed at once without an answer)."""
    try:
        with Conn(port, timeout=2) as conn:
            conn.send(request("GET", "/late"))
            return conn.read_until_closed(timeout=2) == b""
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        return True


def test_graceful_shutdown_finishes_every_in_flight_request(serve: Serve, loop_name: str) -> None:
    count = 50
    app = RawApp()
    app.expected = count
    running = serve(app, loop=loop_name, timeout_graceful_shutdown=None)
    threads, results = fire_many(running.port, "/slow?t=0.5", count)
    assert app.all_arrived.wait(5), f"only {app.arrived} of {count} requests arrived"

    begin = time.monotonic()
    running.server.should_exit = True
    assert wait_for(lambda: running.server.sockets[0].fileno() == -1, 2)
    assert connection_refused(running.port), "a new connection was accepted during shutdown"
    join_all(threads)
    elapsed = running.stop()
    total = time.monotonic() - begin

    failures = [r for r in results if not (isinstance(r, Response) and r.status == 200)]
    assert not failures, failures[:3]
    assert all(r.body == b"done" for r in results)
    assert app.finished == count
    assert total < 3.0, total
    assert elapsed < 3.0, elapsed
    assert connection_refused(running.port)


def test_responses_finished_during_shutdown_say_connection_close(serve: Serve) -> None:
    """A keep-alive client must learn the connection ends with this response (RFC 9112 9.6)."""
    app = RawApp()
    app.expected = 1
    running = serve(app, timeout_graceful_shutdown=None)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/slow?t=0.4"))
        assert app.all_arrived.wait(5)
        running.server.should_exit = True
        response = conn.read_response()
        assert response.status == 200
        assert response.body == b"done"
        assert conn.is_closed_by_peer(timeout=3)
        assert response.header("connection") == "close"


def test_pipelined_requests_not_started_are_dropped_at_shutdown(serve: Serve) -> None:
    app = RawApp()
    app.expected = 1
    running = serve(app, timeout_graceful_shutdown=None)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/slow?t=0.3") + request("GET", "/second"))
        assert app.all_arrived.wait(5)
        running.server.should_exit = True
        assert conn.read_response().body == b"done"
        assert conn.read_until_closed(timeout=3) == b""  # /second is never answered
    running.stop()
    assert app.arrived == 1


def test_idle_keep_alive_connections_close_at_shutdown(serve: Serve) -> None:
    running = serve(RawApp(), timeout_keep_alive=30)
    conns = [Conn(running.port) for _ in range(5)]
    try:
        for conn in conns:
            conn.send(request("GET", "/x"))
            assert conn.read_response().status == 200
        elapsed = running.stop()
        assert elapsed < 2.0, elapsed
        for conn in conns:
            assert conn.is_closed_by_peer(timeout=2)
    finally:
        for conn in conns:
            conn.close()


def test_graceful_shutdown_timeout_cancels_a_never_ending_app(serve: Serve, loop_name: str) -> None:
    app = RawApp()
    app.expected = 3
    running = serve(app, loop=loop_name, timeout_graceful_shutdown=0.5)
    conns = [Conn(running.port) for _ in range(3)]
    try:
        for conn in conns:
            conn.send(request("GET", "/forever"))
        assert app.all_arrived.wait(5)
        elapsed = running.stop(timeout=8)
        assert 0.4 <= elapsed < 3.0, elapsed
        for conn in conns:
            data = conn.read_until_closed(timeout=2)
            assert data == b"" or data.startswith(b"HTTP/1.1 500 "), data[:100]
        assert app.finished == 3  # cancelled, and the cancellation reached the app
    finally:
        for conn in conns:
            conn.close()


def test_graceful_shutdown_timeout_with_a_slow_streaming_reader(serve: Serve) -> None:
    """A client that stops reading a big response cannot hold the shutdown past its timeout."""
    running = serve(RawApp(), timeout_graceful_shutdown=0.5)
    with Conn(running.port) as conn:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.send(request("GET", f"/big?n={50 * 1024 * 1024}"))
        conn.read_head()
        wait_for(lambda: running.on_loop(lambda: unsent_bytes(running) > 0), 5, "a full buffer")
        elapsed = running.stop(timeout=8)
        assert elapsed < 3.0, elapsed


# -- a real process and real signals ---------------------------------------------------------------


@pytest.mark.posix_only("SIGTERM to a child (on Windows, send_signal(SIGTERM) kills it)")
@pytest.mark.parametrize(
    ("signal_name", "requests", "said"),
    [
        pytest.param("SIGTERM", 20, "Shutting down", id="sigterm"),
        # SIGHUP's default action would kill the process with these requests in flight; one
        # process without a supervisor cannot restart itself, so it drains and stops instead.
        pytest.param(
            "SIGHUP", 5, "Received SIGHUP: one process cannot restart itself", id="sighup"
        ),
    ],
)
def test_a_stop_signal_drains_in_flight_requests(
    serve_process: Callable[..., Any], signal_name: str, requests: int, said: str
) -> None:
    process = serve_process("apps.raw:announcing")
    threads, results = fire_many(process.port, "/slow?t=0.6", requests)
    process.wait_for_stderr("arrived /slow", count=requests)
    process.popen.send_signal(getattr(signal, signal_name))
    join_all(threads)
    assert process.wait(5) == 0
    failures = [r for r in results if not (isinstance(r, Response) and r.status == 200)]
    assert not failures, failures[:3]
    assert said in process.stderr
    assert "Finished server process" in process.stderr


@pytest.mark.posix_only("SIGTERM to a child (on Windows, send_signal(SIGTERM) kills it)")
def test_sigterm_with_graceful_timeout_and_a_never_ending_app(
    serve_process: Callable[..., Any],
) -> None:
    process = serve_process("apps.raw:announcing", "--timeout-graceful-shutdown", "0.5")
    with Conn(process.port) as conn:
        conn.send(request("GET", "/forever"))
        process.wait_for_stderr("arrived /forever")
        begin = time.monotonic()
        process.popen.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
        assert time.monotonic() - begin < 3.0
        try:  # cancelled: a 500 if nothing was sent yet, or just the close
            assert conn.read_response().status == 500
        except (Closed, ConnectionResetError):
            pass
        assert conn.is_closed_by_peer(timeout=2)
    summary = "Cancelled 1 request(s) still running at shutdown: timeout graceful shutdown exceeded"
    assert process.stderr.count(summary) == 1, process.stderr
    assert "Application shutdown complete." in process.stderr  # lifespan shutdown still runs


@pytest.mark.posix_only("SIGINT to a child (Windows cannot send Ctrl+C to one process)")
def test_second_signal_forces_the_exit(serve_process: Callable[..., Any]) -> None:
    process = serve_process("apps.raw:announcing")  # no graceful timeout: waits for ever
    conns = [Conn(process.port) for _ in range(3)]
    try:
        for conn in conns:
            conn.send(request("GET", "/forever"))
        process.wait_for_stderr("arrived /forever", count=3)
        process.popen.send_signal(signal.SIGINT)
        process.wait_for_stderr("Waiting for connections to close")
        assert process.popen.poll() is None, "the first signal did not wait for the requests"
        begin = time.monotonic()
        process.popen.send_signal(signal.SIGINT)
        assert process.wait(5) == 0
        assert time.monotonic() - begin < 3.0
    finally:
        for conn in conns:
            conn.close()
    stderr = process.stderr
    assert "Forcing shutdown" in stderr
    # One line for the cancelled requests, and the app's lifespan shutdown still runs.
    assert stderr.count("Cancelled 3 request(s) still running at shutdown: forced") == 1, stderr
    assert "Application shutdown complete." in stderr
    assert "Finished server process" in stderr


def test_forced_shutdown_logs_no_traceback_per_request(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = RawApp()
    app.expected = 3
    running = serve(app, timeout_graceful_shutdown=0.2)
    conns = [Conn(running.port) for _ in range(3)]
    try:
        for conn in conns:
            conn.send(request("GET", "/forever"))
        assert app.all_arrived.wait(5)
        running.stop()
    finally:
        for conn in conns:
            conn.close()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_forced_shutdown_cancels_with_the_shutdown_message_and_logs_once(
    serve: Serve, caplog: pytest.LogCaptureFixture, loop_name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    app = RawApp()
    app.expected = 3
    running = serve(app, loop=loop_name, timeout_graceful_shutdown=0.2)
    conns = [Conn(running.port) for _ in range(3)]
    try:
        for conn in conns:
            conn.send(request("GET", "/forever"))
        assert app.all_arrived.wait(5)
        running.stop()
    finally:
        for conn in conns:
            conn.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Cancelled 3 request(s) still running at shutdown: timeout graceful shutdown exceeded"
    ]
    assert len(app.cancelled) == 3
    assert all(is_shutdown_cancel(exc) for exc in app.cancelled), app.cancelled
    assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]


def test_idle_keep_alive_connections_close_at_once_while_a_request_runs(serve: Serve) -> None:
    """Idle connections get EOF as shutdown begins, not after the drain or the keep-alive."""
    app = RawApp()
    app.expected = 4
    running = serve(app, timeout_keep_alive=30, timeout_graceful_shutdown=None)
    idle = [Conn(running.port) for _ in range(3)]
    busy = Conn(running.port)
    try:
        for conn in idle:
            conn.send(request("GET", "/x"))
            assert conn.read_response().status == 200
        busy.send(request("GET", "/forever"))
        assert app.all_arrived.wait(5)
        begin = time.monotonic()
        running.server.should_exit = True
        for conn in idle:
            assert conn.is_closed_by_peer(timeout=2)
        assert time.monotonic() - begin < 1.0
        assert app.finished == 3  # the busy request still runs: the shutdown is under way
        assert running.thread.is_alive()
    finally:
        running.server.handle_exit(signal.SIGINT)  # force: the busy request never ends
        running.stop()
        for conn in (*idle, busy):
            conn.close()


# -- --limit-concurrency ---------------------------------------------------------------------------


def test_limit_concurrency_answers_503(serve: Serve) -> None:
    app = RawApp()
    app.expected = 2
    running = serve(app, limit_concurrency=2)
    threads, results = fire_many(running.port, "/slow?t=0.5", 2)
    assert app.all_arrived.wait(5)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/over"))
        response = conn.read_response()
        assert response.status == 503
        assert response.header("connection") == "close"
        assert conn.is_closed_by_peer(timeout=3)
    join_all(threads)
    assert [r.status for r in results] == [200, 200]
    assert app.arrived == 2  # the app never saw the refused request
    # once the load is gone, requests are served again (connections are counted on close)
    assert wait_for(lambda: not running.server.server_state.tasks, 2)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/ok"))
        assert conn.read_response().status == 200
