"""Stub of the compiled core `sailfish._http` (built from ext/).

The behaviour is specified in docs/core.md (HTTP/1.1) and docs/websocket.md (WebSocket); the
pure-Python twins in sailfish.http and sailfish.ws have the same classes and signatures. Import
the active twin from `sailfish.http` / `sailfish.ws`.
"""

from collections.abc import Iterable, Mapping
from typing import Any, final

from sailfish.errors import HandshakeError, HTTPError, WebSocketError

@final
class Request:
    """One parsed request head: the ASGI scope and what the shell needs to know."""

    @property
    def scope(self) -> dict[str, Any]:
        """The ASGI HTTP scope dict (a new dict per request)."""
    @property
    def keep_alive(self) -> bool:
        """The client allows the connection to be reused after this request."""
    @property
    def expect_continue(self) -> bool:
        """HTTP/1.1 request with a body and `Expect: 100-continue`."""
    @property
    def upgrade(self) -> bytes | None:
        """The Upgrade field value when `Connection: upgrade` asks for one (HTTP/1.1), else None."""
    @property
    def has_body(self) -> bool:
        """Content-Length > 0 or chunked: body messages follow this head."""
    @property
    def forwarded(self) -> bool:
        """The head has a Forwarded, X-Forwarded-For or X-Forwarded-Proto field line."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class RequestParser:
    """Sans-IO HTTP/1.1 request parser: bytes in, ASGI scopes and body messages out."""

    def __init__(
        self,
        *,
        client: tuple[str, int] | None = None,
        server: tuple[str, int | None] | None = None,
        scheme: str = "http",
        root_path: str = "",
        max_request_line: int = 8190,
        max_header_size: int = 65536,
        max_headers: int = 100,
        max_body_size: int | None = None,
        max_chunk_ext_size: int = 4096,
        max_trailer_size: int = 8192,
    ) -> None: ...
    def feed(
        self, data: bytes | bytearray | memoryview
    ) -> list[Request | dict[str, Any] | HTTPError]:
        """Parse `data` (any split) and return the events it completes, in wire order.

        Returns:
            `Request` heads, each followed by its `http.request` body messages; if the bytes
            are invalid, an `HTTPError` instance is the last item and the parser is finished.
        """
    def unparsed(self) -> bytes:
        """Remove and return the buffered bytes not parsed yet (after an upgrade head)."""

@final
class ResponseWriter:
    """Turns `http.response.*` messages into wire bytes for one connection."""

    def __init__(
        self,
        *,
        server_header: bytes | None = b"sailfish",
        date_header: bool = True,
        default_headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None: ...
    def start(
        self, message: Mapping[str, Any], method: str, http_version: str, keep_alive: bool
    ) -> None:
        """Validate and remember an `http.response.start`; nothing is written yet.

        Raises:
            ResponseError: bad status or header, or a response already in progress.
        """
    def body(self, message: Mapping[str, Any]) -> bytes:
        """Frame an `http.response.body`; the first call also returns the head.

        Raises:
            ResponseError: no response started, or the body overruns/underruns Content-Length.
        """
    def trailers(self, message: Mapping[str, Any]) -> bytes:
        """Frame an `http.response.trailers` (empty bytes if the response is not chunked).

        Raises:
            ResponseError: trailers not announced, or bad header.
        """
    @property
    def keep_alive(self) -> bool:
        """The connection may serve another request once this response is complete."""
    @property
    def started(self) -> bool:
        """A response was started and is not complete."""
    @property
    def complete(self) -> bool:
        """The current response is fully framed."""

# -- WebSocket (ext/ws/) -------------------------------------------------------------------

@final
class Ping:
    """A ping frame from the peer; the shell answers with a pong carrying the same payload."""

    def __init__(self, payload: bytes) -> None: ...
    @property
    def payload(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class Pong:
    """A pong frame from the peer (an answer to our ping, or unsolicited)."""

    def __init__(self, payload: bytes) -> None: ...
    @property
    def payload(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class Close:
    """The peer's close frame: `code` (1005 when the frame had no payload) and `reason`."""

    def __init__(self, code: int, reason: str) -> None: ...
    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class Deflate:
    """The negotiated permessage-deflate of one connection, and its zlib streams."""

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
        compress_level: int = -1,
        mem_level: int = 8,
        min_size: int = 64,
    ) -> None: ...
    @property
    def server_no_context_takeover(self) -> bool: ...
    @property
    def client_no_context_takeover(self) -> bool: ...
    @property
    def server_max_window_bits(self) -> int: ...
    @property
    def client_max_window_bits(self) -> int: ...
    @property
    def compress_level(self) -> int: ...
    @property
    def mem_level(self) -> int: ...
    @property
    def min_size(self) -> int: ...
    def response(self) -> bytes:
        """The Sec-WebSocket-Extensions value that announces these settings."""
    def compress(self, payload: bytes) -> bytes:
        """One whole message, compressed, without the 00 00 ff ff tail (RFC 7692 §7.2.1)."""
    def inflate(self, chunk: bytes, budget: int) -> bytes:
        """Inflate the next piece of a compressed message (at most budget + 1 bytes out)."""
    def end_inflate(self, budget: int) -> bytes:
        """End a compressed message: inflate the tail, reset the window as negotiated."""

def negotiate_deflate(
    offers: bytes,
    *,
    enabled: bool = True,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
    compress_level: int = -1,
    mem_level: int = 8,
) -> tuple[bytes, Deflate] | None:
    """Accept the first permessage-deflate offer we can honour (RFC 7692 §5, §7.1).

    Returns:
        (the response's Sec-WebSocket-Extensions value, the connection's Deflate), or None.
    """

@final
class FrameParser:
    """Sans-IO parser of client frames (server side): bytes in, messages and events out."""

    def __init__(
        self, *, max_message_size: int = 16777216, deflate: Deflate | None = None
    ) -> None: ...
    def feed(
        self, data: bytes | bytearray | memoryview
    ) -> list[dict[str, Any] | Ping | Pong | Close | WebSocketError]:
        """Parse `data` (any split) and return the events it completes, in wire order.

        Returns:
            `websocket.receive` dicts, `Ping`, `Pong`, `Close` (last), or a `WebSocketError`
            (last; the parser is finished). After either, feed returns [].
        """

@final
class FrameWriter:
    """Builds server frames (unmasked, FIN set), each returned as one bytes object."""

    def __init__(self, *, deflate: Deflate | None = None) -> None: ...
    def send(self, message: Mapping[str, Any]) -> bytes:
        """Frame a `websocket.send` message: exactly one of "bytes" / "text" is not None.

        Raises:
            WebSocketMessageError: both or neither, or a value of the wrong type.
        """
    def ping(self, payload: bytes = b"") -> bytes:
        """A ping frame (payload at most 125 bytes, else WebSocketMessageError)."""
    def pong(self, payload: bytes) -> bytes:
        """A pong frame (payload at most 125 bytes, else WebSocketMessageError)."""
    def close(self, code: int = 1000, reason: str = "") -> bytes:
        """A close frame (code 1000-1003, 1007-1014, 3000-4999; reason <= 123 UTF-8 bytes)."""

@final
class Handshake:
    """A valid opening handshake: the websocket scope, the accept key and the offers."""

    def __init__(self, scope: dict[str, Any], accept: bytes, extensions: bytes | None) -> None: ...
    @property
    def scope(self) -> dict[str, Any]: ...
    @property
    def accept(self) -> bytes: ...
    @property
    def extensions(self) -> bytes | None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

def check_handshake(request: Any, *, scheme_secure: bool = False) -> Handshake | HandshakeError:
    """Judge an Upgrade request as a WebSocket opening handshake (RFC 6455 §4.2.1).

    Returns:
        A `Handshake`, or a `HandshakeError` (400, or 426 with Sec-WebSocket-Version: 13).
    """

def accept_response(
    handshake: Handshake,
    *,
    subprotocol: str | None = None,
    extensions: bytes | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """The whole `101 Switching Protocols` head that accepts `handshake` (RFC 6455 §4.2.2).

    Raises:
        ResponseError: a subprotocol the client did not offer, or an invalid header.
    """
