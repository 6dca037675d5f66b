"""The reference (pure-Python) twin of the request parser: `Request` and `RequestParser`.

Strategy: a state machine with one reader per state (the `_READERS` table). A reader consumes
from the receive buffer and returns an event, or `_Step.PROGRESS` (input used, no event), or
`_Step.NEED_DATA`, or raises an `HTTPError`; `feed` runs readers until one needs data, then
merges body pieces into `http.request` messages (docs/core.md "RequestParser"). Lines are
judged once their LF is buffered and limits on what is buffered, so outcomes never depend on
how the bytes were split. Field-line and head semantics live in headers.py, the target and the
scope in scope.py, the grammar in _abnf.py; nothing here does I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Any

from sailfish.errors import (
    BodyTooLarge,
    HeadersTooLarge,
    HTTPError,
    InvalidChunk,
    InvalidHeader,
    InvalidMethod,
    InvalidRequestLine,
    InvalidVersion,
    RequestLineTooLong,
    UnsupportedVersion,
)
from sailfish.http import _abnf
from sailfish.http.headers import analyse_head, parse_field_line
from sailfish.http.scope import Target, body_message, build_scope, parse_target

__all__ = ["Request", "RequestParser"]

_METHOD = re.compile(_abnf.METHOD.encode("ascii"))
_HTTP_VERSION = re.compile(_abnf.HTTP_VERSION.encode("ascii"))
_CHUNK_SIZE = re.compile(_abnf.CHUNK_SIZE.encode("ascii"))
_CHUNK_EXT = re.compile(_abnf.CHUNK_EXT.encode("ascii"))
# While a chunk-size line has no LF yet we only need to know whether its leading hex run is
# already too long, so the scan stops one digit past the limit.
_CHUNK_SIZE_PREFIX = re.compile(
    f"{_abnf.HEXDIG}{{0,{_abnf.CHUNK_SIZE_MAX_DIGITS + 1}}}".encode("ascii")
)
_CHUNK_SIZE_LIMIT = 2**63
# A request line holds only SP and VCHAR (method, target and version are all VCHAR), then CRLF:
# any other byte, or a CR not followed by LF, condemns it at once (docs/core.md step 1).
_REQUEST_LINE_BAD = re.compile(rb"[^\x20-\x7e\r\n]|\r(?=[^\n])")

_CR = 0x0D
_CRLF = b"\r\n"
# A head carrying one of these field names makes the Request `forwarded` (docs/core.md).
_FORWARDED_NAMES = frozenset(
    (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
)


class Request:
    """One parsed request head: the ASGI scope and what the shell needs to know.

    Instances are made by `RequestParser`; the attributes are read-only.
    """

    __slots__ = ("_expect_continue", "_forwarded", "_has_body", "_keep_alive", "_scope", "_upgrade")

    def __init__(
        self,
        scope: dict[str, Any],
        *,
        keep_alive: bool,
        expect_continue: bool,
        upgrade: bytes | None,
        has_body: bool,
        forwarded: bool,
    ) -> None:
        self._scope = scope
        self._keep_alive = keep_alive
        self._expect_continue = expect_continue
        self._upgrade = upgrade
        self._has_body = has_body
        self._forwarded = forwarded

    @property
    def scope(self) -> dict[str, Any]:
        """The ASGI HTTP scope dict (a new dict per request)."""
        return self._scope

    @property
    def keep_alive(self) -> bool:
        """The client allows the connection to be reused after this request."""
        return self._keep_alive

    @property
    def expect_continue(self) -> bool:
        """HTTP/1.1 request with a body and `Expect: 100-continue`."""
        return self._expect_continue

    @property
    def upgrade(self) -> bytes | None:
        """The Upgrade field value when `Connection: upgrade` asks for one (HTTP/1.1)."""
        return self._upgrade

    @property
    def has_body(self) -> bool:
        """Content-Length > 0 or chunked: body messages follow this head."""
        return self._has_body

    @property
    def forwarded(self) -> bool:
        """The head has a Forwarded, X-Forwarded-For, -Proto or -Host field line."""
        return self._forwarded

    def _key(self) -> tuple[dict[str, Any], bool, bool, bytes | None, bool, bool]:
        return (
            self._scope,
            self._keep_alive,
            self._expect_continue,
            self._upgrade,
            self._has_body,
            self._forwarded,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return self._key() != other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable scope: equal but not hashable

    def __repr__(self) -> str:
        return (
            f"Request(scope={self._scope!r}, keep_alive={self._keep_alive!r},"
            f" expect_continue={self._expect_continue!r}, upgrade={self._upgrade!r},"
            f" has_body={self._has_body!r}, forwarded={self._forwarded!r})"
        )


class _ReceiveBuffer:
    """The bytes received and not parsed yet, with a memory of where LF was last looked for.

    Remembering the scanned length keeps a long incomplete line fed in small pieces from being
    rescanned from its start on every call. Extracting from the front of a bytearray is cheap
    in CPython (it moves a start offset), so body bytes cost linear time overall.
    """

    __slots__ = ("_data", "_scanned")

    def __init__(self) -> None:
        self._data = bytearray()
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._data)

    def append(self, data: bytes | bytearray | memoryview) -> None:
        self._data += data

    def find_lf(self) -> int:
        """The index of the first LF, or -1 if none is buffered yet."""
        index = self._data.find(b"\n", self._scanned)
        self._scanned = len(self._data) if index < 0 else index
        return index

    def extract(self, size: int) -> bytes:
        """Remove and return the first `size` bytes (fewer if fewer are buffered)."""
        chunk = bytes(self._data[:size])
        del self._data[:size]
        self._scanned = 0
        return chunk

    def extract_all(self) -> bytes:
        return self.extract(len(self._data))

    def clear(self) -> None:
        self._data.clear()
        self._scanned = 0

    def __getitem__(self, index: int) -> int:
        return self._data[index]

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        return pattern.match(self._data)

    def first_bad_in_request_line(self, end: int) -> int:
        """Where the request line in [0, end) is first known to be bad, or -1.

        That is the index of a byte that can be in no request line, or for a CR, the index of
        the byte after it that is not LF (a CR at `end` - 1 waits for its next byte).
        """
        found = _REQUEST_LINE_BAD.search(self._data, 0, end)
        if found is None:
            return -1
        start = found.start()
        return start + 1 if self._data[start] == _CR else start


class _Data:
    """Internal event: body bytes of the current request (merged by `feed`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _EndOfBody:
    """Internal event: the current request's body is complete."""

    __slots__ = ()


_END_OF_BODY = _EndOfBody()


class _Step(enum.Enum):
    """What a reader returns when it has no event to report."""

    NEED_DATA = "need data"  # nothing more can be done until more bytes arrive
    PROGRESS = "progress"  # input was consumed or the state changed: run the next reader


class _State(enum.Enum):
    REQUEST_LINE = "request line"
    FIELD_LINES = "field lines"
    BODY_LENGTH = "Content-Length body"
    CHUNK_SIZE = "chunk-size line"
    CHUNK_DATA = "chunk data"
    CHUNK_DATA_END = "CRLF after chunk data"
    TRAILERS = "trailer section"
    PAUSED = "paused after an upgrade head"
    CLOSED = "done: keep-alive ended"
    ERRORED = "errored"


_Event = Request | _Data | _EndOfBody
_Result = Request | dict[str, Any] | HTTPError  # what feed() returns, per item
_Reader = Callable[["RequestParser", _ReceiveBuffer], "_Event | _Step"]


def _check_limit(name: str, value: object) -> int:
    # bool is an int subclass, but `max_headers=True` is a bug, not a limit of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")
    return value


def _check_address(name: str, value: object) -> Any:
    if value is not None and not isinstance(value, tuple):
        raise TypeError(f"{name} must be a tuple or None, not {type(value).__name__}")
    return value


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


class RequestParser:
    """Sans-IO HTTP/1.1 request parser: bytes in, ASGI scopes and body messages out.

    The behaviour is specified in docs/core.md; this is the reference twin of
    `sailfish._http.RequestParser`.
    """

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
    ) -> None:
        """Create a parser for one connection.

        Args:
            client: the peer address, copied into every scope.
            server: the local address, copied into every scope.
            scheme: "http" or "https", copied into every scope.
            root_path: the mount point, copied into every scope and prefixed to paths.
            max_request_line: the longest request line, in bytes without the CRLF (else 414).
            max_header_size: the largest header section, with the final CRLF (else 431).
            max_headers: the most field lines in the header or the trailer section (else 431).
            max_body_size: the largest body (else 413), or None for no limit.
            max_chunk_ext_size: the most bytes after the chunk size on a chunk line (else 400).
            max_trailer_size: the largest trailer section, with the final CRLF (else 431).

        Raises:
            TypeError: a limit is not an int (bool is refused), or an address/str is mistyped.
            ValueError: a limit is negative.
        """
        # Settings
        self._client: tuple[str, int] | None = _check_address("client", client)
        self._server: tuple[str, int | None] | None = _check_address("server", server)
        self._scheme = _check_str("scheme", scheme)
        self._root_path = _check_str("root_path", root_path)
        self._max_request_line = _check_limit("max_request_line", max_request_line)
        self._max_header_size = _check_limit("max_header_size", max_header_size)
        self._max_headers = _check_limit("max_headers", max_headers)
        self._max_body_size = (
            None if max_body_size is None else _check_limit("max_body_size", max_body_size)
        )
        self._max_chunk_ext_size = _check_limit("max_chunk_ext_size", max_chunk_ext_size)
        self._max_trailer_size = _check_limit("max_trailer_size", max_trailer_size)

        # Per-connection state
        self._buffer = _ReceiveBuffer()
        self._state = _State.REQUEST_LINE
        self._resume_state = _State.REQUEST_LINE  # where feed() goes on after PAUSED

        # Per-request state
        self._method = ""
        self._target = Target(b"", "", b"")
        self._http_version = "1.1"
        self._headers: list[tuple[bytes, bytes]] = []
        self._section_size = 0  # bytes of the header or trailer section consumed so far
        self._section_lines = 0  # field lines of the header or trailer section so far
        self._keep_alive = True
        self._body_left = 0  # Content-Length bytes, or bytes of the current chunk, to come
        self._body_total = 0  # chunk data announced so far (for max_body_size)

    # -- public API ---------------------------------------------------------------------------

    def feed(
        self, data: bytes | bytearray | memoryview
    ) -> list[Request | dict[str, Any] | HTTPError]:
        """Parse `data` (any split) and return the events it completes, in wire order.

        Args:
            data: the next bytes received, possibly empty.

        Returns:
            `Request` heads, each followed by its `http.request` body messages; if the bytes
            are invalid, an `HTTPError` instance is the last item and the parser is finished.
            After an error, or after a request whose `keep_alive` is False has completed, the
            result is always `[]`.
        """
        view = memoryview(data)  # refuses str, int and other non-buffers with TypeError
        if not view.contiguous:
            view = memoryview(view.tobytes())
        if self._state in (_State.ERRORED, _State.CLOSED):
            return []
        if self._state is _State.PAUSED:
            # The shell did not take the connection over: go on parsing HTTP/1.1.
            self._state = self._resume_state
        self._buffer.append(view)

        events: list[_Event | HTTPError] = []
        try:
            while True:
                result = _READERS[self._state](self, self._buffer)
                if result is _Step.NEED_DATA:
                    break
                if not isinstance(result, _Step):
                    events.append(result)
        except HTTPError as exc:
            self._state = _State.ERRORED
            self._buffer.clear()
            # Returned, not raised: without its traceback, whose frames (and their callers')
            # would keep the connection alive in a reference cycle once it is stored.
            events.append(exc.with_traceback(None))
        return _merge_body(events)

    def unparsed(self) -> bytes:
        """Remove and return the buffered bytes not parsed yet (after an upgrade head).

        In any other state this is the incomplete line buffered so far; after an error or once
        the connection is done (keep-alive ended) it is always b"".
        """
        return self._buffer.extract_all()

    # -- readers, one per state ---------------------------------------------------------------

    def _read_request_line(self, buf: _ReceiveBuffer) -> _Event | _Step:
        lf = buf.find_lf()
        # Judged first, and before the LF arrives, so that binary garbage (a TLS ClientHello on
        # a plain-text port) is refused at once, not at the header-read deadline. A bad byte
        # wins over the length only when it arrives no later than the byte that makes the line
        # too long: that keeps the outcome independent of how the bytes were split.
        bad = buf.first_bad_in_request_line(lf if lf >= 0 else len(buf))
        if 0 <= bad <= self._max_request_line + 1:
            if bad > 0 and buf[bad - 1] == _CR:
                raise InvalidRequestLine("bare CR in request line")
            raise InvalidRequestLine(f"invalid character in request line (0x{buf[bad]:02X})")
        if lf < 0:
            # The line can still end in CR LF, so max_request_line + 1 buffered bytes are fine.
            if len(buf) > self._max_request_line + 1:
                limit = self._max_request_line
                raise RequestLineTooLong(f"request line too long (limit {limit} bytes)")
            return _Step.NEED_DATA
        line = buf.extract(lf + 1)
        if line == _CRLF:
            # "In the interest of robustness, a server that is expecting to receive and parse
            # a request-line SHOULD ignore at least one empty line (CRLF) received prior to the
            # request-line." -- RFC 9112 §2.2. We ignore any number of them.
            return _Step.PROGRESS
        ends_in_crlf = lf > 0 and line[lf - 1] == _CR
        length = lf - 1 if ends_in_crlf else lf
        # "A server that receives a request-target longer than any URI it wishes to parse MUST
        # respond with a 414 (URI Too Long) status code" -- RFC 9112 §3. We apply the limit to
        # the whole line, first (docs/core.md step 1).
        if length > self._max_request_line:
            limit = self._max_request_line
            raise RequestLineTooLong(f"request line too long (limit {limit} bytes)")
        if not ends_in_crlf:
            # A bare LF: see the departure noted at _abnf.CRLF (RFC 9112 §2.2).
            raise InvalidRequestLine("request line ends in bare LF")
        self._parse_request_line(line[: lf - 1])
        self._state = _State.FIELD_LINES
        return _Step.PROGRESS

    def _parse_request_line(self, line: bytes) -> None:
        # request-line = method SP request-target SP HTTP-version -- RFC 9112 §3
        # "Although the request-line grammar rule requires that each of the component elements
        # be separated by a single SP octet, recipients MAY instead parse on whitespace-
        # delimited word boundaries ..." -- RFC 9112 §3. We do not: exactly single SPs.
        parts = line.split(b" ")
        if b"" in parts:
            raise InvalidRequestLine("stray space in request line")
        if len(parts) == 2:
            # "GET /": the HTTP/0.9 simple request, which has no version.
            raise InvalidVersion("missing HTTP version (HTTP/0.9-style request)")
        if len(parts) != 3:
            raise InvalidRequestLine("malformed request line (not method SP target SP version)")
        method, target, version = parts

        match = _HTTP_VERSION.fullmatch(version)
        if match is None:
            raise InvalidVersion("malformed HTTP version")
        # 505 (HTTP Version Not Supported): "the server does not support, or refuses to
        # support, the major version of HTTP that was used in the request message."
        # -- RFC 9110 §15.6.6
        if match.group("major") != b"1":
            raise UnsupportedVersion(f"HTTP version not supported ({version.decode('ascii')})")
        # "A recipient that receives a message with a major version number that it implements
        # and a minor version number higher than what it implements SHOULD process the message
        # as if it were in the highest minor version within that major version to which the
        # recipient is conformant." -- RFC 9110 §6.2
        http_version = "1.0" if match.group("minor") == b"0" else "1.1"

        # method = token -- RFC 9110 §9.1
        if _METHOD.fullmatch(method) is None:
            raise InvalidMethod("invalid method (not a token)")

        self._method = method.decode("ascii")
        # The target is checked last (docs/core.md step 1); parse_target raises InvalidTarget.
        self._target = parse_target(self._method, target)
        self._http_version = http_version
        self._headers = []
        self._section_size = 0
        self._section_lines = 0

    def _next_section_line(self, buf: _ReceiveBuffer, max_size: int, section: str) -> bytes | _Step:
        """One line of a header or trailer section: the line without CRLF, b"" at its end.

        Applies the checks common to both sections, in the order of docs/core.md step 2: size,
        the end of the section, a bare LF, the number of lines. The caller parses the line.
        `section` ("header" or "trailer") names the section in error messages.
        """
        lf = buf.find_lf()
        if lf < 0:
            # "The 431 status code indicates that the server is unwilling to process the
            # request because its header fields are too large." -- RFC 6585 §5
            if self._section_size + len(buf) > max_size:
                raise HeadersTooLarge(f"{section} section too large (limit {max_size} bytes)")
            return _Step.NEED_DATA
        if self._section_size + lf + 1 > max_size:
            raise HeadersTooLarge(f"{section} section too large (limit {max_size} bytes)")
        line = buf.extract(lf + 1)
        self._section_size += lf + 1
        if line == _CRLF:
            return b""
        if lf == 0 or line[lf - 1] != _CR:
            # A bare LF: see the departure noted at _abnf.CRLF (RFC 9112 §2.2).
            raise InvalidHeader("field line ends in bare LF")
        self._section_lines += 1
        if self._section_lines > self._max_headers:
            raise HeadersTooLarge(f"too many {section} fields (limit {self._max_headers})")
        return line[: lf - 1]

    def _read_field_line(self, buf: _ReceiveBuffer) -> _Event | _Step:
        line = self._next_section_line(buf, self._max_header_size, "header")
        if isinstance(line, _Step):
            return line
        if line:
            self._headers.append(parse_field_line(line, first=not self._headers))
            return _Step.PROGRESS
        return self._end_of_head()

    def _end_of_head(self) -> Request:
        head = analyse_head(self._http_version, self._headers, self._max_body_size, self._method)
        authority = self._target.authority
        if authority is not None:
            # "When an origin server receives a request with an absolute-form of
            # request-target, the origin server MUST ignore the received Host header field (if
            # any) and instead use the host information of the request-target." -- RFC 9112
            # §3.2.2: the scope's host field (validated above, there is at most one) carries
            # the authority.
            for index, (name, _) in enumerate(self._headers):
                if name == b"host":
                    self._headers[index] = (name, authority)
                    break
        scope = build_scope(
            http_version=self._http_version,
            method=self._method,
            target=self._target,
            headers=self._headers,
            client=self._client,
            server=self._server,
            scheme=self._scheme,
            root_path=self._root_path,
        )
        request = Request(
            scope,
            keep_alive=head.keep_alive,
            expect_continue=head.expect_continue,
            upgrade=head.upgrade,
            has_body=head.has_body,
            forwarded=not _FORWARDED_NAMES.isdisjoint(name for name, _ in self._headers),
        )
        self._headers = []  # the scope owns the list now
        self._keep_alive = head.keep_alive
        self._body_total = 0
        if head.chunked:
            next_state = _State.CHUNK_SIZE
        elif head.content_length > 0:
            self._body_left = head.content_length
            next_state = _State.BODY_LENGTH
        else:
            next_state = self._after_request()
        if head.upgrade is not None:
            # Pause: the shell may take the bytes after this head with unparsed(), or decline
            # the upgrade by calling feed() again (docs/core.md "Pausing").
            self._resume_state = next_state
            self._state = _State.PAUSED
        else:
            self._state = next_state
        return request

    def _after_request(self) -> _State:
        # "A server that receives a "close" connection option MUST initiate closure of the
        # connection ... after it sends the final response to the request that contained the
        # "close" connection option. ... The server MUST NOT process any further requests
        # received on that connection." -- RFC 9112 §9.6 (HTTP/1.0 without keep-alive alike).
        return _State.REQUEST_LINE if self._keep_alive else _State.CLOSED

    def _read_body_length(self, buf: _ReceiveBuffer) -> _Event | _Step:
        if self._body_left == 0:
            self._state = self._after_request()
            return _END_OF_BODY
        if not len(buf):
            return _Step.NEED_DATA
        data = buf.extract(self._body_left)
        self._body_left -= len(data)
        return _Data(data)

    def _read_chunk_size(self, buf: _ReceiveBuffer) -> _Event | _Step:
        # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF -- RFC 9112 §7.1
        lf = buf.find_lf()
        if lf < 0:
            # The limits are judged before the LF arrives (docs/core.md step 4).
            prefix = buf.match(_CHUNK_SIZE_PREFIX)
            digits = 0 if prefix is None else prefix.end()
            if digits > _abnf.CHUNK_SIZE_MAX_DIGITS:
                raise InvalidChunk("chunk size too large (more than 16 hex digits)")
            # "A server ought to limit the total length of chunk extensions received in a
            # request to an amount reasonable for the services provided ... and generate an
            # appropriate 4xx (Client Error) response if that amount is exceeded."
            # -- RFC 9112 §7.1.1. As for the request line, one byte may yet be the CR.
            if len(buf) - digits > self._max_chunk_ext_size + 1:
                raise InvalidChunk(
                    f"chunk extension too long (limit {self._max_chunk_ext_size} bytes)"
                )
            return _Step.NEED_DATA
        line = buf.extract(lf + 1)
        if lf == 0 or line[lf - 1] != _CR:
            # A bare LF: see the departure noted at _abnf.CRLF (RFC 9112 §2.2).
            raise InvalidChunk("chunk line ends in bare LF")
        line = line[: lf - 1]
        size_match = _CHUNK_SIZE.match(line)
        if size_match is None:
            raise InvalidChunk("invalid chunk size (no hex digits)")
        digits = size_match.end()
        # "Recipients MUST anticipate potentially large hexadecimal numerals and prevent
        # parsing errors due to integer conversion overflows or precision loss due to integer
        # representation." -- RFC 9112 §7.1
        if digits > _abnf.CHUNK_SIZE_MAX_DIGITS:
            raise InvalidChunk("chunk size too large (more than 16 hex digits)")
        size = int(line[:digits], 16)
        if size >= _CHUNK_SIZE_LIMIT:
            raise InvalidChunk("chunk size too large (2**63 or more)")
        extensions = line[digits:]
        if len(extensions) > self._max_chunk_ext_size:
            raise InvalidChunk(f"chunk extension too long (limit {self._max_chunk_ext_size} bytes)")
        # "A recipient MUST ignore unrecognized chunk extensions." -- RFC 9112 §7.1.1. We check
        # their outline only (_abnf.CHUNK_EXT) and skip them.
        if _CHUNK_EXT.fullmatch(extensions) is None:
            raise InvalidChunk("invalid chunk extension")
        # The body limit is judged as soon as a chunk-size line announces data past it, after
        # the line itself was found valid.
        self._body_total += size
        if self._max_body_size is not None and self._body_total > self._max_body_size:
            raise BodyTooLarge(
                f"request body too large (chunks announce {self._body_total} bytes"
                f" > limit {self._max_body_size})"
            )
        if size == 0:
            # last-chunk = 1*("0") [ chunk-ext ] CRLF; then trailer-section CRLF -- RFC 9112 §7.1
            self._section_size = 0
            self._section_lines = 0
            self._state = _State.TRAILERS
        else:
            self._body_left = size
            self._state = _State.CHUNK_DATA
        return _Step.PROGRESS

    def _read_chunk_data(self, buf: _ReceiveBuffer) -> _Event | _Step:
        if self._body_left == 0:
            self._state = _State.CHUNK_DATA_END
            return _Step.PROGRESS
        if not len(buf):
            return _Step.NEED_DATA
        data = buf.extract(self._body_left)
        self._body_left -= len(data)
        return _Data(data)

    def _read_chunk_data_end(self, buf: _ReceiveBuffer) -> _Event | _Step:
        # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF -- RFC 9112 §7.1
        # Judged once both bytes are buffered (a lone first byte is not judged on its own).
        if len(buf) < 2:
            return _Step.NEED_DATA
        if buf.extract(2) != _CRLF:
            raise InvalidChunk("chunk data not followed by CRLF")
        self._state = _State.CHUNK_SIZE
        return _Step.PROGRESS

    def _read_trailer_line(self, buf: _ReceiveBuffer) -> _Event | _Step:
        # trailer-section = *( field-line CRLF ) -- RFC 9112 §7.1.2
        line = self._next_section_line(buf, self._max_trailer_size, "trailer")
        if isinstance(line, _Step):
            return line
        if line:
            # "A recipient that removes the chunked coding from a message MAY selectively
            # retain or discard the received trailer fields." -- RFC 9112 §7.1.2. We validate
            # them like header fields and discard them.
            parse_field_line(line, first=self._section_lines == 1)
            return _Step.PROGRESS
        self._state = self._after_request()
        return _END_OF_BODY

    def _read_nothing(self, buf: _ReceiveBuffer) -> _Event | _Step:
        # PAUSED keeps its bytes for unparsed(); ERRORED has already cleared them.
        return _Step.NEED_DATA

    def _discard_everything(self, buf: _ReceiveBuffer) -> _Event | _Step:
        # CLOSED: the request with keep_alive False is complete, and "The server MUST NOT
        # process any further requests received on that connection." -- RFC 9112 §9.6
        buf.clear()
        return _Step.NEED_DATA


# One reader per state, called with the parser: a table of bound methods on each parser would be
# a reference cycle per connection.
_READERS: dict[_State, _Reader] = {
    _State.REQUEST_LINE: RequestParser._read_request_line,
    _State.FIELD_LINES: RequestParser._read_field_line,
    _State.BODY_LENGTH: RequestParser._read_body_length,
    _State.CHUNK_SIZE: RequestParser._read_chunk_size,
    _State.CHUNK_DATA: RequestParser._read_chunk_data,
    _State.CHUNK_DATA_END: RequestParser._read_chunk_data_end,
    _State.TRAILERS: RequestParser._read_trailer_line,
    _State.PAUSED: RequestParser._read_nothing,
    _State.CLOSED: RequestParser._discard_everything,
    _State.ERRORED: RequestParser._read_nothing,
}


def _merge_body(events: list[_Event | HTTPError]) -> list[_Result]:
    """Turn the readers' events into feed()'s result: one body message per request per call.

    Body pieces are joined; the message carries more_body=False when the body ended in this
    call (even with no bytes left to carry), True otherwise. Pieces read before an error are
    still delivered, as a more_body=True message before it.
    """
    result: list[_Result] = []
    pieces: list[bytes] = []
    for event in events:
        if isinstance(event, _Data):
            pieces.append(event.data)
        elif isinstance(event, _EndOfBody):
            result.append(body_message(b"".join(pieces), False))
            pieces = []
        else:
            if pieces:
                result.append(body_message(b"".join(pieces), True))
                pieces = []
            result.append(event)
    if pieces:
        result.append(body_message(b"".join(pieces), True))
    return result
