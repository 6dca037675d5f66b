"""The WebSocket shell alone: CPU per echoed message over an in-memory transport, no sockets.

    python bench/bench_ws_shell.py                     # 64 connections, 256 B text messages
    python bench/bench_ws_shell.py --pure-shell        # the plain-Python shell, compiled core

Strategy: the evidence for compiling `sailfish.protocols.websocket` with the shell. C
connections are upgraded through the HTTP protocol and sailfish's upgrade handler, as in the
server; each gets a fake transport whose write() answers like an echo client: once the echo of
its message is written it hands the protocol the next masked client frame through
loop.call_soon, as a socket read would arrive in a later loop iteration. The app is an ASGI
echo loop. The figure is process CPU time over messages echoed, best of a few runs, for
whichever shell and core twins are active (printed first).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from sailfish.config import Config  # noqa: E402
from sailfish.protocols import COMPILED  # noqa: E402
from sailfish.state import ServerState  # noqa: E402
from sailfish.ws import IMPLEMENTATION  # noqa: E402
from transport import MockTransport  # noqa: E402

UPGRADE = (
    b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(payload: bytes) -> bytes:
    n = len(payload)
    head = b"\x81" + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + b"\x01\x02\x03\x04" + bytes(b ^ (i % 4 + 1) for i, b in enumerate(payload))


async def echo(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            return


class Transport(MockTransport):
    """A write of an echoed frame makes the client send the next message."""

    def __init__(self, driver: Driver) -> None:
        super().__init__()
        self.driver = driver

    def write(self, data: Any) -> None:
        if bytes(data[:1]) == b"\x81":  # an echoed text frame (the 101 head starts with H)
            driver = self.driver
            driver.echoed += 1
            if driver.echoed >= driver.total:
                driver.done.set()
                return
        asyncio.get_running_loop().call_soon(self.protocol.data_received, self.driver.frame)


class Driver:
    def __init__(self, total: int, size: int) -> None:
        self.total = total
        self.echoed = 0
        self.frame = client_frame(b"m" * size)
        self.done = asyncio.Event()


async def run_once(connections: int, total: int, size: int, pure_shell: bool) -> float:
    # The plain-Python sources run beside a compiled core when imported by module name.
    package = "sailfish.protocols" if pure_shell else "sailfish._shell"
    http1 = importlib.import_module(f"{package}.http1")
    websocket = importlib.import_module(f"{package}.websocket")
    if not COMPILED and not pure_shell:
        http1 = importlib.import_module("sailfish.protocols.http1")
        websocket = importlib.import_module("sailfish.protocols.websocket")
    HTTPProtocol = http1.HTTPProtocol  # noqa: N806
    config = Config.from_options(echo, ws_ping_interval=None, access_log=False)
    config.load()
    state = ServerState()
    handler = websocket.upgrade_handler(config)
    driver = Driver(total, size)
    loop = asyncio.get_running_loop()
    for _ in range(connections):
        protocol = HTTPProtocol(
            config=config,
            server_state=state,
            app_state={},
            _loop=loop,
            upgrades={b"websocket": handler},
        )
        transport = Transport(driver)
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(UPGRADE)
    begin = time.process_time()
    await driver.done.wait()
    spent = time.process_time() - begin
    for connection in list(state.connections):
        connection.transport.protocol = None
        connection.abort()
    for task in list(state.tasks):
        task.cancel()
    return spent / driver.echoed * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pure-shell", action="store_true", help="the plain-Python shell over the active core"
    )
    args = parser.parse_args()
    compiled = COMPILED and not args.pure_shell
    print(f"shell compiled: {compiled}; WebSocket core: {IMPLEMENTATION}")
    best = min(
        asyncio.run(run_once(args.connections, args.messages, args.size, args.pure_shell))
        for _ in range(args.runs)
    )
    print(f"{args.size} B text echo, {args.connections} connections: {best:.2f} us CPU/message")


if __name__ == "__main__":
    main()
