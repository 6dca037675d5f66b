"""atheris: the response writer's twins agree on any sequence of calls.

The input is a program: the writer's settings, then up to 12 calls (`start`, `body`,
`trailers`, `early_hint`, `frame_external`, `reset`) with arguments drawn from the input:
statuses, methods, versions, header names and values (framing fields, odd cases, random
bytes), bodies. The program runs on a pure and a compiled `ResponseWriter` (date_header off,
so the output is a function of the calls); after every call both must return the same bytes or
raise the same exception class, and report the same `keep_alive`, `started`, `complete`. And
every head written is well formed whatever the app passed: a status line, then `name: value`
lines with token names, each ended by CRLF with no other CR or LF (no header injection).
Findings replay through tests/http/test_fuzz_replay.py (tests/corpus/fuzz/py-response_writer/).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

compiled = common.require_compiled()
with common.instrumented(__name__ == "__main__"):
    from sailfish.http import writer as pure

TWINS = {"py": pure.ResponseWriter, "c": compiled.ResponseWriter}
NAMES = [
    b"content-length",
    b"Content-Length",
    b"transfer-encoding",
    b"connection",
    b"trailer",
    b"server",
    b"date",
    b"content-type",
    b"upgrade",
    b"x-a",
]
VALUES = [b"0", b"5", b"12", b"chunked", b"CHUNKED", b"gzip", b"close", b"keep-alive", b"x-a", b""]
METHODS = ["GET", "HEAD", "POST", "CONNECT"]
STATUSES = [200, 204, 304, 101, 103, 404, 500, 599, 99, 600, 299]


def draw_bytes(draw: common.Draw, pool: list[bytes]) -> bytes:
    if draw.below(4):
        return draw.pick(pool)  # type: ignore[no-any-return]
    return draw.take(draw.below(9))


def draw_fields(draw: common.Draw) -> list[tuple[bytes, bytes]]:
    return [(draw_bytes(draw, NAMES), draw_bytes(draw, VALUES)) for _ in range(draw.below(5))]


def program(data: bytes) -> tuple[dict[str, Any], list[tuple[str, tuple[Any, ...]]]]:
    """The writer's settings and the calls, decoded from the input."""
    draw = common.Draw(data)
    settings: dict[str, Any] = {"date_header": False}
    if draw.flag():
        settings["server_header"] = None
    if draw.below(8) == 0:
        settings["default_headers"] = draw_fields(draw)
    calls: list[tuple[str, tuple[Any, ...]]] = []
    for _ in range(1 + draw.below(12)):
        op = draw.below(8)
        version = "1.0" if draw.below(4) == 0 else "1.1"
        if op <= 1:
            status = draw.pick(STATUSES)
            message: dict[str, Any] = {
                "type": "http.response.start",
                "status": status,
                "headers": draw_fields(draw),
            }
            if draw.flag():
                message["trailers"] = draw.flag()
            method = draw.pick(METHODS)
            calls.append(("start", (message, method, version, draw.flag())))
        elif op <= 4:
            body = {
                "type": "http.response.body",
                "body": draw.take(draw.below(21)),
                "more_body": draw.flag(),
            }
            calls.append(("body", (body,)))
        elif op == 5:
            trailers = {
                "type": "http.response.trailers",
                "headers": draw_fields(draw),
                "more_trailers": draw.flag(),
            }
            calls.append(("trailers", (trailers,)))
        elif op == 6:
            links = [draw_bytes(draw, [b"<a>", b"</x>; rel=preload", b" <b> "]) for _ in range(2)]
            hint = {"type": "http.response.early_hint", "links": links}
            calls.append(("early_hint", (hint, version)))
        elif draw.flag():
            calls.append(("frame_external", (draw.below(31), draw.flag())))
        else:
            calls.append(("reset", ()))
    return settings, calls


def trace(twin: str, settings: dict[str, Any], calls: list[tuple[str, tuple[Any, ...]]]) -> Any:
    try:
        writer = TWINS[twin](**settings)
    except Exception as exc:  # both twins must refuse alike
        return [("construct", type(exc).__name__)]
    out: list[Any] = []
    for name, args in calls:
        try:
            result: Any = getattr(writer, name)(*args)
        except Exception as exc:
            result = ("raised", type(exc).__name__)
        out.append((name, result, writer.keep_alive, writer.started, writer.complete))
    return out


TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_heads(out: bytes) -> None:
    """Every response head in `out` (heads start a call's output) is well formed."""
    while out.startswith(b"HTTP/1.1 "):
        head, sep, out = out.partition(b"\r\n\r\n")
        assert sep, f"a head without its end: {head!r}"
        status, *fields = head.split(b"\r\n")
        assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b"")
        assert status[9:12].isdigit() and status[12:13] == b" ", status
        for field in fields:
            name, colon, _ = field.partition(b": ")
            assert colon and name and set(name) <= TCHAR, field
        if not status.startswith(b"HTTP/1.1 1"):  # a 1xx head is followed by the next one
            break


def test_one(data: bytes) -> None:
    settings, calls = program(data)
    expected = trace("py", settings, calls)
    assert trace("c", settings, calls) == expected, (settings, calls)
    for step in expected:
        result = step[1] if len(step) > 1 else None
        if type(result) is bytes:
            check_heads(result)
        elif type(result) is tuple and result and type(result[0]) is bytes:
            check_heads(result[0])  # frame_external: (before, after, write)


if __name__ == "__main__":
    common.run(test_one)
