"""Server: binding (IPv4, IPv6, unix socket, fd), startup failures, graceful shutdown, signals.

In-process tests run `Server.run()` in a thread (no signal handlers there) with the stand-in
protocol from shell_helpers.py; signal tests run a real process. Everything binds 127.0.0.1:0, ::1
or a unix socket in a fresh temporary directory, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shell_helpers import (
    StandInProtocol,
    get,
    hello_app,
    make_config,
    port_of,
    read_response,
    server_in_thread,
)

from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.server import Server, run
from sailfish.state import SHUTDOWN_CANCEL, is_shutdown_cancel
from waiting import wait_for

HERE = Path(__file__).parent
HAS_UNIX = hasattr(socket, "AF_UNIX") and sys.platform != "win32"


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("sailfish")]


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- binding --------------------------------------------------------------------------------


def test_serves_on_ipv4_and_logs(sailfish_logs: pytest.LogCaptureFixture) -> None:
    with server_in_thread(make_config()) as server:
        port = port_of(server)
        assert get(port, "/a").endswith(b"hello /a")
        assert server.server_state.total_requests == 1
    logged = messages(sailfish_logs)
    assert f"Started server process [{os.getpid()}]" in logged
    assert f"Listening on http://127.0.0.1:{port} (Press CTRL+C to quit)" in logged
    assert logged.index("Application startup complete.") < logged.index(
        f"Listening on http://127.0.0.1:{port} (Press CTRL+C to quit)"
    )
    assert logged[-3:] == [
        "Waiting for application shutdown.",
        "Application shutdown complete.",
        f"Finished server process [{os.getpid()}]",
    ]


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_serves_on_ipv6(sailfish_logs: pytest.LogCaptureFixture) -> None:
    with server_in_thread(make_config(host="::1")) as server:
        port = port_of(server)
        assert server.sockets[0].family == socket.AF_INET6
        assert get(port, "/six", host="::1").endswith(b"hello /six")
    assert f"Listening on http://[::1]:{port} (Press CTRL+C to quit)" in messages(sailfish_logs)


def unix_get(path: str, target: str = "/") -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return read_response(sock)


@pytest.mark.skipif(not HAS_UNIX, reason="unix sockets")
def test_serves_on_unix_socket(short_dir: Path, sailfish_logs: pytest.LogCaptureFixture) -> None:
    path = str(short_dir / "s.sock")
    with server_in_thread(make_config(uds=path)):
        assert unix_get(path, "/u").endswith(b"hello /u")
        assert os.stat(path).st_mode & 0o777 == 0o666
    assert not os.path.exists(path)  # removed on shutdown
    assert f"Listening on unix socket {path} (Press CTRL+C to quit)" in messages(sailfish_logs)


@pytest.mark.skipif(not HAS_UNIX, reason="unix sockets")
def test_unix_socket_stale_file_is_replaced(short_dir: Path) -> None:
    path = str(short_dir / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays; nobody listens
    with server_in_thread(make_config(uds=path)):
        assert unix_get(path).endswith(b"hello /")


@pytest.mark.skipif(not HAS_UNIX, reason="unix sockets")
def test_unix_socket_in_use(short_dir: Path) -> None:
    path = str(short_dir / "s.sock")
    with socket.socket(socket.AF_UNIX) as other:
        other.bind(path)
        other.listen()
        with pytest.raises(
            StartupError, match=f"^could not bind to unix socket {path}: address already in use$"
        ):
            Server(make_config(uds=path), protocol_factory=StandInProtocol).run()
    assert os.path.exists(path)  # someone else's socket: left alone


@pytest.mark.skipif(not HAS_UNIX, reason="unix sockets")
def test_unix_socket_path_is_a_regular_file(short_dir: Path) -> None:
    path = short_dir / "s.sock"
    path.write_text("precious")
    with pytest.raises(StartupError, match="a file that is not a socket exists"):
        Server(make_config(uds=str(path)), protocol_factory=StandInProtocol).run()
    assert path.read_text() == "precious"


def test_serves_on_fd(sailfish_logs: pytest.LogCaptureFixture) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fd = sock.detach()  # the server owns the descriptor now
    with server_in_thread(make_config(fd=fd)):
        assert get(port, "/fd").endswith(b"hello /fd")
    assert f"Listening on socket fd {fd} (Press CTRL+C to quit)" in messages(sailfish_logs)


def test_bad_fd() -> None:
    # Windows names sockets by handle, and says "not a socket" in its own words
    reason = "bad file descriptor$" if sys.platform != "win32" else "[a-z][^\n]+$"
    with pytest.raises(StartupError, match=f"^could not use socket fd 987654: {reason}"):
        Server(make_config(fd=987654), protocol_factory=StandInProtocol).run()


def test_serves_on_given_sockets() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = Server(make_config(), protocol_factory=StandInProtocol)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 5, "the server to listen")
        assert get(port).endswith(b"hello /")
    finally:
        server.should_exit = True
        thread.join(5)
    assert not thread.is_alive()


def test_port_in_use_fails_before_app_startup() -> None:
    started: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.append(scope["type"])

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(
            StartupError, match=f"^could not bind to 127.0.0.1:{port}: address already in use$"
        ):
            Server(make_config(app, port=port), protocol_factory=StandInProtocol).run()
    assert started == []  # the app's lifespan never ran


def test_unresolvable_host() -> None:
    with pytest.raises(StartupError, match="^could not bind to no-such-host.invalid:0: "):
        Server(make_config(host="no-such-host.invalid"), protocol_factory=StandInProtocol).run()


def test_config_error_before_binding() -> None:
    with pytest.raises(ConfigError, match="--port must be between"):
        Server(make_config(port=99999), protocol_factory=StandInProtocol).run()


def test_lifespan_failure_releases_the_port() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no db"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StartupError, match="^application startup failed: no db$"):
        Server(make_config(app, port=port), protocol_factory=StandInProtocol).run()
    with socket.socket() as again:  # the server's socket is closed
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_run_function_and_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match='unknown option "processes"'):
        run(hello_app, processes=4)
    pytest.importorskip("uvloop")
    with server_in_thread(make_config(loop="uvloop")) as server:
        assert get(port_of(server), "/uv").endswith(b"hello /uv")


# -- state ----------------------------------------------------------------------------------


def test_lifespan_state_and_default_headers_reach_protocols() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["answer"] = 42
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(scope["state"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with server_in_thread(make_config(app, headers=["x-a: b"])) as server:
        assert get(port_of(server)).startswith(b"HTTP/1.1 204")
        assert server.config.http.default_headers == [(b"x-a", b"b")]
        # config.http.default_headers reach protocols through the config; ServerState's list
        # is for extra headers added at run time (empty unless someone adds to it).
        assert server.server_state.default_headers == []
    assert seen == [{"answer": 42}]


def test_lifespan_crash_after_startup_stops_the_server() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        for _ in range(1000):  # die once the server is serving (bounded: 5 s)
            if server.started:
                raise RuntimeError("background job died")
            await asyncio.sleep(0.005)

    server = Server(make_config(app), protocol_factory=StandInProtocol)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    thread.join(10)
    assert server.started
    assert not thread.is_alive() and server.should_exit


# -- graceful shutdown ----------------------------------------------------------------------


async def slow_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("no lifespan")
    await asyncio.sleep(float(scope["path"].strip("/") or 0))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def start_request(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_graceful_shutdown_finishes_in_flight_and_closes_idle(
    sailfish_logs: pytest.LogCaptureFixture,
) -> None:
    with server_in_thread(make_config(slow_app)) as server:
        port = port_of(server)
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        busy = start_request(port, "/0.5")
        wait_for(lambda: server.server_state.tasks, 5, "the request to reach the app")
        server.should_exit = True
        assert idle.recv(10) == b""  # closed at once
        assert read_response(busy).endswith(b"done")  # finished, not cut
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        idle.close()
        busy.close()
    assert "Waiting for connections to close. (CTRL+C to force quit)" in messages(sailfish_logs)


def test_graceful_shutdown_timeout_cancels_tasks(sailfish_logs: pytest.LogCaptureFixture) -> None:
    config = make_config(slow_app, timeout_graceful_shutdown=0.2)
    began = time.monotonic()
    with server_in_thread(config) as server:
        busy = [start_request(port_of(server), "/30") for _ in range(2)]
        wait_for(lambda: len(server.server_state.tasks) == 2, 5, "both requests in the app")
    assert time.monotonic() - began < 5
    for sock in busy:
        assert read_response(sock) in (b"", b"HTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n")
        sock.close()
    warnings = [r.getMessage() for r in sailfish_logs.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "Cancelled 2 request(s) still running at shutdown: timeout graceful shutdown exceeded"
    ]


def test_shutdown_cancels_requests_with_the_shutdown_message() -> None:
    seen: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError as exc:
            seen.append(exc)
            raise

    with server_in_thread(make_config(app, timeout_graceful_shutdown=0.1)) as server:
        busy = start_request(port_of(server), "/")
        wait_for(lambda: server.server_state.tasks, 5, "the request to reach the app")
    busy.close()
    assert len(seen) == 1 and seen[0].args == (SHUTDOWN_CANCEL,)
    assert is_shutdown_cancel(seen[0])


def test_is_shutdown_cancel() -> None:
    assert is_shutdown_cancel(asyncio.CancelledError(SHUTDOWN_CANCEL))
    assert not is_shutdown_cancel(asyncio.CancelledError())
    assert not is_shutdown_cancel(asyncio.CancelledError("another reason"))
    assert not is_shutdown_cancel(RuntimeError(SHUTDOWN_CANCEL))
    try:  # an app that catches the cancellation and raises a new one
        try:
            raise asyncio.CancelledError(SHUTDOWN_CANCEL)
        except asyncio.CancelledError:
            raise asyncio.CancelledError() from None
    except asyncio.CancelledError as exc:
        assert is_shutdown_cancel(exc)  # "from None" hides the context, but keeps it


class HungShutdown:
    """A lifespan app whose shutdown never completes, and a request that never ends."""

    def __init__(self) -> None:
        self.shutdown_began = threading.Event()
        self.shutdown_cancelled = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(30)
            return
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        self.shutdown_began.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.shutdown_cancelled.set()
            raise


def test_lifespan_shutdown_runs_after_a_forced_shutdown_and_its_timeout_bounds_it(
    sailfish_logs: pytest.LogCaptureFixture,
) -> None:
    app = HungShutdown()
    began = time.monotonic()
    with server_in_thread(make_config(app, timeout_graceful_shutdown=0.2)) as server:
        busy = start_request(port_of(server), "/")
        wait_for(lambda: server.server_state.tasks, 5, "the request to reach the app")
    assert time.monotonic() - began < 5
    busy.close()
    assert app.shutdown_began.is_set() and app.shutdown_cancelled.is_set()
    warnings = [r.getMessage() for r in sailfish_logs.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "Cancelled 1 request(s) still running at shutdown: timeout graceful shutdown exceeded",
        "Cancelled the application's lifespan shutdown: timeout graceful shutdown exceeded",
    ]
    assert messages(sailfish_logs)[-1] == f"Finished server process [{os.getpid()}]"


def test_a_third_signal_cancels_a_hung_lifespan_shutdown(
    sailfish_logs: pytest.LogCaptureFixture,
) -> None:
    app = HungShutdown()
    server = Server(make_config(app), protocol_factory=StandInProtocol)  # no graceful timeout
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 5, "the server to listen")
        busy = start_request(port_of(server), "/")
        wait_for(lambda: server.server_state.tasks, 5, "the request to reach the app")
        server.handle_exit(signal.SIGINT)
        draining = "Waiting for connections to close. (CTRL+C to force quit)"
        wait_for(lambda: draining in messages(sailfish_logs), 5, "the drain to begin")
        server.handle_exit(signal.SIGINT)
        assert app.shutdown_began.wait(5), "lifespan shutdown did not run after a forced exit"
        assert thread.is_alive()
        server.handle_exit(signal.SIGINT)
        thread.join(5)
        assert not thread.is_alive()
        busy.close()
    finally:
        server.force_exit = True
        server.should_exit = True
        thread.join(5)
    assert app.shutdown_cancelled.is_set()
    warnings = [r.getMessage() for r in sailfish_logs.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "Cancelled 1 request(s) still running at shutdown: forced",
        "Cancelled the application's lifespan shutdown: forced",
    ]


# -- signals (a real process) ---------------------------------------------------------------

SCRIPT = """
import asyncio, sys
sys.path[:0] = [{here!r}, {tests!r}]
from shell_helpers import StandInProtocol
from sailfish.config import Config
from sailfish.server import Server

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({{"type": message["type"] + ".complete"}})
            if message["type"] == "lifespan.shutdown":
                return
    print("arrived", scope["path"], file=sys.stderr, flush=True)
    await asyncio.sleep(float(scope["path"].strip("/") or 0))
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"done"}})

Server(Config(app, port=0, loop="asyncio"), protocol_factory=StandInProtocol).run()
"""


class Process:
    """A server process whose stderr lines are collected by a thread."""

    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "serve.py"
        script.write_text(textwrap.dedent(SCRIPT.format(here=str(HERE), tests=str(HERE.parent))))
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.seen:
                if match := re.search(pattern, line):
                    return match
            try:
                self.seen.append(self.lines.get(timeout=0.1))
            except queue.Empty:
                continue
        raise AssertionError(f"{pattern!r} not logged; got {self.seen}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.pump.join(5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Process]:
    proc = Process(tmp_path)
    yield proc
    proc.stop()


@pytest.mark.posix_only("SIGINT or SIGTERM to a child process")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_shuts_down_gracefully(process: Process, sig: signal.Signals) -> None:
    port = int(process.wait_for(r"Listening on http://127\.0\.0\.1:(\d+)").group(1))
    busy = start_request(port, "/0.3")
    process.wait_for(r"arrived /0\.3")
    process.proc.send_signal(sig)
    assert read_response(busy).endswith(b"done")
    busy.close()
    assert process.proc.wait(10) == 0
    process.wait_for(r"Application shutdown complete\.")
    process.wait_for(r"Finished server process")


@pytest.mark.posix_only("SIGINT to a child process")
def test_second_signal_forces_exit(process: Process) -> None:
    port = int(process.wait_for(r"Listening on http://127\.0\.0\.1:(\d+)").group(1))
    busy = start_request(port, "/30")
    process.wait_for(r"arrived /30")
    process.proc.send_signal(signal.SIGINT)
    process.wait_for(r"Waiting for connections to close")
    began = time.monotonic()
    process.proc.send_signal(signal.SIGINT)
    assert process.proc.wait(10) == 0
    assert time.monotonic() - began < 5
    busy.close()
    process.wait_for("Forcing shutdown")
    process.wait_for(r"Cancelled 1 request\(s\) still running at shutdown: forced")
    process.wait_for(r"Application shutdown complete\.")  # lifespan shutdown still runs
    process.wait_for(r"Finished server process")
    assert len([line for line in process.seen if "Cancelled" in line]) == 1


# -- the real protocol ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "loop",
    [
        pytest.param("asyncio", id="asyncio"),
        pytest.param("uvloop", id="uvloop"),
    ],
)
def test_real_protocol_serves(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    server = Server(make_config(loop=loop))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 5, "the server to listen")
        assert server.started
        response = get(port_of(server), "/real")
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"hello /real")
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


def test_config_instance_reuse_keeps_loaded_app() -> None:
    config = Config(hello_app)
    config.load()
    assert Server(config).config.loaded_app is config.loaded_app


def test_startup_logs_one_warning_line_when_the_pure_core_runs_unasked(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sailfish._compat
    import sailfish.http

    monkeypatch.setattr(sailfish.http, "IMPLEMENTATION", "pure")
    monkeypatch.setattr(sailfish._compat, "NO_EXTENSIONS", False)
    with caplog.at_level(logging.INFO), server_in_thread(make_config()):
        pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [
        r.getMessage().startswith("sailfish is running its pure-Python HTTP core") for r in warnings
    ] == [True]


def test_startup_does_not_warn_when_the_pure_core_was_asked_for(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sailfish._compat
    import sailfish.http

    monkeypatch.setattr(sailfish.http, "IMPLEMENTATION", "pure")
    monkeypatch.setattr(sailfish._compat, "NO_EXTENSIONS", True)
    with caplog.at_level(logging.INFO), server_in_thread(make_config()):
        pass
    assert not [r for r in caplog.records if "pure-Python HTTP core" in r.getMessage()]
