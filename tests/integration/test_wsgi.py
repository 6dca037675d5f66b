"""WSGI apps served with --interface wsgi: PEP 3333 on real sockets, apps under the validator.

Strategy: every app is wrapped in `wsgiref.validate.validator` (which raises inside the app on
any PEP 3333 violation by either side, and pytest turns its warnings into errors), except the
few tests of our own start_response checks, whose bad input the validator would refuse before
the server saw it. Waits are events and bounded polls; "all ran at once" is a barrier.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import threading
import wsgiref.validate
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest
from integ_helpers import Closed, Conn, assert_bytes, request, wait_for

Serve = Callable[..., Any]
TIMEOUT = 5.0
PLAIN = [("Content-Type", "text/plain")]


@pytest.fixture(autouse=True)
def read_without_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the validator's input wrapper take read() with no size, as PEP 3333 now allows
    ("servers should allow read() to be called without an argument"; the validator predates
    that note, and werkzeug reads a wsgi.input_terminated stream that way)."""
    original = wsgiref.validate.InputWrapper.read

    def read(self: Any, *args: Any) -> bytes:
        if not args:
            data: bytes = self.input.read()
            assert type(data) is bytes
            return data
        return original(self, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(wsgiref.validate.InputWrapper, "read", read)


def wsgi(serve: Serve, app: Any, **options: Any) -> Any:
    return serve(validator(app), interface="wsgi", **options)


def text(status: str, body: bytes, start_response: Any, extra: Any = ()) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), *extra])
    return [body]


def raw_input(environ: dict[str, Any]) -> Any:
    """wsgi.input without the validator's wrapper (which allows read(size) only)."""
    stream = environ["wsgi.input"]
    return getattr(stream, "input", stream)


# -- the basics ------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [True, False], ids=["content_length", "no_length"])
def test_hello(serve: Serve, loop_name: str, length: bool) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return text("200 OK", b"hello", start_response, [("Content-Length", "5")] * length)

    running = wsgi(serve, app, loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request() * 2)  # pipelined, on one connection
        for _ in range(2):
            response = conn.read_response()
            assert (response.status, response.body) == (200, b"hello")
            assert response.header("content-type") == "text/plain"
            if length:
                assert response.header("content-length") == "5"


def test_unwrapped_list_gets_a_content_length(serve: Serve) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return text("200 OK", b"hello", start_response)

    running = serve(app, interface="wsgi")  # the validator would wrap the list
    with Conn(running.port) as conn:
        conn.send(request())
        assert conn.read_response().header("content-length") == "5"


def test_environ_on_the_wire(serve: Serve) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return text("200 OK", b"", start_response)

    running = wsgi(serve, app, root_path="/mnt")
    headers = [
        ("X-Multi", "a"),
        ("X-Multi", "b"),
        ("X_Multi", "spoof"),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
        ("Content-Type", "text/x-test"),
    ]
    with Conn(running.port) as conn:
        conn.send(request("POST", "/caf%C3%A9/x?q=%20&r", headers=headers, body=b"12"))
        assert conn.read_response().status == 200
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["SCRIPT_NAME"] == "/mnt"
    assert seen["PATH_INFO"] == "/caf\xc3\xa9/x"
    assert seen["QUERY_STRING"] == "q=%20&r"
    assert seen["HTTP_X_MULTI"] == "a, b"
    assert seen["CONTENT_TYPE"] == "text/x-test"
    assert seen["CONTENT_LENGTH"] == "2"
    # Trusted proxy (127.0.0.1 by default): the client and scheme come from its headers.
    assert seen["REMOTE_ADDR"] == "203.0.113.7"
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["SERVER_PORT"] == str(running.port)
    assert seen["wsgi.multithread"] is True and seen["wsgi.run_once"] is False
    assert seen["wsgi.input_terminated"] is True
    assert "HTTP_CONTENT_TYPE" not in seen


def test_no_content_keys_when_not_sent(serve: Serve) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return text("200 OK", b"", start_response)

    running = wsgi(serve, app, proxy_headers=False)
    with Conn(running.port) as conn:
        conn.send(request(headers=[("X-Forwarded-For", "203.0.113.7")]))
        assert conn.read_response().status == 200
    assert "CONTENT_TYPE" not in seen and "CONTENT_LENGTH" not in seen
    assert seen["REMOTE_ADDR"] == "127.0.0.1"  # untrusted: the peer itself


# -- wsgi.input ------------------------------------------------------------------------------


def test_input_reads_stream_as_the_body_arrives(serve: Serve) -> None:
    first_line = threading.Event()
    got: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        got.append(stream.readline())
        first_line.set()  # before the client has sent the rest
        got.append(stream.readline(3))
        got.append(stream.read(4))
        got.append(list(stream))  # iteration: the remaining lines
        got.append(stream.read(10))  # at the end: b"", at once
        return text("200 OK", b"done", start_response)

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request("POST", headers=[("Transfer-Encoding", "chunked")]))
        conn.send(b"6\r\nline1\n\r\n")
        assert first_line.wait(TIMEOUT)
        conn.send(b"c\r\nabcdefghij\nx\r\n4\r\nyz\nw\r\n0\r\n\r\n")
        assert conn.read_response().body == b"done"
    assert got == [b"line1\n", b"abc", b"defg", [b"hij\n", b"xyz\n", b"w"], b""]


def test_input_read_all_and_readlines(serve: Serve) -> None:
    bodies: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = raw_input(environ)
        if environ["PATH_INFO"] == "/all":
            bodies.append(stream.read())
        else:
            bodies.append(stream.readlines())
        return text("200 OK", b"", start_response)

    running = wsgi(serve, app)
    payload = b"a\nbb\n" * 30000  # larger than the flow-control mark: reading resumes
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.post("/all", content=payload).status_code == 200
        assert client.post("/lines", content=b"a\nb\nc").status_code == 200
    assert bodies == [payload, [b"a\n", b"b\n", b"c"]]


def test_continue_is_sent_when_the_app_first_reads(serve: Serve) -> None:
    running_app = threading.Event()
    go = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        running_app.set()
        assert go.wait(TIMEOUT)
        body = environ["wsgi.input"].read(5)
        return text("200 OK", body, start_response)

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request("POST", headers=[("Expect", "100-continue"), ("Content-Length", "5")]))
        assert running_app.wait(TIMEOUT)
        readable, _, _ = select.select([conn.sock], [], [], 0)
        assert not readable  # the app has not read: no 100 yet
        go.set()
        assert conn.read_response().status == 100
        conn.send(b"hello")
        assert conn.read_response().body == b"hello"


@pytest.mark.parametrize(("size", "status"), [(10, 200), (11, 413)])
def test_body_limit(serve: Serve, size: int, status: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(100)
        return text("200 OK", body, start_response)

    running = wsgi(serve, app, max_body_size=10)
    with Conn(running.port) as conn:
        conn.send(request("POST", body=b"x" * size))
        response = conn.read_response()
        assert response.status == status
        if status == 200:
            assert response.body == b"x" * size


def test_chunked_body_over_the_limit_fails_the_read(serve: Serve) -> None:
    failures: list[BaseException] = []
    called = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.set()
        try:
            environ["wsgi.input"].read(100)
        except OSError as exc:
            failures.append(exc)
            raise
        return text("200 OK", b"", start_response)

    running = wsgi(serve, app, max_body_size=10)
    with Conn(running.port) as conn:
        conn.send(request("POST", headers=[("Transfer-Encoding", "chunked")]) + b"4\r\nabcd\r\n")
        # A request refused before a thread takes it never reaches the app: wait for the call.
        assert called.wait(TIMEOUT), "the app was not called"
        conn.send(b"8\r\nabcdefgh\r\n0\r\n\r\n")
        assert conn.read_response().status == 413
    wait_for(lambda: failures, what="the app's read to fail")


# -- start_response, write(), exc_info -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param("200 OK", [("X-Bad", "a\r\nSet-Cookie: x=1")], id="crlf_in_value"),
        pytest.param("200 OK", [("X-Bad", "a\x00")], id="nul_in_value"),
        pytest.param("200 OK", [("X Bad", "a")], id="space_in_name"),
        pytest.param("200 OK", [("X-Bad", "\u20ac")], id="not_latin1"),
        pytest.param("200 OK", [(b"X-Bad", b"a")], id="bytes_not_native_strings"),
        pytest.param("200 OK\r\nX: y", [], id="crlf_in_status"),
        pytest.param(200, [], id="int_status"),
        pytest.param("99 Low", [], id="status_out_of_range"),
        pytest.param("200", [], id="status_without_reason"),
        pytest.param("200-OK", [], id="status_without_space"),
        # PEP 3333: hop-by-hop headers are the server's; an app that sends one is in error.
        pytest.param("200 OK", [("Connection", "close")], id="hop_connection"),
        pytest.param("200 OK", [("Transfer-Encoding", "chunked")], id="hop_transfer_encoding"),
        pytest.param("200 OK", [("keep-alive", "timeout=5")], id="hop_keep_alive"),
        pytest.param("200 OK", [("Upgrade", "websocket")], id="hop_upgrade"),
        pytest.param("200 OK", [("TE", "trailers")], id="hop_te"),
        pytest.param("200 OK", [("Trailers", "x")], id="hop_trailers"),
        pytest.param("200 OK", [("Proxy-Authenticate", "Basic")], id="hop_proxy_authenticate"),
        pytest.param("200 OK", [("Proxy-Connection", "close")], id="hop_proxy_connection"),
    ],
)
def test_invalid_start_response_is_a_500(
    serve: Serve, caplog: pytest.LogCaptureFixture, status: Any, headers: Any
) -> None:
    # Not under the validator: it would refuse these itself, before our checks.
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [b"never sent"]

    running = serve(app, interface="wsgi")
    with Conn(running.port) as conn:
        conn.send(request())
        response = conn.read_response()
    assert response.status == 500
    assert b"never sent" not in response.body and b"Set-Cookie" not in response.raw_head
    wait_for(lambda: "Exception in WSGI application" in caplog.text, what="the log line")


@pytest.mark.parametrize("status", ["299 Custom", "299 "], ids=["reason", "empty_reason"])
def test_valid_header_just_inside_the_rules(serve: Serve, status: str) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        extra = [("X-Ok", "caf\xe9 ~"), ("Trailer", "X-Sum"), ("Proxy-Connection-Id", "7")]
        return text(status, b"ok", start_response, extra)

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        response = conn.read_response()
    assert response.raw_head.startswith(f"HTTP/1.1 {status}\r\n".encode())
    assert response.header("x-ok") == "caf\xe9 ~"
    assert response.header("proxy-connection-id") == "7"


def test_the_status_line_is_the_apps(serve: Serve) -> None:
    statuses = iter(["207 Multi-Status", "200 Everything Fine", "404 Not Found", "200 OK"])

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return text(next(statuses), b"ok", start_response)

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request() * 4)
        heads = [conn.read_response().raw_head.split(b"\r\n")[0] for _ in range(4)]
    assert heads == [
        b"HTTP/1.1 207 Multi-Status",
        b"HTTP/1.1 200 Everything Fine",
        b"HTTP/1.1 404 Not Found",
        b"HTTP/1.1 200 OK",
    ]


def test_exception_before_start_response_is_500_with_traceback(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ZeroDivisionError("boom")

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        assert conn.read_response().status == 500
    wait_for(lambda: "ZeroDivisionError" in caplog.text, what="the traceback")
    record = next(r for r in caplog.records if r.exc_info)
    assert record.levelno == logging.ERROR and record.name == "sailfish.error"


def test_exc_info_replaces_headers_not_yet_sent(serve: Serve) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        yield b""  # an empty chunk sends nothing: the headers are still held
        try:
            raise KeyError("x")
        except KeyError:
            import sys

            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        yield b"sorry"

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        response = conn.read_response()
    assert (response.status, response.body) == (503, b"sorry")
    assert response.header("x-first") is None


def test_exc_info_after_headers_sent_reraises_and_cuts_the_response(serve: Serve) -> None:
    raised: list[BaseException] = []
    closed = threading.Event()

    class Body:
        def __init__(self, start_response: Any) -> None:
            self.start_response = start_response

        def __iter__(self) -> Iterator[bytes]:
            yield b"part"
            try:
                raise KeyError("late")
            except KeyError as exc:
                import sys

                try:
                    self.start_response(
                        "500 Oops", [("Content-Type", "text/plain")], sys.exc_info()
                    )
                except KeyError as again:
                    raised.append(again)
                raise exc

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body(start_response)

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        head = conn.read_head()
        assert head.status == 200 and head.header("transfer-encoding") == "chunked"
        with pytest.raises((Closed, ConnectionResetError)):
            conn.read_response()
            conn._read_until(b"0\r\n\r\n")  # never: the last chunk is not sent
    assert closed.wait(TIMEOUT)
    assert raised and isinstance(raised[0], KeyError)


def test_start_response_twice_without_exc_info_is_an_error(serve: Serve) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"x"]

    running = serve(app, interface="wsgi")  # the validator refuses a second call itself
    with Conn(running.port) as conn:
        conn.send(request())
        assert conn.read_response().status == 500


def test_write_callable(serve: Serve) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one ")
        write(b"two ")
        return [b"three"]

    running = wsgi(serve, app)
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.get("/").text == "one two three"


def test_large_streamed_response_with_backpressure(serve: Serve) -> None:
    block = os.urandom(65536)

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for _ in range(64):
            yield block

    running = wsgi(serve, app)
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        body = client.get("/").content
    assert body == block * 64


# -- the returned iterable --------------------------------------------------------------------


class Tracked:
    """A response iterable that records close()."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        self.closed.set()


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_streamed_response_without_length_is_chunked_or_close_delimited(
    serve: Serve, version: str
) -> None:
    head_read = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first,"
        assert head_read.wait(TIMEOUT)  # the head is out: the rest cannot join it
        yield b"second"

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        keep_alive = [("Connection", "keep-alive")] if version == "HTTP/1.0" else []
        conn.send(request(version=version, headers=keep_alive) + request(version=version))
        head = conn.read_head()
        head_read.set()
        assert head.status == 200 and head.header("content-length") is None
        if version == "HTTP/1.1":
            assert head.header("transfer-encoding") == "chunked"
            assert conn._read_until(b"0\r\n\r\n") == b"6\r\nfirst,\r\n6\r\nsecond\r\n"
            assert conn.read_response().body == b"first,second"  # kept alive: the next one
        else:
            # HTTP/1.0 has no chunked coding: the body ends when the connection does, so the
            # connection closes (keep-alive asked for or not) and the next request is not read.
            assert head.header("transfer-encoding") is None
            assert head.header("connection") != "keep-alive"
            assert conn.read_until_closed() == b"first,second"


def test_http10_keeps_alive_only_when_asked(serve: Serve) -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["SERVER_PROTOCOL"])
        return text("200 OK", b"ok", start_response, [("Content-Length", "2")])

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        asked = request(version="HTTP/1.0", headers=[("Connection", "keep-alive")])
        conn.send(asked + request(version="HTTP/1.0") + request(version="HTTP/1.0"))
        first = conn.read_response()
        assert (first.body, first.header("connection")) == (b"ok", "keep-alive")
        second = conn.read_response()
        assert second.body == b"ok" and second.header("connection") != "keep-alive"
        assert conn.is_closed_by_peer()  # the third request is never answered
    assert seen == ["HTTP/1.0", "HTTP/1.0"]


def test_chunked_request_with_trailers_then_the_next_request(serve: Serve) -> None:
    bodies: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        bodies.append(raw_input(environ).read())
        assert "HTTP_X_CHECKSUM" not in environ  # a trailer is not a header field
        return text("200 OK", b"ok", start_response)

    running = wsgi(serve, app)
    chunked = [("Transfer-Encoding", "chunked")]
    with Conn(running.port) as conn:
        conn.send(
            request("POST", headers=chunked)
            + b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n"
            + request("POST", body=b"next")
        )
        assert conn.read_response().body == b"ok"
        assert conn.read_response().body == b"ok"
    assert bodies == [b"abcde", b"next"]


def test_close_is_called_on_a_normal_end(serve: Serve) -> None:
    tracked = Tracked(iter([b"a", b"b"]))

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return tracked

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        assert conn.read_response().body == b"ab"
    assert tracked.closed.wait(TIMEOUT)


def test_generator_raising_midway_closes_without_a_complete_response(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def body() -> Iterator[bytes]:
        yield b"first"
        raise RuntimeError("midway")

    tracked = Tracked(body())

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return tracked

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        with pytest.raises((Closed, ConnectionResetError)):
            conn.read_response()  # the chunked body never ends
    assert tracked.closed.wait(TIMEOUT)
    wait_for(lambda: "midway" in caplog.text, what="the traceback")


def test_client_gone_mid_stream_still_closes(serve: Serve) -> None:
    produced = threading.Event()

    def body() -> Iterator[bytes]:
        while True:
            produced.set()
            yield b"x" * 1024

    tracked = Tracked(body())

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return tracked

    running = wsgi(serve, app)
    conn = Conn(running.port)
    conn.send(request())
    assert conn.read_head().status == 200
    assert produced.wait(TIMEOUT)
    conn.close()
    assert tracked.closed.wait(TIMEOUT)


@pytest.mark.parametrize(
    ("declared", "chunks", "complete"),
    [
        pytest.param("6", [b"abc", b"def"], True, id="exact"),
        pytest.param("8", [b"abc", b"def"], False, id="too_short_closes"),
        pytest.param("4", [b"abc", b"def"], False, id="too_long_is_an_error"),
    ],
)
def test_app_content_length_is_enforced(
    serve: Serve, declared: str, chunks: list[bytes], complete: bool
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", declared)])
        yield from chunks

    # Not under the validator for the two errors: it would not let them through.
    running = serve(validator(app) if complete else app, interface="wsgi")
    with Conn(running.port) as conn:
        conn.send(request() * 2)
        if complete:
            assert conn.read_response().body == b"abcdef"
            assert conn.read_response().body == b"abcdef"
        else:
            with pytest.raises((Closed, ConnectionResetError)):
                conn.read_response()
                conn.read_response()


def test_repeated_fields_kept_and_a_repeated_content_length_sent_once(serve: Serve) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        cookies = [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2")]
        return text("200 OK", b"ok", start_response, [*cookies, *[("Content-Length", "2")] * 2])

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request() * 2)
        for _ in range(2):
            response = conn.read_response()
            assert response.header_list("set-cookie") == ["a=1; Path=/", "b=2"]
            assert response.header_list("content-length") == ["2"]  # nginx refuses a repeat
            assert response.body == b"ok"


def test_two_different_content_lengths_are_an_app_error(serve: Serve) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return text(
            "200 OK", b"ok", start_response, [("Content-Length", "2")] + [("Content-Length", "3")]
        )

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request())
        assert conn.read_response().status == 500


@pytest.mark.parametrize(
    ("method", "status"),
    [
        ("HEAD", "200 OK"),
        ("GET", "204 No Content"),
        ("GET", "205 Reset Content"),
        ("GET", "304 Not Modified"),
    ],
)
def test_bodyless_responses(serve: Serve, method: str, status: str) -> None:
    with_body = status.startswith("200")

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        # (wsgiref.validate lets only 204 and 304 go without a Content-Type)
        typed = not status.startswith(("204", "304"))
        start_response(status, [("Content-Type", "text/plain")] if typed else [])
        yield b"body"  # dropped by the server where the response has no body

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        conn.send(request(method) + request())
        first = conn.read_response(method)
        assert first.status == int(status[:3])
        assert first.body == b""
        second = conn.read_response()  # the next response follows at once: no stray body
        assert second.status == int(status[:3])
        assert second.body == (b"body" if with_body else b"")


@pytest.mark.posix_only("os.sendfile")
@pytest.mark.parametrize("declared", [True, False], ids=["app_length", "file_size"])
def test_file_wrapper_uses_sendfile(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop_name: str, declared: bool
) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    calls: list[int] = []
    real_sendfile = os.sendfile

    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return real_sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", sendfile)
    files: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if declared:
            headers.append(("Content-Length", str(len(data) - 1000)))
        start_response("200 OK", headers)
        file = open(path, "rb")  # noqa: SIM115 - the wrapper closes it
        file.seek(1000)  # from the file's position on
        files.append(file)
        return environ["wsgi.file_wrapper"](file, 65536)

    # Not under the validator: it wraps the iterable, which hides the FileWrapper.
    running = serve(app, interface="wsgi", loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request() * 2)
        received = 0
        for _ in range(2):
            response = conn.read_response()
            assert response.header("content-length") == str(len(data) - 1000)
            assert_bytes(response.body, data[1000:])
            received += len(response.raw_head) + 4 + len(response.body)
        # The connection counts the bytes the thread sent too (sailfish_sent_bytes_total).
        state = running.server.server_state
        wait_for(
            lambda: running.on_loop(lambda: [c.sent for c in state.connections]) == [received],
            what="the sendfile bytes counted",
        )
    assert calls  # the bytes went by sendfile
    wait_for(lambda: all(f.closed for f in files), what="the files to be closed")


def test_file_wrapper_under_the_validator_is_iterated(serve: Serve, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    path = tmp_path / "blob"
    path.write_bytes(data)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"), 8192)

    running = wsgi(serve, app)
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.get("/").content == data
        assert client.head("/").content == b""


def test_file_wrapper_over_an_object_with_read_only(serve: Serve) -> None:
    # PEP 3333: "a file-like object ... must have a read() method that takes an optional size
    # argument"; no fileno, so no sendfile: read in blocks, and its close() called.
    data = os.urandom(50_000)
    closed = threading.Event()
    sizes: list[int] = []

    class Readable:
        def __init__(self) -> None:
            self.offset = 0

        def read(self, size: int = -1) -> bytes:
            sizes.append(size)
            block = data[self.offset : self.offset + size]
            self.offset += len(block)
            return block

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](Readable(), 4096)

    running = serve(app, interface="wsgi")  # unwrapped: the server sees its own FileWrapper
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.get("/").content == data
    assert closed.wait(TIMEOUT)
    assert set(sizes) == {4096}


def test_client_gone_during_sendfile_closes_the_file(serve: Serve, tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"z" * 20_000_000)  # far more than the socket buffers hold
    files: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        file = open(path, "rb")  # noqa: SIM115 - the wrapper closes it
        files.append(file)
        return environ["wsgi.file_wrapper"](file)

    running = serve(app, interface="wsgi")
    conn = Conn(running.port)
    conn.send(request())
    assert conn.read_head().status == 200
    conn.close()
    wait_for(lambda: files and files[0].closed, what="the file to be closed")


# -- the thread pool ---------------------------------------------------------------------------


def test_ten_slow_requests_run_at_once_on_ten_threads(serve: Serve) -> None:
    barrier = threading.Barrier(10, timeout=TIMEOUT)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        barrier.wait()  # passes only when all ten run at the same time
        return text("200 OK", b"ok", start_response)

    running = wsgi(serve, app, wsgi_threads=10)
    conns = [Conn(running.port) for _ in range(10)]
    try:
        for conn in conns:
            conn.send(request())  # one at a time: each may be its own hand-over to the pool
        for conn in conns:
            assert conn.read_response().status == 200
    finally:
        for conn in conns:
            conn.close()


def test_no_more_threads_than_configured_and_the_rest_queue(serve: Serve) -> None:
    release = threading.Event()
    lock = threading.Lock()
    running_now = [0, 0]  # current, most

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            running_now[0] += 1
            running_now[1] = max(running_now[1], running_now[0])
        assert release.wait(TIMEOUT)
        with lock:
            running_now[0] -= 1
        return text("200 OK", b"ok", start_response)

    running = wsgi(serve, app, wsgi_threads=2)
    pool = running.server.config.wsgi.pool
    conns = [Conn(running.port) for _ in range(5)]
    for conn in conns:
        conn.send(request())
    wait_for(lambda: running_now[0] == 2 and pool.backlog == 3, what="2 running, 3 queued")
    # The queue is longer than the thread count: the last connections stopped being read.
    paused = running.on_loop(
        lambda: sum(c.read_paused for c in running.server.server_state.connections)
    )
    assert paused >= 1
    release.set()
    for conn in conns:
        assert conn.read_response().status == 200
        conn.close()
    assert running_now[1] == 2
    wait_for(
        lambda: (
            not running.on_loop(
                lambda: [c for c in running.server.server_state.connections if c.read_paused]
            )
        ),
        what="reading to resume",
    )


# -- frameworks, real clients --------------------------------------------------------------------


def test_flask(serve: Serve) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask("sf_wsgi_test")

    @app.route("/hello/<name>", methods=["GET", "POST"])
    def hello(name: str) -> Any:
        return {
            "name": name,
            "q": flask.request.args.get("q"),
            "data": flask.request.get_data(as_text=True),
        }

    running = wsgi(serve, app)
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        response = client.post("/hello/caf%C3%A9?q=1", content=b"payload")
        assert response.json() == {"name": "café", "q": "1", "data": "payload"}
        assert client.get("/missing").status_code == 404


def test_flask_cookies_and_a_streamed_response(serve: Serve) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask("sf_wsgi_cookies")

    @app.route("/cookies")
    def cookies() -> Any:
        response = flask.jsonify(dict(flask.request.cookies))
        response.set_cookie("one", "1")
        response.set_cookie("two", "2")
        return response

    @app.route("/stream")
    def stream() -> Any:
        return flask.Response(iter([b"a", b"b", b"c"]), mimetype="text/plain")

    running = wsgi(serve, app)
    with Conn(running.port) as conn:
        # Two Cookie lines (as an HTTP/2 hop may forward them): werkzeug parses the "; " join
        # into both cookies; from a ", " join it finds none (and Django one, a="1, b=2").
        conn.send(request("GET", "/cookies", headers=[("Cookie", "a=1"), ("Cookie", "b=2")]))
        response = conn.read_response()
    assert response.body and flask.json.loads(response.body) == {"a": "1", "b": "2"}
    assert [c.split(";")[0] for c in response.header_list("set-cookie")] == ["one=1", "two=2"]
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.get("/stream").text == "abc"


def test_django_wsgi_handler(serve: Serve) -> None:
    pytest.importorskip("django")
    import apps.django_app  # noqa: F401 - configures the settings
    from django.core.wsgi import get_wsgi_application

    running = wsgi(serve, get_wsgi_application())
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.get("/", params={"name": "wsgi"}).text == "hello django wsgi"
        response = client.post("/form", data={"name": "n", "color": ["red", "blue"]})
        assert response.json()["colors"] == ["red", "blue"]


def test_bottle(serve: Serve) -> None:
    bottle = pytest.importorskip("bottle")
    app = bottle.Bottle()

    @app.route("/echo", method="POST")
    def echo() -> bytes:
        return bytes(bottle.request.body.read())

    running = wsgi(serve, app)
    with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
        assert client.post("/echo", content=b"x" * 100_000).content == b"x" * 100_000


def test_falcon_under_curl(serve: Serve) -> None:
    falcon = pytest.importorskip("falcon")
    from system import require_program

    curl = require_program("curl")

    class Resource:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.media = {"agent": req.user_agent.split("/")[0], "q": req.get_param("q")}

    app = falcon.App()
    app.add_route("/r", Resource())
    running = wsgi(serve, app)
    out = subprocess.run(
        [curl, "-s", "-f", f"{running.url}/r?q=z"], capture_output=True, timeout=TIMEOUT, check=True
    )
    assert out.stdout == b'{"agent": "curl", "q": "z"}'


def test_command_line_interface_wsgi_under_curl(serve_process: Callable[..., Any]) -> None:
    from system import require_program

    curl = require_program("curl")
    child = serve_process("apps.wsgi_app:app", "--interface", "wsgi", "--wsgi-threads", "2")
    out = subprocess.run(
        [curl, "-s", "-f", "--data-binary", "payload", f"{child.url}/p%20q"],
        capture_output=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert out.stdout == b"POST /p q sailfish-wsgi-0 payload"
