"""Real clients against a real server: http.client, httpx (sync and async), curl.

The core subset (GET, POST, keep-alive reuse, streaming, large bodies) runs on both event
loops through the `loop_name` fixture.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from apps.raw import RawApp, pattern
from integ_helpers import assert_bytes, wait_for

TIMEOUT = 5.0
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


@pytest.fixture
def raw_server(serve: Callable[..., Any], loop_name: str) -> Any:
    return serve(RawApp(), loop=loop_name)


# -- http.client -----------------------------------------------------------------------------------


def test_http_client_get_and_post_on_one_connection(raw_server: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", raw_server.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/hello?x=1&y=%20z")
        response = conn.getresponse()
        assert response.status == 200
        assert response.reason == "OK"
        assert response.read() == b"hello /hello?x=1&y=%20z"
        assert response.getheader("server") == "sailfish"
        assert response.getheader("date")
        assert response.getheader("content-length") == str(len(b"hello /hello?x=1&y=%20z"))
        first_sock = conn.sock

        body = b"a=1&b=" + b"x" * 5000
        conn.request("POST", "/echo", body=body, headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == body
        assert response.getheader("x-body-sha256") == hashlib.sha256(body).hexdigest()
        assert conn.sock is first_sock, "the keep-alive connection was not reused"
    finally:
        conn.close()


def test_http_client_chunked_upload(raw_server: Any) -> None:
    parts = [b"alpha-", b"beta-" * 1000, b"gamma"]
    conn = http.client.HTTPConnection("127.0.0.1", raw_server.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/echo", body=iter(parts), encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"".join(parts)
    finally:
        conn.close()


def test_http_client_chunked_response(raw_server: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", raw_server.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/stream?n=4")
        response = conn.getresponse()
        assert response.getheader("transfer-encoding") == "chunked"
        assert response.read() == b"part 0\npart 1\npart 2\npart 3\n"
        conn.request("HEAD", "/hello")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b""  # no body bytes, whatever the app sent
        conn.request("GET", "/after-head")
        response = conn.getresponse()
        assert response.read() == b"hello /after-head"  # the connection is still in sync
    finally:
        conn.close()


# -- httpx -----------------------------------------------------------------------------------------


def test_httpx_sync_keep_alive_many_requests(raw_server: Any) -> None:
    with httpx.Client(base_url=raw_server.url, timeout=TIMEOUT) as client:
        for i in range(50):
            response = client.get(f"/n/{i}", params={"q": str(i)})
            assert response.status_code == 200
            assert response.text == f"hello /n/{i}?q={i}"
        response = client.post("/echo", content=b"\x00\xff" * 1000)
        assert response.content == b"\x00\xff" * 1000
    state = raw_server.server.server_state
    assert wait_for(lambda: state.total_requests == 51, timeout=2)


def test_httpx_sync_large_upload_and_download(raw_server: Any) -> None:
    upload = pattern(5 * 1024 * 1024 + 7)
    with httpx.Client(base_url=raw_server.url, timeout=TIMEOUT) as client:
        response = client.post("/echo", content=upload)
        assert response.status_code == 200
        assert response.headers["x-body-length"] == str(len(upload))
        assert response.headers["x-body-sha256"] == hashlib.sha256(upload).hexdigest()
        assert_bytes(response.content, upload)
        response = client.get("/big", params={"n": str(10 * 1024 * 1024)})
        assert_bytes(response.content, pattern(10 * 1024 * 1024))


def test_httpx_async_concurrent_requests(raw_server: Any) -> None:
    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(
            base_url=raw_server.url, timeout=TIMEOUT, limits=limits
        ) as client:
            return await asyncio.gather(
                *(client.get("/slow", params={"t": "0.05", "i": str(i)}) for i in range(40))
            )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 40
    assert all(r.text == "done" for r in responses)


def test_httpx_async_streaming_upload(raw_server: Any) -> None:
    async def body() -> Any:
        for i in range(20):
            yield b"%04d" % i
            await asyncio.sleep(0.001)

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(base_url=raw_server.url, timeout=TIMEOUT) as client:
            return await client.post("/echo", content=body())

    response = asyncio.run(main())
    assert response.status_code == 200
    assert response.content == b"".join(b"%04d" % i for i in range(20))


# -- curl ------------------------------------------------------------------------------------------


def curl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--max-time", "5", *args],
        input=data,
        capture_output=True,
        timeout=10,
        check=False,
    )


@needs_curl
def test_curl_get_and_headers(raw_server: Any) -> None:
    result = curl("-i", f"{raw_server.url}/hi?there=1")
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nserver: sailfish\r\n" in head.lower()
    assert body == b"hello /hi?there=1"


@needs_curl
def test_curl_post_with_expect_continue(raw_server: Any) -> None:
    data = b"y" * 200_000
    result = curl(
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        "4",
        "--data-binary",
        "@-",
        "-w",
        "\n%{http_code} %{time_total}",
        f"{raw_server.url}/echo",
        data=data,
    )
    assert result.returncode == 0, result.stderr
    body, _, tail = result.stdout.rpartition(b"\n")
    code, elapsed = tail.split()
    assert code == b"200"
    assert body == data
    # curl waited for a real 100 Continue, not for its 4 s expect100 timeout.
    assert float(elapsed) < 3.0


@needs_curl
def test_curl_chunked_upload_and_keep_alive(raw_server: Any) -> None:
    result = curl(
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "@-",
        f"{raw_server.url}/echo",
        "--next",
        f"{raw_server.url}/second",
        "-w",
        "\n%{num_connects}",
        data=b"chunky" * 1000,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"chunky" * 1000)
    assert result.stdout.endswith(b"hello /second\n0"), (
        "the second request did not reuse the connection"
    )


def test_server_options_shape_the_response_headers(serve: Any) -> None:
    running = serve(
        RawApp(),
        headers=["x-served-by: sailfish-test", "x-extra:1"],
        server_header=False,
        date_header=False,
    )
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/h")
        response = conn.getresponse()
        assert response.read() == b"hello /h"
        names = [name.lower() for name, _ in response.getheaders()]
        assert "server" not in names
        assert "date" not in names
        assert response.getheader("x-served-by") == "sailfish-test"
        assert response.getheader("x-extra") == "1"
    finally:
        conn.close()
