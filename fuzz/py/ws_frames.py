"""atheris: the WebSocket frame parser's twins agree on any byte stream, however it is cut.

The input's first byte picks the parser's settings (bit 0: permessage-deflate negotiated;
bits 1-2: `max_message_size` 16 MiB, 125, 20 or 0); the rest is the client's byte stream
(seeds: tests/corpus/fuzz/py-ws_frames/, written by fuzz/py/seeds.py). The pure and the compiled
`FrameParser` must give the same events (messages, pings, pongs, closes; an error by its close
code) fed whole and cut at split points chosen from the input; anything raised is a finding.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

compiled = common.require_compiled()
with common.instrumented(__name__ == "__main__"):
    from sailfish.errors import WebSocketError
    from sailfish.ws import deflate as pure_deflate, frames as pure_frames

TWINS = {
    "py": (pure_frames.FrameParser, pure_deflate.negotiate_deflate),
    "c": (compiled.FrameParser, compiled.negotiate_deflate),
}
LIMITS = (16 * 1024 * 1024, 125, 20, 0)


def normalise(event: Any) -> tuple[Any, ...]:
    if isinstance(event, dict):
        assert event["type"] == "websocket.receive" and len(event) == 2, event
        if "text" in event:
            assert type(event["text"]) is str, event
            return ("text", event["text"])
        assert type(event["bytes"]) is bytes, event
        return ("bytes", event["bytes"])
    if isinstance(event, WebSocketError):
        return ("error", event.code)
    kind = type(event).__name__
    if kind in ("Ping", "Pong"):
        assert type(event.payload) is bytes, event
        return (kind.lower(), event.payload)
    assert kind == "Close", event
    return ("close", event.code, event.reason)


def outcome(twin: str, settings: int, chunks: list[bytes]) -> list[tuple[Any, ...]]:
    parser_cls, negotiate = TWINS[twin]
    kwargs: dict[str, Any] = {"max_message_size": LIMITS[(settings >> 1) & 3]}
    if settings & 1:
        kwargs["deflate"] = negotiate(b"permessage-deflate")[1]
    parser = parser_cls(**kwargs)
    out: list[tuple[Any, ...]] = []
    for chunk in chunks:
        out.extend(normalise(e) for e in parser.feed(chunk))
    errors = [i for i, e in enumerate(out) if e[0] == "error"]
    assert errors in ([], [len(out) - 1]), f"an error that is not the last event: {out}"
    return out


def canonical(events: list[tuple[Any, ...]], deflate: bool) -> list[tuple[Any, ...]]:
    """`events` with 1002 and 1009 made one, where messages may be compressed.

    A compressed message that is both over the limit and corrupt further on fails with 1009 or
    1002 depending on where the input was cut: CPython's zlib drops the output of a call that
    fails, so whether the limit was crossed before the bad block cannot be known
    (docs/websocket.md). The twins must still agree exactly for the same cuts.
    """
    if deflate and events and events[-1] in (("error", 1002), ("error", 1009)):
        return [*events[:-1], ("error", "1002 or 1009")]
    return events


def test_one(data: bytes) -> None:
    if not data:
        return
    settings, stream = data[0], data[1:]
    splits = common.cuts(stream)
    expected = outcome("py", settings, [stream])
    assert outcome("c", settings, [stream]) == expected, "c whole"
    pieces = common.pieces(stream, splits)
    cut = outcome("py", settings, pieces)
    assert outcome("c", settings, pieces) == cut, ("c", splits)
    deflate = bool(settings & 1)
    assert canonical(cut, deflate) == canonical(expected, deflate), (cut, expected, splits)


if __name__ == "__main__":
    common.run(test_one)
