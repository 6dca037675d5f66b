"""The twins agree on the parts Hypothesis reaches least: every short UTF-8 prefix, unmasking at
every offset, extension offers and handshakes; and `sailfish.ws` picks its twin like
`sailfish.http`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import sailfish.ws
from twins import load_twin
from wsutil import MASK, client_frame, feed, xor

SRC = str(Path(sailfish.ws.__file__).parents[2])


def both() -> list[SimpleNamespace]:
    out = [load_twin("py")]
    try:
        out.append(load_twin("c"))
    except pytest.skip.Exception:
        pass
    return out


def fail_index(ws: SimpleNamespace, data: bytes) -> int | None:
    """Fed one byte at a time as a text fragment: the index of the byte that fails, or None."""
    frame = client_frame(0x1, data, fin=False)
    parser = ws.FrameParser()
    head = len(frame) - len(data)
    assert parser.feed(frame[:head]) == []
    for i in range(len(data)):
        if parser.feed(frame[head + i : head + i + 1]):
            return i
    return None


# RFC 3629 §4: UTF8-char and every proper prefix of one, as regexes over bytes.
_T = rb"[\x80-\xbf]"
_CHAR = (
    rb"(?:[\x00-\x7f]|[\xc2-\xdf]"
    + _T
    + rb"|\xe0[\xa0-\xbf]"
    + _T
    + rb"|[\xe1-\xec\xee\xef]"
    + _T
    + _T
    + rb"|\xed[\x80-\x9f]"
    + _T
    + rb"|\xf0[\x90-\xbf]"
    + _T
    + _T
    + rb"|[\xf1-\xf3]"
    + _T
    + _T
    + _T
    + rb"|\xf4[\x80-\x8f]"
    + _T
    + _T
    + rb")"
)
_PARTIAL = (
    rb"(?:[\xc2-\xdf]|\xe0(?:[\xa0-\xbf])?|[\xe1-\xec\xee\xef](?:"
    + _T
    + rb")?"
    + rb"|\xed(?:[\x80-\x9f])?|\xf0(?:[\x90-\xbf](?:"
    + _T
    + rb")?)?"
    + rb"|[\xf1-\xf3](?:"
    + _T
    + _T
    + rb"?)?|\xf4(?:[\x80-\x8f](?:"
    + _T
    + rb")?)?)"
)
_VIABLE = re.compile(_CHAR + rb"*" + _PARTIAL + rb"?", re.DOTALL)


def reference_fail_index(data: bytes) -> int | None:
    """The first byte after which data[:i+1] starts no valid UTF-8 (RFC 3629 §4 ABNF)."""
    for i in range(len(data)):
        if _VIABLE.fullmatch(data[: i + 1]) is None:
            return i
    return None


def test_utf8_two_byte_prefixes(ws: SimpleNamespace) -> None:
    # Every lead byte with every third second byte, against the ABNF: fail at the same byte.
    for first in range(0x80, 0x100):
        for second in range(0, 256, 3):
            data = bytes((first, second))
            assert fail_index(ws, data) == reference_fail_index(data), data


@pytest.mark.parametrize(
    "data",
    [
        b"\xe0\xa0\x80",
        b"\xe0\x9f\x80",
        b"\xed\x9f\xbf",
        b"\xed\xa0\x80",
        b"\xef\xbf\xbf",
        b"\xf0\x90\x80\x80",
        b"\xf0\x8f\xbf\xbf",
        b"\xf4\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xf3\xbf\xbf\xbf",
        b"\xc2\x80",
        b"\xc1\xbf",
        b"\xe1\x80\x41",
        b"\xf1\x80\x80\x41",
    ],
)
def test_utf8_boundaries(ws: SimpleNamespace, data: bytes) -> None:
    assert fail_index(ws, data) == reference_fail_index(data)


UTF8_BYTES = st.lists(
    st.one_of(
        st.text(max_size=3).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"\x80", b"\xbf", b"\xc0", b"\xe0", b"\xed", b"\xf0", b"\xf4", b"\xff"]),
    ),
    max_size=6,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(UTF8_BYTES)
def test_utf8_fails_where_the_abnf_says(data: bytes) -> None:
    expected = reference_fail_index(data)
    for ws in both():
        assert fail_index(ws, data) == expected, ws.name


_VALID = re.compile(_CHAR + rb"*", re.DOTALL)


@settings(max_examples=300, deadline=None)
@given(UTF8_BYTES, st.integers(min_value=0, max_value=18))
def test_whole_text_frames_accepted_where_the_abnf_says(data: bytes, cut: int) -> None:
    # A whole frame in one feed() takes the compiled twin's one-pass path (CPython's decoder
    # is the validator there); fragments take the incremental check. Both follow the ABNF.
    cut = min(cut, len(data))
    valid = _VALID.fullmatch(data) is not None
    want = [("text", data.decode())] if valid else [("error", 1007)]
    whole = client_frame(0x1, data)
    split = client_frame(0x1, data[:cut], fin=False) + client_frame(0x0, data[cut:])
    for ws in both():
        assert feed(ws.FrameParser(), whole) == want, ws.name
        assert feed(ws.FrameParser(), split) == want, ws.name


@pytest.mark.parametrize("n", [*range(0, 40), 63, 64, 65, 127, 128, 129, 1000])
def test_unmask_every_length_and_split(n: int) -> None:
    payload = bytes((i * 7 + 3) % 256 for i in range(n))
    frame = client_frame(0x2, payload)
    for ws in both():
        for step in (1, 3, 5, 16, 33):
            assert feed(ws.FrameParser(), frame, step) == [("bytes", payload)], (ws.name, step)


def test_unmask_with_a_real_key_pattern(ws: SimpleNamespace) -> None:
    payload = b"\x00" * 100
    frame = client_frame(0x2, payload, mask=b"\x01\x02\x03\x04")
    assert xor(payload, MASK) != payload
    assert feed(ws.FrameParser(), frame, 7) == [("bytes", payload)]


OFFER_ALPHABET = st.sampled_from(
    [
        "permessage-deflate",
        "x-webkit-deflate-frame",
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "=",
        ";",
        ",",
        " ",
        "\t",
        '"',
        "\\",
        "8",
        "9",
        "10",
        "15",
        "16",
        "08",
        "x",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(OFFER_ALPHABET, max_size=14).map("".join), st.booleans())
def test_negotiation_twins_agree(offers: str, flags: bool) -> None:
    kw: dict[str, Any] = {}
    if flags:
        kw = {"server_max_window_bits": 12, "client_max_window_bits": 10}
    results = []
    for ws in both():
        result = ws.negotiate_deflate(offers.encode(), **kw)
        if result is not None:
            deflate = result[1]
            result = (
                result[0],
                deflate.server_no_context_takeover,
                deflate.client_no_context_takeover,
                deflate.server_max_window_bits,
                deflate.client_max_window_bits,
            )
        results.append(result)
    assert all(r == results[0] for r in results), results


FIELD = st.sampled_from(
    [
        (b"Upgrade", b"websocket"),
        (b"Upgrade", b"WebSocket, h2c"),
        (b"Upgrade", b"h2c"),
        (b"Connection", b"Upgrade"),
        (b"Connection", b"keep-alive,upgrade"),
        (b"Connection", b"close"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZ==="),
        (b"Sec-WebSocket-Key", b"AAAAAAAAAAAAAAAAAAAAAB=="),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Version", b"8"),
        (b"Sec-WebSocket-Protocol", b"a, b ,,c"),
        (b"Sec-WebSocket-Extensions", b"permessage-deflate"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FIELD, max_size=8), st.sampled_from([b"GET", b"POST"]), st.booleans())
def test_handshake_twins_agree(fields: list[tuple[bytes, bytes]], method: bytes, v10: bool) -> None:
    head = method + b" /p?q HTTP/" + (b"1.0" if v10 else b"1.1") + b"\r\nHost: h\r\n"
    head += b"".join(n + b": " + v + b"\r\n" for n, v in fields) + b"\r\n"
    outcomes = []
    for ws in both():
        request = ws.RequestParser().feed(head)[0]
        result = ws.check_handshake(request)
        if isinstance(result, Exception):
            outcomes.append(("error", result.status, result.headers))
        else:
            outcomes.append(("ok", result.scope, result.accept, result.extensions))
    assert all(o == outcomes[0] for o in outcomes), outcomes


def _implementation(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import sailfish.ws as w; print(w.IMPLEMENTATION, w.FrameParser)"],
        env={**os.environ, "PYTHONPATH": SRC, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_no_extensions_selects_the_pure_twin() -> None:
    out = _implementation({"SAILFISH_NO_EXTENSIONS": "1", "SAILFISH_REQUIRE_EXTENSIONS": "0"})
    assert out == "pure <class 'sailfish.ws.frames.FrameParser'>"


def test_compiled_twin_is_selected_when_built() -> None:
    load_twin("c")  # skips in the pure leg; raises under REQUIRE_EXTENSIONS if missing
    out = _implementation({"SAILFISH_NO_EXTENSIONS": "0"})
    assert out == "compiled <class 'sailfish._http.FrameParser'>"


def test_public_names() -> None:
    from sailfish.errors import SailfishError, WebSocketError, WebSocketMessageError

    assert set(sailfish.ws.__all__) >= {
        "FrameParser",
        "FrameWriter",
        "Ping",
        "Pong",
        "Close",
        "Deflate",
        "negotiate_deflate",
        "Handshake",
        "check_handshake",
        "accept_response",
        "WebSocketError",
        "HandshakeError",
    }
    assert issubclass(WebSocketError, SailfishError)
    assert issubclass(WebSocketMessageError, ValueError)
    err = WebSocketError(1009, "message too big")
    assert (err.code, err.reason) == (1009, "message too big")
    assert "1009" in str(err)


def test_a_deflate_of_the_other_twin_is_refused() -> None:
    twins = both()
    if len(twins) < 2:
        pytest.skip("needs both twins")
    py, c = twins
    for a, b in ((py, c), (c, py)):
        deflate = a.negotiate_deflate(b"permessage-deflate")[1]
        with pytest.raises(TypeError):
            b.FrameParser(deflate=deflate)
        with pytest.raises(TypeError):
            b.FrameWriter(deflate=deflate)
