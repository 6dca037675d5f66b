# cython: language_level=3
"""The compiled WebSocket load client of the WebSocket benchmark (bench/e2e/ws.py).

Built with Cython against picows' declarations (picows.pxd), so each echoed frame reaches
`on_ws_frame` as a C call, without Python's calling convention. N connections each keep one
message in flight: a message is sent, the server's echo comes back, the next one goes out.

    python -c "import ws_load; ws_load.main()" URL --connections 64 --size 256 \
        --warmup 1 --duration 10 [--binary]

Protocol with the driver, on stdout: "ready" once every connection is open and echoing; then
the driver reads the server's CPU and writes a line to stdin; the client counts echoes for
--duration seconds, prints "done <messages> <seconds> <errors>" and closes every connection;
the driver reads the server's CPU again. So connecting and warming up are outside the window.
"""

import argparse
import asyncio
import sys
import time

from picows import ws_connect

from picows.picows cimport WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport


cdef class EchoClient(WSListener):
    """One connection: resend the message each time its echo has arrived whole."""

    cdef:
        public long long count
        public long long errors
        public bint running
        bytes message
        WSMsgType kind
        WSTransport transport

    def __init__(self, bytes message, bint binary):
        self.message = message
        self.kind = WSMsgType.BINARY if binary else WSMsgType.TEXT
        self.count = 0
        self.errors = 0
        self.running = False

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.msg_type == WSMsgType.CLOSE:
            self.running = False
            self.errors += 1
            transport.disconnect()
            return
        if frame.msg_type == WSMsgType.PING or frame.msg_type == WSMsgType.PONG:
            return
        if not frame.fin:
            return
        self.count += 1
        if self.running:
            transport.send(self.kind, self.message)

    def start(self):
        self.running = True
        self.transport.send(self.kind, self.message)

    def stop(self):
        self.running = False
        if not self.transport.is_disconnected:
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()


async def run(url, connections, size, warmup, duration, binary):
    message = b"x" * size
    clients = []
    for _ in range(connections):
        _, client = await ws_connect(
            lambda: EchoClient(message, binary), url, max_frame_size=size + 1024
        )
        clients.append(client)
    for client in clients:
        client.start()
    await asyncio.sleep(warmup)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    begin_count = sum(client.count for client in clients)
    begin = time.perf_counter()
    await asyncio.sleep(duration)
    end_count = sum(client.count for client in clients)
    elapsed = time.perf_counter() - begin
    errors = sum(client.errors for client in clients)
    print(f"done {end_count - begin_count} {elapsed:.6f} {errors}", flush=True)
    for client in clients:
        client.stop()
    await asyncio.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description="WebSocket echo load (picows, compiled)")
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--binary", action="store_true")
    args = parser.parse_args()
    import uvloop

    uvloop.run(
        run(args.url, args.connections, args.size, args.warmup, args.duration, args.binary)
    )
