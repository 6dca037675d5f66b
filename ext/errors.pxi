# errors.pxi: C status codes -> sailfish.errors classes, in exactly one function.
# Strategy: the classes are plain Python (src/sailfish/errors.py), imported once and bound to
# module-level names; the parser records an SF_E_* code and `_error_from_code` builds the
# HTTPError *instance* that feed() returns as its last event (docs/core.md: returned, not
# raised). Nothing else in ext/ names an error class. Where the parser returns an SF_E_* code
# it also records, in an sf_why, the SF_R_* reason (and up to two numbers): the code picks
# the class, the reason the message ("<key phrase>" or "<key phrase> (<detail>)", as the pure
# twin words it), built only on failure. The differential tests compare classes and statuses;
# tests/http/test_reasons.py checks both twins name the same key phrase.
from sailfish.errors import (
    BodyTooLarge as _BodyTooLarge,
    ExpectationFailed as _ExpectationFailed,
    ConcurrentUseError as _ConcurrentUseError,
    HeadersTooLarge as _HeadersTooLarge,
    InvalidChunk as _InvalidChunk,
    InvalidFraming as _InvalidFraming,
    InvalidHeader as _InvalidHeader,
    InvalidHost as _InvalidHost,
    InvalidMethod as _InvalidMethod,
    InvalidRequestLine as _InvalidRequestLine,
    InvalidTarget as _InvalidTarget,
    InvalidVersion as _InvalidVersion,
    RequestLineTooLong as _RequestLineTooLong,
    UnsupportedTransferCoding as _UnsupportedTransferCoding,
    UnsupportedVersion as _UnsupportedVersion,
)

cimport cython
from libc.stdint cimport uint64_t
from helpers cimport *


ctypedef struct sf_why:
    int reason      # SF_R_*: why the last SF_E_* code was returned (SF_R_NONE: not recorded)
    uint64_t a      # numbers the message names (a byte, a length, a limit), per its template
    uint64_t b


cdef enum:
    SF_R_NONE = 0
    SF_R_REQUEST_LINE_CHAR
    SF_R_REQUEST_LINE_CR
    SF_R_REQUEST_LINE_TOO_LONG
    SF_R_REQUEST_LINE_LF
    SF_R_REQUEST_LINE_SPACE
    SF_R_REQUEST_LINE_PARTS
    SF_R_VERSION_MISSING
    SF_R_VERSION_MALFORMED
    SF_R_VERSION_UNSUPPORTED
    SF_R_METHOD
    SF_R_TARGET_CHAR
    SF_R_TARGET_CONNECT
    SF_R_TARGET_ASTERISK
    SF_R_TARGET_FORM
    SF_R_TARGET_AUTHORITY
    SF_R_HEADERS_SIZE
    SF_R_HEADERS_COUNT
    SF_R_TRAILERS_SIZE
    SF_R_TRAILERS_COUNT
    SF_R_FIELD_LF
    SF_R_FIELD_LEADING_WS
    SF_R_FIELD_OBS_FOLD
    SF_R_FIELD_NO_COLON
    SF_R_FIELD_EMPTY_NAME
    SF_R_FIELD_WS_BEFORE_COLON
    SF_R_FIELD_NAME_CHAR
    SF_R_FIELD_VALUE_CHAR
    SF_R_HOST_MISSING
    SF_R_HOST_MANY
    SF_R_HOST_INVALID
    SF_R_CL_AND_TE
    SF_R_TE_HTTP10
    SF_R_TE_MALFORMED
    SF_R_TE_NOT_CHUNKED
    SF_R_TE_CHUNKED_TWICE
    SF_R_TE_UNSUPPORTED
    SF_R_CL_INVALID
    SF_R_CL_DIFFER
    SF_R_BODY_LENGTH
    SF_R_CHUNK_LF
    SF_R_CHUNK_SIZE_INVALID
    SF_R_CHUNK_SIZE_DIGITS
    SF_R_CHUNK_SIZE_BIG
    SF_R_CHUNK_EXT_TOO_LONG
    SF_R_CHUNK_EXT
    SF_R_CHUNK_CRLF
    SF_R_BODY_CHUNKED
    SF_R_EXPECTATION


# SF_R_* -> (the SF_E_* code it goes with, the message template; {a} and {b} are sf_why's).
cdef dict _REASONS = {
    SF_R_REQUEST_LINE_CHAR: (SF_E_INVALID_REQUEST_LINE,
                             "invalid character in request line (0x{a:02X})"),
    SF_R_REQUEST_LINE_CR: (SF_E_INVALID_REQUEST_LINE, "bare CR in request line"),
    SF_R_REQUEST_LINE_TOO_LONG: (SF_E_REQUEST_LINE_TOO_LONG,
                                 "request line too long (limit {b} bytes)"),
    SF_R_REQUEST_LINE_LF: (SF_E_INVALID_REQUEST_LINE, "request line ends in bare LF"),
    SF_R_REQUEST_LINE_SPACE: (SF_E_INVALID_REQUEST_LINE, "stray space in request line"),
    SF_R_REQUEST_LINE_PARTS: (SF_E_INVALID_REQUEST_LINE,
                              "malformed request line (not method SP target SP version)"),
    SF_R_VERSION_MISSING: (SF_E_INVALID_VERSION, "missing HTTP version (HTTP/0.9-style request)"),
    SF_R_VERSION_MALFORMED: (SF_E_INVALID_VERSION, "malformed HTTP version"),
    SF_R_VERSION_UNSUPPORTED: (SF_E_UNSUPPORTED_VERSION,
                               "HTTP version not supported (HTTP/{a}.{b})"),
    SF_R_METHOD: (SF_E_INVALID_METHOD, "invalid method (not a token)"),
    SF_R_TARGET_CHAR: (SF_E_INVALID_TARGET, "invalid character in request target"),
    SF_R_TARGET_CONNECT: (SF_E_INVALID_TARGET, "CONNECT target not host:port"),
    SF_R_TARGET_ASTERISK: (SF_E_INVALID_TARGET, "asterisk-form target without OPTIONS"),
    SF_R_TARGET_FORM: (SF_E_INVALID_TARGET,
                       "invalid request target (not origin-form or absolute-form)"),
    SF_R_TARGET_AUTHORITY: (SF_E_INVALID_TARGET,
                            "invalid absolute-form authority (not a non-empty uri-host[:port])"),
    SF_R_HEADERS_SIZE: (SF_E_HEADERS_TOO_LARGE, "header section too large (limit {b} bytes)"),
    SF_R_HEADERS_COUNT: (SF_E_HEADERS_TOO_LARGE, "too many header fields (limit {b})"),
    SF_R_TRAILERS_SIZE: (SF_E_HEADERS_TOO_LARGE, "trailer section too large (limit {b} bytes)"),
    SF_R_TRAILERS_COUNT: (SF_E_HEADERS_TOO_LARGE, "too many trailer fields (limit {b})"),
    SF_R_FIELD_LF: (SF_E_INVALID_HEADER, "field line ends in bare LF"),
    SF_R_FIELD_LEADING_WS: (SF_E_INVALID_HEADER, "whitespace before the first field line"),
    SF_R_FIELD_OBS_FOLD: (SF_E_INVALID_HEADER, "obs-fold (a field line starts with whitespace)"),
    SF_R_FIELD_NO_COLON: (SF_E_INVALID_HEADER, "field line without colon"),
    SF_R_FIELD_EMPTY_NAME: (SF_E_INVALID_HEADER, "empty field name"),
    SF_R_FIELD_WS_BEFORE_COLON: (SF_E_INVALID_HEADER, "whitespace before colon"),
    SF_R_FIELD_NAME_CHAR: (SF_E_INVALID_HEADER, "invalid character in field name (0x{a:02X})"),
    SF_R_FIELD_VALUE_CHAR: (SF_E_INVALID_HEADER, "invalid character in field value (0x{a:02X})"),
    SF_R_HOST_MISSING: (SF_E_INVALID_HOST, "missing Host (required in HTTP/1.1)"),
    SF_R_HOST_MANY: (SF_E_INVALID_HOST, "more than one Host"),
    SF_R_HOST_INVALID: (SF_E_INVALID_HOST, "invalid Host (not uri-host[:port])"),
    SF_R_CL_AND_TE: (SF_E_INVALID_FRAMING, "Content-Length with Transfer-Encoding"),
    SF_R_TE_HTTP10: (SF_E_INVALID_FRAMING, "Transfer-Encoding in HTTP/1.0"),
    SF_R_TE_MALFORMED: (SF_E_INVALID_FRAMING,
                        "malformed Transfer-Encoding (empty element, non-token or parameter)"),
    SF_R_TE_NOT_CHUNKED: (SF_E_INVALID_FRAMING, "Transfer-Encoding not ending in chunked"),
    SF_R_TE_CHUNKED_TWICE: (SF_E_INVALID_FRAMING, "chunked more than once in Transfer-Encoding"),
    SF_R_TE_UNSUPPORTED: (SF_E_UNSUPPORTED_TRANSFER_CODING,
                          "unsupported transfer coding (only chunked is supported)"),
    SF_R_CL_INVALID: (SF_E_INVALID_FRAMING,
                      "invalid Content-Length (not 1*DIGIT of at most 18 digits)"),
    SF_R_CL_DIFFER: (SF_E_INVALID_FRAMING, "differing Content-Length values"),
    SF_R_BODY_LENGTH: (SF_E_BODY_TOO_LARGE,
                       "request body too large (Content-Length {a} > limit {b})"),
    SF_R_CHUNK_LF: (SF_E_INVALID_CHUNK, "chunk line ends in bare LF"),
    SF_R_CHUNK_SIZE_INVALID: (SF_E_INVALID_CHUNK, "invalid chunk size (no hex digits)"),
    SF_R_CHUNK_SIZE_DIGITS: (SF_E_INVALID_CHUNK, "chunk size too large (more than 16 hex digits)"),
    SF_R_CHUNK_SIZE_BIG: (SF_E_INVALID_CHUNK, "chunk size too large (2**63 or more)"),
    SF_R_CHUNK_EXT_TOO_LONG: (SF_E_INVALID_CHUNK, "chunk extension too long (limit {b} bytes)"),
    SF_R_CHUNK_EXT: (SF_E_INVALID_CHUNK, "invalid chunk extension"),
    SF_R_CHUNK_CRLF: (SF_E_INVALID_CHUNK, "chunk data not followed by CRLF"),
    SF_R_BODY_CHUNKED: (SF_E_BODY_TOO_LARGE,
                        "request body too large (chunks announce {a} bytes > limit {b})"),
    SF_R_EXPECTATION: (SF_E_EXPECTATION_FAILED,
                       "expectation failed (only 100-continue is supported)"),
}


cdef inline int _because(sf_why *why, int code, int reason, uint64_t a, uint64_t b) noexcept nogil:
    """Record why `code` is returned and return it: call it only on the way to an error."""
    why.reason = reason
    why.a = a
    why.b = b
    return code


cdef int _concurrent_use(object obj) except -1:
    """Raise for a call on `obj` while another call on it runs (sf_enter found it held)."""
    raise _ConcurrentUseError(
        f"{type(obj).__name__} is in use by another call: one object serves one connection, "
        "from one thread at a time"
    )


cdef object _error_from_code(int code, const sf_why *why):
    """The HTTPError instance for an SF_E_* code (never an SF_E_INCOMPLETE), its message
    built from the reason recorded in *why (the class's `reason` when none fits)."""
    if code == SF_E_REQUEST_LINE_TOO_LONG:
        cls = _RequestLineTooLong
    elif code == SF_E_INVALID_REQUEST_LINE:
        cls = _InvalidRequestLine
    elif code == SF_E_INVALID_METHOD:
        cls = _InvalidMethod
    elif code == SF_E_INVALID_TARGET:
        cls = _InvalidTarget
    elif code == SF_E_INVALID_VERSION:
        cls = _InvalidVersion
    elif code == SF_E_UNSUPPORTED_VERSION:
        cls = _UnsupportedVersion
    elif code == SF_E_HEADERS_TOO_LARGE:
        cls = _HeadersTooLarge
    elif code == SF_E_INVALID_HEADER:
        cls = _InvalidHeader
    elif code == SF_E_INVALID_HOST:
        cls = _InvalidHost
    elif code == SF_E_INVALID_FRAMING:
        cls = _InvalidFraming
    elif code == SF_E_UNSUPPORTED_TRANSFER_CODING:
        cls = _UnsupportedTransferCoding
    elif code == SF_E_INVALID_CHUNK:
        cls = _InvalidChunk
    elif code == SF_E_BODY_TOO_LARGE:
        cls = _BodyTooLarge
    elif code == SF_E_EXPECTATION_FAILED:
        cls = _ExpectationFailed
    else:
        raise AssertionError(f"sailfish._http: no error class for code {code}")
    entry = _REASONS.get(why.reason)
    if entry is None or entry[0] != code:
        if SAILFISH_DEBUG:
            raise AssertionError(f"sailfish._http: reason {why.reason} recorded for code {code}")
        return cls()
    return cls(entry[1].format(a=why.a, b=why.b))
