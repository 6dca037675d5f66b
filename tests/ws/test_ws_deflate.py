"""permessage-deflate (RFC 7692): negotiation (§7.1), compression, inflation bounds, both twins."""

from __future__ import annotations

import zlib
from types import SimpleNamespace
from typing import Any

import pytest

from wsutil import client_frame, feed, outcome

BIN = 0x2
CONT = 0x0
PING = 0x9


def negotiate(ws: SimpleNamespace, offers: bytes, **kw: object) -> bytes | None:
    result = ws.negotiate_deflate(offers, **kw)
    if result is None:
        return None
    response, deflate = result
    assert type(deflate).__name__ == "Deflate"
    return bytes(response)


# --- negotiation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offers", "response"),
    [
        pytest.param(b"permessage-deflate", b"permessage-deflate", id="plain"),
        pytest.param(
            b"permessage-deflate; client_max_window_bits",
            b"permessage-deflate",
            id="client_max_window_bits_no_value",
        ),
        pytest.param(
            b"permessage-deflate; client_max_window_bits=10",
            b"permessage-deflate; client_max_window_bits=10",
            id="client_max_window_bits_10",
        ),
        pytest.param(
            b"permessage-deflate; server_max_window_bits=10",
            b"permessage-deflate; server_max_window_bits=10",
            id="server_max_window_bits_10",
        ),
        pytest.param(
            b"permessage-deflate; server_no_context_takeover",
            b"permessage-deflate; server_no_context_takeover",
            id="server_no_context_takeover",
        ),
        pytest.param(
            b"permessage-deflate; client_no_context_takeover",
            b"permessage-deflate; client_no_context_takeover",
            id="client_no_context_takeover",
        ),
        pytest.param(
            b'permessage-deflate; server_max_window_bits="12"',
            b"permessage-deflate; server_max_window_bits=12",
            id="quoted_value",
        ),
        pytest.param(
            b'permessage-deflate; client_max_window_bits="1\\1"',
            b"permessage-deflate; client_max_window_bits=11",
            id="quoted_value_with_escape",
        ),
        pytest.param(
            b"permessage-deflate ;  server_no_context_takeover ;client_no_context_takeover ;"
            b" server_max_window_bits = 9; client_max_window_bits = 8",
            b"permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            b" server_max_window_bits=9; client_max_window_bits=8",
            id="everything_with_whitespace",
        ),
        # RFC 7692 §7.1: the server picks the first offer it accepts.
        pytest.param(
            b"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8,"
            b" permessage-deflate; client_max_window_bits",
            b"permessage-deflate",
            id="first_acceptable_after_declined",
        ),
        pytest.param(
            b'foo; bar="a,b", permessage-deflate',
            b"permessage-deflate",
            id="comma_inside_quotes_of_another_extension",
        ),
        pytest.param(b", ,permessage-deflate,", b"permessage-deflate", id="empty_elements"),
    ],
)
def test_accepted_offers(ws: SimpleNamespace, offers: bytes, response: bytes) -> None:
    assert negotiate(ws, offers) == response


@pytest.mark.parametrize(
    "offers",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"x-webkit-deflate-frame", id="other_extension"),
        pytest.param(b"permessage-deflate; foo", id="unknown_param"),
        pytest.param(b"permessage-deflate; foo=1", id="unknown_param_value"),
        pytest.param(
            b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            id="duplicate_param",
        ),
        pytest.param(
            b"permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            id="duplicate_window_param",
        ),
        pytest.param(b"permessage-deflate; server_no_context_takeover=1", id="value_on_flag"),
        pytest.param(b'permessage-deflate; client_no_context_takeover=""', id="empty_quoted"),
        pytest.param(b"permessage-deflate; server_max_window_bits", id="server_bits_no_value"),
        pytest.param(b"permessage-deflate; server_max_window_bits=7", id="server_bits_7"),
        pytest.param(b"permessage-deflate; server_max_window_bits=16", id="server_bits_16"),
        pytest.param(b"permessage-deflate; server_max_window_bits=010", id="leading_zero"),
        pytest.param(b"permessage-deflate; server_max_window_bits=8", id="server_bits_8_zlib"),
        pytest.param(b"permessage-deflate; client_max_window_bits=7", id="client_bits_7"),
        pytest.param(b"permessage-deflate; client_max_window_bits=16", id="client_bits_16"),
        pytest.param(b"permessage-deflate; client_max_window_bits=x", id="client_bits_x"),
        pytest.param(b'permessage-deflate; client_max_window_bits="1 0"', id="quoted_not_token"),
        pytest.param(b"permessage-deflate; ", id="trailing_semicolon"),
        pytest.param(b'permessage-deflate; server_max_window_bits="10', id="open_quote"),
        pytest.param(b"permessage-deflate x", id="garbage_after_name"),
        pytest.param(b"PerMessage-Deflate", id="other_case"),
    ],
)
def test_declined_offers(ws: SimpleNamespace, offers: bytes) -> None:
    assert negotiate(ws, offers) is None


def test_disabled(ws: SimpleNamespace) -> None:
    assert negotiate(ws, b"permessage-deflate", enabled=False) is None


def test_server_settings_shape_the_response(ws: SimpleNamespace) -> None:
    kw = {"server_max_window_bits": 12, "server_no_context_takeover": True}
    assert negotiate(ws, b"permessage-deflate", **kw) == (
        b"permessage-deflate; server_no_context_takeover; server_max_window_bits=12"
    )
    # the smaller of the offer and our setting
    assert negotiate(ws, b"permessage-deflate; server_max_window_bits=10", **kw) == (
        b"permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    )
    # client_max_window_bits only when offered (RFC 7692 §7.1.2.2)
    assert negotiate(ws, b"permessage-deflate", client_max_window_bits=10) == (
        b"permessage-deflate"
    )
    assert negotiate(
        ws, b"permessage-deflate; client_max_window_bits", client_max_window_bits=10
    ) == (b"permessage-deflate; client_max_window_bits=10")
    assert negotiate(
        ws, b"permessage-deflate; client_max_window_bits=9", client_max_window_bits=10
    ) == (b"permessage-deflate; client_max_window_bits=9")
    assert negotiate(ws, b"permessage-deflate", client_no_context_takeover=True) == (
        b"permessage-deflate; client_no_context_takeover"
    )


@pytest.mark.parametrize("bits", [8, 16, "12"])
def test_bad_server_settings(ws: SimpleNamespace, bits: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        ws.negotiate_deflate(b"permessage-deflate", server_max_window_bits=bits)


# --- messages -----------------------------------------------------------------------------------


def client_compress(data: bytes, compressor: zlib._Compress | None = None) -> bytes:
    c = compressor or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def deflate_for(ws: SimpleNamespace, offers: bytes = b"permessage-deflate", **kw: object) -> object:
    result = ws.negotiate_deflate(offers, **kw)
    assert result is not None
    return result[1]


def test_compressed_text_and_binary(ws: SimpleNamespace) -> None:
    deflate = deflate_for(ws)
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    text = "compress me " * 50
    data = client_frame(0x1, client_compress(text.encode(), comp), rsv=4) + client_frame(
        BIN, client_compress(b"\x00" * 1000, comp), rsv=4
    )
    # uncompressed messages (RSV1 clear) may be interleaved
    data += client_frame(BIN, b"plain")
    for step in (None, 1, 5):
        deflate = deflate_for(ws)
        assert outcome(ws, data, step, deflate=deflate) == [
            ("text", text),
            ("bytes", b"\x00" * 1000),
            ("bytes", b"plain"),
        ]


def test_compressed_fragments_with_ping_between(ws: SimpleNamespace) -> None:
    payload = client_compress(b"abc" * 1000)
    half = len(payload) // 2
    data = (
        client_frame(BIN, payload[:half], fin=False, rsv=4)
        + client_frame(PING, b"p")
        + client_frame(CONT, payload[half:])
    )
    assert outcome(ws, data, deflate=deflate_for(ws)) == [("ping", b"p"), ("bytes", b"abc" * 1000)]


def test_context_takeover_across_messages(ws: SimpleNamespace) -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = client_compress(b"the same words " * 20, comp)
    second = client_compress(b"the same words " * 20, comp)
    assert len(second) < len(first)  # refers back into the first message
    data = client_frame(BIN, first, rsv=4) + client_frame(BIN, second, rsv=4)
    assert outcome(ws, data, deflate=deflate_for(ws)) == [("bytes", b"the same words " * 20)] * 2


def test_rsv1_on_continuation_or_control_refused(ws: SimpleNamespace) -> None:
    deflate = deflate_for(ws)
    data = client_frame(BIN, client_compress(b"a"), fin=False, rsv=4) + client_frame(
        CONT, b"", rsv=4
    )
    assert outcome(ws, data, deflate=deflate) == [("error", 1002)]
    assert outcome(ws, client_frame(PING, b"", rsv=4), deflate=deflate_for(ws)) == [("error", 1002)]


def test_rsv2_refused_even_with_deflate(ws: SimpleNamespace) -> None:
    assert outcome(ws, client_frame(BIN, b"", rsv=2), deflate=deflate_for(ws)) == [("error", 1002)]


def test_invalid_compressed_data_is_1002(ws: SimpleNamespace) -> None:
    data = client_frame(BIN, b"\xff\xff\xff\xff", rsv=4)
    assert outcome(ws, data, deflate=deflate_for(ws)) == [("error", 1002)]


def test_compressed_invalid_utf8_is_1007(ws: SimpleNamespace) -> None:
    data = client_frame(0x1, client_compress(b"ok \xff"), rsv=4)
    assert outcome(ws, data, deflate=deflate_for(ws)) == [("error", 1007)]


def test_zip_bomb_stops_at_the_limit(ws: SimpleNamespace) -> None:
    limit = 100_000
    bomb = client_compress(b"\x00" * (limit + 1))
    assert len(bomb) < 200
    data = client_frame(BIN, bomb, rsv=4)
    assert outcome(ws, data, deflate=deflate_for(ws), max_message_size=limit) == [("error", 1009)]
    exact = client_frame(BIN, client_compress(b"\x00" * limit), rsv=4)
    assert outcome(ws, exact, deflate=deflate_for(ws), max_message_size=limit) == [
        ("bytes", b"\x00" * limit)
    ]


def test_zip_bomb_across_fragments(ws: SimpleNamespace) -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    a = comp.compress(b"\x00" * 60) + comp.flush(zlib.Z_SYNC_FLUSH)
    b = client_compress(b"\x00" * 41, comp)
    data = client_frame(BIN, a, fin=False, rsv=4) + client_frame(CONT, b)
    assert outcome(ws, data, deflate=deflate_for(ws), max_message_size=100) == [("error", 1009)]
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    a = comp.compress(b"\x00" * 60) + comp.flush(zlib.Z_SYNC_FLUSH)
    b = client_compress(b"\x00" * 40, comp)
    data = client_frame(BIN, a, fin=False, rsv=4) + client_frame(CONT, b)
    assert outcome(ws, data, deflate=deflate_for(ws), max_message_size=100) == [
        ("bytes", b"\x00" * 100)
    ]


def test_message_with_final_block(ws: SimpleNamespace) -> None:
    # A sender may end a message with BFINAL set (RFC 7692 §7.2.3.3); the next message starts a
    # new stream.
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    final = c.compress(b"first") + c.flush(zlib.Z_FINISH)
    data = client_frame(BIN, final, rsv=4) + client_frame(BIN, client_compress(b"second"), rsv=4)
    assert outcome(ws, data, deflate=deflate_for(ws)) == [("bytes", b"first"), ("bytes", b"second")]


# --- the writer ---------------------------------------------------------------------------------


def server_frames_payloads(ws: SimpleNamespace, frames: list[bytes], bits: int = 15) -> list[bytes]:
    """Inflate our server frames as a client would (one stream, context kept)."""
    d = zlib.decompressobj(-bits)
    out = []
    for frame in frames:
        assert frame[0] & 0x40, "RSV1 expected"
        head = 2 if frame[1] < 126 else 4 if frame[1] == 126 else 10
        out.append(d.decompress(frame[head:] + b"\x00\x00\xff\xff"))
    return out


def test_writer_compresses_and_keeps_context(ws: SimpleNamespace) -> None:
    deflate = deflate_for(ws)
    writer = ws.FrameWriter(deflate=deflate)
    messages = [b"hello hello hello " * 20, b"hello hello hello " * 20, bytes(range(256)) * 10]
    frames = [writer.send({"bytes": m}) for m in messages]
    assert server_frames_payloads(ws, frames) == messages
    assert len(frames[1]) < len(frames[0])


def test_writer_no_context_takeover(ws: SimpleNamespace) -> None:
    deflate = deflate_for(ws, b"permessage-deflate; server_no_context_takeover")
    writer = ws.FrameWriter(deflate=deflate)
    frames = [writer.send({"text": "same text " * 20}) for _ in range(3)]
    assert len(set(frames)) == 1  # each message compressed from a fresh window
    for frame in frames:
        # each one inflates alone
        assert server_frames_payloads(ws, [frame]) == [("same text " * 20).encode()]


def test_writer_small_window(ws: SimpleNamespace) -> None:
    deflate = deflate_for(ws, b"permessage-deflate; server_max_window_bits=9")
    writer = ws.FrameWriter(deflate=deflate)
    message = bytes(range(256)) * 40
    frames = [writer.send({"bytes": message}) for _ in range(2)]
    assert server_frames_payloads(ws, frames, bits=9) == [message, message]


def test_writer_leaves_small_messages_uncompressed(ws: SimpleNamespace) -> None:
    writer = ws.FrameWriter(deflate=deflate_for(ws))
    assert writer.send({"text": "hi"}) == b"\x81\x02hi"


def test_writer_then_parser_round_trip(ws: SimpleNamespace) -> None:
    # Our compressed frames, masked as a client would send them, inflate in our parser.
    from wsutil import MASK, xor

    writer = ws.FrameWriter(deflate=deflate_for(ws))
    parser = ws.FrameParser(deflate=deflate_for(ws))
    for message in ("a" * 1000, "é" * 500, "a" * 1000):
        out = writer.send({"text": message})
        head = 2 if out[1] < 126 else 4
        masked = bytes((out[0], out[1] | 0x80)) + out[2:head] + MASK + xor(out[head:], MASK)
        assert feed(parser, masked) == [("text", message)]


def test_websockets_client_compression_round_trip(ws: SimpleNamespace) -> None:
    # The websockets library's client-side extension compresses; we inflate. And back.
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode

    factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    offer = factory.get_request_params()
    offers = b"permessage-deflate" + b"".join(
        b"; " + k.encode() + (b"" if v is None else b"=" + v.encode()) for k, v in offer
    )
    result = ws.negotiate_deflate(offers)
    assert result is not None
    response, deflate = result
    params = [
        (p.split(b"=")[0].decode(), p.split(b"=")[1].decode() if b"=" in p else None)
        for p in response.split(b"; ")[1:]
    ]
    extension = factory.process_response_params(params, [])
    parser = ws.FrameParser(deflate=deflate)
    writer = ws.FrameWriter(deflate=deflate)
    messages = [("text", "ünïcode " * 100), ("bytes", bytes(range(256)) * 64), ("text", "x" * 70)]
    for kind, value in messages:
        opcode = Opcode.TEXT if kind == "text" else Opcode.BINARY
        raw = value.encode() if kind == "text" else value
        out = Frame(opcode, raw).serialize(mask=True, extensions=[extension])
        assert out[0] & 0x40  # compressed by websockets
        assert feed(parser, out, 3) == [(kind, value)]
        sent = writer.send({kind: value})
        assert parse_unmasked(sent, extension).data == raw


def parse_unmasked(data: bytes, extension: Any) -> Any:
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(data)
    gen = Frame.parse(reader.read_exact, mask=False, extensions=[extension])
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("incomplete frame")
