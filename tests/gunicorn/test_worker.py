"""`gunicorn -k sailfish.gunicorn.Worker`: a real gunicorn arbiter running sailfish workers.

Strategy: each test starts `python -m gunicorn -w 1` on 127.0.0.1 and a port picked by binding
127.0.0.1:0 first (gunicorn cannot report a port it chose), with a small ASGI app written to
tmp_path that answers with its worker pid. Requests go through http.client. Every wait is
bounded; every process is ended through its own pid (SIGTERM to the arbiter we started, then
SIGKILL if it outlives the bound); the arbiter's log is printed when a test fails.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("gunicorn")
if sys.platform == "win32":  # pragma: no cover
    pytest.skip("gunicorn runs on POSIX only", allow_module_level=True)

from gunicorn.config import KNOWN_SETTINGS  # noqa: E402

from waiting import poll_until, wait_for  # noqa: E402

APP = """
import asyncio
import os
import sys


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        print("arrived /slow", file=sys.stderr, flush=True)  # the test waits for this line
        await asyncio.sleep(1.0)
    body = f"pid={os.getpid()} path={scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"x-scheme", scope["scheme"].encode()),
                            (b"x-tls", b"yes" if "tls" in scope["extensions"] else b"no")]})
    await send({"type": "http.response.body", "body": body})
"""

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gunicorn:
    """One arbiter process started by a test, and what it printed."""

    def __init__(
        self, tmp_path: Path, *options: str, context: ssl.SSLContext | None = None
    ) -> None:
        self.context = context  # the client's, for a server started with --certfile
        (tmp_path / "gapp.py").write_text(APP)
        self.port = _free_port()
        self.log_path = tmp_path / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "-k", "sailfish.gunicorn.Worker", "-w", "1"]
        command += ["-b", f"127.0.0.1:{self.port}", "--chdir", str(tmp_path)]
        command += ["--access-logfile", "-", "--graceful-timeout", "5", *options]
        if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
            command.append("--no-control-socket")  # gunicorn >= 25 would write under $HOME
        command.append("gapp:app")
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_listening()

    def _wait_listening(self) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited at startup:\n{self.output()}")
            try:
                return self.get("/")[0] == 200
            except OSError:
                return False  # not listening yet

        if not poll_until(answers, START_TIMEOUT, interval=0.05):
            raise AssertionError(
                f"gunicorn did not answer within {START_TIMEOUT}s:\n{self.output()}"
            )

    def connect(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        if self.context is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.context
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        connection = self.connect(timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM to the arbiter we started; SIGKILL if it outlives STOP_TIMEOUT."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self.log.close()
        return self.process.returncode


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    started: list[Gunicorn] = []

    def factory(*options: str, context: ssl.SSLContext | None = None) -> Gunicorn:
        server = Gunicorn(tmp_path, *options, context=context)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def _pid(body: str) -> int:
    return int(body.split()[0].removeprefix("pid="))


def test_serves_requests_and_logs_to_gunicorn(start: Callable[..., Gunicorn]) -> None:
    server = start()
    status, body = server.get("/hello?x=1")
    assert status == 200
    assert body.endswith("path=/hello")
    assert _pid(body) != server.process.pid  # answered by the worker, not the arbiter
    # Keep-alive: two requests on one connection.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(2):
            connection.request("GET", "/again")
            response = connection.getresponse()
            assert response.status == 200
            assert response.headers["server"] == "sailfish"
            response.read()
    finally:
        connection.close()
    assert server.stop() == 0
    output = server.output()
    assert "Booting worker" in output  # gunicorn's own log
    assert "Listening on http://127.0.0.1:" in output  # sailfish.error -> gunicorn's error log
    assert '"GET /hello?x=1 HTTP/1.1" 200' in output  # sailfish.access -> --access-logfile


def test_access_logformat_is_honoured(start: Callable[..., Gunicorn]) -> None:
    server = start("--access-logformat", 'fmt %(m)s "%(U)s" %(s)s %(p)s %({x-id}i)s')
    connection = server.connect()
    try:
        connection.request("GET", "/formatted?q=1", headers={"X-ID": "id-9"})
        response = connection.getresponse()
        worker = _pid(response.read().decode())
    finally:
        connection.close()
    assert server.stop() == 0
    assert f'fmt GET "/formatted" 200 <{worker}> id-9' in server.output().splitlines()


def test_sigterm_finishes_the_request_in_flight_then_exits(start: Callable[..., Gunicorn]) -> None:
    server = start()
    result: dict[str, object] = {}

    def slow_request() -> None:
        try:
            result["response"] = server.get("/slow")
        except OSError as exc:  # pragma: no cover - reported by the assertion below
            result["error"] = exc

    client = threading.Thread(target=slow_request)
    client.start()
    wait_for(lambda: "arrived /slow" in server.output(), 10, "the request to reach the app")
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    client.join(STOP_TIMEOUT)
    returncode = server.process.wait(STOP_TIMEOUT)
    elapsed = time.monotonic() - began
    status, body = result.get("response", (0, ""))  # type: ignore[misc]
    assert status == 200, (result, server.output())
    assert body.endswith("path=/slow")
    assert returncode == 0, server.output()
    assert elapsed < 5.0, server.output()  # well inside --graceful-timeout 5 + the SIGKILL


def test_max_requests_restarts_the_worker(start: Callable[..., Gunicorn]) -> None:
    server = start("--max-requests", "3")  # the startup probe was request 1
    first = {_pid(server.get(f"/{n}")[1]) for n in range(2)}
    assert len(first) == 1
    pid = next(iter(first))
    pids: list[int] = []

    def replaced() -> bool:
        try:
            status, body = server.get("/after")
        except OSError:
            return False  # between the old worker's exit and the new one's start
        assert status == 200
        pids.append(_pid(body))
        return pids[-1] != pid

    if not poll_until(replaced, START_TIMEOUT, interval=0.05):
        raise AssertionError(f"the worker was not replaced:\n{server.output()}")
    assert "Maximum request limit of 3 exceeded" in server.output()
    assert os.getpid() not in (pid, pids[-1])


def test_tls_from_gunicorns_certfile_and_keyfile(
    start: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    server = start(
        *("--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")),
        context=context,
    )
    connection = server.connect()
    try:
        connection.request("GET", "/secure")
        response = connection.getresponse()
        assert response.status == 200
        assert response.read().decode().endswith("path=/secure")
        assert response.headers["x-scheme"] == "https"
        assert response.headers["x-tls"] == "yes"
    finally:
        connection.close()
    assert "Listening on https://127.0.0.1:" in server.output()


def test_mutual_tls_from_gunicorns_ca_certs_and_cert_reqs(
    start: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    ca.issue_cert("client@example.org").configure_cert(context)
    server = start(
        *("--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")),
        *("--ca-certs", str(tmp_path / "ca.pem"), "--cert-reqs", str(int(ssl.CERT_REQUIRED))),
        context=context,
    )
    assert server.get("/with-certificate")[0] == 200
    anonymous = ssl.create_default_context()
    ca.configure_trust(anonymous)
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=anonymous)
    try:
        with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
            connection.request("GET", "/anonymous")  # TLS 1.3: the alert may come on the read
            connection.getresponse()
    finally:
        connection.close()
