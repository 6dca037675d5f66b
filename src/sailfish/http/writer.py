"""The pure-Python ResponseWriter: ASGI `http.response.*` messages in, wire bytes out.

Strategy: `start` validates the whole head and only remembers it (ASGI: nothing is sent before
the first body message); the first `body` call decides the framing (RFC 9112 §6) and returns the
head coalesced with the first framed body bytes; `trailers` ends a chunked body. Every byte of
every field is checked against the RFC 9110 §5 grammar before anything is returned, so an app
can never split a response with a CR, LF or NUL. This twin is written for clarity: the compiled
twin (ext/writer.pxi) must produce byte-identical output, and the tests compare them. No I/O, no
knowledge of the connection beyond the arguments the shell passes. Contract: docs/core.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from enum import IntEnum
from http import HTTPStatus
from typing import Any, Final

from sailfish.errors import ResponseError

__all__ = ["ResponseWriter"]


# "The status-line ... HTTP-version SP status-code SP [ reason-phrase ]" -- RFC 9112 §4. We
# always send HTTP/1.1 ("A server SHOULD send a response version equal to the highest version to
# which the server is conformant" -- RFC 9110 §6.2). An unknown code keeps the SP, empty reason.
def _status_line(code: int) -> bytes:
    try:
        reason = HTTPStatus(code).phrase
    except ValueError:
        reason = ""
    return b"HTTP/1.1 %d %s\r\n" % (code, reason.encode("latin-1"))


STATUS_LINES: Final[dict[int, bytes]] = {code: _status_line(code) for code in range(100, 600)}

# token = 1*tchar; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#   "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA                              -- RFC 9110 §5.6.2
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# field-value = *field-content; only HTAB, SP, VCHAR and obs-text may appear -- RFC 9110 §5.5:
# "Field values containing CR, LF, or NUL characters are invalid and dangerous". Other control
# bytes are refused too. Leading/trailing whitespace is the app's business and is kept.
_FIELD_VALUE: Final = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
# Content-Length = 1*DIGIT (RFC 9110 §8.6); capped at 18 digits like the parser, so that the
# compiled twin fits it in a C long long (the contract only says 1*DIGIT). Repeated fields
# with equal values are passed through, as RFC 9110 §8.6 lets a recipient accept them.
_CONTENT_LENGTH: Final = re.compile(rb"[0-9]{1,18}")

_CRLF: Final = b"\r\n"
_LAST_CHUNK: Final = b"0\r\n"
_CHUNKED: Final = b"transfer-encoding: chunked\r\n"
_CLOSE: Final = b"connection: close\r\n"
_KEEP_ALIVE: Final = b"connection: keep-alive\r\n"
_EARLY_HINTS: Final = b"HTTP/1.1 103 Early Hints\r\n"

# Fields that never go in a trailer section: "Many fields cannot be processed outside the
# header section because their evaluation is necessary prior to receiving the content, such as
# those that describe message framing, routing, authentication, request modifiers, response
# controls, or content format." -- RFC 9110 §6.5.1. We refuse the fields of those kinds that
# RFC 9110 and RFC 6265 define (a recipient that merged them into the header section would
# reframe, reroute or re-authorize the message, or act on them too late), in trailers and as
# names declared in the `trailer` field. Authentication-Info and Proxy-Authentication-Info
# stay allowed: RFC 9110 §11.6.3 and §11.7.3 let them be sent as trailer fields.
FORBIDDEN_TRAILERS: Final = frozenset(
    (
        # framing and connection (RFC 9112 §6, RFC 9110 §7.6)
        b"content-length",
        b"transfer-encoding",
        b"trailer",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"upgrade",
        # routing (RFC 9110 §7.2, §10.2.2)
        b"host",
        b"location",
        # authentication and state (RFC 9110 §11.6, §11.7; RFC 6265)
        b"authorization",
        b"proxy-authorization",
        b"www-authenticate",
        b"proxy-authenticate",
        b"cookie",
        b"set-cookie",
        # request modifiers and response controls (RFC 9110 §10.1, §10.2; RFC 9111 §5)
        b"expect",
        b"max-forwards",
        b"range",
        b"retry-after",
        b"vary",
        b"age",
        b"cache-control",
        b"expires",
        b"pragma",
        # content format (RFC 9110 §8.3, §8.4, §14.4)
        b"content-encoding",
        b"content-type",
        b"content-range",
    )
)


class _State(IntEnum):
    IDLE = 0  # no response yet on this connection
    HEAD = 1  # start accepted, the head is not written yet
    BODY = 2  # the head is written, more body messages follow
    TRAILERS = 3  # the final body message is written, trailers announced and pending
    DONE = 4  # the response is complete


class _Framing(IntEnum):
    NONE = 0  # HEAD, 1xx, 204, 205, 304: no body at all
    LENGTH = 1  # Content-Length (the app's, or ours for a single-message body)
    CHUNKED = 2  # chunked transfer coding (HTTP/1.1 only)
    CLOSE = 3  # close-delimited (HTTP/1.0 streamed body)


class _DateCache:
    """The `date` field line, formatted at most once per second (RFC 9110 §6.6.1, §5.6.7).

    The second and its line are one tuple, replaced whole: threads sharing the cache (without
    the GIL too) never see one second's line filed under another second.
    """

    def __init__(self) -> None:
        self.current: tuple[int, bytes] = (-1, b"")

    def get(self) -> bytes:
        now = int(time.time())
        second, line = self.current
        if now != second:
            # formatdate(usegmt=True) is IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
            line = b"date: %s\r\n" % formatdate(now, usegmt=True).encode("ascii")
            self.current = (now, line)
        return line


_DATE: Final = _DateCache()


def _is_token(name: object) -> bool:
    return isinstance(name, bytes) and _TOKEN.fullmatch(name) is not None


def _is_value(value: object) -> bool:
    return isinstance(value, bytes) and _FIELD_VALUE.fullmatch(value) is not None


def _fields(headers: object, what: str) -> list[tuple[bytes, bytes]]:
    """Validate an iterable of (name, value) pairs of bytes; ResponseError on the first bad one."""
    try:
        items = list(headers)  # type: ignore[call-overload]
    except TypeError:
        raise ResponseError(
            f"{what} must be an iterable of (name, value) pairs, not {headers!r}"
        ) from None
    pairs: list[tuple[bytes, bytes]] = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise ResponseError(f"{what}: {item!r} is not a (name, value) pair") from None
        if not _is_token(name):
            raise ResponseError(f"{what}: invalid field name {name!r} (bytes token required)")
        if not _is_value(value):
            raise ResponseError(f"{what}: invalid value {value!r} for {name!r}")
        pairs.append((name, value))
    return pairs


def _has_close_token(value: bytes) -> bool:
    # Connection = #connection-option; connection-option = token  -- RFC 9110 §7.6.1
    return any(option.strip(b" \t").lower() == b"close" for option in value.split(b","))


def _check_declared_trailers(value: bytes) -> None:
    """The `trailer` field: Trailer = #field-name (RFC 9110 §6.6.2), none of them forbidden."""
    for element in value.split(b","):
        name = element.strip(b" \t")
        if not name:
            continue  # "a recipient MUST accept empty list elements" -- RFC 9110 §5.6.1
        if _TOKEN.fullmatch(name) is None:
            raise ResponseError(f"trailer: {name!r} is not a field name")
        if name.lower() in FORBIDDEN_TRAILERS:
            raise ResponseError(f"trailer: {name!r} may not be sent as a trailer field")


def _link(link: object) -> bytes:
    """One Link field value of an early hint: bytes, a field value, starting with a URI
    reference in angle brackets (link-value = "<" URI-Reference ">" *( OWS ";" OWS
    link-param ) -- RFC 8288 §3)."""
    if not _is_value(link):
        raise ResponseError(f"early hint: invalid link {link!r} (bytes field value required)")
    assert isinstance(link, bytes)
    value = link.strip(b" \t")
    if not value.startswith(b"<") or b">" not in value:
        raise ResponseError(f"early hint: {link!r} is not a link value (<uri>; params)")
    return value


def _as_bytes(body: object) -> bytes:
    """Any C-contiguous bytes-like object, as bytes (the same object when it is bytes)."""
    if type(body) is bytes:
        return body
    try:
        view = memoryview(body)  # type: ignore[arg-type]
    except TypeError:
        raise ResponseError(f"body must be bytes-like, not {type(body).__name__}") from None
    with view:
        if not view.c_contiguous:
            raise ResponseError("body must be a C-contiguous buffer")
        return view.tobytes()


class ResponseWriter:
    """Turns `http.response.*` messages into wire bytes for one connection.

    Args:
        server_header: value of the `server` field, or None for no such field.
        date_header: send a `date` field (cached, refreshed once per second).
        default_headers: (name, value) pairs of bytes sent first in every response.

    Raises:
        TypeError: `server_header` is neither bytes nor None.
        ValueError: `server_header` or `default_headers` is not a valid field; or a default
            header is a framing field (content-length, transfer-encoding, connection).
    """

    def __init__(
        self,
        *,
        server_header: bytes | None = b"sailfish",
        date_header: bool = True,
        default_headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        if server_header is not None and not isinstance(server_header, bytes):
            raise TypeError(f"server_header must be bytes or None, not {server_header!r}")
        if server_header is not None and not _is_value(server_header):
            raise ValueError(f"invalid server_header {server_header!r}")
        try:
            defaults = _fields(default_headers, "default_headers")
        except ResponseError as exc:
            raise ValueError(str(exc)) from None
        for name, _ in defaults:
            # Not in the contract's words: a default framing field would contradict the framing
            # the writer computes per response (two Content-Lengths is a smuggling vector).
            if name.lower() in (b"content-length", b"transfer-encoding", b"connection"):
                raise ValueError(f"default_headers may not contain {name!r}")

        # Per-connection state. Default fields named server or date do not suppress ours: the
        # contract lets only the app's fields do that.
        self._defaults = b"".join(b"%s: %s\r\n" % pair for pair in defaults)
        self._server = b"" if server_header is None else b"server: %s\r\n" % server_header
        self._date = bool(date_header)
        self._state = _State.IDLE
        self._keep_alive = True  # before any response nothing stands in the way of reuse

        # Per-response state (meaningful from `start` on)
        self._status_line = b""
        self._fields = b""  # the app's field lines, validated, as they go on the wire
        self._http10 = False
        self._request_keep_alive = True
        self._no_body = False
        self._head_request = False
        self._reset_content = False
        self._announced_trailers = False
        self._app_server = False
        self._app_date = False
        self._app_connection = False
        self._app_close = False
        self._app_chunked = False
        self._app_length: int | None = None
        self._framing = _Framing.NONE
        self._remaining = 0  # bytes still owed under _Framing.LENGTH

    # -- the three messages ----------------------------------------------------------------

    def start(
        self, message: Mapping[str, Any], method: str, http_version: str, keep_alive: bool
    ) -> None:
        """Validate and remember an `http.response.start`; nothing is written yet.

        Args:
            message: the `http.response.start` message.
            method: the request's method.
            http_version: the request's version, "1.0" or "1.1".
            keep_alive: the request's `keep_alive`.

        Raises:
            ResponseError: bad status or header, or a response already in progress. The writer
                is unchanged, so the shell may still start a 500 response.
        """
        if self._state in (_State.HEAD, _State.BODY, _State.TRAILERS):
            raise ResponseError("http.response.start while a response is in progress")
        if http_version == "1.0":
            http10 = True
        elif http_version == "1.1":
            http10 = False
        else:
            raise ResponseError(f"http_version must be '1.0' or '1.1', not {http_version!r}")
        status = message.get("status")
        # A 1xx is interim: "A client MUST be able to parse one or more 1xx responses received
        # prior to a final response" -- RFC 9110 §15.2, so an exchange cannot end on one (and
        # a 101 without an agreed upgrade would switch protocols, §7.8). The final response of
        # an ASGI exchange is 200-599; 103 goes out through `early_hint`.
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise ResponseError(f"status must be an int in 200-599, not {status!r}")
        headers = _fields(message.get("headers", ()), "headers")
        # "A server MUST NOT send a Content-Length header field in any response with a status
        # code of 1xx (Informational) or 204 (No Content)." -- RFC 9110 §8.6; "A server MUST
        # NOT send a Transfer-Encoding header field in any response with a status code of 1xx
        # (Informational) or 204 (No Content)." -- RFC 9112 §6.1; "A server MUST NOT send any
        # Transfer-Encoding or Content-Length header fields in a 2xx (Successful) response to
        # CONNECT." -- RFC 9110 §9.3.6. The app's fields are validated, then left out. A 205
        # has no content either ("a server MUST NOT generate content in a 205 response" --
        # RFC 9110 §15.3.6), but RFC 9112 §6.3 does not list it among the responses that end
        # at their head, so its framing is ours alone: `content-length: 0` (see _settle).
        tunnel = method == "CONNECT" and status < 300
        no_framing_fields = status == 204 or status == 205 or tunnel

        app_server = app_date = app_connection = app_close = app_chunked = False
        app_length: int | None = None
        lines: list[bytes] = []
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                if _CONTENT_LENGTH.fullmatch(value) is None:
                    raise ResponseError(f"invalid content-length {value!r} (1*DIGIT, <= 18)")
                if app_length is not None and int(value) != app_length:
                    raise ResponseError("content-length fields with different values")
                app_length = int(value)
                if no_framing_fields:
                    continue
            elif lower == b"transfer-encoding":
                if value.lower() != b"chunked":
                    raise ResponseError(f"transfer-encoding {value!r}: only chunked is allowed")
                # "A sender MUST NOT apply the chunked coding more than once to a message
                # body" -- RFC 9112 §6.1 (a second field would announce just that)
                if app_chunked:
                    raise ResponseError("more than one transfer-encoding field")
                app_chunked = True
                # "A server MUST NOT send a response containing Transfer-Encoding unless the
                # corresponding request indicates HTTP/1.1 (or later minor revisions)."
                # -- RFC 9112 §6.1; the body is then close-delimited instead.
                if http10 or no_framing_fields:
                    continue
            elif lower == b"connection":
                app_connection = True
                app_close = app_close or _has_close_token(value)
            elif lower == b"server":
                app_server = True
            elif lower == b"date":
                app_date = True
            elif lower == b"trailer":
                _check_declared_trailers(value)
            lines.append(b"%s: %s\r\n" % (name, value))
        # "A sender MUST NOT send a Content-Length header field in any message that contains a
        # Transfer-Encoding header field." -- RFC 9112 §6.2
        if app_chunked and app_length is not None:
            raise ResponseError("both content-length and transfer-encoding")

        # A WSGI app's own reason phrase (sailfish's `reason` key, set by the WSGI runner only
        # when it differs from the standard one): reason-phrase = *( HTAB / SP / VCHAR /
        # obs-text ) -- RFC 9112 §4. A value that is not bytes is another app's key: ignored.
        reason = message.get("reason")
        if type(reason) is not bytes:
            reason = None
        elif not _is_value(reason):
            raise ResponseError(f"reason must be bytes of HTAB, SP, VCHAR, obs-text: {reason!r}")

        # Everything is valid: only now does the writer change.
        self._status_line = (
            STATUS_LINES[status] if reason is None else b"HTTP/1.1 %d %s\r\n" % (status, reason)
        )
        self._fields = b"".join(lines)
        self._http10 = http10
        self._request_keep_alive = bool(keep_alive)
        # HEAD (RFC 9110 §9.3.2), 204 (§15.3.5), 205 (§15.3.6) and 304 (§15.4.5) responses
        # never have content, whatever their header fields say (the app's Content-Length of a
        # HEAD or 304 response is passed through, RFC 9110 §8.6). A 2xx response to CONNECT
        # ends the message at its head: "the sender will switch to tunnel mode" (RFC 9110
        # §9.3.6), which we do not serve, so the connection closes after it.
        head_request = method == "HEAD"
        self._no_body = head_request or status in (204, 205, 304) or tunnel
        # A HEAD whose GET answer would have content: a file sent to it gets its length.
        self._head_request = head_request and status not in (204, 205, 304)
        self._reset_content = status == 205
        app_close = app_close or tunnel
        self._announced_trailers = bool(message.get("trailers", False))
        self._app_server = app_server
        self._app_date = app_date
        self._app_connection = app_connection
        self._app_close = app_close
        self._app_chunked = app_chunked
        self._app_length = app_length
        self._framing = _Framing.NONE
        self._remaining = 0
        # Provisional until the first body message settles the framing.
        self._keep_alive = self._request_keep_alive and not app_close
        self._state = _State.HEAD

    def body(self, message: Mapping[str, Any]) -> bytes:
        """Frame an `http.response.body`; the first call also returns the head.

        Args:
            message: the `http.response.body` message (`body` bytes-like, `more_body` bool).

        Returns:
            The bytes to write (possibly empty).

        Raises:
            ResponseError: no response started, the final body already sent, a body that is
                not bytes-like, or a body that overruns/underruns the app's Content-Length.
        """
        if self._state not in (_State.HEAD, _State.BODY):
            raise ResponseError("http.response.body without a response in progress")
        data = _as_bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        if self._state == _State.HEAD:
            out = self._head(data, more)
        else:
            out = self._frame(data, more)
        if not more:
            self._state = _State.TRAILERS if self._announced_trailers else _State.DONE
        return out

    def trailers(self, message: Mapping[str, Any]) -> bytes:
        """Frame an `http.response.trailers`.

        Args:
            message: the `http.response.trailers` message (`headers`, `more_trailers`).

        Returns:
            The trailer field lines (then the final CRLF when `more_trailers` is False) if the
            body is chunked; else b"" (the fields cannot be sent and are dropped).

        Raises:
            ResponseError: trailers not announced, not after the final body, or a bad field.
        """
        if self._state != _State.TRAILERS:
            raise ResponseError("http.response.trailers not announced, or before the final body")
        fields = _fields(message.get("headers", ()), "trailers")
        for name, _ in fields:
            if name.lower() in FORBIDDEN_TRAILERS:
                raise ResponseError(f"trailers: {name!r} may not be sent as a trailer field")
        more = bool(message.get("more_trailers", False))
        if not more:
            self._state = _State.DONE
        if self._framing != _Framing.CHUNKED:
            return b""
        # chunked-body = *chunk last-chunk trailer-section CRLF -- RFC 9112 §7.1
        out = b"".join(b"%s: %s\r\n" % pair for pair in fields)
        return out if more else out + _CRLF

    def early_hint(self, message: Mapping[str, Any], http_version: str) -> bytes:
        """Frame an `http.response.early_hint` as a 103 (Early Hints) interim response.

        Args:
            message: the `http.response.early_hint` message (`links`: iterable of bytes, each
                one Link field value).
            http_version: the request's version, "1.0" or "1.1".

        Returns:
            `HTTP/1.1 103 Early Hints` with one `link` field per link; b"" for an HTTP/1.0
            request ("a server MUST NOT send a 1xx response to an HTTP/1.0 client" -- RFC 9110
            §15.2) or when there are no links.

        Raises:
            ResponseError: a response is in progress (hints come before `start`), or a link
                is not a valid Link field value.
        """
        if self._state in (_State.HEAD, _State.BODY, _State.TRAILERS):
            raise ResponseError("http.response.early_hint after http.response.start")
        links = message.get("links", ())
        if isinstance(links, (bytes, str)):
            raise ResponseError(f"early hint: links must be an iterable of bytes, not {links!r}")
        try:
            items = list(links)
        except TypeError:
            raise ResponseError(
                f"early hint: links must be an iterable of bytes, not {links!r}"
            ) from None
        lines = [b"link: %s\r\n" % _link(link) for link in items]
        if http_version != "1.1" or not lines:
            return b""
        return b"".join((_EARLY_HINTS, *lines, _CRLF))

    def frame_external(self, size: int, more_body: bool) -> tuple[bytes, bytes, bool]:
        """Frame a body message of `size` bytes that the caller writes itself (a file).

        Everything `body` does for a message with `size` bytes (the head on the first call,
        Content-Length checks, the chunk framing), except that the content is not copied, and
        that a file answering HEAD gets the Content-Length a GET answer gets (see _settle).

        Args:
            size: the number of content bytes the caller will write (>= 0).
            more_body: as in `http.response.body`.

        Returns:
            `(before, after, write)`: the bytes to write before and after the content, and
            whether the content goes on the wire at all (not for HEAD, 1xx, 204, 205, 304).

        Raises:
            ResponseError: as for `body`, or a negative or non-int size.
        """
        if self._state not in (_State.HEAD, _State.BODY):
            raise ResponseError("http.response.body without a response in progress")
        # the compiled twin holds sizes in a C Py_ssize_t
        if type(size) is not int or not 0 <= size < 1 << 63:
            raise ResponseError(f"size must be an int >= 0, not {size!r}")
        more = bool(more_body)
        head = b""
        if self._state == _State.HEAD:
            head = self._settle(size, more, True)
        before, after = self._frame_parts(size, more)
        if not more:
            self._state = _State.TRAILERS if self._announced_trailers else _State.DONE
        return head + before, after, self._framing != _Framing.NONE and size > 0

    def reset(self) -> None:
        """Drop a started response of which nothing was returned yet (a 500 replaces it).

        Raises:
            ResponseError: the head was already returned.
        """
        if self._state in (_State.BODY, _State.TRAILERS):
            raise ResponseError("reset after the head was written")
        if self._state == _State.HEAD:
            self._state = _State.IDLE
            self._keep_alive = True

    # -- read-only state ---------------------------------------------------------------------

    @property
    def keep_alive(self) -> bool:
        """The connection may serve another request once this response is complete."""
        return self._keep_alive

    @property
    def started(self) -> bool:
        """A response was started and is not complete."""
        return self._state in (_State.HEAD, _State.BODY, _State.TRAILERS)

    @property
    def complete(self) -> bool:
        """The current response is fully framed."""
        return self._state == _State.DONE

    # -- internals ---------------------------------------------------------------------------

    def _head(self, data: bytes, more: bool) -> bytes:
        """Settle the framing from the first body message; return head + first framed bytes."""
        head = self._settle(len(data), more)
        try:
            body = self._frame(data, more)
        except ResponseError:  # pragma: no cover - _settle checked the length already
            self._framing = _Framing.NONE
            raise
        return head + body

    def _settle(self, size: int, more: bool, external: bool = False) -> bytes:
        """Decide the framing for a first body message of `size` bytes; return the head.

        `external`: the message is a file's `size` bytes (frame_external), not the app's body.
        Raises ResponseError (and changes nothing) when `size` breaks the app's Content-Length.
        """
        framing_line = b""
        if self._no_body:
            framing = _Framing.NONE
            if self._reset_content:
                # "a server MUST do one of the following for a 205 response: a) indicate a
                # zero-length body for the response by including a Content-Length header field
                # with a value of 0; ..." -- RFC 7231 §6.3.6 (RFC 9112 §6.3 has no rule that
                # ends a 205 at its head: without a length, a client reads it to the close).
                framing_line = b"content-length: 0\r\n"
            elif (
                external
                and self._head_request
                and self._app_length is None
                and not self._app_chunked
                and not more
                and not (self._announced_trailers and not self._http10)
            ):
                # A file answering HEAD: its length is the Content-Length the GET answer gets
                # ("The server SHOULD send the same header fields in response to a HEAD request
                # as it would have sent if the request method had been GET" -- RFC 9110
                # §9.3.2). An app's body to HEAD says nothing about GET's, so it gets none.
                framing_line = b"content-length: %d\r\n" % size
        elif self._app_length is not None:
            framing = _Framing.LENGTH
        elif self._app_chunked:
            # HTTP/1.0 has no chunked coding; the app's field was dropped at start.
            framing = _Framing.CLOSE if self._http10 else _Framing.CHUNKED
        elif not more and not (self._announced_trailers and not self._http10):
            # Trailers announced on HTTP/1.1 need chunked framing: they follow the last chunk
            # (RFC 9112 §7.1.2), so such a body is chunked even when it is whole here.
            # "When a message does not have a Transfer-Encoding header field, a Content-Length
            # header field can provide the anticipated size" -- RFC 9110 §8.6; the whole body
            # is in this message, so we know it.
            framing = _Framing.LENGTH
            framing_line = b"content-length: %d\r\n" % size
        elif self._http10:
            # RFC 9112 §6.3 rule 8: without a length, the body ends when the server closes.
            framing = _Framing.CLOSE
        else:
            framing = _Framing.CHUNKED
            framing_line = _CHUNKED
        if framing == _Framing.LENGTH:
            remaining = size if self._app_length is None else self._app_length
            # "its decimal value defines the expected message body length in octets"
            # -- RFC 9112 §6.3: fewer leave the client waiting ("A message that uses a valid
            # Content-Length is incomplete if the size of the message body received ... is
            # less than the value given by Content-Length" -- §8), more would be read as the
            # start of the next response.
            if size > remaining:
                raise ResponseError("body longer than its content-length")
            if not more and size < remaining:
                raise ResponseError("body shorter than its content-length")
            self._remaining = remaining

        # "The server SHOULD send a "close" connection option in its final response on that
        # connection." -- RFC 9112 §9.6 (after a request with "close"); and a close-delimited
        # body ends only when the connection does (§6.3 rule 8).
        keep_alive = self._request_keep_alive and not self._app_close
        keep_alive = keep_alive and framing != _Framing.CLOSE
        connection_line = b""
        if not keep_alive and not self._http10 and not self._app_connection:
            connection_line = _CLOSE
        elif keep_alive and self._http10:
            # An HTTP/1.0 client closes unless told otherwise (RFC 9112 §9.3, Appendix C.2.2).
            # Literal contract: added even when the app sent its own connection field; and
            # "an HTTP/1.1 response" above is read as "the response to an HTTP/1.1 request".
            connection_line = _KEEP_ALIVE
        self._framing = framing
        self._keep_alive = keep_alive
        self._state = _State.BODY

        return b"".join(
            (
                self._status_line,
                self._defaults,
                b"" if self._app_server else self._server,
                _DATE.get() if self._date and not self._app_date else b"",
                self._fields,
                framing_line,
                connection_line,
                _CRLF,
            )
        )

    def _frame(self, data: bytes, more: bool) -> bytes:
        """The wire form of one body message under the settled framing."""
        if self._framing == _Framing.NONE:
            return b""
        before, after = self._frame_parts(len(data), more)
        return before + data + after if data else before + after

    def _frame_parts(self, size: int, more: bool) -> tuple[bytes, bytes]:
        """The framing around a body message of `size` bytes: (before, after) the content."""
        framing = self._framing
        if framing == _Framing.NONE:
            # RFC 9110 §6.4.1: "All 1xx (Informational), 204 (No Content), and 304 (Not
            # Modified) responses do not include content", nor does a response to HEAD.
            return b"", b""
        if framing == _Framing.LENGTH:
            # Exactly Content-Length octets (see _settle).
            if size > self._remaining:
                raise ResponseError("body longer than its content-length")
            if not more and size < self._remaining:
                raise ResponseError("body shorter than its content-length")
            self._remaining -= size
            return b"", b""
        if framing == _Framing.CLOSE:
            return b"", b""
        # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF -- RFC 9112 §7.1. A zero size
        # would be the last-chunk, so an empty non-final message writes nothing.
        before = b"%x\r\n" % size if size else b""
        after = _CRLF if size else b""
        if not more:
            # last-chunk; the trailer section and its CRLF follow (now, or from `trailers`).
            after += _LAST_CHUNK if self._announced_trailers else _LAST_CHUNK + _CRLF
        return before, after
