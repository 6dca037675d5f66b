"""Chunked bodies (RFC 9112 §7.1) and the body-message merging rule of docs/core.md.

The rule: within one `feed` call, all body bytes of one request that the call completes are
one message; an empty message is emitted only to carry `more_body=False`; a call that adds no
body bytes and does not end the body emits no message.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sailfish import errors

HEAD = b"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"


def msg(body: bytes, more_body: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more_body}


def only_request(events: list[Any], twin: SimpleNamespace) -> list[Any]:
    """`events` with its Request replaced by the string "request" (checked to be one)."""
    return ["request" if isinstance(e, twin.Request) else e for e in events]


def test_whole_chunked_body_in_one_feed_is_one_message(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
    assert only_request(events, twin) == ["request", msg(b"hello world", False)]
    assert events[0].has_body is True


def test_each_call_gets_the_body_bytes_it_completes(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert only_request(parser.feed(HEAD + b"5\r\nhel"), twin) == ["request", msg(b"hel", True)]
    assert parser.feed(b"lo") == [msg(b"lo", True)]
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"3\r\n") == []
    assert parser.feed(b"abc\r\n4") == [msg(b"abc", True)]
    assert parser.feed(b"\r\nxy") == [msg(b"xy", True)]
    assert parser.feed(b"zw\r\n0\r\n") == [msg(b"zw", True)]
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n") == [msg(b"", False)]
    assert parser.feed(b"") == []


def test_body_ending_with_its_last_bytes_in_the_same_call(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert only_request(parser.feed(HEAD + b"2\r\nab"), twin) == ["request", msg(b"ab", True)]
    assert parser.feed(b"\r\n2\r\ncd\r\n0\r\n\r\n") == [msg(b"cd", False)]


def test_trailers_are_discarded_and_end_the_body(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"1\r\nx\r\n0\r\nX-Checksum: 42\r\n")
    assert only_request(events, twin) == ["request", msg(b"x", True)]
    assert parser.feed(b"X-More: yes\r\n") == []
    assert parser.feed(b"\r\n") == [msg(b"", False)]
    assert events[0].scope["headers"] == [
        (b"host", b"example.com"),
        (b"transfer-encoding", b"chunked"),
    ]


def test_zero_length_chunked_body_gives_one_empty_final_message(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"0\r\n\r\n")
    assert only_request(events, twin) == ["request", msg(b"", False)]
    assert events[0].has_body is True


def test_zero_length_chunked_body_across_calls(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert only_request(parser.feed(HEAD), twin) == ["request"]
    assert parser.feed(b"0\r\n") == []
    assert parser.feed(b"\r\n") == [msg(b"", False)]


def test_two_chunked_requests_in_one_feed_have_one_message_each(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"3\r\none\r\n0\r\n\r\n" + HEAD + b"3\r\ntwo\r\n0\r\n\r\n")
    assert only_request(events, twin) == [
        "request",
        msg(b"one", False),
        "request",
        msg(b"two", False),
    ]


def test_body_end_and_next_head_in_the_same_call(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert only_request(parser.feed(HEAD + b"3\r\none\r\n"), twin) == ["request", msg(b"one", True)]
    events = parser.feed(b"0\r\n\r\n" + HEAD + b"2\r\ntw")
    assert only_request(events, twin) == [msg(b"", False), "request", msg(b"tw", True)]


def test_content_length_body_follows_the_same_rule(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    raw = b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
    assert only_request(parser.feed(raw), twin) == ["request"]
    assert parser.feed(b"") == []
    assert parser.feed(b"0123") == [msg(b"0123", True)]
    assert parser.feed(b"456789GET") == [msg(b"456789", False)]


def test_extensions_are_skipped(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    body = (
        b"3;a\r\none\r\n"
        b'3 ;name="quoted;\\"=value"\r\ntwo\r\n'
        b"5\t;x=1;y;z=\xff\xfe\r\nthree\r\n"
        b"0;last=yes\r\n\r\n"
    )
    events = parser.feed(HEAD + body)
    assert only_request(events, twin) == ["request", msg(b"onetwothree", False)]


def test_sixteen_hex_digits_with_leading_zeros_are_allowed(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n")
    assert only_request(events, twin) == ["request", msg(b"hello", False)]


def test_largest_chunk_size_is_accepted(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"7fffffffffffffff\r\nsome data")
    assert only_request(events, twin) == ["request", msg(b"some data", True)]


def test_chunk_size_of_2_pow_63_is_invalid(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"8000000000000000\r\n")
    assert only_request(events[:-1], twin) == ["request"]
    assert type(events[-1]) is errors.InvalidChunk


def test_error_after_chunk_data_keeps_the_data_before_it(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    events = parser.feed(HEAD + b"5\r\nhello\r\nzz\r\n")
    assert only_request(events[:-1], twin) == ["request", msg(b"hello", True)]
    assert type(events[-1]) is errors.InvalidChunk
    assert parser.feed(b"0\r\n\r\n") == []


def test_big_chunk_fed_in_pieces(twin: SimpleNamespace) -> None:
    data = bytes(range(256)) * 64
    raw = HEAD + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
    parser = twin.RequestParser()
    events: list[Any] = []
    for i in range(0, len(raw), 1000):
        events.extend(parser.feed(raw[i : i + 1000]))
    assert isinstance(events[0], twin.Request)
    assert b"".join(m["body"] for m in events[1:]) == data
    assert events[-1]["more_body"] is False
    assert all(m["more_body"] for m in events[1:-1])


# -- every split point: exact message lists ----------------------------------------------------


def build(parts: list[tuple[str, bytes]]) -> tuple[bytes, list[int]]:
    """Concatenate ("wire", bytes) / ("data", bytes) parts; also the offsets of data bytes."""
    raw = b""
    data_at: list[int] = []
    for kind, piece in parts:
        if kind == "data":
            data_at.extend(range(len(raw), len(raw) + len(piece)))
        raw += piece
    return raw, data_at


SPLIT_CASES = [
    pytest.param(
        [
            ("wire", HEAD + b"5\r\n"),
            ("data", b"hello"),
            ("wire", b"\r\n6\r\n"),
            ("data", b" world"),
            ("wire", b"\r\n0\r\n\r\n"),
        ],
        id="two_chunks",
    ),
    pytest.param(
        [
            ("wire", HEAD + b"3;ext=1\r\n"),
            ("data", b"abc"),
            ("wire", b"\r\n1 ; e\r\n"),
            ("data", b"d"),
            ("wire", b"\r\n0;x\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n"),
        ],
        id="extensions_and_trailers",
    ),
    pytest.param([("wire", HEAD + b"0\r\n\r\n")], id="zero_length"),
    pytest.param(
        [
            ("wire", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n"),
            ("data", b"1234567"),
        ],
        id="content_length",
    ),
]


@pytest.mark.parametrize("parts", SPLIT_CASES)
def test_split_at_every_offset_gives_exact_messages(
    twin: SimpleNamespace, parts: list[tuple[str, bytes]]
) -> None:
    raw, data_at = build(parts)
    head_end = len(HEAD) if parts[0][1].startswith(HEAD) else raw.index(b"\r\n\r\n") + 4
    data = bytes(raw[i] for i in data_at)
    for split in range(len(raw) + 1):
        parser = twin.RequestParser()
        first = parser.feed(raw[:split])
        second = parser.feed(raw[split:])
        first_bytes = bytes(raw[i] for i in data_at if i < split)
        ends_in_first = split == len(raw)
        expected_first: list[Any] = ["request"] if split >= head_end else []
        if first_bytes or ends_in_first:
            expected_first.append(msg(first_bytes, not ends_in_first))
        expected_second: list[Any] = [] if split >= head_end else ["request"]
        if not ends_in_first:
            expected_second.append(msg(data[len(first_bytes) :], False))
        assert only_request(first, twin) == expected_first, split
        assert only_request(second, twin) == expected_second, split
