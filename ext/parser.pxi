# parser.pxi: RequestParser (sans-IO HTTP/1.1 request parser) and Request.
# Strategy: one state machine over `const char*` spans; feed() is the only Python-visible call.
# When nothing is buffered it parses the caller's buffer in place and copies only an
# incomplete tail; otherwise it appends and parses its own buffer. Every incomplete "unit"
# (a head, a chunk-size line, a trailer line, a chunk's CRLF) is kept from its first byte, and
# all state offsets are relative to that byte, so they survive the copy and any realloc. A
# head is validated line by line as LFs arrive (resume offsets make byte-at-a-time feeding
# linear); field-line spans go to a C array, and Python objects are made only once the head
# is complete (headers.pxi judges it, scope.pxi builds the dicts). Contract: docs/core.md.
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.string cimport memchr, memcmp, memcpy, memmove

from helpers cimport *


cdef enum:
    ST_IDLE = 0         # before a request line (empty lines are skipped here)
    ST_REQUEST_LINE     # a request line is being received
    ST_FIELDS           # the field lines of a head are being received
    ST_BODY_LENGTH      # Content-Length body: _remaining bytes to go
    ST_CHUNK_LINE       # a chunk-size line is being received
    ST_CHUNK_DATA       # chunk data: _remaining bytes to go
    ST_CHUNK_CRLF       # the CRLF after chunk data
    ST_TRAILERS         # the trailer section after the last chunk
    ST_PAUSED           # stopped after an upgrade head; _paused_state resumes
    ST_CLOSED           # keep-alive was off and the request is complete: ignore bytes
    ST_ERROR            # an error was returned: ignore bytes

    FORM_ORIGIN = 0
    FORM_ABSOLUTE
    FORM_AUTHORITY
    FORM_ASTERISK

    INITIAL_BUFFER = 1024
    INITIAL_FIELDS = 32
    INITIAL_PIECES = 8


ctypedef struct sf_piece:
    const char *p
    Py_ssize_t n


cdef inline Py_ssize_t _limit(object value, str name) except -1:
    """A non-negative int limit (bool rejected), clamped to PY_SSIZE_T_MAX."""
    if type(value) is bool or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if value > PY_SSIZE_T_MAX:
        return PY_SSIZE_T_MAX
    return value


@cython.final
@cython.freelist(64)
cdef class Request:
    """One parsed request head: the ASGI scope and what the shell needs to know."""

    cdef readonly dict scope
    cdef readonly bint keep_alive
    cdef readonly bint expect_continue
    cdef readonly object upgrade
    cdef readonly bint has_body
    cdef readonly bint forwarded

    def __init__(self):
        raise TypeError("Request objects are made by RequestParser.feed()")

    def __eq__(self, other):
        if not isinstance(other, Request):
            return NotImplemented
        cdef Request o = <Request>other
        return (self.keep_alive == o.keep_alive and self.expect_continue == o.expect_continue
                and self.has_body == o.has_body and self.forwarded == o.forwarded
                and self.upgrade == o.upgrade and self.scope == o.scope)

    __hash__ = None

    def __repr__(self):
        s = self.scope
        return (f"<Request {s['method']} {s['raw_path']!r} HTTP/{s['http_version']}"
                f" keep_alive={self.keep_alive} has_body={self.has_body}"
                f" expect_continue={self.expect_continue} upgrade={self.upgrade!r}"
                f" forwarded={self.forwarded}>")


@cython.final
cdef class RequestParser:
    """Sans-IO HTTP/1.1 request parser: bytes in, ASGI scopes and body messages out."""

    cdef:
        # Per-connection configuration
        object _client
        object _server
        str _scheme
        str _root_path
        bytes _root_path_bytes
        dict _scope_template
        Py_ssize_t _max_request_line
        Py_ssize_t _max_header_size
        Py_ssize_t _max_headers
        Py_ssize_t _max_chunk_ext_size
        Py_ssize_t _max_trailer_size
        int64_t _max_body_size          # -1: no limit

        # Bytes kept between feed() calls: the incomplete unit, from its first byte
        char *_buf
        Py_ssize_t _buf_len
        Py_ssize_t _buf_cap

        # Parser state; offsets are relative to the first byte of the current unit
        int _state
        int _paused_state
        Py_ssize_t _scan                # where the LF search resumes
        Py_ssize_t _line                # first field line not judged yet

        # Per-request state: the head being parsed (offsets from the request line's start)
        Py_ssize_t _method_len
        Py_ssize_t _target_off
        Py_ssize_t _target_len
        Py_ssize_t _path_off
        Py_ssize_t _path_len
        Py_ssize_t _query_off
        Py_ssize_t _query_len
        Py_ssize_t _auth_off            # absolute-form: the authority
        Py_ssize_t _auth_len
        int _form
        bint _http11
        Py_ssize_t _section             # offset of the first field line
        sf_field *_fields
        Py_ssize_t _nfields
        Py_ssize_t _fields_cap
        sf_seen _seen                   # which special fields, and where
        sf_why _why                     # the reason for the error being returned

        # Per-request state: the body
        bint _keep_alive
        uint64_t _remaining
        uint64_t _body_total
        Py_ssize_t _trailer_bytes
        Py_ssize_t _trailer_count

        # Per-feed state: body bytes completed by this call, merged into one message
        sf_piece *_pieces
        Py_ssize_t _npieces
        Py_ssize_t _pieces_cap
        Py_ssize_t _pending

        # Held by the call running on this object (sf_threads.h): another call gets
        # ConcurrentUseError, never a share of the buffers above.
        int _busy

    def __cinit__(self):
        self._buf = <char *>PyMem_Malloc(INITIAL_BUFFER)
        self._fields = <sf_field *>PyMem_Malloc(INITIAL_FIELDS * sizeof(sf_field))
        self._pieces = <sf_piece *>PyMem_Malloc(INITIAL_PIECES * sizeof(sf_piece))
        if self._buf == NULL or self._fields == NULL or self._pieces == NULL:
            raise MemoryError()
        self._buf_cap = INITIAL_BUFFER
        self._fields_cap = INITIAL_FIELDS
        self._pieces_cap = INITIAL_PIECES

    def __dealloc__(self):
        PyMem_Free(self._buf)
        PyMem_Free(self._fields)
        PyMem_Free(self._pieces)

    def __init__(self, *, client=None, server=None, str scheme not None="http",
                 str root_path not None="", max_request_line=8190, max_header_size=65536,
                 max_headers=100, max_body_size=None, max_chunk_ext_size=4096,
                 max_trailer_size=8192):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            self._init(client, server, scheme, root_path, max_request_line, max_header_size,
                       max_headers, max_body_size, max_chunk_ext_size, max_trailer_size)
        finally:
            sf_leave(&self._busy)

    cdef int _init(self, client, server, str scheme, str root_path, max_request_line,
                   max_header_size, max_headers, max_body_size, max_chunk_ext_size,
                   max_trailer_size) except -1:
        if client is not None and not isinstance(client, tuple):
            raise TypeError(f"client must be a tuple or None, not {type(client).__name__}")
        if server is not None and not isinstance(server, tuple):
            raise TypeError(f"server must be a tuple or None, not {type(server).__name__}")
        self._client = client
        self._server = server
        self._scheme = scheme
        self._root_path = root_path
        self._root_path_bytes = root_path.encode()
        self._scope_template = _scope_template(client, server, scheme, root_path)
        self._max_request_line = _limit(max_request_line, "max_request_line")
        self._max_header_size = _limit(max_header_size, "max_header_size")
        self._max_headers = _limit(max_headers, "max_headers")
        self._max_chunk_ext_size = _limit(max_chunk_ext_size, "max_chunk_ext_size")
        self._max_trailer_size = _limit(max_trailer_size, "max_trailer_size")
        if max_body_size is None:
            self._max_body_size = -1
        else:
            self._max_body_size = min(_limit(max_body_size, "max_body_size"), INT64_MAX)
        self._state = ST_IDLE
        self._buf_len = 0
        self._npieces = 0
        self._pending = 0
        return 0

    def feed(self, data):
        """Parse `data` (any split) and return the events it completes, in wire order."""
        cdef list events = []
        cdef Py_buffer view
        cdef bint release = False
        cdef const char *p
        cdef Py_ssize_t n, keep
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            if self._state == ST_ERROR or self._state == ST_CLOSED:
                return events
            if self._state == ST_PAUSED:
                # The shell declined the upgrade: go on as HTTP/1.1 (docs/core.md "Pausing").
                self._state = self._paused_state
            if type(data) is not bytes:
                try:
                    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                    release = True
                except BufferError:
                    # A non-contiguous buffer (e.g. a strided memoryview): take a contiguous copy.
                    data = memoryview(data).tobytes()
            if release:
                p = <const char *>view.buf
                n = view.len
            else:
                p = PyBytes_AS_STRING(data)
                n = PyBytes_GET_SIZE(data)
            try:
                if self._buf_len == 0:
                    # Zero-copy path: parse the caller's bytes, keep only the incomplete tail.
                    keep = self._parse(p, n, events)
                    if SAILFISH_DEBUG:
                        assert 0 <= keep <= n and self._npieces == 0
                    if keep < n and self._state != ST_ERROR and self._state != ST_CLOSED:
                        self._reserve(n - keep)
                        memcpy(self._buf, p + keep, <size_t>(n - keep))
                        self._buf_len = n - keep
                else:
                    self._reserve(self._buf_len + n)
                    memcpy(self._buf + self._buf_len, p, <size_t>n)
                    self._buf_len += n
                    keep = self._parse(self._buf, self._buf_len, events)
                    if self._state == ST_ERROR or self._state == ST_CLOSED:
                        self._buf_len = 0
                    elif keep > 0:
                        memmove(self._buf, self._buf + keep, <size_t>(self._buf_len - keep))
                        self._buf_len -= keep
            finally:
                if release:
                    PyBuffer_Release(&view)
            return events
        finally:
            sf_leave(&self._busy)

    def unparsed(self):
        """Remove and return the buffered bytes not parsed yet (after an upgrade head)."""
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            return self._unparsed()
        finally:
            sf_leave(&self._busy)

    cdef bytes _unparsed(self):
        cdef Py_ssize_t keep = 0
        cdef bytes rest
        # Outside an upgrade pause this is the incomplete line: lines already judged (field
        # lines of the head being received) stay, and the line starts again from scratch.
        if self._state == ST_FIELDS:
            keep = self._line
            self._scan = keep
        elif self._state == ST_REQUEST_LINE:
            self._state = ST_IDLE
        elif self._state == ST_CHUNK_LINE or self._state == ST_TRAILERS:
            self._scan = 0
        rest = PyBytes_FromStringAndSize(self._buf + keep, self._buf_len - keep)
        self._buf_len = keep
        return rest

    # -- buffers -------------------------------------------------------------------------

    cdef inline int _reserve(self, Py_ssize_t size) except -1:
        """Make _buf hold at least `size` bytes (keeps its content)."""
        cdef Py_ssize_t cap = self._buf_cap
        cdef char *nb
        if size <= cap:
            return 0
        while cap < size:
            cap *= 2
        nb = <char *>PyMem_Realloc(self._buf, <size_t>cap)
        if nb == NULL:
            raise MemoryError()
        self._buf = nb
        self._buf_cap = cap
        return 0

    cdef int _grow_fields(self) except -1:
        """Double the capacity of _fields."""
        cdef sf_field *f = <sf_field *>PyMem_Realloc(
            self._fields, <size_t>(2 * self._fields_cap) * sizeof(sf_field))
        if f == NULL:
            raise MemoryError()
        self._fields = f
        self._fields_cap *= 2
        return 0

    cdef inline int _add_field(self, const char *d, const char *name, const char *name_end,
                               const char *v, const char *ve) except -1:
        """Record a valid field line's spans (offsets from d) and its name's SF_H_* id."""
        cdef sf_field *f
        cdef int hid
        cdef uint64_t bit
        cdef Py_ssize_t i = self._nfields
        if i == self._fields_cap:
            self._grow_fields()
        f = &self._fields[i]
        self._nfields = i + 1
        f.name_off = name - d
        f.name_len = name_end - name
        f.value_off = v - d
        f.value_len = ve - v
        hid = sf_header_id(name, <size_t>(name_end - name))
        f.id = hid
        if hid >= 0:
            bit = (<uint64_t>1) << hid
            if hid < SF_NSPECIAL:
                if not (self._seen.bits & bit):
                    self._seen.first[hid] = i
                self._seen.last[hid] = i
            self._seen.bits |= bit
        return 0

    cdef inline int _add_body(self, const char *p, Py_ssize_t n) except -1:
        """Remember a span of body bytes completed by this feed() call."""
        cdef sf_piece *np
        if n == 0:
            return 0
        if self._npieces == self._pieces_cap:
            np = <sf_piece *>PyMem_Realloc(
                self._pieces, <size_t>(2 * self._pieces_cap) * sizeof(sf_piece))
            if np == NULL:
                raise MemoryError()
            self._pieces = np
            self._pieces_cap *= 2
        self._pieces[self._npieces].p = p
        self._pieces[self._npieces].n = n
        self._npieces += 1
        self._pending += n
        return 0

    cdef int _flush_body(self, list events, bint more_body) except -1:
        """Append one http.request message with every body span of this call."""
        cdef bytes body
        cdef char *out
        cdef Py_ssize_t i
        if self._npieces == 1:
            body = PyBytes_FromStringAndSize(self._pieces[0].p, self._pieces[0].n)
        else:
            body = PyBytes_FromStringAndSize(NULL, self._pending)
            out = PyBytes_AS_STRING(body)
            for i in range(self._npieces):
                memcpy(out, self._pieces[i].p, <size_t>self._pieces[i].n)
                out += self._pieces[i].n
        self._npieces = 0
        self._pending = 0
        events.append(_body_message(body, more_body))
        return 0

    cdef int _end_body(self, list events) except -1:
        """The body is complete: its last message, then the next request or silence."""
        self._flush_body(events, False)
        # "The server SHOULD NOT process any further requests received on that connection"
        # -- RFC 9112 §9.6 (after a request that asked to close)
        self._state = ST_IDLE if self._keep_alive else ST_CLOSED
        return 0

    cdef Py_ssize_t _fail(self, int code, list events, Py_ssize_t n) except -1:
        """Return an error (and the reason recorded in _why) as the last event; the parser
        is finished."""
        # Body bytes this call completed before the error are valid events: deliver them
        # first (as more_body=True: the body did not end).
        if self._npieces:
            self._flush_body(events, True)
        events.append(_error_from_code(code, &self._why))
        self._state = ST_ERROR
        self._buf_len = 0
        return n

    # -- the state machine ---------------------------------------------------------------

    cdef Py_ssize_t _parse(self, const char *data, Py_ssize_t n, list events) except -1:
        """Parse data[:n] from the current state; return the offset of the first byte to keep."""
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t take
        cdef Py_ssize_t rc
        cdef int state
        while True:
            state = self._state
            if state == ST_BODY_LENGTH or state == ST_CHUNK_DATA:
                take = n - pos
                if take == 0:
                    break
                if <uint64_t>take > self._remaining:
                    take = <Py_ssize_t>self._remaining
                self._add_body(data + pos, take)
                pos += take
                self._remaining -= <uint64_t>take
                if self._remaining == 0:
                    if state == ST_BODY_LENGTH:
                        self._end_body(events)
                    else:
                        self._state = ST_CHUNK_CRLF
            elif state == ST_IDLE:
                # "In the interest of robustness, a server that is expecting to receive and
                # parse a request-line SHOULD ignore at least one empty line (CRLF) received
                # prior to the request-line." -- RFC 9112 §2.2
                while n - pos >= 2 and data[pos] == b'\r' and data[pos + 1] == b'\n':
                    pos += 2
                if pos == n or (n - pos == 1 and data[pos] == b'\r'):
                    break
                self._state = ST_REQUEST_LINE
                self._scan = 0
            elif state == ST_REQUEST_LINE:
                rc = self._request_line(data + pos, n - pos)
                if rc == SF_E_INCOMPLETE:
                    break
                if rc < 0:
                    return self._fail(rc, events, n)
            elif state == ST_FIELDS:
                rc = self._field_lines(data + pos, n - pos)
                if rc == SF_E_INCOMPLETE:
                    break
                if rc < 0:
                    return self._fail(rc, events, n)
                take = rc
                rc = self._finish_head(data + pos, events)
                if rc != SF_OK:
                    return self._fail(rc, events, n)
                pos += take
                if self._state == ST_PAUSED:
                    return pos
            elif state == ST_CHUNK_LINE:
                rc = self._chunk_line(data + pos, n - pos)
                if rc == SF_E_INCOMPLETE:
                    break
                if rc < 0:
                    return self._fail(rc, events, n)
                pos += rc
            elif state == ST_CHUNK_CRLF:
                if n - pos < 2:
                    break
                # "chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF" -- RFC 9112 §7.1
                if data[pos] != b'\r' or data[pos + 1] != b'\n':
                    return self._fail(_because(&self._why, SF_E_INVALID_CHUNK, SF_R_CHUNK_CRLF,
                                               0, 0), events, n)
                pos += 2
                self._state = ST_CHUNK_LINE
                self._scan = 0
            elif state == ST_TRAILERS:
                rc = self._trailer_line(data + pos, n - pos)
                if rc == SF_E_INCOMPLETE:
                    break
                if rc < 0:
                    return self._fail(rc, events, n)
                pos += rc
                if self._state != ST_TRAILERS:
                    self._end_body(events)
            elif state == ST_CLOSED:
                return n
            else:  # ST_PAUSED after unparsed() + feed, or ST_ERROR
                return pos
        if self._npieces:
            self._flush_body(events, True)
        return pos

    cdef inline int _request_line(self, const char *d, Py_ssize_t n) noexcept:
        """Judge the request line at d (docs/core.md step 1, in its order)."""
        cdef const char *lf = sf_find_lf(d + self._scan, d + n)
        cdef const char *end
        cdef const char *p
        cdef const char *q
        cdef const char *t
        cdef const char *a
        cdef const char *te
        cdef const char *part[3]
        cdef Py_ssize_t plen[3]
        cdef Py_ssize_t length, nparts = 0, stop, bad
        cdef bint empty = False
        # A byte that can be in no request line (anything but SP and VCHAR, or a CR that is not
        # followed by LF) condemns it at once, even before its LF: binary garbage such as a TLS
        # ClientHello is refused now, not at the header-read deadline. It wins over the length
        # only when it arrives no later than the byte that makes the line too long, so the
        # outcome does not depend on the split (docs/core.md step 1). Positions past that byte
        # cannot matter, hence the bound; the scan resumes one byte early for a pending CR.
        stop = (lf - d) if lf != NULL else n
        if stop > self._max_request_line + 2:
            stop = self._max_request_line + 2
        bad = sf_request_line_bad(d, self._scan - 1 if self._scan > 0 else 0, stop)
        if bad >= 0 and bad <= self._max_request_line + 1:
            if bad > 0 and d[bad - 1] == b'\r':    # the byte after a CR that is not LF
                return _because(&self._why, SF_E_INVALID_REQUEST_LINE, SF_R_REQUEST_LINE_CR,
                                0, 0)
            return _because(&self._why, SF_E_INVALID_REQUEST_LINE, SF_R_REQUEST_LINE_CHAR,
                            <unsigned char>d[bad], 0)
        if lf == NULL:
            # Too long even without its LF: +1 leaves room for the CR of the CRLF.
            if n > self._max_request_line + 1:
                return _because(&self._why, SF_E_REQUEST_LINE_TOO_LONG,
                                SF_R_REQUEST_LINE_TOO_LONG, 0, self._max_request_line)
            self._scan = n
            return SF_E_INCOMPLETE
        length = lf - d
        if length > 0 and (lf - 1)[0] == b'\r':
            length -= 1
        if length > self._max_request_line:
            return _because(&self._why, SF_E_REQUEST_LINE_TOO_LONG, SF_R_REQUEST_LINE_TOO_LONG,
                            0, self._max_request_line)
        # "a recipient MAY recognize a single LF as a line terminator" -- RFC 9112 §2.2;
        # we do not: disagreeing about line ends is how requests get smuggled.
        if lf == d or (lf - 1)[0] != b'\r':
            return _because(&self._why, SF_E_INVALID_REQUEST_LINE, SF_R_REQUEST_LINE_LF, 0, 0)
        # "request-line = method SP request-target SP HTTP-version" -- RFC 9112 §3
        end = lf - 1
        p = d
        while True:
            q = <const char *>memchr(p, b' ', <size_t>(end - p)) if p < end else NULL
            if q == NULL:
                q = end
            if q == p:
                empty = True
            if nparts < 3:
                part[nparts] = p
                plen[nparts] = q - p
            nparts += 1
            if q == end:
                break
            p = q + 1
        if empty:
            return _because(&self._why, SF_E_INVALID_REQUEST_LINE, SF_R_REQUEST_LINE_SPACE, 0, 0)
        if nparts == 2:                 # "GET /": an HTTP/0.9-style request
            return _because(&self._why, SF_E_INVALID_VERSION, SF_R_VERSION_MISSING, 0, 0)
        if nparts != 3:
            return _because(&self._why, SF_E_INVALID_REQUEST_LINE, SF_R_REQUEST_LINE_PARTS, 0, 0)
        # "HTTP-version = HTTP-name "/" DIGIT "." DIGIT; HTTP-name = %s"HTTP"" -- RFC 9112 §2.3
        p = part[2]
        if (plen[2] != 8 or memcmp(p, b"HTTP/", 5) != 0
                or not (sf_ctype[<unsigned char>p[5]] & SF_C_DIGIT) or p[6] != b'.'
                or not (sf_ctype[<unsigned char>p[7]] & SF_C_DIGIT)):
            return _because(&self._why, SF_E_INVALID_VERSION, SF_R_VERSION_MALFORMED, 0, 0)
        if p[5] != b'1':
            return _because(&self._why, SF_E_UNSUPPORTED_VERSION, SF_R_VERSION_UNSUPPORTED,
                            p[5] - c'0', p[7] - c'0')
        # HTTP/1.x with x >= 2 is answered as 1.1 ("the highest minor version ... to which the
        # recipient is conformant") -- RFC 9110 §6.2
        self._http11 = p[7] != b'0'
        # "method = token" -- RFC 9110 §9.1
        if sf_scan_token(part[0], part[0] + plen[0]) != part[0] + plen[0]:
            return _because(&self._why, SF_E_INVALID_METHOD, SF_R_METHOD, 0, 0)
        self._method_len = plen[0]
        t = part[1]
        te = t + plen[1]
        if sf_scan_vchar(t, te) != te:
            return _because(&self._why, SF_E_INVALID_TARGET, SF_R_TARGET_CHAR, 0, 0)
        self._target_off = t - d
        self._target_len = plen[1]
        self._query_off = 0
        self._query_len = -1            # -1: no '?'
        # "request-target = origin-form / absolute-form / authority-form / asterisk-form"
        # -- RFC 9112 §3.2; classified by shape, see _target_form.
        if plen[0] == 7 and memcmp(part[0], b"CONNECT", 7) == 0:
            # "A client sending a CONNECT request MUST send the authority form of
            # request-target" -- RFC 9110 §9.3.6; "authority-form = uri-host ":" port" and
            # "There are no default ports": the port is 1*DIGIT here (docs/core.md).
            if not sf_valid_host(t, <size_t>plen[1], True) or t[plen[1] - 1] == b':':
                return _because(&self._why, SF_E_INVALID_TARGET, SF_R_TARGET_CONNECT, 0, 0)
            self._form = FORM_AUTHORITY
            self._path_off = t - d
            self._path_len = plen[1]
        elif t[0] == b'/':
            self._form = FORM_ORIGIN
            self._split_query(d, t, te)
        elif plen[1] == 1 and t[0] == b'*':
            # "asterisk-form ... is only used for a server-wide OPTIONS request" -- §3.2.4
            if not (plen[0] == 7 and memcmp(part[0], b"OPTIONS", 7) == 0):
                return _because(&self._why, SF_E_INVALID_TARGET, SF_R_TARGET_ASTERISK, 0, 0)
            self._form = FORM_ASTERISK
            self._path_off = t - d
            self._path_len = 1
        elif ((plen[1] >= 7 and sf_ieq(t, 7, b"http://", 7))
              or (plen[1] >= 8 and sf_ieq(t, 8, b"https://", 8))):
            # "absolute-form = absolute-URI" -- §3.2.2: the authority runs to the first
            # "/", "?" or the end; the path is what follows up to "?" ("/" when empty).
            self._form = FORM_ABSOLUTE
            a = t + (7 if t[4] == b':' else 8)
            p = a
            while p < te and p[0] != b'/' and p[0] != b'?':
                p += 1
            # "A recipient that processes such a URI reference [an empty host] MUST reject it
            # as invalid"; userinfo is treated as an error -- RFC 9110 §4.2.1, §4.2.4: the
            # authority is a non-empty uri-host [":" port].
            if p == a or a[0] == b':' or not sf_valid_host(a, <size_t>(p - a), False):
                return _because(&self._why, SF_E_INVALID_TARGET, SF_R_TARGET_AUTHORITY, 0, 0)
            self._auth_off = a - d
            self._auth_len = p - a
            self._split_query(d, p, te)
        else:
            # "The authority-form of request-target is only used for CONNECT requests"
            # -- RFC 9112 §3.2.3
            return _because(&self._why, SF_E_INVALID_TARGET, SF_R_TARGET_FORM, 0, 0)
        self._state = ST_FIELDS
        self._section = lf + 1 - d
        self._line = self._section
        self._scan = self._section
        self._nfields = 0
        self._seen.bits = 0
        return SF_OK

    cdef inline void _split_query(self, const char *d, const char *p, const char *te) noexcept:
        """Path = [p, first '?'), query = after it."""
        cdef const char *q = <const char *>memchr(p, b'?', <size_t>(te - p)) if p < te else NULL
        self._path_off = p - d
        if q == NULL:
            self._path_len = te - p
        else:
            self._path_len = q - p
            self._query_off = q + 1 - d
            self._query_len = te - q - 1

    cdef inline Py_ssize_t _field_lines(self, const char *d, Py_ssize_t n) except -1:
        """Judge every complete field line of the head at d (step 2); return the head's
        length once its empty line is in, SF_E_INCOMPLETE, or an SF_E_* code."""
        cdef const char *line
        cdef const char *lf
        cdef const char *name_end
        cdef const char *v
        cdef const char *ve
        cdef Py_ssize_t after, scan
        cdef const char *end = d + n
        cdef const char *cr
        cdef sf_ctl_cursor cur
        cdef bint cursor = False
        while True:
            if self._scan <= self._line and n - self._line > 2:
                # Fast path for complete, well-formed lines (the common case): the cursor
                # finds each line's first byte outside the value class, which must be its
                # CR before its LF; the name must be a token followed by ':'. Every other
                # line (the empty one, an incomplete or malformed one) falls to the ordered
                # checks below, so the outcome is the same.
                line = d + self._line
                if not cursor:
                    sf_ctl_init(&cur, line, end)
                    cursor = True
                while True:
                    cr = sf_ctl_next(&cur, line)
                    if cr + 1 >= end or cr[0] != b'\r' or cr[1] != b'\n':
                        break
                    if not (sf_ctype[<unsigned char>line[0]] & SF_C_TCHAR):
                        break
                    name_end = sf_scan_token(line, cr)
                    if name_end == cr or name_end[0] != b':':
                        break
                    after = cr + 2 - d
                    if after - self._section > self._max_header_size:
                        return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_HEADERS_SIZE,
                                        0, self._max_header_size)
                    if self._nfields == self._max_headers:
                        return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_HEADERS_COUNT,
                                        0, self._max_headers)
                    # Bytes up to cr are all value bytes: the value needs no other check.
                    v = sf_skip_ows(name_end + 1, cr)
                    self._add_field(d, line, name_end, v, sf_rstrip_ows(v, cr))
                    line = cr + 2
                self._line = line - d
                self._scan = self._line
            line = d + self._line
            scan = self._scan if self._scan > self._line else self._line
            lf = sf_find_lf(d + scan, d + n)
            if lf == NULL:
                if n - self._section > self._max_header_size:
                    return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_HEADERS_SIZE,
                                    0, self._max_header_size)
                self._scan = n
                return SF_E_INCOMPLETE
            after = lf + 1 - d
            if after - self._section > self._max_header_size:
                return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_HEADERS_SIZE,
                                0, self._max_header_size)
            if lf == line + 1 and line[0] == b'\r':
                return after
            if lf == line or (lf - 1)[0] != b'\r':
                return _because(&self._why, SF_E_INVALID_HEADER, SF_R_FIELD_LF, 0, 0)
            if self._nfields == self._max_headers:
                return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_HEADERS_COUNT,
                                0, self._max_headers)
            if _check_field_line(line, lf - 1, &name_end, &v, &ve, &self._why) != SF_OK:
                if self._why.reason == SF_R_FIELD_OBS_FOLD and self._nfields == 0:
                    self._why.reason = SF_R_FIELD_LEADING_WS
                return SF_E_INVALID_HEADER
            self._add_field(d, line, name_end, v, ve)
            self._line = after
            self._scan = after

    cdef int _finish_head(self, const char *d, list events) except -1:
        """The head at d is complete: judge it (step 3), emit its Request, set up the body."""
        cdef sf_head_info info
        cdef int rc = _analyse_head(d, self._fields, &self._seen, self._http11,
                                    self._max_body_size, &info, &self._why)
        cdef Request req
        cdef bint upgrading
        cdef list headers
        cdef Py_ssize_t i
        if rc != SF_OK:
            return rc
        headers = _headers_list(d, self._fields, self._nfields)
        if self._form == FORM_ABSOLUTE and self._seen.bits & SF_SEEN_HOST:
            # "When an origin server receives a request with an absolute-form of
            # request-target, the origin server MUST ignore the received Host header field (if
            # any) and instead use the host information of the request-target." -- RFC 9112
            # §3.2.2: the scope's host field carries the authority (docs/core.md).
            i = self._seen.first[SF_H_HOST]
            headers[i] = ((<tuple>headers[i])[0],
                          PyBytes_FromStringAndSize(d + self._auth_off, self._auth_len))
        req = Request.__new__(Request)
        req.scope = _make_scope(self, d, headers)
        req.keep_alive = info.keep_alive
        req.expect_continue = info.expect_continue
        req.has_body = info.chunked or info.content_length > 0
        req.forwarded = (self._seen.bits & _FORWARDED_BITS) != 0
        # CONNECT has its own way of taking a connection over; it never pauses the parser.
        upgrading = info.upgrade_field >= 0 and self._form != FORM_AUTHORITY
        if upgrading:
            req.upgrade = _upgrade_value(headers, self._fields, self._nfields, &info)
        else:
            req.upgrade = None
        events.append(req)
        self._keep_alive = info.keep_alive
        if info.chunked:
            self._state = ST_CHUNK_LINE
            self._scan = 0
            self._body_total = 0
        elif info.content_length > 0:
            self._state = ST_BODY_LENGTH
            self._remaining = info.content_length
        else:
            self._state = ST_IDLE if info.keep_alive else ST_CLOSED
        if upgrading:
            # Stop after an upgrade head: the shell decides (docs/core.md "Pausing").
            self._paused_state = self._state
            self._state = ST_PAUSED
        return SF_OK

    cdef inline Py_ssize_t _chunk_line(self, const char *d, Py_ssize_t n) noexcept:
        """Judge the chunk-size line at d (step 4); return its length with the CRLF."""
        cdef const char *lf = sf_find_lf(d + self._scan, d + n)
        cdef Py_ssize_t ndigits, ext_len, content
        cdef const char *ext
        cdef const char *end
        cdef const char *v
        cdef uint64_t size
        if lf == NULL:
            # Limits are judged before the LF arrives too.
            ndigits = <Py_ssize_t>sf_count_hex(d, <size_t>n, 17)
            if ndigits > 16:
                return _because(&self._why, SF_E_INVALID_CHUNK, SF_R_CHUNK_SIZE_DIGITS, 0, 0)
            if n - ndigits > self._max_chunk_ext_size + 1:
                return _because(&self._why, SF_E_INVALID_CHUNK, SF_R_CHUNK_EXT_TOO_LONG,
                                0, self._max_chunk_ext_size)
            self._scan = n
            return SF_E_INCOMPLETE
        if lf == d or (lf - 1)[0] != b'\r':
            return _because(&self._why, SF_E_INVALID_CHUNK, SF_R_CHUNK_LF, 0, 0)
        # "chunk-size = 1*HEXDIG" -- RFC 9112 §7.1; at most 16 digits, value < 2**63.
        end = lf - 1
        content = end - d
        ndigits = <Py_ssize_t>sf_count_hex(d, <size_t>content, 17)
        if sf_parse_hex(d, <size_t>ndigits, &size) != SF_OK:
            return _because(&self._why, SF_E_INVALID_CHUNK,
                            SF_R_CHUNK_SIZE_INVALID if ndigits == 0 else
                            SF_R_CHUNK_SIZE_DIGITS if ndigits > 16 else SF_R_CHUNK_SIZE_BIG, 0, 0)
        ext = d + ndigits
        ext_len = content - ndigits
        if ext_len > self._max_chunk_ext_size:
            return _because(&self._why, SF_E_INVALID_CHUNK, SF_R_CHUNK_EXT_TOO_LONG,
                            0, self._max_chunk_ext_size)
        if ext_len > 0:
            # "chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )"
            # -- RFC 9112 §7.1.1; only its first ";" and its bytes are checked, then skipped.
            v = sf_skip_ows(ext, end)
            if v == end or v[0] != b';' or sf_scan_value(d, ext, end) != end:
                return _because(&self._why, SF_E_INVALID_CHUNK, SF_R_CHUNK_EXT, 0, 0)
        if self._max_body_size >= 0 and self._body_total + size > <uint64_t>self._max_body_size:
            return _because(&self._why, SF_E_BODY_TOO_LARGE, SF_R_BODY_CHUNKED,
                            self._body_total + size, <uint64_t>self._max_body_size)
        self._body_total += size
        if size == 0:
            self._state = ST_TRAILERS
            self._trailer_bytes = 0
            self._trailer_count = 0
        else:
            self._state = ST_CHUNK_DATA
            self._remaining = size
        self._scan = 0
        return lf + 1 - d

    cdef inline Py_ssize_t _trailer_line(self, const char *d, Py_ssize_t n) noexcept:
        """Judge one trailer line at d (step 4: as step 2, own size limit); return its length."""
        cdef const char *lf = sf_find_lf(d + self._scan, d + n)
        cdef const char *name_end
        cdef const char *v
        cdef const char *ve
        cdef Py_ssize_t after
        if lf == NULL:
            if self._trailer_bytes + n > self._max_trailer_size:
                return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_TRAILERS_SIZE,
                                0, self._max_trailer_size)
            self._scan = n
            return SF_E_INCOMPLETE
        after = lf + 1 - d
        if self._trailer_bytes + after > self._max_trailer_size:
            return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_TRAILERS_SIZE,
                            0, self._max_trailer_size)
        self._scan = 0
        if after == 2 and d[0] == b'\r':
            self._state = ST_IDLE       # the caller ends the body
            return 2
        if lf == d or (lf - 1)[0] != b'\r':
            return _because(&self._why, SF_E_INVALID_HEADER, SF_R_FIELD_LF, 0, 0)
        if self._trailer_count == self._max_headers:
            return _because(&self._why, SF_E_HEADERS_TOO_LARGE, SF_R_TRAILERS_COUNT,
                            0, self._max_headers)
        if _check_field_line(d, lf - 1, &name_end, &v, &ve, &self._why) != SF_OK:
            if self._why.reason == SF_R_FIELD_OBS_FOLD and self._trailer_count == 0:
                self._why.reason = SF_R_FIELD_LEADING_WS
            return SF_E_INVALID_HEADER
        self._trailer_bytes += after
        self._trailer_count += 1
        return after


cdef inline int _check_field_line(const char *line, const char *end, const char **name_end,
                                  const char **value, const char **value_end,
                                  sf_why *why) noexcept:
    """Judge the field line [line, end) (no CRLF) after the size/count checks of step 2."""
    cdef const char *p
    cdef const char *v
    # "A server that receives an obs-fold in a request message ... MUST either reject the
    # message by sending a 400 (Bad Request)" -- RFC 9112 §5.2; a first line starting with
    # whitespace is rejected the same way (§2.2; the caller tells the two apart).
    if line[0] == b' ' or line[0] == b'\t':
        return _because(why, SF_E_INVALID_HEADER, SF_R_FIELD_OBS_FOLD, 0, 0)
    # "field-line = field-name ":" OWS field-value OWS" and "No whitespace is allowed between
    # the field name and colon." -- RFC 9112 §5, §5.1
    p = sf_scan_token(line, end)
    if p == line or p == end or p[0] != b':':
        return _bad_field_name(line, p, end, why)
    name_end[0] = p
    v = sf_skip_ows(p + 1, end)
    # "field-value = *field-content" of VCHAR, obs-text, SP, HTAB -- RFC 9110 §5.5; a CR,
    # LF or NUL in a value is rejected, never passed on.
    p = sf_scan_value(line, v, end)
    if p != end:
        return _because(why, SF_E_INVALID_HEADER, SF_R_FIELD_VALUE_CHAR, <unsigned char>p[0], 0)
    value[0] = v
    value_end[0] = sf_rstrip_ows(v, end)
    return SF_OK


cdef int _bad_field_name(const char *line, const char *p, const char *end, sf_why *why) noexcept:
    """SF_E_INVALID_HEADER, recording why the name part of [line, end) is bad; p is its first
    byte that is not a tchar, and that byte is not the colon ending a non-empty name."""
    cdef const char *colon = <const char *>memchr(line, b':', <size_t>(end - line))
    if colon == NULL:
        return _because(why, SF_E_INVALID_HEADER, SF_R_FIELD_NO_COLON, 0, 0)
    if colon == line:
        return _because(why, SF_E_INVALID_HEADER, SF_R_FIELD_EMPTY_NAME, 0, 0)
    # Here p < colon: only SP/HTAB between a token and the colon is "whitespace before colon".
    if sf_skip_ows(p, colon) == colon:
        return _because(why, SF_E_INVALID_HEADER, SF_R_FIELD_WS_BEFORE_COLON, 0, 0)
    return _because(why, SF_E_INVALID_HEADER, SF_R_FIELD_NAME_CHAR, <unsigned char>p[0], 0)
