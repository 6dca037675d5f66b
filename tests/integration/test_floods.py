"""Floods through real sockets: deep pipelines and WebSocket frame and ping floods stay bounded.

Each test floods one connection of a server running in a thread (conftest `serve`) and watches
the server's own state on its loop (`Running.on_loop`): how many requests wait in the
pipeline, how many messages wait in a WebSocket queue, what the transport holds unwritten,
and whether reading is paused. The bounds asserted are the ones the protocols promise:
MAX_PIPELINE waiting requests or `max_queue` waiting messages, plus what one FEED_SLICE of
input can hold; about HIGH_WATER unwritten. Then the client reads, and every answer must
arrive, in order. bench/floods.py measures the same floods at scale, against peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from sailfish.protocols import (
    FEED_SLICE,
    HIGH_WATER,
    MAX_PIPELINE,
    HTTPProtocol,
    WebSocketProtocol,
)
from waiting import wait_for

TIMEOUT = 10.0
Serve = Callable[..., Any]


def protocol_of(running: Any, kind: type) -> Any:
    """The server's one open connection of class `kind` (read on the loop)."""

    def find() -> Any:
        found = [c for c in running.server.server_state.connections if isinstance(c, kind)]
        return found[0] if len(found) == 1 else None

    holder: list[Any] = []
    wait_for(lambda: holder.append(running.on_loop(find)) or holder[-1] is not None, TIMEOUT)
    return holder[-1]


def shrink_send_buffer(running: Any, protocol: Any) -> None:
    """A small kernel send buffer on the server's side, so its transport fills soon."""
    sock = protocol.transport.get_extra_info("socket")
    running.on_loop(lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096))


def unwritten(running: Any, protocol: Any) -> int:
    """Bytes the server holds for the peer: the transport's buffer and collected writes."""
    return int(
        running.on_loop(lambda: protocol.transport.get_write_buffer_size() + protocol.out_size)
    )


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(min(size - len(chunks), 1 << 20))
        assert data, f"closed after {len(chunks)} of {size} bytes"
        chunks += data
    return bytes(chunks)


# -- a deep pipeline in one send -------------------------------------------------------------

PIPELINE = 10_000


def pipeline_request(i: int) -> bytes:
    return b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i


def pipeline_app(depths: list[int], body_size: int) -> Any:
    """Answers each request with its path, padded to `body_size`; records, per request, how
    many requests wait in its connection's pipeline (the app runs on the server's loop)."""
    connections: set[Any] = set()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        depths.append(
            max((len(c.pipeline) for c in connections if hasattr(c, "pipeline")), default=0)
        )
        body = scope["path"].encode().ljust(body_size, b".")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    app.connections = connections  # type: ignore[attr-defined]
    return app


def response_paths(data: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 200 OK\r\n.*?\r\n\r\n(/\d+)\.*", data, re.DOTALL)


def read_pipeline(sock: socket.socket, body_size: int, into: bytearray) -> None:
    """Read until the last pipelined response's body is in (responses come in order)."""
    last = b"/%d" % (PIPELINE - 1)
    last = last.ljust(body_size, b".")
    while not into.endswith(last):
        data = sock.recv(1 << 20)
        assert data, "closed before the last response"
        into += data


def test_a_pipeline_of_ten_thousand_requests_in_one_send_stays_bounded_and_in_order(
    serve: Serve,
) -> None:
    depths: list[int] = []
    app = pipeline_app(depths, 8)
    running = serve(app, access_log=False)
    payload = b"".join(pipeline_request(i) for i in range(PIPELINE))
    with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as sock:
        app.connections.add(protocol_of(running, HTTPProtocol))
        data = bytearray()
        reader = threading.Thread(target=read_pipeline, args=(sock, 8, data), daemon=True)
        reader.start()  # reads while the client sends, as a client that pipelines should
        sock.sendall(payload)
        reader.join(30)
        assert not reader.is_alive(), f"{data.count(b'HTTP/1.1 ')} of {PIPELINE} answered"
    paths = response_paths(bytes(data))
    assert paths == [b"/%d" % i for i in range(PIPELINE)]
    # At most one slice of requests is parsed past the pipeline limit (a whole read, up to
    # 256 KiB, was 8,000 requests at once before).
    assert max(depths) <= MAX_PIPELINE + FEED_SLICE // len(pipeline_request(0)) + 1
    assert len(depths) == PIPELINE


def test_a_client_that_does_not_read_its_pipelined_responses_gets_no_more_queued(
    serve: Serve,
) -> None:
    depths: list[int] = []
    body_size = 1024
    app = pipeline_app(depths, body_size)
    running = serve(app, access_log=False)
    payload = b"".join(pipeline_request(i) for i in range(PIPELINE))  # ~10 MiB of answers
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: fills soon
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", running.port))
    try:
        protocol = protocol_of(running, HTTPProtocol)
        shrink_send_buffer(running, protocol)
        app.connections.add(protocol)
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        # The transport stops taking writes and the next response waits for it: the exact
        # state the bound below relies on.
        wait_for(lambda: running.on_loop(lambda: protocol.held), TIMEOUT, "a held response")
        assert len(depths) < PIPELINE
        # What waits unwritten: past the transport's high-water mark by at most the writes
        # collected in one loop turn (HIGH_WATER) and one response.
        assert unwritten(running, protocol) <= 3 * HIGH_WATER + body_size
        # Now the client reads: every response arrives, in order.
        data = bytearray()
        read_pipeline(sock, body_size, data)
        sender.join(TIMEOUT)
        assert response_paths(bytes(data)) == [b"/%d" % i for i in range(PIPELINE)]
    finally:
        sock.close()


# -- WebSocket floods ------------------------------------------------------------------------


def ws_connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        assert data, "closed during the handshake"
        head += data
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock


MASK = b"\x01\x02\x03\x04"


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    assert len(payload) < 126
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + MASK + masked


def read_server_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = read_exactly(sock, 2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", read_exactly(sock, 2))
    elif size == 127:
        (size,) = struct.unpack("!Q", read_exactly(sock, 8))
    return first & 0x0F, read_exactly(sock, size)


def test_tiny_frames_flooding_a_slow_app_pause_reading_and_all_arrive_in_order(
    serve: Serve,
) -> None:
    count = 50_000  # 350 KB of 1-byte frames, in one send
    gates: list[asyncio.Event] = []
    received: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        gate = asyncio.Event()
        gates.append(gate)
        await send({"type": "websocket.accept"})
        await gate.wait()  # the app is busy elsewhere: it does not read
        while len(received) < count:
            message = await receive()
            assert message["type"] == "websocket.receive"
            received.append(message["bytes"])
        await send({"type": "websocket.send", "text": str(len(received))})

    running = serve(app, access_log=False, ws_max_queue=32)
    sock = ws_connect(running.port)
    try:
        protocol = protocol_of(running, WebSocketProtocol)
        frames = b"".join(client_frame(0x2, bytes([i % 251])) for i in range(count))
        sender = threading.Thread(target=sock.sendall, args=(frames,), daemon=True)
        sender.start()
        wait_for(lambda: running.on_loop(lambda: protocol.read_paused), TIMEOUT, "paused reading")
        queued = running.on_loop(lambda: len(protocol.queue))
        # max_queue messages, plus at most one slice of input (7 bytes a frame).
        assert 32 <= queued <= 32 + FEED_SLICE // 7
        running.on_loop(gates[0].set)
        assert read_server_frame(sock) == (0x1, str(count).encode())
        sender.join(TIMEOUT)
        assert received == [bytes([i % 251]) for i in range(count)]
    finally:
        if gates:
            running.on_loop(gates[0].set)
        sock.close()


def test_pings_from_a_client_that_never_reads_pause_reading_with_bounded_pongs(
    serve: Serve,
) -> None:
    stop = threading.Event()
    served = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        served.set()

    running = serve(app, access_log=False, ws_ping_interval=0)
    sock = ws_connect(running.port, rcvbuf=4096)
    sender: threading.Thread | None = None
    try:
        protocol = protocol_of(running, WebSocketProtocol)
        shrink_send_buffer(running, protocol)
        ping = client_frame(0x9, os.urandom(125))  # each answered by a 127-byte pong
        batch = ping * 500

        def flood() -> None:
            try:
                while not stop.is_set():
                    sock.sendall(batch)
            except OSError:
                pass  # the socket timed out (the server stopped reading) or was closed

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        wait_for(
            lambda: running.on_loop(lambda: protocol.read_paused and protocol.write_paused),
            TIMEOUT,
            "reading paused while the transport is full",
        )
        # Past the high-water mark by at most the pongs of one slice of pings.
        assert unwritten(running, protocol) <= 2 * HIGH_WATER + FEED_SLICE
        # The server still serves others meanwhile.
        with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as other:
            other.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert read_all(other).startswith(b"HTTP/1.1 200 ")
    finally:
        stop.set()
        # Wake the sender blocked in sendall (a close alone would wait for it), then reset.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        if sender is not None:
            sender.join(TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    assert served.wait(TIMEOUT), "the app heard the disconnect"


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
