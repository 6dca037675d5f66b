"""What permessage-deflate costs a WebSocket server: memory per connection, CPU per message.

Strategy: the evidence behind `--ws-per-message-deflate`'s default. Through the core's own API
(`negotiate_deflate`, `FrameWriter`, `FrameParser`, whichever twin is active), it measures
(1) the resident memory that N connections' negotiated deflate state adds once each has sent
and received one message (the zlib streams allocate on first use), against N connections
without it, and (2) the CPU time per message to frame one server message and parse one client
message, with and without deflate, for a 256-byte JSON-like text and a 16 KiB one. Linux only
(reads /proc/self/statm). Deflate is measured with zlib's defaults and with the settings
the server negotiates (`sailfish.protocols.websocket.DEFLATE_SETTINGS`). Not part of
`make test`: `python bench/bench_ws_deflate.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from typing import Any

from sailfish.protocols import websocket
from sailfish.ws import IMPLEMENTATION, FrameParser, FrameWriter, negotiate_deflate

OFFER = b"permessage-deflate; client_max_window_bits"


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sample(size: int) -> str:
    item = {"id": 12345, "user": "someone@example.org", "text": "hello world, " * 8, "ok": True}
    text = json.dumps([item] * (size // 150 + 1))
    return text[:size]


def client_frame(payload: bytes, rsv1: bool) -> bytes:
    """A masked client text frame (mask of zeros: the bytes stay readable)."""
    head = bytes([0xC1 if rsv1 else 0x81])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


# What each row negotiates: nothing, zlib's defaults, and what the server asks for.
SETTINGS: dict[str, dict[str, Any] | None] = {
    "off": None,
    "zlib defaults": {},
    "server's": websocket.DEFLATE_SETTINGS,
}


def memory_per_connection(count: int, settings: dict[str, Any] | None) -> float:
    deflate = settings is not None
    message = {"type": "websocket.send", "text": sample(256)}
    compressor = zlib.compressobj(wbits=-(settings or {}).get("client_max_window_bits", 15))
    data = compressor.compress(message["text"].encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    if deflate:
        incoming = client_frame(data[:-4], True)
    else:
        incoming = client_frame(message["text"].encode(), False)
    keep: list[Any] = []
    before = rss()
    for _ in range(count):
        negotiated = negotiate_deflate(OFFER, **settings) if settings is not None else None
        state = negotiated[1] if negotiated is not None else None
        writer = FrameWriter(deflate=state)
        parser = FrameParser(deflate=state)
        writer.send(message)
        parser.feed(incoming)
        keep.append((writer, parser))
    return (rss() - before) / count


def cpu_per_message(size: int, settings: dict[str, Any] | None, rounds: int) -> tuple[float, float]:
    deflate = settings is not None
    negotiated = negotiate_deflate(OFFER, **settings) if settings is not None else None
    state = negotiated[1] if negotiated is not None else None
    writer = FrameWriter(deflate=state)
    parser = FrameParser(max_message_size=1 << 24, deflate=state)
    text = sample(size)
    message = {"type": "websocket.send", "text": text}
    if deflate:
        window = (settings or {}).get("client_max_window_bits", 15)
        compressor = zlib.compressobj(wbits=-window)
        frames = []
        for _ in range(rounds):
            data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
            frames.append(client_frame(data[:-4], True))
    else:
        frames = [client_frame(text.encode(), False)] * rounds
    begin = time.process_time()
    for _ in range(rounds):
        writer.send(message)
    send_us = (time.process_time() - begin) / rounds * 1e6
    begin = time.process_time()
    for frame in frames:
        parser.feed(frame)
    receive_us = (time.process_time() - begin) / rounds * 1e6
    return send_us, receive_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5000)
    args = parser.parse_args()
    print(f"sailfish.ws twin: {IMPLEMENTATION}; zlib {zlib.ZLIB_RUNTIME_VERSION}")
    for name, settings in SETTINGS.items():
        kib = memory_per_connection(args.connections, settings) / 1024
        print(f"memory per connection, deflate {name:>13}: {kib:7.1f} KiB")
    for size in (256, 16384):
        for name, settings in SETTINGS.items():
            send_us, receive_us = cpu_per_message(size, settings, args.rounds)
            print(
                f"{size:6d} B text, deflate {name:>13}: "
                f"send {send_us:7.2f} us, receive {receive_us:7.2f} us per message"
            )


if __name__ == "__main__":
    main()
