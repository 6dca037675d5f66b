"""The soak's load that wrk cannot make: WebSocket sessions and rude HTTP clients.

    python bench/e2e/soak_client.py --asgi-port P [--wsgi-port Q] --duration S

Run by bench/soak.py once per round, beside the wrk processes; prints one JSON line (counts
per kind, and the first few answers that were not what the kind expects) and exits when the
round's time is up. Standard library and uvloop only; uvloop when it imports.

- WebSocket (ASGI server): `--ws-connections` loops, each opening sessions one after another:
  handshake, then 1, 10 or 100 messages echoed one at a time (text of 16 or 200 bytes, binary
  of 1 KiB, one 70,000-byte message in every 50th session: the 64-bit length), then a close
  handshake; every 10th session drops the TCP connection instead of closing (a client that
  vanishes). Each echo is checked byte for byte.
- Rude HTTP, at most `--rude-rate` rounds per second, each round one of every case:
  a POST that promises 4 KiB and leaves after 1 KiB; a connection that sends nothing and
  leaves; a request the server must refuse (Content-Length with Transfer-Encoding: 400 then
  close); a WebSocket handshake followed by a dropped connection; an `Expect: 100-continue`
  upload (100, then the body, then 200); a streamed answer left after its first bytes
  (GET /drip); and in every 5th round an app error (GET /error: 500) and an error after the
  response started (GET /error-late: the server aborts). The WSGI server (with --wsgi-port)
  gets the cases that apply to it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import struct
import time
from collections import Counter

WS_SIZES = (16, 200, 16, 1024)
WS_BIG = 70_000
SESSION_LENGTHS = (1, 10, 100)


class Unexpected(Exception):
    """An answer that is not what the case expects (counted and described, not fatal)."""


class Load:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.counts: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()

    def problem(self, what: str) -> None:
        self.problems[what[:200]] += 1

    @property
    def over(self) -> bool:
        return time.monotonic() >= self.deadline


# --------------------------------------------------------------------------- WebSocket


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (the mask is random per frame, as RFC 6455 asks)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    if not payload:
        return head + mask
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
    return head + mask + masked


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    if second & 0x80:
        raise Unexpected("ws: the server masked a frame")
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return first, await reader.readexactly(size)


async def _handshake(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101 "):
        writer.close()
        status = head.split(b"\r\n", 1)[0]
        raise Unexpected(f"ws handshake answered {status!r}")
    return reader, writer


async def ws_session(load: Load, port: int, number: int) -> None:
    reader, writer = await _handshake(port)
    load.counts["ws_handshake"] += 1
    try:
        messages = SESSION_LENGTHS[number % len(SESSION_LENGTHS)]
        for index in range(messages):
            size = WS_BIG if number % 50 == 49 and index == 0 else WS_SIZES[index % len(WS_SIZES)]
            binary = size == 1024
            payload = (b"b" if binary else b"t") * size
            writer.write(_frame(0x2 if binary else 0x1, payload))
            first, echoed = await _read_frame(reader)
            if first != (0x82 if binary else 0x81) or echoed != payload:
                raise Unexpected(f"ws echo: opcode byte {first:#x}, {len(echoed)} bytes")
            load.counts["ws_message"] += 1
        if number % 10 == 9:  # vanish without a close frame
            load.counts["ws_dropped"] += 1
            return
        writer.write(_frame(0x8, struct.pack("!H", 1000)))
        first, payload = await _read_frame(reader)
        if first != 0x88 or payload[:2] != struct.pack("!H", 1000):
            raise Unexpected(f"ws close: answered opcode byte {first:#x} {payload[:2]!r}")
        if await reader.read(1):
            raise Unexpected("ws close: bytes after the close frame")
        load.counts["ws_closed"] += 1
    finally:
        writer.close()


async def ws_loop(load: Load, port: int, start: int) -> None:
    number = start
    while not load.over:
        try:
            await ws_session(load, port, number)
        except (Unexpected, OSError, asyncio.IncompleteReadError) as exc:
            load.problem(f"{type(exc).__name__}: {exc}")
        number += 1


# --------------------------------------------------------------------------- rude HTTP


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1])


async def _expect_close(reader: asyncio.StreamReader) -> None:
    """Read until the server closes (a refused request: it must close, not wait)."""
    while await reader.read(65536):
        pass


async def mid_body(port: int) -> None:
    """A POST that promises 4 KiB and leaves after 1 KiB."""
    _reader, writer = await _connect(port)
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: soak\r\nContent-Length: 4096\r\n\r\n" + b"x" * 1024
    )
    await writer.drain()
    writer.close()


async def silent(port: int) -> None:
    """Connect, send nothing, leave."""
    _reader, writer = await _connect(port)
    writer.close()


async def refused(port: int) -> None:
    """Content-Length with Transfer-Encoding: 400, then the server closes."""
    reader, writer = await _connect(port)
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: soak\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    try:
        status = await _status(reader)
        if status != 400:
            raise Unexpected(f"refused: answered {status}, want 400")
        await _expect_close(reader)
    finally:
        writer.close()


async def continue_upload(port: int) -> None:
    """Expect: 100-continue, then the body once the server says 100, then 200 "4096"."""
    reader, writer = await _connect(port)
    try:
        writer.write(
            b"POST /upload HTTP/1.1\r\nHost: soak\r\nContent-Length: 4096\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        status = await _status(reader)
        if status != 100:
            raise Unexpected(f"100-continue: answered {status} first, want 100")
        writer.write(b"x" * 4096)
        status = await _status(reader)
        body = await reader.read()
        if status != 200 or not body.endswith(b"4096"):
            raise Unexpected(f"100-continue: answered {status} {body[-20:]!r}")
    finally:
        writer.close()


async def drip_left(port: int) -> None:
    """GET /drip (64 KiB streamed), left after the head."""
    reader, writer = await _connect(port)
    writer.write(b"GET /drip HTTP/1.1\r\nHost: soak\r\n\r\n")
    try:
        status = await _status(reader)
        if status != 200:
            raise Unexpected(f"drip: answered {status}")
    finally:
        writer.close()


async def ws_dropped_at_once(port: int) -> None:
    """A WebSocket handshake, then the TCP connection dropped."""
    _reader, writer = await _handshake(port)
    writer.close()


async def app_error(port: int) -> None:
    """GET /error: 500."""
    reader, writer = await _connect(port)
    try:
        writer.write(b"GET /error HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        status = await _status(reader)
        if status != 500:
            raise Unexpected(f"error: answered {status}, want 500")
        await _expect_close(reader)
    finally:
        writer.close()


async def late_error(port: int) -> None:
    """GET /error-late: a 200 head, part of the body, then the server aborts."""
    reader, writer = await _connect(port)
    try:
        writer.write(b"GET /error-late HTTP/1.1\r\nHost: soak\r\n\r\n")
        status = await _status(reader)
        if status != 200:
            raise Unexpected(f"error-late: answered {status}, want the 200 head")
        await _expect_close(reader)
    except ConnectionResetError:
        pass  # an abort may arrive as a reset
    finally:
        writer.close()


ASGI_CASES = [mid_body, silent, refused, continue_upload, drip_left, ws_dropped_at_once]
WSGI_CASES = [mid_body, silent, refused, continue_upload]
ERROR_CASES_ASGI = [app_error, late_error]
ERROR_CASES_WSGI = [app_error]


async def rude_loop(load: Load, asgi: int, wsgi: int | None, rate: float) -> None:
    targets = [(asgi, "asgi", ASGI_CASES, ERROR_CASES_ASGI)]
    if wsgi is not None:
        targets.append((wsgi, "wsgi", WSGI_CASES, ERROR_CASES_WSGI))
    number = 0
    while not load.over:
        began = time.monotonic()
        for port, name, cases, errors in targets:
            for case in cases + (errors if number % 5 == 0 else []):
                try:
                    await asyncio.wait_for(case(port), 10)
                    load.counts[f"{name}_{case.__name__}"] += 1
                except (Unexpected, OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    load.problem(f"{name} {case.__name__}: {type(exc).__name__}: {exc}")
        number += 1
        await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))


async def main(args: argparse.Namespace) -> dict:
    load = Load(time.monotonic() + args.duration)
    jobs = [ws_loop(load, args.asgi_port, i * 1000003) for i in range(args.ws_connections)]
    jobs.append(rude_loop(load, args.asgi_port, args.wsgi_port, args.rude_rate))
    await asyncio.gather(*jobs)
    return {"counts": dict(load.counts), "problems": dict(load.problems.most_common(10))}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asgi-port", type=int, required=True)
    parser.add_argument("--wsgi-port", type=int)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--ws-connections", type=int, default=8)
    parser.add_argument("--rude-rate", type=float, default=50.0, help="rounds per second")
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse_args()
    try:
        import uvloop

        result = uvloop.run(main(options))
    except ImportError:
        result = asyncio.run(main(options))
    print("SOAKJSON " + json.dumps(result), flush=True)
