"""WebSocket through real sockets: sailfish's server against real clients and frameworks.

Clients: the `websockets` library (its sync client, with and without permessage-deflate) and
wsproto driven over a plain socket; apps: raw ASGI, and Starlette and FastAPI routes
(apps/websocket_apps.py). Each test starts a server in a thread (conftest `serve`); waits are
bounded polls or socket timeouts, never sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from waiting import wait_for

websockets_sync = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus  # noqa: E402

TIMEOUT = 5.0
Serve = Callable[..., Any]


def ws_url(running: Any, path: str = "/") -> str:
    return f"ws://127.0.0.1:{running.port}{path}"


def connect(running: Any, path: str = "/", **kwargs: Any) -> Any:
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    kwargs.setdefault("compression", None)
    return websockets_sync.connect(ws_url(running, path), **kwargs)


async def echo(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["type"].encode()})
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            data = {k: message[k] for k in ("text", "bytes") if k in message}
            await send({"type": "websocket.send", **data})
        else:
            return


def test_websockets_client_echoes_text_binary_and_a_large_message(
    serve: Serve, loop_name: str
) -> None:
    running = serve(echo, loop=loop_name)
    with connect(running, "/room?x=1") as ws:
        ws.send("hello")
        assert ws.recv(TIMEOUT) == "hello"
        ws.send(b"\x00\x01\x02")
        assert ws.recv(TIMEOUT) == b"\x00\x01\x02"
        big = bytes(range(256)) * 4096  # 1 MiB
        ws.send(big)
        assert ws.recv(TIMEOUT) == big
        assert ws.response.headers.get("sec-websocket-extensions") is None


def test_websockets_client_with_compression(serve: Serve) -> None:
    running = serve(echo, ws_per_message_deflate=True)
    with connect(running, compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
        text = "compressible " * 1000
        for _ in range(3):  # context takeover across messages, if negotiated
            ws.send(text)
            assert ws.recv(TIMEOUT) == text


def test_deflate_off_by_default_declines_the_offer(serve: Serve) -> None:
    running = serve(echo)
    with connect(running, compression="deflate") as ws:
        assert ws.response.headers.get("sec-websocket-extensions") is None
        ws.send("plain")
        assert ws.recv(TIMEOUT) == "plain"


def test_wsproto_client_over_a_plain_socket(serve: Serve) -> None:
    wsproto = pytest.importorskip("wsproto")
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Request,
        TextMessage,
    )

    running = serve(echo)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    events: list[Any] = []

    def pump(until: Callable[[], bool]) -> None:
        while not until():
            data = sock.recv(65536)
            client.receive_data(data or None)
            events.extend(client.events())
            if not data:
                return

    try:
        sock.sendall(client.send(Request(host="127.0.0.1", target="/wsproto")))
        pump(lambda: any(isinstance(e, AcceptConnection) for e in events))
        sock.sendall(client.send(TextMessage(data="via wsproto")))
        sock.sendall(client.send(BytesMessage(data=b"\xff" * 70000)))
        pump(lambda: sum(len(e.data) for e in events if isinstance(e, BytesMessage)) >= 70000)
        texts = [e.data for e in events if isinstance(e, TextMessage)]
        blobs = b"".join(e.data for e in events if isinstance(e, BytesMessage))
        assert texts == ["via wsproto"] and blobs == b"\xff" * 70000
        sock.sendall(client.send(CloseConnection(code=1000, reason="done")))
        pump(lambda: any(isinstance(e, CloseConnection) for e in events))
        [closed] = [e for e in events if isinstance(e, CloseConnection)]
        assert closed.code == 1000
    finally:
        sock.close()


def test_subprotocol_and_accept_headers(serve: Serve) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": scope["subprotocols"][-1],
                "headers": [(b"x-offered", ",".join(scope["subprotocols"]).encode())],
            }
        )
        await send({"type": "websocket.close"})

    running = serve(app)
    with connect(running, subprotocols=["one", "two"]) as ws:
        assert ws.subprotocol == "two"
        assert ws.response.headers["x-offered"] == "one,two"


def test_close_codes_both_ways(serve: Serve) -> None:
    heard: list[dict[str, Any]] = []
    heard_event = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        if message["type"] == "websocket.receive":
            await send({"type": "websocket.close", "code": 4321, "reason": "server says bye"})
            heard.append(await receive())
        else:
            heard.append(message)
        heard_event.set()

    running = serve(app)
    with connect(running) as ws:  # the client closes
        ws.close(code=4100, reason="client says bye")
    assert heard_event.wait(TIMEOUT)
    assert heard == [{"type": "websocket.disconnect", "code": 4100, "reason": "client says bye"}]

    heard.clear()
    heard_event.clear()
    with connect(running) as ws:  # the server closes
        ws.send("close now")
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)
        assert ws.close_code == 4321 and ws.close_reason == "server says bye"
    assert heard_event.wait(TIMEOUT)
    assert heard == [{"type": "websocket.disconnect", "code": 4321, "reason": "server says bye"}]


def test_asgi2_app_is_told_version_2_on_a_websocket(serve: Serve) -> None:
    seen: list[dict[str, Any]] = []

    class ASGI2:
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            if self.scope["type"] != "websocket":
                return
            seen.append(self.scope)
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": self.scope["asgi"]["version"]})

    running = serve(ASGI2, lifespan="off")
    with connect(running) as ws:
        assert ws.recv(TIMEOUT) == "2.0"
    assert seen[0]["asgi"]["version"] == "2.0"


def test_close_before_accept_is_403_and_the_denial_response(serve: Serve) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/forbidden":
            await send({"type": "websocket.close"})
            return
        assert "websocket.http.response" in scope["extensions"]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 429,
                "headers": [(b"retry-after", b"7"), (b"content-type", b"text/plain")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"slow ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"down"})

    running = serve(app)
    with pytest.raises(InvalidStatus) as caught:
        connect(running, "/forbidden")
    assert caught.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as caught:
        connect(running, "/busy")
    response = caught.value.response
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.body == b"slow down"


@pytest.mark.parametrize("then", ["returns", "raises"])
def test_a_denial_head_declaring_no_body_goes_out_when_the_app_stops(
    serve: Serve, caplog: pytest.LogCaptureFixture, then: str
) -> None:
    """An app that stops after `websocket.http.response.start` with `Content-Length: 0` has
    sent a whole response: the client gets it (uvicorn's wsproto protocol does the same). The
    app's mistake is still logged. With a body declared and not sent, the connection is cut."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        length = b"0" if scope["path"] == "/empty" else b"5"
        start = {
            "type": "websocket.http.response.start",
            "status": 404,
            "headers": [(b"content-length", length), (b"content-type", b"text/plain")],
        }
        await send(start)
        if then == "raises":
            await send(start)  # not a body: an app error

    running = serve(app)
    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        with pytest.raises(InvalidStatus) as caught:
            connect(running, "/empty")
        assert caught.value.response.status_code == 404
        assert caught.value.response.body == b""
        with pytest.raises(InvalidMessage):  # five bytes promised, none sent: no response
            connect(running, "/five")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, errors


def test_ping_timeout_closes_a_dead_peer(serve: Serve) -> None:
    """A raw client completes the handshake, then never answers: the server pings, waits,
    and closes with 1011."""
    disconnected: list[dict[str, Any]] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        disconnected.append(await receive())
        done.set()

    running = serve(app, ws_ping_interval=0.2, ws_ping_timeout=0.3)
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    try:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while True:  # read until the server closes: the 101, a ping, then a close frame
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    body = data.partition(b"\r\n\r\n")[2]
    assert body[0] == 0x89  # a ping (FIN + opcode 9)
    close_at = 2 + body[1]
    assert body[close_at] == 0x88 and int.from_bytes(body[close_at + 2 : close_at + 4]) == 1011
    assert done.wait(TIMEOUT)
    assert disconnected == [{"type": "websocket.disconnect", "code": 1011}]


def test_keepalive_pings_are_answered_by_a_live_client(serve: Serve) -> None:
    running = serve(echo, ws_ping_interval=0.05, ws_ping_timeout=1.0)
    with connect(running, ping_interval=None) as ws:
        connection = ws_protocol(running)
        wait_for(lambda: running.on_loop(lambda: connection.ping_sent_at) > 0, what="a ping")
        first = running.on_loop(lambda: connection.ping_sent_at)
        wait_for(lambda: running.on_loop(lambda: connection.ping_sent_at) > first, what="another")
        ws.send("still here")  # the client's pongs kept it open
        assert ws.recv(TIMEOUT) == "still here"


def ws_protocol(running: Any) -> Any:
    """The server's one WebSocket connection, once it has one (read on the loop thread)."""
    from sailfish.protocols import WebSocketProtocol

    found: list[Any] = []

    def find() -> bool:
        found[:] = [
            c for c in running.server.server_state.connections if isinstance(c, WebSocketProtocol)
        ]
        return bool(found)

    wait_for(lambda: running.on_loop(find), what="a WebSocket connection on the server")
    return found[0]


def test_a_slow_app_pauses_reading_and_every_message_arrives_in_order(serve: Serve) -> None:
    release = asyncio.Event()
    got: list[str] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while len(got) < 200:
            got.append((await receive())["text"])
        done.set()

    running = serve(app, ws_max_queue=4)
    with connect(running) as ws:
        for n in range(200):
            ws.send(f"m{n}" + "x" * 2000)
        connection = ws_protocol(running)
        wait_for(lambda: running.on_loop(lambda: connection.read_paused), what="paused reading")
        # Paused at the read that filled the queue: not everything sent was read (200 messages
        # are ~400 KB, more than one read of the loop's at most 256 KiB).
        assert 4 <= running.on_loop(lambda: len(connection.queue)) < 200
        running.on_loop(release.set)
        assert done.wait(TIMEOUT)
    assert [m.split("x")[0] for m in got] == [f"m{n}" for n in range(200)]


def test_a_slow_reader_makes_send_wait(serve: Serve) -> None:
    counts = {"started": 0, "returned": 0}
    total = 400
    chunk = b"z" * 65536

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(total):
            counts["started"] += 1
            await send({"type": "websocket.send", "bytes": chunk})
            counts["returned"] += 1
        await receive()

    running = serve(app)
    with connect(running, max_size=None) as ws:
        connection = ws_protocol(running)

        # The client reads nothing: the transport fills and pauses, and a send waits in it.
        def blocked() -> bool:
            waiting = counts["started"] - counts["returned"] == 1  # inside send()
            return bool(connection.write_paused and waiting)

        wait_for(lambda: running.on_loop(blocked), what="a send waiting on a full buffer")
        assert running.on_loop(lambda: counts["returned"]) < total
        received = sum(len(ws.recv(TIMEOUT)) for _ in range(total))
        assert received == total * len(chunk)


def test_shutdown_closes_an_open_websocket_with_1001_going_away(serve: Serve) -> None:
    heard: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        heard.append(await receive())

    running = serve(app)
    with connect(running) as ws:
        ws_protocol(running)
        stopper = threading.Thread(target=running.stop)
        stopper.start()
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)
        assert ws.close_code == 1001
    stopper.join(TIMEOUT)
    assert heard == [{"type": "websocket.disconnect", "code": 1001}]


def test_max_size_on_both_sides(serve: Serve) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message["text"].isdigit():  # asks for that many bytes back
                await send({"type": "websocket.send", "bytes": b"b" * int(message["text"])})

    running = serve(app, ws_max_size=1000)
    with connect(running) as ws:  # the server's limit: at it passes, one more closes 1009
        ws.send("x" * 1000)
        ws.send("2")
        assert ws.recv(TIMEOUT) == b"bb"  # the message at the limit was taken
        ws.send("y" * 1001)
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)
        assert ws.close_code == 1009
    with connect(running, max_size=100) as ws:  # the client's limit on what the server sends
        ws.send("100")
        assert ws.recv(TIMEOUT) == b"b" * 100
        ws.send("101")
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)
        assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1009


def test_ws_none_serves_an_upgrade_as_plain_http(serve: Serve) -> None:
    running = serve(echo, ws="none")
    with pytest.raises(InvalidStatus) as caught:
        connect(running)
    assert caught.value.response.status_code == 200
    assert caught.value.response.body == b"http"


def test_proxy_headers_from_a_trusted_proxy_reach_the_websocket_scope(serve: Serve) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": f"{scope['client'][0]} {scope['scheme']}"})
        await send({"type": "websocket.close"})

    running = serve(app, forwarded_allow_ips="127.0.0.1")
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    with connect(running, additional_headers=headers) as ws:
        assert ws.recv(TIMEOUT) == "203.0.113.7 wss"
    with connect(running) as ws:  # no proxy fields: the peer itself
        assert ws.recv(TIMEOUT) == "127.0.0.1 ws"


# -- frameworks --------------------------------------------------------------------------------


@pytest.fixture(params=["starlette", "fastapi"])
def framework(request: pytest.FixtureRequest, serve: Serve) -> Any:
    from apps.websocket_apps import make_fastapi, make_starlette

    return serve(make_starlette() if request.param == "starlette" else make_fastapi())


def test_framework_echo_route(framework: Any) -> None:
    with connect(framework, "/echo") as ws:
        ws.send("hi")
        assert ws.recv(TIMEOUT) == "hi"
        ws.send(b"\x01")
        assert ws.recv(TIMEOUT) == b"\x01"
        ws.send("close please")
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)
        assert ws.close_code == 4002 and ws.close_reason == "as asked"


def test_framework_subprotocol_and_query(framework: Any) -> None:
    with connect(framework, "/chat?who=me", subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(TIMEOUT) == '{"offered":["chat.v1","chat.v2"],"query":"me"}'


def test_framework_denial_response(framework: Any) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(framework, "/private")
    response = caught.value.response
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Token"
    assert response.body == b"no entry"


def test_framework_unknown_route_is_refused(framework: Any) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(framework, "/nowhere")
    assert caught.value.response.status_code == 403
