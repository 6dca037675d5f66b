# errors.pxi: C status codes -> sailfish.errors classes, in exactly one function.
# Strategy: the classes are plain Python (src/sailfish/errors.py), imported once and bound to
# module-level names; the parser records an SF_E_* code and `_error_from_code` builds the
# HTTPError *instance* that feed() returns as its last event (docs/core.md: returned, not
# raised). Nothing else in ext/ names an error class. The message text is informative only:
# tests compare classes and statuses, never messages.
from sailfish.errors import (
    BodyTooLarge as _BodyTooLarge,
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
from helpers cimport *


cdef object _error_from_code(int code, str reason):
    """The HTTPError instance for an SF_E_* code (never an SF_E_INCOMPLETE)."""
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
    else:
        raise AssertionError(f"sailfish._http: no error class for code {code}")
    return cls(reason)
