"""Helpers for the WebSocket core tests: client frames, feeding, comparable outcomes.

A plain module (like tests/twins.py). `client_frame` builds what a client sends (masked), with
knobs to break each rule; `outcome` turns events of either twin into plain tuples, so the two
twins (whose Ping/Pong/Close classes differ) compare equal; errors compare by close code only.
"""

from __future__ import annotations

import struct
from typing import Any

from sailfish.errors import WebSocketError

MASK = b"\x37\xfa\x21\x3d"


def xor(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length: int | None = None,
    form: int | None = None,
) -> bytes:
    """One client frame. `length` overrides the announced length, `form` forces 7/16/64."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if form is None:
        form = 7 if n < 126 else 16 if n < 0x10000 else 64
    if form == 7:
        head = bytes((first, mask_bit | n))
    elif form == 16:
        head = bytes((first, mask_bit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((first, mask_bit | 127)) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + xor(payload, mask)


def text(payload: str, **kw: Any) -> bytes:
    return client_frame(0x1, payload.encode(), **kw)


def close_frame(code: int | None = None, reason: bytes = b"", **kw: Any) -> bytes:
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return client_frame(0x8, payload, **kw)


def normalise(event: Any) -> tuple[Any, ...]:
    if isinstance(event, dict):
        assert event["type"] == "websocket.receive"
        assert len(event) == 2
        if "text" in event:
            assert type(event["text"]) is str
            return ("text", event["text"])
        assert type(event["bytes"]) is bytes
        return ("bytes", event["bytes"])
    if isinstance(event, WebSocketError):
        return ("error", event.code)
    kind = type(event).__name__
    if kind in ("Ping", "Pong"):
        assert type(event.payload) is bytes
        return (kind.lower(), event.payload)
    assert kind == "Close", event
    return ("close", event.code, event.reason)


def feed(parser: Any, data: bytes, step: int | None = None) -> list[tuple[Any, ...]]:
    """Feed `data` in pieces of `step` bytes (whole when None); the events, normalised."""
    events: list[Any] = []
    step = step or max(len(data), 1)
    for i in range(0, len(data), step):
        events.extend(parser.feed(data[i : i + step]))
    return [normalise(e) for e in events]


def outcome(ws: Any, data: bytes, step: int | None = None, **kw: Any) -> list[tuple[Any, ...]]:
    return feed(ws.FrameParser(**kw), data, step)
