"""Raw sockets against a real server: framing, keep-alive, errors, limits, timeouts, flow control.

Every socket has a 5 s timeout and every wait is bounded; the bounds on timeouts are generous
(the server ticks its deadlines, it does not arm one timer per request).
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from apps.raw import RawApp, pattern
from integ_helpers import Conn, assert_bytes, request, wait_for

Serve = Callable[..., Any]


# -- keep-alive, pipelining, close (both loops) ----------------------------------------------------


def test_pipelining_ten_requests_in_one_send(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    burst = b"".join(request("GET", f"/p/{i}") for i in range(10))
    with Conn(running.port) as conn:
        conn.send(burst)
        bodies = [conn.read_response().body for _ in range(10)]
        assert bodies == [f"hello /p/{i}".encode() for i in range(10)]
        # still usable afterwards
        conn.send(request("GET", "/after"))
        assert conn.read_response().body == b"hello /after"


def test_pipelining_mixed_bodies_and_methods(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    chunked = request(
        "POST", "/echo", [("Transfer-Encoding", "chunked")], b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    burst = (
        request("POST", "/echo", body=b"first")
        + request("GET", "/slow?t=0.05")
        + chunked
        + request("HEAD", "/head")
        + request("GET", "/stream?n=2")
        + request("GET", "/last")
    )
    with Conn(running.port) as conn:
        conn.send(burst)
        assert conn.read_response().body == b"first"
        assert conn.read_response().body == b"done"
        assert conn.read_response().body == b"abcde"
        head = conn.read_response("HEAD")
        assert head.status == 200 and head.body == b""
        assert conn.read_response().body == b"part 0\npart 1\n"
        assert conn.read_response().body == b"hello /last"


def test_pipelining_sent_byte_by_byte(serve: Serve) -> None:
    running = serve(RawApp())
    burst = request("POST", "/echo", body=b"0123456789") + request("GET", "/two")
    with Conn(running.port) as conn:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(burst)):
            conn.send(burst[i : i + 1])
        assert conn.read_response().body == b"0123456789"
        assert conn.read_response().body == b"hello /two"


def test_keep_alive_reuses_the_connection(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        for i in range(5):
            conn.send(request("POST", "/echo", body=b"n%d" % i))
            response = conn.read_response()
            assert response.status == 200
            assert response.header("connection") is None
            assert response.body == b"n%d" % i
    # counted just after the write: the client may be a hair faster
    assert wait_for(lambda: running.server.server_state.total_requests == 5, timeout=2)


def test_connection_close_closes(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/bye", [("Connection", "close")]))
        response = conn.read_response()
        assert response.body == b"hello /bye"
        assert response.header("connection") == "close"
        assert conn.is_closed_by_peer(timeout=3)


def test_requests_after_connection_close_are_not_answered(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/one", [("Connection", "close")]) + request("GET", "/two"))
        assert conn.read_response().body == b"hello /one"
        assert conn.read_until_closed(timeout=3) == b""


def test_http_1_0(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(b"GET /old HTTP/1.0\r\n\r\n")
        response = conn.read_response()
        assert response.version == "HTTP/1.1"
        assert response.status == 200
        assert response.body == b"hello /old"
        assert conn.is_closed_by_peer(timeout=3)


def test_http_1_0_streamed_response_is_close_delimited(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(b"GET /stream?n=3 HTTP/1.0\r\n\r\n")
        response = conn.read_response()
        assert response.header("transfer-encoding") is None
        assert response.header("content-length") is None
        assert response.body == b"part 0\npart 1\npart 2\n"


def test_http_1_0_keep_alive(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = conn.read_response()
        assert response.body == b"hello /a"
        assert response.header("connection") == "keep-alive"
        conn.send(b"GET /b HTTP/1.0\r\n\r\n")
        assert conn.read_response().body == b"hello /b"
        assert conn.is_closed_by_peer(timeout=3)


def test_half_closed_client_still_gets_its_answer(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/slow?t=0.1") + request("GET", "/second"))
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.read_response().body == b"done"
        assert conn.read_response().body == b"hello /second"
        assert conn.is_closed_by_peer(timeout=3)


# -- bad requests: status, then close --------------------------------------------------------------


def expect_error_then_close(conn: Conn, status: int) -> None:
    response = conn.read_response()
    assert response.status == status, response
    assert response.header("connection") == "close"
    assert conn.is_closed_by_peer(timeout=3), "the connection stayed open after the error"


def test_smuggling_cl_and_te_is_400_and_close(serve: Serve, loop_name: str) -> None:
    app = RawApp()
    running = serve(app, loop=loop_name)
    smuggle = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with Conn(running.port) as conn:
        conn.send(smuggle)
        expect_error_then_close(conn, 400)
    assert app.arrived == 0, "the app saw a request that should have been refused"


def test_smuggling_te_cl_after_good_request(serve: Serve) -> None:
    app = RawApp()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(
            request("GET", "/good")
            + b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 3\r\n\r\n0\r\n\r\n"
        )
        assert conn.read_response().body == b"hello /good"
        expect_error_then_close(conn, 400)
    assert app.arrived == 1


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="no-host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two-hosts"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", id="space-in-name"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", id="obs-fold"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            id="two-content-lengths",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            id="bad-chunk",
        ),
    ],
)
def test_invalid_requests_are_400_and_close(serve: Serve, raw: bytes) -> None:
    app = RawApp()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(raw)
        expect_error_then_close(conn, 400)
    assert app.arrived == 0


def test_tls_client_hello_is_refused_at_once(serve: Serve) -> None:
    """A TLS ClientHello has no CRLF, but its first byte can be in no request line: 400 now."""
    app = RawApp()
    running = serve(app)  # the 10 s header-read deadline plays no part
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) * 4
    with Conn(running.port) as conn:
        begin = time.monotonic()
        conn.send(hello)
        data = conn.read_until_closed(timeout=3)
        assert time.monotonic() - begin < 2.0
    assert data.startswith(b"HTTP/1.1 400 "), data
    assert app.arrived == 0


def test_unknown_transfer_coding_is_501(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        response = conn.read_response()
        assert response.status in (400, 501)
        assert conn.is_closed_by_peer(timeout=3)


def test_http_2_0_request_line_is_505(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        expect_error_then_close(conn, 505)


def test_request_line_too_long_is_414(serve: Serve) -> None:
    app = RawApp()
    running = serve(app, max_request_line=200)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/" + "a" * 300))
        expect_error_then_close(conn, 414)
    with Conn(running.port) as conn:  # the server is fine
        conn.send(request("GET", "/" + "a" * 100))
        assert conn.read_response().status == 200


def test_default_request_line_limit_is_414(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/" + "a" * 9000))
        expect_error_then_close(conn, 414)


def test_headers_too_large_is_431(serve: Serve) -> None:
    running = serve(RawApp(), max_header_size=1024)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/", [("X-Big", "b" * 2000)]))
        expect_error_then_close(conn, 431)


def test_too_many_headers_is_431(serve: Serve) -> None:
    running = serve(RawApp(), max_headers=10)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/", [(f"X-H{i}", "v") for i in range(20)]))
        expect_error_then_close(conn, 431)


def test_head_sent_without_end_over_the_limit_is_431(serve: Serve) -> None:
    running = serve(RawApp(), max_header_size=1024)
    with Conn(running.port) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"e" * 4096)  # no CRLF
        expect_error_then_close(conn, 431)


def test_body_over_max_body_size_is_413(serve: Serve) -> None:
    app = RawApp()
    running = serve(app, max_body_size=1000)
    with Conn(running.port) as conn:
        conn.send(request("POST", "/echo", body=b"z" * 1000))
        assert conn.read_response().body == b"z" * 1000
        conn.send(request("POST", "/echo", body=b"z" * 1001))
        expect_error_then_close(conn, 413)
    assert app.arrived == 1


def test_chunked_body_over_max_body_size_is_413(serve: Serve) -> None:
    """The app already runs when the chunked body goes over the limit: still 413, then close."""
    app = RawApp()
    running = serve(app, max_body_size=1000)
    chunk = b"z" * 600
    with Conn(running.port) as conn:
        conn.send(
            request("POST", "/echo", [("Transfer-Encoding", "chunked")])
            + b"%x\r\n%s\r\n" % (len(chunk), chunk)
        )
        wait_for(lambda: app.arrived == 1, what="the app to start")
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
        expect_error_then_close(conn, 413)


def test_server_survives_garbage(serve: Serve) -> None:
    running = serve(RawApp())
    for junk in (b"\r\n\r\n\r\n", b"\x00" * 100, b"GET", b"HELLO WORLD\r\n\r\n"):
        with Conn(running.port) as conn:
            conn.send(junk)
            conn.sock.shutdown(socket.SHUT_WR)
            conn.read_until_closed(timeout=3)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/ok"))
        assert conn.read_response().body == b"hello /ok"


# -- timeouts --------------------------------------------------------------------------------------


def test_header_read_timeout_408_then_close(serve: Serve) -> None:
    running = serve(RawApp(), timeout_header_read=0.3, timeout_keep_alive=5)
    with Conn(running.port) as conn:
        begin = time.monotonic()
        conn.send(b"GET /slowloris HTTP/1.1\r\nHost: x\r\n")
        data = conn.read_until_closed(timeout=4)
        elapsed = time.monotonic() - begin
    assert 0.25 <= elapsed < 2.0, elapsed
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert b"connection: close" in data.lower()


def test_header_read_timeout_is_not_reset_by_trickling(serve: Serve) -> None:
    running = serve(RawApp(), timeout_header_read=0.5, timeout_keep_alive=5)
    with Conn(running.port) as conn:
        begin = time.monotonic()
        conn.send(b"GET / HTTP/1.1\r\n")
        closed_at = None
        for _ in range(40):  # one header byte every 0.1 s: never finishes in time
            time.sleep(0.1)
            try:
                conn.send(b"X")
            except OSError:
                closed_at = time.monotonic()
                break
        if closed_at is None:
            conn.read_until_closed(timeout=2)
            closed_at = time.monotonic()
    assert closed_at - begin < 2.5


def test_keep_alive_idle_timeout_closes(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), timeout_keep_alive=0.3, loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/x"))
        assert conn.read_response().body == b"hello /x"
        begin = time.monotonic()
        assert conn.is_closed_by_peer(timeout=4)
        elapsed = time.monotonic() - begin
    assert 0.2 <= elapsed < 2.0, elapsed


def test_idle_connection_without_request_is_closed(serve: Serve) -> None:
    running = serve(RawApp(), timeout_keep_alive=0.3)
    with Conn(running.port) as conn:
        begin = time.monotonic()
        assert conn.is_closed_by_peer(timeout=4)
        assert time.monotonic() - begin < 2.0


def test_slow_request_is_not_cut_by_keep_alive_timeout(serve: Serve) -> None:
    running = serve(RawApp(), timeout_keep_alive=0.2, timeout_header_read=0.2)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/slow?t=0.8"))
        assert conn.read_response().body == b"done"


def test_slow_client_trickling_the_body_gets_a_full_answer(serve: Serve) -> None:
    running = serve(RawApp(), timeout_header_read=0.5, timeout_keep_alive=0.5)
    body = pattern(3000)
    with Conn(running.port) as conn:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.send(request("POST", "/echo", [("Content-Length", str(len(body)))]))
        for i in range(0, len(body), 300):  # ten pieces over ~1 s, longer than both timeouts
            time.sleep(0.1)
            conn.send(body[i : i + 300])
        response = conn.read_response()
        assert response.status == 200
        assert_bytes(response.body, body)


# -- disconnects -----------------------------------------------------------------------------------


def test_disconnect_mid_body_reaches_the_app(serve: Serve, loop_name: str) -> None:
    app = RawApp()
    running = serve(app, loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request("POST", "/wait-body", [("Content-Length", "1000")]) + b"a" * 100)
        assert wait_for(lambda: len(app.received) >= 1, timeout=3)
    assert app.disconnected.wait(5), f"the app never saw http.disconnect: {app.received}"
    assert app.received[-1] == {"type": "http.disconnect"}
    assert sum(len(m.get("body", b"")) for m in app.received) == 100
    # the server's side of the closed connection is closed too, not left half-open
    assert wait_for(lambda: not running.server.server_state.connections, timeout=3), (
        "the connection was never closed after the client went away mid-body"
    )
    with Conn(running.port) as conn:  # the server goes on
        conn.send(request("GET", "/next"))
        assert conn.read_response().body == b"hello /next"


def test_client_closing_during_streaming_response(serve: Serve, loop_name: str) -> None:
    app = RawApp()
    running = serve(app, loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/stream-forever"))
        head = conn.read_head()
        assert head.status == 200
        conn.sock.recv(65536)
        conn.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
    assert app.send_failed.wait(5), "send() kept succeeding after the client went away"
    assert isinstance(app.send_errors[0], OSError), repr(app.send_errors[0])
    assert wait_for(lambda: not running.server.server_state.tasks, timeout=3)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/still-alive"))
        assert conn.read_response().body == b"hello /still-alive"


def test_client_gone_before_slow_response(serve: Serve) -> None:
    app = RawApp()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/slow?t=0.2"))
    assert wait_for(lambda: app.finished == 1, timeout=3)
    assert wait_for(lambda: not running.server.server_state.connections, timeout=3)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/ok"))
        assert conn.read_response().body == b"hello /ok"


# -- 100-continue ----------------------------------------------------------------------------------


def test_expect_100_continue(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request("POST", "/echo", [("Content-Length", "11"), ("Expect", "100-continue")]))
        interim = conn.read_response()
        assert interim.status == 100
        assert interim.raw_head == b"HTTP/1.1 100 Continue"
        conn.send(b"hello world")
        final = conn.read_response()
        assert final.status == 200
        assert final.body == b"hello world"
        # and the connection keeps going
        conn.send(request("GET", "/again"))
        assert conn.read_response().body == b"hello /again"


def test_expect_100_continue_not_sent_if_app_answers_without_reading(serve: Serve) -> None:
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(
            request(
                "POST",
                "/state",  # answers without reading the body
                [("Content-Length", "100000"), ("Expect", "100-continue")],
            )
        )
        response = conn.read_response()
        assert response.status == 200
        assert conn.is_closed_by_peer(timeout=3)  # the unread body is not drained


# -- flow control ----------------------------------------------------------------------------------


def wait_write_paused(running: Any) -> None:
    """Wait until the server's transport has paused writing to a connection (a reader that
    reads nothing has filled the socket and the transport's buffer)."""

    def paused() -> bool:
        connections = running.server.server_state.connections
        return any(conn.write_paused for conn in connections)

    wait_for(lambda: running.on_loop(paused), what="the server to pause writing")


def test_large_response_arrives_whole_to_a_slow_reader(serve: Serve, loop_name: str) -> None:
    size = 10 * 1024 * 1024
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        conn.send(request("GET", f"/big?n={size}"))
        wait_write_paused(running)  # the server filled its buffers and paused
        response = conn.read_response()
        assert response.status == 200
        assert int(response.header("content-length") or 0) == size
        assert hashlib.sha256(response.body).digest() == hashlib.sha256(pattern(size)).digest()
        conn.send(request("GET", "/after"))
        assert conn.read_response().body == b"hello /after"


def test_large_request_body_with_slow_app_reading(serve: Serve) -> None:
    """Read-side flow control: a 5 MB body is buffered in bounded pieces, then echoed."""
    size = 5 * 1024 * 1024
    running = serve(RawApp())
    body = pattern(size)
    with Conn(running.port) as conn:
        conn.send(request("POST", "/echo", body=body))
        response = conn.read_response()
        assert response.header("x-body-length") == str(size)
        assert_bytes(response.body, body)


# -- app errors ------------------------------------------------------------------------------------


def test_app_error_before_response_is_500(serve: Serve, loop_name: str) -> None:
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/raise"))
        response = conn.read_response()
        assert response.status == 500
        assert response.header("connection") == "close"
        assert conn.is_closed_by_peer(timeout=3)


def test_app_error_after_complete_response_keeps_the_response_whole(
    serve: Serve, loop_name: str
) -> None:
    """The response was complete and well framed when the app raised: every byte must arrive.

    A slow reader leaves most of the 10 MB in the server's write buffer when the app raises;
    aborting the transport (RST) then would throw those bytes away.
    """
    size = 10 * 1024 * 1024
    running = serve(RawApp(), loop=loop_name)
    with Conn(running.port) as conn:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        conn.send(request("GET", f"/raise-after?n={size}"))
        wait_write_paused(running)
        response = conn.read_response()
        assert response.status == 200
        assert_bytes(response.body, pattern(size))


# -- answering without reading the request body ----------------------------------------------------


def test_response_without_reading_the_body_announces_the_close(serve: Serve) -> None:
    """The server closes rather than drain an unread body; the response must say so."""
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("POST", "/state", [("Content-Length", "1000000")]) + b"x" * 1000)
        response = conn.read_response()
        assert response.status == 200
        assert conn.is_closed_by_peer(timeout=3)
        assert response.header("connection") == "close"


def test_early_response_reaches_a_client_still_uploading(serve: Serve) -> None:
    """An app may answer (401, 413, a redirect...) before reading the body. Closing the socket
    with unread request bytes makes the kernel send a RST, which throws away the part of the
    response not yet delivered; RFC 9112 section 9.6 asks for a staged close instead."""
    size = 300_000
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(
            request("POST", f"/big?n={size}", [("Content-Length", "10000000")]) + b"x" * 200_000
        )
        time.sleep(0.3)
        response = conn.read_response()
        assert response.status == 200
        assert_bytes(response.body, pattern(size))


# -- RFC 9110/9112 requirements a raw-socket conformance probe checks ------------------------------


@pytest.mark.parametrize(
    "expect",
    [
        pytest.param("x-unknown", id="unknown"),
        pytest.param("100-continue, foo", id="100_continue_and_another"),
    ],
)
def test_unknown_expectation_is_417_and_close(serve: Serve, expect: str) -> None:
    # "A server that receives an Expect field value containing a member other than
    # 100-continue MAY respond with a 417 (Expectation Failed) status code" -- RFC 9110 §10.1.1
    app = RawApp()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(request("POST", "/echo", [("Expect", expect)], b"abc"))
        expect_error_then_close(conn, 417)
    assert app.arrived == 0


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"http:///a", id="empty_host"),
        pytest.param(b"http://:80/a", id="port_without_host"),
        pytest.param(b"http://user@example.com/a", id="userinfo"),
    ],
)
def test_absolute_form_without_a_valid_host_is_400(serve: Serve, target: bytes) -> None:
    # "A recipient that processes such a URI reference [an empty host] MUST reject it as
    # invalid"; userinfo: "treat its presence as an error" -- RFC 9110 §4.2.1, §4.2.4
    app = RawApp()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n")
        expect_error_then_close(conn, 400)
    assert app.arrived == 0


class StatusApp:
    """Answers GET /<status> with that status, the given framing field and a 3-byte body."""

    def __init__(self, fields: list[tuple[bytes, bytes]]) -> None:
        self.fields = fields

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status = int(scope["path"].strip("/"))
        await send({"type": "http.response.start", "status": status, "headers": self.fields})
        await send({"type": "http.response.body", "body": b"abc"})


@pytest.mark.parametrize("status", [100, 101, 103])
def test_1xx_as_the_final_response_is_an_app_error(serve: Serve, status: int) -> None:
    # A 1xx is interim: "A client MUST be able to parse one or more 1xx responses received
    # prior to a final response" -- RFC 9110 §15.2; sent as the whole answer, it would leave
    # the client waiting for the final one (and a 101 would switch protocols).
    running = serve(StatusApp([]))
    with Conn(running.port) as conn:
        conn.send(request("GET", f"/{status}"))
        response = conn.read_response()
        assert response.status == 500, response
        assert conn.is_closed_by_peer(timeout=3)


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param((b"content-length", b"3"), id="content_length"),
        pytest.param((b"transfer-encoding", b"chunked"), id="chunked"),
    ],
)
def test_204_goes_out_without_framing_fields(serve: Serve, framing: tuple[bytes, bytes]) -> None:
    # "A server MUST NOT send a Content-Length header field in any response with a status
    # code of 1xx (Informational) or 204 (No Content)." -- RFC 9110 §8.6 (Transfer-Encoding:
    # RFC 9112 §6.1)
    running = serve(StatusApp([framing]))
    with Conn(running.port) as conn:
        conn.send(request("GET", "/204") + request("GET", "/200"))
        response = conn.read_response()
        assert response.status == 204
        assert response.header(framing[0].decode()) is None, response.raw_head
        # nothing follows the head but the next response
        after = conn.read_response()
        assert (after.status, after.body) == (200, b"abc")


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param((b"x-none", b"1"), id="none"),
        pytest.param((b"content-length", b"3"), id="content_length"),
        pytest.param((b"transfer-encoding", b"chunked"), id="chunked"),
    ],
)
def test_205_goes_out_without_content(serve: Serve, framing: tuple[bytes, bytes]) -> None:
    # "a server MUST NOT generate content in a 205 response" -- RFC 9110 §15.3.6; the app's
    # body is dropped and the head says `content-length: 0`, so the client reads no further
    running = serve(StatusApp([framing]))
    with Conn(running.port) as conn:
        conn.send(request("GET", "/205") + request("GET", "/200"))
        response = conn.read_response()
        assert response.status == 205
        assert response.header("content-length") == "0", response.raw_head
        assert response.header("transfer-encoding") is None
        after = conn.read_response()
        assert after.raw_head.startswith(b"HTTP/1.1 200 OK\r\n")  # no stray body before it
        assert after.body == b"abc"


def test_one_body_shorter_than_its_content_length_is_a_500(serve: Serve) -> None:
    # Nothing was sent yet (the head waits for the first body message): a 500, then close.
    running = serve(StatusApp([(b"content-length", b"10")]))
    with Conn(running.port) as conn:
        conn.send(request("GET", "/200"))
        response = conn.read_response()
        assert response.status == 500 and response.header("connection") == "close"
        assert conn.is_closed_by_peer(timeout=3)


def test_2xx_to_connect_is_a_head_without_framing_then_close(serve: Serve) -> None:
    # "A server MUST NOT send any Transfer-Encoding or Content-Length header fields in a 2xx
    # (Successful) response to CONNECT." -- RFC 9110 §9.3.6; the client then takes the
    # connection for a tunnel, which the server does not serve: it closes after the head.
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope["path"])
        fields = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": fields})
        await send({"type": "http.response.body", "body": b"ok"})

    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        head = conn.read_head()
        assert head.status == 200
        assert head.header("content-length") is None and head.header("transfer-encoding") is None
        assert head.header("connection") == "close"
        assert conn.is_closed_by_peer(timeout=3)
    assert seen == ["example.com:443"]


def test_absolute_form_authority_is_the_host_the_app_sees(serve: Serve) -> None:
    # "When an origin server receives a request with an absolute-form of request-target, the
    # origin server MUST ignore the received Host header field (if any) and instead use the
    # host information of the request-target." -- RFC 9112 §3.2.2
    hosts: list[list[bytes]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        hosts.append([value for name, value in scope["headers"] if name == b"host"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(b"GET http://a.example:81/p HTTP/1.1\r\nHost: b.example\r\n\r\n")
        assert conn.read_response().body == b"ok"
        conn.send(b"GET /p HTTP/1.1\r\nHost: b.example\r\n\r\n")
        assert conn.read_response().body == b"ok"
    assert hosts == [[b"a.example:81"], [b"b.example"]]
