"""What an app sees and what a misbehaving app gets, through a real server and real sockets.

Each test starts `sailfish` in a thread on 127.0.0.1:0 and talks to it with a raw socket (or
http.client), so it proves the behaviour end to end: disconnect delivery, the ASGI version and
extensions in the scope, unsupported response messages, trailers, and WebSocket upgrades on a
server that cannot switch. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from integ_helpers import Conn, request, wait_for

Serve = Callable[..., Any]


class Recorder:
    """An ASGI 3 app that records what it receives, answering per path."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.done = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.scopes.append(scope)
        try:
            await getattr(self, "_" + scope["path"].strip("/").replace("-", "_"))(
                scope, receive, send
            )
        finally:
            self.done.set()

    async def _hello(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    async def _long_poll(self, scope: Any, receive: Any, send: Any) -> None:
        # Read the whole body, then wait for what comes next: only http.disconnect can.
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body"):
                break
        self.messages.append(await asyncio.wait_for(receive(), 10))

    async def _push(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.push", "path": "/style.css", "headers": []})

    async def _hint_after_start(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.early_hint", "links": []})
        except RuntimeError:
            pass  # swallowed: the server must still not pretend the response is fine
        await send({"type": "http.response.body", "body": b"never sent"})

    async def _trailers(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"payload"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})


# -- http.disconnect --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"payload"], ids=["no_body", "with_body"])
def test_client_closing_while_app_waits_after_the_body_gets_disconnect(
    serve: Serve, loop_name: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    app = Recorder()
    running = serve(app, loop=loop_name)
    with caplog.at_level(logging.WARNING, logger="sailfish.error"):
        with Conn(running.port) as conn:
            conn.send(request("POST", "/long-poll", [], body))
            assert wait_for(lambda: len(app.messages) >= 1), "the app never got its body"
        # The socket is closed now; the app is waiting in receive().
        assert app.done.wait(5), "the app never learned that the client went away"
        assert app.messages[-1] == {"type": "http.disconnect"}
        assert app.messages[0]["body"] == body
        # Told http.disconnect, the app returned without answering: that is not an app error.
        with Conn(running.port) as conn:  # once answered, the loop has ended the first task
            conn.send(request("GET", "/hello"))
            assert conn.read_response().status == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_half_closed_client_told_disconnect_mid_stream_gets_a_reset(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """An app that stops streaming once receive() says http.disconnect (the client sent EOF)
    did nothing wrong, but its response is cut: a client still reading must not take the
    close-delimited body for whole."""
    told: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        while (message := await receive())["type"] != "http.disconnect":
            pass
        told.append(message)

    running = serve(app, lifespan="off")
    with caplog.at_level(logging.WARNING, logger="sailfish.error"):
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        reset = False
        with sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)  # EOF, but still reading
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                reset = True
        assert told == [{"type": "http.disconnect"}]
        assert reset  # whatever would be logged is logged before the reset
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_half_closed_client_still_gets_its_response(serve: Serve) -> None:
    running = serve(Recorder())
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    with sock:
        sock.sendall(request("GET", "/hello", [("Connection", "close")]))
        sock.shutdown(socket.SHUT_WR)  # EOF, but still reading
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"hello")


# -- the scope ---------------------------------------------------------------------------------


def test_asgi3_app_scope_versions_and_extensions(serve: Serve) -> None:
    app = Recorder()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/hello"))
        assert conn.read_response().status == 200
        conn.send(b"GET /hello HTTP/1.0\r\n\r\n")
        assert conn.read_response().status == 200
    http11, http10 = app.scopes
    assert http11["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    # Exactly what works on the connection: trailers need HTTP/1.1's chunked coding, early
    # hints a 1xx response; files go out on both.
    assert http11["extensions"] == {
        "http.response.trailers": {},
        "http.response.early_hint": {},
        "http.response.pathsend": {},
        "http.response.zerocopysend": {},
    }
    assert http10["extensions"] == {"http.response.pathsend": {}, "http.response.zerocopysend": {}}
    assert http11["extensions"] is not http10["extensions"]


class ASGI2App:
    """An ASGI 2 app: instantiated with the scope, then awaited with receive and send."""

    seen: list[dict[str, Any]] = []

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        ASGI2App.seen.append(self.scope)
        if self.scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"two"})


def test_asgi2_app_is_told_version_2(serve: Serve) -> None:
    ASGI2App.seen.clear()
    running = serve(ASGI2App, lifespan="on")
    with Conn(running.port) as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().body == b"two"
    lifespan, http = ASGI2App.seen
    assert lifespan["type"] == "lifespan" and http["type"] == "http"
    assert lifespan["asgi"]["version"] == "2.0"
    assert http["asgi"]["version"] == "2.0"


# -- unsupported messages and trailers ---------------------------------------------------------


def logged_errors(caplog: pytest.LogCaptureFixture, port: int) -> list[logging.LogRecord]:
    """The error records, once the app's task is over: the error is logged when the app
    ends, which may be after the client saw the 500 or the abort; once a later request on
    another connection is answered, the loop has run the earlier task to its end."""
    wait_for(lambda: any(r.levelno >= logging.ERROR for r in caplog.records), what="an error")
    with Conn(port) as conn:
        conn.send(request("GET", "/hello"))
        assert conn.read_response().status == 200
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_unsupported_message_before_start_is_a_500_with_a_traceback(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(Recorder())
    with caplog.at_level(logging.ERROR, logger="sailfish.error"), Conn(running.port) as conn:
        conn.send(request("GET", "/push"))
        response = conn.read_response()
    assert response.status == 500
    errors = logged_errors(caplog, running.port)
    # One record, its traceback reaching the app's own line.
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info and "http.response.push" in str(errors[0].exc_info[1])
    assert "_push" in "".join(traceback.format_exception(*errors[0].exc_info))


def test_unsupported_message_after_start_aborts_even_if_the_app_swallows_it(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(Recorder())
    with caplog.at_level(logging.ERROR, logger="sailfish.error"), Conn(running.port) as conn:
        conn.send(request("GET", "/hint-after-start"))
        data = conn.read_until_closed()
    # The head may have left; no body and no end of a response ever follow it.
    assert b"never sent" not in data
    assert not data.endswith(b"0\r\n\r\n")
    errors = logged_errors(caplog, running.port)
    # One record: the swallowed error, not the failure of the app's next send() after it.
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info and "http.response.early_hint" in str(errors[0].exc_info[1])
    assert "_hint_after_start" in "".join(traceback.format_exception(*errors[0].exc_info))


async def breaks_mid_stream(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    raise ValueError("broken mid-stream")


def test_an_app_breaking_mid_stream_resets_an_http10_connection(
    serve: Serve, loop_name: str
) -> None:
    """HTTP/1.0 delimits this body by the close: a FIN would make the cut body look whole,
    so the abort must be a reset."""
    running = serve(breaks_mid_stream, loop=loop_name, lifespan="off")
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    data, reset = b"", False
    with sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            reset = True
    assert reset, f"ended with a clean close after {data!r}"


def test_trailers_after_one_body_message_reach_the_client(serve: Serve) -> None:
    running = serve(Recorder())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/trailers", [("TE", "trailers"), ("Connection", "close")]))
        data = conn.read_until_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"content-length" not in head.lower()
    assert body == b"7\r\npayload\r\n0\r\nx-checksum: abc\r\n\r\n"


def test_trailers_on_http10_are_dropped_with_one_warning(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(Recorder())
    with caplog.at_level(logging.WARNING, logger="sailfish.error"), Conn(running.port) as conn:
        conn.send(b"GET /trailers HTTP/1.0\r\n\r\n")
        data = conn.read_until_closed()
    assert data.endswith(b"\r\n\r\npayload")
    warnings = [r.getMessage() for r in caplog.records if "trailers dropped" in r.getMessage()]
    assert len(warnings) == 1 and "HTTP/1.0" in warnings[0]


# -- upgrades ----------------------------------------------------------------------------------


def test_websocket_upgrade_with_websocket_off_says_so(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    running = serve(Recorder(), ws="none")
    upgrade = request(
        "GET",
        "/hello",
        [
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    )
    with caplog.at_level(logging.WARNING, logger="sailfish.error"), Conn(running.port) as conn:
        conn.send(upgrade)
        assert conn.read_response().body == b"hello"  # served as plain HTTP
        conn.send(request("GET", "/hello"))  # and the connection goes on
        assert conn.read_response().body == b"hello"
    lines = [r.getMessage() for r in caplog.records if "websocket" in r.getMessage().lower()]
    assert len(lines) == 1
    assert "no protocol for it" in lines[0] and "--ws none" in lines[0]
