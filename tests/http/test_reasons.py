"""Error messages name the real reason, and both twins name the same one.

Strategy: every HTTPError a twin returns reads "<key phrase>" or "<key phrase> (<detail>)"
(src/sailfish/errors.py). `KEY_PHRASES` is the table of error cases: each key phrase and the
class it goes with. For every invalid corpus file, and for the limit cases the default parser
cannot reach, fed whole and byte by byte, each twin's message must start with a key phrase of
the table that goes with the error's class (so never a generic stage label such as "invalid
head", nor the class's fallback `reason`), and both twins must name the same key phrase; the
details may differ. Then the same for test_differential.py's mutated requests and small limits
(the twins cut at the same points). Classes and statuses are test_differential.py's business.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st
from test_differential import HYPOTHESIS, cuts, events_at, limits, mutated, pipeline

from sailfish.errors import HTTPError
from twins import corpus, load_twin

# key phrase -> the class whose errors may carry it
KEY_PHRASES: dict[str, str] = {
    # request line (docs/core.md step 1)
    "invalid character in request line": "InvalidRequestLine",
    "bare CR in request line": "InvalidRequestLine",
    "request line too long": "RequestLineTooLong",
    "request line ends in bare LF": "InvalidRequestLine",
    "stray space in request line": "InvalidRequestLine",
    "malformed request line": "InvalidRequestLine",
    "missing HTTP version": "InvalidVersion",
    "malformed HTTP version": "InvalidVersion",
    "HTTP version not supported": "UnsupportedVersion",
    "invalid method": "InvalidMethod",
    "invalid character in request target": "InvalidTarget",
    "CONNECT target not host:port": "InvalidTarget",
    "asterisk-form target without OPTIONS": "InvalidTarget",
    "invalid request target": "InvalidTarget",
    "invalid absolute-form authority": "InvalidTarget",
    # field lines, header and trailer sections (steps 2 and 4)
    "header section too large": "HeadersTooLarge",
    "too many header fields": "HeadersTooLarge",
    "trailer section too large": "HeadersTooLarge",
    "too many trailer fields": "HeadersTooLarge",
    "field line ends in bare LF": "InvalidHeader",
    "whitespace before the first field line": "InvalidHeader",
    "obs-fold": "InvalidHeader",
    "field line without colon": "InvalidHeader",
    "empty field name": "InvalidHeader",
    "whitespace before colon": "InvalidHeader",
    "invalid character in field name": "InvalidHeader",
    "invalid character in field value": "InvalidHeader",
    # the complete head (step 3)
    "missing Host": "InvalidHost",
    "more than one Host": "InvalidHost",
    "invalid Host": "InvalidHost",
    "Content-Length with Transfer-Encoding": "InvalidFraming",
    "Transfer-Encoding in HTTP/1.0": "InvalidFraming",
    "malformed Transfer-Encoding": "InvalidFraming",
    "Transfer-Encoding not ending in chunked": "InvalidFraming",
    "chunked more than once in Transfer-Encoding": "InvalidFraming",
    "unsupported transfer coding": "UnsupportedTransferCoding",
    "invalid Content-Length": "InvalidFraming",
    "differing Content-Length values": "InvalidFraming",
    "request body too large": "BodyTooLarge",
    "expectation failed": "ExpectationFailed",
    # chunked body (step 4)
    "chunk line ends in bare LF": "InvalidChunk",
    "invalid chunk size": "InvalidChunk",
    "chunk size too large": "InvalidChunk",
    "chunk extension too long": "InvalidChunk",
    "invalid chunk extension": "InvalidChunk",
    "chunk data not followed by CRLF": "InvalidChunk",
}
# Kept in both twins as a defence, but the request-line byte check always answers first.
UNREACHABLE = {"invalid character in request target"}
# What the compiled twin said before it recorded reasons: each phase's label.
STAGE_LABELS = {
    "invalid request line",
    "invalid field line",
    "invalid head",
    "invalid chunk",
    "invalid trailer section",
}

CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
# (raw, parser kwargs): errors that need a limit the default parser does not set, and orders
# of checks worth pinning (the first bad Content-Length element names the error).
LIMIT_CASES: dict[str, tuple[bytes, dict[str, int]]] = {
    "413-content_length": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n",
        {"max_body_size": 100},
    ),
    "413-chunks": (CHUNKED + b"40\r\n" + b"x" * 64 + b"\r\n40\r\n", {"max_body_size": 100}),
    "414-small_limit": (b"GET /" + b"a" * 100, {"max_request_line": 50}),
    "431-header_size": (b"GET / HTTP/1.1\r\nHost: a\r\nx: " + b"y" * 100, {"max_header_size": 50}),
    "431-header_count": (b"GET / HTTP/1.1\r\nHost: a\r\nx: y\r\n\r\n", {"max_headers": 1}),
    "431-trailer_size": (CHUNKED + b"0\r\na: " + b"b" * 100, {"max_trailer_size": 50}),
    "431-trailer_count": (CHUNKED + b"0\r\na: b\r\nc: d\r\nd: e\r\n\r\n", {"max_headers": 2}),
    "400-chunk_extension_too_long": (CHUNKED + b"5;" + b"e" * 50, {"max_chunk_ext_size": 10}),
    "400-tls_client_hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", {}),
    "400-trailer_starts_with_space": (CHUNKED + b"0\r\n a: b\r\n\r\n", {}),
    "400-content_length_differs_before_invalid": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2, x\r\n\r\n",
        {},
    ),
}
CASES = [pytest.param(param.values[0], {}, id=param.id) for param in corpus("invalid")] + [
    pytest.param(raw, kwargs, id=name) for name, (raw, kwargs) in LIMIT_CASES.items()
]
STEPS = [pytest.param(1, id="bytewise"), pytest.param(1 << 20, id="whole")]


@pytest.fixture(scope="module")
def py() -> Any:
    return load_twin("py").RequestParser


@pytest.fixture(scope="module")
def c() -> Any:
    return load_twin("c").RequestParser


def error_of(parser_cls: Any, raw: bytes, step: int, kwargs: dict[str, int]) -> HTTPError:
    parser = parser_cls(**kwargs)
    events: list[Any] = []
    for start in range(0, len(raw), step):
        events.extend(parser.feed(raw[start : start + step]))
    assert events and isinstance(events[-1], HTTPError), events
    return events[-1]


def key_phrase(exc: HTTPError) -> str:
    """The key phrase of exc's message, checked against the table and the class."""
    message = str(exc)
    assert message not in STAGE_LABELS, f"a generic stage label: {message!r}"
    assert message != type(exc).reason, f"the class's fallback, not a reason: {message!r}"
    key = message.split(" (", 1)[0]
    assert key in KEY_PHRASES, f"{message!r} starts with no key phrase of the table"
    assert KEY_PHRASES[key] == type(exc).__name__, f"{key!r} is not a {type(exc).__name__}"
    return key


def reached_key(py: Any, c: Any, raw: bytes, kwargs: dict[str, int], step: int) -> str:
    py_key = key_phrase(error_of(py, raw, step, kwargs))
    c_key = key_phrase(error_of(c, raw, step, kwargs))
    assert py_key == c_key
    return py_key


@pytest.mark.parametrize("twin", ["py", "c"])
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(("raw", "kwargs"), CASES)
def test_each_twin_names_a_reason(twin: str, raw: bytes, kwargs: dict[str, int], step: int) -> None:
    key_phrase(error_of(load_twin(twin).RequestParser, raw, step, kwargs))


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(("raw", "kwargs"), CASES)
def test_twins_name_the_same_reason(
    py: Any, c: Any, raw: bytes, kwargs: dict[str, int], step: int
) -> None:
    reached_key(py, c, raw, kwargs, step)


def test_every_key_phrase_is_reached(py: Any, c: Any) -> None:
    reached = {reached_key(py, c, *case.values, 1 << 20) for case in CASES}
    assert reached == set(KEY_PHRASES) - UNREACHABLE


@pytest.mark.parametrize("twin", ["py", "c"])
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("413-content_length", "request body too large (Content-Length 1000 > limit 100)"),
        ("413-chunks", "request body too large (chunks announce 128 bytes > limit 100)"),
        ("414-small_limit", "request line too long (limit 50 bytes)"),
        ("431-header_size", "header section too large (limit 50 bytes)"),
        ("431-trailer_count", "too many trailer fields (limit 2)"),
        ("400-chunk_extension_too_long", "chunk extension too long (limit 10 bytes)"),
        ("400-tls_client_hello", "invalid character in request line (0x16)"),
    ],
)
def test_messages_give_the_numbers(twin: str, name: str, message: str) -> None:
    raw, kwargs = LIMIT_CASES[name]
    assert str(error_of(load_twin(twin).RequestParser, raw, 1 << 20, kwargs)) == message


@HYPOTHESIS
@given(data=st.data(), raw=st.one_of(mutated(), pipeline().map(lambda p: p[0])), kwargs=limits)
def test_mutated_requests_name_the_same_reason_in_both_twins(
    py: Any, c: Any, data: st.DataObject, raw: bytes, kwargs: dict[str, Any]
) -> None:
    splits = data.draw(cuts(len(raw)), label="splits")
    py_events = events_at(py, raw, splits, **kwargs)
    c_events = events_at(c, raw, splits, **kwargs)
    py_error = py_events[-1] if py_events and isinstance(py_events[-1], HTTPError) else None
    c_error = c_events[-1] if c_events and isinstance(c_events[-1], HTTPError) else None
    assert (py_error is None) == (c_error is None)
    if py_error is not None and c_error is not None:
        assert key_phrase(py_error) == key_phrase(c_error)
