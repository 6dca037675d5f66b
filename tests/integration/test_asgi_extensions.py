"""The ASGI extensions through a real server, real sockets and real clients.

Strategy: curl --raw shows the wire (103 Early Hints, trailers after the last chunk); httpx
must read the same responses as plain ones; real Starlette must pick `http.response.pathsend`
when the server advertises it and get the file through intact on both event loops; and a
server process serving a large file to a reader that stalls keeps its memory flat (its RSS,
read from /proc, stays far below the file's size). Every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps.files import make_app
from integ_helpers import Conn, request

from system import require_program

Serve = Callable[..., Any]
LINK = b"</style.css>; rel=preload; as=style"


async def hints_and_trailers(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.early_hint", "links": [LINK]})
    await send({"type": "http.response.early_hint", "links": [b"</app.js>; rel=preload"]})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"trailer", b"x-checksum")],
            "trailers": True,
        }
    )
    await send({"type": "http.response.body", "body": b"hello ", "more_body": True})
    await send({"type": "http.response.body", "body": b"world"})
    await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})


def test_curl_sees_early_hints_and_trailers(serve: Serve, loop_name: str) -> None:
    curl = require_program("curl")
    running = serve(hints_and_trailers, loop=loop_name)
    out = subprocess.run(
        [curl, "-sS", "--raw", "-i", "--max-time", "10", running.url + "/"],
        capture_output=True,
        check=True,
        timeout=20,
    ).stdout
    assert out.startswith(
        b"HTTP/1.1 103 Early Hints\r\nlink: " + LINK + b"\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </app.js>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\n"
    )
    assert out.endswith(b"\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\nx-checksum: abc\r\n\r\n")


def test_httpx_reads_the_response_past_hints_and_trailers(serve: Serve) -> None:
    running = serve(hints_and_trailers)
    with httpx.Client(timeout=5) as client:
        for _ in range(2):  # the connection is reused after the trailers
            response = client.get(running.url + "/")
            assert response.status_code == 200 and response.text == "hello world"
            assert response.headers["trailer"] == "x-checksum"


def test_http10_client_gets_no_hint_and_no_trailers(serve: Serve) -> None:
    running = serve(hints_and_trailers)
    with Conn(running.port) as conn:
        conn.send(b"GET / HTTP/1.0\r\n\r\n")
        data = conn.read_until_closed()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"103" not in data.split(b"\r\n")[0]
    assert data.endswith(b"\r\n\r\nhello world")


def test_starlette_send_early_hints_reaches_the_client(serve: Serve) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def page(request: Request) -> PlainTextResponse:
        await request.send_early_hints("</style.css>; rel=preload; as=style")
        return PlainTextResponse("page")

    running = serve(Starlette(routes=[Route("/", page)]))
    with Conn(running.port) as conn:
        conn.send(request("GET", "/", [("Connection", "close")]))
        data = conn.read_until_closed()
    assert data.startswith(b"HTTP/1.1 103 Early Hints\r\nlink: " + LINK + b"\r\n\r\n")
    assert data.endswith(b"\r\n\r\npage")


@pytest.fixture
def served_file(tmp_path: Path) -> Path:
    path = tmp_path / "file.bin"
    path.write_bytes(os.urandom(3 << 20))
    return path


def test_starlette_file_response_uses_pathsend(
    serve: Serve, loop_name: str, served_file: Path
) -> None:
    app, sent = make_app(str(served_file))
    running = serve(app, loop=loop_name)
    with httpx.Client(timeout=10) as client:
        response = client.get(running.url + "/file")
        assert response.content == served_file.read_bytes()
        assert response.headers["content-length"] == str(3 << 20)
        assert client.get(running.url + "/small").text == "ok"  # same connection, next request
    responses = [kind for kind in sent if kind.startswith("http.")]
    assert responses[:2] == ["http.response.start", "http.response.pathsend"]


def test_starlette_file_response_to_http10(serve: Serve, served_file: Path) -> None:
    app, sent = make_app(str(served_file))
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(b"GET /file HTTP/1.0\r\n\r\n")
        response = conn.read_response()
    assert response.body == served_file.read_bytes()
    assert "http.response.pathsend" in sent


def test_missing_file_behind_pathsend_is_a_500(serve: Serve, tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / "gone")})

    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 500


# -- memory while a slow reader gets a large file ----------------------------------------------

LARGE = 256 << 20
STALL = 1.0  # seconds the reader reads nothing, with most of the file still to come
BOUND = 32 << 20  # the server's RSS may grow by at most this much (the file is 8 times that)


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads RSS from /proc")
def test_large_file_to_a_slow_reader_keeps_memory_flat(
    serve_process: Callable[..., Any], tmp_path: Path, loop_name: str
) -> None:
    path = tmp_path / "large.bin"
    with open(path, "wb") as file:
        file.truncate(LARGE)  # sparse: no disk, no time to write it
    process = serve_process(
        "apps.files:app", "--loop", loop_name, env={"SAILFISH_TEST_FILE": str(path)}
    )
    pid = process.popen.pid
    with httpx.Client(timeout=5) as client:
        assert client.get(process.url + "/small").text == "ok"  # warm: imports, first request
    baseline = rss(pid)

    sock = socket.create_connection(("127.0.0.1", process.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    with sock:
        sock.sendall(request("GET", "/file", [("Connection", "close")]))
        received = len(sock.recv(65536))
        peak = baseline
        deadline = time.monotonic() + STALL
        while time.monotonic() < deadline:  # the stall: the server can only buffer
            peak = max(peak, rss(pid))
            time.sleep(0.05)
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
            if received % (32 << 20) < (1 << 20):
                peak = max(peak, rss(pid))
    assert received > LARGE  # the head and every byte of the file
    assert peak - baseline < BOUND, f"RSS grew by {(peak - baseline) >> 20} MiB"
