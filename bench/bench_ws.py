"""Micro-benchmarks of the WebSocket core against its Python peers, in one process and one run.

Strategy: each case is a zero-argument callable doing one unit of work on the server side:
"parse" feeds one masked client frame and gets the message back (as text: unmasking, UTF-8
validation and the str are part of the work), "build" frames one server message. Sizes are
256 B and 16 KiB of JSON-like text, plain and with permessage-deflate (client frames
compressed by zlib from a fresh window, so the same frame can be fed again; the server side
compresses without context takeover, so every message costs a full compression: all peers
are configured alike). Peers do the same work through their sans-IO APIs: the websockets
library's ServerProtocol (C-accelerated masking) and wsproto's server Connection, both
already OPEN; picows has no sans-IO parser and is measured end to end instead (make
bench-e2e). "zlib alone" is the floor of the deflate cases: the compress or decompress calls
any Python server must make. Timing and reporting as bench_core.py: best and median of
ROUNDS rounds, ns per message, ratios against the compiled twin. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

ROUNDS = 7
MASK = b"\x37\xfa\x21\x3d"
SIZES = {"256 B": 256, "16 KiB": 16384}


def payload(size: int, mixed: bool = False) -> bytes:
    """JSON-like text of exactly `size` bytes (compresses about as chat traffic does): ASCII,
    or with `mixed` a few non-ASCII characters (2 to 4 bytes) in every record."""
    word = "mensaje número 😀" if mixed else "message number"
    out = b""
    i = 0
    while len(out) < size:
        record = f'{{"id": {i}, "user": "user{i % 17}", "text": "{word} {i * 7919 % 10007}", '
        out += (record + '"ok": true}, ').encode()
        i += 1
    # Cut on a character boundary, then pad with spaces to the size.
    out = out[:size].decode("utf-8", "ignore").encode()
    return out + b" " * (size - len(out))


def load_compiled(tree: str) -> Any:
    """The compiled core built in place in another tree (as `sailfish._http`, a second copy)."""
    import glob
    import importlib.machinery
    import importlib.util

    # This tree's own module first: a Cython module puts itself in sys.modules under its name
    # when that name is free, so the other copy must find it taken.
    own = importlib.import_module("sailfish._http")
    [path] = glob.glob(f"{tree}/src/sailfish/_http.*.so") or glob.glob(
        f"{tree}/src/sailfish/_http.*.pyd"
    )
    loader = importlib.machinery.ExtensionFileLoader("sailfish._http", path)
    spec = importlib.util.spec_from_file_location("sailfish._http", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules["sailfish._http"] = own
    assert module.FrameParser is not own.FrameParser
    return module


def client_frame(data: bytes, rsv1: bool = False) -> bytes:
    n = len(data)
    first = 0x81 | (0x40 if rsv1 else 0)
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 65536:
        head = bytes((first, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 0xFF)) + n.to_bytes(8, "big")
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(data))
    return head + MASK + masked


def fresh_compress(data: bytes) -> bytes:
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


# --- sailfish (either twin) -------------------------------------------------------------


def sailfish_parse(mod: Any, frame: bytes, text: str, deflate: bool) -> Callable[[], Any]:
    kw: dict[str, Any] = {}
    if deflate:
        kw["deflate"] = mod.negotiate_deflate(b"permessage-deflate")[1]
    parser = mod.FrameParser(**kw)
    assert parser.feed(frame) == [{"type": "websocket.receive", "text": text}]
    return lambda: parser.feed(frame)


def sailfish_build(mod: Any, text: str, deflate: bool) -> Callable[[], Any]:
    kw: dict[str, Any] = {}
    if deflate:
        offer = b"permessage-deflate; server_no_context_takeover"
        kw["deflate"] = mod.negotiate_deflate(offer)[1]
    writer = mod.FrameWriter(**kw)
    message = {"type": "websocket.send", "text": text}
    return lambda: writer.send(message)


# --- websockets (sans-IO ServerProtocol, OPEN) ------------------------------------------


def websockets_protocol(deflate: bool) -> Any:
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    protocol = ServerProtocol(state=State.OPEN, max_size=None)
    if deflate:
        protocol.extensions = [PerMessageDeflate(False, True, 15, 15)]
    return protocol


def websockets_parse(frame: bytes, text: str, deflate: bool) -> Callable[[], Any]:
    protocol = websockets_protocol(deflate)

    def run() -> Any:
        protocol.receive_data(frame)
        return [event.data.decode("utf-8") for event in protocol.events_received()]

    assert run() == [text]
    return run


def websockets_build(text: str, deflate: bool) -> Callable[[], Any]:
    protocol = websockets_protocol(deflate)

    def run() -> Any:
        protocol.send_text(text.encode("utf-8"))
        return protocol.data_to_send()

    return run


# --- wsproto (server Connection, OPEN) --------------------------------------------------


def wsproto_connection(deflate: bool) -> Any:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.extensions import PerMessageDeflate

    extensions = []
    if deflate:
        ext = PerMessageDeflate()
        ext.accept("permessage-deflate; server_no_context_takeover")
        extensions.append(ext)
    return Connection(ConnectionType.SERVER, extensions=extensions)


def wsproto_parse(frame: bytes, text: str, deflate: bool) -> Callable[[], Any]:
    conn = wsproto_connection(deflate)

    def run() -> Any:
        conn.receive_data(frame)
        return [event.data for event in conn.events()]

    assert run() == [text]
    return run


def wsproto_build(text: str, deflate: bool) -> Callable[[], Any]:
    from wsproto.events import TextMessage

    conn = wsproto_connection(deflate)
    message = TextMessage(data=text)
    return lambda: conn.send(message)


# --- the zlib floor ---------------------------------------------------------------------


def zlib_inflate(compressed: bytes) -> Callable[[], Any]:
    d = zlib.decompressobj(-15)
    data = compressed + b"\x00\x00\xff\xff"
    return lambda: d.decompress(data)


def zlib_deflate(data: bytes) -> Callable[[], Any]:
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return lambda: c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)


# --- timing -----------------------------------------------------------------------------


def timed(fn: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """(best, median) ns per call over ROUNDS rounds of about `seconds` / ROUNDS each."""
    n = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter_ns() - start
        if elapsed > 20_000_000:
            break
        n *= 2
    n = max(1, int(n * (seconds / ROUNDS) * 1e9 / elapsed))
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter_ns() - start) / n)
    return min(rounds), statistics.median(rounds)


def cases(
    size: int, deflate: bool, work: str, mixed: bool = False, against: Any = None
) -> list[tuple[str, Callable[[], Any] | None]]:
    data = payload(size, mixed)
    text = data.decode()
    frame = client_frame(fresh_compress(data), rsv1=True) if deflate else client_frame(data)
    out: list[tuple[str, Callable[[], Any] | None]] = []
    from sailfish.ws import deflate as pure_deflate, frames as pure_frames

    pure = SimpleNamespace(
        FrameParser=pure_frames.FrameParser,
        FrameWriter=pure_frames.FrameWriter,
        negotiate_deflate=pure_deflate.negotiate_deflate,
    )
    twins = [
        ("sailfish (compiled)", importlib.import_module("sailfish._http")),
        ("sailfish (pure)", pure),
    ]
    if against is not None:
        twins.insert(1, ("sailfish (compiled, --against tree)", against))
    for label, mod in twins:
        if work == "parse":
            out.append((label, sailfish_parse(mod, frame, text, deflate)))
        else:
            out.append((label, sailfish_build(mod, text, deflate)))
    if work == "parse":
        out.append(("websockets", websockets_parse(frame, text, deflate)))
        out.append(("wsproto", wsproto_parse(frame, text, deflate)))
        if deflate:
            out.append(("zlib alone (inflate)", zlib_inflate(fresh_compress(data))))
    else:
        out.append(("websockets", websockets_build(text, deflate)))
        out.append(("wsproto", wsproto_build(text, deflate)))
        if deflate:
            out.append(("zlib alone (deflate)", zlib_deflate(data)))
    return out


MEMORY_CASES: list[tuple[str, bytes | None, bool, dict[str, Any]]] = [
    ("no deflate, idle", None, False, {}),
    ("no deflate, one 256 B message each way", None, True, {}),
    ("deflate negotiated, idle", b"permessage-deflate", False, {}),
    ("deflate (window 15, memLevel 8), one message each way", b"permessage-deflate", True, {}),
    (
        "deflate (15, 8), client_no_context_takeover, one each way",
        b"permessage-deflate; client_no_context_takeover",
        True,
        {},
    ),
    (
        "deflate (window 12, memLevel 5), one message each way",
        b"permessage-deflate",
        True,
        {"server_max_window_bits": 12, "mem_level": 5},
    ),
    (
        "deflate (12, 5), no context takeover either way, one each way",
        b"permessage-deflate; client_no_context_takeover",
        True,
        {"server_max_window_bits": 12, "mem_level": 5, "server_no_context_takeover": True},
    ),
]


def memory(connections: int = 500) -> None:
    """Traced memory per connection of the compiled core's state (parser, writer, Deflate).

    CPython's zlib allocates through PyMem_Raw*, so tracemalloc sees zlib's own buffers too.
    """
    import tracemalloc

    import sailfish._http as core

    data = payload(256)
    print("| connection state (compiled core) | KiB per connection |")
    print("| --- | ---: |")
    for label, offer, exchange, settings in MEMORY_CASES:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        keep = []
        for _ in range(connections):
            negotiated = core.negotiate_deflate(offer, **settings) if offer else None
            deflate = negotiated[1] if negotiated else None
            parser = core.FrameParser(deflate=deflate)
            writer = core.FrameWriter(deflate=deflate)
            if exchange:
                parser.feed(
                    client_frame(fresh_compress(data), rsv1=True) if deflate else client_frame(data)
                )
                writer.send({"text": data.decode()})
            keep.append((parser, writer, deflate))
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        print(f"| {label} | {used / connections / 1024:,.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.4, help="time per case")
    parser.add_argument("--quick", action="store_true", help="0.2 s per case")
    parser.add_argument("--memory", action="store_true", help="memory per connection instead")
    parser.add_argument("--plain", action="store_true", help="skip the deflate cases")
    parser.add_argument("--mixed", action="store_true", help="text with non-ASCII characters")
    parser.add_argument(
        "--against",
        metavar="TREE",
        help="also time the compiled core built in place in TREE (e.g. the parent commit)",
    )
    args = parser.parse_args()
    if args.memory:
        memory()
        return
    seconds = 0.2 if args.quick else args.seconds
    against = load_compiled(args.against) if args.against else None
    print(f"# {platform.python_implementation()} {platform.python_version()}, {sys.platform}")
    print("| work | size | deflate | implementation | best ns/msg | median ns/msg | x compiled |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: |")
    for work in ("parse", "build"):
        for size_label, size in SIZES.items():
            for deflate in (False,) if args.plain else (False, True):
                base = None
                for label, fn in cases(size, deflate, work, args.mixed, against):
                    if fn is None:
                        continue
                    best, median = timed(fn, seconds)
                    base = base or median
                    print(
                        f"| {work} | {size_label} | {'yes' if deflate else 'no'} | {label} "
                        f"| {best:,.0f} | {median:,.0f} | {median / base:.2f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
