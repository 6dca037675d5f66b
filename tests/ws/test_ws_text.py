"""Text messages down every path of the parser, both twins: a whole frame in one feed() (where
the compiled twin builds the str without its message buffer), the same frame in pieces,
fragmented, and compressed; ASCII or not, valid or invalid at the first or the last byte."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sailfish.errors import WebSocketError
from wsutil import client_frame, normalise

CONT = 0x0
TEXT = 0x1
BIN = 0x2

JSONISH = b'{"id": 7, "user": "user7", "text": "message number 7", "ok": true}, ' * 250

PAYLOADS = {
    "empty": b"",
    "ascii_1": b"a",
    "ascii_15": b"a" * 15,
    "ascii_16": b"b" * 16,
    "ascii_33": b"c" * 33,
    "ascii_16k": JSONISH[:16384],
    "non_ascii_first": "é".encode() + b"x" * 40,
    "non_ascii_last": b"x" * 40 + "😀".encode(),
    "non_ascii_long": "κόσμε 𝄞 ".encode() * 1000,
    "invalid_first": b"\xff" + b"x" * 40,
    "invalid_last": b"x" * 40 + b"\xff",
    "continuation_last": b"x" * 40 + b"\x80",
    "truncated_last": b"x" * 40 + b"\xe2\x82",
    "truncated_last_long": JSONISH[:16384] + b"\xf0\x9f\x98",
    "surrogate": b"ab\xed\xa0\x80",
    "overlong": b"ab\xc0\xaf",
    "above_10ffff": b"ab\xf4\x90\x80\x80",
    "invalid_after_non_ascii": "κόσμε".encode() * 100 + b"\xed\xbf\xbf",
}


def compress(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def whole(data: bytes) -> list[bytes]:
    return [client_frame(TEXT, data)]


def pieces(data: bytes) -> list[bytes]:
    frame = client_frame(TEXT, data)
    return [frame[i : i + 7] for i in range(0, len(frame), 7)]


def header_apart(data: bytes) -> list[bytes]:
    # The header in one feed(), the whole payload in the next.
    frame = client_frame(TEXT, data)
    head = len(frame) - len(data)
    return [frame[:head], frame[head:]]


def fragments(data: bytes) -> list[bytes]:
    cut = len(data) // 2
    return [client_frame(TEXT, data[:cut], fin=False) + client_frame(CONT, data[cut:])]


def fragments_empty_first(data: bytes) -> list[bytes]:
    return [client_frame(TEXT, b"", fin=False) + client_frame(CONT, data)]


def deflated(data: bytes) -> list[bytes]:
    return [client_frame(TEXT, compress(data), rsv=4)]


def deflated_fragments(data: bytes) -> list[bytes]:
    packed = compress(data)
    cut = len(packed) // 2
    return [client_frame(TEXT, packed[:cut], fin=False, rsv=4) + client_frame(CONT, packed[cut:])]


DELIVERIES: dict[str, tuple[Callable[[bytes], list[bytes]], bool]] = {
    "whole": (whole, False),
    "pieces": (pieces, False),
    "header_apart": (header_apart, False),
    "fragments": (fragments, False),
    "fragments_empty_first": (fragments_empty_first, False),
    "deflated": (deflated, True),
    "deflated_fragments": (deflated_fragments, True),
}


def expected(data: bytes) -> tuple[Any, ...]:
    """What RFC 6455 §8.1 asks for, with CPython's decoder as the reference."""
    try:
        return ("text", data.decode("utf-8"))
    except UnicodeDecodeError as error:
        truncated = error.reason == "unexpected end of data"
        reason = "invalid UTF-8 in a text message" + (" (truncated)" if truncated else "")
        return ("error", 1007, reason)


def run(ws: SimpleNamespace, inputs: list[bytes], deflate: bool) -> list[tuple[Any, ...]]:
    kw: dict[str, Any] = {}
    if deflate:
        result = ws.negotiate_deflate(b"permessage-deflate")
        assert result is not None
        kw["deflate"] = result[1]
    parser = ws.FrameParser(**kw)
    events: list[Any] = []
    for piece in inputs:
        events.extend(parser.feed(piece))
    return [
        ("error", e.code, e.reason) if isinstance(e, WebSocketError) else normalise(e)
        for e in events
    ]


@pytest.mark.parametrize("delivery", list(DELIVERIES))
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_text_on_every_path(ws: SimpleNamespace, name: str, delivery: str) -> None:
    data = PAYLOADS[name]
    build, deflate = DELIVERIES[delivery]
    assert run(ws, build(data), deflate) == [expected(data)]


@pytest.mark.parametrize("n", [*range(1, 70), 95, 96, 97, 1000])
def test_one_non_ascii_byte_anywhere(ws: SimpleNamespace, n: int) -> None:
    # The unmask pass notices a byte >= 0x80 in its vector, word and byte loops alike.
    for i in range(n):
        lone = b"a" * i + b"\x80" + b"a" * (n - i - 1)
        assert run(ws, whole(lone), False) == [expected(lone)], i
        pair = b"a" * i + "é".encode() + b"a" * (n - i - 1)
        assert run(ws, whole(pair), False) == [("text", pair.decode())], i
    plain = b"a" * n
    assert run(ws, whole(plain), False) == [("text", plain.decode())]


def test_whole_text_then_more_messages_in_one_feed(ws: SimpleNamespace) -> None:
    # The state the whole-frame path leaves behind is the same as after any message.
    stream = (
        client_frame(TEXT, "héllo".encode())
        + client_frame(TEXT, b"ab", fin=False)
        + client_frame(CONT, "ç".encode())
        + client_frame(TEXT, b"plain")
        + client_frame(BIN, b"\xff")
        + client_frame(TEXT, b"")
        + client_frame(TEXT, b"x\xff")
    )
    assert run(ws, [stream], False) == [
        ("text", "héllo"),
        ("text", "abç"),
        ("text", "plain"),
        ("bytes", b"\xff"),
        ("text", ""),
        ("error", 1007, "invalid UTF-8 in a text message"),
    ]


def test_one_character_texts_are_equal_to_literals(ws: SimpleNamespace) -> None:
    # The ASCII fast path builds new str objects; they must still compare and hash as usual.
    for c in ["a", "\x00", "\x7f", "é", "€", "😀"]:
        [event] = run(ws, whole(c.encode()), False)
        assert event == ("text", c)
        assert hash(event[1]) == hash(c)
