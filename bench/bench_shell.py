"""The shell alone: CPU per request of HTTPProtocol over an in-memory transport, no sockets.

    python bench/bench_shell.py                      # S1-S4: sailfish, the drop-in, minimal
    python bench/bench_shell.py --requests 200000 --scenario S1 --protocol sailfish

Strategy: what the end-to-end benchmark cannot separate is how much of a request's CPU is the
shell's Python (the protocol, the request cycle, the task, send/receive) rather than syscalls.
Here C connections each get a fake transport whose write() answers like a keep-alive client:
once a response is complete it hands the protocol the next request through loop.call_soon, as
a socket read would arrive in a later loop iteration (S1: one GET; S2: the 717-byte browser
GET; S3: a 4 KiB POST the app reads; S4: 16 pipelined GETs in one packet). The app is
bench/e2e/app.py, the one the end-to-end servers run (`wsgi`: `--interface wsgi` serving
bench/e2e/wsgi_app.py on its thread pool, as the WSGI benchmark does). The figure is process
CPU time (every thread's) over requests answered, best of a few runs; callgrind runs this
file too, for instruction counts that do not drift (`valgrind --tool=callgrind python
bench/bench_shell.py --requests 20000 --runs 1`; `--access-log` adds sailfish's access line,
to a NullHandler, so the logging path is measured too). `minimal` is a reference, not a
server: our core and a Task per request with none of the shell's duties, so the distance to
it is what those duties cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "e2e"))
sys.path.insert(0, str(HERE.parent / "tests"))

from app import app  # noqa: E402

from sailfish.config import Config  # noqa: E402
from sailfish.state import ServerState  # noqa: E402
from transport import MockTransport  # noqa: E402

GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
PIPELINED = GET * 16
POST = (
    b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096
)
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\n"


class Transport(MockTransport):
    """The suite's mock transport (tests/transport.py); a response ending sends the next request."""

    def __init__(self, driver: Driver, payload: bytes, per_payload: int) -> None:
        super().__init__(can_half_close=True)
        self.driver = driver
        self.payload = payload
        self.per_payload = per_payload
        self.pending = 0

    def write(self, data: bytes) -> None:
        # Counted here, not kept: one Python call per write, as a real transport's is.
        done = data.count(RESPONSE_HEAD)
        self.pending -= done
        self.driver.answered += done
        if self.pending == 0 and self.driver.answered < self.driver.target:
            self.driver.loop.call_soon(self.send)

    def send(self) -> None:
        self.pending = self.per_payload
        self.protocol.data_received(self.payload)


class Driver:
    def __init__(self, loop: asyncio.AbstractEventLoop, target: int) -> None:
        self.loop = loop
        self.target = target
        self.answered = 0


class MinimalProtocol:
    """A reference, not a server: our core and one Task per request, with none of the shell.

    No flow control, deadlines, pipelining order, errors, 100-continue, disconnects or
    proxy headers: the distance between it and HTTPProtocol is what the shell's duties cost.
    """

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        from sailfish.http import RequestParser, ResponseWriter

        self.transport = transport
        self.parser = RequestParser(
            client=("127.0.0.1", 50000), server=("127.0.0.1", 8000), scheme="http", root_path=""
        )
        self.writer = ResponseWriter(server_header=b"sailfish", date_header=True)

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        for event in self.parser.feed(data):
            if type(event) is not dict:
                self.loop.create_task(self.app(event.scope, self.receive, self.send))

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.writer.start(message, "GET", "1.1", True)
        else:
            self.transport.write(self.writer.body(message))


# sailfish's access-log options (main() sets them from --access-log / --access-log-format).
ACCESS: dict[str, Any] = {"access_log": False}


# The --interface wsgi config of the current run: one pool shared by its connections.
WSGI_CONFIG: list[Config] = []


def make_protocol(kind: str, loop: asyncio.AbstractEventLoop) -> Any:
    if kind == "wsgi":
        from wsgi_app import app as wsgi_app

        from sailfish.protocols import HTTPProtocol

        if not WSGI_CONFIG:
            config = Config(app=wsgi_app, interface="wsgi", lifespan="off", **ACCESS)
            config.load()
            WSGI_CONFIG.append(config)
        return HTTPProtocol(config=WSGI_CONFIG[0], server_state=ServerState(), _loop=loop)
    if kind in ("sailfish", "metrics"):  # metrics: sailfish counting as --metrics-bind does
        from sailfish.metrics import Metrics
        from sailfish.protocols import HTTPProtocol

        config = Config(app=app, lifespan="off", **ACCESS)
        config.load()
        state = ServerState(metrics=Metrics() if kind == "metrics" else None)
        return HTTPProtocol(config=config, server_state=state, _loop=loop)
    if kind == "minimal":
        return MinimalProtocol(app, loop)
    import uvicorn
    from sailfish.uvicorn import HTTPProtocol as DropIn

    config = uvicorn.Config(app, access_log=False, lifespan="off", log_level="warning")
    config.load()
    from uvicorn.server import ServerState as UvState

    return DropIn(config=config, server_state=UvState(), app_state={}, _loop=loop)


def run_once(kind: str, scenario: str, requests: int, connections: int) -> float:
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    payload, per = {
        "S1": (GET, 1),
        "S2": ((HERE / "s2_browser.http").read_bytes(), 1),
        "S3": (POST, 1),
        "S4": (PIPELINED, 16),
    }[scenario]
    driver = Driver(loop, requests)

    async def main() -> float:
        transports = []
        for _ in range(connections):
            transport = Transport(driver, payload, per)
            protocol = make_protocol(kind, loop)
            transport.protocol = protocol
            protocol.connection_made(transport)
            transports.append(transport)
        start = time.process_time()
        for transport in transports:
            transport.send()
        while driver.answered < driver.target:
            await asyncio.sleep(0.001)
        elapsed = time.process_time() - start
        if WSGI_CONFIG:  # the requests still on the pool's threads answer before the loop ends
            crew = WSGI_CONFIG[0].wsgi.pool.crew
            while crew.waiting or crew.idle < len(crew.threads):
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.01)
        for transport in transports:
            transport.protocol.connection_lost(None)
        return elapsed / driver.answered * 1e6

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
        if WSGI_CONFIG:
            WSGI_CONFIG.pop().wsgi.pool.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scenario", default="S1,S2,S3,S4")
    p.add_argument(
        "--protocol",
        default="sailfish,uvicorn,minimal",
        help="sailfish, metrics (sailfish with --metrics-bind's counting), uvicorn, minimal, "
        "wsgi (sailfish --interface wsgi, bench/e2e/wsgi_app.py)",
    )
    p.add_argument(
        "--access-log",
        action="store_true",
        help="sailfish logs each response on sailfish.access (to a NullHandler)",
    )
    p.add_argument("--access-log-format", help="sailfish's --access-log-format (with --access-log)")
    a = p.parse_args()
    if a.access_log:
        import logging

        access = logging.getLogger("sailfish.access")
        access.handlers = [logging.NullHandler()]
        access.setLevel(logging.INFO)
        access.propagate = False
        ACCESS["access_log"] = True
        if a.access_log_format is not None:
            ACCESS["access_log_format"] = a.access_log_format
    for scenario in a.scenario.split(","):
        for kind in a.protocol.split(","):
            best = min(run_once(kind, scenario, a.requests, a.connections) for _ in range(a.runs))
            print(f"{scenario} {kind:<9} {best:6.2f} µs/request (CPU, best of {a.runs})")


if __name__ == "__main__":
    main()
