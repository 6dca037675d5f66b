"""The opening handshake (RFC 6455 §4.2): check_handshake, the websocket scope, accept_response."""

from __future__ import annotations

import base64
import hashlib
from types import SimpleNamespace
from typing import Any

import pytest

from sailfish.errors import HandshakeError, ResponseError

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
# RFC 6455 §1.3's worked example: this key gives this accept value.
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
BASE = [
    (b"Host", b"example.com"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", KEY),
    (b"Sec-WebSocket-Version", b"13"),
]


def request(
    ws: SimpleNamespace,
    headers: list[tuple[bytes, bytes]] = BASE,
    *,
    method: bytes = b"GET",
    target: bytes = b"/chat?room=1",
    version: bytes = b"HTTP/1.1",
    **kw: Any,
) -> Any:
    head = method + b" " + target + b" " + version + b"\r\n"
    head += b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"
    kw.setdefault("client", ("127.0.0.1", 5000))
    kw.setdefault("server", ("127.0.0.1", 8000))
    events = ws.RequestParser(**kw).feed(head)
    assert type(events[0]).__name__ == "Request", events
    return events[0]


def replace(name: bytes, value: bytes | None) -> list[tuple[bytes, bytes]]:
    out = [(n, v) for n, v in BASE if n.lower() != name.lower()]
    return out if value is None else [*out, (name, value)]


def test_valid_handshake(ws: SimpleNamespace) -> None:
    headers = [
        *BASE,
        (b"Sec-WebSocket-Protocol", b"chat, superchat"),
        (b"Sec-WebSocket-Protocol", b" v2.json ,,"),
        (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits"),
        (b"Sec-WebSocket-Extensions", b"x-other"),
    ]
    hs = ws.check_handshake(request(ws, headers, root_path="/app"))
    assert type(hs).__name__ == "Handshake"
    assert hs.accept == ACCEPT
    assert hs.extensions == b"permessage-deflate; client_max_window_bits, x-other"
    http = request(ws, headers, root_path="/app").scope
    assert hs.scope == {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "root_path": "/app",
        "path": "/app/chat",
        "raw_path": b"/app/chat",
        "query_string": b"room=1",
        "headers": http["headers"],
        "subprotocols": ["chat", "superchat", "v2.json"],
    }
    assert "method" not in hs.scope


def test_accept_key_matches_the_rfc_computation(ws: SimpleNamespace) -> None:
    key = base64.b64encode(bytes(range(16)))
    hs = ws.check_handshake(request(ws, replace(b"Sec-WebSocket-Key", key)))
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert hs.accept == base64.b64encode(hashlib.sha1(key + guid).digest())


def test_no_extensions_no_subprotocols(ws: SimpleNamespace) -> None:
    hs = ws.check_handshake(request(ws))
    assert hs.extensions is None
    assert hs.scope["subprotocols"] == []


@pytest.mark.parametrize(
    ("scheme", "secure", "expected"),
    [("http", False, "ws"), ("https", False, "wss"), ("http", True, "wss")],
)
def test_scheme(ws: SimpleNamespace, scheme: str, secure: bool, expected: str) -> None:
    hs = ws.check_handshake(request(ws, scheme=scheme), scheme_secure=secure)
    assert hs.scope["scheme"] == expected


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(replace(b"Upgrade", b"WebSocket"), id="upgrade_case"),
        pytest.param(replace(b"Upgrade", b"foo, websocket"), id="upgrade_in_list"),
        pytest.param(replace(b"Connection", b"keep-alive, UPGRADE"), id="connection_in_list"),
        pytest.param(
            [*replace(b"Connection", b"keep-alive"), (b"Connection", b"upgrade")],
            id="connection_two_fields",
        ),
        pytest.param(replace(b"Sec-WebSocket-Key", b"  " + KEY), id="key_with_ows"),
        pytest.param([*BASE, (b"Content-Length", b"0")], id="empty_body"),
    ],
)
def test_accepted_variants(ws: SimpleNamespace, headers: list[tuple[bytes, bytes]]) -> None:
    hs = ws.check_handshake(request(ws, headers))
    assert not isinstance(hs, HandshakeError), hs


@pytest.mark.parametrize(
    ("kw", "status"),
    [
        pytest.param({"method": b"POST"}, 400, id="post"),
        pytest.param({"method": b"HEAD"}, 400, id="head"),
        pytest.param({"version": b"HTTP/1.0"}, 400, id="http_1_0"),
        pytest.param({"headers": [*BASE, (b"Content-Length", b"1")]}, 400, id="body_of_one_byte"),
        pytest.param({"headers": [*BASE, (b"Transfer-Encoding", b"chunked")]}, 400, id="chunked"),
        pytest.param({"headers": replace(b"Upgrade", None)}, 400, id="no_upgrade"),
        pytest.param({"headers": replace(b"Upgrade", b"h2c")}, 400, id="upgrade_other"),
        pytest.param({"headers": replace(b"Upgrade", b"websocketx")}, 400, id="upgrade_prefix"),
        pytest.param({"headers": replace(b"Connection", b"keep-alive")}, 400, id="no_conn_token"),
        pytest.param({"headers": replace(b"Connection", None)}, 400, id="no_connection"),
        pytest.param({"headers": replace(b"Sec-WebSocket-Key", None)}, 400, id="no_key"),
        pytest.param(
            {"headers": replace(b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ")},
            400,
            id="unpadded",
        ),
        pytest.param(
            {"headers": replace(b"Sec-WebSocket-Key", base64.b64encode(b"x" * 15))},
            400,
            id="key_15_bytes",
        ),
        pytest.param(
            {"headers": replace(b"Sec-WebSocket-Key", base64.b64encode(b"x" * 17))},
            400,
            id="key_17_bytes",
        ),
        pytest.param(
            {"headers": replace(b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZ!==")},
            400,
            id="key_not_base64",
        ),
        pytest.param({"headers": [*BASE, (b"Sec-WebSocket-Key", KEY)]}, 400, id="two_keys"),
        pytest.param({"headers": replace(b"Sec-WebSocket-Version", None)}, 426, id="no_version"),
        pytest.param({"headers": replace(b"Sec-WebSocket-Version", b"8")}, 426, id="version_8"),
        pytest.param({"headers": replace(b"Sec-WebSocket-Version", b"13, 8")}, 426, id="list"),
    ],
)
def test_refused(ws: SimpleNamespace, kw: dict[str, Any], status: int) -> None:
    error = ws.check_handshake(request(ws, **kw))
    assert isinstance(error, HandshakeError)
    assert error.status == status
    assert error.reason
    if status == 426:
        assert error.headers == [(b"sec-websocket-version", b"13")]
    else:
        assert error.headers == []


# --- the 101 response ---------------------------------------------------------------------------


def test_accept_response(ws: SimpleNamespace) -> None:
    headers = [*BASE, (b"Sec-WebSocket-Protocol", b"chat, superchat")]
    hs = ws.check_handshake(request(ws, headers))
    out = ws.accept_response(
        hs,
        subprotocol="superchat",
        extensions=b"permessage-deflate",
        headers=[(b"server", b"sailfish"), (b"x-extra", b"1")],
    )
    assert out == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"upgrade: websocket\r\n"
        b"connection: Upgrade\r\n"
        b"sec-websocket-accept: " + ACCEPT + b"\r\n"
        b"sec-websocket-protocol: superchat\r\n"
        b"sec-websocket-extensions: permessage-deflate\r\n"
        b"server: sailfish\r\n"
        b"x-extra: 1\r\n"
        b"\r\n"
    )
    assert ws.accept_response(hs) == (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: " + ACCEPT + b"\r\n\r\n"
    )


def test_accept_response_parsed_by_h11(ws: SimpleNamespace) -> None:
    import h11

    hs = ws.check_handshake(request(ws))
    conn = h11.Connection(h11.CLIENT)
    conn.send(
        h11.Request(method="GET", target="/", headers=[(n.decode(), v.decode()) for n, v in BASE])
    )
    conn.receive_data(ws.accept_response(hs, headers=[(b"date", b"x")]))
    event = conn.next_event()
    assert isinstance(event, h11.InformationalResponse) and event.status_code == 101
    assert dict(event.headers)[b"sec-websocket-accept"] == ACCEPT


@pytest.mark.parametrize("subprotocol", ["other", "Chat", ""])
def test_accept_response_refuses_unoffered_subprotocol(
    ws: SimpleNamespace, subprotocol: str
) -> None:
    hs = ws.check_handshake(request(ws, [*BASE, (b"Sec-WebSocket-Protocol", b"chat")]))
    with pytest.raises(ResponseError):
        ws.accept_response(hs, subprotocol=subprotocol)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(b"x-bad", b"a\r\nb: c")], id="crlf_in_value"),
        pytest.param([(b"x bad", b"v")], id="space_in_name"),
        pytest.param([("x-str", b"v")], id="str_name"),
        pytest.param([(b"x", b"v", b"w")], id="triple"),
        pytest.param([(b"x-nul", b"a\x00")], id="nul"),
    ],
)
def test_accept_response_validates_headers(ws: SimpleNamespace, headers: list[Any]) -> None:
    hs = ws.check_handshake(request(ws))
    with pytest.raises(ResponseError):
        ws.accept_response(hs, headers=headers)


def test_accept_response_validates_extensions_value(ws: SimpleNamespace) -> None:
    hs = ws.check_handshake(request(ws))
    with pytest.raises(ResponseError):
        ws.accept_response(hs, extensions=b"permessage-deflate\r\nx: y")


def test_websockets_client_accepts_our_response(ws: SimpleNamespace) -> None:
    # The websockets library's client protocol, fed our 101, reaches the OPEN state.
    from websockets.client import ClientProtocol
    from websockets.http11 import Response
    from websockets.protocol import OPEN
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/chat"), subprotocols=["chat"])
    req = client.connect()
    headers = [(n.lower().encode(), v.encode()) for n, v in req.headers.raw_items()]
    parsed = request(ws, headers, target=req.path.encode())
    hs = ws.check_handshake(parsed)
    assert hs.scope["subprotocols"] == ["chat"]
    client.send_request(req)
    client.receive_data(ws.accept_response(hs, subprotocol="chat"))
    assert isinstance(client.events_received()[0], Response)
    assert client.state is OPEN
    assert client.subprotocol == "chat"
