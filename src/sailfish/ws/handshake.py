"""The reference twin of the WebSocket opening handshake: `check_handshake`, `accept_response`.

Strategy: the HTTP/1.1 core has already parsed and validated the request head; `check_handshake`
only judges the fields RFC 6455 §4.2.1 adds, in the order that section lists them, and either
returns a `Handshake` (the ASGI websocket scope, built from the HTTP scope, and the accept key)
or a `HandshakeError` naming the status to answer. `accept_response` builds the whole 101 head,
validating every extra header the way the HTTP ResponseWriter does. Extension negotiation lives
in deflate.py; nothing here does I/O or knows about frames.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from typing import Any, Final

from sailfish.errors import HandshakeError, ResponseError
from sailfish.http.writer import _fields

__all__ = ["Handshake", "accept_response", "check_handshake"]

# "the server has to ... concatenate this with the Globally Unique Identifier ... in string
# form" -- RFC 6455 §1.3
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OWS: Final = b" \t"
_VERSION_HEADERS: Final = [(b"sec-websocket-version", b"13")]


def _accept_key(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2 item 5.4)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _has_token(values: list[bytes], token: bytes) -> bool:
    """Some comma-separated element of `values` equals `token`, ignoring case."""
    return any(item.strip(_OWS).lower() == token for value in values for item in value.split(b","))


class Handshake:
    """A valid opening handshake: the websocket scope, the accept key and the offers."""

    __slots__ = ("accept", "extensions", "scope")

    def __init__(self, scope: dict[str, Any], accept: bytes, extensions: bytes | None) -> None:
        self.scope = scope
        self.accept = accept
        self.extensions = extensions

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Handshake):
            return NotImplemented
        return (
            self.scope == other.scope
            and self.accept == other.accept
            and self.extensions == other.extensions
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Handshake {self.scope['raw_path']!r} accept={self.accept!r}>"


def check_handshake(request: Any, *, scheme_secure: bool = False) -> Handshake | HandshakeError:
    """Judge an Upgrade request as a WebSocket opening handshake (RFC 6455 §4.2.1).

    Args:
        request: the `Request` the HTTP/1.1 core parsed (either twin).
        scheme_secure: the connection is TLS even if the scope says "http" (scheme "wss").

    Returns:
        A `Handshake`, or a `HandshakeError` (400, or 426 with Sec-WebSocket-Version: 13).
    """
    http = request.scope
    # "An HTTP/1.1 or higher GET request" -- RFC 6455 §4.2.1 item 1
    if http["method"] != "GET":
        return HandshakeError(400, "WebSocket handshake with a method other than GET", [])
    if http["http_version"] != "1.1":
        return HandshakeError(400, "WebSocket handshake over HTTP/1.0", [])
    # A GET's content has no defined meaning (RFC 9110 §9.3.1), and after the 101 every byte
    # that follows the head is read as frames: a handshake with a body is refused, not guessed.
    if request.has_body:
        return HandshakeError(400, "WebSocket handshake with a request body", [])
    upgrade: list[bytes] = []
    connection: list[bytes] = []
    keys: list[bytes] = []
    versions: list[bytes] = []
    protocols: list[bytes] = []
    extensions: list[bytes] = []
    for name, value in http["headers"]:
        if name == b"upgrade":
            upgrade.append(value)
        elif name == b"connection":
            connection.append(value)
        elif name == b"sec-websocket-key":
            keys.append(value)
        elif name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"sec-websocket-protocol":
            protocols.append(value)
        elif name == b"sec-websocket-extensions":
            extensions.append(value)
    # "An |Upgrade| header field containing the value "websocket", treated as an ASCII
    # case-insensitive value." -- item 3; "A |Connection| header field that includes the token
    # "Upgrade", treated as an ASCII case-insensitive value." -- item 4
    if not _has_token(upgrade, b"websocket"):
        return HandshakeError(400, "WebSocket handshake without Upgrade: websocket", [])
    if not _has_token(connection, b"upgrade"):
        return HandshakeError(400, "WebSocket handshake without Connection: upgrade", [])
    # "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16
    # bytes in length." -- item 5
    if not keys:
        return HandshakeError(400, "Missing Sec-WebSocket-Key header", [])
    if len(keys) > 1:
        return HandshakeError(400, "More than one Sec-WebSocket-Key header", [])
    key = keys[0].strip(_OWS)
    try:
        raw_key = base64.b64decode(key, validate=True)
    except binascii.Error:
        raw_key = b""
    if len(raw_key) != 16:
        return HandshakeError(400, "invalid Sec-WebSocket-Key", [])
    # "A |Sec-WebSocket-Version| header field, with a value of 13." -- item 6; otherwise "the
    # server MUST ... send an appropriate HTTP error code (such as 426 Upgrade Required) and a
    # |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of
    # understanding." -- §4.2.2
    if len(versions) != 1 or versions[0].strip(_OWS) != b"13":
        return HandshakeError(426, "unsupported Sec-WebSocket-Version", list(_VERSION_HEADERS))
    subprotocols = [
        item.strip(_OWS).decode("latin-1")
        for value in protocols
        for item in value.split(b",")
        if item.strip(_OWS)
    ]
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "scheme": "wss" if scheme_secure or http["scheme"] == "https" else "ws",
        "server": http["server"],
        "client": http["client"],
        "root_path": http["root_path"],
        "path": http["path"],
        "raw_path": http["raw_path"],
        "query_string": http["query_string"],
        "headers": http["headers"],
        "subprotocols": subprotocols,
    }
    offers = b", ".join(extensions) if extensions else None
    return Handshake(scope, _accept_key(key), offers)


def accept_response(
    handshake: Handshake,
    *,
    subprotocol: str | None = None,
    extensions: bytes | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """The whole `101 Switching Protocols` head that accepts `handshake` (RFC 6455 §4.2.2).

    Args:
        handshake: the result of `check_handshake`.
        subprotocol: the subprotocol the app chose; must be one the client offered.
        extensions: the Sec-WebSocket-Extensions value (from `negotiate_deflate`), or None.
        headers: more (name, value) pairs of bytes, written after ours (Server, Date, app's).

    Raises:
        ResponseError: a subprotocol the client did not offer, or an invalid header.
    """
    out = [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: " + handshake.accept + b"\r\n"
    ]
    if subprotocol is not None:
        # "the value chosen MUST be derived from the client's handshake, specifically by
        # selecting one of the values from the |Sec-WebSocket-Protocol| field" -- §4.2.2
        if not isinstance(subprotocol, str) or subprotocol not in handshake.scope["subprotocols"]:
            raise ResponseError(f"subprotocol {subprotocol!r} was not offered by the client")
        out.append(b"sec-websocket-protocol: " + subprotocol.encode("latin-1") + b"\r\n")
    if extensions is not None:
        fields = _fields([(b"sec-websocket-extensions", extensions)], "websocket.accept")
        out.append(b"sec-websocket-extensions: " + fields[0][1] + b"\r\n")
    for name, value in _fields(headers, "websocket.accept headers"):
        out.append(name + b": " + value + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)
