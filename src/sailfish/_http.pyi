"""Stub of the compiled core `sailfish._http` (built from ext/).

The behaviour is specified in docs/core.md; the pure-Python twin in sailfish.http has
the same classes and signatures. Import the active twin from `sailfish.http`.
"""

from collections.abc import Iterable, Mapping
from typing import Any, final

from sailfish.errors import HTTPError

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

def build_environ(scope: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI HTTP scope: a copy of `base` plus the request's keys."""
