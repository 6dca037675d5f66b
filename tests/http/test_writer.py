"""ResponseWriter tests, run once per twin ("py", "c") through the `writer_cls` fixture.

Strategy: every rule of the ResponseWriter section of docs/core.md has a test here, on both
twins. Exact bytes are checked with `date_header=False` (the only varying part); framing is also
checked the way a real client sees it, by feeding the output to an h11 client connection. The
last section holds the twins to byte-identical output (and identical errors) for the same
message sequences, fixed ones and Hypothesis-generated ones, with the pure twin as the reference.
"""

from __future__ import annotations

import email.utils
import importlib
import re
from http import HTTPStatus
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sailfish.errors import ResponseError

GET_11 = ("GET", "1.1", True)
TEXT = [(b"content-type", b"text/plain")]


# -- helpers ---------------------------------------------------------------------------------


def new(writer_cls: Any, **kwargs: Any) -> Any:
    """A writer with no date field (so outputs are exact) unless the test asks for one."""
    kwargs.setdefault("date_header", False)
    return writer_cls(**kwargs)


def start_msg(status: int = 200, headers: Any = (), **extra: Any) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers), **extra}


def body_msg(body: Any = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


def trailers_msg(headers: Any = (), more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.trailers", "headers": list(headers), "more_trailers": more}


def respond(
    writer: Any,
    status: int = 200,
    headers: Any = (),
    bodies: Any = (b"",),
    request: tuple[str, str, bool] = GET_11,
    **extra: Any,
) -> bytes:
    """start + one body message per item of `bodies` (the last one final); all output joined."""
    writer.start(start_msg(status, headers, **extra), *request)
    out = [writer.body(body_msg(b, more=i < len(bodies) - 1)) for i, b in enumerate(bodies)]
    return b"".join(out)


def head_of(raw: bytes) -> list[bytes]:
    """The field lines of a response head (without the status line)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")[1:]


def h11_read(raw: bytes, method: str = "GET", eof: bool = False) -> dict[str, Any]:
    """What an h11 client makes of `raw` as the response to a `method` request."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "example.com")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    if eof:
        conn.receive_data(b"")
    result: dict[str, Any] = {"body": b"", "complete": False}
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            break
        if isinstance(event, h11.Response):
            result["status"] = event.status_code
            result["reason"] = event.reason
            result["headers"] = list(event.headers)
        elif isinstance(event, h11.Data):
            result["body"] += event.data
        elif isinstance(event, h11.EndOfMessage):
            result["complete"] = True
            result["trailers"] = list(event.headers)
        elif isinstance(event, h11.ConnectionClosed):
            break
    result["their_state"] = conn.their_state
    return result


# -- status line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "line"),
    [
        pytest.param(200, b"HTTP/1.1 200 OK\r\n", id="ok"),
        pytest.param(201, b"HTTP/1.1 201 Created\r\n", id="created"),
        pytest.param(404, b"HTTP/1.1 404 Not Found\r\n", id="not_found"),
        pytest.param(500, b"HTTP/1.1 500 Internal Server Error\r\n", id="server_error"),
        pytest.param(599, b"HTTP/1.1 599 \r\n", id="unknown_code_keeps_the_space"),
        pytest.param(299, b"HTTP/1.1 299 \r\n", id="unknown_2xx"),
        pytest.param(HTTPStatus.IM_A_TEAPOT, b"HTTP/1.1 418 I'm a Teapot\r\n", id="int_enum"),
    ],
)
def test_status_line(writer_cls: Any, status: int, line: bytes) -> None:
    out = respond(new(writer_cls), status)
    assert out.startswith(line)


def test_every_status_line_uses_http_status(writer_cls: Any) -> None:
    for code in range(200, 600):
        try:
            reason = HTTPStatus(code).phrase.encode()
        except ValueError:
            reason = b""
        writer = new(writer_cls)
        out = respond(writer, code)
        assert out.startswith(b"HTTP/1.1 %d %s\r\n" % (code, reason))


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_status_line_is_always_http_11(writer_cls: Any, version: str) -> None:
    # "A server SHOULD send a response version equal to the highest version to which the
    # server is conformant" -- RFC 9110 §6.2
    out = respond(new(writer_cls), 200, request=("GET", version, True))
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(
    ("reason", "line"),
    [
        pytest.param(b"Everything Fine", b"HTTP/1.1 200 Everything Fine\r\n", id="custom"),
        pytest.param(b"", b"HTTP/1.1 200 \r\n", id="empty"),
        pytest.param(b"caf\xe9\t~", b"HTTP/1.1 200 caf\xe9\t~\r\n", id="obs_text_and_tab"),
    ],
)
def test_reason_key_gives_the_status_line(writer_cls: Any, reason: bytes, line: bytes) -> None:
    # sailfish's `reason` key (set by the WSGI runner for an app's own phrase); the next
    # response without it is back to the standard phrase.
    writer = new(writer_cls)
    assert respond(writer, 200, reason=reason).startswith(line)
    assert respond(writer, 200).startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param(b"OK\r\nX-Injected: 1", id="crlf"),
        pytest.param(b"O\x00K", id="nul"),
        pytest.param(b"\x7f", id="del"),
    ],
)
def test_bad_reason_key(writer_cls: Any, reason: Any) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError, match="^reason must be bytes"):
        writer.start(start_msg(200, reason=reason), *GET_11)
    assert not writer.started


@pytest.mark.parametrize("reason", ["Custom", 7, None], ids=["str", "int", "none"])
def test_reason_key_that_is_not_bytes_is_ignored(writer_cls: Any, reason: Any) -> None:
    # Not sailfish's: another app's own key in the message (ASGI leaves extra keys alone).
    assert respond(new(writer_cls), 200, reason=reason).startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(99, id="below_100"),
        # A 1xx is interim (RFC 9110 §15.2): an exchange cannot end on one, so
        # http.response.start refuses it (103 goes out with early_hint).
        pytest.param(100, id="continue"),
        pytest.param(101, id="switching_protocols"),
        pytest.param(103, id="early_hints"),
        pytest.param(199, id="last_1xx"),
        pytest.param(600, id="above_599"),
        pytest.param(0, id="zero"),
        pytest.param(-200, id="negative"),
        pytest.param(2**70, id="huge"),
        pytest.param("200", id="str"),
        pytest.param(b"200", id="bytes"),
        pytest.param(200.0, id="float"),
        pytest.param(None, id="none"),
        pytest.param(True, id="bool"),
    ],
)
def test_bad_status(writer_cls: Any, status: Any) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError):
        writer.start(start_msg(status), *GET_11)
    assert not writer.started


def test_missing_status(writer_cls: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start({"type": "http.response.start", "headers": []}, *GET_11)


@pytest.mark.parametrize("version", ["2", "1.2", "HTTP/1.1", "", None])
def test_bad_http_version_argument(writer_cls: Any, version: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(), "GET", version, True)


# -- date and server -------------------------------------------------------------------------

IMF_FIXDATE = re.compile(
    rb"date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov"
    rb"|Dec) \d{4} \d\d:\d\d:\d\d GMT"
)


def test_date_is_imf_fixdate_and_current(writer_cls: Any) -> None:
    import time

    before = time.time()
    out = respond(writer_cls(), 200)
    after = time.time()
    dates = [line for line in head_of(out) if line.startswith(b"date: ")]
    assert len(dates) == 1
    assert IMF_FIXDATE.fullmatch(dates[0])
    when = email.utils.parsedate_to_datetime(dates[0][6:].decode()).timestamp()
    # The compiled writer reads C time(), which glibc may serve from the coarse clock: it can
    # trail time.time() by a tick, so a second boundary between the two is allowed for.
    assert int(before) - 1 <= when <= after


def test_date_is_the_same_across_responses_in_one_second(writer_cls: Any) -> None:
    writer = writer_cls()
    first = [x for x in head_of(respond(writer, 200)) if x.startswith(b"date")]
    second = [x for x in head_of(respond(writer, 200)) if x.startswith(b"date")]
    # the same second, almost always; a change can only move forward by one second
    assert first == second or first[0] < second[0] or second[0][:9] != first[0][:9]


def test_date_disabled(writer_cls: Any) -> None:
    out = respond(writer_cls(date_header=False), 200)
    assert not any(line.lower().startswith(b"date:") for line in head_of(out))


@pytest.mark.parametrize("name", [b"date", b"Date", b"DATE"])
def test_app_date_replaces_ours(writer_cls: Any, name: bytes) -> None:
    app = (name, b"Sun, 06 Nov 1994 08:49:37 GMT")
    out = respond(writer_cls(), 200, [app])
    dates = [line for line in head_of(out) if line.lower().startswith(b"date:")]
    assert dates == [b"%s: Sun, 06 Nov 1994 08:49:37 GMT" % name]


def test_server_default(writer_cls: Any) -> None:
    assert head_of(respond(new(writer_cls), 200))[0] == b"server: sailfish"


def test_server_custom(writer_cls: Any) -> None:
    out = respond(new(writer_cls, server_header=b"acme/1.0 (x)"), 200)
    assert head_of(out)[0] == b"server: acme/1.0 (x)"


def test_server_disabled(writer_cls: Any) -> None:
    out = respond(new(writer_cls, server_header=None), 200)
    assert head_of(out) == [b"content-length: 0"]


@pytest.mark.parametrize("name", [b"server", b"Server", b"SERVER"])
def test_app_server_replaces_ours(writer_cls: Any, name: bytes) -> None:
    out = respond(new(writer_cls), 200, [(name, b"app")])
    assert head_of(out) == [name + b": app", b"content-length: 0"]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(b"a\r\nb: c", ValueError, id="crlf"),
        pytest.param(b"a\x00", ValueError, id="nul"),
        pytest.param(b"a\x7f", ValueError, id="del"),
        pytest.param("sailfish", TypeError, id="str"),
        pytest.param(42, TypeError, id="int"),
    ],
)
def test_bad_server_header(writer_cls: Any, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        writer_cls(server_header=value)


# -- default headers and field order ----------------------------------------------------------


def test_default_headers_come_first_in_every_response(writer_cls: Any) -> None:
    defaults = [(b"X-Frame-Options", b"DENY"), (b"x-b", b"")]
    writer = new(writer_cls, default_headers=defaults)
    for _ in range(2):
        out = respond(writer, 200, [(b"x-app", b"1")], [b"hi"])
        assert out == (
            b"HTTP/1.1 200 OK\r\nX-Frame-Options: DENY\r\nx-b: \r\nserver: sailfish\r\n"
            b"x-app: 1\r\ncontent-length: 2\r\n\r\nhi"
        )


def test_default_headers_accept_any_iterable(writer_cls: Any) -> None:
    writer = new(writer_cls, default_headers=iter([[b"a", b"1"]]), server_header=None)
    assert head_of(respond(writer, 200)) == [b"a: 1", b"content-length: 0"]


def test_field_order(writer_cls: Any) -> None:
    # default headers, server, date, the app's (as given), framing, connection
    writer = writer_cls(default_headers=[(b"x-default", b"d")])
    out = respond(
        writer, 200, [(b"X-App", b"a"), (b"x-app", b"b")], [b"x", b"y"], ("GET", "1.1", False)
    )
    lines = head_of(out)
    assert lines[0] == b"x-default: d"
    assert lines[1] == b"server: sailfish"
    assert IMF_FIXDATE.fullmatch(lines[2])
    assert lines[3:] == [
        b"X-App: a",
        b"x-app: b",
        b"transfer-encoding: chunked",
        b"connection: close",
    ]


@pytest.mark.parametrize(
    "defaults",
    [
        pytest.param([(b"a b", b"x")], id="space_in_name"),
        pytest.param([(b"", b"x")], id="empty_name"),
        pytest.param([(b"a:", b"x")], id="colon_in_name"),
        pytest.param([(b"a", b"x\r\nInjected: 1")], id="crlf_in_value"),
        pytest.param([(b"a", b"x\n")], id="lf_in_value"),
        pytest.param([(b"a", b"\x00")], id="nul_in_value"),
        pytest.param([("a", b"x")], id="str_name"),
        pytest.param([(b"a", "x")], id="str_value"),
        pytest.param([(b"a", b"x", b"y")], id="three_items"),
        pytest.param([b"ab"], id="not_a_pair"),
        pytest.param(42, id="not_iterable"),
        pytest.param([(b"Content-Length", b"0")], id="content_length"),
        pytest.param([(b"transfer-encoding", b"chunked")], id="transfer_encoding"),
        pytest.param([(b"Connection", b"close")], id="connection"),
    ],
)
def test_bad_default_headers(writer_cls: Any, defaults: Any) -> None:
    with pytest.raises(ValueError):
        writer_cls(default_headers=defaults)


def test_names_are_written_as_given(writer_cls: Any) -> None:
    out = respond(new(writer_cls, server_header=None), 200, [(b"X-CamelCase", b"V a l")])
    assert head_of(out) == [b"X-CamelCase: V a l", b"content-length: 0"]


# -- body framing ----------------------------------------------------------------------------


def test_typical_response_is_one_coalesced_bytes(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, TEXT + [(b"x-id", b"7")]), *GET_11)
    out = writer.body(body_msg(b"Hello, world!"))
    assert out == (
        b"HTTP/1.1 200 OK\r\nserver: sailfish\r\ncontent-type: text/plain\r\nx-id: 7\r\n"
        b"content-length: 13\r\n\r\nHello, world!"
    )
    assert type(out) is bytes
    assert writer.complete and not writer.started and writer.keep_alive
    seen = h11_read(out)
    assert seen["status"] == 200 and seen["body"] == b"Hello, world!" and seen["complete"]
    assert seen["their_state"] is h11.DONE


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_content_length_added_for_single_message_body(writer_cls: Any, version: str) -> None:
    out = respond(
        new(writer_cls, server_header=None), 200, bodies=[b"abc"], request=("GET", version, False)
    )
    assert (
        out
        == b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n"
        + (b"connection: close\r\n" if version == "1.1" else b"")
        + b"\r\nabc"
    )


def test_content_length_zero_for_empty_body(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    out = writer.body({"type": "http.response.body"})  # body and more_body default
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    assert writer.complete


def test_chunked_for_streamed_body_on_11(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    parts = [
        writer.body(body_msg(b"Hello", more=True)),
        writer.body(body_msg(b"", more=True)),  # an empty non-final message writes nothing
        writer.body(body_msg(b"x" * 300, more=True)),
        writer.body(body_msg(b"!", more=False)),
    ]
    assert parts == [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nHello\r\n",
        b"",
        b"12c\r\n" + b"x" * 300 + b"\r\n",
        b"1\r\n!\r\n0\r\n\r\n",
    ]
    assert writer.keep_alive and writer.complete
    seen = h11_read(b"".join(parts))
    assert seen["body"] == b"Hello" + b"x" * 300 + b"!" and seen["complete"]


def test_chunked_empty_final_message(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    head = writer.body(body_msg(b"", more=True))
    assert head == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    assert writer.body(body_msg(b"")) == b"0\r\n\r\n"


def test_close_delimited_on_10(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), "GET", "1.0", True)
    assert writer.keep_alive  # provisional until the framing is known
    first = writer.body(body_msg(b"abc", more=True))
    assert first == b"HTTP/1.1 200 OK\r\n\r\nabc"  # no framing field, no connection field
    assert writer.keep_alive is False
    assert writer.body(body_msg(bytearray(b"de"), more=True)) == b"de"
    assert writer.body(body_msg(b"")) == b""
    assert writer.complete and writer.keep_alive is False
    seen = h11_read(b"HTTP/1.1 200 OK\r\n\r\nabcde", eof=True)
    assert seen["body"] == b"abcde" and seen["complete"]


def test_10_keep_alive_gets_connection_keep_alive(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, bodies=[b"ok"], request=("GET", "1.0", True))
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok"
    assert writer.keep_alive is True


def test_10_without_keep_alive_gets_no_connection_field(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, bodies=[b"ok"], request=("GET", "1.0", False))
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    assert writer.keep_alive is False


def test_10_keep_alive_with_app_content_length_streams(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, [(b"content-length", b"4")], [b"ab", b"cd"], ("GET", "1.0", True))
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\nabcd"
    assert writer.keep_alive is True


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(bytearray(b"abc"), id="bytearray"),
        pytest.param(memoryview(b"xabcx")[1:4], id="memoryview"),
        pytest.param(memoryview(bytearray(b"abc")), id="memoryview_of_bytearray"),
    ],
)
def test_body_accepts_bytes_like(writer_cls: Any, body: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    assert writer.body(body_msg(body)) == b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"
    writer.start(start_msg(200, [(b"content-length", b"6")]), *GET_11)
    writer.body(body_msg(b"abc", more=True))
    out = writer.body(body_msg(body))
    assert out == b"abc" and type(out) is bytes


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("text", id="str"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
        pytest.param([b"a"], id="list"),
        pytest.param(memoryview(b"abcdef")[::2], id="non_contiguous"),
    ],
)
@pytest.mark.parametrize("first", [True, False])
def test_body_rejects_non_bytes(writer_cls: Any, body: Any, first: bool) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200), *GET_11)
    if not first:
        writer.body(body_msg(b"a", more=True))
    with pytest.raises(ResponseError):
        writer.body(body_msg(body))


# -- no body: HEAD, 1xx, 204, 304 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status"),
    [
        pytest.param("HEAD", 200, id="head"),
        pytest.param("HEAD", 404, id="head_404"),
        pytest.param("GET", 204, id="no_content"),
        pytest.param("GET", 304, id="not_modified"),
    ],
)
def test_no_body_responses(writer_cls: Any, method: str, status: int) -> None:
    # "All 1xx (Informational), 204 (No Content), and 304 (Not Modified) responses do not
    # include content" -- RFC 9110 §6.4.1; neither does a response to HEAD (§9.3.2).
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(status), method, "1.1", True)
    first = writer.body(body_msg(b"dropped", more=True))
    assert first == b"HTTP/1.1 %d %s\r\n\r\n" % (status, HTTPStatus(status).phrase.encode())
    assert writer.body(body_msg(b"also dropped", more=True)) == b""
    assert writer.body(body_msg(b"")) == b""
    assert writer.complete and writer.keep_alive


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize(
    "framing",
    [
        pytest.param((b"Content-Length", b"3"), id="content_length"),
        pytest.param((b"Content-Length", b"0"), id="content_length_zero"),
        pytest.param((b"Transfer-Encoding", b"chunked"), id="chunked"),
    ],
)
def test_204_never_carries_framing_fields(
    writer_cls: Any, version: str, framing: tuple[bytes, bytes]
) -> None:
    # "A server MUST NOT send a Content-Length header field in any response with a status
    # code of 1xx (Informational) or 204 (No Content)." -- RFC 9110 §8.6; likewise
    # Transfer-Encoding -- RFC 9112 §6.1. The app's field is validated, then left out.
    writer = new(writer_cls, server_header=None, date_header=False)
    out = respond(writer, 204, [framing, (b"x-a", b"1")], [b"abc"], request=("GET", version, True))
    assert out.startswith(b"HTTP/1.1 204 No Content\r\nx-a: 1\r\n")
    assert b"content-length" not in out.lower() and b"transfer-encoding" not in out.lower()
    assert out.endswith(b"\r\n\r\n") and b"abc" not in out
    assert writer.complete and writer.keep_alive


@pytest.mark.parametrize("status", [204, 205])
def test_204_and_205_still_validate_framing_fields(writer_cls: Any, status: int) -> None:
    writer = new(writer_cls)
    for bad in ([(b"content-length", b"x")], [(b"transfer-encoding", b"gzip")]):
        with pytest.raises(ResponseError):
            writer.start(start_msg(status, bad), *GET_11)


@pytest.mark.parametrize("request_", [GET_11, ("GET", "1.0", True), ("HEAD", "1.1", True)])
@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(None, id="none"),
        pytest.param((b"Content-Length", b"3"), id="content_length"),
        pytest.param((b"Content-Length", b"0"), id="content_length_zero"),
        pytest.param((b"Transfer-Encoding", b"chunked"), id="chunked"),
    ],
)
@pytest.mark.parametrize("bodies", [[b"abc"], [b"ab", b"c"]], ids=["whole", "streamed"])
def test_205_has_no_content_and_says_so(
    writer_cls: Any, request_: Any, framing: Any, bodies: list[bytes]
) -> None:
    # "a server MUST NOT generate content in a 205 response" -- RFC 9110 §15.3.6. RFC 9112
    # §6.3 does not end a 205 at its head, so the writer says `content-length: 0` itself (RFC
    # 7231 §6.3.6 a): the app's framing field is validated and left out, its body dropped.
    writer = new(writer_cls, server_header=None)
    fields = [(b"x-a", b"1")] if framing is None else [framing, (b"x-a", b"1")]
    out = respond(writer, 205, fields, bodies, request=request_)
    connection = b"connection: keep-alive\r\n" if request_[1] == "1.0" else b""
    assert out == (
        b"HTTP/1.1 205 Reset Content\r\nx-a: 1\r\ncontent-length: 0\r\n%s\r\n" % connection
    )
    assert writer.complete and writer.keep_alive
    seen = h11_read(out + b"HTTP/1.1 200 OK\r\n", method=request_[0])
    assert (seen["status"], seen["body"], seen["complete"]) == (205, b"", True)


def test_205_trailers_are_dropped(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 205, [], [b"abc"], trailers=True)
    assert out.endswith(b"content-length: 0\r\n\r\n") and not writer.complete
    assert writer.trailers(trailers_msg([(b"x-sum", b"1")])) == b""
    assert writer.complete


@pytest.mark.parametrize("status", [200, 204, 299])
def test_2xx_to_connect_ends_at_the_head_and_closes(writer_cls: Any, status: int) -> None:
    # "A server MUST NOT send any Transfer-Encoding or Content-Length header fields in a 2xx
    # (Successful) response to CONNECT." -- RFC 9110 §9.3.6. The client switches to tunnel
    # mode after such a head, which we do not serve: no body, and the connection closes.
    writer = new(writer_cls, server_header=None, date_header=False)
    fields = [(b"content-length", b"2"), (b"x-a", b"1")]
    out = respond(writer, status, fields, [b"hi"], request=("CONNECT", "1.1", True))
    assert out == b"HTTP/1.1 %d %s\r\nx-a: 1\r\nconnection: close\r\n\r\n" % (
        status,
        HTTPStatus(status).phrase.encode() if status != 299 else b"",
    )
    assert writer.complete and not writer.keep_alive


def test_non_2xx_to_connect_is_an_ordinary_response(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None, date_header=False)
    out = respond(writer, 405, [], [b"no"], request=("CONNECT", "1.1", True))
    assert out == b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 2\r\n\r\nno"
    assert writer.keep_alive


def test_head_passes_app_content_length_through(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"Content-Length", b"1234")]), "HEAD", "1.1", True)
    out = writer.body(body_msg(b"not sent"))
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    seen = h11_read(out, method="HEAD")
    assert seen["complete"] and seen["body"] == b""


def test_head_passes_app_chunked_through_on_11_only(writer_cls: Any) -> None:
    te = [(b"transfer-encoding", b"chunked")]
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, te, [b"x"], request=("HEAD", "1.1", True))
    assert out == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    out = respond(writer, 200, te, [b"x"], request=("HEAD", "1.0", True))
    assert out == b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\n\r\n"
    assert writer.keep_alive  # no body, so nothing is close-delimited


def test_head_streamed_keeps_connection(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, bodies=[b"a", b"b"], request=("HEAD", "1.0", True))
    assert out == b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\n\r\n"
    assert writer.keep_alive


def test_head_method_is_case_sensitive(writer_cls: Any) -> None:
    out = respond(
        new(writer_cls, server_header=None), 200, bodies=[b"a"], request=("head", "1.1", True)
    )
    assert out.endswith(b"content-length: 1\r\n\r\na")


# -- the app's Content-Length ----------------------------------------------------------------


def test_app_content_length_honoured(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"Content-Length", b"5")]), *GET_11)
    assert writer.body(body_msg(b"ab", more=True)) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"
    )
    assert writer.body(body_msg(b"", more=True)) == b""
    assert writer.body(body_msg(b"cde")) == b"cde"
    assert writer.complete and writer.keep_alive


def test_app_content_length_overrun_first_message(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, [(b"content-length", b"2")]), *GET_11)
    with pytest.raises(ResponseError):
        writer.body(body_msg(b"abc", more=True))
    assert writer.started and not writer.complete


def test_app_content_length_overrun_later_message(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, [(b"content-length", b"4")]), *GET_11)
    writer.body(body_msg(b"abc", more=True))
    with pytest.raises(ResponseError):
        writer.body(body_msg(b"de", more=True))
    assert writer.body(body_msg(b"d")) == b"d"  # the rejected message wrote nothing


@pytest.mark.parametrize("split", [True, False])
def test_app_content_length_underrun(writer_cls: Any, split: bool) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, [(b"content-length", b"4")]), *GET_11)
    if split:
        writer.body(body_msg(b"ab", more=True))
    with pytest.raises(ResponseError):
        writer.body(body_msg(b"c"))
    assert not writer.complete


def test_app_content_length_zero(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, [(b"content-length", b"0")], [b"", b""])
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def test_identical_content_lengths_are_allowed(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    cl = [(b"content-length", b"2"), (b"Content-Length", b"002")]
    out = respond(writer, 200, cl, [b"ab"])
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nContent-Length: 002\r\n\r\nab"


def test_differing_content_lengths(writer_cls: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start(
            start_msg(200, [(b"content-length", b"2"), (b"content-length", b"3")]), *GET_11
        )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"-1", id="negative"),
        pytest.param(b"+1", id="plus"),
        pytest.param(b"1.0", id="decimal"),
        pytest.param(b" 1", id="leading_space"),
        pytest.param(b"1 ", id="trailing_space"),
        pytest.param(b"0x10", id="hex"),
        pytest.param(b"1,1", id="list"),
        pytest.param(b"1" * 19, id="19_digits"),
        pytest.param("\u0661".encode(), id="non_ascii_digit"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_bad_app_content_length(writer_cls: Any, value: bytes, method: str) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError):
        writer.start(start_msg(200, [(b"content-length", value)]), method, "1.1", True)


def test_content_length_of_18_digits_is_accepted(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"content-length", b"9" * 18)]), *GET_11)
    out = writer.body(body_msg(b"a", more=True))
    assert out == b"HTTP/1.1 200 OK\r\ncontent-length: " + b"9" * 18 + b"\r\n\r\na"


# -- the app's Transfer-Encoding -------------------------------------------------------------


@pytest.mark.parametrize("value", [b"chunked", b"Chunked", b"CHUNKED"])
def test_app_chunked_on_11(writer_cls: Any, value: bytes) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"Transfer-Encoding", value)]), *GET_11)
    out = writer.body(body_msg(b"abc"))  # even a single final message is chunked
    assert out == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n3\r\nabc\r\n0\r\n\r\n" % value
    assert writer.keep_alive
    assert h11_read(out)["body"] == b"abc"


def test_app_chunked_on_10_is_dropped_and_close_delimited(writer_cls: Any) -> None:
    # "A server MUST NOT send a response containing Transfer-Encoding unless the
    # corresponding request indicates HTTP/1.1 (or later minor revisions)." -- RFC 9112 §6.1
    writer = new(writer_cls, server_header=None)
    te = [(b"x-a", b"1"), (b"transfer-encoding", b"chunked"), (b"x-b", b"2")]
    out = respond(writer, 200, te, [b"ab", b"c"], ("GET", "1.0", True))
    assert out == b"HTTP/1.1 200 OK\r\nx-a: 1\r\nx-b: 2\r\n\r\nabc"
    assert writer.keep_alive is False


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"gzip", id="gzip"),
        pytest.param(b"gzip, chunked", id="gzip_chunked"),
        pytest.param(b"chunked, chunked", id="chunked_twice"),
        pytest.param(b"chunked ", id="trailing_space"),
        pytest.param(b"identity", id="identity"),
        pytest.param(b"", id="empty"),
    ],
)
def test_bad_app_transfer_encoding(writer_cls: Any, value: bytes) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(200, [(b"transfer-encoding", value)]), *GET_11)


def test_two_transfer_encoding_fields(writer_cls: Any) -> None:
    te = [(b"transfer-encoding", b"chunked")] * 2
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(200, te), *GET_11)


@pytest.mark.parametrize(
    "request_", [("GET", "1.1", True), ("GET", "1.0", True), ("HEAD", "1.1", True)]
)
def test_transfer_encoding_with_content_length(writer_cls: Any, request_: Any) -> None:
    fields = [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")]
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(200, fields), *request_)


# -- header validation: injection is impossible ------------------------------------------------

BAD_NAMES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"x y", id="space"),
    pytest.param(b"x\ty", id="tab"),
    pytest.param(b"x:", id="colon"),
    pytest.param(b"x\r\ny", id="crlf"),
    pytest.param(b"x\r", id="cr"),
    pytest.param(b"x\n", id="lf"),
    pytest.param(b"x\x00", id="nul"),
    pytest.param(b"x\x01", id="ctl_01"),
    pytest.param(b"x\x7f", id="del"),
    pytest.param(b"x(y)", id="separator"),
    pytest.param(b'x"', id="dquote"),
    pytest.param(b"\xc3\xa9", id="non_ascii"),
    pytest.param(b" x", id="leading_space"),
]
BAD_VALUES = [
    pytest.param(b"a\r\nSet-Cookie: evil=1", id="header_injection"),
    pytest.param(b"a\r\n\r\n<html>", id="response_splitting"),
    pytest.param(b"a\r", id="cr"),
    pytest.param(b"a\n", id="lf"),
    pytest.param(b"\r\n", id="crlf_only"),
    pytest.param(b"a\x00b", id="nul"),
    pytest.param(b"\x01", id="ctl_01"),
    pytest.param(b"a\x0bb", id="vertical_tab"),
    pytest.param(b"a\x0cb", id="form_feed"),
    pytest.param(b"a\x1fb", id="ctl_1f"),
    pytest.param(b"a\x7fb", id="del"),
]
NOT_BYTES = [
    pytest.param(("x", b"v"), id="str_name"),
    pytest.param((b"x", "v"), id="str_value"),
    pytest.param((bytearray(b"x"), b"v"), id="bytearray_name"),
    pytest.param((b"x", bytearray(b"v")), id="bytearray_value"),
    pytest.param((b"x", memoryview(b"v")), id="memoryview_value"),
    pytest.param((b"x", 1), id="int_value"),
    pytest.param((None, b"v"), id="none_name"),
    pytest.param((b"x", None), id="none_value"),
    pytest.param((b"x",), id="one_item"),
    pytest.param((b"x", b"v", b"w"), id="three_items"),
    pytest.param(b"xv", id="bytes_item"),
    pytest.param(None, id="none_item"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_header_name(writer_cls: Any, name: bytes) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError):
        writer.start(start_msg(200, [(b"ok", b"1"), (name, b"v")]), *GET_11)
    assert not writer.started


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_header_value(writer_cls: Any, value: bytes) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError):
        writer.start(start_msg(200, [(b"x", value)]), *GET_11)
    assert not writer.started


@pytest.mark.parametrize("item", NOT_BYTES)
def test_header_not_a_pair_of_bytes(writer_cls: Any, item: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(200, [item]), *GET_11)


@pytest.mark.parametrize("headers", [42, None, object()])
def test_headers_not_iterable(writer_cls: Any, headers: Any) -> None:
    message = {"type": "http.response.start", "status": 200, "headers": headers}
    with pytest.raises(ResponseError):
        new(writer_cls).start(message, *GET_11)


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("name", [b"server", b"date", b"connection", b"content-length"])
def test_bad_value_in_special_fields(writer_cls: Any, name: bytes, value: bytes) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(200, [(name, value)]), *GET_11)


def test_allowed_value_bytes(writer_cls: Any) -> None:
    # field-value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5); empty and padded values allowed
    every = bytes([9, 32]) + bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
    fields = [(b"x-all", every), (b"x-empty", b""), (b"x-pad", b" \tpadded\t ")]
    out = respond(new(writer_cls, server_header=None), 200, fields)
    assert head_of(out) == [
        b"x-all: " + every,
        b"x-empty: ",
        b"x-pad:  \tpadded\t ",
        b"content-length: 0",
    ]


def test_every_token_char_is_a_valid_name(writer_cls: Any) -> None:
    name = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = respond(new(writer_cls, server_header=None), 200, [(name, b"v")])
    assert head_of(out)[0] == name + b": v"


def test_headers_may_be_any_iterable_of_pairs(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    gen = ((n, v) for n, v in [(b"a", b"1"), (b"b", b"2")])
    writer.start({"type": "http.response.start", "status": 200, "headers": gen}, *GET_11)
    assert head_of(writer.body(body_msg()))[:2] == [b"a: 1", b"b: 2"]
    writer.start(
        {"type": "http.response.start", "status": 200, "headers": ([b"c", b"3"],)}, *GET_11
    )
    assert head_of(writer.body(body_msg()))[0] == b"c: 3"
    writer.start({"type": "http.response.start", "status": 200}, *GET_11)  # headers default
    assert writer.body(body_msg()) == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def test_many_and_long_headers(writer_cls: Any) -> None:
    # larger than any initial buffer
    fields = [(b"x-%d" % i, b"v" * i) for i in range(300)]
    writer = new(writer_cls, server_header=None)
    out = respond(writer, 200, fields, [b"z"])
    assert head_of(out)[:-1] == [b"%s: %s" % f for f in fields]
    assert h11_read(out)["body"] == b"z"
    # the buffer that held them is reused: nothing of the long head leaks into a short one
    assert respond(writer, 200, [(b"a", b"b")]) == (
        b"HTTP/1.1 200 OK\r\na: b\r\ncontent-length: 0\r\n\r\n"
    )


def test_head_is_fixed_at_start(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    fields = [(b"a", b"1")]
    writer.start(start_msg(200, fields), *GET_11)
    fields.append((b"b", b"2"))
    fields[0] = (b"c", b"\r\n")
    assert writer.body(body_msg()) == b"HTTP/1.1 200 OK\r\na: 1\r\ncontent-length: 0\r\n\r\n"


# -- connection and keep_alive ---------------------------------------------------------------

# (version, request keep_alive, app connection field or None, streamed) -> (keep_alive, added)
KEEP_ALIVE_CASES = [
    pytest.param("1.1", True, None, False, True, None, id="11_ka"),
    pytest.param("1.1", True, None, True, True, None, id="11_ka_streamed"),
    pytest.param("1.1", False, None, False, False, b"connection: close", id="11_close"),
    pytest.param("1.1", False, None, True, False, b"connection: close", id="11_close_streamed"),
    pytest.param("1.1", True, b"close", False, False, None, id="11_app_close"),
    pytest.param("1.1", True, b"Keep-Alive, CLOSE", False, False, None, id="11_app_close_list"),
    pytest.param("1.1", True, b" close\t", False, False, None, id="11_app_close_ows"),
    pytest.param("1.1", True, b"closed", False, True, None, id="11_app_not_close"),
    pytest.param("1.1", True, b"x-close, upgrade", False, True, None, id="11_app_other_tokens"),
    pytest.param("1.1", False, b"keep-alive", False, False, None, id="11_app_field_no_close"),
    pytest.param("1.0", True, None, False, True, b"connection: keep-alive", id="10_ka"),
    pytest.param("1.0", True, None, True, False, None, id="10_ka_streamed_is_close_delimited"),
    pytest.param("1.0", False, None, False, False, None, id="10_close"),
    pytest.param("1.0", False, None, True, False, None, id="10_close_streamed"),
    pytest.param("1.0", True, b"close", False, False, None, id="10_app_close"),
    pytest.param(
        "1.0", True, b"keep-alive", False, True, b"connection: keep-alive", id="10_app_keep_alive"
    ),
]


@pytest.mark.parametrize(
    ("version", "request_ka", "app_conn", "streamed", "keep_alive", "added"), KEEP_ALIVE_CASES
)
def test_keep_alive_and_connection_field(
    writer_cls: Any,
    version: str,
    request_ka: bool,
    app_conn: bytes | None,
    streamed: bool,
    keep_alive: bool,
    added: bytes | None,
) -> None:
    writer = new(writer_cls, server_header=None)
    fields = [] if app_conn is None else [(b"Connection", app_conn)]
    bodies = [b"a", b"b"] if streamed else [b"ab"]
    out = respond(writer, 200, fields, bodies, ("GET", version, request_ka))
    assert writer.keep_alive is keep_alive
    lines = head_of(out)
    ours = [line for line in lines if line.startswith(b"connection:")]
    assert ours == ([] if added is None else [added])
    if app_conn is not None:
        assert b"Connection: " + app_conn in lines


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("status", [204, 205, 304])
def test_keep_alive_for_no_body_responses(writer_cls: Any, method: str, status: int) -> None:
    for version, ka in [("1.1", True), ("1.1", False), ("1.0", True), ("1.0", False)]:
        writer = new(writer_cls)
        respond(writer, status, bodies=[b"a", b"b"], request=(method, version, ka))
        assert writer.keep_alive is ka


def test_keep_alive_before_any_response_and_after_failed_start(writer_cls: Any) -> None:
    writer = new(writer_cls)
    assert writer.keep_alive is True
    assert writer.started is False and writer.complete is False
    with pytest.raises(ResponseError):
        writer.start(start_msg(200, [(b"connection", b"close"), (b"bad name", b"")]), *GET_11)
    assert writer.keep_alive is True and writer.started is False


# -- order of messages -----------------------------------------------------------------------


def test_body_before_start(writer_cls: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).body(body_msg(b"x"))


def test_trailers_before_start(writer_cls: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).trailers(trailers_msg())


@pytest.mark.parametrize("bodies_sent", [0, 1])
def test_start_while_in_progress(writer_cls: Any, bodies_sent: int) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200), *GET_11)
    for _ in range(bodies_sent):
        writer.body(body_msg(b"x", more=True))
    with pytest.raises(ResponseError):
        writer.start(start_msg(200), *GET_11)
    assert writer.started


def test_start_while_trailers_pending(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"x"))
    with pytest.raises(ResponseError):
        writer.start(start_msg(200), *GET_11)


def test_body_after_complete(writer_cls: Any) -> None:
    writer = new(writer_cls)
    respond(writer, 200)
    with pytest.raises(ResponseError):
        writer.body(body_msg(b"x"))


def test_body_after_final_body_with_trailers_pending(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"x", more=True))
    writer.body(body_msg(b""))
    with pytest.raises(ResponseError):
        writer.body(body_msg(b"y"))


def test_trailers_not_announced(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200), *GET_11)
    writer.body(body_msg(b"x", more=True))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg())
    writer.body(body_msg(b""))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg())


@pytest.mark.parametrize("bodies_sent", [0, 1])
def test_trailers_before_final_body(writer_cls: Any, bodies_sent: int) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    for _ in range(bodies_sent):
        writer.body(body_msg(b"x", more=True))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg())


def test_trailers_after_complete(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"x", more=True))
    writer.body(body_msg(b""))
    writer.trailers(trailers_msg())
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg())


def test_failed_start_leaves_the_writer_ready_for_a_500(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    with pytest.raises(ResponseError):
        writer.start(start_msg(200, [(b"x", b"a\nb")]), *GET_11)
    with pytest.raises(ResponseError):
        writer.body(body_msg(b""))
    writer.start(start_msg(500), *GET_11)
    out = writer.body(body_msg(b"oops"))
    assert out == b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops"


def test_started_and_complete_through_a_response(writer_cls: Any) -> None:
    writer = new(writer_cls)
    states = [(writer.started, writer.complete)]
    writer.start(start_msg(200, trailers=True), *GET_11)
    states.append((writer.started, writer.complete))
    writer.body(body_msg(b"a", more=True))
    states.append((writer.started, writer.complete))
    writer.body(body_msg(b"b"))
    states.append((writer.started, writer.complete))
    writer.trailers(trailers_msg([(b"x", b"1")], more=True))
    states.append((writer.started, writer.complete))
    writer.trailers(trailers_msg())
    states.append((writer.started, writer.complete))
    assert states == [
        (False, False),
        (True, False),
        (True, False),
        (True, False),
        (True, False),
        (False, True),
    ]
    assert all(type(s) is bool and type(c) is bool for s, c in states)
    assert type(writer.keep_alive) is bool


def test_second_response_after_complete(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    first = respond(writer, 200, [(b"content-length", b"2"), (b"x", b"1")], [b"a", b"b"])
    assert first == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx: 1\r\n\r\nab"
    second = respond(writer, 404, [(b"y", b"2")], [b"c", b"d"], ("HEAD", "1.1", True))
    assert second == b"HTTP/1.1 404 Not Found\r\ny: 2\r\n\r\n"
    third = respond(writer, 200, [], [b"e", b"f"], ("GET", "1.1", False))
    assert third == (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        b"1\r\ne\r\n1\r\nf\r\n0\r\n\r\n"
    )
    assert writer.keep_alive is False
    fourth = respond(writer, 200, [], [b"g"], GET_11)  # nothing carried over
    assert fourth == b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\ng"
    assert writer.keep_alive is True


def test_pipelined_responses_parse_in_order(writer_cls: Any) -> None:
    writer = new(writer_cls)
    wire = respond(writer, 200, TEXT, [b"one"]) + respond(writer, 201, TEXT, [b"t", b"wo"])
    conn = h11.Connection(h11.CLIENT)
    bodies = []
    for i in range(2):
        if i:
            conn.start_next_cycle()
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        if not i:
            conn.receive_data(wire)
        data = b""
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                data += event.data
        bodies.append(data)
    assert bodies == [b"one", b"two"]


# -- trailers --------------------------------------------------------------------------------


def test_trailers_on_chunked_body(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"trailer", b"x-checksum")], trailers=True), *GET_11)
    parts = [writer.body(body_msg(b"abc", more=True)), writer.body(body_msg(b"de"))]
    assert parts == [
        b"HTTP/1.1 200 OK\r\ntrailer: x-checksum\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
        b"2\r\nde\r\n0\r\n",  # last-chunk only: the trailer section follows
    ]
    assert not writer.complete and writer.started
    parts.append(writer.trailers(trailers_msg([(b"X-Checksum", b"42")])))
    assert parts[-1] == b"X-Checksum: 42\r\n\r\n"
    assert writer.complete and writer.keep_alive
    seen = h11_read(b"".join(parts))
    assert seen["body"] == b"abcde" and seen["complete"]
    assert seen["trailers"] == [(b"x-checksum", b"42")]


def test_more_trailers(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, trailers=True), *GET_11)
    out = [writer.body(body_msg(b"a", more=True)), writer.body(body_msg(b""))]
    assert out[-1] == b"0\r\n"
    out.append(writer.trailers(trailers_msg([(b"a", b"1"), (b"b", b"2")], more=True)))
    assert out[-1] == b"a: 1\r\nb: 2\r\n"
    assert not writer.complete
    out.append(writer.trailers(trailers_msg([], more=True)))
    assert out[-1] == b""
    out.append(writer.trailers({"type": "http.response.trailers"}))  # defaults: no more
    assert out[-1] == b"\r\n"
    assert writer.complete
    assert h11_read(b"".join(out))["trailers"] == [(b"a", b"1"), (b"b", b"2")]


def test_trailers_announced_and_single_message_is_chunked_on_http11(writer_cls: Any) -> None:
    # Trailers follow the last chunk (RFC 9112 §7.1.2): a whole body with announced trailers
    # is chunked, so the trailers reach the client.
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, trailers=True), *GET_11)
    head = writer.body(body_msg(b"ab"))
    assert head == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n"
    assert not writer.complete
    tail = writer.trailers(trailers_msg([(b"x", b"1")]))
    assert tail == b"x: 1\r\n\r\n"
    assert writer.complete
    assert h11_read(head + tail)["trailers"] == [(b"x", b"1")]


def test_trailers_announced_and_single_message_on_http10_are_dropped(writer_cls: Any) -> None:
    # HTTP/1.0 has no chunked coding: the body gets a Content-Length, the trailers are lost.
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, trailers=True), "GET", "1.0", False)
    assert writer.body(body_msg(b"ab")) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nab"
    assert not writer.complete
    assert writer.trailers(trailers_msg([(b"x", b"1")])) == b""
    assert writer.complete


@pytest.mark.parametrize(
    ("fields", "request_"),
    [
        pytest.param([(b"content-length", b"2")], GET_11, id="app_content_length"),
        pytest.param([], ("GET", "1.0", True), id="close_delimited"),
        pytest.param([(b"transfer-encoding", b"chunked")], ("GET", "1.0", True), id="10_chunked"),
        pytest.param([], ("HEAD", "1.1", True), id="head"),
    ],
)
def test_trailers_dropped_when_not_chunked(writer_cls: Any, fields: Any, request_: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, fields, trailers=True), *request_)
    writer.body(body_msg(b"a", more=True))
    writer.body(body_msg(b"b"))
    assert writer.trailers(trailers_msg([(b"x", b"1")], more=True)) == b""
    assert not writer.complete
    assert writer.trailers(trailers_msg([(b"y", b"2")])) == b""
    assert writer.complete


def test_app_chunked_with_trailers(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    te = [(b"transfer-encoding", b"chunked")]
    writer.start(start_msg(200, te, trailers=True), *GET_11)
    out = writer.body(body_msg(b"ab"))
    assert out.endswith(b"\r\n\r\n2\r\nab\r\n0\r\n")
    assert writer.trailers(trailers_msg([(b"t", b"v")])) == b"t: v\r\n\r\n"


@pytest.mark.parametrize("item", NOT_BYTES)
def test_trailers_not_bytes(writer_cls: Any, item: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"a", more=True))
    writer.body(body_msg(b""))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg([item]))


@pytest.mark.parametrize("name", BAD_NAMES)
def test_trailers_bad_name(writer_cls: Any, name: bytes) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"a", more=True))
    writer.body(body_msg(b""))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg([(name, b"v")]))


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("chunked", [True, False])
def test_trailers_bad_value(writer_cls: Any, value: bytes, chunked: bool) -> None:
    # validated even when they would be dropped: the app's mistake is reported either way
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    if chunked:
        writer.body(body_msg(b"a", more=True))
    writer.body(body_msg(b""))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg([(b"x", value)]))
    assert not writer.complete


# -- h11 round trip (Hypothesis) -------------------------------------------------------------

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Fields the writer treats specially (`trailer` must list field names, so a random value is
# not a valid one: Hypothesis found `trailer: :`).
SPECIAL = {b"content-length", b"transfer-encoding", b"connection", b"server", b"date", b"trailer"}
names = st.text(TOKEN_CHARS, min_size=1, max_size=20).map(str.encode)
field_values = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c in (9, 32) or 0x21 <= c <= 0x7E or c >= 0x80)
)
header_lists = st.lists(
    st.tuples(names.filter(lambda n: n.lower() not in SPECIAL), field_values), max_size=12
)
HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HYPOTHESIS
@given(
    headers=header_lists,
    bodies=st.lists(st.binary(max_size=64), min_size=1, max_size=4),
    status=st.sampled_from([200, 201, 202, 203, 206, 299, 400, 404, 418, 500, 503, 599]),
)
def test_valid_headers_round_trip_through_h11(
    writer_cls: Any, headers: list[tuple[bytes, bytes]], bodies: list[bytes], status: int
) -> None:
    writer = new(writer_cls, date_header=True)
    out = respond(writer, status, headers, bodies)
    seen = h11_read(out)
    assert seen["status"] == status
    assert seen["complete"] and seen["their_state"] is h11.DONE
    assert seen["body"] == b"".join(bodies)
    # h11 lower-cases names and strips OWS around values (RFC 9110 §5.5)
    app = [(n, v) for n, v in seen["headers"] if n not in (b"server", b"date")]
    framing = app[len(headers) :]
    assert app[: len(headers)] == [(n.lower(), v.strip(b" \t")) for n, v in headers]
    expected = (
        [(b"content-length", b"%d" % len(bodies[0]))]
        if len(bodies) == 1
        else [(b"transfer-encoding", b"chunked")]
    )
    assert framing == expected
    assert writer.keep_alive


# -- the twins agree --------------------------------------------------------------------------


@pytest.fixture
def py_writer_cls() -> Any:
    return importlib.import_module("sailfish.http.writer").ResponseWriter


def outcome(writer_cls: Any, kwargs: dict[str, Any], steps: list[tuple[Any, ...]]) -> list[Any]:
    """Run `steps` on a new writer: per step the bytes (or the exception class) and the state."""
    try:
        writer = writer_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        return [type(exc)]
    result: list[Any] = []
    for kind, *args in steps:
        try:
            value: Any = getattr(writer, kind)(*args)
        except ResponseError:
            value = ResponseError
        result.append((value, writer.keep_alive, writer.started, writer.complete))
    return result


def s(message: dict[str, Any], request: tuple[str, str, bool] = GET_11) -> tuple[Any, ...]:
    return ("start", message, *request)


def b(data: Any = b"", more: bool = False) -> tuple[Any, ...]:
    return ("body", body_msg(data, more))


def t(headers: Any = (), more: bool = False) -> tuple[Any, ...]:
    return ("trailers", trailers_msg(headers, more))


NO_DATE = {"date_header": False}
SCENARIOS = [
    pytest.param(NO_DATE, [s(start_msg(200, TEXT)), b(b"Hello, world!")], id="typical"),
    pytest.param(
        NO_DATE,
        [s(start_msg(200)), b(b"a", True), b(b""), s(start_msg(404)), b()],
        id="two_responses",
    ),
    pytest.param(
        NO_DATE,
        [s(start_msg(200), ("GET", "1.0", True)), b(b"a", True), b(b"b")],
        id="close_delimited",
    ),
    pytest.param(NO_DATE, [s(start_msg(200), ("GET", "1.0", True)), b(b"ab")], id="10_keep_alive"),
    pytest.param(
        NO_DATE, [s(start_msg(204), ("HEAD", "1.1", False)), b(b"x", True), b()], id="no_body_close"
    ),
    pytest.param(
        {**NO_DATE, "server_header": None, "default_headers": [(b"a", b"b")]},
        [s(start_msg(200, [(b"Content-Length", b"3")])), b(b"ab", True), b(b"cd")],
        id="overrun",
    ),
    pytest.param(
        NO_DATE, [s(start_msg(200, [(b"content-length", b"3")])), b(b"ab")], id="underrun"
    ),
    pytest.param(
        NO_DATE,
        [
            s(start_msg(200, trailers=True)),
            b(b"a", True),
            b(memoryview(b"b")),
            t([(b"x", b"1")], True),
            t([(b"y", b"2")]),
        ],
        id="trailers",
    ),
    pytest.param(
        NO_DATE, [t(), b(), s(start_msg(200)), s(start_msg(200)), b(), b()], id="order_errors"
    ),
    pytest.param(
        NO_DATE,
        [
            s(start_msg(200, [(b"x", b"\x00")])),
            s(start_msg(99)),
            s(start_msg(200, [(b"transfer-encoding", b"gzip")])),
            s(start_msg(200, [(b"Transfer-Encoding", b"CHUNKED")])),
            b(b"z"),
        ],
        id="bad_then_good",
    ),
    pytest.param({"default_headers": [(b"x\r", b"")]}, [], id="bad_defaults"),
    pytest.param({"server_header": "x"}, [], id="str_server_header"),
]


def test_twins_agree_on_the_date_line(writer_cls: Any, py_writer_cls: Any) -> None:
    for _ in range(5):
        before = head_of(respond(writer_cls(server_header=None), 200))
        reference = head_of(respond(py_writer_cls(server_header=None), 200))
        after = head_of(respond(writer_cls(server_header=None), 200))
        if before == after:  # no second boundary in between
            break
    assert before == reference
    assert IMF_FIXDATE.fullmatch(reference[0])


@pytest.mark.parametrize(("kwargs", "steps"), SCENARIOS)
def test_twins_agree_on_scenarios(
    writer_cls: Any, py_writer_cls: Any, kwargs: dict[str, Any], steps: list[tuple[Any, ...]]
) -> None:
    assert outcome(writer_cls, kwargs, steps) == outcome(py_writer_cls, kwargs, steps)


any_bytes_field = st.tuples(
    st.one_of(names, st.sampled_from(sorted(SPECIAL)), st.binary(max_size=6)),
    st.one_of(
        field_values,
        st.sampled_from([b"0", b"1", b"3", b"close", b"chunked", b"Chunked", b"keep-alive, close"]),
        st.binary(max_size=6),
    ),
)
start_steps = st.builds(
    lambda status, headers, trailers, request: s(
        start_msg(status, headers, trailers=trailers), request
    ),
    st.one_of(st.sampled_from([100, 101, 200, 204, 205, 304, 404, 599]), st.integers(0, 700)),
    st.lists(any_bytes_field, max_size=5),
    st.booleans(),
    st.tuples(st.sampled_from(["GET", "HEAD"]), st.sampled_from(["1.0", "1.1"]), st.booleans()),
)
body_steps = st.builds(b, st.binary(max_size=5), st.booleans())
trailer_steps = st.builds(t, st.lists(any_bytes_field, max_size=2), st.booleans())


@HYPOTHESIS
@given(
    steps=st.lists(
        st.one_of(start_steps, body_steps, body_steps, trailer_steps), min_size=1, max_size=10
    ),
    server=st.sampled_from([b"sailfish", None]),
)
def test_twins_agree_on_random_message_sequences(
    writer_cls: Any, py_writer_cls: Any, steps: list[tuple[Any, ...]], server: bytes | None
) -> None:
    kwargs = {"date_header": False, "server_header": server}
    assert outcome(writer_cls, kwargs, steps) == outcome(py_writer_cls, kwargs, steps)
