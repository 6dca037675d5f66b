"""The two twins of the frame parser agree, and neither depends on how the stream is split.

Strategy: Hypothesis builds sequences of client frames, mostly well-formed (so that long runs of
messages, fragments and control frames happen) with some rule broken now and then (opcode, RSV,
mask, length form, fragmentation, UTF-8, close payload, compression). Each stream is fed whole
to the pure twin, then cut at random offsets into both twins; the normalised events (wsutil
`normalise`: errors by close code only) must be equal everywhere.
"""

from __future__ import annotations

import zlib
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from twins import load_twin
from wsutil import client_frame, feed


def twins() -> list[SimpleNamespace]:
    out = [load_twin("py")]
    try:
        out.append(load_twin("c"))
    except pytest.skip.Exception:
        pass
    return out


TEXTS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(
    lambda s: s.encode()
)
BAD_UTF8 = st.sampled_from(
    [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xce", b"\xe2\x82"]
)


@st.composite
def frame(draw: st.DrawFn, deflate: bool) -> bytes:
    kind = draw(
        st.sampled_from(
            ["text", "binary", "fragmented", "ping", "pong", "close", "broken", "compressed"]
        )
    )
    if kind == "text":
        payload = draw(
            st.one_of(TEXTS, TEXTS.map(lambda b: b + b"\xff")) if draw(st.booleans()) else TEXTS
        )
        return client_frame(0x1, payload)
    if kind == "binary":
        return client_frame(0x2, draw(st.binary(max_size=300)))
    if kind == "fragmented":
        opcode = draw(st.sampled_from([0x1, 0x2]))
        whole = draw(TEXTS) if opcode == 0x1 else draw(st.binary(max_size=100))
        cuts = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=3)))
        pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
        out = b""
        for i, piece in enumerate(pieces):
            out += client_frame(opcode if i == 0 else 0x0, piece, fin=i == len(pieces) - 1)
            if draw(st.booleans()):
                out += client_frame(0x9, draw(st.binary(max_size=10)))
        return out
    if kind in ("ping", "pong"):
        return client_frame(0x9 if kind == "ping" else 0xA, draw(st.binary(max_size=126)))
    if kind == "close":
        payload = draw(
            st.one_of(
                st.just(b""),
                st.binary(min_size=1, max_size=1),
                st.tuples(
                    st.sampled_from([1000, 1001, 1004, 1005, 1011, 1014, 1015, 2999, 3000, 4999]),
                    st.one_of(TEXTS, BAD_UTF8),
                ).map(lambda t: t[0].to_bytes(2, "big") + t[1][:100]),
            )
        )
        return client_frame(0x8, payload)
    if kind == "compressed":
        if not deflate:
            return client_frame(0x2, b"plain")
        data = draw(st.one_of(TEXTS, st.binary(max_size=200)))
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        if draw(st.integers(0, 9)) == 0:
            payload = payload[:1] + b"\xff" + payload[1:]
        return client_frame(0x1 if draw(st.booleans()) else 0x2, payload, rsv=4)
    # broken: one rule off
    return draw(
        st.one_of(
            st.builds(lambda op: client_frame(op, b"x"), st.sampled_from([3, 7, 0xB, 0xF])),
            st.builds(lambda r: client_frame(0x2, b"x", rsv=r), st.sampled_from([1, 2, 3, 6])),
            st.just(client_frame(0x2, b"abc", mask=None)),
            st.just(client_frame(0x2, b"abc", form=16)),
            st.just(client_frame(0x0, b"cont")),
            st.just(client_frame(0x9, b"", fin=False)),
            st.just(client_frame(0x2, b"", length=(1 << 63) + 2, form=64)),
            st.just(client_frame(0x2, b"a", fin=False) + client_frame(0x1, b"b")),
            st.builds(lambda b: client_frame(0x1, b), BAD_UTF8),
        )
    )


@st.composite
def stream(draw: st.DrawFn) -> tuple[bytes, bool, int, list[int]]:
    deflate = draw(st.booleans())
    data = b"".join(draw(st.lists(frame(deflate), min_size=1, max_size=8)))
    limit = draw(st.sampled_from([16 * 1024 * 1024, 200, 50]))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return data, deflate, limit, cuts


def run(twin: SimpleNamespace, data: bytes, deflate: bool, limit: int, cuts: list[int]) -> Any:
    kw: dict[str, Any] = {"max_message_size": limit}
    if deflate:
        kw["deflate"] = twin.negotiate_deflate(b"permessage-deflate")[1]
    parser = twin.FrameParser(**kw)
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        events += feed(parser, data[a:b])
    return events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream())
def test_twins_agree_at_every_split(case: tuple[bytes, bool, int, list[int]]) -> None:
    data, deflate, limit, cuts = case
    all_twins = twins()
    expected = run(all_twins[0], data, deflate, limit, [])
    for twin in all_twins:
        assert run(twin, data, deflate, limit, cuts) == expected, twin.name
        assert run(twin, data, deflate, limit, list(range(1, len(data)))) == expected, twin.name


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 8))
def test_twins_agree_on_noise(data: bytes, step: int) -> None:
    all_twins = twins()
    expected = run(all_twins[0], data, False, 100, [])
    for twin in all_twins:
        cuts = list(range(step, len(data), step))
        assert run(twin, data, False, 100, cuts) == expected, twin.name


@st.composite
def websockets_stream(draw: st.DrawFn) -> tuple[bytes, list[tuple[Any, ...]], bool, list[int]]:
    """Messages framed (masked, fragmented, maybe compressed) by the websockets library's own
    client-side code, and the events they must give."""
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import Frame, Opcode

    compress = draw(st.booleans())
    # Client side: remote = server, local = client; no context takeover for our (client) side.
    extensions = [PerMessageDeflate(False, False, 15, 15)] if compress else []
    data = b""
    expected: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 5))):
        is_text = draw(st.booleans())
        if is_text:
            value: Any = draw(st.text(max_size=300))
            raw = value.encode()
        else:
            value = draw(st.binary(max_size=300))
            raw = value
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for i, piece in enumerate(pieces):
            opcode = (Opcode.TEXT if is_text else Opcode.BINARY) if i == 0 else Opcode.CONT
            last = i == len(pieces) - 1
            data += Frame(opcode, piece, fin=last).serialize(mask=True, extensions=extensions)
            if last:
                expected.append(("text" if is_text else "bytes", value))
            if draw(st.integers(0, 4)) == 0:
                ping = draw(st.binary(max_size=20))
                data += Frame(Opcode.PING, ping).serialize(mask=True, extensions=extensions)
                expected.append(("ping", ping))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return data, expected, compress, cuts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(websockets_stream())
def test_frames_from_the_websockets_client(
    case: tuple[bytes, list[tuple[Any, ...]], bool, list[int]],
) -> None:
    data, expected, compress, cuts = case
    for twin in twins():
        assert run(twin, data, compress, 16 * 1024 * 1024, cuts) == expected, twin.name
