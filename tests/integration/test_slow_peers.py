"""Slow peers over real sockets: trickled heads, a client that stops reading, one that leaves.

What test_wire.py already covers is not repeated here (a lone trickled head gets 408, trickling
does not extend the deadline, a slow reader gets a large response whole). This file covers what
a slow peer must not do to the rest of the server, each limit from both sides:
- slowloris: heads trickled by several connections are cut by the header-read timeout (408,
  `connection: close`, then EOF), never before it; a head trickled within the timeout is
  served; a normal client is answered all along.
- write flow control: a client that stops reading a large streamed response makes the app's
  `send` wait (the server stops producing) with the transport holding no more than its
  high-water mark plus one write; reading again resumes it and the body arrives whole, and the
  connection serves its next request.
- a slow reader that disconnects while the app waits in `send`: the app's `send` fails, its task
  ends and the connection leaves the server, and the server goes on.
- the write deadline (--timeout-write): a peer that reads nothing is reset once it has taken
  nothing for the timeout (HTTP streaming, a pipelined request held meanwhile, a pathsend file,
  WebSocket); one that reads a little every 0.1 s is never cut, though the transport stays
  paused throughout.
Pacing comes from real round trips (a normal request between two trickled bytes), never sleeps;
the one exception is the steady reader, whose reading rate is what is tested: its loop paces it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from apps.raw import RawApp, pattern
from integ_helpers import Conn, assert_bytes, request, wait_for

Serve = Any

CHUNK = 65536


class StreamApp:
    """GET /stream?n=N: N body messages of CHUNK bytes (pattern order), counted as they go.

    Anything else: "ok". Records each `send` failure; `done` is set when a stream ends either way.
    """

    def __init__(self) -> None:
        self.sent = 0  # body messages `send` has returned from
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        count = int(scope["query_string"].decode().partition("=")[2])
        body = pattern(count * CHUNK)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        try:
            for i in range(count):
                part = body[i * CHUNK : (i + 1) * CHUNK]
                await send({"type": "http.response.body", "body": part, "more_body": True})
                self.sent += 1
            await send({"type": "http.response.body", "body": b""})
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.done.set()


def only_connection(running: Any) -> Any:
    wait_for(lambda: len(running.server.server_state.connections) == 1, what="one connection")
    return next(iter(running.server.server_state.connections))


def blocked_in_send(running: Any, conn: Any) -> bool:
    """The exact condition: the transport paused us and the app waits in drain()."""
    return bool(running.on_loop(lambda: conn.write_paused and conn.drain_waiters))


# -- slowloris -------------------------------------------------------------------------------------


def test_trickled_heads_get_408_at_the_header_timeout_while_others_are_served(
    serve: Serve, loop_name: str
) -> None:
    timeout = 0.6
    running = serve(RawApp(), timeout_header_read=timeout, timeout_keep_alive=30, loop=loop_name)
    trickled = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400
    slow = [Conn(running.port) for _ in range(8)]
    normal = Conn(running.port)
    try:
        begin = time.monotonic()
        for conn in slow:
            conn.send(trickled[:1])  # the deadline runs from the first byte
            conn.sock.settimeout(0)
        open_ = set(range(len(slow)))
        closed_after: dict[int, float] = {}
        answered = 0
        sent = 1
        while open_ and time.monotonic() - begin < timeout + 5:
            # Trickle for the first half of the timeout only: a byte sent after the server
            # closed would be answered with a reset, which may drop the 408 before we read it.
            trickle = time.monotonic() - begin < timeout / 2 and sent < len(trickled)
            for i in list(open_):
                try:
                    if not slow[i]._fill():
                        open_.discard(i)
                        closed_after[i] = time.monotonic() - begin
                        continue
                except (BlockingIOError, InterruptedError):
                    pass
                if trickle:
                    slow[i].send(trickled[sent : sent + 1])
            sent += trickle
            # A normal request between two trickled bytes: answered while they hang on.
            normal.send(request("GET", f"/n{answered}"))
            assert normal.read_response().body == b"hello /n%d" % answered
            answered += 1
        assert not open_, f"{len(open_)} trickling connection(s) never closed"
        for i, conn in enumerate(slow):
            assert conn.buffer.startswith(b"HTTP/1.1 408 "), conn.buffer[:80]
            assert b"connection: close" in conn.buffer.lower()
            # Never before the timeout (armed after our first byte left; uvloop's clock counts
            # whole milliseconds, hence the slack), and not long after.
            assert timeout - 0.01 <= closed_after[i] < timeout + 4, closed_after[i]
        assert answered > len(slow)
        # The normal client's connection survived it all.
        normal.send(request("GET", "/after"))
        assert normal.read_response().body == b"hello /after"
    finally:
        for conn in [*slow, normal]:
            conn.close()


def test_head_trickled_within_the_header_timeout_is_served(serve: Serve) -> None:
    running = serve(RawApp(), timeout_header_read=5.0, timeout_keep_alive=30)
    head = request("GET", "/trickled", [("X-Pad", "p" * 50)])
    with Conn(running.port) as conn, Conn(running.port) as pace:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(head)):
            conn.send(head[i : i + 1])
            pace.send(request("GET", "/pace"))  # a round trip between two bytes
            assert pace.read_response().status == 200
        assert conn.read_response().body == b"hello /trickled"


# -- write flow control ----------------------------------------------------------------------------


def read_exactly(conn: Conn, size: int) -> bytes:
    """`size` body bytes, read in whatever pieces the small receive buffer gives."""
    body = bytearray(conn.buffer[:size])
    conn.buffer = conn.buffer[size:]
    while len(body) < size:
        piece = conn.sock.recv(min(262144, size - len(body)))
        assert piece, f"closed after {len(body)} of {size} body bytes"
        body += piece
    return bytes(body)


def test_a_peer_that_stops_reading_stops_the_app_until_it_reads_again(
    serve: Serve, loop_name: str
) -> None:
    app = StreamApp()
    count = 256  # 16 MiB: more than the kernel's socket buffers hold (Linux: ~4 MiB)
    running = serve(app, loop=loop_name)
    with Conn(running.port, timeout=10) as client:
        client.send(request("GET", f"/stream?n={count}"))
        server_conn = only_connection(running)
        wait_for(lambda: blocked_in_send(running, server_conn), timeout=10, what="send to block")
        sent = app.sent
        assert sent < count, "the app produced the whole body for a peer that reads nothing"

        def buffered() -> tuple[int, int, int]:
            transport = server_conn.transport
            high = transport.get_write_buffer_limits()[1]
            return transport.get_write_buffer_size(), server_conn.out_size, high

        size, collected, high = running.on_loop(buffered)
        # Paused at the transport's high-water mark, past it by at most the write that crossed
        # it (one body message and its framing); nothing more is collected meanwhile.
        assert 0 < size <= high + CHUNK + 64, (size, high)
        assert collected == 0
        assert app.sent == sent and not app.done.is_set(), "the app went on while paused"

        # Reading again resumes the app: the whole body arrives, then the next request.
        head = client.read_head()
        assert head.status == 200
        assert_bytes(read_exactly(client, count * CHUNK), pattern(count * CHUNK))
        assert app.done.wait(5) and app.sent == count and not app.errors
        client.send(request("GET", "/next"))
        assert client.read_response().body == b"ok"


def test_a_slow_reader_that_disconnects_frees_everything(serve: Serve, loop_name: str) -> None:
    app = StreamApp()
    running = serve(app, loop=loop_name)
    client = Conn(running.port, timeout=10)
    client.send(request("GET", "/stream?n=256"))
    server_conn = only_connection(running)
    wait_for(lambda: blocked_in_send(running, server_conn), timeout=10, what="send to block")
    # Gone with a reset, unread bytes and all.
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    assert app.done.wait(5), "the app stayed blocked in send() after its client left"
    assert app.errors and isinstance(app.errors[0], OSError), app.errors
    state = running.server.server_state
    wait_for(lambda: not state.connections and not state.tasks, what="connection and task freed")

    def leftovers() -> tuple[int, int, bool]:
        return (len(server_conn.drain_waiters), server_conn.out_size, server_conn.closing)

    assert running.on_loop(leftovers) == (0, 0, True)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/still-serving"))
        assert conn.read_response().body == b"ok"


def test_a_response_the_buffers_take_never_blocks_the_app(serve: Serve) -> None:
    """The other side of the limit: a body message that fits in the buffers goes out while the
    client has not read a byte yet; `send` does not wait for the client."""
    app = StreamApp()
    running = serve(app)
    with Conn(running.port) as client:
        client.send(request("GET", "/stream?n=1"))
        assert app.done.wait(5), "send() blocked on a response the buffers can take"
        assert app.sent == 1 and not app.errors
        assert_bytes(client.read_response().body, pattern(CHUNK))


# -- the write deadline (--timeout-write) ----------------------------------------------------------

WRITE_TIMEOUT = 0.5


def reset_by_server(client: Conn, timeout: float = 10.0) -> bool:
    """Read what the kernel kept for us until the server's reset (True) or an EOF (False)."""
    client.sock.settimeout(timeout)
    try:
        while client.sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return True
    return False


def test_a_peer_that_reads_nothing_is_reset_at_the_write_timeout(
    serve: Serve, loop_name: str
) -> None:
    app = StreamApp()
    running = serve(app, loop=loop_name, timeout_write=WRITE_TIMEOUT)
    with Conn(running.port, timeout=10) as client:
        asked = time.monotonic()
        client.send(request("GET", "/stream?n=256"))
        server_conn = only_connection(running)
        wait_for(lambda: blocked_in_send(running, server_conn), timeout=10, what="send to block")
        assert app.done.wait(WRITE_TIMEOUT + 5), "the app stayed blocked in send()"
        # Not before the deadline (armed after the request left; uvloop's clock counts whole
        # milliseconds), and the app's next send() failed as after any disconnect.
        assert time.monotonic() - asked >= WRITE_TIMEOUT - 0.01
        assert app.errors and isinstance(app.errors[0], OSError), app.errors
        assert 0 < app.sent < 256
        state = running.server.server_state
        wait_for(lambda: not state.connections and not state.tasks, what="connection freed")

        def leftovers() -> tuple[int, int, bool]:
            return (len(server_conn.drain_waiters), server_conn.out_size, server_conn.closing)

        assert running.on_loop(leftovers) == (0, 0, True)
        # The socket is gone with a reset: the kernel dropped what we left unread.
        assert reset_by_server(client)
    with Conn(running.port) as conn:
        conn.send(request("GET", "/still-serving"))
        assert conn.read_response().body == b"ok"


async def read_steadily(
    port: int, size: int, per_turn: int, every: float, paused: Callable[[], None], read: Any
) -> tuple[bytes, float]:
    """A client that reads at most `per_turn` bytes every `every` seconds (its loop paces it):
    `size` bytes of a /stream response's body, once `paused()` has returned, then calls
    `read()` and aborts. Returns (body, seconds the reading took)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, per_turn)  # the kernel holds little
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=per_turn // 2)
    writer.write(request("GET", "/stream?n=256"))
    await reader.readuntil(b"\r\n\r\n")
    paused()  # blocks this client's loop: nothing is read meanwhile
    begin = loop.time()
    body = bytearray()
    while len(body) < size:
        body += await reader.read(min(per_turn, size - len(body)))
        await asyncio.sleep(every)
    took = loop.time() - begin
    read()
    writer.transport.abort()
    return bytes(body), took


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="elsewhere the server sees a slow reader only when its socket buffer takes more",
)
def test_a_peer_that_reads_steadily_is_never_cut(serve: Serve, loop_name: str) -> None:
    """Reading a little every 0.1 s keeps the connection for many write timeouts, though the
    transport stays paused all along (the kernel's buffer is far from empty): the deadline
    sees the kernel pass bytes on."""
    app = StreamApp()
    running = serve(app, loop=loop_name, timeout_write=WRITE_TIMEOUT)
    server: list[Any] = []
    after: list[Any] = []

    def paused() -> None:
        server.append(only_connection(running))
        wait_for(lambda: blocked_in_send(running, server[0]), timeout=10, what="send to block")

    def read() -> None:
        after.extend([list(app.errors), app.sent, blocked_in_send(running, server[0])])

    size = 12 * CHUNK  # 768 KiB at 64 KiB per 0.1 s: twice the write timeout and more
    body, took = asyncio.run(read_steadily(running.port, size, CHUNK, 0.1, paused, read))
    assert_bytes(body, pattern(size))
    assert took > 2 * WRITE_TIMEOUT, took  # the limit passed, more than once, while reading
    errors, sent, blocked = after
    # Never cut; the app was held back all along (the transport paused).
    assert not errors and sent < 256 and blocked, after
    assert app.done.wait(5) and app.errors  # until this client aborted


class HeldApp:
    """GET /big: one 8 MiB body message (the app is done; the transport holds the rest).
    Anything else: "ok", recording the path (a held request must never get here)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.paths.append(scope["path"])
        body = pattern(8 << 20) if scope["path"] == "/big" else b"ok"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def test_a_pipelined_request_held_for_a_peer_that_reads_nothing_is_cut(
    serve: Serve, loop_name: str
) -> None:
    app = HeldApp()
    running = serve(app, loop=loop_name, timeout_write=WRITE_TIMEOUT)
    with Conn(running.port, timeout=10) as client:
        client.send(request("GET", "/big") + request("GET", "/next"))
        server_conn = only_connection(running)

        def held() -> bool:
            return bool(running.on_loop(lambda: server_conn.held and server_conn.write_paused))

        wait_for(held, timeout=10, what="the second request held")
        state = running.server.server_state
        wait_for(lambda: not state.connections, timeout=WRITE_TIMEOUT + 5, what="the cut")
        assert app.paths == ["/big"]  # the held request never ran
        assert not state.tasks
        assert reset_by_server(client)


class FloodingWebSocket:
    """Accepts, then sends 64 KiB messages until `send` fails (recorded; `done` set)."""

    def __init__(self) -> None:
        self.sent = 0
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send", "bytes": pattern(CHUNK)})
                self.sent += 1
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.done.set()


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_a_websocket_peer_that_reads_nothing_is_reset_at_the_write_timeout(
    serve: Serve, loop_name: str
) -> None:
    app = FloodingWebSocket()
    running = serve(app, loop=loop_name, timeout_write=WRITE_TIMEOUT, ws_ping_interval=None)
    with Conn(running.port, timeout=10) as client:
        client.send(UPGRADE)
        assert client.read_head().status == 101
        assert app.done.wait(WRITE_TIMEOUT + 10), "the app stayed blocked in send()"
        assert app.errors and isinstance(app.errors[0], OSError), app.errors
        assert app.sent > 1  # it sent until the buffers were full, then waited
        state = running.server.server_state
        wait_for(lambda: not state.connections and not state.tasks, what="connection freed")
        assert reset_by_server(client)


def test_an_upgrade_behind_a_response_the_peer_does_not_read_is_cut_at_the_write_timeout(
    serve: Serve, loop_name: str
) -> None:
    """The response before the upgrade fills the buffers, so the transport is paused when the
    WebSocket protocol takes it over: the app's accept waits for the transport, and the write
    deadline runs for the new protocol as it did for the old (the transport does not pause
    it again)."""
    heard: list[Any] = []
    done = threading.Event()
    size = 32 << 20  # more than the kernel's buffers hold

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(b"content-length", str(size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": bytes(size)})
            return
        if scope["type"] != "websocket":
            return
        try:
            await receive()
            await send({"type": "websocket.accept"})
            heard.append(await receive())
        except BaseException as exc:
            heard.append(exc)
            raise
        finally:
            done.set()

    running = serve(app, loop=loop_name, timeout_write=WRITE_TIMEOUT, ws_ping_interval=None)
    from sailfish.protocols import WebSocketProtocol

    with Conn(running.port, timeout=10) as client:
        client.send(request("GET", "/big") + UPGRADE)
        state = running.server.server_state

        def accept_waits() -> bool:
            return any(
                isinstance(c, WebSocketProtocol) and c.write_paused and c.drain_waiters
                for c in state.connections
            )

        wait_for(lambda: running.on_loop(accept_waits), timeout=10, what="the accept to wait")
        assert done.wait(WRITE_TIMEOUT + 10), "the app stayed blocked in its accept"
        assert len(heard) == 1 and isinstance(heard[0], OSError), heard
        wait_for(lambda: not state.connections and not state.tasks, what="connection freed")
        assert reset_by_server(client)


def test_the_uvicorn_drop_in_has_no_write_deadline() -> None:
    """uvicorn has no such setting: its drop-in keeps uvicorn's behaviour (wait forever)."""
    uvicorn = pytest.importorskip("uvicorn")
    from sailfish.uvicorn import settings_from

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    config = uvicorn.Config(app, log_config=None)
    config.load()
    assert settings_from(config).timeouts.write == 0.0


def test_a_file_for_a_peer_that_reads_nothing_is_cut_at_the_write_timeout(
    serve: Serve, loop_name: str, tmp_path: Any
) -> None:
    """`http.response.pathsend` (os.sendfile, waiting for the socket): the same deadline."""
    path = tmp_path / "big.bin"
    path.write_bytes(pattern(32 << 20))  # more than the kernel's buffers hold

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", str(32 << 20).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(path)})

    running = serve(app, loop=loop_name, timeout_write=WRITE_TIMEOUT)
    with Conn(running.port, timeout=10) as client:
        client.send(request("GET", "/file"))
        assert client.read_head().status == 200
        state = running.server.server_state
        wait_for(lambda: not state.connections, timeout=WRITE_TIMEOUT + 10, what="the cut")
        wait_for(lambda: not state.tasks, what="the app's task ended")
        assert reset_by_server(client)
