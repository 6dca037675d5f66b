# ws/frames.pxi: the compiled twin of src/sailfish/ws/frames.py (FrameParser, FrameWriter and
# the Ping / Pong / Close events).
# Strategy: feed() walks the caller's buffer in place. A frame header is judged by sf_ws_header
# (ext/include/sf_ws.h) in the pure twin's rule order; only an incomplete header (< 14 bytes)
# or control payload (<= 125 bytes) is copied aside between calls. Data payloads are unmasked
# (a word, or a SIMD vector, at a time) straight into the message buffer as they arrive and text
# is checked by sf_utf8_check at once, so the first bad byte fails the connection (the unmask
# pass reports all-ASCII pieces, which need no check); messages become ASGI dicts with one
# PyBytes / PyUnicode made from the buffer. The common case, a whole uncompressed text message
# in one frame within one feed(), skips the buffer: it is unmasked straight into a new ASCII
# str, which is the message when every byte is ASCII; otherwise CPython's strict decoder both
# validates it (it refuses exactly what RFC 3629 refuses) and builds the str in one pass.
# Compressed pieces go through Deflate (deflate.pxi) with the remaining budget as the output
# bound. Errors are returned as WebSocketError instances, the last event. docs/websocket.md is
# the contract.
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)

from sailfish.errors import (
    WebSocketError as _WebSocketError,
    WebSocketMessageError as _WebSocketMessageError,
)


cdef extern from "sf_ws.h" nogil:
    enum:
        SF_WS_E_OPCODE
        SF_WS_E_RSV23
        SF_WS_E_RSV1
        SF_WS_E_CTRL_FRAGMENTED
        SF_WS_E_CTRL_TOO_LONG
        SF_WS_E_NO_MESSAGE
        SF_WS_E_IN_MESSAGE
        SF_WS_E_UNMASKED
        SF_WS_E_LENGTH_TOP_BIT
        SF_WS_E_NON_MINIMAL
        SF_WS_E_TOO_BIG
    enum:
        SF_U8_ACCEPT
    ctypedef struct sf_ws_frame:
        unsigned opcode
        int fin
        int rsv1
        uint64_t length
        unsigned char mask[4]
    int sf_ws_header(const unsigned char *p, size_t n, int deflate, int in_message,
                     uint64_t budget, sf_ws_frame *f)
    void sf_ws_unmask(unsigned char *dst, const unsigned char *src, size_t n,
                      const unsigned char *mask, uint64_t offset)
    unsigned sf_ws_unmask_text(unsigned char *dst, const unsigned char *src, size_t n,
                               const unsigned char *mask, uint64_t offset)
    int sf_utf8_check(uint32_t *state, const unsigned char *p, size_t n)


cdef enum:
    WS_CONTINUATION = 0x0
    WS_TEXT = 0x1
    WS_BINARY = 0x2
    WS_CLOSE = 0x8
    WS_PING = 0x9
    WS_PONG = 0xA
    WS_MAX_HEADER = 14
    WS_BUFFER_KEEP = 65536      # a message buffer bigger than this is freed after its message

cdef str _WS_RECEIVE = "websocket.receive"
cdef str _K_TYPE = "type"
cdef str _K_TEXT = "text"
cdef str _K_BYTES = "bytes"

cdef dict _WS_HEADER_ERRORS = {
    SF_WS_E_OPCODE: "reserved opcode",
    SF_WS_E_RSV23: "RSV2 or RSV3 set",
    SF_WS_E_RSV1: "RSV1 set without permessage-deflate on this frame",
    SF_WS_E_CTRL_FRAGMENTED: "fragmented control frame",
    SF_WS_E_CTRL_TOO_LONG: "control frame payload longer than 125 bytes",
    SF_WS_E_NO_MESSAGE: "continuation frame without a message to continue",
    SF_WS_E_IN_MESSAGE: "new data frame before the fragmented message ended",
    SF_WS_E_UNMASKED: "unmasked client frame",
    SF_WS_E_LENGTH_TOP_BIT: "64-bit frame length with the top bit set",
    SF_WS_E_NON_MINIMAL: "frame length not minimally encoded",
    SF_WS_E_TOO_BIG: "message too big",
}


class _WSFail(Exception):
    """Internal: carries a WebSocketError out of the parse loop."""


cdef inline bint _valid_close_code(long code) noexcept:
    # RFC 6455 §7.4.1, §7.4.2 and the IANA registry (§11.7): see the pure twin.
    return (1000 <= code <= 1003) or (1007 <= code <= 1014) or (3000 <= code <= 4999)


@cython.final
@cython.freelist(16)
cdef class Ping:
    """A ping frame from the peer; the shell answers with a pong carrying the same payload."""

    cdef readonly bytes payload

    def __init__(self, bytes payload not None):
        self.payload = payload

    def __eq__(self, other):
        if not isinstance(other, Ping):
            return NotImplemented
        return self.payload == (<Ping>other).payload

    __hash__ = None

    def __repr__(self):
        return f"Ping({self.payload!r})"


@cython.final
@cython.freelist(16)
cdef class Pong:
    """A pong frame from the peer (an answer to our ping, or unsolicited)."""

    cdef readonly bytes payload

    def __init__(self, bytes payload not None):
        self.payload = payload

    def __eq__(self, other):
        if not isinstance(other, Pong):
            return NotImplemented
        return self.payload == (<Pong>other).payload

    __hash__ = None

    def __repr__(self):
        return f"Pong({self.payload!r})"


@cython.final
cdef class Close:
    """The peer's close frame: `code` (1005 when the frame had no payload) and `reason`."""

    cdef readonly int code
    cdef readonly str reason

    def __init__(self, int code, str reason not None):
        self.code = code
        self.reason = reason

    def __eq__(self, other):
        if not isinstance(other, Close):
            return NotImplemented
        return self.code == (<Close>other).code and self.reason == (<Close>other).reason

    __hash__ = None

    def __repr__(self):
        return f"Close({self.code}, {self.reason!r})"


@cython.final
cdef class FrameParser:
    """Sans-IO parser of client frames (server side): bytes in, messages and events out."""

    cdef:
        # Settings
        uint64_t _max
        Deflate _deflate

        # Per-connection state
        bint _done
        unsigned char _hold[WS_MAX_HEADER]   # an incomplete frame header
        Py_ssize_t _hold_len
        unsigned char _ctl[125]              # the control payload received so far
        Py_ssize_t _ctl_len

        # Per-frame state
        bint _in_frame
        unsigned _opcode
        bint _fin
        unsigned char _mask[4]
        uint64_t _remaining
        uint64_t _offset

        # Per-message state
        unsigned _message                    # WS_TEXT / WS_BINARY while one is open, else 0
        bint _compressed
        bint _bad_text                       # compressed text inflated to invalid UTF-8
        uint64_t _size                       # payload bytes announced by its frame headers
        uint64_t _inflated
        uint32_t _utf8
        str _text                            # the message's str, when built without _buf
        unsigned char *_buf                  # the message's (unmasked, inflated) bytes
        Py_ssize_t _len
        Py_ssize_t _cap

        # Held by the call running on this object (sf_threads.h): another call gets
        # ConcurrentUseError, never a share of the buffers above.
        int _busy

    def __cinit__(self):
        self._buf = NULL
        self._len = 0
        self._cap = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)

    def __init__(self, *, max_message_size=16 * 1024 * 1024, deflate=None):
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            self._init(max_message_size, deflate)
        finally:
            sf_leave(&self._busy)

    cdef int _init(self, max_message_size, deflate) except -1:
        if type(max_message_size) is not int or max_message_size < 0:
            raise ValueError(f"max_message_size must be an int >= 0, not {max_message_size!r}")
        if deflate is not None and not isinstance(deflate, Deflate):
            raise TypeError(f"deflate must be a Deflate or None, not {type(deflate).__name__}")
        self._max = min(max_message_size, PY_SSIZE_T_MAX)
        self._deflate = deflate
        self._done = False
        self._hold_len = 0
        self._ctl_len = 0
        self._in_frame = False
        self._message = 0
        self._compressed = False
        self._bad_text = False
        self._size = 0
        self._inflated = 0
        self._utf8 = SF_U8_ACCEPT
        self._len = 0
        return 0

    def feed(self, data):
        """Parse `data` (any piece of the stream); return the events it completes, in order."""
        cdef list events = []
        cdef Py_buffer view
        cdef bint release = False
        cdef const unsigned char *p
        cdef Py_ssize_t n
        if not sf_enter(&self._busy):
            _concurrent_use(self)
        try:
            if self._done:
                return events
            if type(data) is not bytes:
                try:
                    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                    release = True
                except BufferError:
                    data = memoryview(data).tobytes()
            if release:
                p = <const unsigned char *>view.buf
                n = view.len
            else:
                p = <const unsigned char *>PyBytes_AS_STRING(data)
                n = PyBytes_GET_SIZE(data)
            try:
                self._parse(p, n, events)
            except _WSFail as fail:
                self._finish()
                events.append(fail.args[0])
            finally:
                if release:
                    PyBuffer_Release(&view)
            return events
        finally:
            sf_leave(&self._busy)

    cdef void _finish(self) noexcept:
        self._done = True
        self._hold_len = 0
        self._ctl_len = 0
        self._len = 0
        if self._cap > WS_BUFFER_KEEP:
            PyMem_Free(self._buf)
            self._buf = NULL
            self._cap = 0

    cdef int _fail(self, int code, str reason) except -1:
        raise _WSFail(_WebSocketError(code, reason))

    cdef int _parse(self, const unsigned char *p, Py_ssize_t n, list events) except -1:
        cdef Py_ssize_t pos = 0, take, used
        cdef sf_ws_frame f
        cdef int r
        cdef bint tailed
        memset(&f, 0, sizeof(f))
        while True:
            if not self._in_frame:
                if self._hold_len:
                    # Complete the held header with at most what a header can still need.
                    take = min(WS_MAX_HEADER - self._hold_len, n - pos)
                    memcpy(self._hold + self._hold_len, p + pos, <size_t>take)
                    r = sf_ws_header(self._hold, <size_t>(self._hold_len + take),
                                     self._deflate is not None, self._message != 0,
                                     self._max - self._size, &f)
                    if r < 0:
                        self._fail(1009 if r == SF_WS_E_TOO_BIG else 1002,
                                   _WS_HEADER_ERRORS[r])
                    if r == 0:
                        self._hold_len += take
                        return 0
                    pos += r - self._hold_len
                    self._hold_len = 0
                else:
                    r = sf_ws_header(p + pos, <size_t>(n - pos), self._deflate is not None,
                                     self._message != 0, self._max - self._size, &f)
                    if r < 0:
                        self._fail(1009 if r == SF_WS_E_TOO_BIG else 1002,
                                   _WS_HEADER_ERRORS[r])
                    if r == 0:
                        memcpy(self._hold, p + pos, <size_t>(n - pos))
                        self._hold_len = n - pos
                        return 0
                    pos += r
                self._start_frame(&f)
            if self._opcode >= WS_CLOSE:
                take = min(<Py_ssize_t>self._remaining - self._ctl_len, n - pos)
                memcpy(self._ctl + self._ctl_len, p + pos, <size_t>take)
                self._ctl_len += take
                pos += take
                if self._ctl_len < <Py_ssize_t>self._remaining:
                    return 0
                self._in_frame = False
                events.append(self._control())
                if self._done:
                    return 0
                continue
            take = <Py_ssize_t>min(self._remaining, <uint64_t>(n - pos))
            tailed = False
            if self._compressed and self._fin and <uint64_t>take == self._remaining:
                # The message ends in this input: its last piece and the tail in one call.
                self._inflate_masked(p + pos, take, True)
                tailed = True
            elif take:
                if self._compressed:
                    self._inflate_masked(p + pos, take, False)
                elif (self._message == WS_TEXT and self._fin and self._len == 0
                        and <uint64_t>take == self._remaining):
                    # The whole text message is in this input: no buffer, no separate check.
                    self._text = self._whole_text(p + pos, take)
                else:
                    self._append_masked(p + pos, take)
            pos += take
            self._offset += <uint64_t>take
            self._remaining -= <uint64_t>take
            if self._remaining:
                return 0
            self._in_frame = False
            if self._compressed:
                if self._fin and not tailed:
                    self._inflate_end()
                if self._bad_text:
                    self._fail(1007, "invalid UTF-8 in a text message")
            if self._fin:
                events.append(self._end_message())

    cdef inline void _start_frame(self, sf_ws_frame *f) noexcept:
        self._opcode = f.opcode
        self._fin = f.fin
        memcpy(self._mask, f.mask, 4)
        self._remaining = f.length
        self._offset = 0
        self._ctl_len = 0
        self._in_frame = True
        if f.opcode == WS_TEXT or f.opcode == WS_BINARY:
            self._message = f.opcode
            self._compressed = f.rsv1
            self._utf8 = SF_U8_ACCEPT
        if f.opcode < WS_CLOSE:
            self._size += f.length

    cdef inline int _reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t need = self._len + extra
        cdef Py_ssize_t cap
        cdef unsigned char *buf
        if need <= self._cap:
            return 0
        cap = max(need, self._cap * 2, 256)
        buf = <unsigned char *>PyMem_Realloc(self._buf, <size_t>cap)
        if buf is NULL:
            raise MemoryError()
        self._buf = buf
        self._cap = cap
        return 0

    cdef inline int _append_masked(self, const unsigned char *p, Py_ssize_t n) except -1:
        """Unmask a piece of an uncompressed payload into the message, checking text."""
        self._reserve(n)
        cdef unsigned char *dst = self._buf + self._len
        self._len += n
        if self._message != WS_TEXT:
            sf_ws_unmask(dst, p, <size_t>n, self._mask, self._offset)
        elif (sf_ws_unmask_text(dst, p, <size_t>n, self._mask, self._offset)
                or self._utf8 != SF_U8_ACCEPT):
            # Not all ASCII, or a character left open by the previous piece: check.
            if sf_utf8_check(&self._utf8, dst, <size_t>n) < 0:
                self._fail(1007, "invalid UTF-8 in a text message")
        return 0

    cdef str _whole_text(self, const unsigned char *p, Py_ssize_t n):
        """A whole text message (n > 0 bytes, one frame, uncompressed) unmasked into its str."""
        cdef str text = PyUnicode_New(n, 127)
        cdef unsigned char *dst = <unsigned char *>PyUnicode_DATA(text)
        cdef uint32_t state = SF_U8_ACCEPT
        if not sf_ws_unmask_text(dst, p, <size_t>n, self._mask, 0):
            return text
        # Not ASCII: `text` only holds the UTF-8 bytes until the decoder has read them. Its
        # strict mode refuses surrogates, overlong forms and code points above U+10FFFF, as
        # RFC 3629 §4 does (tests/ws/test_ws_twins.py checks it against the ABNF).
        try:
            return PyUnicode_DecodeUTF8(<const char *>dst, n, NULL)
        except UnicodeDecodeError:
            pass
        if sf_utf8_check(&state, dst, <size_t>n) < 0:
            self._fail(1007, "invalid UTF-8 in a text message")
        self._fail(1007, "invalid UTF-8 in a text message (truncated)")

    cdef int _inflate_masked(self, const unsigned char *p, Py_ssize_t n, bint tailed) except -1:
        cdef bytes chunk = PyBytes_FromStringAndSize(NULL, n + 4 if tailed else n)
        cdef unsigned char *q = <unsigned char *>PyBytes_AS_STRING(chunk)
        sf_ws_unmask(q, p, <size_t>n, self._mask, self._offset)
        if tailed:
            memcpy(q + n, PyBytes_AS_STRING(_DEFLATE_TAIL), 4)
        cdef uint64_t budget = self._max - self._inflated
        try:
            data = self._deflate._inflate(chunk, <Py_ssize_t>budget, tailed)
        except ValueError:
            self._fail(1002, "invalid compressed data")
        return self._add_inflated(data, budget)

    cdef int _inflate_end(self) except -1:
        cdef uint64_t budget = self._max - self._inflated
        try:
            data = self._deflate._end_inflate(<Py_ssize_t>budget)
        except ValueError:
            self._fail(1002, "invalid compressed data")
        return self._add_inflated(data, budget)

    cdef int _add_inflated(self, bytes data, uint64_t budget) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        if <uint64_t>n > budget:
            self._fail(1009, "message too big")
        self._inflated += <uint64_t>n
        if not n:
            return 0
        self._reserve(n)
        cdef unsigned char *dst = self._buf + self._len
        memcpy(dst, PyBytes_AS_STRING(data), <size_t>n)
        self._len += n
        # Bad text in a compressed message waits for the end of its frame (see the pure twin).
        if self._message == WS_TEXT and not self._bad_text:
            if sf_utf8_check(&self._utf8, dst, <size_t>n) < 0:
                self._bad_text = True
        return 0

    cdef dict _end_message(self):
        cdef dict message
        if self._text is not None:
            message = {_K_TYPE: _WS_RECEIVE, _K_TEXT: self._text}
            self._text = None
        elif self._message == WS_TEXT:
            if self._utf8 != SF_U8_ACCEPT:
                self._fail(1007, "invalid UTF-8 in a text message (truncated)")
            # Already validated: CPython's decoder only builds the str (ASCII fast path).
            message = {_K_TYPE: _WS_RECEIVE,
                       _K_TEXT: PyUnicode_DecodeUTF8(<const char *>self._buf, self._len, NULL)}
        else:
            message = {_K_TYPE: _WS_RECEIVE,
                       _K_BYTES: PyBytes_FromStringAndSize(<const char *>self._buf, self._len)}
        self._message = 0
        self._compressed = False
        self._bad_text = False
        self._size = 0
        self._inflated = 0
        self._len = 0
        if self._cap > WS_BUFFER_KEEP:
            PyMem_Free(self._buf)
            self._buf = NULL
            self._cap = 0
        return message

    cdef object _control(self):
        cdef unsigned char payload[125]
        cdef Py_ssize_t n = self._ctl_len
        cdef long code
        cdef uint32_t state = SF_U8_ACCEPT
        sf_ws_unmask(payload, self._ctl, <size_t>n, self._mask, 0)
        if self._opcode == WS_PING:
            return Ping(PyBytes_FromStringAndSize(<const char *>payload, n))
        if self._opcode == WS_PONG:
            return Pong(PyBytes_FromStringAndSize(<const char *>payload, n))
        if n == 0:
            close = Close(1005, "")
        else:
            if n == 1:
                self._fail(1002, "close frame with a 1-byte payload")
            code = (<long>payload[0] << 8) | payload[1]
            if not _valid_close_code(code):
                self._fail(1002, "invalid close code")
            if sf_utf8_check(&state, payload + 2, <size_t>(n - 2)) < 0 or state != SF_U8_ACCEPT:
                self._fail(1007, "invalid UTF-8 in the close reason")
            close = Close(code, PyUnicode_DecodeUTF8(<const char *>payload + 2, n - 2, NULL))
        self._finish()
        return close


# -- the writer ------------------------------------------------------------------------------


cdef bytes _ws_frame(unsigned char first, const char *payload, Py_ssize_t n):
    """One unmasked frame, header and payload in one new bytes object."""
    cdef Py_ssize_t head = 2 if n < 126 else (4 if n < 0x10000 else 10)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, head + n)
    cdef unsigned char *q = <unsigned char *>PyBytes_AS_STRING(out)
    cdef int i
    q[0] = first
    if n < 126:
        q[1] = <unsigned char>n
    elif n < 0x10000:
        q[1] = 126
        q[2] = <unsigned char>(n >> 8)
        q[3] = <unsigned char>n
    else:
        q[1] = 127
        for i in range(8):
            q[2 + i] = <unsigned char>((<uint64_t>n) >> (56 - 8 * i))
    if n:
        memcpy(q + head, payload, <size_t>n)
    return out


cdef bytes _ws_as_bytes(object data, str what):
    if type(data) is bytes:
        return <bytes>data
    try:
        view = memoryview(data)
    except TypeError:
        raise _WebSocketMessageError(f"{what} must be bytes-like, not {type(data).__name__}") \
            from None
    with view:
        return view.tobytes()


cdef bytes _ws_control_payload(object payload, str what):
    cdef bytes data = _ws_as_bytes(payload, what)
    if PyBytes_GET_SIZE(data) > 125:
        raise _WebSocketMessageError(f"{what} longer than 125 bytes ({len(data)})")
    return data


@cython.final
cdef class FrameWriter:
    """Builds server frames (unmasked, FIN set), each returned as one bytes object."""

    cdef Deflate _deflate

    def __init__(self, *, deflate=None):
        if deflate is not None and not isinstance(deflate, Deflate):
            raise TypeError(f"deflate must be a Deflate or None, not {type(deflate).__name__}")
        self._deflate = deflate

    def send(self, message):
        """Frame a `websocket.send` message: exactly one of "bytes" / "text" is not None."""
        cdef const char *p
        cdef Py_ssize_t n
        cdef unsigned char first
        cdef bytes data
        text = _w_get(message, _K_TEXT, None)
        raw = _w_get(message, _K_BYTES, None)
        if (text is None) == (raw is None):
            raise _WebSocketMessageError(
                'websocket.send needs exactly one of "bytes" and "text" (not None)')
        if text is not None:
            if not isinstance(text, str):
                raise _WebSocketMessageError(f'"text" must be str, not {type(text).__name__}')
            try:
                p = PyUnicode_AsUTF8AndSize(text, &n)
            except UnicodeEncodeError:
                raise _WebSocketMessageError('"text" is not encodable as UTF-8') from None
            first = 0x80 | WS_TEXT
        else:
            data = _ws_as_bytes(raw, '"bytes"')
            p = PyBytes_AS_STRING(data)
            n = PyBytes_GET_SIZE(data)
            first = 0x80 | WS_BINARY
        if self._deflate is not None and n >= self._deflate.min_size:
            data = self._deflate._compress(PyBytes_FromStringAndSize(p, n))
            return _ws_frame(first | 0x40, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        return _ws_frame(first, p, n)

    def ping(self, payload=b""):
        """A ping frame (payload at most 125 bytes, else WebSocketMessageError)."""
        cdef bytes data = _ws_control_payload(payload, "ping payload")
        return _ws_frame(0x80 | WS_PING, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    def pong(self, payload):
        """A pong frame (payload at most 125 bytes, else WebSocketMessageError)."""
        cdef bytes data = _ws_control_payload(payload, "pong payload")
        return _ws_frame(0x80 | WS_PONG, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    def close(self, code=1000, reason=""):
        """A close frame with `code` (1000-1003, 1007-1014, 3000-4999) and `reason`
        (at most 123 UTF-8 bytes); else WebSocketMessageError."""
        cdef const char *p
        cdef Py_ssize_t n
        cdef char buf[125]
        if type(code) is not int or not _valid_close_code(code if -1 < code < 65536 else 0):
            raise _WebSocketMessageError(f"close code {code!r} may not be sent")
        if not isinstance(reason, str):
            raise _WebSocketMessageError(
                f"close reason must be str, not {type(reason).__name__}")
        try:
            p = PyUnicode_AsUTF8AndSize(reason, &n)
        except UnicodeEncodeError:
            raise _WebSocketMessageError("close reason is not encodable as UTF-8") from None
        if n > 123:
            raise _WebSocketMessageError(f"close reason longer than 123 bytes ({n})")
        buf[0] = <char>(<int>code >> 8)
        buf[1] = <char>(<int>code & 0xFF)
        memcpy(buf + 2, p, <size_t>n)
        return _ws_frame(0x80 | WS_CLOSE, buf, n + 2)
