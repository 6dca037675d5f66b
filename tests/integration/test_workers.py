"""Worker processes under the supervisor: real `python -m sailfish --workers N` on 127.0.0.1.

Each test drives a server process with real HTTP clients (http.client, keep-alive) from
threads and watches it through its answers (`apps/pids.py` answers with its pid) and its log.
Load runs while the test signals the supervisor; every wait is bounded (tests/waiting.py).
Both socket modes are covered where they differ: one SO_REUSEPORT listener per worker
(Linux) and a socket shared by all workers with balanced accepts (`--no-reuse-port`).
"""

from __future__ import annotations

import collections
import http.client
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from waiting import poll_until, wait_for

HERE = Path(__file__).parent
REPO = HERE.parent.parent
APP = "apps.pids:app"
START_TIMEOUT = 30.0  # a supervisor is listening once every worker is up

pytestmark = pytest.mark.posix_only("worker processes are forked, and run by signals")

MODES = [
    pytest.param(
        "--reuse-port",
        id="reuse_port",
        marks=pytest.mark.skipif(
            not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's"
        ),
    ),
    pytest.param("--no-reuse-port", id="shared_socket"),
]


def get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
    """One request on a new connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def held_pids(port: int, count: int) -> list[int]:
    """Open `count` connections at once, keep them open, and ask each which worker it has."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(count)]
    try:
        for conn in conns:
            conn.request("GET", "/")  # connect and ask at once: an idle connection may time out
        return [int(conn.getresponse().read()) for conn in conns]
    finally:
        for conn in conns:
            conn.close()


@dataclass
class Load:
    """Keep-alive clients in threads, each sending requests back to back until stopped.

    A failure is a request that got no response (a reset, an EOF before the response, a
    timeout); a response with `connection: close` is not one: http.client reconnects.
    """

    port: int
    clients: int = 4
    ok: int = 0
    pids: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[tuple[int | None, str]] = field(default_factory=list)  # (last pid, error)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._client, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        last: int | None = None
        while not self.stopping.is_set():
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                pid = int(response.read())
                assert response.status == 200
            except (OSError, http.client.HTTPException, ValueError) as exc:
                with self.lock:
                    self.failures.append((last, repr(exc)))
                conn.close()
                continue
            last = pid
            with self.lock:
                self.ok += 1
                self.pids[pid] += 1
        conn.close()

    def served_since(self, mark: int) -> int:
        with self.lock:
            return self.ok - mark

    def new_pid(self, old: set[int]) -> set[int]:
        with self.lock:
            return set(self.pids) - old

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in self.threads)


@pytest.fixture
def serve_workers(serve_process: Callable[..., Any]) -> Callable[..., Any]:
    """serve_process with a start bound for N processes on a loaded machine."""

    def factory(*args: str, **kwargs: Any) -> Any:
        return serve_process(*args, start_timeout=START_TIMEOUT, **kwargs)

    return factory


@pytest.fixture
def load() -> Iterator[Callable[..., Load]]:
    started: list[Load] = []

    def factory(port: int, clients: int = 4) -> Load:
        running = Load(port, clients).start()
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stopping.set()
        for thread in running.threads:
            thread.join(10)


def stop(process: object, timeout: float = 15.0) -> int:
    """SIGTERM the supervisor; returns its exit code."""
    popen = process.popen  # type: ignore[attr-defined]
    popen.send_signal(signal.SIGTERM)
    return int(process.wait(timeout))  # type: ignore[attr-defined]


# -- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_workers_serve_and_share_the_connections(serve_workers: Callable, mode: str) -> None:
    process = serve_workers(APP, "--workers", "2", mode)
    pids = held_pids(process.port, 16)
    spread = collections.Counter(pids)
    assert len(spread) == 2, spread
    assert process.popen.pid not in spread  # the supervisor serves nothing itself
    if mode == "--no-reuse-port":
        # Gated accepts: no worker holds more than SLACK + 1 connections above another.
        busiest, quietest = max(spread.values()), min(spread.values())
        assert busiest - quietest <= 2, spread
    assert "2 worker(s) serving" in process.stderr
    assert stop(process) == 0
    assert process.stderr.count("Finished server process") == 2
    assert "Finished supervisor process" in process.stderr


def test_sigterm_stops_every_worker_within_the_graceful_timeout(serve_workers: Callable) -> None:
    process = serve_workers(APP, "--workers", "2", "--timeout-graceful-shutdown", "2")
    slow = threading.Thread(target=lambda: _swallow(lambda: get(process.port, "/slow?t=60")))
    slow.start()
    process.wait_for_stderr("slow ")
    process.popen.send_signal(signal.SIGTERM)
    # While the slow request drains, new connections are refused, not queued unserved.
    wait_for(lambda: _refused(process.port), timeout=1.5, what="connections refused")
    assert process.popen.poll() is None
    assert process.wait(10) == 0
    slow.join(10)
    assert "Cancelled 1 request(s) still running at shutdown" in process.stderr
    assert process.stderr.count("Finished server process") == 2


def _slow_requests(port: int, count: int) -> tuple[list[threading.Thread], list[Any]]:
    """`count` requests to /slow?t=2 in threads; each result is (status, body) or the error."""
    results: list[Any] = [None] * count

    def one(index: int) -> None:
        try:
            results[index] = get(port, "/slow?t=2", timeout=15)
        except (OSError, http.client.HTTPException) as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def test_sigterm_to_every_process_of_the_server_is_still_graceful(serve_workers: Callable) -> None:
    # systemd's default KillMode=control-group sends SIGTERM to the supervisor and to every
    # worker; with the supervisor's relay each worker gets it twice, which must not force.
    process = serve_workers(APP, "--workers", "2", "--no-reuse-port")
    workers = set(held_pids(process.port, 8))
    threads, results = _slow_requests(process.port, 4)
    process.wait_for_stderr("slow ", count=4)
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    process.wait_for_stderr("Shutting down", count=2)  # both draining, then the relay comes
    os.kill(process.popen.pid, signal.SIGTERM)
    process.wait_for_stderr("Stopping the workers (SIGTERM)")
    for thread in threads:
        thread.join(15)
    assert [result[0] for result in results] == [200] * 4, results
    assert process.wait(15) == 0
    assert "Forcing" not in process.stderr and "Cancelled" not in process.stderr


def test_a_second_sigterm_forces_the_workers(serve_workers: Callable) -> None:
    process = serve_workers(APP, "--workers", "2")
    threads, _results = _slow_requests(process.port, 2)
    process.wait_for_stderr("slow ", count=2)
    os.kill(process.popen.pid, signal.SIGTERM)
    process.wait_for_stderr("Waiting for connections to close")
    os.kill(process.popen.pid, signal.SIGTERM)
    assert process.wait(10) == 0
    for thread in threads:
        thread.join(10)
    assert "Forcing the workers to stop" in process.stderr
    assert "still running at shutdown: forced" in process.stderr


def test_web_concurrency_sets_the_worker_count(serve_workers: Callable) -> None:
    process = serve_workers(APP, "--no-reuse-port", env={"WEB_CONCURRENCY": "3"})
    assert len(set(held_pids(process.port, 12))) == 3
    assert stop(process) == 0


# -- health ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_killed_worker_is_replaced_and_only_its_requests_fail(
    serve_workers: Callable, load: Callable[..., Load], mode: str
) -> None:
    process = serve_workers(APP, "--workers", "2", mode)
    workers = set(held_pids(process.port, 16))
    running = load(process.port, clients=6)
    wait_for(lambda: running.ok > 50, what="the load under way")
    victim = max(running.pids, key=lambda pid: running.pids[pid])
    os.kill(victim, signal.SIGKILL)
    process.wait_for_stderr(f"Worker [{victim}] died (signal SIGKILL): restarting it in 0.0s")
    wait_for(lambda: set(held_pids(process.port, 16)) - workers, what="a replacement worker")
    mark = running.ok
    wait_for(lambda: running.served_since(mark) > 50, what="requests after the replacement")
    running.stop()
    assert running.failures, "killing a worker under load loses its in-flight requests"
    # With a listener per worker, a connection the kernel queued on the victim's own listener
    # dies with it before any answer: its client has no pid to name (None), if it never had one.
    allowed = {victim, None} if mode == "--reuse-port" else {victim}
    assert {pid for pid, _error in running.failures} <= allowed, running.failures
    assert stop(process) == 0


def test_a_worker_that_keeps_dying_is_restarted_with_a_growing_back_off(
    serve_workers: Callable,
) -> None:
    process = serve_workers(APP, "--workers", "1", "--max-requests", "1000000")
    seen: set[str] = set()
    for delay in ("0.0", "0.5", "1.0"):  # at once, then 0.5 s doubling (capped at 10 s)
        wait_for(lambda: _answer(process.port) not in (None, *seen), what="a new worker")
        victim = _answer(process.port)
        assert victim is not None
        seen.add(victim)
        os.kill(int(victim), signal.SIGKILL)
        process.wait_for_stderr(
            f"Worker [{victim}] died (signal SIGKILL): restarting it in {delay}s"
        )
    wait_for(lambda: _answer(process.port) not in (None, *seen), what="the last replacement")
    assert stop(process) == 0


def test_a_hung_worker_is_killed_and_replaced(serve_workers: Callable) -> None:
    process = serve_workers(
        APP, "--workers", "1", "--max-requests", "1000000", "--timeout-worker-healthcheck", "0.5"
    )
    _status, first = get(process.port)
    blocked = threading.Thread(target=lambda: _swallow(lambda: get(process.port, "/block")))
    blocked.start()
    process.wait_for_stderr(f"Worker [{first}] is not responding: killing it")
    wait_for(lambda: _answer(process.port) not in (None, first), what="a new worker answering")
    blocked.join(10)
    assert stop(process) == 0


def _swallow(function: Callable[[], object]) -> None:
    try:
        function()
    except (OSError, http.client.HTTPException):
        pass


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _answer(port: int) -> str | None:
    try:
        return get(port, timeout=1)[1]
    except (OSError, http.client.HTTPException):
        return None


@pytest.mark.parametrize(
    ("app", "code", "message"),
    [
        pytest.param(
            "apps.broken:app",
            3,
            'Error: importing "apps.broken" raised RuntimeError: broken on purpose',
            id="import_error_exits_3",
        ),
        pytest.param(
            "apps.pids:nope",
            2,
            'Error: attribute "nope" not found in module "apps.pids"',
            id="missing_app_exits_2",
        ),
    ],
)
def test_a_worker_failing_at_startup_stops_the_server(app: str, code: int, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sailfish", app, "--app-dir", str(HERE), "--port", "0"]
        + ["--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines()[-1] == message
    assert "failed to start: stopping" in result.stderr
    if code == 3:
        assert "RuntimeError: broken on purpose" in result.stderr  # the app's traceback


# -- replacements ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sighup_restarts_every_worker_under_load_without_a_failure(
    serve_workers: Callable, load: Callable[..., Load], mode: str
) -> None:
    process = serve_workers(APP, "--workers", "2", mode)
    before = set(held_pids(process.port, 16))
    running = load(process.port, clients=6)
    wait_for(lambda: running.ok > 50, what="the load under way")
    os.kill(process.popen.pid, signal.SIGHUP)
    process.wait_for_stderr("stopped (exit code 0)", count=2, timeout=10)
    after = set(held_pids(process.port, 16))
    assert len(after) == 2 and not after & before
    log = process.stderr
    for old in before:  # each successor served before its predecessor began to drain
        assert log.index(f"in place of [{old}]") < log.index(f"Worker [{old}] stopped"), log
    mark = running.ok
    wait_for(lambda: running.served_since(mark) > 50, what="requests after the restart")
    running.stop()
    assert running.failures == []
    assert set(running.pids) & before and set(running.pids) & after
    assert stop(process) == 0


def test_max_requests_recycles_workers_under_load_without_a_failure(
    serve_workers: Callable, load: Callable[..., Load]
) -> None:
    process = serve_workers(
        APP, "--workers", "2", "--max-requests", "200", "--max-requests-jitter", "20"
    )
    running = load(process.port)
    process.wait_for_stderr("(--max-requests 2", count=3, timeout=20)
    process.wait_for_stderr("stopped (exit code 0)", count=3, timeout=10)
    running.stop()
    assert running.failures == []
    assert len(running.pids) >= 4  # two first workers, then their successors
    limits = [int(n) for n in re.findall(r"\(--max-requests (\d+)\)", process.stderr)]
    assert limits and all(200 <= limit <= 220 for limit in limits), limits  # with the jitter
    assert stop(process) == 0


@pytest.mark.parametrize(
    ("flags", "cause"),
    [
        pytest.param(("--worker-lifetime", "0.3"), "(--worker-lifetime 0.3s)", id="lifetime"),
        pytest.param(("--max-worker-memory", "1"), "(--max-worker-memory 1 MiB)", id="memory"),
    ],
)
def test_lifetime_and_memory_recycle_the_worker_without_a_failure(
    serve_workers: Callable, load: Callable[..., Load], flags: tuple[str, str], cause: str
) -> None:
    process = serve_workers(APP, "--workers", "1", *flags)
    running = load(process.port, clients=2)
    process.wait_for_stderr(cause, count=2, timeout=10)
    process.wait_for_stderr("stopped (exit code 0)", count=1, timeout=10)
    running.stop()
    assert running.failures == []
    assert len(running.pids) >= 2
    assert stop(process) == 0


@pytest.mark.parametrize("mode", MODES)
def test_sigttin_adds_and_sigttou_removes_a_worker(serve_workers: Callable, mode: str) -> None:
    process = serve_workers(APP, "--workers", "2", mode)
    os.kill(process.popen.pid, signal.SIGTTIN)
    wait_for(lambda: len(set(held_pids(process.port, 24))) == 3, what="three workers")
    os.kill(process.popen.pid, signal.SIGTTOU)
    process.wait_for_stderr("stopped (exit code 0)")
    assert len(set(held_pids(process.port, 24))) == 2
    os.kill(process.popen.pid, signal.SIGTTOU)
    process.wait_for_stderr("stopped (exit code 0)", count=2)
    os.kill(process.popen.pid, signal.SIGTTOU)
    process.wait_for_stderr("SIGTTOU: not removing the last worker")
    assert len(set(held_pids(process.port, 4))) == 1
    assert stop(process) == 0


# -- reload ------------------------------------------------------------------------------------


def test_reload_restarts_the_worker_when_a_file_changes(
    serve_workers: Callable, tmp_path: Path
) -> None:
    pytest.importorskip("watchfiles")
    module = tmp_path / "reloaded.py"
    module.write_text(_answering("one"), encoding="utf-8")
    process = serve_workers(
        "reloaded:app", "--app-dir", str(tmp_path), "--reload", "--reload-dir", str(tmp_path)
    )
    assert get(process.port)[1] == "one"
    process.wait_for_stderr("Will watch for changes in:")
    module.write_text(_answering("two"), encoding="utf-8")
    wait_for(lambda: _answer(process.port) == "two", timeout=10, what="the edited app")
    assert "Detected changes in" in process.stderr
    assert process.stderr.count("Started supervisor process") == 1  # only the worker restarted
    (tmp_path / "notes.txt").write_text("not a python file", encoding="utf-8")
    assert stop(process) == 0
    assert process.stderr.count("Detected changes in") == 1


def test_an_edit_that_breaks_the_app_leaves_the_last_good_worker_serving(
    serve_workers: Callable, tmp_path: Path
) -> None:
    pytest.importorskip("watchfiles")
    module = tmp_path / "reloaded.py"
    module.write_text(_answering("one"), encoding="utf-8")
    process = serve_workers(
        "reloaded:app", "--app-dir", str(tmp_path), "--reload", "--reload-dir", str(tmp_path)
    )
    assert get(process.port) == (200, "one")
    process.wait_for_stderr("Will watch for changes in:")
    module.write_text("raise RuntimeError('half-edited')\n", encoding="utf-8")
    process.wait_for_stderr("keeps serving", timeout=15)
    assert "RuntimeError: half-edited" in process.stderr  # the new worker's error, logged
    assert get(process.port) == (200, "one")  # the old worker, still serving
    module.write_text(_answering("two"), encoding="utf-8")
    wait_for(lambda: _answer(process.port) == "two", timeout=15, what="the fixed app")
    assert stop(process) == 0


def _answering(text: str) -> str:
    return (
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        f"    await send({{'type': 'http.response.body', 'body': b'{text}'}})\n"
    )


def test_reload_without_watchfiles_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sailfish import supervisor
    from sailfish.config import Config
    from sailfish.errors import ConfigError

    real = supervisor.importlib.util.find_spec
    monkeypatch.setattr(
        supervisor.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "watchfiles" else real(name, *args),
    )
    with pytest.raises(ConfigError, match=r"--reload needs watchfiles: pip install"):
        supervisor.run(Config.from_options("m:a", reload=True, port=0))


def test_reload_dir_that_is_missing_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    from sailfish import supervisor
    from sailfish.config import Config
    from sailfish.errors import ConfigError

    missing = tmp_path / "missing"
    config = Config.from_options("m:a", reload=True, reload_dirs=[str(tmp_path), str(missing)])
    with pytest.raises(ConfigError, match=f"--reload-dir {missing} is not a directory"):
        supervisor.run(config)


# -- sockets and files -------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "2"])
def test_systemd_socket_activation(workers: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    fd = listener.fileno()
    command = (
        f'LISTEN_PID=$$ LISTEN_FDS=1 exec "{sys.executable}" -m sailfish {APP} '
        f'--app-dir "{HERE}" --workers {workers} 3<&{fd}'
    )
    popen = subprocess.Popen(
        ["bash", "-c", command], pass_fds=(fd,), cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    listener.close()  # the server holds it now
    answered = poll_until(lambda: _answer(port) is not None, START_TIMEOUT)
    popen.send_signal(signal.SIGTERM)
    _out, err = popen.communicate(timeout=15)
    assert answered, err
    assert popen.returncode == 0, err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_uds_mode_and_pid_file(tmp_path: Path, short_dir: Path, workers: str) -> None:
    path = short_dir / "s.sock"
    pid_file = tmp_path / "server.pid"
    popen = subprocess.Popen(
        [sys.executable, "-m", "sailfish", APP, "--app-dir", str(HERE), "--uds", str(path)]
        + ["--uds-mode", "660", "--pid-file", str(pid_file), "--workers", workers],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: _unix_answer(path) is not None, timeout=START_TIMEOUT, what="the unix socket"
        )
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert pid_file.read_text().strip() == str(popen.pid)
    finally:
        popen.send_signal(signal.SIGTERM)
        _out, err = popen.communicate(timeout=15)
    assert popen.returncode == 0, err
    assert not pid_file.exists()
    assert not path.exists()


def _unix_answer(path: Path) -> bytes | None:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data if data.startswith(b"HTTP/1.1 200") else None
    except OSError:
        return None


def test_workers_serve_tls(serve_workers: Callable, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    process = serve_workers(APP, "--workers", "2", "--ssl-certfile", str(cert))
    assert f"Listening on https://127.0.0.1:{process.port}" in process.stderr
    context = ssl.create_default_context()
    ca.configure_trust(context)
    pids = set()
    for _ in range(8):
        conn = http.client.HTTPSConnection("127.0.0.1", process.port, timeout=5, context=context)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200
            pids.add(int(response.read()))
        finally:
            conn.close()
    assert pids and process.popen.pid not in pids  # the workers answered, over TLS
    assert stop(process) == 0


def test_workers_read_a_proxy_header_before_tls(serve_workers: Callable, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    process = serve_workers(
        APP,
        "--workers",
        "2",
        "--ssl-certfile",
        str(cert),
        "--proxy-protocol",
        "--forwarded-allow-ips",
        "127.0.0.1",
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    raw = socket.create_connection(("127.0.0.1", process.port), timeout=5)
    raw.sendall(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200")
    assert stop(process) == 0
    access = "".join(process.stdout_lines)
    assert '192.0.2.1:56324 - "GET / HTTP/1.1" 200' in access  # the header's client
