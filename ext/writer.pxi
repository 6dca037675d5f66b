# The compiled ResponseWriter: ASGI `http.response.*` messages in, wire bytes out.
# Strategy: the contract is docs/core.md and the reference is src/sailfish/http/writer.py (read
# it first: the RFC reasoning is there); this twin must give byte-identical output, faster.
# `start` checks every field over `const char*` spans with a 256-entry table and copies the app's
# field lines into a C buffer owned by the writer (no Python object per field); the first `body`
# call allocates exactly one bytes object, head and first framed body together. Status lines
# are bytes cached at import, the date line a C buffer re-formatted at most once per second
# (per thread without the GIL). Each public method holds the writer for its call (sf_threads.h).
# Included by _http.pyx after errors/headers/parser/scope, but uses none of their names: its
# own module-level names start with `_w_` or `WR_`. Trailers, early hints, `frame_external`
# and construction are cold: plain Python objects there.

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.string cimport memcpy
from libc.time cimport tm as _w_tm

cdef extern from "sf_helpers.h" nogil:
    long long sf_unix_seconds()
    int sf_gmtime(long long seconds, _w_tm *out)

from http import HTTPStatus as _w_HTTPStatus_cls

from sailfish.errors import ResponseError as _w_ResponseError_cls

cdef object _w_ResponseError = _w_ResponseError_cls

cdef enum:
    # character classes of _w_chars
    WR_TCHAR = 1  # tchar, RFC 9110 §5.6.2
    WR_FIELD = 2  # HTAB, SP, VCHAR, obs-text: the bytes of a field value, RFC 9110 §5.5
    # writer states (src/sailfish/http/writer.py: _State)
    WR_IDLE = 0
    WR_HEAD = 1
    WR_BODY = 2
    WR_TRAILERS = 3
    WR_DONE = 4
    # body framings (writer.py: _Framing)
    WR_NONE = 0
    WR_LENGTH = 1
    WR_CHUNKED = 2
    WR_CLOSE = 3
    # 18 decimal digits always fit in a long long (same cap as the parser's Content-Length)
    WR_MAX_LENGTH_DIGITS = 18
    WR_INITIAL_BUFFER = 512


cdef unsigned char _w_chars[256]


cdef void _w_init_chars() noexcept:
    cdef int c
    for c in range(256):
        _w_chars[c] = WR_FIELD if (c == 9 or c == 32 or 0x21 <= c <= 0x7E or c >= 0x80) else 0
    for c in b"!#$%&'*+-.^_`|~0123456789":
        _w_chars[c] |= WR_TCHAR
    for c in range(26):
        _w_chars[ord("a") + c] |= WR_TCHAR
        _w_chars[ord("A") + c] |= WR_TCHAR


_w_init_chars()


cdef tuple _w_make_status_lines():
    # "HTTP/1.1 <status> <reason>\r\n"; an unknown code keeps the SP (RFC 9112 §4)
    lines = [None] * 600
    for code in range(100, 600):
        try:
            reason = _w_HTTPStatus_cls(code).phrase
        except ValueError:
            reason = ""
        lines[code] = b"HTTP/1.1 %d %s\r\n" % (code, reason.encode("latin-1"))
    return tuple(lines)


cdef tuple _w_status_lines = _w_make_status_lines()

# "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" (IMF-fixdate, RFC 9110 §5.6.7), rebuilt when the
# second changes, in sf_threads.h's sf_date_line: one for the process with the GIL, one per
# thread without it (a line shared by threads could be copied while another rewrites it).
cdef const char* _w_day_names = b"SunMonTueWedThuFriSat"
cdef const char* _w_month_names = b"JanFebMarAprMayJunJulAugSepOctNovDec"
cdef const char* _w_hex_digits = b"0123456789abcdef"


cdef inline char* _w_put2(char* q, int v) noexcept:
    q[0] = <char>(48 + v // 10)
    q[1] = <char>(48 + v % 10)
    return q + 2


cdef const sf_date_line* _w_date() noexcept:
    """This thread's date line, made current (`len` 0 if the clock never worked)."""
    cdef sf_date_line* d = sf_date_cache()
    cdef long long now = sf_unix_seconds()
    cdef _w_tm broken
    cdef _w_tm* t = &broken
    cdef char* q
    cdef int year
    if now == d.second:
        return d
    if now < 0 or sf_gmtime(now, t) != 0:  # no clock, or out of range: keep the last line
        return d
    q = d.line
    memcpy(q, b"date: ", 6)
    q += 6
    memcpy(q, _w_day_names + 3 * t.tm_wday, 3)
    q[3] = c','
    q[4] = c' '
    q = _w_put2(q + 5, t.tm_mday)
    q[0] = c' '
    memcpy(q + 1, _w_month_names + 3 * t.tm_mon, 3)
    q[4] = c' '
    year = (t.tm_year + 1900) % 10000
    q = _w_put2(q + 5, year // 100)
    q = _w_put2(q, year % 100)
    q[0] = c' '
    q = _w_put2(q + 1, t.tm_hour)
    q[0] = c':'
    q = _w_put2(q + 1, t.tm_min)
    q[0] = c':'
    q = _w_put2(q + 1, t.tm_sec)
    memcpy(q, b" GMT\r\n", 6)
    q += 6
    d.len = q - d.line
    d.second = now
    return d


cdef inline bint _w_all(const char* p, Py_ssize_t n, unsigned char cls) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if not (_w_chars[<unsigned char>p[i]] & cls):
            return False
    return True


cdef inline bint _w_ieq(const char* p, const char* lower, Py_ssize_t n) noexcept:
    # ASCII case-insensitive compare against a lower-case literal made of letters and "-";
    # p must already be a valid token or field value (then `| 0x20` folds letters only).
    cdef Py_ssize_t i
    for i in range(n):
        if (<unsigned char>p[i] | 0x20) != <unsigned char>lower[i]:
            return False
    return True


cdef long long _w_parse_length(const char* p, Py_ssize_t n) noexcept:
    """Content-Length = 1*DIGIT (RFC 9110 §8.6), at most 18 digits; else -1."""
    cdef long long v = 0
    cdef Py_ssize_t i
    if n == 0 or n > WR_MAX_LENGTH_DIGITS:
        return -1
    for i in range(n):
        if not (c'0' <= p[i] <= c'9'):
            return -1
        v = v * 10 + (p[i] - 48)
    return v


cdef bint _w_has_close(const char* p, Py_ssize_t n) noexcept:
    """The `close` option in a Connection value (#token, RFC 9110 §7.6.1), OWS stripped."""
    cdef Py_ssize_t i = 0, start, end
    while i <= n:
        start = i
        while i < n and p[i] != c',':
            i += 1
        end = i
        while start < end and (p[start] == c' ' or p[start] == c'\t'):
            start += 1
        while end > start and (p[end - 1] == c' ' or p[end - 1] == c'\t'):
            end -= 1
        if end - start == 5 and _w_ieq(p + start, b"close", 5):
            return True
        i += 1
    return False


cdef inline int _w_digits(char* q, unsigned long long v, unsigned int base) noexcept:
    """Write v in `base` (10 or 16, lower-case) at q; return the digit count."""
    cdef char tmp[24]
    cdef int n = 0, i
    while True:
        tmp[n] = _w_hex_digits[v % base]
        n += 1
        v //= base
        if v == 0:
            break
    for i in range(n):
        q[i] = tmp[n - 1 - i]
    return n


cdef inline Py_ssize_t _w_chunk_size(Py_ssize_t n, bint last, bint announced) noexcept:
    """Bytes of the chunked framing of one message of n bytes (see _w_put_chunk)."""
    cdef char tmp[24]
    cdef Py_ssize_t size = 0
    if n:
        size = _w_digits(tmp, <unsigned long long>n, 16) + 4 + n
    if last:
        size += 3 if announced else 5
    return size


cdef inline char* _w_put_chunk(
    char* q, const char* p, Py_ssize_t n, bint last, bint announced
) noexcept:
    # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk = 1*("0") CRLF
    # -- RFC 9112 §7.1. An empty non-final message writes nothing (size 0 is the last chunk).
    if n:
        q += _w_digits(q, <unsigned long long>n, 16)
        q[0] = c'\r'
        q[1] = c'\n'
        memcpy(q + 2, p, n)
        q += n + 2
        q[0] = c'\r'
        q[1] = c'\n'
        q += 2
    if last:
        # trailer-section CRLF follow: from `trailers`, or the bare CRLF right now
        memcpy(q, b"0\r\n\r\n", 5 if not announced else 3)
        q += 5 if not announced else 3
    return q


cdef inline object _w_get(object message, str key, object default):
    if type(message) is dict:
        return (<dict>message).get(key, default)
    return message.get(key, default)


cdef int _w_check_field(object name, object value, str what) except -1:
    """ResponseError unless name is a bytes token and value bytes of HTAB/SP/VCHAR/obs-text."""
    if not isinstance(name, bytes) or PyBytes_GET_SIZE(name) == 0 or not _w_all(
        PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), WR_TCHAR
    ):
        raise _w_ResponseError(f"{what}: invalid field name {name!r} (bytes token required)")
    # "Field values containing CR, LF, or NUL characters are invalid and dangerous"
    # -- RFC 9110 §5.5; every other control byte is refused too.
    if not isinstance(value, bytes) or not _w_all(
        PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), WR_FIELD
    ):
        raise _w_ResponseError(f"{what}: invalid value {value!r} for {name!r}")
    return 0


# Never in a trailer section, nor declared in `trailer` (see writer.py FORBIDDEN_TRAILERS).
cdef frozenset _w_forbidden_trailers = frozenset((
    b"content-length", b"transfer-encoding", b"trailer", b"connection", b"keep-alive",
    b"proxy-connection", b"te", b"upgrade", b"host", b"location", b"authorization",
    b"proxy-authorization", b"www-authenticate", b"proxy-authenticate", b"cookie",
    b"set-cookie", b"expect", b"max-forwards", b"range", b"retry-after", b"vary", b"age",
    b"cache-control", b"expires", b"pragma", b"content-encoding", b"content-type",
    b"content-range",
))


cdef int _w_check_declared_trailers(bytes value) except -1:
    """The `trailer` field: #field-name (RFC 9110 §6.6.2), none of them forbidden (cold)."""
    for element in value.split(b","):
        name = element.strip(b" \t")
        if not name:
            continue
        if not _w_all(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), WR_TCHAR):
            raise _w_ResponseError(f"trailer: {name!r} is not a field name")
        if name.lower() in _w_forbidden_trailers:
            raise _w_ResponseError(f"trailer: {name!r} may not be sent as a trailer field")
    return 0


cdef bytes _w_link(object link):
    """One Link field value of an early hint, stripped (see writer.py _link)."""
    if not isinstance(link, bytes) or not _w_all(
        PyBytes_AS_STRING(link), PyBytes_GET_SIZE(link), WR_FIELD
    ):
        raise _w_ResponseError(f"early hint: invalid link {link!r} (bytes field value required)")
    value = (<bytes>link).strip(b" \t")
    if not value.startswith(b"<") or b">" not in value:
        raise _w_ResponseError(f"early hint: {link!r} is not a link value (<uri>; params)")
    return value


cdef list _w_fields(object headers, str what):
    """Validate an iterable of (name, value) pairs of bytes (cold paths: defaults, trailers)."""
    cdef list pairs = []
    try:
        items = list(headers)
    except TypeError:
        raise _w_ResponseError(
            f"{what} must be an iterable of (name, value) pairs, not {headers!r}"
        ) from None
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise _w_ResponseError(f"{what}: {item!r} is not a (name, value) pair") from None
        _w_check_field(name, value, what)
        pairs.append((name, value))
    return pairs


@cython.final
cdef class ResponseWriter:
    cdef:
        # Per-connection state
        bytes _defaults       # the default field lines, serialised
        bytes _server         # b"server: ...\r\n" or b""
        bint _date
        int _state
        bint _keep_alive
        char* _buf            # the current response's app field lines (grown, never shrunk)
        Py_ssize_t _buf_cap

        # Per-response state
        Py_ssize_t _fields_len
        int _status
        object _reason_line   # the status line of an app's own reason phrase, else None
        int _framing
        bint _http10
        bint _request_keep_alive
        bint _no_body
        bint _head_request
        bint _announced_trailers
        bint _app_server
        bint _app_date
        bint _app_connection
        bint _app_close
        bint _app_chunked
        long long _app_length  # -1: the app sent no content-length
        long long _remaining   # bytes still owed under WR_LENGTH

        # Held by the call running on this object (sf_threads.h): another call gets
        # ConcurrentUseError, never a share of the buffer above.
        int _busy

    def __cinit__(self):
        self._buf = <char*>PyMem_Malloc(WR_INITIAL_BUFFER)
        if self._buf is NULL:
            raise MemoryError()
        self._buf_cap = WR_INITIAL_BUFFER
        self._defaults = b""
        self._server = b""
        self._state = WR_IDLE
        self._keep_alive = True
        self._app_length = -1
        self._reason_line = None

    def __dealloc__(self):
        PyMem_Free(self._buf)

    def __init__(self, *, server_header=b"sailfish", date_header=True, default_headers=()):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            self._init(server_header, date_header, default_headers)
        finally:
            sf_leave(&self._busy)

    cdef int _init(self, server_header, date_header, default_headers) except -1:
        if server_header is not None and not isinstance(server_header, bytes):
            raise TypeError(f"server_header must be bytes or None, not {server_header!r}")
        if server_header is not None and not _w_all(
            PyBytes_AS_STRING(server_header), PyBytes_GET_SIZE(server_header), WR_FIELD
        ):
            raise ValueError(f"invalid server_header {server_header!r}")
        try:
            defaults = _w_fields(default_headers, "default_headers")
        except _w_ResponseError as exc:
            raise ValueError(str(exc)) from None
        for name, _ in defaults:
            # beyond the contract's words (see writer.py): no default framing fields
            if name.lower() in (b"content-length", b"transfer-encoding", b"connection"):
                raise ValueError(f"default_headers may not contain {name!r}")
        self._defaults = b"".join([b"%s: %s\r\n" % pair for pair in defaults])
        self._server = b"" if server_header is None else b"server: %s\r\n" % server_header
        self._date = date_header
        return 0

    cdef int _reserve(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = self._buf_cap
        cdef char* buf
        if need <= cap:
            return 0
        while cap < need:
            cap *= 2
        buf = <char*>PyMem_Realloc(self._buf, cap)
        if buf is NULL:
            raise MemoryError()
        self._buf = buf
        self._buf_cap = cap
        return 0

    # Each public method holds the writer for its call (sf_enter; see _busy): all of them read
    # or write its state. The hot ones (start, body) do so around their own code, the cold ones
    # around a call to a cdef method (a call more, measured: bench/RESULTS.md).

    def start(self, message, method, http_version, keep_alive):
        cdef object status_obj, headers, item, name, value, reason
        cdef long status
        cdef bint http10, app_server = False, app_date = False, app_connection = False
        cdef bint app_close = False, app_chunked = False, tunnel, no_framing_fields, head_request
        cdef long long app_length = -1, length
        cdef const char* np
        cdef const char* vp
        cdef Py_ssize_t nlen, vlen, pos = 0
        cdef char* q
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:

            if self._state == WR_HEAD or self._state == WR_BODY or self._state == WR_TRAILERS:
                raise _w_ResponseError("http.response.start while a response is in progress")
            if http_version == "1.1":
                http10 = False
            elif http_version == "1.0":
                http10 = True
            else:
                raise _w_ResponseError(f"http_version must be '1.0' or '1.1', not {http_version!r}")
            status_obj = _w_get(message, "status", None)
            status = 0
            if isinstance(status_obj, int):
                try:
                    status = status_obj
                except OverflowError:
                    status = 0
            # RFC 9110 §15.2: a 1xx is interim, never the end of an exchange (103: early_hint)
            if status < 200 or status > 599:
                raise _w_ResponseError(f"status must be an int in 200-599, not {status_obj!r}")
            # RFC 9110 §8.6, RFC 9112 §6.1: no Content-Length or Transfer-Encoding in a 204;
            # RFC 9110 §9.3.6: none in a 2xx to CONNECT (validated, then left out); a 205 has
            # no content (RFC 9110 §15.3.6) and only our `content-length: 0` (see writer.py)
            # (the parser's GET is one shared object: a GET costs an identity test here)
            tunnel = status < 300 and method is not _M_GET and method == "CONNECT"
            no_framing_fields = status == 204 or status == 205 or tunnel

            headers = _w_get(message, "headers", ())
            if type(headers) is not list and type(headers) is not tuple:
                try:
                    headers = list(headers)
                except TypeError:
                    raise _w_ResponseError(
                        f"headers must be an iterable of (name, value) pairs, not {headers!r}"
                    ) from None
            for item in headers:
                try:
                    name, value = item
                except (TypeError, ValueError):
                    raise _w_ResponseError(
                        f"headers: {item!r} is not a (name, value) pair"
                    ) from None
                _w_check_field(name, value, "headers")
                np = PyBytes_AS_STRING(name)
                nlen = PyBytes_GET_SIZE(name)
                vp = PyBytes_AS_STRING(value)
                vlen = PyBytes_GET_SIZE(value)
                if nlen == 14 and _w_ieq(np, b"content-length", 14):
                    length = _w_parse_length(vp, vlen)
                    if length < 0:
                        raise _w_ResponseError(f"invalid content-length {value!r} (1*DIGIT, <= 18)")
                    if app_length >= 0 and length != app_length:
                        raise _w_ResponseError("content-length fields with different values")
                    app_length = length
                    if no_framing_fields:
                        continue
                elif nlen == 17 and _w_ieq(np, b"transfer-encoding", 17):
                    if not (vlen == 7 and _w_ieq(vp, b"chunked", 7)):
                        raise _w_ResponseError(
                            f"transfer-encoding {value!r}: only chunked is allowed"
                        )
                    # RFC 9112 §6.1: chunked at most once
                    if app_chunked:
                        raise _w_ResponseError("more than one transfer-encoding field")
                    app_chunked = True
                    # RFC 9112 §6.1: no Transfer-Encoding in a response to HTTP/1.0
                    if http10 or no_framing_fields:
                        continue
                elif nlen == 10 and _w_ieq(np, b"connection", 10):
                    app_connection = True
                    app_close = app_close or _w_has_close(vp, vlen)
                elif nlen == 6 and _w_ieq(np, b"server", 6):
                    app_server = True
                elif nlen == 4 and _w_ieq(np, b"date", 4):
                    app_date = True
                elif nlen == 7 and _w_ieq(np, b"trailer", 7):
                    _w_check_declared_trailers(value)
                self._reserve(pos + nlen + vlen + 4)
                q = self._buf + pos
                memcpy(q, np, nlen)
                q[nlen] = c':'
                q[nlen + 1] = c' '
                memcpy(q + nlen + 2, vp, vlen)
                q[nlen + 2 + vlen] = c'\r'
                q[nlen + 3 + vlen] = c'\n'
                pos += nlen + vlen + 4
            # RFC 9112 §6.2: no Content-Length in a message with Transfer-Encoding
            if app_chunked and app_length >= 0:
                raise _w_ResponseError("both content-length and transfer-encoding")
            # A WSGI app's own reason phrase (writer.py): *( HTAB / SP / VCHAR / obs-text );
            # a value that is not bytes is another app's key: ignored.
            reason = _w_get(message, "reason", None)
            if type(reason) is not bytes:
                reason = None
            elif not _w_all(PyBytes_AS_STRING(reason), PyBytes_GET_SIZE(reason), WR_FIELD):
                raise _w_ResponseError(
                    f"reason must be bytes of HTAB, SP, VCHAR, obs-text: {reason!r}"
                )

            # Everything is valid: only now does the writer change.
            self._fields_len = pos
            self._status = status
            self._reason_line = (
                None if reason is None else b"HTTP/1.1 %d %s\r\n" % (status, reason)
            )
            self._http10 = http10
            self._request_keep_alive = keep_alive
            # RFC 9110 §6.4.1: 204, 304 and responses to HEAD have no content, nor does a 205
            # (§15.3.6); a 2xx to CONNECT ends at its head (tunnel mode, RFC 9110 §9.3.6), and
            # we close after it
            head_request = method is not _M_GET and method == "HEAD"
            self._no_body = no_framing_fields or status == 304 or head_request
            # a HEAD whose GET answer has content (writer.py: _head_request)
            self._head_request = head_request and not no_framing_fields and status != 304
            app_close = app_close or tunnel
            self._announced_trailers = _w_get(message, "trailers", False)
            self._app_server = app_server
            self._app_date = app_date
            self._app_connection = app_connection
            self._app_close = app_close
            self._app_chunked = app_chunked
            self._app_length = app_length
            self._framing = WR_NONE
            self._remaining = 0
            self._keep_alive = self._request_keep_alive and not app_close
            self._state = WR_HEAD
        finally:
            sf_leave(&self._busy)

    def body(self, message):
        cdef object data
        cdef bytes out
        cdef bint more
        cdef Py_buffer view
        cdef bint have_view = False
        cdef const char* p
        cdef Py_ssize_t n
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            if self._state != WR_HEAD and self._state != WR_BODY:
                raise _w_ResponseError("http.response.body without a response in progress")
            data = _w_get(message, "body", b"")
            more = _w_get(message, "more_body", False)
            if type(data) is bytes:
                p = PyBytes_AS_STRING(data)
                n = PyBytes_GET_SIZE(data)
            else:
                try:
                    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                except (TypeError, BufferError):
                    raise _w_ResponseError(
                        f"body must be a C-contiguous bytes-like object, not {type(data).__name__}"
                    ) from None
                have_view = True
                p = <const char*>view.buf
                n = view.len
                data = None
            try:
                if self._state == WR_HEAD:
                    out = self._head(p, n, more, False)
                else:
                    out = self._frame(data, p, n, more)
            finally:
                if have_view:
                    PyBuffer_Release(&view)
            if not more:
                self._state = WR_TRAILERS if self._announced_trailers else WR_DONE
            return out
        finally:
            sf_leave(&self._busy)

    def trailers(self, message):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            return self._trailers(message)
        finally:
            sf_leave(&self._busy)

    def early_hint(self, message, http_version):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            return self._early_hint(message, http_version)
        finally:
            sf_leave(&self._busy)

    def frame_external(self, size, more_body):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            return self._frame_external(size, more_body)
        finally:
            sf_leave(&self._busy)

    def reset(self):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            self._reset()
        finally:
            sf_leave(&self._busy)

    cdef bytes _trailers(self, message):
        cdef bint more
        if self._state != WR_TRAILERS:
            raise _w_ResponseError(
                "http.response.trailers not announced, or before the final body"
            )
        fields = _w_fields(_w_get(message, "headers", ()), "trailers")
        for name, _ in fields:
            if name.lower() in _w_forbidden_trailers:
                raise _w_ResponseError(f"trailers: {name!r} may not be sent as a trailer field")
        more = _w_get(message, "more_trailers", False)
        if not more:
            self._state = WR_DONE
        if self._framing != WR_CHUNKED:
            return b""
        out = b"".join([b"%s: %s\r\n" % pair for pair in fields])
        return out if more else out + b"\r\n"

    cdef bytes _early_hint(self, message, http_version):
        if self._state == WR_HEAD or self._state == WR_BODY or self._state == WR_TRAILERS:
            raise _w_ResponseError("http.response.early_hint after http.response.start")
        links = _w_get(message, "links", ())
        if isinstance(links, (bytes, str)):
            raise _w_ResponseError(
                f"early hint: links must be an iterable of bytes, not {links!r}"
            )
        try:
            items = list(links)
        except TypeError:
            raise _w_ResponseError(
                f"early hint: links must be an iterable of bytes, not {links!r}"
            ) from None
        lines = [b"link: %s\r\n" % _w_link(link) for link in items]
        if http_version != "1.1" or not lines:
            return b""
        return b"HTTP/1.1 103 Early Hints\r\n" + b"".join(lines) + b"\r\n"

    cdef tuple _frame_external(self, size, more_body):
        cdef Py_ssize_t n
        cdef bint more = more_body
        cdef bytes head = b"", before, after
        cdef char digits[24]
        cdef int ndigits
        if self._state != WR_HEAD and self._state != WR_BODY:
            raise _w_ResponseError("http.response.body without a response in progress")
        if type(size) is not int or size < 0:
            raise _w_ResponseError(f"size must be an int >= 0, not {size!r}")
        try:
            n = size
        except OverflowError:
            raise _w_ResponseError(f"size must be an int >= 0, not {size!r}") from None
        if self._state == WR_HEAD:
            head = self._head(NULL, n, more, True)
        elif self._framing == WR_LENGTH:
            self._check_length(n, more)
            self._remaining -= n
        before = after = b""
        if self._framing == WR_CHUNKED:
            if n:
                ndigits = _w_digits(digits, <unsigned long long>n, 16)
                before = PyBytes_FromStringAndSize(digits, ndigits) + b"\r\n"
                after = b"\r\n"
            if not more:
                after += b"0\r\n" if self._announced_trailers else b"0\r\n\r\n"
        if not more:
            self._state = WR_TRAILERS if self._announced_trailers else WR_DONE
        return head + before, after, self._framing != WR_NONE and n > 0

    cdef int _reset(self) except -1:
        if self._state == WR_BODY or self._state == WR_TRAILERS:
            raise _w_ResponseError("reset after the head was written")
        if self._state == WR_HEAD:
            self._state = WR_IDLE
            self._keep_alive = True
        return 0

    @property
    def keep_alive(self):
        return self._keep_alive

    @property
    def started(self):
        return self._state == WR_HEAD or self._state == WR_BODY or self._state == WR_TRAILERS

    @property
    def complete(self):
        return self._state == WR_DONE

    cdef inline int _check_length(self, Py_ssize_t n, bint more) except -1:
        # RFC 9112 §6.3 and §8: exactly Content-Length octets, no more (the client would read
        # the excess as the next response) and no fewer (it would wait for them).
        if n > self._remaining:
            raise _w_ResponseError("body longer than its content-length")
        if not more and n < self._remaining:
            raise _w_ResponseError("body shorter than its content-length")
        return 0

    cdef bytes _head(self, const char* p, Py_ssize_t n, bint more, bint external):
        """Settle the framing (see writer.py _settle); return head + first framed body, or
        with `external` the head alone (the caller frames and writes the n bytes)."""
        cdef int framing
        cdef char length_digits[24]
        cdef int length_len = 0
        cdef bint framing_te = False, keep_alive
        cdef const char* conn = NULL
        cdef Py_ssize_t conn_len = 0, date_len = 0, body_len, total
        cdef const sf_date_line* date = NULL
        cdef bytes status_line = <bytes>(
            _w_status_lines[self._status] if self._reason_line is None else self._reason_line
        )
        cdef bytes server = b"" if self._app_server else self._server
        cdef bytes out
        cdef char* q

        if self._no_body:
            framing = WR_NONE
            if self._status == 205:
                # RFC 7231 §6.3.6: a 205 says its body is empty (see writer.py _settle)
                length_digits[0] = c'0'
                length_len = 1
            elif (
                external and self._head_request and self._app_length < 0
                and not self._app_chunked and not more
                and not (self._announced_trailers and not self._http10)
            ):
                # a file answering HEAD: GET's Content-Length (RFC 9110 §9.3.2, see writer.py)
                length_len = _w_digits(length_digits, <unsigned long long>n, 10)
        elif self._app_length >= 0:
            framing = WR_LENGTH
            self._remaining = self._app_length
            self._check_length(n, more)
        elif self._app_chunked:
            framing = WR_CLOSE if self._http10 else WR_CHUNKED
        elif not more and not (self._announced_trailers and not self._http10):
            # announced trailers follow the last chunk (RFC 9112 §7.1.2): see writer.py
            framing = WR_LENGTH
            self._remaining = n
            length_len = _w_digits(length_digits, <unsigned long long>n, 10)
        elif self._http10:
            framing = WR_CLOSE
        else:
            framing = WR_CHUNKED
            framing_te = True

        # RFC 9112 §9.6 ("close" option) and §6.3 rule 8 (close-delimited): see writer.py
        keep_alive = self._request_keep_alive and not self._app_close and framing != WR_CLOSE
        if not keep_alive and not self._http10 and not self._app_connection:
            conn = b"connection: close\r\n"
            conn_len = 19
        elif keep_alive and self._http10:
            conn = b"connection: keep-alive\r\n"
            conn_len = 24
        if self._date and not self._app_date:
            date = _w_date()
            date_len = date.len

        if framing == WR_NONE or external:
            body_len = 0
        elif framing == WR_CHUNKED:
            body_len = _w_chunk_size(n, not more, self._announced_trailers)
        else:
            body_len = n
        total = (
            PyBytes_GET_SIZE(status_line) + PyBytes_GET_SIZE(self._defaults)
            + PyBytes_GET_SIZE(server) + date_len + self._fields_len + conn_len + 2 + body_len
        )
        if length_len:
            total += 18 + length_len  # "content-length: " N "\r\n"
        if framing_te:
            total += 28  # "transfer-encoding: chunked\r\n"

        out = PyBytes_FromStringAndSize(NULL, total)
        q = PyBytes_AS_STRING(out)
        memcpy(q, PyBytes_AS_STRING(status_line), PyBytes_GET_SIZE(status_line))
        q += PyBytes_GET_SIZE(status_line)
        memcpy(q, PyBytes_AS_STRING(self._defaults), PyBytes_GET_SIZE(self._defaults))
        q += PyBytes_GET_SIZE(self._defaults)
        memcpy(q, PyBytes_AS_STRING(server), PyBytes_GET_SIZE(server))
        q += PyBytes_GET_SIZE(server)
        if date_len:
            memcpy(q, date.line, date_len)
            q += date_len
        memcpy(q, self._buf, self._fields_len)
        q += self._fields_len
        if length_len:
            memcpy(q, b"content-length: ", 16)
            memcpy(q + 16, length_digits, length_len)
            q += 16 + length_len
            q[0] = c'\r'
            q[1] = c'\n'
            q += 2
        if framing_te:
            memcpy(q, b"transfer-encoding: chunked\r\n", 28)
            q += 28
        if conn_len:
            memcpy(q, conn, conn_len)
            q += conn_len
        q[0] = c'\r'
        q[1] = c'\n'
        q += 2
        if external:
            pass  # frame_external frames the n bytes
        elif framing == WR_CHUNKED:
            _w_put_chunk(q, p, n, not more, self._announced_trailers)
        elif framing != WR_NONE:
            memcpy(q, p, n)
        if framing == WR_LENGTH:
            self._remaining -= n

        self._framing = framing
        self._keep_alive = keep_alive
        self._state = WR_BODY
        return out

    cdef bytes _frame(self, object data, const char* p, Py_ssize_t n, bint more):
        """One later body message; `data` is the bytes object behind p, or None."""
        cdef bytes out
        cdef int framing = self._framing
        if framing == WR_NONE:
            return b""
        if framing == WR_CHUNKED:
            if n == 0 and more:
                return b""
            out = PyBytes_FromStringAndSize(
                NULL, _w_chunk_size(n, not more, self._announced_trailers)
            )
            _w_put_chunk(PyBytes_AS_STRING(out), p, n, not more, self._announced_trailers)
            return out
        if framing == WR_LENGTH:
            self._check_length(n, more)
            self._remaining -= n
        if data is not None:
            return <bytes>data
        return PyBytes_FromStringAndSize(p, n)
