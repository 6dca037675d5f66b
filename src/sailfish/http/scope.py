"""ASGI scope and message builders of the reference twin.

Strategy: `parse_target` tells the four request-target forms of RFC 9112 §3.2 apart and splits
the target into raw path and query (docs/core.md "The scope"); `build_scope` assembles the ASGI
HTTP scope from the request line, the normalised headers and the parser's settings, as a new
dict (with new nested dict and list) per request; `body_message` builds one `http.request`
message. Everything here is a pure function of its arguments: no buffering, no limits, no state,
and no validation of the method, version or headers (parser.py and headers.py do that first).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import unquote

from sailfish.errors import InvalidTarget
from sailfish.http import _abnf

__all__ = ["Target", "body_message", "build_scope", "parse_target"]

_REQUEST_TARGET = re.compile(_abnf.REQUEST_TARGET.encode("ascii"))
_ABSOLUTE_FORM = re.compile(_abnf.ABSOLUTE_FORM.encode("ascii"))
_AUTHORITY_FORM = re.compile(_abnf.AUTHORITY_FORM.encode("ascii"))
_ASTERISK_FORM = re.compile(_abnf.ASTERISK_FORM.encode("ascii"))
_HOST = re.compile(_abnf.HOST.encode("ascii"))


class Target(NamedTuple):
    """A request-target split for the scope (before any root_path is added)."""

    raw_path: bytes  # the path as received (no query); the authority for CONNECT
    path: str  # raw_path percent-decoded (not decoded for authority-form)
    query_string: bytes  # the bytes after the first "?", b"" when there is none
    authority: bytes | None = None  # absolute-form: the authority, which replaces Host


def _decode_path(raw_path: bytes) -> str:
    # The target was checked to be 1*VCHAR, so it is ASCII. Percent-decoding is exactly
    # `urllib.parse.unquote(..., errors="replace")`: UTF-8, invalid sequences become U+FFFD,
    # and a "%" not followed by two hex digits stays as it is.
    return unquote(raw_path.decode("ascii"), encoding="utf-8", errors="replace")


def parse_target(method: str, target: bytes) -> Target:
    """Classify and split a request-target.

    Args:
        method: the request method (already validated as a token).
        target: the request-target bytes from the request line.

    Returns:
        The raw path, decoded path and query string for the scope.

    Raises:
        InvalidTarget: the target is not 1*VCHAR, or none of the four forms (RFC 9112 §3.2),
            or the authority-form without CONNECT, or the asterisk-form without OPTIONS.
    """
    # request-target = origin-form / absolute-form / authority-form / asterisk-form
    # -- RFC 9112 §3.2
    if _REQUEST_TARGET.fullmatch(target) is None:
        raise InvalidTarget("invalid character in request target")

    # authority-form = uri-host ":" port -- RFC 9112 §3.2.3: "The authority-form of
    # request-target is only used for CONNECT requests", and "A client sending a CONNECT
    # request MUST send the authority form of request-target" (RFC 9110 §9.3.6), so CONNECT
    # takes nothing else. The whole target is the authority: no query, and no
    # percent-decoding (it is a host name, not a path).
    if method == "CONNECT":
        if _AUTHORITY_FORM.fullmatch(target) is None:
            raise InvalidTarget("CONNECT target not host:port")
        return Target(raw_path=target, path=target.decode("ascii"), query_string=b"")

    # asterisk-form = "*": "The asterisk-form of request-target is only used for a server-wide
    # OPTIONS request" -- RFC 9112 §3.2.4
    if _ASTERISK_FORM.fullmatch(target) is not None:
        if method != "OPTIONS":
            raise InvalidTarget("asterisk-form target without OPTIONS")
        return Target(raw_path=b"*", path="*", query_string=b"")

    # Both origin-form and absolute-form end in [ "?" query ]; the query is everything after
    # the first "?" (RFC 3986 §3.4), kept as received.
    before_query, _, query_string = target.partition(b"?")

    # origin-form = absolute-path [ "?" query ] -- RFC 9112 §3.2.1
    if before_query.startswith(b"/"):
        return Target(before_query, _decode_path(before_query), query_string)

    # absolute-form = absolute-URI -- RFC 9112 §3.2.2. "A server MUST accept the absolute-form
    # in requests even though most HTTP/1.1 clients will only send the absolute-form to a
    # proxy." -- RFC 9112 §3.2.2. The authority replaces the Host field's value in the scope
    # (parser.py; "the origin server MUST ignore the received Host header field").
    absolute = _ABSOLUTE_FORM.fullmatch(before_query)
    if absolute is not None:
        # "A sender MUST NOT generate an "http" URI with an empty host identifier. A recipient
        # that processes such a URI reference MUST reject it as invalid." and "a recipient
        # SHOULD parse for userinfo and treat its presence as an error" -- RFC 9110 §4.2.1,
        # §4.2.4: the authority must be `uri-host [":" port]` with a non-empty host.
        authority = absolute.group("authority")
        if _HOST.fullmatch(authority) is None or authority[:1] in (b"", b":"):
            raise InvalidTarget("invalid absolute-form authority (not a non-empty uri-host[:port])")
        # "If the target URI's path component is empty, the client MUST send "/" as the path
        # within the origin-form of request-target." -- RFC 9112 §3.2.1; we read an empty
        # absolute-form path the same way, for raw_path as well as path.
        raw_path = absolute.group("path") or b"/"
        return Target(raw_path, _decode_path(raw_path), query_string, authority)

    raise InvalidTarget("invalid request target (not origin-form or absolute-form)")


def build_scope(
    *,
    http_version: str,
    method: str,
    target: Target,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    scheme: str,
    root_path: str,
) -> dict[str, Any]:
    """Build the ASGI HTTP connection scope (docs/core.md "The scope").

    Args:
        http_version: "1.0" or "1.1".
        method: the method token as received.
        target: the split request-target.
        headers: `(name, value)` pairs in wire order; the list is stored as given, so the caller
            passes a list made for this request.
        client: the peer address, or None.
        server: the local address, or None.
        scheme: "http" or "https" (copied as given).
        root_path: the mount point, prefixed to `path` and `raw_path`.

    Returns:
        A new scope dict.
    """
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": http_version,
        "server": server,
        "client": client,
        "scheme": scheme,
        "method": method,
        "root_path": root_path,
        "path": root_path + target.path,
        "raw_path": root_path.encode("utf-8") + target.raw_path,
        "query_string": target.query_string,
        "headers": headers,
    }


def body_message(body: bytes, more_body: bool) -> dict[str, Any]:
    """Build one `http.request` message."""
    return {"type": "http.request", "body": body, "more_body": more_body}
