"""The pure-Python twin's own pieces: _abnf, headers, scope helpers, and split independence.

Strategy: small tests of the helpers of src/sailfish/http/ that the contract tests
(test_parser.py, both twins) cannot reach, plus the property the differential tests rely on:
for the reference twin, the outcome of any input does not depend on how it is split across
feed() calls. Only the "py" twin is imported here; the twins are compared elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sailfish import errors
from sailfish.http import _abnf
from sailfish.http.headers import analyse_head, parse_field_line
from sailfish.http.parser import Request, RequestParser
from sailfish.http.scope import parse_target

CORPUS_DIR = Path(__file__).parent.parent / "corpus"
CORPUS = sorted(CORPUS_DIR.glob("*/*.http"))


def outcome(raw: bytes, cuts: list[int], **kwargs: Any) -> list[Any]:
    """Feed `raw` cut at `cuts`, then feed(b"") until quiet; body messages merged."""
    parser = RequestParser(**kwargs)
    events: list[Any] = []
    start = 0
    for cut in [*sorted(cuts), len(raw)]:
        events.extend(check_call(parser.feed(raw[start:cut])))
        start = cut
    for _ in range(100):
        more = check_call(parser.feed(b""))
        if not more:
            break
        events.extend(more)
    merged: list[Any] = []
    for event in events:
        if isinstance(event, dict) and merged and isinstance(merged[-1], dict):
            merged[-1] = {**event, "body": merged[-1]["body"] + event["body"]}
        elif isinstance(event, errors.HTTPError):
            merged.append((type(event), event.status))
        else:
            merged.append(event)
    return merged


def check_call(events: list[Any]) -> list[Any]:
    """The shape rules of one feed() result."""
    for i, event in enumerate(events):
        if isinstance(event, errors.HTTPError):
            assert i == len(events) - 1, "error is not the last event"
        elif isinstance(event, dict):
            assert event["body"] or not event["more_body"], "empty non-final body message"
            assert not (i and isinstance(events[i - 1], dict)), "two body messages in one call"
        else:
            assert isinstance(event, Request)
    return events


# -- split independence ------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}-{p.stem}" for p in CORPUS])
def test_corpus_outcome_is_the_same_at_every_two_way_split(path: Path) -> None:
    raw = path.read_bytes()
    whole = outcome(raw, [])
    assert whole
    for cut in range(1, len(raw)):
        assert outcome(raw, [cut]) == whole, cut
    assert outcome(raw, list(range(1, len(raw)))) == whole


_NOISE = st.sampled_from(
    [
        b"\r",
        b"\n",
        b"\r\n",
        b" ",
        b"\t",
        b":",
        b";",
        b",",
        b"0",
        b"f",
        b"\x00",
        b"\x80",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 3\r\n",
        b"Connection: upgrade\r\nUpgrade: x\r\n",
        b"Connection: close\r\n",
    ]
)
_SEEDS = [p.read_bytes() for p in CORPUS if p.parent.name == "valid"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "delete":
            del raw[at : at + draw(st.integers(1, 3))]
        else:
            noise = draw(_NOISE)
            raw[at : at + (len(noise) if action == "replace" else 0)] = noise
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=mutated(),
    data=st.data(),
    limits=st.fixed_dictionaries(
        {},
        optional={
            "max_request_line": st.integers(0, 40),
            "max_header_size": st.integers(0, 200),
            "max_headers": st.integers(0, 5),
            "max_body_size": st.integers(0, 40),
            "max_chunk_ext_size": st.integers(0, 10),
            "max_trailer_size": st.integers(0, 30),
        },
    ),
)
def test_mutated_input_outcome_does_not_depend_on_the_split(
    raw: bytes, data: st.DataObject, limits: dict[str, int]
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    assert outcome(raw, cuts, **limits) == outcome(raw, [], **limits)


# -- limits at their edges ---------------------------------------------------------------------


def last(raw: bytes, **kwargs: Any) -> Any:
    events = RequestParser(**kwargs).feed(raw)
    return events[-1] if events else None


def test_request_line_limit_edges() -> None:
    line = b"GET /abc HTTP/1.1"  # 17 bytes
    assert isinstance(last(line + b"\r\nHost: a\r\n\r\n", max_request_line=17), Request)
    assert type(last(line + b"\r\n", max_request_line=16)) is errors.RequestLineTooLong
    # Without the LF, max + 1 bytes may still be max bytes and a CR.
    assert last(line + b"\r", max_request_line=17) is None
    assert type(last(line + b"xy", max_request_line=17)) is errors.RequestLineTooLong
    # A bare CR is known bad when the next byte comes; here that byte also makes the line too
    # long, and the bad byte wins the tie (docs/core.md step 1).
    assert type(last(line + b"\r\r", max_request_line=17)) is errors.InvalidRequestLine
    assert type(last(line + b"xy\x00", max_request_line=17)) is errors.RequestLineTooLong
    # Skipped empty lines do not count.
    assert isinstance(
        last(b"\r\n" * 50 + line + b"\r\nHost: a\r\n\r\n", max_request_line=17), Request
    )


def test_header_size_limit_edges() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"  # section: 9 + 2 bytes
    assert isinstance(last(raw, max_header_size=11), Request)
    assert type(last(raw, max_header_size=10)) is errors.HeadersTooLarge
    assert last(b"GET / HTTP/1.1\r\nHost: aaaaaa", max_header_size=12) is None
    assert type(last(b"GET / HTTP/1.1\r\nHost: aaaaaaa", max_header_size=12)) is (
        errors.HeadersTooLarge
    )


CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_chunk_line_limits_are_judged_before_the_lf() -> None:
    assert last(CHUNKED + b"0" * 16) is not None  # the Request
    assert type(last(CHUNKED + b"0" * 17)) is errors.InvalidChunk
    assert isinstance(last(CHUNKED + b"5;abc\r", max_chunk_ext_size=4), Request)
    assert type(last(CHUNKED + b"5;abcd\r", max_chunk_ext_size=4)) is errors.InvalidChunk
    assert type(last(CHUNKED + b"5;abcd\r\n", max_chunk_ext_size=4)) is errors.InvalidChunk
    assert last(CHUNKED + b"5;abc\r\nhello\r\n0\r\n\r\n", max_chunk_ext_size=4) == {
        "type": "http.request",
        "body": b"hello",
        "more_body": False,
    }


def test_chunked_body_limit_is_judged_at_the_chunk_size_line() -> None:
    parser = RequestParser(max_body_size=5)
    events = parser.feed(CHUNKED + b"3\r\nabc\r\n")
    assert events[1:] == [{"type": "http.request", "body": b"abc", "more_body": True}]
    assert parser.feed(b"2\r\n") == []
    assert type(parser.feed(b"de\r\n1\r\n")[-1]) is errors.BodyTooLarge


def test_trailer_limits() -> None:
    body = CHUNKED + b"0\r\nA: b\r\n\r\n"  # trailer section: 6 + 2 bytes
    assert last(body, max_trailer_size=8)["more_body"] is False
    assert type(last(body, max_trailer_size=7)) is errors.HeadersTooLarge
    assert type(last(CHUNKED + b"0\r\nA: b\r\nB: c\r\n\r\n", max_headers=1)) is (
        errors.HeadersTooLarge
    )
    assert type(last(CHUNKED + b"0\r\nA : b\r\n\r\n")) is errors.InvalidHeader


def test_nothing_is_buffered_once_done_or_failed() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n")
    assert parser.unparsed() == b""
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nBad Header\r\n\r\nmore")
    assert parser.unparsed() == b""


def test_feed_refuses_str() -> None:
    with pytest.raises(TypeError):
        RequestParser().feed("GET / HTTP/1.1\r\n")  # type: ignore[arg-type]


# -- helpers -----------------------------------------------------------------------------------


def test_abnf_patterns_are_ascii_and_compile() -> None:
    for name in dir(_abnf):
        value = getattr(_abnf, name)
        if name.isupper() and isinstance(value, str):
            re.compile(value.encode("ascii"))


@pytest.mark.parametrize(
    ("line", "pair"),
    [
        pytest.param(b"Host: a", (b"host", b"a"), id="simple"),
        pytest.param(b"X-A:\t b c \t", (b"x-a", b"b c"), id="strips_sp_and_htab_only_at_ends"),
        pytest.param(b"X:", (b"x", b""), id="empty_value"),
        pytest.param(b"X: \x80\xff", (b"x", b"\x80\xff"), id="obs_text"),
    ],
)
def test_parse_field_line(line: bytes, pair: tuple[bytes, bytes]) -> None:
    assert parse_field_line(line) == pair


@pytest.mark.parametrize(
    "line",
    [
        b" X: a",
        b"\tX: a",
        b"X : a",
        b"X\t: a",
        b": a",
        b"X",
        b"X: a\rb",
        b"X: a\x7f",
        b"X: \x00",
        b"X\x80: a",
    ],
)
def test_parse_field_line_refuses(line: bytes) -> None:
    with pytest.raises(errors.InvalidHeader):
        parse_field_line(line)


H = [(b"host", b"a")]


@pytest.mark.parametrize(
    ("version", "headers", "error"),
    [
        ("1.1", [], errors.InvalidHost),
        ("1.0", [(b"host", b"a"), (b"host", b"a")], errors.InvalidHost),
        ("1.1", [(b"host", b"a b")], errors.InvalidHost),
        ("1.1", [(b"host", b"[::1")], errors.InvalidHost),
        ("1.1", [*H, (b"transfer-encoding", b"chunked,")], errors.InvalidFraming),
        (
            "1.1",
            [*H, (b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")],
            errors.InvalidFraming,
        ),
        (
            "1.1",
            [*H, (b"transfer-encoding", b"gzip"), (b"transfer-encoding", b"chunked")],
            errors.UnsupportedTransferCoding,
        ),
        ("1.1", [*H, (b"content-length", b"1, 2")], errors.InvalidFraming),
        ("1.1", [*H, (b"content-length", b"0" * 19)], errors.InvalidFraming),
    ],
)
def test_analyse_head_refuses(
    version: str, headers: list[tuple[bytes, bytes]], error: type[Exception]
) -> None:
    with pytest.raises(error):
        analyse_head(version, headers, None)


def test_analyse_head_facts() -> None:
    head = analyse_head(
        "1.1",
        [
            *H,
            (b"connection", b", Upgrade ,"),
            (b"upgrade", b"a"),
            (b"upgrade", b"b"),
            (b"content-length", b"000"),
            (b"expect", b"100-continue"),
        ],
        None,
    )
    assert head.keep_alive and head.upgrade == b"a, b"
    assert not head.has_body and not head.expect_continue
    with pytest.raises(errors.BodyTooLarge):
        analyse_head("1.1", [*H, (b"content-length", b"11")], 10)
    assert analyse_head("1.1", [*H, (b"content-length", b"1, 01")], None).content_length == 1
    assert analyse_head("1.1", [(b"host", b"")], None).keep_alive
    assert analyse_head("1.1", [(b"host", b"[v1.a:b]:")], None).keep_alive


@pytest.mark.parametrize(
    ("method", "target", "split"),
    [
        ("GET", b"/a%2Fb?x?y", (b"/a%2Fb", "/a/b", b"x?y", None)),
        ("GET", b"HTTPS://h", (b"/", "/", b"", b"h")),
        ("GET", b"http://h:8?q", (b"/", "/", b"q", b"h:8")),
        ("OPTIONS", b"*", (b"*", "*", b"", None)),
        ("CONNECT", b"h:443", (b"h:443", "h:443", b"", None)),
        ("CONNECT", b"[::1]:443", (b"[::1]:443", "[::1]:443", b"", None)),
    ],
)
def test_parse_target_forms(
    method: str, target: bytes, split: tuple[bytes, str, bytes, bytes | None]
) -> None:
    assert tuple(parse_target(method, target)) == split


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", b"*"),
        ("CONNECT", b"*"),
        ("GET", b"h:443"),
        ("CONNECT", b"h"),
        ("CONNECT", b"h:"),
        ("CONNECT", b"/x"),
        ("CONNECT", b"http://h:443/"),
        ("GET", b"ftp://h/"),
        ("GET", b"/\x80"),
        ("GET", b"a/b"),
    ],
)
def test_parse_target_refuses(method: str, target: bytes) -> None:
    with pytest.raises(errors.InvalidTarget):
        parse_target(method, target)
