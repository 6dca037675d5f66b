"""sailfish.uvicorn:HTTPProtocol: what uvicorn's own suite does not pin.

Strategy: uvicorn's suite (test_uvicorn_suite.py) proves the contract; these tests pin the
drop-in's own choices: uvicorn's default-headers list sent as it is at each response start
(and a new writer only when uvicorn replaced the list), a WebSocket upgrade pipelined behind a
request handed over with every byte that followed it, a WebSocket upgrade handed to
sailfish's own `WSProtocol` with the head already parsed, and a real `uvicorn.Server` on
127.0.0.1 serving through the drop-in.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from typing import Any

import pytest

uvicorn = pytest.importorskip("uvicorn")

from uvicorn.config import Config  # noqa: E402
from uvicorn.server import Server, ServerState  # noqa: E402

from sailfish.uvicorn import HTTPProtocol, WSProtocol  # noqa: E402
from transport import MockTransport  # noqa: E402
from waiting import poll_until  # noqa: E402

GET = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"
UPGRADE = (
    b"GET /ws?x=1 HTTP/1.1\r\nHost: example.org\r\nConnection: upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


class FakeWebSocket:
    """Stands in for `config.ws_protocol_class`: records the handover."""

    made: list[FakeWebSocket] = []

    def __init__(self, config: Any, server_state: Any, app_state: Any) -> None:
        self.data = b""
        self.paused = False
        FakeWebSocket.made.append(self)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def pause_writing(self) -> None:
        self.paused = True

    def data_received(self, data: bytes) -> None:
        self.data += data


def connect(app: Any, **kwargs: Any) -> tuple[HTTPProtocol, MockTransport, ServerState]:
    state = ServerState()
    config = Config(app=app, log_config=None, **kwargs)
    protocol = HTTPProtocol(config=config, server_state=state, app_state={})
    transport = MockTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, state


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_default_headers_are_uvicorns_list_at_each_response_start() -> None:
    async def main() -> None:
        protocol, transport, state = connect(hello)
        state.default_headers = [(b"date", b"one"), (b"server", b"uvicorn")]
        protocol.data_received(GET)
        await settle()
        head = bytes(transport.buffer).split(b"\r\n\r\n")[0]
        assert head.split(b"\r\n")[1:3] == [b"date: one", b"server: uvicorn"]
        assert head.count(b"date:") == 1 and b"sailfish" not in head
        writer = protocol.writer

        transport.buffer.clear()
        protocol.data_received(GET)  # same list object: same writer
        await settle()
        assert protocol.writer is writer

        state.default_headers = [(b"date", b"two"), (b"server", b"uvicorn")]  # uvicorn's tick
        transport.buffer.clear()
        protocol.data_received(GET)
        await settle()
        assert b"\r\ndate: two\r\n" in transport.buffer
        assert protocol.writer is not writer

    asyncio.run(main())


def test_pipelined_upgrade_waits_then_hands_over_every_byte() -> None:
    async def main() -> None:
        FakeWebSocket.made.clear()
        protocol, transport, _ = connect(hello, ws=FakeWebSocket, root_path="/app")
        protocol.data_received(GET + UPGRADE + b"frame-1")
        protocol.data_received(b"frame-2")  # arrives while the GET is answered
        assert not FakeWebSocket.made
        await settle()
        assert transport.buffer.startswith(b"HTTP/1.1 200 OK\r\n")
        [ws] = FakeWebSocket.made
        assert transport.protocol is ws
        assert ws.data.startswith(b"GET /ws?x=1 HTTP/1.1\r\nhost: example.org\r\n")
        assert ws.data.endswith(b"\r\n\r\nframe-1frame-2")
        assert protocol.timeout_keep_alive_task is None
        assert protocol not in protocol.connections

    asyncio.run(main())


@pytest.mark.parametrize("paused", [False, True], ids=["writable", "paused_for_writing"])
def test_the_handover_tells_uvicorns_ws_protocol_of_a_pause_for_writing(paused: bool) -> None:
    """The transport resumes only its protocol of the moment: one handed over while paused
    must hear `pause_writing`, or its sends never wait."""

    async def main() -> None:
        FakeWebSocket.made.clear()
        protocol, transport, _ = connect(hello, ws=FakeWebSocket)
        if paused:
            protocol.pause_writing()
        protocol.data_received(UPGRADE)
        await settle()
        [ws] = FakeWebSocket.made
        assert transport.protocol is ws and ws.paused is paused

    asyncio.run(main())


@pytest.mark.parametrize("paused", [False, True], ids=["writable", "paused_for_writing"])
def test_sailfishs_ws_protocol_takes_the_pause_for_writing_over(paused: bool) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    async def main() -> None:
        protocol, transport, _ = connect(app, ws=WSProtocol)
        if paused:
            protocol.pause_writing()
        key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        protocol.data_received(UPGRADE[:-2] + key)
        await settle()
        ws = transport.protocol
        assert isinstance(ws, WSProtocol) and ws.write_paused is paused
        # Paused, the accept waits for the transport to resume this protocol.
        assert transport.buffer.startswith(b"HTTP/1.1 101 ") is not paused
        if paused:
            ws.resume_writing()
            await settle()
            assert transport.buffer.startswith(b"HTTP/1.1 101 ")
        ws.connection_lost(None)

    asyncio.run(main())


def test_websocket_in_an_upgrade_list_is_handed_over() -> None:
    async def main() -> None:
        FakeWebSocket.made.clear()
        protocol, transport, _ = connect(hello, ws=FakeWebSocket)
        protocol.data_received(UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: h2c, WebSocket"))
        await settle()
        [ws] = FakeWebSocket.made
        assert transport.protocol is ws and b"upgrade: h2c, WebSocket\r\n" in ws.data

    asyncio.run(main())


def test_an_upgrade_goes_to_sailfishs_ws_protocol_with_the_parsed_head() -> None:
    received: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.append(scope["path"])
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())
        await receive()  # stays open until the test ends

    async def main() -> None:
        protocol, transport, state = connect(app, ws=WSProtocol, root_path="/app")
        key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        masked_hi = b"\x81\x82\x00\x00\x00\x00hi"  # "hi", masked with a zero key
        protocol.data_received(UPGRADE[:-2] + key + masked_hi)
        await settle()
        ws = transport.protocol
        assert isinstance(ws, WSProtocol) and ws.http_parser is None  # nothing re-parsed
        assert ws in state.connections and protocol not in state.connections
        assert transport.buffer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert received == ["/app/ws", {"type": "websocket.receive", "text": "hi"}]

    asyncio.run(main())


# A bound for each wait on a real server in a thread of this process: the answer comes in well
# under a second, but on a loaded 2-core machine one of the TLS test's 5 s waits ran out.
CLIENT_TIMEOUT = 30.0


def _listener() -> tuple[socket.socket, int]:
    """A socket bound to a free port on 127.0.0.1, handed to `Server.run(sockets=...)`: a port
    probed and closed could be taken by another test before uvicorn binds it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


def test_a_real_uvicorn_server_serves_through_the_dropin() -> None:
    sock, port = _listener()
    config = Config(
        app=hello,
        http="sailfish.uvicorn:HTTPProtocol",
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        loop="asyncio",
        timeout_keep_alive=1,
    )
    server = Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        poll_until(lambda: server.started or not thread.is_alive(), timeout=CLIENT_TIMEOUT)
        assert server.started
        assert config.http_protocol_class is HTTPProtocol
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        try:
            for _ in range(2):  # keep-alive
                connection.request("GET", "/")
                response = connection.getresponse()
                assert response.status == 200
                assert response.read() == b"hi"
                assert response.headers["server"] == "uvicorn"
                assert len(response.headers.get_all("date") or []) == 1
        finally:
            connection.close()
        # Counted just after the write: the client may be first.
        poll_until(lambda: server.server_state.total_requests >= 2)
        assert server.server_state.total_requests == 2

        # On a real loop the keep-alive deadline comes from the shell's ticker, not a timer
        # per request: an idle connection is still closed after timeout_keep_alive.
        idle = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
        try:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            began = time.monotonic()
            received = b""
            while chunk := idle.recv(65536):  # until the server closes
                received += chunk
            waited = time.monotonic() - began
        finally:
            idle.close()
        assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b"hi")
        assert 0.5 <= waited < 4, waited
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()  # uvicorn closed it; not if it failed before serving
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("allow", "client"),
    [
        pytest.param("127.0.0.1", ["203.0.113.7", 0], id="trusted_peer_sets_the_client"),
        pytest.param("10.9.9.9", ["127.0.0.1"], id="untrusted_peer_is_left_alone"),
    ],
)
def test_uvicorns_proxy_headers_work_through_the_dropin(allow: str, client: list[Any]) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"])
        await hello(scope, receive, send)

    async def main() -> None:
        protocol, transport, _ = connect(app, forwarded_allow_ips=allow, proxy_headers=True)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
        await settle()
        assert transport.buffer.startswith(b"HTTP/1.1 200 OK")

    asyncio.run(main())
    assert [list(c)[: len(client)] for c in seen] == [client]


@pytest.mark.parametrize(
    ("fields", "through_middleware"),
    [
        pytest.param(b"", False, id="no_proxy_field_skips_it"),
        pytest.param(b"X-Forwarded-Proto: https\r\n", True, id="x_forwarded_proto"),
        pytest.param(b"x-forwarded-for: 203.0.113.7\r\n", True, id="x_forwarded_for"),
        pytest.param(b"Forwarded: for=203.0.113.7\r\n", True, id="forwarded"),
        pytest.param(b"X-Forwarded-Host: example.org\r\n", True, id="x_forwarded_host"),
        pytest.param(b"X-Forwarded-Port: 443\r\n", False, id="other_x_forwarded"),
    ],
)
def test_uvicorns_proxy_middleware_runs_only_for_requests_with_proxy_fields(
    fields: bytes, through_middleware: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn's ProxyHeadersMiddleware changes nothing for a request without X-Forwarded-*
    # fields; the drop-in runs the app inside it directly for those.
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    calls: list[bool] = []
    original = ProxyHeadersMiddleware.__call__

    async def counted(self: Any, scope: Any, receive: Any, send: Any) -> None:
        calls.append(True)
        await original(self, scope, receive, send)

    monkeypatch.setattr(ProxyHeadersMiddleware, "__call__", counted)
    schemes: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        schemes.append(scope["scheme"])
        await hello(scope, receive, send)

    async def main() -> None:
        protocol, transport, _ = connect(app, forwarded_allow_ips="127.0.0.1", proxy_headers=True)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        await settle()
        assert transport.buffer.startswith(b"HTTP/1.1 200 OK")

    asyncio.run(main())
    assert calls == ([True] if through_middleware else [])
    assert schemes == (["https"] if b"Proto" in fields else ["http"])


def test_a_subclass_of_uvicorns_proxy_middleware_always_runs() -> None:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    calls: list[str] = []

    class Tagging(ProxyHeadersMiddleware):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            calls.append(scope["path"])
            await super().__call__(scope, receive, send)

    async def main() -> None:
        config = Config(app=hello, log_config=None, proxy_headers=False)
        config.load()
        config.loaded_app = Tagging(config.loaded_app)
        protocol = HTTPProtocol(config=config, server_state=ServerState(), app_state={})
        transport = MockTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(b"GET /tagged HTTP/1.1\r\nHost: x\r\n\r\n")
        await settle()
        assert transport.buffer.startswith(b"HTTP/1.1 200 OK")

    asyncio.run(main())
    assert calls == ["/tagged"]


def test_tls_through_the_dropin(tmp_path: Any) -> None:
    # uvicorn terminates TLS; the drop-in reads scheme and the tls extension off its transport,
    # for HTTP and for a WebSocket (--ws sailfish.uvicorn:WSProtocol) alike.
    trustme = pytest.importorskip("trustme")
    import ssl

    from websockets.exceptions import ConnectionClosedOK
    from websockets.sync.client import connect as ws_connect

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            seen.append((scope["scheme"], scope["extensions"].get("tls")))
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close"})
            return
        await hello(scope, receive, send)

    sock, port = _listener()
    config = Config(
        app=app,
        http="sailfish.uvicorn:HTTPProtocol",
        ws="sailfish.uvicorn:WSProtocol",
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        loop="asyncio",
        ssl_certfile=str(tmp_path / "cert.pem"),
        ssl_keyfile=str(tmp_path / "key.pem"),
    )
    server = Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        poll_until(lambda: server.started or not thread.is_alive(), timeout=CLIENT_TIMEOUT)
        assert server.started
        context = ssl.create_default_context()
        ca.configure_trust(context)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=CLIENT_TIMEOUT, context=context
        )
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            assert response.status == 200 and response.read() == b"hi"
        finally:
            connection.close()
        with ws_connect(
            f"wss://127.0.0.1:{port}/ws", ssl=context, open_timeout=CLIENT_TIMEOUT
        ) as ws:
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=CLIENT_TIMEOUT)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()  # uvicorn closed it; not if it failed before serving
    assert not thread.is_alive()
    [(scheme, tls), (ws_scheme, ws_tls)] = seen
    assert (scheme, ws_scheme) == ("https", "wss")
    assert tls["tls_version"] in (0x0303, 0x0304) and isinstance(tls["cipher_suite"], int)
    assert tls["server_cert"] is None  # uvicorn built the context: its certificate is unknown
    assert ws_tls == tls  # another connection, the same negotiated parameters
