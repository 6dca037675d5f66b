"""WSGIMiddleware: a WSGI app inside an ASGI app, under sailfish and under uvicorn.

Strategy: the WSGI side is the same machinery as --interface wsgi (tested in test_wsgi.py);
here what is the middleware's own: a slow WSGI app leaves the event loop free (an ASGI route
on the same server keeps answering while it blocks), body and streamed responses through
receive()/send(), close() after a disconnect, 500 before start, lifespan, and the same app
under another ASGI server (uvicorn, asyncio loop, h11). Apps are wrapped in the validator.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest
from integ_helpers import Conn, request, wait_for

from sailfish.wsgi import WSGIMiddleware

Serve = Callable[..., Any]
TIMEOUT = 5.0


def make_app() -> tuple[Any, threading.Event, threading.Event, threading.Event]:
    """An ASGI router: /health in ASGI, everything else a WSGI app mounted with the middleware.

    Returns the app and three events: the slow WSGI route started, may finish, was closed.
    """
    started, release, closed = threading.Event(), threading.Event(), threading.Event()

    class Body:
        def __init__(self, chunks: Iterator[bytes]) -> None:
            self.chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            return self.chunks

        def close(self) -> None:
            closed.set()

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path == "/slow":
            started.set()
            assert release.wait(TIMEOUT)
        if path == "/echo":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return Body(iter([body]))
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain")])

            def forever() -> Iterator[bytes]:
                while True:
                    started.set()
                    yield b"tick\n"

            return Body(forever())
        if path == "/error":
            raise ValueError("before start_response")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body(iter([b"wsgi:", environ["SCRIPT_NAME"].encode(), path.encode()]))

    wsgi = WSGIMiddleware(validator(wsgi_app), workers=4)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await wsgi(scope, receive, send)

    return app, started, release, closed


def test_slow_wsgi_app_does_not_block_the_loop(serve: Serve) -> None:
    app, started, release, closed = make_app()
    running = serve(app, lifespan="on")
    slow = Conn(running.port)
    slow.send(request("GET", "/slow"))
    assert started.wait(TIMEOUT)
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        for _ in range(3):  # answered while the WSGI app still blocks its thread
            assert client.get("/health").text == "ok"
    assert not release.is_set()
    release.set()
    response = slow.read_response()
    assert response.body == b"wsgi:/slow"
    slow.close()
    assert closed.wait(TIMEOUT)


def test_body_root_path_and_errors(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    app, _, _, _ = make_app()
    running = serve(app, root_path="/api")
    payload = bytes(range(256)) * 1000
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.post("/echo", content=payload).content == payload
        assert client.get("/x").text == "wsgi:/api/x"
        assert client.get("/error").status_code == 500
    wait_for(lambda: "before start_response" in caplog.text, what="the traceback")


def test_client_gone_mid_stream_closes_the_iterable(serve: Serve) -> None:
    app, started, _, closed = make_app()
    running = serve(app)
    conn = Conn(running.port)
    conn.send(request("GET", "/stream"))
    assert conn.read_head().status == 200
    assert started.wait(TIMEOUT)
    conn.close()
    assert closed.wait(TIMEOUT)


def test_under_uvicorn() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    app, started, release, closed = make_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_config=None, loop="asyncio", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="uvicorn to start")
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            payload = b"u" * 200_000
            assert client.post("/echo", content=payload).content == payload
            assert client.get("/x").text == "wsgi:/x"
            with client.stream("GET", "/stream") as response:
                lines = response.iter_lines()
                assert [next(lines) for _ in range(3)] == ["tick"] * 3
        assert closed.wait(TIMEOUT)  # the client went away mid-stream
        slow = Conn(port)
        started.clear()  # before the request: the route may start before the next line runs
        slow.send(request("GET", "/slow"))
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            wait_for(started.is_set, what="the slow route to start")
            assert client.get("/health").text == "ok"
        release.set()
        assert slow.read_response().body == b"wsgi:/slow"
        slow.close()
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
    assert not thread.is_alive()
