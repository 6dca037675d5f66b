"""The ceiling: a raw uvloop asyncio.Protocol, no HTTP parsing and no ASGI.

It counts requests by counting b"\\r\\n\\r\\n" in what arrives (a terminator split across two
reads is still counted once) and answers each with one canned 13-byte "Hello, world!" response;
for pipelined requests it answers as many as arrived, in one write. It is only meaningful for
scenarios whose requests carry no body and whose answer is that text (S1, S2, S4).

    python ceiling.py --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop

RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"server: ceiling\r\n"
    b"content-type: text/plain\r\n"
    b"content-length: 13\r\n"
    b"\r\n"
    b"Hello, world!"
)


class Canned(asyncio.Protocol):
    __slots__ = ("transport", "tail")

    def connection_made(self, transport):
        self.transport = transport
        self.tail = b""

    def data_received(self, data):
        buf = self.tail + data if self.tail else data
        n = buf.count(b"\r\n\r\n")
        self.tail = buf[-3:]
        if n:
            # a terminator never overlaps the kept tail twice: drop the tail after a hit
            if buf.endswith(b"\r\n\r\n"):
                self.tail = b""
            self.transport.write(RESPONSE * n if n > 1 else RESPONSE)

    def connection_lost(self, exc):
        self.transport = None


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Canned, host, port, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port))
