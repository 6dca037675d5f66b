"""RequestParser, per twin: the corpus, pipelining, pausing, the scope, the constructor.

Every expectation comes from docs/core.md and RFC 9110/9112; the corpus and what each file
must give are in tests/corpus/make_corpus.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sailfish import errors
from twins import CORPUS_DIR, corpus_spec, feed_pieces

SPEC = corpus_spec()
BODY_KEYS = {"type", "body", "more_body"}


def head(request_line: bytes, *fields: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in (request_line, *fields)) + b"\r\n"


def get(target: bytes = b"/", *fields: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return head(b"GET " + target + b" " + version, b"Host: example.com", *fields)


def post(body: bytes, *fields: bytes, target: bytes = b"/") -> bytes:
    return (
        head(
            b"POST " + target + b" HTTP/1.1",
            b"Host: example.com",
            b"Content-Length: %d" % len(body),
            *fields,
        )
        + body
    )


def group(events: list[Any], twin: SimpleNamespace) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Split events into (Request, its body messages); checks the event shapes on the way."""
    out: list[tuple[Any, list[dict[str, Any]]]] = []
    for event in events:
        if isinstance(event, twin.Request):
            if out and out[-1][0].has_body:
                assert out[-1][1] and out[-1][1][-1]["more_body"] is False, "body not ended"
            out.append((event, []))
        else:
            assert type(event) is dict, f"unexpected event {event!r}"
            assert set(event) == BODY_KEYS
            assert event["type"] == "http.request"
            assert type(event["body"]) is bytes
            assert type(event["more_body"]) is bool
            assert out, "body message before any request"
            request, messages = out[-1]
            assert request.has_body, "body message for a request without a body"
            assert not messages or messages[-1]["more_body"], "body message after the body ended"
            # An empty message only ever carries more_body=False.
            assert event["body"] or not event["more_body"], f"empty non-final message {event!r}"
            messages.append(event)
    return out


def summary(request: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A request in the shape of make_corpus.req()."""
    scope = request.scope
    return {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"],
        "query_string": scope["query_string"],
        "headers": scope["headers"],
        "http_version": scope["http_version"],
        "keep_alive": request.keep_alive,
        "expect_continue": request.expect_continue,
        "upgrade": request.upgrade,
        "has_body": request.has_body,
        "body": b"".join(m["body"] for m in messages),
    }


def check_default_scope(scope: dict[str, Any]) -> None:
    assert set(scope) == {
        "type",
        "asgi",
        "http_version",
        "server",
        "client",
        "scheme",
        "method",
        "root_path",
        "path",
        "raw_path",
        "query_string",
        "headers",
    }
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["server"] is None
    assert scope["client"] is None
    assert scope["scheme"] == "http"
    assert scope["root_path"] == ""
    assert type(scope["headers"]) is list
    for pair in scope["headers"]:
        assert type(pair) is tuple and len(pair) == 2
        assert type(pair[0]) is bytes and type(pair[1]) is bytes
    assert type(scope["raw_path"]) is bytes and type(scope["query_string"]) is bytes
    assert type(scope["path"]) is str and type(scope["method"]) is str


VALID = [pytest.param(name, id=name) for name in SPEC.VALID]
INVALID = [pytest.param(name, id=name) for name in SPEC.INVALID]


def read(kind: str, name: str) -> bytes:
    return (CORPUS_DIR / kind / f"{name}.http").read_bytes()


def test_corpus_files_on_disk_equal_make_corpus() -> None:
    for kind, table in (("valid", SPEC.VALID), ("invalid", SPEC.INVALID)):
        on_disk = {p.stem: p.read_bytes() for p in (CORPUS_DIR / kind).glob("*.http")}
        assert on_disk == {name: raw for name, (raw, _) in table.items()}, (
            "run python tests/corpus/make_corpus.py"
        )


def test_invalid_corpus_names_carry_the_status_of_their_error_class() -> None:
    for name, cls_name in SPEC.EXPECTED_ERROR.items():
        cls = getattr(errors, cls_name)
        assert issubclass(cls, errors.HTTPError)
        assert int(name[:3]) == cls.status, name


# -- the valid corpus --------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALID)
def test_valid_request_fed_whole(twin: SimpleNamespace, name: str) -> None:
    parser = twin.RequestParser()
    raw = read("valid", name)
    events = parser.feed(raw)
    grouped = group(events, twin)
    assert [summary(r, m) for r, m in grouped] == SPEC.VALID[name][1]
    for request, messages in grouped:
        check_default_scope(request.scope)
        if request.has_body:
            # One feed call: the whole body is one message.
            body = b"".join(m["body"] for m in messages)
            assert messages == [{"type": "http.request", "body": body, "more_body": False}]
        else:
            assert messages == []
    assert parser.feed(b"") == []


@pytest.mark.parametrize("name", VALID)
def test_valid_request_fed_byte_by_byte(twin: SimpleNamespace, name: str) -> None:
    parser = twin.RequestParser()
    raw = read("valid", name)
    events = feed_pieces(parser, raw, 1)
    grouped = group(events, twin)
    assert [summary(r, m) for r, m in grouped] == SPEC.VALID[name][1]
    for request, messages in grouped:
        check_default_scope(request.scope)
        if request.has_body:
            assert messages[-1]["more_body"] is False
            assert all(m["more_body"] for m in messages[:-1])
            # One byte per call: never more than one byte in a message.
            assert all(len(m["body"]) <= 1 for m in messages)


# -- the invalid corpus ------------------------------------------------------------------------


def check_error_last(events: list[Any], name: str) -> None:
    expected = getattr(errors, SPEC.EXPECTED_ERROR[name])
    assert events, "no event at all"
    err = events[-1]
    assert type(err) is expected, f"got {err!r}, want {expected.__name__}"
    assert err.status == int(name[:3])
    assert not any(isinstance(e, BaseException) for e in events[:-1])


@pytest.mark.parametrize("name", INVALID)
def test_invalid_request_fed_whole(twin: SimpleNamespace, name: str) -> None:
    parser = twin.RequestParser()
    events = parser.feed(read("invalid", name))
    check_error_last(events, name)
    group(events[:-1], twin)
    assert parser.feed(get()) == []
    assert parser.feed(b"") == []


@pytest.mark.parametrize("name", INVALID)
def test_invalid_request_fed_byte_by_byte(twin: SimpleNamespace, name: str) -> None:
    parser = twin.RequestParser()
    raw = read("invalid", name)
    events: list[Any] = []
    for i in range(len(raw)):
        got = parser.feed(raw[i : i + 1])
        if events and isinstance(events[-1], errors.HTTPError):
            assert got == [], f"events after the error, at byte {i}"
        events.extend(got)
    events.extend(parser.feed(b""))
    check_error_last(events, name)
    group(events[:-1], twin)
    assert parser.feed(get()) == []


# -- precedence among rules (docs/core.md, "Framing and validation") ---------------------------

PRECEDENCE = [
    pytest.param(
        {"max_request_line": 17},
        b"GET /aaaa HTTP/1.1\n",
        "RequestLineTooLong",
        id="request_line_length_is_checked_before_bare_lf",
    ),
    pytest.param(
        {},
        b"G@T /\r\n",
        "InvalidVersion",
        id="two_parts_is_invalid_version_before_the_method_is_looked_at",
    ),
    pytest.param(
        {},
        b"GET  / HTTP/9.9\r\n",
        "InvalidRequestLine",
        id="empty_part_is_checked_before_the_version",
    ),
    pytest.param(
        {},
        b"G@T / HTTP/1.x\r\n",
        "InvalidVersion",
        id="malformed_version_is_checked_before_the_method",
    ),
    pytest.param(
        {},
        b"GET x HTTP/2.0\r\n",
        "UnsupportedVersion",
        id="unsupported_version_is_checked_before_the_target",
    ),
    pytest.param(
        {"max_headers": 1},
        b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n",
        "HeadersTooLarge",
        id="header_count_is_checked_before_the_line_content",
    ),
    pytest.param(
        {"max_headers": 1},
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        None,
        id="header_count_at_the_limit_passes",
    ),
    pytest.param(
        {"max_header_size": 13},
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\n",
        "HeadersTooLarge",
        id="header_size_is_checked_before_bare_lf",
    ),
    pytest.param(
        {},
        head(
            b"POST / HTTP/1.1",
            b"Host: a",
            b"Transfer-Encoding: gzip, chunked",
            b"Content-Length: 3",
        ),
        "InvalidFraming",
        id="content_length_with_transfer_encoding_wins_over_unsupported_coding",
    ),
    pytest.param(
        {},
        head(b"POST / HTTP/1.0", b"Transfer-Encoding: gzip, chunked"),
        "InvalidFraming",
        id="transfer_encoding_in_http10_wins_over_unsupported_coding",
    ),
    pytest.param(
        {},
        head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: gzip;q=1, chunked"),
        "InvalidFraming",
        id="transfer_coding_with_parameter_wins_over_unsupported",
    ),
    pytest.param(
        {},
        head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: gzip, chunked", b"Host: b"),
        "InvalidHost",
        id="host_is_checked_before_transfer_encoding",
    ),
]


@pytest.mark.parametrize(("kwargs", "raw", "expected"), PRECEDENCE)
def test_precedence_of_checks(
    parser_cls: Any, kwargs: dict[str, Any], raw: bytes, expected: str | None
) -> None:
    for step in (1, len(raw)):
        events = feed_pieces(parser_cls(**kwargs), raw, step)
        if expected is None:
            assert events and not isinstance(events[-1], errors.HTTPError)
        else:
            assert type(events[-1]).__name__ == expected, (step, events)


# -- pipelining and keep-alive -----------------------------------------------------------------


def test_three_pipelined_requests_in_one_feed_give_all_events_in_order(
    twin: SimpleNamespace,
) -> None:
    parser = twin.RequestParser()
    raw = post(b"one", target=b"/1") + get(b"/2") + post(b"three!", target=b"/3")
    events = parser.feed(raw)
    assert len(events) == 5
    assert isinstance(events[0], twin.Request) and events[0].scope["path"] == "/1"
    assert events[1] == {"type": "http.request", "body": b"one", "more_body": False}
    assert isinstance(events[2], twin.Request) and events[2].scope["path"] == "/2"
    assert isinstance(events[3], twin.Request) and events[3].scope["path"] == "/3"
    assert events[4] == {"type": "http.request", "body": b"three!", "more_body": False}


def test_good_request_then_bad_one_gives_request_body_then_error(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(post(b"ok") + b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n")
    assert len(events) == 3
    assert isinstance(events[0], twin.Request)
    assert events[1] == {"type": "http.request", "body": b"ok", "more_body": False}
    assert type(events[2]) is errors.InvalidHeader
    assert parser.feed(get()) == []


def test_request_split_across_calls_keeps_the_incomplete_line(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert parser.feed(b"GET /pa") == []
    assert parser.feed(b"th HTTP/1.1\r\nHo") == []
    assert parser.feed(b"st: example.com\r\n") == []
    assert parser.feed(b"\r") == []
    [request] = parser.feed(b"\n")
    assert request.scope["path"] == "/path"
    assert request.scope["headers"] == [(b"host", b"example.com")]


def test_connection_close_ignores_the_rest_of_the_call_and_later_calls(
    twin: SimpleNamespace,
) -> None:
    parser = twin.RequestParser()
    events = parser.feed(post(b"abc", b"Connection: close") + get(b"/2"))
    assert len(events) == 2
    assert events[0].keep_alive is False
    assert events[1] == {"type": "http.request", "body": b"abc", "more_body": False}
    assert parser.feed(get(b"/3")) == []
    assert parser.feed(b"\x00 not even http\n") == []


def test_connection_close_still_delivers_the_rest_of_its_body(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    raw = post(b"hello", b"Connection: close")
    events = parser.feed(raw[:-3])
    assert events[0].keep_alive is False
    assert events[1:] == [{"type": "http.request", "body": b"he", "more_body": True}]
    assert parser.feed(b"llo" + get(b"/2")) == [
        {"type": "http.request", "body": b"llo", "more_body": False}
    ]
    assert parser.feed(get(b"/3")) == []


def test_http10_without_keep_alive_ignores_garbage_after_it(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(b"GET / HTTP/1.0\r\n\r\nthis is not HTTP\r\n\r\n")
    assert len(events) == 1 and events[0].keep_alive is False
    assert parser.feed(b"\n\n\n") == []


@pytest.mark.parametrize(
    ("fields", "keep_alive"),
    [
        pytest.param((), True, id="http11_is_keep_alive_by_default"),
        pytest.param((b"Connection: close",), False, id="http11_close"),
        pytest.param((b"Connection: CLOSE",), False, id="http11_close_is_case_insensitive"),
        pytest.param(
            (b"Connection: keep-alive", b"Connection: te, close"),
            False,
            id="http11_close_token_on_a_second_connection_line",
        ),
        pytest.param((b"Connection: closed",), True, id="http11_closed_is_not_the_close_token"),
        pytest.param((b"Connection: x-close",), True, id="http11_x_close_is_not_the_close_token"),
    ],
)
def test_keep_alive_http11(parser_cls: Any, fields: tuple[bytes, ...], keep_alive: bool) -> None:
    [request] = parser_cls().feed(get(b"/", *fields))
    assert request.keep_alive is keep_alive


@pytest.mark.parametrize(
    ("fields", "keep_alive"),
    [
        pytest.param((), False, id="http10_closes_by_default"),
        pytest.param((b"Connection: keep-alive",), True, id="http10_keep_alive"),
        pytest.param((b"Connection: TE,  Keep-Alive ",), True, id="http10_keep_alive_in_a_list"),
        pytest.param(
            (b"Connection: keep-alive", b"Connection: close"),
            False,
            id="http10_close_beats_keep_alive",
        ),
        pytest.param(
            (b"Connection: keep-alive-ish",), False, id="http10_keep_alive_ish_is_not_keep_alive"
        ),
    ],
)
def test_keep_alive_http10(parser_cls: Any, fields: tuple[bytes, ...], keep_alive: bool) -> None:
    [request] = parser_cls().feed(head(b"GET / HTTP/1.0", *fields))
    assert request.keep_alive is keep_alive


# -- Expect and Upgrade ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expect_continue"),
    [
        pytest.param(post(b"x", b"Expect: 100-continue"), True, id="expect_continue_with_body"),
        pytest.param(
            post(b"x", b"Expect: 100-CONTINUE"), True, id="expect_continue_is_case_insensitive"
        ),
        pytest.param(
            head(
                b"POST / HTTP/1.1",
                b"Host: a",
                b"Transfer-Encoding: chunked",
                b"Expect: 100-continue",
            ),
            True,
            id="expect_continue_with_chunked_body",
        ),
        pytest.param(
            post(b"", b"Expect: 100-continue"),
            False,
            id="no_expect_continue_with_content_length_zero",
        ),
        pytest.param(
            post(b"x", b"Expect: 100-continue, 100-Continue"),
            True,
            id="expect_continue_twice_in_a_list",
        ),
        pytest.param(
            post(b"x", b"Expect:  100-continue\t"),
            True,
            id="expect_value_is_stripped_first",
        ),
        pytest.param(
            head(b"POST / HTTP/1.0", b"Content-Length: 1", b"Expect: 100-continue"),
            False,
            id="http10_expect_is_ignored",
        ),
    ],
)
def test_expect_continue(parser_cls: Any, raw: bytes, expect_continue: bool) -> None:
    request = parser_cls().feed(raw)[0]
    assert request.expect_continue is expect_continue


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(post(b"x", b"Expect: 200-ok"), id="other_expectation"),
        pytest.param(post(b"x", b"Expect: 100-continue, foo"), id="100_continue_and_another"),
        pytest.param(post(b"x", b"Expect: 100-continue=1"), id="100_continue_with_a_value"),
        pytest.param(get(b"/", b"Expect: foo"), id="other_expectation_without_body"),
    ],
)
def test_unknown_expectation_is_417(parser_cls: Any, raw: bytes) -> None:
    # "A server that receives an Expect field value containing a member other than
    # 100-continue MAY respond with a 417 (Expectation Failed) status code" -- RFC 9110 §10.1.1
    events = parser_cls().feed(raw)
    assert len(events) == 1 and type(events[0]) is errors.ExpectationFailed, events
    assert events[0].status == 417


@pytest.mark.parametrize("value", [b"", b" , ", b"foo"])
def test_http10_expectations_are_ignored(parser_cls: Any, value: bytes) -> None:
    raw = head(b"POST / HTTP/1.0", b"Content-Length: 1", b"Expect: " + value) + b"x"
    request = parser_cls().feed(raw)[0]
    assert request.expect_continue is False and request.has_body


@pytest.mark.parametrize("value", [b"", b" ,, "])
def test_empty_expect_list_is_no_expectation(parser_cls: Any, value: bytes) -> None:
    request = parser_cls().feed(post(b"x", b"Expect: " + value))[0]
    assert request.expect_continue is False and request.has_body


UPGRADE_HEAD = get(b"/ws", b"Connection: Upgrade", b"Upgrade: websocket")


@pytest.mark.parametrize(
    ("raw", "upgrade"),
    [
        pytest.param(UPGRADE_HEAD, b"websocket", id="upgrade_websocket"),
        pytest.param(
            get(b"/", b"Connection: keep-alive, upgrade", b"Upgrade:  h2c, foo/2 "),
            b"h2c, foo/2",
            id="upgrade_value_is_stripped_as_received",
        ),
        pytest.param(get(b"/", b"Upgrade: websocket"), None, id="upgrade_needs_connection_token"),
        pytest.param(get(b"/", b"Connection: upgrade"), None, id="upgrade_needs_upgrade_field"),
        pytest.param(
            get(b"/", b"Connection: upgrade", b"Upgrade: websocket", version=b"HTTP/1.0"),
            None,
            id="http10_upgrade_is_ignored",
        ),
    ],
)
def test_upgrade_attribute(parser_cls: Any, raw: bytes, upgrade: bytes | None) -> None:
    [request] = parser_cls().feed(raw)
    assert request.upgrade == upgrade


def test_upgrade_pauses_and_unparsed_returns_the_rest(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    frame = b"\x81\x05hello" + b"GET / HTTP/1.1\r\n\r\n"
    [request] = parser.feed(UPGRADE_HEAD + frame)
    assert request.upgrade == b"websocket"
    assert parser.unparsed() == frame
    assert parser.unparsed() == b""


def test_upgrade_pause_keeps_a_partial_frame_for_unparsed(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert len(parser.feed(UPGRADE_HEAD + b"ab")) == 1
    assert parser.unparsed() == b"ab"


def test_upgrade_declined_feed_empty_goes_on_parsing(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(UPGRADE_HEAD + get(b"/next") + get(b"/third"))
    assert len(events) == 1 and events[0].upgrade == b"websocket"
    events = parser.feed(b"")
    assert [e.scope["path"] for e in events] == ["/next", "/third"]
    assert parser.unparsed() == b""


def test_upgrade_declined_feed_more_goes_on_parsing(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    nxt = get(b"/next")
    assert len(parser.feed(UPGRADE_HEAD + nxt[:5])) == 1
    [request] = parser.feed(nxt[5:])
    assert request.scope["path"] == "/next"


def test_upgrade_with_body_leaves_the_body_buffered(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    raw = (
        head(
            b"POST /h2c HTTP/1.1",
            b"Host: a",
            b"Connection: upgrade",
            b"Upgrade: h2c",
            b"Content-Length: 5",
        )
        + b"hello"
    )
    events = parser.feed(raw)
    assert len(events) == 1 and events[0].has_body
    assert parser.unparsed() == b"hello"


def test_upgrade_with_body_declined_then_body_follows(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    raw = (
        head(
            b"POST /h2c HTTP/1.1",
            b"Host: a",
            b"Connection: upgrade",
            b"Upgrade: h2c",
            b"Content-Length: 5",
        )
        + b"hello"
    )
    assert len(parser.feed(raw)) == 1
    assert parser.feed(b"") == [{"type": "http.request", "body": b"hello", "more_body": False}]


def test_upgrade_head_fed_byte_by_byte_pauses_once_complete(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events: list[Any] = []
    for i in range(len(UPGRADE_HEAD)):
        events.extend(parser.feed(UPGRADE_HEAD[i : i + 1]))
    assert len(events) == 1 and events[0].upgrade == b"websocket"
    assert parser.unparsed() == b""


# -- the scope ---------------------------------------------------------------------------------


def test_connection_details_are_copied_into_the_scope(parser_cls: Any) -> None:
    parser = parser_cls(
        client=("10.0.0.7", 51000),
        server=("127.0.0.1", 8000),
        scheme="https",
        root_path="/app",
    )
    [request] = parser.feed(get(b"/caf%C3%A9?x=1", b"X-A: b"))
    assert request.scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.7", 51000),
        "scheme": "https",
        "method": "GET",
        "root_path": "/app",
        "path": "/app/caf\u00e9",
        "raw_path": b"/app/caf%C3%A9",
        "query_string": b"x=1",
        "headers": [(b"host", b"example.com"), (b"x-a", b"b")],
    }


def test_server_with_no_port_is_copied(parser_cls: Any) -> None:
    [request] = parser_cls(server=("/tmp/sailfish.sock", None)).feed(get())
    assert request.scope["server"] == ("/tmp/sailfish.sock", None)


def test_root_path_prefixes_absolute_form_path(parser_cls: Any) -> None:
    [request] = parser_cls(root_path="/r\u00e9").feed(get(b"http://example.com/a%20b?q"))
    assert request.scope["path"] == "/r\u00e9/a b"
    assert request.scope["raw_path"] == "/r\u00e9".encode() + b"/a%20b"
    assert request.scope["root_path"] == "/r\u00e9"
    assert request.scope["query_string"] == b"q"


def test_each_request_gets_new_scope_objects(parser_cls: Any) -> None:
    first, second = parser_cls().feed(get() + get())
    assert first.scope is not second.scope
    assert first.scope["asgi"] is not second.scope["asgi"]
    assert first.scope["headers"] is not second.scope["headers"]
    first.scope["headers"].append((b"x", b"y"))
    first.scope["asgi"]["version"] = "2.0"
    assert second.scope["headers"] == [(b"host", b"example.com")]
    assert second.scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}


@pytest.mark.parametrize(
    ("target", "path"),
    [
        pytest.param(b"/%41%42%43", "/ABC", id="decodes_ascii_escapes"),
        pytest.param(b"/%e2%82%ac", "/\u20ac", id="decodes_lower_case_hex"),
        pytest.param(b"/%C3", "/\ufffd", id="replaces_truncated_utf8"),
        pytest.param(b"/%C3%28", "/\ufffd(", id="replaces_invalid_utf8"),
        pytest.param(b"/100%", "/100%", id="keeps_trailing_percent"),
        pytest.param(b"/%G1", "/%G1", id="keeps_percent_without_two_hex_digits"),
        pytest.param(b"/a+b", "/a+b", id="keeps_plus"),
        pytest.param(b"/%00", "/\x00", id="decodes_nul"),
    ],
)
def test_path_decoding(parser_cls: Any, target: bytes, path: str) -> None:
    [request] = parser_cls().feed(get(target))
    assert request.scope["path"] == path
    assert request.scope["raw_path"] == target


@pytest.mark.parametrize(
    ("target", "raw_path", "query_string"),
    [
        pytest.param(
            b"//double", b"//double", b"", id="origin_form_is_anything_starting_with_slash"
        ),
        pytest.param(b"/a#b?c#d", b"/a#b", b"c#d", id="origin_form_keeps_a_hash"),
        pytest.param(b"http://h", b"/", b"", id="absolute_form_with_authority_only"),
        pytest.param(b"http://h:1/x?q", b"/x", b"q", id="absolute_form_with_port_and_query"),
        pytest.param(b"http://h:/x", b"/x", b"", id="absolute_form_with_empty_port"),
        pytest.param(b"https://h?a/b", b"/", b"a/b", id="absolute_form_query_without_path"),
    ],
)
def test_target_forms(parser_cls: Any, target: bytes, raw_path: bytes, query_string: bytes) -> None:
    [request] = parser_cls().feed(get(target))
    assert request.scope["raw_path"] == raw_path
    assert request.scope["path"] == raw_path.decode()
    assert request.scope["query_string"] == query_string


def test_absolute_form_https_with_port_and_query(parser_cls: Any) -> None:
    [request] = parser_cls().feed(get(b"https://example.com:8443/x/y?z=%20"))
    assert request.scope["path"] == "/x/y"
    assert request.scope["raw_path"] == b"/x/y"
    assert request.scope["query_string"] == b"z=%20"


# -- Request objects ---------------------------------------------------------------------------


def test_request_equality_and_repr(twin: SimpleNamespace) -> None:
    a = twin.RequestParser().feed(get(b"/same"))[0]
    b = twin.RequestParser().feed(get(b"/same"))[0]
    c = twin.RequestParser().feed(get(b"/other"))[0]
    d = twin.RequestParser().feed(get(b"/same", b"Connection: close"))[0]
    assert a == b and not (a != b)
    assert a != c and not (a == c)
    assert a != d
    assert a != "not a request"
    assert isinstance(repr(a), str) and " object at 0x" not in repr(a)
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize(
    "attribute", ["scope", "keep_alive", "expect_continue", "upgrade", "has_body", "forwarded"]
)
def test_request_attributes_are_read_only(parser_cls: Any, attribute: str) -> None:
    [request] = parser_cls().feed(get())
    with pytest.raises(AttributeError):
        setattr(request, attribute, None)


# -- feed --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_feed_accepts_bytes_like(parser_cls: Any, kind: type) -> None:
    raw = post(b"body")
    events = parser_cls().feed(kind(raw))
    assert events[0].scope["path"] == "/"
    assert events[1] == {"type": "http.request", "body": b"body", "more_body": False}
    assert type(events[1]["body"]) is bytes


def test_feed_copies_a_bytearray_it_keeps(parser_cls: Any) -> None:
    parser = parser_cls()
    data = bytearray(b"GET /keep HT")
    assert parser.feed(data) == []
    data[:] = b"XXXXXXXXXXXX"
    [request] = parser.feed(b"TP/1.1\r\nHost: a\r\n\r\n")
    assert request.scope["path"] == "/keep"


def test_feed_returns_a_new_list_each_call(parser_cls: Any) -> None:
    parser = parser_cls()
    first = parser.feed(b"")
    second = parser.feed(b"")
    assert first == [] and second == []
    assert first is not second


# -- the constructor ---------------------------------------------------------------------------

LIMITS = [
    "max_request_line",
    "max_header_size",
    "max_headers",
    "max_body_size",
    "max_chunk_ext_size",
    "max_trailer_size",
]


@pytest.mark.parametrize("limit", LIMITS)
def test_negative_limit_is_value_error(parser_cls: Any, limit: str) -> None:
    with pytest.raises(ValueError):
        parser_cls(**{limit: -1})


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("10", id="str"),
        pytest.param(10.0, id="float"),
        pytest.param(True, id="bool"),
        pytest.param(b"1", id="bytes"),
    ],
)
def test_non_int_limit_is_type_error(parser_cls: Any, limit: str, value: Any) -> None:
    with pytest.raises(TypeError):
        parser_cls(**{limit: value})


@pytest.mark.parametrize("limit", [name for name in LIMITS if name != "max_body_size"])
def test_none_is_only_allowed_for_max_body_size(parser_cls: Any, limit: str) -> None:
    with pytest.raises(TypeError):
        parser_cls(**{limit: None})


@pytest.mark.parametrize("limit", LIMITS)
def test_zero_limit_is_accepted(parser_cls: Any, limit: str) -> None:
    parser_cls(**{limit: 0})


def test_arguments_are_keyword_only(parser_cls: Any) -> None:
    with pytest.raises(TypeError):
        parser_cls(None)


def test_defaults_accept_a_plain_request(parser_cls: Any) -> None:
    [request] = parser_cls(max_body_size=None).feed(get())
    check_default_scope(request.scope)


# -- field names are case-insensitive wherever the parser looks at them -------------------------

CASE = [
    pytest.param(
        head(b"GET / HTTP/1.1", b"HOST: a", b"host: a"), "InvalidHost", id="host_in_two_cases"
    ),
    pytest.param(head(b"GET / HTTP/1.1", b"hOsT: a b"), "InvalidHost", id="mixed_case_host"),
    pytest.param(
        head(b"POST / HTTP/1.1", b"Host: a", b"CONTENT-LENGTH: 1", b"transfer-ENCODING: chunked"),
        "InvalidFraming",
        id="framing_fields_in_any_case",
    ),
    pytest.param(
        head(b"POST / HTTP/1.1", b"Host: a", b"content-length: 1", b"Content-Length: 2"),
        "InvalidFraming",
        id="content_length_in_two_cases",
    ),
    pytest.param(
        head(b"POST / HTTP/1.1", b"Host: a", b"TRANSFER-ENCODING: GZIP, CHUNKED"),
        "UnsupportedTransferCoding",
        id="transfer_encoding_in_upper_case",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), CASE)
def test_field_names_are_case_insensitive(parser_cls: Any, raw: bytes, expected: str) -> None:
    events = parser_cls().feed(raw)
    assert type(events[-1]).__name__ == expected


def test_upper_case_field_names_set_the_flags(parser_cls: Any) -> None:
    raw = head(
        b"POST / HTTP/1.1",
        b"HOST: a",
        b"CONNECTION: UPGRADE, CLOSE",
        b"UPGRADE: websocket",
        b"EXPECT: 100-CONTINUE",
        b"TRANSFER-ENCODING: CHUNKED",
    )
    [request] = parser_cls().feed(raw)
    assert request.keep_alive is False
    assert request.upgrade == b"websocket"
    assert request.expect_continue is True
    assert request.has_body is True


PROXY_NAMES = {b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}


@pytest.mark.parametrize(
    ("field", "forwarded"),
    [
        pytest.param(b"Forwarded: for=192.0.2.60;proto=https", True, id="forwarded"),
        pytest.param(b"FORWARDED: for=192.0.2.60", True, id="forwarded_upper"),
        pytest.param(b"X-Forwarded-For: 192.0.2.60", True, id="x_forwarded_for"),
        pytest.param(b"x-FORWARDED-for: 192.0.2.60", True, id="x_forwarded_for_mixed"),
        pytest.param(b"X-Forwarded-Proto: https", True, id="x_forwarded_proto"),
        pytest.param(b"x-forwarded-PROTO: https", True, id="x_forwarded_proto_mixed"),
        pytest.param(b"X-Forwarded-For:", True, id="empty_value_counts"),
        pytest.param(b"X-Forwarded-Host: example.org", True, id="x_forwarded_host"),
        pytest.param(b"x-FORWARDED-host: example.org", True, id="x_forwarded_host_mixed"),
        pytest.param(b"X-Forwarded-Port: 443", False, id="x_forwarded_port_alone"),
        pytest.param(b"X-Forwarded-Hos: example.org", False, id="x_forwarded_hos"),
        pytest.param(b"X-Forwarded: for=192.0.2.60", False, id="x_forwarded"),
        pytest.param(b"Forwardedx: for=192.0.2.60", False, id="forwardedx"),
        pytest.param(b"Forwarde: for=192.0.2.60", False, id="forwarde"),
        pytest.param(b"X-Forwarded-Fo: 192.0.2.60", False, id="x_forwarded_fo"),
        pytest.param(b"X-Forwarded-Protocol: https", False, id="x_forwarded_protocol"),
        pytest.param(b"X-Real-IP: 192.0.2.60", False, id="x_real_ip"),
        pytest.param(b"Via: 1.1 proxy", False, id="via"),
        pytest.param(b"Accept: */*", False, id="no_proxy_field"),
    ],
)
def test_forwarded_attribute(parser_cls: Any, field: bytes, forwarded: bool) -> None:
    [request] = parser_cls().feed(get(b"/", b"Accept: */*", field, b"User-Agent: t"))
    assert request.forwarded is forwarded
    request = parser_cls().feed(post(b"body", field))[0]
    assert request.forwarded is forwarded


def test_forwarded_is_false_without_any_field(parser_cls: Any) -> None:
    [request] = parser_cls().feed(b"GET / HTTP/1.0\r\n\r\n")
    assert request.scope["headers"] == []
    assert request.forwarded is False


def test_forwarded_with_many_fields_and_repeats(parser_cls: Any) -> None:
    # Past the parser's initial field array, and the field repeated in two cases.
    fields = [b"X-Custom-%d: %d" % (i, i) for i in range(40)]
    raw = get(b"/", *fields, b"X-Forwarded-For: a", *fields, b"x-forwarded-for: b")
    [request] = parser_cls().feed(raw)
    assert request.forwarded is True
    [request] = parser_cls().feed(get(b"/", *fields))
    assert request.forwarded is False


def test_forwarded_is_judged_per_head(parser_cls: Any) -> None:
    with_field = get(b"/1", b"X-Forwarded-Proto: https")
    without = get(b"/2", b"X-Forwarded-Port: 443")
    raw = with_field + without + post(b"xy", b"Forwarded: for=a") + without
    for events in (parser_cls().feed(raw), feed_pieces(parser_cls(), raw, 1)):
        requests = [e for e in events if not isinstance(e, dict)]
        assert [r.scope["path"] for r in requests] == ["/1", "/2", "/", "/2"]
        assert [r.forwarded for r in requests] == [True, False, True, False]


def test_forwarded_ignores_trailer_fields(parser_cls: Any) -> None:
    raw = head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked")
    raw += b"2\r\nxy\r\n0\r\nX-Forwarded-For: a\r\nForwarded: for=a\r\n\r\n" + get(b"/next")
    events = parser_cls().feed(raw)
    requests = [e for e in events if not isinstance(e, dict)]
    assert [r.scope["path"] for r in requests] == ["/", "/next"]
    assert [r.forwarded for r in requests] == [False, False]


def test_forwarded_equals_the_proxy_names_over_the_valid_corpus(twin: SimpleNamespace) -> None:
    for name in SPEC.VALID:
        for request, _ in group(twin.RequestParser().feed(read("valid", name)), twin):
            names = [field_name for field_name, _ in request.scope["headers"]]
            assert request.forwarded is any(n in PROXY_NAMES for n in names), name


def test_root_path_is_prefixed_as_is_not_decoded(parser_cls: Any) -> None:
    [request] = parser_cls(root_path="/a%20b").feed(get(b"/x%20y"))
    assert request.scope["path"] == "/a%20b/x y"
    assert request.scope["raw_path"] == b"/a%20b/x%20y"


def test_feed_accepts_a_non_contiguous_memoryview(parser_cls: Any) -> None:
    raw = post(b"strided")
    padded = bytes(b for byte in raw for b in (byte, 0))
    view = memoryview(padded)[::2]
    assert not view.contiguous
    events = parser_cls().feed(view)
    assert events[0].scope["method"] == "POST"
    assert events[1] == {"type": "http.request", "body": b"strided", "more_body": False}


def test_feed_copies_the_memoryview_bytes_it_keeps(parser_cls: Any) -> None:
    parser = parser_cls()
    data = bytearray(b"GET /keep HTTP/1.1\r\nHost: a\r\nX-Par")
    assert parser.feed(memoryview(data)) == []
    data[:] = b"Z" * len(data)
    [request] = parser.feed(b"tial: yes\r\n\r\n")
    assert request.scope["path"] == "/keep"
    assert request.scope["headers"] == [(b"host", b"a"), (b"x-partial", b"yes")]


# -- CONNECT, root_path on every form, unparsed() when finished --------------------------------


def test_connect_never_pauses(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    connect = head(
        b"CONNECT example.com:443 HTTP/1.1",
        b"Host: example.com:443",
        b"Connection: upgrade",
        b"Upgrade: websocket",
    )
    events = parser.feed(connect + get(b"/after"))
    assert [type(e) for e in events] == [twin.Request, twin.Request]
    assert events[0].scope["method"] == "CONNECT"
    assert events[1].scope["path"] == "/after"
    assert parser.unparsed() == b""


@pytest.mark.parametrize(
    ("raw", "path", "raw_path"),
    [
        pytest.param(get(b"/x"), "/r/x", b"/r/x", id="origin_form"),
        pytest.param(get(b"http://h/x"), "/r/x", b"/r/x", id="absolute_form"),
        pytest.param(get(b"http://h"), "/r/", b"/r/", id="absolute_form_with_empty_path"),
        pytest.param(head(b"OPTIONS * HTTP/1.1", b"Host: a"), "/r*", b"/r*", id="asterisk_form"),
        pytest.param(
            head(b"CONNECT a:1 HTTP/1.1", b"Host: a:1"), "/ra:1", b"/ra:1", id="authority_form"
        ),
    ],
)
def test_root_path_prefixes_every_form(
    parser_cls: Any, raw: bytes, path: str, raw_path: bytes
) -> None:
    [request] = parser_cls(root_path="/r").feed(raw)
    assert request.scope["path"] == path
    assert request.scope["raw_path"] == raw_path
    assert request.scope["root_path"] == "/r"


def test_unparsed_after_an_error_is_empty(parser_cls: Any) -> None:
    parser = parser_cls()
    events = parser.feed(b"G@T / HTTP/1.1\r\n\r\nmore bytes")
    assert type(events[-1]) is errors.InvalidMethod
    assert parser.unparsed() == b""
    parser.feed(b"and more")
    assert parser.unparsed() == b""


def test_unparsed_after_the_connection_closed_is_empty(parser_cls: Any) -> None:
    parser = parser_cls()
    assert len(parser.feed(get(b"/", b"Connection: close") + b"GET /ignored HT")) == 1
    assert parser.unparsed() == b""
    parser.feed(b"TP/1.1\r\n")
    assert parser.unparsed() == b""
