"""The types both twins of the core satisfy, and the ASGI callables.

Strategy: the compiled core (`sailfish._http`, described by _http.pyi) and its pure-Python twin
(`sailfish.http.parser` / `.writer`) share no base class; they share a contract (docs/core.md).
The Protocols here state that contract's Python surface, so code written against "the core"
(the shell, another server, a test) is typed without naming a twin. mypy checks at the bottom
of this file that both twins satisfy them; tests/http/test_types.py checks it at run time. The
ASGI aliases live here too; sailfish.middleware re-exports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sailfish.errors import HTTPError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ASGI2App = Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]


@runtime_checkable
class RequestLike(Protocol):
    """A parsed request head (docs/core.md "Request")."""

    @property
    def scope(self) -> dict[str, Any]: ...
    @property
    def keep_alive(self) -> bool: ...
    @property
    def expect_continue(self) -> bool: ...
    @property
    def upgrade(self) -> bytes | None: ...
    @property
    def has_body(self) -> bool: ...
    @property
    def forwarded(self) -> bool: ...


@runtime_checkable
class ParserLike(Protocol):
    """Bytes in, events out (docs/core.md "RequestParser")."""

    # Sequence, not list: a list of either twin's Request is not a list[RequestLike].
    def feed(
        self, data: bytes | bytearray | memoryview
    ) -> Sequence[RequestLike | dict[str, Any] | HTTPError]: ...
    def unparsed(self) -> bytes: ...


@runtime_checkable
class WriterLike(Protocol):
    """ASGI response messages in, wire bytes out (docs/core.md "ResponseWriter")."""

    def start(
        self, message: Mapping[str, Any], method: str, http_version: str, keep_alive: bool
    ) -> None: ...
    def body(self, message: Mapping[str, Any]) -> bytes: ...
    def trailers(self, message: Mapping[str, Any]) -> bytes: ...
    @property
    def keep_alive(self) -> bool: ...
    @property
    def started(self) -> bool: ...
    @property
    def complete(self) -> bool: ...


@runtime_checkable
class FrameParserLike(Protocol):
    """WebSocket bytes in, events out (docs/websocket.md "FrameParser").

    The events are `websocket.receive` dicts, the twin's own Ping / Pong / Close, or a
    `WebSocketError`; the twins' event classes differ, so the element type is open here.
    """

    def feed(self, data: bytes | bytearray | memoryview) -> Sequence[Any]: ...


@runtime_checkable
class FrameWriterLike(Protocol):
    """`websocket.send` messages and control frames in, wire bytes out (docs/websocket.md)."""

    def send(self, message: Mapping[str, Any]) -> bytes: ...
    def ping(self, payload: bytes = ...) -> bytes: ...
    def pong(self, payload: bytes) -> bytes: ...
    def close(self, code: int = ..., reason: str = ...) -> bytes: ...


if TYPE_CHECKING:
    # Both twins must satisfy the Protocols: mypy rejects these lines otherwise.
    from sailfish import _http
    from sailfish.http import parser as _pure_parser, writer as _pure_writer

    _requests: tuple[type[RequestLike], ...] = (_http.Request, _pure_parser.Request)
    _parsers: tuple[type[ParserLike], ...] = (_http.RequestParser, _pure_parser.RequestParser)
    _writers: tuple[type[WriterLike], ...] = (_http.ResponseWriter, _pure_writer.ResponseWriter)

    from sailfish.ws import frames as _pure_frames

    _frame_parsers: tuple[type[FrameParserLike], ...] = (
        _http.FrameParser,
        _pure_frames.FrameParser,
    )
    _frame_writers: tuple[type[FrameWriterLike], ...] = (
        _http.FrameWriter,
        _pure_frames.FrameWriter,
    )

__all__ = [
    "ASGI2App",
    "ASGIApp",
    "FrameParserLike",
    "FrameWriterLike",
    "Message",
    "ParserLike",
    "Receive",
    "RequestLike",
    "Scope",
    "Send",
    "WriterLike",
]
