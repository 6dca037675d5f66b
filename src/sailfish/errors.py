"""The one exception hierarchy of sailfish.

Strategy: every exception sailfish raises on purpose derives from `SailfishError`.
Errors caused by the peer's bytes are `HTTPError` subclasses and carry, as a class
attribute, the status the server answers with before it closes the connection; the
core (both twins) raises or returns them, and only the shell turns them into bytes.
Errors caused by the application's messages are `ResponseError` (also a RuntimeError,
as ASGI servers traditionally raise). Nothing here imports anything but the stdlib.
"""

from __future__ import annotations

from typing import ClassVar


class SailfishError(Exception):
    """Base of every exception sailfish raises on purpose."""


class ConfigError(SailfishError):
    """Bad settings; raised before any socket is bound (the CLI exits with 2)."""


class StartupError(SailfishError):
    """Bind or lifespan failure (the CLI exits with 3)."""


class ResponseError(SailfishError, RuntimeError):
    """The application sent a response message the server cannot put on the wire.

    Examples: a CR, LF or NUL in a header, a body longer or shorter than its
    Content-Length, messages in the wrong order.
    """


class ConcurrentUseError(SailfishError, RuntimeError):
    """A core object (RequestParser, ResponseWriter, FrameParser, Deflate) was called while a
    call on it was still running: from a second thread at once, or re-entered from a callback.

    One object belongs to one connection and is used from one thread at a time. The compiled
    core raises this instead of letting two calls share its buffers; the pure-Python twin does
    not check (its objects can give wrong results then, but never corrupt memory).
    """


class ProxyHeaderError(SailfishError):
    """A PROXY protocol header is malformed or too long: the connection is closed, unanswered
    (the peer is a proxy that broke the protocol, not an HTTP client to answer)."""


class HTTPError(SailfishError):
    """The peer sent something we refuse: answer `status`, then close.

    `str(exc)` names the reason, for the log line the shell writes: a key phrase, then
    optionally details in parentheses ("request body too large (Content-Length 1000 > limit
    100)"). Both twins of the core give every error they return such a message; one made
    without a message falls back to the class's short `reason`.
    """

    status: ClassVar[int] = 400
    reason: ClassVar[str] = "bad request"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.reason if message is None else message)


class BadRequest(HTTPError):
    """400: the request is malformed."""

    status = 400
    reason = "bad request"


class InvalidRequestLine(BadRequest):
    """The request line is malformed (missing parts, bad spacing, bad characters)."""

    reason = "invalid request line"


class InvalidMethod(BadRequest):
    """The method is not a token."""

    reason = "invalid method"


class InvalidTarget(BadRequest):
    """The request-target is none of the four forms of RFC 9112 §3.2."""

    reason = "invalid request target"


class InvalidVersion(BadRequest):
    """The HTTP-version is malformed, or absent (an HTTP/0.9-style request)."""

    reason = "invalid HTTP version"


class InvalidHeader(BadRequest):
    """A field line is malformed: obs-fold, space before the colon, bad bytes."""

    reason = "invalid field line"


class InvalidHost(BadRequest):
    """Host is missing (HTTP/1.1), repeated, or not a valid uri-host[:port]."""

    reason = "invalid Host"


class InvalidFraming(BadRequest):
    """Content-Length / Transfer-Encoding do not give one safe body length."""

    reason = "invalid message framing"


class InvalidChunk(BadRequest):
    """A chunk-size line or the CRLF after chunk data is malformed (trailers: InvalidHeader)."""

    reason = "invalid chunked body"


class BodyTooLarge(HTTPError):
    """413: the body is longer than the configured limit."""

    status = 413
    reason = "request body too large"


class ExpectationFailed(HTTPError):
    """417: an HTTP/1.1 Expect field holds an expectation other than 100-continue."""

    status = 417
    reason = "expectation failed"


class RequestLineTooLong(HTTPError):
    """414: the request line is longer than the configured limit."""

    status = 414
    reason = "request line too long"


class HeadersTooLarge(HTTPError):
    """431: the header (or trailer) section is too large or has too many fields."""

    status = 431
    reason = "field section too large"


class UnsupportedTransferCoding(HTTPError):
    """501: a transfer coding other than chunked."""

    status = 501
    reason = "unsupported transfer coding"


class UnsupportedVersion(HTTPError):
    """505: an HTTP major version other than 1."""

    status = 505
    reason = "HTTP version not supported"


class WebSocketError(SailfishError):
    """The WebSocket peer broke RFC 6455 / RFC 7692: send a close frame with `code`, then close.

    Returned (not raised) by `FrameParser.feed` as its last event. `code` is the close code
    the server answers with: 1002 protocol error, 1007 invalid payload data (bad UTF-8),
    1009 message too big (docs/websocket.md "Errors"). `reason` is a short phrase for the log
    line and the close frame (always ASCII, at most 123 bytes).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} (close code {self.code})"


class WebSocketMessageError(SailfishError, ValueError):
    """The application sent a WebSocket message that cannot be framed.

    Examples: a `websocket.send` with both or neither of "bytes"/"text", a ping payload over
    125 bytes, a close code that may not be sent, a close reason over 123 UTF-8 bytes.
    """


class HandshakeError(SailfishError):
    """An Upgrade request that is not a valid WebSocket opening handshake (RFC 6455 §4.2.1).

    Returned (not raised) by `check_handshake`. The shell answers `status` (400, or 426 for a
    version other than 13) with `headers` (e.g. `Sec-WebSocket-Version: 13`), then closes.
    """

    def __init__(self, status: int, reason: str, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(status, reason, headers)
        self.status = status
        self.reason = reason
        self.headers = headers

    def __str__(self) -> str:
        return self.reason


__all__ = [
    "BadRequest",
    "BodyTooLarge",
    "ConfigError",
    "ExpectationFailed",
    "HTTPError",
    "HandshakeError",
    "HeadersTooLarge",
    "InvalidChunk",
    "InvalidFraming",
    "InvalidHeader",
    "InvalidHost",
    "InvalidMethod",
    "InvalidRequestLine",
    "InvalidTarget",
    "InvalidVersion",
    "ProxyHeaderError",
    "RequestLineTooLong",
    "ResponseError",
    "SailfishError",
    "StartupError",
    "UnsupportedTransferCoding",
    "UnsupportedVersion",
    "WebSocketError",
    "WebSocketMessageError",
]
