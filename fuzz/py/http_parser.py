"""atheris: the request parser's twins agree, and a parsed request survives a round trip.

The input is the bytes a client sends (seeds: tests/corpus/valid and invalid). Oracles:

1. Agreement: the pure and the compiled `RequestParser` give the same events (requests as
   their frozen scope and flags, the body merged per request, an error as class and status)
   fed whole and cut at split points chosen from the input; with default limits and with
   small ones (so every limit is reached). An exception that is not a returned `HTTPError`,
   or an error that is not the last event, is a finding.
2. Round trip: every complete request is written again (method, target, version, the fields
   as parsed minus the framing fields, the body framed anew with Content-Length or chunked)
   and followed by a sentinel request. Parsed again (both twins), it must give the same scope
   less the framing fields, the same flags and body, and then the sentinel exactly when the
   request allows keep-alive. Two parsers that disagree about where a request ends are what
   request smuggling exploits; this catches the parser disagreeing with itself.

Run: python fuzz/py/http_parser.py [libFuzzer flags] [corpus dirs] (see `make fuzz-py`).
"""

from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

compiled = common.require_compiled()
with common.instrumented(__name__ == "__main__"):
    from sailfish.errors import HTTPError
    from sailfish.http import parser as pure

PARSERS = {"py": pure.RequestParser, "c": compiled.RequestParser}
SMALL = {
    "max_request_line": 40,
    "max_header_size": 120,
    "max_headers": 4,
    "max_body_size": 16,
    "max_chunk_ext_size": 6,
    "max_trailer_size": 24,
}
FRAMING = (b"content-length", b"transfer-encoding")
SENTINEL = b"GET /rt-sentinel HTTP/1.1\r\nHost: sentinel\r\n\r\n"
BODY_KEYS = {"type", "body", "more_body"}


def events(parser_cls: Any, chunks: list[bytes], **limits: Any) -> list[Any]:
    """Feed `chunks` in order, then feed(b"") until quiet (a declined upgrade goes on)."""
    parser = parser_cls(**limits)
    out: list[Any] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    for _ in range(100):
        more = parser.feed(b"")
        if not more:
            break
        out.extend(more)
    return out


def request_key(request: Any, drop_framing: bool = False) -> tuple[Any, ...]:
    scope = dict(request.scope)
    if drop_framing:
        scope["headers"] = [h for h in scope["headers"] if h[0] not in FRAMING]
    return (
        "request",
        common.freeze(scope),
        request.keep_alive,
        request.expect_continue,
        common.freeze(request.upgrade),
        request.has_body,
        request.forwarded,
    )


def normalise(raw_events: list[Any], drop_framing: bool = False) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i, event in enumerate(raw_events):
        if isinstance(event, HTTPError):
            assert i == len(raw_events) - 1, f"an error that is not the last event: {raw_events}"
            out.append(("error", type(event).__name__, event.status))
        elif type(event) is dict:
            assert set(event) == BODY_KEYS and event["type"] == "http.request", event
            body, more = event["body"], event["more_body"]
            assert type(body) is bytes and type(more) is bool, event
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + body)
            else:
                out.append(("body", body))
            if not more:
                out.append(("end",))
        else:
            assert type(event).__name__ == "Request", repr(event)
            out.append(request_key(event, drop_framing))
    return out


def agree(data: bytes, splits: list[int], limits: dict[str, int]) -> list[Any]:
    """Both twins, whole and split, give one outcome; return the pure twin's raw events."""
    whole = events(PARSERS["py"], [data], **limits)
    expected = normalise(whole)
    for name, parser_cls in PARSERS.items():
        if name != "py":
            assert normalise(events(parser_cls, [data], **limits)) == expected, (name, "whole")
        got = normalise(events(parser_cls, common.pieces(data, splits), **limits))
        assert got == expected, (name, splits)
    return whole


def complete_requests(raw_events: list[Any]) -> list[tuple[Any, bytes]]:
    """(Request, body) for every request whose body ended (or that has none)."""
    done: list[tuple[Any, bytes]] = []
    current: Any = None
    body = b""
    for event in raw_events:
        if type(event) is dict:
            body += event["body"]
            if not event["more_body"]:
                done.append((current, body))
                current = None
        elif isinstance(event, HTTPError):
            break
        else:
            if event.has_body:
                current, body = event, b""
            else:
                done.append((event, b""))
    return done


def serialise(request: Any, body: bytes, rng: random.Random) -> bytes:
    """The request written again: its parsed parts, the body framed anew."""
    scope = request.scope
    target = scope["raw_path"]
    if scope["query_string"]:
        target += b"?" + scope["query_string"]
    version = b"HTTP/1.0" if scope["http_version"] == "1.0" else b"HTTP/1.1"
    lines = [scope["method"].encode("ascii") + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in scope["headers"] if name not in FRAMING]
    if not request.has_body:
        return b"\r\n".join(lines) + b"\r\n\r\n"
    if version == b"HTTP/1.1" and (not body or rng.random() < 0.5):
        lines.append(b"Transfer-Encoding: chunked")
        framed = b""
        rest = body
        while rest:
            n = rng.randint(1, len(rest))
            framed += b"%x\r\n" % n + rest[:n] + b"\r\n"
            rest = rest[n:]
        framed += b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % len(body))
        framed = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + framed


def round_trip(raw_events: list[Any], rng: random.Random) -> None:
    for request, body in complete_requests(raw_events):
        again = serialise(request, body, rng) + SENTINEL
        expected = [request_key(request, drop_framing=True)]
        if request.has_body:
            expected += [("body", body), ("end",)]
        if request.keep_alive:
            expected.append(("request",))
        for name, parser_cls in PARSERS.items():
            got = normalise(events(parser_cls, [again]), drop_framing=True)
            if len(got) == len(expected) and request.keep_alive:
                assert got[-1][1] == common.freeze(parse_sentinel()), (name, again, got)
                got[-1] = ("request",)
            assert got == expected, (name, again, got, expected)


_SENTINEL_SCOPE: list[dict[str, Any]] = []


def parse_sentinel() -> dict[str, Any]:
    if not _SENTINEL_SCOPE:
        (request,) = pure.RequestParser().feed(SENTINEL)
        _SENTINEL_SCOPE.append(request.scope)
    return _SENTINEL_SCOPE[0]


def test_one(data: bytes) -> None:
    splits = common.cuts(data)
    raw_events = agree(data, splits, {})
    agree(data, splits, SMALL)
    round_trip(raw_events, random.Random(zlib.crc32(data) ^ 0x5A5A))


if __name__ == "__main__":
    common.run(test_one)
