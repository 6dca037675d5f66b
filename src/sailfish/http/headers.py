"""Header sections of the reference twin: one field line, then the whole head.

Strategy: `parse_field_line` turns one field line (its CRLF already removed) into the
`(name, value)` pair the scope carries, or raises `InvalidHeader`; it serves the header section
and the trailer section alike. `analyse_head` applies docs/core.md "Framing and validation"
step 3 to a complete head, in the order of precedence written there, and says how the body is
framed and what the shell needs to know (keep-alive, Expect, Upgrade). Line splitting, limits
and state belong to parser.py; the request line and the scope belong to scope.py/parser.py.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sailfish.errors import (
    BodyTooLarge,
    ExpectationFailed,
    InvalidFraming,
    InvalidHeader,
    InvalidHost,
    UnsupportedTransferCoding,
)
from sailfish.http import _abnf

__all__ = ["Head", "analyse_head", "parse_field_line"]

_FIELD_LINE = re.compile(_abnf.FIELD_LINE.encode("ascii"))
_TOKEN = re.compile(_abnf.TOKEN.encode("ascii"))
_HOST = re.compile(_abnf.HOST.encode("ascii"))
_CONTENT_LENGTH = re.compile(_abnf.CONTENT_LENGTH.encode("ascii"))
_TCHARS = re.compile(f"{_abnf.TCHAR}*".encode("ascii"))
# The first byte a field value cannot hold: not HTAB, SP, VCHAR or obs-text.
_VALUE_BAD = re.compile(rb"[^\t\x20-\x7e\x80-\xff]")

# OWS = *( SP / HTAB ) -- RFC 9110 §5.6.3: what `bytes.strip` removes around values and elements.
_OWS_BYTES = b" \t"


def parse_field_line(line: bytes, *, first: bool = False) -> tuple[bytes, bytes]:
    """Validate one field line and normalise it for the scope.

    Args:
        line: the field line without its CRLF; never empty (the empty line ends a section).
        first: the line is the first of its section (leading whitespace is then not obs-fold,
            which only changes the error message).

    Returns:
        `(name, value)`: the name lower-cased (ASCII), the value without leading and trailing
        SP/HTAB.

    Raises:
        InvalidHeader: obs-fold or leading whitespace, no colon, a name that is not a token,
            whitespace before the colon, or a value byte other than HTAB, SP, VCHAR, obs-text.
    """
    # "A server that receives an obs-fold in a request message that is not within a
    # "message/http" container MUST either reject the message by sending a 400 (Bad Request),
    # ..." -- RFC 9112 §5.2. We always reject; a leading SP/HTAB is never part of a token, so
    # the FIELD_LINE pattern refuses both obs-fold and whitespace before the first field
    # ("A recipient that receives whitespace between the start-line and the first header
    # field MUST either reject the message as invalid or ..." -- RFC 9112 §2.2).
    #
    # "No whitespace is allowed between the field name and colon. ... A server MUST reject,
    # with a response status code of 400 (Bad Request), any received request message that
    # contains whitespace between a header field name and colon." -- RFC 9112 §5.1
    match = _FIELD_LINE.fullmatch(line)
    if match is None:
        raise _field_line_error(line, first)
    # "Field names are case-insensitive" -- RFC 9110 §5.1; ASGI wants them lower-cased.
    name = match.group("name").lower()
    # "A field value does not include leading or trailing whitespace. When a specific version
    # of HTTP allows such whitespace to appear in a message, a field parsing implementation
    # MUST exclude such whitespace prior to evaluating the field value." -- RFC 9110 §5.5
    value = match.group("value").strip(_OWS_BYTES)
    return name, value


def _field_line_error(line: bytes, first: bool) -> InvalidHeader:
    """The error for a field line that `FIELD_LINE` refused, naming the first thing wrong."""
    if line[:1] in (b" ", b"\t"):
        if first:
            return InvalidHeader("whitespace before the first field line")
        return InvalidHeader("obs-fold (a field line starts with whitespace)")
    colon = line.find(b":")
    if colon < 0:
        return InvalidHeader("field line without colon")
    if colon == 0:
        return InvalidHeader("empty field name")
    name = _TCHARS.match(line)  # `*`: always matches, possibly empty
    name_end = name.end() if name is not None else 0
    if name_end < colon:
        if not line[name_end:colon].strip(_OWS_BYTES):
            return InvalidHeader("whitespace before colon")
        return InvalidHeader(f"invalid character in field name (0x{line[name_end]:02X})")
    bad = _VALUE_BAD.search(line, colon + 1)
    if bad is None:  # pragma: no cover  # FIELD_LINE matches every other line
        return InvalidHeader("malformed field line")
    return InvalidHeader(f"invalid character in field value (0x{line[bad.start()]:02X})")


class Head(NamedTuple):
    """What a complete, valid head means for the connection and the body."""

    keep_alive: bool
    expect_continue: bool
    upgrade: bytes | None
    chunked: bool
    content_length: int  # 0 when chunked or when there is no Content-Length

    @property
    def has_body(self) -> bool:
        return self.chunked or self.content_length > 0


def _values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """The values of every field line called `name` (lower-case), in wire order."""
    return [value for field_name, value in headers if field_name == name]


def _list_elements(values: list[bytes]) -> list[bytes]:
    """Split field lines holding a list (`#rule`) into elements, each stripped of OWS.

    Empty elements are kept: for Transfer-Encoding and Content-Length an empty element is an
    error (see `analyse_head`); for Connection the caller ignores it.
    """
    # "A recipient MAY combine multiple field lines within a field section that have the same
    # field name into one field line ... by appending each subsequent field line value to the
    # initial field line value in order, separated by a comma (",") and optional whitespace"
    # -- RFC 9110 §5.3. Splitting each line on commas is the same as splitting the combined
    # value.
    return [element.strip(_OWS_BYTES) for value in values for element in value.split(b",")]


def _check_host(http_version: str, headers: list[tuple[bytes, bytes]]) -> None:
    # "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
    # message that lacks a Host header field and to any request message that contains more
    # than one Host header field line or a Host header field with an invalid field value."
    # -- RFC 9112 §3.2
    hosts = _values(headers, b"host")
    if len(hosts) > 1:
        raise InvalidHost("more than one Host")
    if not hosts:
        if http_version == "1.1":
            raise InvalidHost("missing Host (required in HTTP/1.1)")
        return
    # Host = uri-host [ ":" port ] -- RFC 9110 §7.2. reg-name may be empty, so the value may be
    # too: "If the authority component is missing or undefined for the target URI, then a
    # client MUST send a Host header field with an empty field value." -- RFC 9112 §3.2
    if _HOST.fullmatch(hosts[0]) is None:
        raise InvalidHost("invalid Host (not uri-host[:port])")


def _transfer_codings(values: list[bytes]) -> None:
    """Validate Transfer-Encoding; on return the body is chunked."""
    codings = _list_elements(values)
    for coding in codings:
        # transfer-coding = token *( OWS ";" OWS transfer-parameter ) -- RFC 9110 §10.1.4
        # We understand no parameters (chunked has none), so any ";" is refused, as is an empty
        # element. Departure: RFC 9110 §5.6.1 says "a recipient MUST accept empty list
        # elements"; docs/core.md refuses them in this field, where leniency buys nothing and a
        # disagreement with a front end about the codings is a smuggling vector.
        if _TOKEN.fullmatch(coding) is None:
            raise InvalidFraming(
                "malformed Transfer-Encoding (empty element, non-token or parameter)"
            )
    lowered = [coding.lower() for coding in codings]
    # "If a Transfer-Encoding header field is present in a request and the chunked transfer
    # coding is not the final encoding, the message body length cannot be determined
    # reliably; the server MUST respond with the 400 (Bad Request) status code and then close
    # the connection." -- RFC 9112 §6.3
    if lowered[-1] != b"chunked":
        raise InvalidFraming("Transfer-Encoding not ending in chunked")
    # "A sender MUST NOT apply the chunked transfer coding more than once to a message body"
    # -- RFC 9112 §6.1
    if lowered.count(b"chunked") > 1:
        raise InvalidFraming("chunked more than once in Transfer-Encoding")
    # "A server that receives a request message with a transfer coding it does not understand
    # SHOULD respond with 501 (Not Implemented)." -- RFC 9112 §6.1
    if len(lowered) > 1:
        raise UnsupportedTransferCoding("unsupported transfer coding (only chunked is supported)")


def _content_length(values: list[bytes]) -> int:
    # "If a message is received without Transfer-Encoding and with an invalid Content-Length
    # header field, then the message framing is invalid and the recipient MUST treat it as an
    # unrecoverable error, unless the field value can be successfully parsed as a
    # comma-separated list (Section 5.6.1 of [HTTP]), all values in the list are valid, and all
    # values in the list are the same (in which case, the message is processed with that single
    # value used as the Content-Length field value)." -- RFC 9112 §6.3
    # Elements are judged in wire order, each as it comes: the first invalid or differing one
    # names the error (only the message depends on that order).
    length: int | None = None
    for element in _list_elements(values):
        if _CONTENT_LENGTH.fullmatch(element) is None:
            raise InvalidFraming("invalid Content-Length (not 1*DIGIT of at most 18 digits)")
        if length is None:
            length = int(element)
        elif int(element) != length:
            raise InvalidFraming("differing Content-Length values")
    assert length is not None  # the caller passes at least one value; split yields an element
    return length


def _connection_options(values: list[bytes]) -> set[bytes]:
    # Connection = #connection-option; "Connection options are case-insensitive."
    # -- RFC 9110 §7.6.1. Empty elements are ignored (RFC 9110 §5.6.1); the options are not
    # otherwise validated, since we only look for three of them.
    return {option.lower() for option in _list_elements(values) if option}


def analyse_head(
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    max_body_size: int | None,
    method: str = "GET",
) -> Head:
    """Apply docs/core.md step 3 to a complete head, in its order of precedence.

    Args:
        http_version: "1.0" or "1.1" (HTTP/1.x with x >= 2 already folded into "1.1").
        headers: the normalised field lines, from `parse_field_line`.
        max_body_size: the Content-Length limit, or None for no limit.
        method: the request method (a CONNECT never asks for an upgrade here).

    Returns:
        The framing of the body and the connection facts the Request carries.

    Raises:
        InvalidHost: Host missing (HTTP/1.1), repeated or malformed.
        InvalidFraming: conflicting or malformed Content-Length / Transfer-Encoding.
        UnsupportedTransferCoding: a transfer coding other than chunked before chunked.
        BodyTooLarge: Content-Length above `max_body_size`.
        ExpectationFailed: an HTTP/1.1 Expect element other than 100-continue.
    """
    _check_host(http_version, headers)

    transfer_encoding = _values(headers, b"transfer-encoding")
    content_length_values = _values(headers, b"content-length")
    # "If a message is received with both a Transfer-Encoding and a Content-Length header
    # field, the Transfer-Encoding overrides the Content-Length. Such a message might indicate
    # an attempt to perform request smuggling (Section 11.2) or response splitting
    # (Section 11.1) and ought to be handled as an error." -- RFC 9112 §6.3
    if transfer_encoding and content_length_values:
        raise InvalidFraming("Content-Length with Transfer-Encoding")
    chunked = False
    content_length = 0
    if transfer_encoding:
        # "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding
        # header field MUST treat the message as if the framing is faulty, even if a
        # Content-Length is present, and close the connection after processing the message."
        # -- RFC 9112 §6.1. We refuse it outright.
        if http_version == "1.0":
            raise InvalidFraming("Transfer-Encoding in HTTP/1.0")
        _transfer_codings(transfer_encoding)
        chunked = True
    elif content_length_values:
        content_length = _content_length(content_length_values)
        # 413 (Content Too Large): "the server is refusing to process a request because the
        # request content is larger than the server is willing or able to process"
        # -- RFC 9110 §15.5.14
        if max_body_size is not None and content_length > max_body_size:
            raise BodyTooLarge(
                f"request body too large (Content-Length {content_length} > limit {max_body_size})"
            )

    options = _connection_options(_values(headers, b"connection"))
    # "If the received protocol is HTTP/1.1 (or later), the connection will persist after the
    # current response" unless the "close" option is present; "If the received protocol is
    # HTTP/1.0, the "keep-alive" connection option is present, ... the connection will persist
    # after the current response; otherwise, the connection will close" -- RFC 9112 §9.3
    if http_version == "1.1":
        keep_alive = b"close" not in options
    else:
        keep_alive = b"keep-alive" in options and b"close" not in options

    has_body = chunked or content_length > 0
    # Expect = #expectation; "The only expectation defined by this specification is
    # "100-continue" (with no defined parameters)." "A server that receives an Expect field
    # value containing a member other than 100-continue MAY respond with a 417 (Expectation
    # Failed) status code" -- RFC 9110 §10.1.1: we do (empty elements are ignored, §5.6.1).
    # "A server that receives a 100-continue expectation in an HTTP/1.0 request MUST ignore
    # that expectation." -- RFC 9110 §10.1.1; we ignore every HTTP/1.0 expectation.
    # "The Expect field value is case-insensitive." -- RFC 9110 §10.1.1
    expect_continue = False
    if http_version == "1.1":
        expectations = [e.lower() for e in _list_elements(_values(headers, b"expect")) if e]
        if any(expectation != b"100-continue" for expectation in expectations):
            raise ExpectationFailed("expectation failed (only 100-continue is supported)")
        expect_continue = has_body and bool(expectations)

    # "A server MUST ignore an Upgrade header field that is received in an HTTP/1.0 request."
    # -- RFC 9110 §7.8; "A sender of Upgrade MUST also send an "Upgrade" connection option in
    # the Connection header field" -- RFC 9110 §7.8, so we require both. With several Upgrade
    # field lines, the field value is their combination with ", " (RFC 9110 §5.3).
    upgrade: bytes | None = None
    upgrade_values = _values(headers, b"upgrade")
    # CONNECT has its own way of taking a connection over; it never pauses the parser.
    if http_version == "1.1" and b"upgrade" in options and upgrade_values and method != "CONNECT":
        upgrade = b", ".join(upgrade_values)

    return Head(
        keep_alive=keep_alive,
        expect_continue=expect_continue,
        upgrade=upgrade,
        chunked=chunked,
        content_length=content_length,
    )
