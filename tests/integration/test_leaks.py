"""Leaks: after thousands of requests of every kind, a server holds what it held before.

Strategy: a real server in a thread (the `serve` fixture), driven over 127.0.0.1 by blocking
sockets from the test. A `Snapshot` is what a leak would grow: the process's open file
descriptors (/proc/self/fd, so Linux only; the test's own sockets are all closed when it is
read), the asyncio tasks alive on the server's loop, and the server's `connections` and
request `tasks` sets. The baseline is taken before any traffic; after a few thousand requests
the snapshot is polled (tests/waiting.py) until it equals the baseline again: a connection the
server has not finished closing is a close in progress until the bound runs out, and a leak
after it. Each kind of traffic costs a second or so per twin; `bench/soak.py` is the long
version (millions of requests, RSS over time).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gc
import os
import socket
import ssl
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from integ_helpers import Conn, request

from waiting import poll_until

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts open fds in /proc/self/fd"
)

SETTLE = 10.0  # seconds for the last closes to land on a loaded machine


# -- what is counted ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    fds: int
    loop_tasks: int
    connections: int
    request_tasks: int


def _counted(task: asyncio.Task[Any]) -> bool:
    """Whether a task on the server's loop counts: not the snapshot's own, and not the wait on
    the server's wakeup event, which `asyncio.wait_for` remakes every 0.5 s before Python 3.12
    (between two of them it is briefly absent, which would read as one task fewer)."""
    coro = task.get_coro()
    return task is not asyncio.current_task() and (
        getattr(coro, "__qualname__", "") != "Event.wait"
    )


def snapshot(running: Any) -> Snapshot:
    state = running.server.server_state

    def on_loop() -> tuple[int, int, int]:
        tasks = sum(1 for task in asyncio.all_tasks() if _counted(task))
        return tasks, len(state.connections), len(state.tasks)

    loop_tasks, connections, request_tasks = running.on_loop(on_loop)
    return Snapshot(len(os.listdir("/proc/self/fd")), loop_tasks, connections, request_tasks)


def assert_back(running: Any, baseline: Snapshot, after: str) -> None:
    """Poll until the server's snapshot is back at `baseline`; fail showing both if it is not.

    Fewer fds than before count as back: the process's fds are not all the server's (a
    socket an earlier test dropped may be collected meanwhile); more are a leak.
    """
    seen: list[Snapshot] = []

    def back() -> bool:
        now = snapshot(running)
        seen.append(now)
        return now.fds <= baseline.fds and now == dataclasses.replace(baseline, fds=now.fds)

    if not poll_until(back, SETTLE, 0.02):
        tasks = running.on_loop(lambda: [repr(task)[:300] for task in asyncio.all_tasks()])
        raise AssertionError(
            f"after {after}: {seen[-1]}, before: {baseline}; tasks on the loop:\n"
            + "\n".join(tasks)
        )


def leak_check(running: Any, traffic: Callable[[int], None], count: int, what: str) -> None:
    """`traffic(n)` makes n of a kind: the snapshot after `count` equals the one before."""
    gc.collect()  # sockets that earlier tests left to the collector close now, not during ours
    baseline = snapshot(running)
    assert baseline.connections == 0 and baseline.request_tasks == 0
    traffic(count)
    assert_back(running, baseline, f"{count} x {what}")


# -- the apps --------------------------------------------------------------------------------


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/ hello; /upload answers the body's length; /stream 3 parts; /drip until the client
    leaves; /missing 404; /raise and /raise-late fail before and after the response started;
    a WebSocket echoes until closed."""
    kind = scope["type"]
    if kind == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if kind == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text"), "bytes": None})
        return
    path = scope["path"]
    streamed = {"type": "http.response.start", "status": 200, "headers": []}
    if path == "/upload":
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = str(size).encode()
    elif path == "/stream":
        await send(streamed)
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    elif path == "/drip":
        await send(streamed)
        while True:  # ends when send() raises: the client has left
            await send({"type": "http.response.body", "body": b"d" * 4096, "more_body": True})
            await asyncio.sleep(0)
    elif path == "/raise":
        raise RuntimeError("leak test: an error before the response")
    elif path == "/raise-late":
        await send(streamed)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("leak test: an error after the response started")
    elif path == "/missing":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
        return
    else:
        body = b"hello"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """/upload answers the length of the body it read; /raise fails; else "hello"."""
    path = environ["PATH_INFO"]
    if path == "/raise":
        raise RuntimeError("leak test: a WSGI app error")
    body = b"hello"
    if path == "/upload":
        body = str(len(environ["wsgi.input"].read())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# -- clients ---------------------------------------------------------------------------------

GET = request("GET", "/")
POST = request("POST", "/upload", body=b"x" * 3000)
CHUNKED = request("POST", "/upload", [("Transfer-Encoding", "chunked")], b"5\r\nhello\r\n0\r\n\r\n")
CLOSE = request("GET", "/", [("Connection", "close")])
PARTIAL = request("POST", "/upload", [("Content-Length", "5000")], b"x" * 1000)
REFUSED = request("POST", "/", [("Content-Length", "3"), ("Transfer-Encoding", "chunked")])


def keep_alive(port: int, count: int, per_connection: int = 100) -> None:
    """GET, POST (Content-Length and chunked) and streamed answers, one at a time and 10
    pipelined per write, `per_connection` on each connection."""
    kinds = [(GET, b"hello"), (POST, b"3000"), (CHUNKED, b"5"), (request("GET", "/stream"), None)]
    done = 0
    while done < count:
        with Conn(port) as conn:
            for index in range(0, min(per_connection, count - done), 10):
                batch = [kinds[(index + i) % len(kinds)] for i in range(10)]
                if index % 20:
                    conn.send(b"".join(raw for raw, _ in batch))
                for raw, body in batch:
                    if not index % 20:
                        conn.send(raw)
                    response = conn.read_response()
                    assert response.status == 200
                    assert response.body == (body or b"one two three")
                done += 10


def new_connections(port: int, count: int) -> None:
    """Half `Connection: close`, half closed by the client after its answer."""
    for index in range(count):
        with Conn(port) as conn:
            conn.send(CLOSE if index % 2 else GET)
            assert conn.read_response().status == 200
            if index % 2:
                assert conn.is_closed_by_peer()


def errors(port: int, count: int) -> None:
    """404s, app errors (500), errors after the response started (abort), refused requests."""
    for index in range(count):
        with Conn(port) as conn:
            case = index % 4
            if case == 0:
                conn.send(request("GET", "/missing") * 3)
                assert [conn.read_response().status for _ in range(3)] == [404] * 3
            elif case == 1:
                conn.send(request("GET", "/raise"))
                assert conn.read_response().status == 500
            elif case == 2:
                conn.send(request("GET", "/raise-late"))
                assert conn.read_head().status == 200
                conn.read_until_closed()
            else:
                conn.send(REFUSED)
                assert conn.read_response().status == 400
                assert conn.is_closed_by_peer()


def disconnects(port: int, count: int) -> None:
    """Clients that leave: mid-body (closed, and half-closed), mid-response, before a byte."""
    for index in range(count):
        with Conn(port) as conn:
            case = index % 4
            if case == 0:
                conn.send(PARTIAL)
            elif case == 1:
                conn.send(PARTIAL)
                conn.sock.shutdown(socket.SHUT_WR)
                # The server knows the body will never be whole: it closes.
                assert conn.is_closed_by_peer(), "still open after a half-close mid-body"
            elif case == 2:
                conn.send(request("GET", "/drip"))
                assert conn.read_head().status == 200


def websocket_sessions(port: int, count: int) -> None:
    """Handshake, one echo, then a close handshake, or (every other one) a dropped socket."""
    mask = b"\x01\x02\x03\x04"
    payload = b"ping"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    close = bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i] for i, b in enumerate(b"\x03\xe8"))
    for index in range(count):
        with Conn(port) as conn:
            key = base64.b64encode(os.urandom(16)).decode()
            headers = [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key),
                ("Sec-WebSocket-Version", "13"),
            ]
            conn.send(request("GET", "/ws", headers))
            assert conn.read_head().status == 101
            conn.send(frame)
            assert conn._read_exact(6) == b"\x81\x04ping"
            if index % 2:
                continue  # dropped without a close frame
            conn.send(close)
            assert conn._read_exact(4) == b"\x88\x02" + struct.pack("!H", 1000)
            assert conn.is_closed_by_peer()


# -- the tests -------------------------------------------------------------------------------


def test_keep_alive_requests_leave_nothing(serve: Callable[..., Any], loop_name: str) -> None:
    running = serve(asgi_app, loop=loop_name)
    leak_check(running, lambda n: keep_alive(running.port, n), 2000, "keep-alive requests")


def test_new_connections_leave_nothing(serve: Callable[..., Any], loop_name: str) -> None:
    running = serve(asgi_app, loop=loop_name)
    leak_check(running, lambda n: new_connections(running.port, n), 800, "new connections")


def test_errors_leave_nothing(serve: Callable[..., Any], loop_name: str) -> None:
    running = serve(asgi_app, loop=loop_name)
    leak_check(running, lambda n: errors(running.port, n), 600, "errors")


def test_client_disconnects_leave_nothing(serve: Callable[..., Any], loop_name: str) -> None:
    running = serve(asgi_app, loop=loop_name)
    leak_check(running, lambda n: disconnects(running.port, n), 1000, "disconnects")


def test_websocket_sessions_leave_nothing(serve: Callable[..., Any], loop_name: str) -> None:
    running = serve(asgi_app, loop=loop_name)
    leak_check(running, lambda n: websocket_sessions(running.port, n), 600, "WebSocket sessions")


def test_wsgi_requests_leave_nothing(serve: Callable[..., Any], loop_name: str) -> None:
    running = serve(wsgi_app, interface="wsgi", loop=loop_name)
    port = running.port

    def traffic(count: int) -> None:
        with Conn(port) as conn:
            for _ in range(count // 2):
                conn.send(POST)
                assert conn.read_response().body == b"3000"
        for index in range(count // 2):
            with Conn(port) as conn:
                case = index % 4
                if case == 0:
                    conn.send(CLOSE)
                    assert conn.read_response().status == 200
                elif case == 1:
                    conn.send(request("GET", "/raise", [("Connection", "close")]))
                    assert conn.read_response().status == 500
                elif case == 2:
                    conn.send(PARTIAL)
                else:
                    conn.send(PARTIAL)
                    conn.sock.shutdown(socket.SHUT_WR)
                    assert conn.is_closed_by_peer(), "still open after a half-close mid-body"

    leak_check(running, traffic, 1000, "WSGI requests")


def test_wsgi_half_close_mid_body_closes_the_connection(serve: Callable[..., Any]) -> None:
    """A WSGI request whose client sends EOF before the whole body: the server closes.

    The app's thread sees the body end early and its output is dropped; the connection must
    close then (it stayed open, half-closed, for good: one fd per such client).
    """
    running = serve(wsgi_app, interface="wsgi")
    with Conn(running.port) as conn:
        conn.send(PARTIAL)
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.is_closed_by_peer()
    assert poll_until(lambda: snapshot(running).connections == 0)


def test_aborted_tls_handshakes_leave_nothing(
    serve: Callable[..., Any], loop_name: str, tmp_path: Path
) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    running = serve(asgi_app, loop=loop_name, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    hello = b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + os.urandom(32)

    def traffic(count: int) -> None:
        for index in range(count):
            with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
                case = index % 4
                if case == 1:
                    sock.sendall(hello)  # a ClientHello cut short
                elif case == 2:
                    sock.sendall(GET)  # plain HTTP on the TLS port: refused, closed
                    with contextlib.suppress(ConnectionResetError):
                        while sock.recv(65536):
                            pass
                elif case == 3:
                    with client.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                        tls.sendall(GET)
                        assert tls.recv(65536).startswith(b"HTTP/1.1 200")

    leak_check(running, traffic, 200, "aborted TLS handshakes")
