"""HTTPProtocol with --interface wsgi over the in-memory transport: the hand-overs counted.

Strategy: the promises about wake-ups and writes cannot be seen on a socket, so here the loop's
`call_soon_threadsafe` and the pool's `submit_many` are wrapped to count their calls, and the
mock transport counts writes: a small response is one thread-to-loop hand-over and one write,
and the requests parsed in one loop iteration reach the pool in one hand-over. The app runs on
the real worker threads; waits poll the transport with a bound.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from wsgiref.validate import validator

import pytest

from sailfish.config import Config
from sailfish.protocols import HTTPProtocol
from sailfish.state import ServerState
from transport import MockTransport
from waiting import until

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello ", environ["PATH_INFO"].encode("latin-1")]


async def serve(wsgi_app: Any) -> tuple[HTTPProtocol, MockTransport, Config]:
    config = Config(app=wsgi_app, interface="wsgi", access_log=False, lifespan="off")
    config.load()
    protocol = HTTPProtocol(config, ServerState(), _loop=asyncio.get_running_loop())
    transport = MockTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport, config


def sized_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = b"hello " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize(
    "wsgi_app",
    [
        # A list: everything is in memory, so it is handed over whole.
        pytest.param(app, id="list"),
        # Any iterable (the validator wraps the list) whose Content-Length is reached by a
        # chunk: the end goes with that chunk.
        pytest.param(validator(sized_app), id="iterable_with_content_length"),
    ],
)
def test_small_response_is_one_wake_up_and_one_write(wsgi_app: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol, transport, _ = await serve(wsgi_app)
        wakes: list[Any] = []
        original = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
            wakes.append(callback)
            return original(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        try:
            protocol.data_received(GET)
            await until(lambda: transport.buffer.endswith(b"hello /"))
        finally:
            del loop.call_soon_threadsafe
        assert transport.writes == 1
        assert len(wakes) == 1
        assert b"content-length: 7\r\n" in bytes(transport.buffer).lower()
        protocol.connection_lost(None)

    asyncio.run(main())


def test_pipelined_requests_reach_the_pool_in_one_hand_over() -> None:
    async def main() -> None:
        protocol, transport, config = await serve(app)
        pool = config.wsgi.pool
        batches: list[int] = []
        original = pool.submit_many

        def counting(jobs: list[Any]) -> None:
            batches.append(len(jobs))
            original(jobs)

        pool.submit_many = counting
        requests = [GET.replace(b"/ ", f"/{n} ".encode()) for n in range(3)]
        protocol.data_received(b"".join(requests))
        await until(lambda: bytes(transport.buffer).count(b"HTTP/1.1 200") == 3)
        body = bytes(transport.buffer)
        assert body.index(b"hello /0") < body.index(b"hello /1") < body.index(b"hello /2")
        # Pipelined requests are answered one after another: each is handed over when the
        # one before it is complete, never two of one connection at once.
        assert batches == [1, 1, 1]
        protocol.connection_lost(None)

    asyncio.run(main())


def test_requests_of_one_iteration_share_a_hand_over() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        config = Config(app=app, interface="wsgi", access_log=False, lifespan="off")
        config.load()
        state = ServerState()
        pairs = []
        for _ in range(4):
            protocol = HTTPProtocol(config, state, _loop=loop)
            transport = MockTransport()
            transport.protocol = protocol
            protocol.connection_made(transport)
            pairs.append((protocol, transport))
        pool = config.wsgi.pool
        batches: list[int] = []
        original = pool.submit_many

        def counting(jobs: list[Any]) -> None:
            batches.append(len(jobs))
            original(jobs)

        pool.submit_many = counting
        for protocol, _ in pairs:  # four connections' requests in one loop iteration
            protocol.data_received(GET)
        await until(lambda: all(t.buffer.endswith(b"hello /") for _, t in pairs))
        assert batches == [4]
        for protocol, _ in pairs:
            protocol.connection_lost(None)

    asyncio.run(main())


def test_a_full_queue_pauses_the_transport_only_once_bytes_come() -> None:
    release = threading.Event()

    def blocking_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/block":
            assert release.wait(10)
        return app(environ, start_response)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        config = Config(
            app=blocking_app, interface="wsgi", wsgi_threads=1, access_log=False, lifespan="off"
        )
        config.load()
        state = ServerState()
        pairs = []
        for _ in range(3):
            protocol = HTTPProtocol(config, state, _loop=loop)
            transport = MockTransport()
            transport.protocol = protocol
            protocol.connection_made(transport)
            pairs.append((protocol, transport))
        # One loop iteration: the first request takes the only thread, the other two queue
        # behind it, past the thread count.
        pairs[0][0].data_received(GET.replace(b"/ ", b"/block "))
        pairs[1][0].data_received(GET.replace(b"/ ", b"/1 "))
        pairs[2][0].data_received(GET.replace(b"/ ", b"/2 "))
        await asyncio.sleep(0)  # the hand-over to the pool
        stalled = [p for p, _ in pairs if p.read_paused]
        assert stalled == [pairs[1][0], pairs[2][0]]
        # Not read any more, but the transports were left reading: nothing came.
        assert not any(t.read_paused for _, t in pairs)
        # Bytes on a stalled connection: kept back unparsed, and now its transport pauses.
        pairs[1][0].data_received(GET.replace(b"/ ", b"/1b "))
        assert pairs[1][1].read_paused
        assert pairs[1][0].backlog == GET.replace(b"/ ", b"/1b ")
        release.set()
        await until(lambda: all(b"hello /" in t.buffer for _, t in pairs))
        await until(lambda: pairs[1][1].buffer.endswith(b"hello /1b"))
        assert bytes(pairs[1][1].buffer).count(b"HTTP/1.1 200") == 2
        await until(lambda: not any(p.read_paused or t.read_paused for p, t in pairs))
        for protocol, _ in pairs:
            protocol.connection_lost(None)

    asyncio.run(main())
