"""FrameParser and FrameWriter, each rule of RFC 6455 §5 on both sides of its limit, both twins."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from sailfish.errors import WebSocketError, WebSocketMessageError
from wsutil import MASK, client_frame, close_frame, feed, outcome, text, xor

BIN = 0x2
CONT = 0x0
PING = 0x9
PONG = 0xA


# --- messages and lengths ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_binary_lengths_round_trip(ws: SimpleNamespace, n: int) -> None:
    payload = bytes(i % 251 for i in range(n))
    assert outcome(ws, client_frame(BIN, payload)) == [("bytes", payload)]


@pytest.mark.parametrize(
    ("form", "n"),
    [
        pytest.param(7, 125, id="7bit_125"),
        pytest.param(16, 126, id="16bit_126"),
        pytest.param(16, 65535, id="16bit_65535"),
        pytest.param(64, 65536, id="64bit_65536"),
    ],
)
def test_minimal_length_forms_accepted(ws: SimpleNamespace, form: int, n: int) -> None:
    data = client_frame(BIN, b"x" * n, form=form)
    assert outcome(ws, data) == [("bytes", b"x" * n)]


@pytest.mark.parametrize(
    ("form", "n"),
    [
        pytest.param(16, 0, id="16bit_0"),
        pytest.param(16, 125, id="16bit_125"),
        pytest.param(64, 125, id="64bit_125"),
        pytest.param(64, 65535, id="64bit_65535"),
    ],
)
def test_non_minimal_length_refused(ws: SimpleNamespace, form: int, n: int) -> None:
    # "the minimal number of bytes MUST be used to encode the length" -- RFC 6455 §5.2
    data = client_frame(BIN, b"x" * n, form=form)
    assert outcome(ws, data) == [("error", 1002)]


def test_64bit_length_with_top_bit_refused(ws: SimpleNamespace) -> None:
    # "the most significant bit MUST be 0" -- RFC 6455 §5.2; refused before the size limit.
    head = bytes((0x82, 0xFF)) + struct.pack("!Q", 1 << 63) + MASK
    assert outcome(ws, head, max_message_size=1 << 62) == [("error", 1002)]
    top = bytes((0x82, 0xFF)) + struct.pack("!Q", (1 << 63) | 5) + MASK
    assert outcome(ws, top) == [("error", 1002)]


def test_text_message(ws: SimpleNamespace) -> None:
    assert outcome(ws, text("héllo wörld ☃ 𝄞")) == [("text", "héllo wörld ☃ 𝄞")]
    assert outcome(ws, text("")) == [("text", "")]


def test_messages_are_new_dicts_with_one_key(ws: SimpleNamespace) -> None:
    parser = ws.FrameParser()
    events = parser.feed(text("a") + text("a") + client_frame(BIN, b""))
    assert events == [
        {"type": "websocket.receive", "text": "a"},
        {"type": "websocket.receive", "text": "a"},
        {"type": "websocket.receive", "bytes": b""},
    ]
    assert events[0] is not events[1]
    events[0]["x"] = 1
    assert "x" not in parser.feed(text("a"))[0]


SAMPLE = (
    text("hello")
    + client_frame(BIN, bytes(range(200)))
    + text("frag", fin=False)
    + client_frame(PING, b"p1")
    + client_frame(CONT, "ment€".encode()[:6], fin=False)
    + client_frame(PONG, b"")
    + client_frame(CONT, "ment€".encode()[6:], fin=True)
    + client_frame(BIN, b"z" * 300)
    + close_frame(1000, b"bye")
    + b"ignored after close"
)
SAMPLE_EVENTS = [
    ("text", "hello"),
    ("bytes", bytes(range(200))),
    ("ping", b"p1"),
    ("pong", b""),
    ("text", "fragment€"),
    ("bytes", b"z" * 300),
    ("close", 1000, "bye"),
]


def test_sample_stream_whole_and_byte_by_byte(ws: SimpleNamespace) -> None:
    assert outcome(ws, SAMPLE) == SAMPLE_EVENTS
    for step in (1, 2, 3, 5, 7, 64):
        assert outcome(ws, SAMPLE, step) == SAMPLE_EVENTS


def test_sample_stream_cut_in_two_everywhere(ws: SimpleNamespace) -> None:
    for cut in range(len(SAMPLE) + 1):
        parser = ws.FrameParser()
        events = feed(parser, SAMPLE[:cut]) + feed(parser, SAMPLE[cut:])
        assert events == SAMPLE_EVENTS, cut


def test_feed_accepts_bytearray_and_memoryview(ws: SimpleNamespace) -> None:
    parser = ws.FrameParser()
    data = text("abc") + text("def")
    assert feed(parser, bytearray(data[:4])) == []
    assert feed(parser, memoryview(data)[4:]) == [("text", "abc"), ("text", "def")]


def test_control_frames_between_fragments(ws: SimpleNamespace) -> None:
    data = (
        client_frame(BIN, b"a", fin=False)
        + client_frame(PING, b"x" * 125)
        + client_frame(CONT, b"b", fin=False)
        + client_frame(PONG, b"y")
        + client_frame(CONT, b"c")
    )
    assert outcome(ws, data) == [("ping", b"x" * 125), ("pong", b"y"), ("bytes", b"abc")]


def test_close_between_fragments_ends_the_stream(ws: SimpleNamespace) -> None:
    data = client_frame(BIN, b"a", fin=False) + close_frame(1001) + client_frame(CONT, b"b")
    assert outcome(ws, data) == [("close", 1001, "")]


# --- frame rules ------------------------------------------------------------------------------


def test_unmasked_frame_refused(ws: SimpleNamespace) -> None:
    # "The server MUST close the connection upon receiving a frame that is not masked." -- §5.1
    assert outcome(ws, client_frame(BIN, b"abc", mask=None)) == [("error", 1002)]
    assert outcome(ws, client_frame(PING, b"", mask=None)) == [("error", 1002)]


@pytest.mark.parametrize("rsv", [1, 2, 4, 3, 7], ids=lambda r: f"rsv_{r:03b}")
def test_rsv_bits_without_extension_refused(ws: SimpleNamespace, rsv: int) -> None:
    assert outcome(ws, client_frame(BIN, b"abc", rsv=rsv)) == [("error", 1002)]


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_refused(ws: SimpleNamespace, opcode: int) -> None:
    assert outcome(ws, text("ok") + client_frame(opcode, b"")) == [("text", "ok"), ("error", 1002)]


@pytest.mark.parametrize("opcode", [PING, PONG, 0x8])
def test_control_frame_125_accepted_126_refused(ws: SimpleNamespace, opcode: int) -> None:
    payload = struct.pack("!H", 1000) + b"r" * 123 if opcode == 0x8 else b"x" * 125
    assert len(outcome(ws, client_frame(opcode, payload))) == 1
    assert outcome(ws, client_frame(opcode, payload + b"x")) == [("error", 1002)]
    # refused from the header alone, before any payload arrives
    head = client_frame(opcode, b"x" * 126)[:4]
    assert outcome(ws, head) == [("error", 1002)]


@pytest.mark.parametrize("opcode", [PING, PONG, 0x8])
def test_fragmented_control_frame_refused(ws: SimpleNamespace, opcode: int) -> None:
    assert outcome(ws, client_frame(opcode, b"", fin=False)) == [("error", 1002)]


def test_continuation_without_message_refused(ws: SimpleNamespace) -> None:
    assert outcome(ws, client_frame(CONT, b"a")) == [("error", 1002)]
    after = text("done") + client_frame(CONT, b"a")
    assert outcome(ws, after) == [("text", "done"), ("error", 1002)]


@pytest.mark.parametrize("opcode", [0x1, BIN])
def test_new_message_inside_fragmented_one_refused(ws: SimpleNamespace, opcode: int) -> None:
    data = client_frame(BIN, b"a", fin=False) + client_frame(opcode, b"b")
    assert outcome(ws, data) == [("error", 1002)]


def test_after_an_error_feed_returns_nothing(ws: SimpleNamespace) -> None:
    parser = ws.FrameParser()
    events = parser.feed(client_frame(BIN, b"x", mask=None) + text("later"))
    assert len(events) == 1 and isinstance(events[0], WebSocketError)
    assert events[0].code == 1002 and events[0].reason
    assert parser.feed(text("more")) == []


# --- limits -----------------------------------------------------------------------------------


def test_message_size_limit_both_sides(ws: SimpleNamespace) -> None:
    assert outcome(ws, client_frame(BIN, b"x" * 100), max_message_size=100) == [
        ("bytes", b"x" * 100)
    ]
    assert outcome(ws, client_frame(BIN, b"x" * 101), max_message_size=100) == [("error", 1009)]


def test_message_size_limit_checked_on_the_header(ws: SimpleNamespace) -> None:
    # Only the header of a 1 GiB frame: refused at once, nothing buffered or awaited.
    head = bytes((0x82, 0xFF)) + struct.pack("!Q", 1 << 30)
    assert outcome(ws, head) == [("error", 1009)]


def test_message_size_limit_spans_fragments(ws: SimpleNamespace) -> None:
    ok = client_frame(BIN, b"x" * 60, fin=False) + client_frame(CONT, b"y" * 40)
    assert outcome(ws, ok, max_message_size=100) == [("bytes", b"x" * 60 + b"y" * 40)]
    big = client_frame(BIN, b"x" * 60, fin=False) + client_frame(CONT, b"y" * 41)[:2]
    assert outcome(ws, big, max_message_size=100) == [("error", 1009)]


def test_limit_is_per_message(ws: SimpleNamespace) -> None:
    data = client_frame(BIN, b"x" * 100) * 3
    assert outcome(ws, data, max_message_size=100) == [("bytes", b"x" * 100)] * 3


def test_control_frames_do_not_count_against_the_limit(ws: SimpleNamespace) -> None:
    data = (
        client_frame(BIN, b"a", fin=False)
        + client_frame(PING, b"p" * 50)
        + client_frame(CONT, b"b")
    )
    assert outcome(ws, data, max_message_size=2) == [("ping", b"p" * 50), ("bytes", b"ab")]


@pytest.mark.parametrize("bad", [-1, 1.5, "10", None])
def test_bad_max_message_size(ws: SimpleNamespace, bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        ws.FrameParser(max_message_size=bad)


# --- UTF-8 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\xff", id="ff"),
        pytest.param(b"\xc0\xaf", id="overlong_2"),
        pytest.param(b"\xe0\x80\xaf", id="overlong_3"),
        pytest.param(b"\xed\xa0\x80", id="surrogate"),
        pytest.param(b"\xf4\x90\x80\x80", id="above_10ffff"),
        pytest.param(b"\xf5\x80\x80\x80", id="f5"),
        pytest.param(b"\x80", id="lone_continuation"),
        pytest.param(b"a\xce", id="truncated_at_end"),
    ],
)
def test_invalid_utf8_is_1007(ws: SimpleNamespace, bad: bytes) -> None:
    assert outcome(ws, client_frame(0x1, bad)) == [("error", 1007)]


def test_utf8_fails_at_the_first_bad_byte(ws: SimpleNamespace) -> None:
    # A 1000-byte text frame whose 3rd byte is invalid: the error comes with the first 3 bytes
    # of payload, long before the frame (or the message) is complete.
    payload = b"ab\xff" + b"c" * 997
    frame = client_frame(0x1, payload, fin=False)
    header = len(frame) - len(payload)
    parser = ws.FrameParser()
    assert feed(parser, frame[: header + 2]) == []
    assert feed(parser, frame[header + 2 : header + 3]) == [("error", 1007)]


def test_utf8_surrogate_fails_at_its_second_byte(ws: SimpleNamespace) -> None:
    frame = client_frame(0x1, b"\xed\xa0\x80", fin=False)
    parser = ws.FrameParser()
    assert feed(parser, frame[:-2]) == []
    assert feed(parser, frame[-2:-1]) == [("error", 1007)]


def test_utf8_across_fragments(ws: SimpleNamespace) -> None:
    encoded = "κόσμε 𝄞".encode()
    for cut in range(len(encoded) + 1):
        data = client_frame(0x1, encoded[:cut], fin=False) + client_frame(CONT, encoded[cut:])
        assert outcome(ws, data, 1) == [("text", "κόσμε 𝄞")]


def test_utf8_fails_fast_across_fragments(ws: SimpleNamespace) -> None:
    first = client_frame(0x1, b"ok\xce", fin=False)
    bad = client_frame(CONT, b"A" * 50, fin=False)
    parser = ws.FrameParser()
    assert feed(parser, first) == []
    assert feed(parser, bad) == [("error", 1007)]


def test_binary_is_not_validated(ws: SimpleNamespace) -> None:
    assert outcome(ws, client_frame(BIN, b"\xff\xfe")) == [("bytes", b"\xff\xfe")]


# --- close frames -----------------------------------------------------------------------------

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
               3999, 4000, 4999]  # fmt: skip
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def test_close_without_payload_is_1005(ws: SimpleNamespace) -> None:
    assert outcome(ws, close_frame()) == [("close", 1005, "")]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_codes(ws: SimpleNamespace, code: int) -> None:
    assert outcome(ws, close_frame(code, "fin ☃".encode())) == [("close", code, "fin ☃")]


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_codes_are_1002(ws: SimpleNamespace, code: int) -> None:
    assert outcome(ws, close_frame(code)) == [("error", 1002)]


def test_close_with_one_byte_payload_is_1002(ws: SimpleNamespace) -> None:
    assert outcome(ws, client_frame(0x8, b"\x03")) == [("error", 1002)]


def test_close_reason_not_utf8_is_1007(ws: SimpleNamespace) -> None:
    assert outcome(ws, close_frame(1000, b"\xff")) == [("error", 1007)]


def test_nothing_after_close(ws: SimpleNamespace) -> None:
    parser = ws.FrameParser()
    assert feed(parser, close_frame(1000) + b"\x00garbage") == [("close", 1000, "")]
    assert parser.feed(text("x")) == []
    assert parser.feed(b"\xff\xff") == []


# --- FrameWriter ------------------------------------------------------------------------------


def parse_server_frames(data: bytes) -> list[tuple[int, bool, int, bytes]]:
    """(opcode, fin, rsv, payload) of each unmasked server frame, via wsproto's parser."""
    from wsproto.frame_protocol import FrameProtocol

    proto = FrameProtocol(client=True, extensions=[])
    proto.receive_bytes(data)
    frames = []
    for frame in proto.received_frames():
        payload = frame.payload
        if isinstance(payload, str):
            payload = payload.encode()
        elif isinstance(payload, tuple):  # close: (code, reason)
            payload = struct.pack("!H", payload[0]) + payload[1].encode()
        frames.append((int(frame.opcode), frame.message_finished, 0, bytes(payload)))
    return frames


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_writer_binary_lengths(ws: SimpleNamespace, n: int) -> None:
    payload = bytes(i % 256 for i in range(n))
    out = ws.FrameWriter().send({"type": "websocket.send", "bytes": payload})
    assert type(out) is bytes
    assert out[0] == 0x82 and not out[1] & 0x80  # FIN, binary, unmasked
    head = 2 if n < 126 else 4 if n < 65536 else 10
    assert len(out) == head + n and out[head:] == payload
    assert parse_server_frames(out) == [(2, True, 0, payload)]


def test_writer_text(ws: SimpleNamespace) -> None:
    out = ws.FrameWriter().send({"type": "websocket.send", "text": "héllo ☃", "bytes": None})
    assert out == b"\x81\x0a" + "héllo ☃".encode()
    assert parse_server_frames(out) == [(1, True, 0, "héllo ☃".encode())]


def test_writer_accepts_bytes_like(ws: SimpleNamespace) -> None:
    writer = ws.FrameWriter()
    assert writer.send({"bytes": bytearray(b"ab")}) == b"\x82\x02ab"
    assert writer.send({"bytes": memoryview(b"ab")}) == b"\x82\x02ab"


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"type": "websocket.send"}, id="neither"),
        pytest.param({"bytes": None, "text": None}, id="both_none"),
        pytest.param({"bytes": b"a", "text": "a"}, id="both"),
        pytest.param({"text": b"a"}, id="text_bytes"),
        pytest.param({"bytes": "a"}, id="bytes_str"),
        pytest.param({"bytes": 3}, id="bytes_int"),
        pytest.param({"text": "\ud800"}, id="lone_surrogate"),
    ],
)
def test_writer_refuses_bad_messages(ws: SimpleNamespace, message: dict[str, object]) -> None:
    with pytest.raises(WebSocketMessageError):
        ws.FrameWriter().send(message)


def test_writer_message_error_is_a_value_error(ws: SimpleNamespace) -> None:
    with pytest.raises(ValueError):
        ws.FrameWriter().send({})


def test_writer_ping_pong(ws: SimpleNamespace) -> None:
    writer = ws.FrameWriter()
    assert writer.ping() == b"\x89\x00"
    assert writer.ping(b"x" * 125) == b"\x89\x7d" + b"x" * 125
    assert writer.pong(b"abc") == b"\x8a\x03abc"
    assert writer.pong(b"y" * 125)[:2] == b"\x8a\x7d"
    with pytest.raises(WebSocketMessageError):
        writer.ping(b"x" * 126)
    with pytest.raises(WebSocketMessageError):
        writer.pong(b"x" * 126)


def test_writer_close(ws: SimpleNamespace) -> None:
    writer = ws.FrameWriter()
    assert writer.close() == b"\x88\x02\x03\xe8"
    assert writer.close(4000, "bye") == b"\x88\x05\x0f\xa0bye"
    out = writer.close(1001, "é" * 61 + "x")  # 123 bytes exactly
    assert len(out) == 2 + 2 + 123
    assert parse_server_frames(out) == [(8, True, 0, out[2:])]
    with pytest.raises(WebSocketMessageError):
        writer.close(1000, "é" * 62)  # 124 bytes


@pytest.mark.parametrize("code", VALID_CODES)
def test_writer_close_valid_codes(ws: SimpleNamespace, code: int) -> None:
    assert ws.FrameWriter().close(code)[2:4] == struct.pack("!H", code)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_writer_close_invalid_codes(ws: SimpleNamespace, code: int) -> None:
    with pytest.raises(WebSocketMessageError):
        ws.FrameWriter().close(code)


def test_writer_output_parses_back(ws: SimpleNamespace) -> None:
    # Our own frames, masked as a client would, go through our parser unchanged.
    writer = ws.FrameWriter()
    for message in ({"text": "round ☃"}, {"bytes": b"\x00" * 70000}):
        out = writer.send(message)
        head = 2 if len(out) < 128 else 4 if len(out) < 65540 else 10
        masked = bytes((out[0], out[1] | 0x80)) + out[2:head] + MASK + xor(out[head:], MASK)
        events = feed(ws.FrameParser(), masked)
        expected = ("text", message["text"]) if "text" in message else ("bytes", message["bytes"])
        assert events == [expected]


def test_frames_from_wsproto_client(ws: SimpleNamespace) -> None:
    from wsproto.frame_protocol import CloseReason, FrameProtocol

    client = FrameProtocol(client=True, extensions=[])
    data = (
        client.send_data("hello ☃", fin=True)
        + client.send_data(b"\x01" * 70000, fin=False)
        + client.ping(b"pp")
        + client.send_data(b"\x02", fin=True)
        + client.close(CloseReason.GOING_AWAY, "later")
    )
    assert outcome(ws, data, 7) == [
        ("text", "hello ☃"),
        ("ping", b"pp"),
        ("bytes", b"\x01" * 70000 + b"\x02"),
        ("close", 1001, "later"),
    ]


def test_each_twin_satisfies_the_frame_protocols(ws: SimpleNamespace) -> None:
    from sailfish import _types

    assert isinstance(ws.FrameParser(), _types.FrameParserLike)
    assert isinstance(ws.FrameWriter(), _types.FrameWriterLike)
    assert not isinstance(ws.FrameParser(), _types.FrameWriterLike)
