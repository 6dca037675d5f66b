"""WebSocket protocol over the mock transport: the handshake, messages, close, keepalive, flow.

The connection starts as HTTP/1.1 (`HTTPProtocol` with sailfish's upgrade handler) and is
handed over to `WebSocketProtocol`, as in the server; the transport is the suite's
`MockTransport` and deadlines run on a `FakeClock` the test moves, so no test waits for real
time. Client frames are built here (masked, or not when a test wants a protocol error) and
server frames are read back with a small reader: the bytes on the wire are what is asserted.
The protocol runs over whichever twin is active; `make test` runs this file for both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sailfish.protocols import HTTPProtocol, Ticker, WebSocketProtocol, websocket_upgrade_handler
from sailfish.ws import WebSocketMessageError
from transport import FakeClock, MockTransport

App = Callable[[Any, Any, Any], Awaitable[None]]

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example


def upgrade_request(
    path: bytes = b"/chat?room=1", extra: bytes = b"", key: bytes = KEY, version: bytes = b"13"
) -> bytes:
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: example.org\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n"
    )


def frame(
    opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv1: bool = False
) -> bytes:
    """One client frame (masked unless told otherwise)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(value: str) -> bytes:
    return frame(1, value.encode())


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(8, struct.pack("!H", code) + reason.encode())


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """[(opcode, payload)] of the unmasked frames in `data` (whole frames only)."""
    out = []
    pos = 0
    while pos + 2 <= len(data):
        opcode = data[pos] & 0x0F
        assert not data[pos + 1] & 0x80, "a server frame must not be masked"
        n = data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n = struct.unpack_from("!H", data, pos)[0]
            pos += 2
        elif n == 127:
            n = struct.unpack_from("!Q", data, pos)[0]
            pos += 8
        out.append((opcode, data[pos : pos + n]))
        pos += n
    return out


def close_code(payload: bytes) -> tuple[int, str]:
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


def settings(**overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = dict(
        protocol="auto",
        max_size=1 << 20,
        max_queue=32,
        ping_interval=20.0,
        ping_timeout=20.0,
        per_message_deflate=False,
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def make_config(app: App, access_log: bool = False, **ws: Any) -> SimpleNamespace:
    return SimpleNamespace(
        loaded_app=app,
        root_path="",
        http=SimpleNamespace(server_header=True, date_header=True, default_headers=[]),
        limits=SimpleNamespace(
            max_request_line=8190,
            max_header_size=65536,
            max_headers=100,
            max_body_size=None,
            max_chunk_ext_size=4096,
            max_trailer_size=8192,
            concurrency=None,
        ),
        timeouts=SimpleNamespace(keep_alive=5.0, header_read=10.0),
        access_log=access_log,
        asgi_version="3.0",
        websocket=settings(**ws),
    )


class Client:
    """One connection: the HTTP protocol, the transport, the clock, and what the app did."""

    def __init__(self, app: App, access_log: bool = False, **ws: Any) -> None:
        loop = asyncio.get_running_loop()
        self.clock = FakeClock()
        self.ticker = Ticker(loop, interval=3600.0, clock=self.clock)
        config = make_config(app, access_log=access_log, **ws)
        self.state = SimpleNamespace(
            total_requests=0, connections=set(), tasks=set(), default_headers=[]
        )
        self.http = HTTPProtocol(
            config,
            self.state,
            {"lifespan": "state"},
            _loop=loop,
            deadlines=self.ticker,
            upgrades={b"websocket": websocket_upgrade_handler(config)},
        )
        self.transport = MockTransport()
        self.transport.protocol = self.http
        self.inbox = b""  # server bytes after the 101 head, not read yet
        self.http.connection_made(self.transport)

    @property
    def ws(self) -> WebSocketProtocol:
        protocol = self.transport.protocol
        assert isinstance(protocol, WebSocketProtocol), protocol
        return protocol

    def send(self, data: bytes) -> None:
        self.transport.protocol.data_received(data)

    async def handshake(self, request: bytes | None = None) -> bytes:
        """Send the upgrade request and return the response head once the app answered."""
        self.send(upgrade_request() if request is None else request)
        await settle()
        data = self.transport.take()
        if data.startswith(b"HTTP/1.1 101 "):
            head, _, self.inbox = data.partition(b"\r\n\r\n")
            return head + b"\r\n\r\n"
        return data

    async def open(self, request: bytes | None = None) -> bytes:
        head = await self.handshake(request)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return head

    async def frames(self) -> list[tuple[int, bytes]]:
        """The frames written so far (app sends go out at the end of a loop turn)."""
        await settle()
        data, self.inbox = self.inbox + self.transport.take(), b""
        return server_frames(data)

    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.ticker.tick()


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def headers_of(head: bytes) -> dict[bytes, list[bytes]]:
    fields: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


class Recorder:
    """An app that accepts and records every message, and echoes what it receives."""

    def __init__(self, accept: dict[str, Any] | None = None, echo: bool = True) -> None:
        self.accept = accept if accept is not None else {"type": "websocket.accept"}
        self.echo = echo
        self.messages: list[dict[str, Any]] = []
        self.scope: dict[str, Any] = {}
        self.done = asyncio.Event()
        self.error: BaseException | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        try:
            while True:
                message = await receive()
                self.messages.append(message)
                if message["type"] == "websocket.connect":
                    await send(self.accept)
                elif message["type"] == "websocket.receive" and self.echo:
                    await send({"type": "websocket.send", **_data(message)})
                elif message["type"] == "websocket.disconnect":
                    return
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.done.set()


def _data(message: dict[str, Any]) -> dict[str, Any]:
    return {key: message[key] for key in ("text", "bytes") if key in message}


# -- the handshake ---------------------------------------------------------------------------


def test_echo_text_and_bytes_after_the_handshake() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        head = await client.open()
        fields = headers_of(head)
        assert fields[b"sec-websocket-accept"] == [ACCEPT]
        assert fields[b"upgrade"][0].lower() == b"websocket"
        assert fields[b"server"] == [b"sailfish"] and len(fields[b"date"]) == 1
        client.send(text("héllo") + frame(2, b"\x00\xff"))
        await settle()
        assert await client.frames() == [(1, "héllo".encode()), (2, b"\x00\xff")]
        assert app.messages[1:] == [
            {"type": "websocket.receive", "text": "héllo"},
            {"type": "websocket.receive", "bytes": b"\x00\xff"},
        ]

    run(main())


def test_scope_is_the_websocket_scope_with_state_and_the_denial_extension() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open(upgrade_request(extra=b"Sec-WebSocket-Protocol: chat, superchat\r\n"))
        scope = app.scope
        assert scope["type"] == "websocket" and "method" not in scope
        assert scope["asgi"]["spec_version"] == "2.5"
        assert scope["scheme"] == "ws" and scope["http_version"] == "1.1"
        assert scope["path"] == "/chat" and scope["query_string"] == b"room=1"
        assert scope["subprotocols"] == ["chat", "superchat"]
        assert scope["state"] == {"lifespan": "state"}
        assert scope["extensions"] == {"websocket.http.response": {}}
        assert scope["client"] == ("127.0.0.1", 50000)

    run(main())


def test_accept_with_a_subprotocol_and_headers() -> None:
    async def main() -> None:
        accept = {
            "type": "websocket.accept",
            "subprotocol": "superchat",
            "headers": [(b"x-room", b"1")],
        }
        client = Client(Recorder(accept))
        head = await client.open(
            upgrade_request(extra=b"Sec-WebSocket-Protocol: chat, superchat\r\n")
        )
        fields = headers_of(head)
        assert fields[b"sec-websocket-protocol"] == [b"superchat"]
        assert fields[b"x-room"] == [b"1"]

    run(main())


def test_a_subprotocol_the_client_did_not_offer_is_an_app_error_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        app = Recorder({"type": "websocket.accept", "subprotocol": "other"})
        client = Client(app)
        head = await client.handshake(upgrade_request(extra=b"Sec-WebSocket-Protocol: chat\r\n"))
        assert head.startswith(b"HTTP/1.1 500 ")
        assert client.transport.closed

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        run(main())
    assert any(r.exc_info for r in caplog.records if "Exception in ASGI" in r.getMessage())


@pytest.mark.parametrize(
    ("request_bytes", "status", "field"),
    [
        pytest.param(upgrade_request(key=b"short"), 400, None, id="bad_key"),
        pytest.param(
            upgrade_request(version=b"8"), 426, (b"sec-websocket-version", b"13"), id="version_8"
        ),
        pytest.param(
            upgrade_request()
            .replace(b"GET ", b"POST ", 1)
            .replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"),
            400,
            None,
            id="post",
        ),
        pytest.param(
            upgrade_request(extra=b"Content-Length: 6\r\n") + b"\x81\x80abcd",
            400,
            None,
            id="body_that_looks_like_a_frame",
        ),
    ],
)
def test_a_bad_handshake_is_answered_in_http_and_the_app_never_runs(
    request_bytes: bytes, status: int, field: tuple[bytes, bytes] | None
) -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        head = await client.handshake(request_bytes)
        assert head.startswith(b"HTTP/1.1 %d " % status), head
        if field is not None:
            assert headers_of(head)[field[0]] == [field[1]]
        assert client.transport.closed
        assert app.messages == []

    run(main())


@pytest.mark.parametrize(
    "upgrade",
    [
        pytest.param(b"websocket, h2c", id="websocket_first"),
        pytest.param(b"h2c, WebSocket", id="websocket_second_any_case"),
        pytest.param(b"h2c,websocket", id="no_space"),
    ],
)
def test_websocket_offered_in_an_upgrade_list_is_taken(upgrade: bytes) -> None:
    """RFC 6455 §4.2.1: the Upgrade field *contains* "websocket" (RFC 9110 §7.8: a list)."""

    async def main() -> None:
        app = Recorder()
        client = Client(app)
        request = upgrade_request().replace(b"Upgrade: websocket", b"Upgrade: " + upgrade)
        await client.open(request)
        assert app.scope["type"] == "websocket"

    run(main())


def test_an_upgrade_list_without_websocket_is_plain_http() -> None:
    async def main() -> None:
        seen: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        client = Client(app)
        request = upgrade_request().replace(b"Upgrade: websocket", b"Upgrade: h2c, websocket/13")
        head = await client.handshake(request)
        assert head.startswith(b"HTTP/1.1 200 ") and seen == ["http"]

    run(main())


def test_close_before_accept_is_a_403_and_the_app_hears_1006() -> None:
    async def main() -> None:
        heard: list[Any] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.close"})
            heard.append(await receive())

        client = Client(app, access_log=True)
        head = await client.handshake()
        assert head.startswith(b"HTTP/1.1 403 ")
        assert client.transport.closed
        assert heard == [{"type": "websocket.disconnect", "code": 1006}]

    run(main())


def test_denial_response_with_status_headers_and_a_body_in_parts() -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 418,
                    "headers": [(b"content-type", b"text/plain"), (b"x-why", b"teapot")],
                }
            )
            await send(
                {"type": "websocket.http.response.body", "body": b"I am ", "more_body": True}
            )
            await send({"type": "websocket.http.response.body", "body": b"a teapot"})

        client = Client(app)
        response = await client.handshake()
        assert response.startswith(b"HTTP/1.1 418 ")
        assert headers_of(response)[b"x-why"] == [b"teapot"]
        head, _, body = response.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            assert b"I am " in body and b"a teapot" in body
        else:
            assert body == b"I am a teapot"
        assert client.transport.closed

    run(main())


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        pytest.param(101, 500, id="switching_protocols_refused"),
        pytest.param(199, 500, id="interim_refused"),
        pytest.param(200, 200, id="first_final_status_taken"),
    ],
)
def test_a_denial_response_needs_a_final_status(status: int, answer: int) -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            start = {"type": "websocket.http.response.start", "status": status, "headers": []}
            await send(start)
            await send({"type": "websocket.http.response.body", "body": b"no"})

        client = Client(app)
        response = await client.handshake()
        assert response.startswith(b"HTTP/1.1 %d " % answer), response
        assert client.transport.closed

    run(main())


def test_an_app_error_before_accept_is_a_500_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise ValueError("broken before accept")

        client = Client(app)
        head = await client.handshake()
        assert head.startswith(b"HTTP/1.1 500 ")
        assert client.transport.closed

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        run(main())
    [record] = [r for r in caplog.records if r.exc_info]
    assert "broken before accept" in str(record.exc_info[1])


def test_an_app_that_returns_without_accepting_gets_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()

        client = Client(app)
        assert (await client.handshake()).startswith(b"HTTP/1.1 500 ")

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        run(main())
    assert any("without accepting" in r.getMessage() for r in caplog.records)


def test_frames_that_came_with_the_upgrade_head_reach_the_app_after_accept() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open(upgrade_request() + text("early"))
        await settle()
        assert app.messages[1] == {"type": "websocket.receive", "text": "early"}
        assert await client.frames() == [(1, b"early")]

    run(main())


def test_one_access_log_line_per_handshake(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        client = Client(Recorder(), access_log=True)
        await client.open()

    with caplog.at_level(logging.INFO, logger="sailfish.access"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "sailfish.access"]
    assert lines == ['127.0.0.1:50000 - "WebSocket /chat?room=1" 101']


def test_the_access_line_escapes_a_decoded_path(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        client = Client(Recorder(), access_log=True)
        await client.open(upgrade_request(b"/a%0D%0Aforged"))

    with caplog.at_level(logging.INFO, logger="sailfish.access"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "sailfish.access"]
    assert lines == ['127.0.0.1:50000 - "WebSocket /a\\x0d\\x0aforged" 101']


# -- messages and close ----------------------------------------------------------------------


def test_the_peer_closes_the_app_hears_code_and_reason_and_the_close_is_echoed() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open()
        client.send(close_frame(4001, "bye"))
        await app.done.wait()
        assert app.messages[-1] == {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload)[0] == 4001
        assert client.transport.closed

    run(main())


def test_an_empty_close_frame_is_heard_as_1005() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open()
        client.send(frame(8, b""))
        await app.done.wait()
        assert app.messages[-1] == {"type": "websocket.disconnect", "code": 1005, "reason": ""}

    run(main())


def test_the_app_closes_with_code_and_reason_and_waits_for_the_reply() -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4000, "reason": "done"})

        client = Client(app)
        await client.open()
        await settle()
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload) == (4000, "done")
        assert not client.transport.closed  # the peer's reply is awaited (RFC 6455 §7.1.1)
        client.send(text("crossing") + close_frame(4000))
        assert client.transport.closed
        assert await client.frames() == []  # nothing after our close frame

    run(main())


def test_the_close_handshake_times_out_when_the_peer_never_replies() -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close"})

        client = Client(app)
        await client.open()
        await settle()
        ws = client.ws
        client.tick(ws.close_timeout - 1)
        assert not client.transport.closed
        client.tick(2)
        assert client.transport.closed

    run(main())


def test_an_app_that_returns_after_accepting_closes_with_1000() -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})

        client = Client(app)
        await client.open()
        await settle()
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload)[0] == 1000

    run(main())


def test_an_app_error_after_accept_closes_with_1011_and_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            raise RuntimeError("broken after accept")

        client = Client(app)
        await client.open()
        await settle()
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload)[0] == 1011

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        run(main())
    [record] = [r for r in caplog.records if r.exc_info]
    assert "broken after accept" in str(record.exc_info[1])


def test_an_invalid_close_code_from_the_app_raises_in_the_app() -> None:
    async def main() -> None:
        raised: list[BaseException] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            try:
                await send({"type": "websocket.close", "code": 1005})
            except WebSocketMessageError as exc:
                raised.append(exc)
            await send({"type": "websocket.close", "code": 1000})

        client = Client(app)
        await client.open()
        await settle()
        assert len(raised) == 1
        assert [close_code(p)[0] for op, p in await client.frames() if op == 8] == [1000]

    run(main())


def test_send_after_the_peer_closed_raises_an_oserror() -> None:
    async def main() -> None:
        raised: list[BaseException] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            assert (await receive())["type"] == "websocket.disconnect"
            try:
                await send({"type": "websocket.send", "text": "late"})
            except OSError as exc:
                raised.append(exc)

        client = Client(app)
        await client.open()
        client.send(close_frame(1000))
        await settle()
        assert len(raised) == 1

    run(main())


def test_connection_lost_gives_the_app_1006() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open()
        client.ws.connection_lost(None)
        await app.done.wait()
        assert app.messages[-1] == {"type": "websocket.disconnect", "code": 1006}

    run(main())


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(frame(1, b"\xff\xfe"), 1007, id="invalid_utf8_text"),
        pytest.param(frame(1, b"unmasked", mask=False), 1002, id="unmasked_frame"),
        pytest.param(frame(0x3, b""), 1002, id="reserved_opcode"),
        pytest.param(frame(1, b"x", rsv1=True), 1002, id="rsv1_not_negotiated"),
    ],
)
def test_a_protocol_error_closes_with_its_code(data: bytes, code: int) -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open()
        client.send(data)
        await app.done.wait()
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload)[0] == code
        assert app.messages[-1]["code"] == code
        assert client.transport.closed

    run(main())


def test_max_size_a_message_at_the_limit_passes_one_byte_more_closes_1009() -> None:
    async def main() -> None:
        app = Recorder(echo=False)
        client = Client(app, max_size=1000)
        await client.open()
        client.send(frame(2, b"a" * 1000))
        await settle()
        assert app.messages[-1] == {"type": "websocket.receive", "bytes": b"a" * 1000}
        client.send(frame(2, b"a" * 1001))
        await app.done.wait()
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload)[0] == 1009

    run(main())


def test_ping_is_answered_with_a_pong_of_the_same_payload() -> None:
    async def main() -> None:
        client = Client(Recorder())
        await client.open()
        client.send(frame(9, b"are you there"))
        assert await client.frames() == [(10, b"are you there")]

    run(main())


# -- keepalive ---------------------------------------------------------------------------------


def test_keepalive_pings_and_a_pong_keeps_the_connection() -> None:
    async def main() -> None:
        client = Client(Recorder(), ping_interval=5.0, ping_timeout=3.0)
        await client.open()
        client.tick(4.0)
        assert await client.frames() == []
        client.tick(1.5)
        [(opcode, payload)] = await client.frames()
        assert opcode == 9 and len(payload) == 4
        client.send(frame(10, payload))
        client.tick(4.0)  # past the pong deadline: the pong came, so nothing happens
        assert not client.transport.closed
        client.tick(1.5)  # the next ping
        assert [opcode for opcode, _ in await client.frames()] == [9]

    run(main())


def test_ping_timeout_closes_a_dead_peer_with_1011() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app, ping_interval=5.0, ping_timeout=3.0)
        await client.open()
        client.tick(5.5)
        [(opcode, payload)] = await client.frames()
        client.send(frame(10, b"xxxx"))  # a pong for some other ping does not count
        client.tick(3.5)
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload) == (1011, "keepalive ping timeout")
        assert client.transport.closed
        await app.done.wait()
        assert app.messages[-1] == {"type": "websocket.disconnect", "code": 1011}

    run(main())


def test_no_pings_when_the_interval_is_off() -> None:
    async def main() -> None:
        client = Client(Recorder(), ping_interval=None)
        await client.open()
        client.tick(3600.0)
        assert await client.frames() == [] and client.ws.deadline == 0.0

    run(main())


# -- flow control ------------------------------------------------------------------------------


def test_reading_pauses_while_max_queue_messages_wait_and_resumes_as_the_app_reads() -> None:
    async def main() -> None:
        received: list[Any] = []
        release = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await release.wait()
            received.append(await receive())

        client = Client(app, max_queue=3)
        await client.open()
        client.send(text("1") + text("2"))
        assert not client.transport.read_paused  # one below the limit
        client.send(text("3"))
        assert client.transport.read_paused
        release.set()
        await settle()
        assert received == [{"type": "websocket.receive", "text": "1"}]
        assert not client.transport.read_paused

    run(main())


def test_send_waits_while_the_transport_is_paused_and_writes_nothing() -> None:
    async def main() -> None:
        go = asyncio.Event()
        sent = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await go.wait()
            await send({"type": "websocket.send", "text": "x"})
            sent.set()
            await receive()

        client = Client(app)
        await client.open()
        client.ws.pause_writing()
        go.set()
        assert await client.frames() == [] and not sent.is_set()
        client.ws.resume_writing()
        await sent.wait()
        assert await client.frames() == [(1, b"x")]

    run(main())


def test_a_pause_for_writing_before_the_upgrade_goes_over_to_the_websocket_protocol() -> None:
    """The transport paused HTTP/1.1 for writing (a pipelined response the peer does not
    read) and resumes only the protocol it has then: the WebSocket protocol starts paused, so
    the accept waits for the transport, and the resume reaches it."""

    async def main() -> None:
        app = Recorder()
        client = Client(app)
        client.http.pause_writing()
        assert await client.handshake() == b""  # the app's accept waits: nothing written
        ws = client.ws
        assert ws.write_paused and len(ws.drain_waiters) == 1
        ws.resume_writing()  # what the transport calls once its buffer drains
        head = await client.handshake(b"")
        assert head.startswith(b"HTTP/1.1 101 "), head
        client.send(text("after"))
        assert await client.frames() == [(1, b"after")]

    run(main())


def test_the_write_deadline_runs_for_a_connection_upgraded_while_paused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        client.http.timeout_write = 5.0
        client.http.pause_writing()
        assert await client.handshake() == b""
        client.tick(4.9)  # the peer may take nothing for 5 s
        assert not client.transport.aborted
        client.tick(0.2)
        assert client.transport.aborted and client.transport.buffer == b""
        await app.done.wait()
        assert isinstance(app.error, OSError)  # its accept: the peer is gone
        assert "Write timeout" in caplog.text

    with caplog.at_level(logging.INFO, logger="sailfish.error"):
        run(main())


class BufferingTransport(MockTransport):
    """A mock transport that reports a write buffer and its limits, as asyncio's do."""

    def __init__(self, buffered: int) -> None:
        super().__init__()
        self.buffered = buffered

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (16384, 65536)


@pytest.mark.parametrize(
    ("buffered", "paused"),
    [
        pytest.param(65536, False, id="at_the_high_mark_not_paused"),
        pytest.param(65537, True, id="past_the_high_mark_paused"),
    ],
)
def test_a_raw_handover_past_the_high_water_mark_starts_paused(buffered: int, paused: bool) -> None:
    """Another server's HTTP protocol hands the connection over without a word of its pause:
    a buffer past the high-water mark shows it (asyncio pauses there), one at it does not."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ws = WebSocketProtocol(loop, set(), set(), Recorder(), settings(), raw=True)
        transport = BufferingTransport(buffered)
        transport.protocol = ws
        ws.connection_made(transport)
        assert ws.write_paused is paused
        ws.data_received(upgrade_request())
        await settle()
        assert transport.buffer.startswith(b"HTTP/1.1 101 ") is not paused
        ws.connection_lost(None)

    run(main())


# -- shutdown ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "code"),
    [
        pytest.param(False, 1001, id="final_stop_is_going_away"),
        pytest.param(True, 1012, id="restart_is_service_restart"),
    ],
)
def test_shutdown_closes_an_open_connection_and_tells_the_app(restart: bool, code: int) -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app)
        await client.open()
        if restart:
            client.ws.shutdown(restart=True)
        else:
            client.ws.shutdown()  # what a server that knows no restarts calls (uvicorn)
        [(opcode, payload)] = await client.frames()
        assert opcode == 8 and close_code(payload)[0] == code
        await app.done.wait()
        assert app.messages[-1] == {"type": "websocket.disconnect", "code": code}
        client.send(close_frame(code))  # the peer's reply ends it
        assert client.transport.closed

    run(main())


def test_shutdown_during_the_handshake_answers_503() -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await asyncio.Event().wait()  # never decides

        client = Client(app)
        client.send(upgrade_request())
        await settle()
        client.ws.shutdown()
        assert client.transport.take().startswith(b"HTTP/1.1 503 ")
        assert client.transport.closed

    run(main())


def test_an_accept_after_shutdown_raises_an_oserror_and_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        decide = asyncio.Event()
        raised: list[BaseException] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await decide.wait()
            try:
                await send({"type": "websocket.accept"})
            except OSError as exc:
                raised.append(exc)
                raise

        client = Client(app)
        client.send(upgrade_request())
        await settle()
        client.ws.shutdown()
        decide.set()
        await settle()
        assert len(raised) == 1

    with caplog.at_level(logging.DEBUG, logger="sailfish.error"):
        run(main())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- permessage-deflate ------------------------------------------------------------------------


def test_deflate_is_negotiated_when_on_and_offered_and_messages_inflate() -> None:
    async def main() -> None:
        app = Recorder()
        client = Client(app, per_message_deflate=True)
        head = await client.open(
            upgrade_request(extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        )
        assert headers_of(head)[b"sec-websocket-extensions"][0].startswith(b"permessage-deflate")
        compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(b"squeeze " * 50) + compressor.flush(zlib.Z_SYNC_FLUSH)
        client.send(frame(1, data[:-4], rsv1=True))
        await settle()
        assert app.messages[1] == {"type": "websocket.receive", "text": "squeeze " * 50}

    run(main())


def test_deflate_is_declined_when_off() -> None:
    async def main() -> None:
        client = Client(Recorder(), per_message_deflate=False)
        head = await client.open(
            upgrade_request(extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        )
        assert b"sec-websocket-extensions" not in headers_of(head)

    run(main())
