"""Micro-benchmarks of the sans-IO core against its peers, all in one process and one run.

Strategy: each case is a zero-argument callable doing one unit of work (parse one request
into a complete ASGI scope plus body messages, or serialise one response); it is timed in
`ROUNDS` rounds of `n` calls with time.perf_counter_ns and the best and median round are
reported as ns per call. Peers do the same work the way uvicorn drives them: httptools
with per-callback Python that builds the scope, h11 through its event API. Ratios are
against the compiled core measured in the same run; absolute numbers drift on shared
machines, ratios much less. Not part of `make test`; run `make bench`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

HERE = Path(__file__).parent
S2 = (HERE / "s2_browser.http").read_bytes()
CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8000)
ROUNDS = 7


def chunked_request(n: int, size: int) -> bytes:
    head = b"POST /upload HTTP/1.1\r\nHost: localhost:8000\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n" % size + b"x" * size + b"\r\n"
    return head + chunk * n + b"0\r\n\r\n"


CHUNKED_410 = chunked_request(10, 410)
CHUNKED_13 = chunked_request(10, 13)
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")],
}
BODY = {"type": "http.response.body", "body": b"Hello, world!", "more_body": False}


# --- sailfish (either twin) -------------------------------------------------------------


def sailfish_parse(mod: Any, raw: bytes) -> Callable[[], Any]:
    from sailfish.errors import HTTPError

    parser = mod.RequestParser(client=CLIENT, server=SERVER)
    events = parser.feed(raw)
    assert events and not isinstance(events[-1], HTTPError), events
    return lambda: parser.feed(raw)


def sailfish_write(mod: Any) -> Callable[[], Any]:
    writer = mod.ResponseWriter()

    def run() -> bytes:
        writer.start(START, "GET", "1.1", True)
        return writer.body(BODY)

    return run


# --- the object-creation floor -----------------------------------------------------------


def floor_parse(raw: bytes) -> Callable[[], Any] | None:
    """bench/_floor.pyx: the objects an S2 parse must make, with no parsing (see its header)."""
    try:
        import pyximport
    except ImportError:
        return None
    pyximport.install(build_dir=str(HERE.parent / "build" / "bench"), language_level=3)
    sys.path.insert(0, str(HERE))
    try:
        import _floor
    finally:
        sys.path.remove(str(HERE))
    head = raw[: raw.index(b"\r\n\r\n")]
    spans = []
    offset = head.index(b"\r\n") + 2
    for line in head.split(b"\r\n")[1:]:
        colon = line.index(b":")
        spans.append((offset + colon + 2, len(line) - colon - 2))
        offset += len(line) + 2
    assert len(spans) == 15, len(spans)
    _floor.set_spans(spans)
    build = _floor.build
    return lambda: build(raw)


# --- httptools, driven as uvicorn drives it ---------------------------------------------


class HttptoolsScopeBuilder:
    """Callbacks that build the same scope and body messages uvicorn's httptools protocol does."""

    def __init__(self, httptools: Any) -> None:
        self.httptools = httptools
        self.parser = httptools.HttpRequestParser(self)
        self.events: list[Any] = []
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.scope: dict[str, Any] = {}
        self.body: list[bytes] = []

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parsed = self.httptools.parse_url(self.url)
        raw_path = parsed.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": self.parser.get_http_version(),
            "server": SERVER,
            "client": CLIENT,
            "scheme": "http",
            "method": self.parser.get_method().decode("ascii"),
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": parsed.query if parsed.query else b"",
            "headers": self.headers,
        }
        self.events.append(self.scope)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.body:
            self.events.append(
                {"type": "http.request", "body": b"".join(self.body), "more_body": False}
            )
            self.body = []


def httptools_parse(raw: bytes) -> Callable[[], Any] | None:
    try:
        import httptools
    except ImportError:
        return None
    builder = HttptoolsScopeBuilder(httptools)

    def run() -> Any:
        builder.events = []
        builder.parser.feed_data(raw)
        return builder.events

    run()
    return run


# A response head as uvicorn's httptools protocol builds it in Python.
def uvicorn_style_write() -> Callable[[], Any]:
    import http
    import re

    status_lines = {
        s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
    }
    invalid = re.compile(b"[\x00-\x1f\x7f]")
    token = re.compile(b"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")

    def run() -> bytes:
        headers = START["headers"]
        content = [status_lines[START["status"]], b"server: uvicorn\r\n", b"date: x\r\n"]
        length = None
        for name, value in headers:
            if not token.fullmatch(name) or invalid.search(value):
                raise RuntimeError("invalid header")
            name = name.lower()
            if name == b"content-length":
                length = int(value.decode())
            content.extend([name, b": ", value, b"\r\n"])
        content.append(b"\r\n")
        body = BODY["body"]
        assert length == len(body)
        return b"".join(content) + body

    return run


# --- h11 --------------------------------------------------------------------------------


def h11_parse(raw: bytes) -> Callable[[], Any] | None:
    try:
        import h11
    except ImportError:
        return None

    def run() -> Any:
        # A fresh connection per request: h11 will not parse a second request before the
        # first one is answered. Construction costs ~1% of h11's parse here.
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(raw)
        events: list[Any] = []
        body: list[bytes] = []
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                target = event.target
                raw_path, _, query = target.partition(b"?")
                events.append(
                    {
                        "type": "http",
                        "asgi": {"version": "3.0", "spec_version": "2.4"},
                        "http_version": event.http_version.decode("ascii"),
                        "server": SERVER,
                        "client": CLIENT,
                        "scheme": "http",
                        "method": event.method.decode("ascii"),
                        "root_path": "",
                        "path": unquote(raw_path.decode("ascii")),
                        "raw_path": raw_path,
                        "query_string": query,
                        "headers": list(event.headers.raw_items()),
                    }
                )
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                if body:
                    events.append(
                        {"type": "http.request", "body": b"".join(body), "more_body": False}
                    )
                return events
            else:
                raise AssertionError(event)

    run()
    return run


# --- timing -----------------------------------------------------------------------------


def measure(fn: Callable[[], Any], budget_s: float) -> tuple[float, float]:
    """(best, median) ns per call over ROUNDS rounds sized to fit `budget_s`."""
    n = 1
    while True:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        dt = time.perf_counter_ns() - t0
        if dt > 20_000_000:
            break
        n *= 2
    n = max(1, int(n * (budget_s / ROUNDS) * 1e9 / dt))
    per_call = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter_ns() - t0) / n)
    return min(per_call), statistics.median(per_call)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per case (default 1)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()

    import sailfish.http.parser as py_parser
    import sailfish.http.writer as py_writer

    class PyTwin:
        RequestParser = py_parser.RequestParser
        ResponseWriter = py_writer.ResponseWriter

    try:
        import sailfish._http as c_twin
    except ImportError:
        print("sailfish._http is not built: run `make compile` first", file=sys.stderr)
        return 1

    cases: dict[str, dict[str, Callable[[], Any] | None]] = {
        "parse S2 browser request (717 B) -> scope": {
            "sailfish (compiled)": sailfish_parse(c_twin, S2),
            "sailfish (pure twin)": sailfish_parse(PyTwin, S2),
            "httptools + scope": httptools_parse(S2),
            "h11 + scope": h11_parse(S2),
            "floor: make the same objects, no parsing": floor_parse(S2),
        },
        "parse chunked POST, 10 x 410 B": {
            "sailfish (compiled)": sailfish_parse(c_twin, CHUNKED_410),
            "sailfish (pure twin)": sailfish_parse(PyTwin, CHUNKED_410),
            "httptools + scope": httptools_parse(CHUNKED_410),
            "h11 + scope": h11_parse(CHUNKED_410),
        },
        "parse chunked POST, 10 x 13 B": {
            "sailfish (compiled)": sailfish_parse(c_twin, CHUNKED_13),
            "sailfish (pure twin)": sailfish_parse(PyTwin, CHUNKED_13),
            "httptools + scope": httptools_parse(CHUNKED_13),
            "h11 + scope": h11_parse(CHUNKED_13),
        },
        "serialise response (2 headers + 13 B body)": {
            "sailfish (compiled)": sailfish_write(c_twin),
            "sailfish (pure twin)": sailfish_write(PyTwin),
            "uvicorn-style Python (httptools servers)": uvicorn_style_write(),
        },
    }

    print(
        f"# sailfish core micro-benchmark: Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{ROUNDS} rounds x {args.budget / ROUNDS:.2f} s"
    )
    for title, runners in cases.items():
        results = {name: measure(fn, args.budget) for name, fn in runners.items() if fn}
        base = results["sailfish (compiled)"][0]
        if args.markdown:
            print(f"\n**{title}**\n\n| implementation | best ns | median ns | x compiled |")
            print("|---|---:|---:|---:|")
            for name, (best, med) in results.items():
                print(f"| {name} | {best:,.0f} | {med:,.0f} | {best / base:.1f} |")
        else:
            print(f"\n{title}")
            for name, (best, med) in results.items():
                print(f"  {name:42s} {best:10,.0f} ns  (median {med:,.0f})  {best / base:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
