"""What sailfish does where POSIX is missing (Windows) or differs (macOS), tested on Linux.

Strategy: Windows' event loop (the proactor) cannot watch descriptors or install signal
handlers, and Windows has no os.sendfile, os.pread, os.fork or unix sockets; macOS's
SO_REUSEPORT does not balance. `apps.windows_loop` is a loop with the proactor's gaps, and the
missing functions are monkeypatched away, so the fallbacks run here: the server must serve
HTTP, files, WebSocket and WSGI and stop on Ctrl+C, and what cannot work must fail with one
readable line. The wheels workflow runs the whole suite on real Windows and macOS as well.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integ_helpers import Conn, request

from sailfish import cli, protocols, supervisor
from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.server import Server

websockets_sync = pytest.importorskip("websockets.sync.client")

HERE = Path(__file__).parent
WINDOWS_LOOP = "apps.windows_loop:new_loop"
Serve = Callable[..., Any]


@pytest.fixture
def no_posix_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.sendfile and os.pread gone, as on Windows (and the WSGI protocol's import-time
    view of them)."""
    monkeypatch.delattr(os, "sendfile", raising=False)
    monkeypatch.delattr(os, "pread", raising=False)
    monkeypatch.setattr(protocols.wsgi, "SENDFILE", False)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(300_000))  # more than one read slice
    return path


def file_app(path: Path, positions: list[int]) -> Any:
    """/path: pathsend; /zero: zerocopysend from offset 1000 (recording the file's position
    after it, which must not move); /ws: a WebSocket echo; else "hello"."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                await send({"type": "websocket.send", "text": message.get("text")})
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/path":
            await send({"type": "http.response.pathsend", "path": str(path)})
        elif scope["path"] == "/zero":
            with open(path, "rb") as file:
                file.seek(7)
                await send({"type": "http.response.zerocopysend", "file": file, "offset": 1000})
                positions.append(file.tell())
        else:
            await send({"type": "http.response.body", "body": b"hello"})

    return app


def test_serves_files_and_websocket_on_a_loop_like_windows(
    serve: Serve, data_file: Path, no_posix_files: None
) -> None:
    positions: list[int] = []
    running = serve(file_app(data_file, positions), loop=WINDOWS_LOOP)
    data = data_file.read_bytes()
    with Conn(running.port) as conn:
        conn.send(request(target="/"))
        assert conn.read_response().body == b"hello"
        conn.send(request(target="/path"))
        assert conn.read_response().body == data  # read and written: no sendfile here
        conn.send(request(target="/zero"))
        assert conn.read_response().body == data[1000:]
    assert positions == [7]  # the fallback without pread puts the position back
    with websockets_sync.connect(f"ws://127.0.0.1:{running.port}/ws") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"


def test_sendfile_on_a_loop_that_cannot_watch_the_socket_falls_back(
    serve: Serve, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os.sendfile exists but the socket is full: waiting for it needs add_writer, which this
    # loop lacks, so the rest of the file is read and written.
    calls: list[int] = []

    def full_socket(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append(count)
        raise BlockingIOError

    monkeypatch.setattr(os, "sendfile", full_socket, raising=False)
    running = serve(file_app(data_file, []), loop=WINDOWS_LOOP)
    with Conn(running.port) as conn:
        for _ in range(2):  # the connection stays usable
            conn.send(request(target="/path"))
            assert conn.read_response().body == data_file.read_bytes()
    assert len(calls) == 2


def test_wsgi_file_wrapper_on_a_loop_like_windows(
    serve: Serve, data_file: Path, no_posix_files: None
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(data_file, "rb"))  # noqa: SIM115

    running = serve(app, interface="wsgi", loop=WINDOWS_LOOP)
    with Conn(running.port) as conn:
        conn.send(request(target="/"))
        assert conn.read_response().body == data_file.read_bytes()


@pytest.mark.posix_only("os.sendfile")
def test_wsgi_file_wrapper_falls_back_when_sendfile_refuses_the_socket(
    serve: Serve, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # macOS refuses some sockets (ENOTSOCK), some file systems refuse files (EINVAL): before
    # the first byte, the wrapper's own iteration sends the body.
    refused: list[int] = []

    def refusing_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        refused.append(count)
        raise OSError(95, "Operation not supported")  # EOPNOTSUPP

    monkeypatch.setattr(os, "sendfile", refusing_sendfile, raising=False)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        file = open(data_file, "rb")  # noqa: SIM115 - the wrapper closes it
        file.seek(1000)
        return environ["wsgi.file_wrapper"](file)

    running = serve(app, interface="wsgi")
    data = data_file.read_bytes()
    with Conn(running.port) as conn:
        for _ in range(2):  # the connection stays usable
            conn.send(request(target="/"))
            response = conn.read_response()
            assert response.header("content-length") == str(len(data) - 1000)
            assert response.body == data[1000:]
    assert refused == [len(data) - 1000] * 2


@pytest.mark.parametrize("loop", ["auto", WINDOWS_LOOP], ids=["default_loop", "windows_like"])
def test_ctrl_c_stops_the_server_gracefully(serve_process: Callable[..., Any], loop: str) -> None:
    # Ctrl+C (Ctrl+Break on Windows, where the default loop is the proactor): a loop without
    # add_signal_handler gets signal.signal() handlers instead.
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    process = serve_process("apps.raw:app", "--loop", loop, env={"PYTHONPATH": path})
    with Conn(process.port) as conn:
        conn.send(request())
        assert conn.read_response().status == 200
    process.interrupt()
    assert process.wait(10) == 0
    assert "Application shutdown complete." in process.stderr
    assert "Finished server process" in process.stderr


def test_proxy_protocol_before_tls_on_a_loop_like_windows_is_one_line(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    cert = tmp_path / "server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    started: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            started.append("lifespan")  # must not happen: the check comes first
        await receive()

    config = Config.from_options(
        app,
        host="127.0.0.1",
        port=0,
        ssl_certfile=str(cert),
        proxy_protocol=True,
        forwarded_allow_ips="127.0.0.1",
        loop=WINDOWS_LOOP,
        log_config={"version": 1, "disable_existing_loggers": False},
    )
    server = Server(config)
    with pytest.raises(StartupError, match=r"--loop asyncio:SelectorEventLoop$"):
        server.run()
    assert started == []
    assert all(sock.fileno() == -1 for sock in server.sockets)  # closed


def test_proxy_protocol_before_tls_runs_on_a_selector_loop(serve: Serve, tmp_path: Path) -> None:
    # What the error above suggests works: the stdlib selector loop named by --loop.
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = tmp_path / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    running = serve(
        file_app(cert, []),
        ssl_certfile=str(cert),
        proxy_protocol=True,
        forwarded_allow_ips="127.0.0.1",
        loop="asyncio:SelectorEventLoop",
    )
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
        raw.sendall(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
        with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(request(headers=[("Connection", "close")]))
            received = b""
            while chunk := tls.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"hello")


def test_workers_without_fork_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delattr(os, "fork", raising=False)
    with pytest.raises(ConfigError, match=r"^--workers, --reload and worker recycling need"):
        supervisor.run(Config.from_options("apps.raw:app", workers=2))
    assert cli.main(["apps.raw:app", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "need os.fork()" in err[0]


def test_unix_sockets_on_windows_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(ConfigError, match=r"^--uds is not supported on Windows$"):
        Config.from_options("apps.raw:app", uds="server.sock").validate()


@pytest.mark.parametrize("platform", ["darwin", "freebsd14"])
def test_reuse_port_off_linux_shares_the_sockets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, platform: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    with caplog.at_level(logging.WARNING, "sailfish.error"):
        assert supervisor.reuse_port_wanted(True) is False
    assert f"--reuse-port is Linux-only (on {platform} SO_REUSEPORT" in caplog.text
    caplog.clear()
    assert supervisor.reuse_port_wanted(False) is False
    assert caplog.text == ""


def test_reuse_port_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert supervisor.reuse_port_wanted(True) is True
