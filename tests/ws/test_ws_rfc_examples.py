"""The worked examples of RFC 6455 §5.7 and RFC 7692 §7.2.3, byte for byte, both twins."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from wsutil import MASK, feed, xor

HELLO = b"Hello"


def masked(frame: bytes) -> bytes:
    """A server (unmasked) frame of at most 125 payload bytes, as a client would mask it."""
    n = frame[1] & 0x7F
    assert n < 126
    return bytes((frame[0], frame[1] | 0x80)) + MASK + xor(frame[2:], MASK)


def deflate(ws: SimpleNamespace) -> object:
    result = ws.negotiate_deflate(b"permessage-deflate")
    assert result is not None
    return result[1]


# RFC 6455 §5.7


def test_single_frame_masked_text(ws: SimpleNamespace) -> None:
    # "A single-frame masked text message: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58
    # (contains "Hello")"
    data = bytes.fromhex("818537fa213d7f9f4d5158")
    assert feed(ws.FrameParser(), data) == [("text", "Hello")]


def test_unmasked_examples_are_what_the_writer_sends(ws: SimpleNamespace) -> None:
    writer = ws.FrameWriter()
    # "A single-frame unmasked text message: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f"
    assert writer.send({"text": "Hello"}) == bytes.fromhex("810548656c6c6f")
    # "Unmasked Ping request and masked Ping response": 0x89 0x05 0x48 0x65 0x6c 0x6c 0x6f
    assert writer.ping(HELLO) == bytes.fromhex("890548656c6c6f")
    assert writer.pong(HELLO) == bytes.fromhex("8a0548656c6c6f")
    # "256 bytes binary message in a single unmasked frame: 0x82 0x7E 0x0100 [256 bytes]"
    assert writer.send({"bytes": b"\x00" * 256})[:4] == bytes.fromhex("827e0100")
    # "64KiB binary message in a single unmasked frame: 0x82 0x7F 0x0000000000010000 [65536]"
    assert writer.send({"bytes": b"\x00" * 65536})[:10] == bytes.fromhex("827f0000000000010000")


def test_fragmented_text_and_masked_pong(ws: SimpleNamespace) -> None:
    # "A fragmented unmasked text message: 0x01 0x03 0x48 0x65 0x6c (contains "Hel")
    # 0x80 0x02 0x6c 0x6f (contains "lo")", masked here as a client must send it; and the
    # masked Pong response 0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58.
    data = (
        masked(bytes.fromhex("010348656c"))
        + bytes.fromhex("8a8537fa213d7f9f4d5158")
        + masked(bytes.fromhex("80026c6f"))
    )
    for step in (1, 4, None):
        assert feed(ws.FrameParser(), data, step) == [("pong", HELLO), ("text", "Hello")]


# RFC 7692 §7.2.3: permessage-deflate payloads (given unmasked, from the server; masked here).


@pytest.mark.parametrize(
    "frames",
    [
        # §7.2.3.1 "A Message Compressed Using 1 Compressed DEFLATE Block"
        pytest.param(["c107f248cdc9c90700"], id="one_block"),
        pytest.param(["4103f248cd", "8004c9c90700"], id="one_block_fragmented"),
        # §7.2.3.3 "Using a DEFLATE Block with No Compression"
        pytest.param(["c10b000500faff48656c6c6f00"], id="stored_block"),
        # §7.2.3.4 "Using a DEFLATE Block with BFINAL Set to 1"
        pytest.param(["c108f348cdc9c9070000"], id="bfinal"),
        # §7.2.3.5 "Two DEFLATE Blocks in One Message"
        pytest.param(["c10df24805000000ffffcac9c90700"], id="two_blocks"),
    ],
)
def test_rfc7692_examples(ws: SimpleNamespace, frames: list[str]) -> None:
    data = b"".join(masked(bytes.fromhex(f)) for f in frames)
    for step in (1, 3, None):
        assert feed(ws.FrameParser(deflate=deflate(ws)), data, step) == [("text", "Hello")]


def test_rfc7692_sharing_the_window(ws: SimpleNamespace) -> None:
    # §7.2.3.2 "Sharing LZ77 Sliding Window": the second "Hello" refers back into the first.
    data = masked(bytes.fromhex("c107f248cdc9c90700")) + masked(bytes.fromhex("c105f200110000"))
    for step in (1, None):
        parser = ws.FrameParser(deflate=deflate(ws))
        assert feed(parser, data, step) == [("text", "Hello"), ("text", "Hello")]


def test_rfc7692_window_is_forgotten_without_context_takeover(ws: SimpleNamespace) -> None:
    # With client_no_context_takeover agreed the inflater starts afresh for each message, so the
    # second frame of §7.2.3.2 (a back-reference into the first message) cannot be inflated.
    result = ws.negotiate_deflate(b"permessage-deflate; client_no_context_takeover")
    assert result is not None
    data = masked(bytes.fromhex("c107f248cdc9c90700")) + masked(bytes.fromhex("c105f200110000"))
    assert feed(ws.FrameParser(deflate=result[1]), data) == [("text", "Hello"), ("error", 1002)]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # A final stored block whose LEN/NLEN are our own tail: the stream ends inside it.
        pytest.param("01", [("bytes", b"")], id="final_block_ends_in_the_tail"),
        pytest.param("f348cdc9c90700", [("bytes", HELLO)], id="final_block_no_padding"),
        pytest.param("f348cdc9c9070000", [("bytes", HELLO)], id="final_block_rfc_padding"),
        pytest.param("f348cdc9c907000000", [("error", 1002)], id="two_bytes_after_final"),
        pytest.param("f348cdc9c9070001", [("error", 1002)], id="other_byte_after_final"),
    ],
)
def test_bytes_after_a_final_block(
    ws: SimpleNamespace, payload: str, expected: list[tuple[object, ...]]
) -> None:
    raw = bytes.fromhex(payload)
    frame = masked(bytes((0xC2, len(raw))) + raw)
    for step in (1, None):
        assert feed(ws.FrameParser(deflate=deflate(ws)), frame, step) == expected
    # split across two fragments, the second one empty or not
    fragments = masked(bytes((0x42, len(raw))) + raw) + masked(b"\x80\x00")
    assert feed(ws.FrameParser(deflate=deflate(ws)), fragments) == expected
