# ws/deflate.pxi: permessage-deflate (RFC 7692), the compiled twin of src/sailfish/ws/deflate.py.
# Strategy: `Deflate` drives CPython's zlib objects (made lazily, so an idle connection holds
# none): one Python call per compress or inflate step costs little next to zlib's own work
# (measured: bench/RESULTS.md "WebSocket core"), and it keeps the wheels free of a second zlib.
# `negotiate_deflate` scans the offers with a hand-written C loop over the bytes (the pure twin
# uses regexes) and applies RFC 7692 §7.1's accept/decline rules. Frame rules live in
# frames.pxi; docs/websocket.md "permessage-deflate" is the contract.
import zlib as _zlib

cdef object _zlib_compressobj = _zlib.compressobj
cdef object _zlib_decompressobj = _zlib.decompressobj
cdef object _zlib_error = _zlib.error
cdef object _Z_SYNC_FLUSH = _zlib.Z_SYNC_FLUSH
cdef object _Z_FULL_FLUSH = _zlib.Z_FULL_FLUSH
cdef object _Z_DEFLATED = _zlib.DEFLATED
cdef bytes _DEFLATE_TAIL = b"\x00\x00\xff\xff"
cdef bytes _PMD = b"permessage-deflate"

cdef enum:
    DEFLATE_MIN_SIZE = 64   # shorter messages go uncompressed (see the pure twin)


cdef int _check_bits(str name, object value, int low) except -1:
    if type(value) is not int or not low <= value <= 15:
        raise ValueError(f"{name} must be an int from {low} to 15, not {value!r}")
    return <int>value


@cython.final
cdef class Deflate:
    """The negotiated permessage-deflate of one connection, and its zlib streams."""

    cdef readonly bint server_no_context_takeover
    cdef readonly bint client_no_context_takeover
    cdef readonly int server_max_window_bits
    cdef readonly int client_max_window_bits
    cdef readonly int compress_level
    cdef readonly int mem_level
    cdef readonly Py_ssize_t min_size
    cdef object _compressor
    cdef object _inflater
    cdef bytes _trailer               # bytes seen after a final block (RFC 7692 §7.2.3.4)
    # Held by the call compressing (a FrameWriter's) or inflating (a FrameParser's): the two
    # directions share no state, so the connection's reader and writer may run at once, but
    # two calls in one direction must not (sf_threads.h; ConcurrentUseError).
    cdef int _compressing, _inflating

    def __init__(self, *, server_no_context_takeover=False, client_no_context_takeover=False,
                 server_max_window_bits=15, client_max_window_bits=15, compress_level=-1,
                 mem_level=8, min_size=DEFLATE_MIN_SIZE):
        if not sf_enter(&self._compressing):
            _concurrent_use(self)
        if not sf_enter(&self._inflating):
            sf_leave(&self._compressing)
            _concurrent_use(self)
        try:
            self._init(server_no_context_takeover, client_no_context_takeover,
                       server_max_window_bits, client_max_window_bits, compress_level,
                       mem_level, min_size)
        finally:
            sf_leave(&self._inflating)
            sf_leave(&self._compressing)

    cdef int _init(self, server_no_context_takeover, client_no_context_takeover,
                   server_max_window_bits, client_max_window_bits, compress_level, mem_level,
                   min_size) except -1:
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = _check_bits(
            "server_max_window_bits", server_max_window_bits, 9)
        self.client_max_window_bits = _check_bits(
            "client_max_window_bits", client_max_window_bits, 8)
        if type(compress_level) is not int or not -1 <= compress_level <= 9:
            raise ValueError(f"compress_level must be an int from -1 to 9, not {compress_level!r}")
        if type(mem_level) is not int or not 1 <= mem_level <= 9:
            raise ValueError(f"mem_level must be an int from 1 to 9, not {mem_level!r}")
        if type(min_size) is not int or min_size < 0:
            raise ValueError(f"min_size must be an int >= 0, not {min_size!r}")
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.min_size = min_size
        self._compressor = None
        self._inflater = None
        self._trailer = b""
        return 0

    def __repr__(self):
        return f"<Deflate {self.response().decode('ascii')!r}>"

    def response(self):
        """The Sec-WebSocket-Extensions value that announces these settings."""
        cdef list parts = [_PMD]
        if self.server_no_context_takeover:
            parts.append(b"server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append(b"client_no_context_takeover")
        if self.server_max_window_bits < 15:
            parts.append(b"server_max_window_bits=%d" % self.server_max_window_bits)
        if self.client_max_window_bits < 15:
            parts.append(b"client_max_window_bits=%d" % self.client_max_window_bits)
        return b"; ".join(parts)

    def compress(self, payload):
        """One whole message, compressed, without the 00 00 ff ff tail (RFC 7692 §7.2.1)."""
        return self._compress(bytes(payload))

    cdef bytes _compress(self, bytes payload):
        if not sf_enter(&self._compressing):
            _concurrent_use(self)
        try:
            return self._compress_held(payload)
        finally:
            sf_leave(&self._compressing)

    cdef bytes _compress_held(self, bytes payload):
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = _zlib_compressobj(
                self.compress_level, _Z_DEFLATED, -self.server_max_window_bits, self.mem_level)
        # A full flush also resets the window: server_no_context_takeover.
        cdef bytes data = compressor.compress(payload)
        data += compressor.flush(_Z_FULL_FLUSH if self.server_no_context_takeover
                                 else _Z_SYNC_FLUSH)
        return data[:len(data) - 4]

    def inflate(self, chunk, budget):
        """Inflate the next piece of a compressed message, producing at most budget + 1 bytes.

        Raises ValueError for data that is not a valid DEFLATE stream or goes on past its end.
        """
        return self._inflate(bytes(chunk), budget)

    cdef bytes _inflate(self, bytes chunk, Py_ssize_t budget, bint tailed=False):
        """`tailed`: the chunk ends the message and already carries the 00 00 ff ff tail
        (one zlib call instead of two); the window is then reset as `_end_inflate` does."""
        if not sf_enter(&self._inflating):
            _concurrent_use(self)
        try:
            return self._inflate_held(chunk, budget, tailed)
        finally:
            sf_leave(&self._inflating)

    cdef bytes _inflate_held(self, bytes chunk, Py_ssize_t budget, bint tailed):
        cdef bytes data
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = _zlib_decompressobj(-max(self.client_max_window_bits, 9))
        if inflater.eof:
            self._after_final(chunk, tailed)
            data = b""
        else:
            try:
                data = inflater.decompress(chunk, budget + 1)
            except _zlib_error as exc:
                raise ValueError(str(exc)) from None
            if inflater.eof:
                self._after_final(inflater.unused_data, tailed)
        if tailed:
            self._end_message()
        return data

    cdef int _after_final(self, bytes data, bint tailed) except -1:
        # At most the one 0x00 octet of RFC 7692 §7.2.3.4 may follow a final block (see the
        # pure twin). A tailed chunk that ended before its last 4 bytes leaves our own
        # 00 00 ff ff over, which is not counted (the pure twin never feeds it then); one that
        # ended inside them leaves less than 4 bytes, judged like any other.
        if tailed and PyBytes_GET_SIZE(data) >= 4:
            data = data[:PyBytes_GET_SIZE(data) - 4]
        self._trailer += data
        if self._trailer != b"" and self._trailer != b"\x00":
            raise ValueError("data after the final DEFLATE block")
        return 0

    cdef inline void _end_message(self):
        inflater = self._inflater
        if inflater is not None and (self.client_no_context_takeover or inflater.eof):
            self._inflater = None
            self._trailer = b""

    def end_inflate(self, budget):
        """End a compressed message: inflate the 00 00 ff ff tail, then forget the window
        unless the client keeps its context (or the stream ended with a final block)."""
        return self._end_inflate(budget)

    cdef bytes _end_inflate(self, Py_ssize_t budget):
        cdef bytes data
        if not sf_enter(&self._inflating):
            _concurrent_use(self)
        try:
            inflater = self._inflater
            if inflater is not None and inflater.eof:
                data = b""
            else:
                data = self._inflate_held(_DEFLATE_TAIL, budget, False)
            self._end_message()
            return data
        finally:
            sf_leave(&self._inflating)


# -- negotiation ---------------------------------------------------------------------------


cdef inline bint _pm_tchar(unsigned char c) noexcept:
    return (sf_ctype[c] & SF_C_TCHAR) != 0


cdef inline Py_ssize_t _pm_ows(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and (p[i] == 0x20 or p[i] == 0x09):
        i += 1
    return i


cdef inline Py_ssize_t _pm_token(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and _pm_tchar(p[i]):
        i += 1
    return i


cdef Py_ssize_t _pm_quoted(const unsigned char *p, Py_ssize_t i, Py_ssize_t n,
                           bytearray out) except -2:
    """The end of the quoted-string at p[i] == '"' (unescaped into `out`), or -1."""
    # quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; qdtext = HTAB / SP / %x21 /
    # %x23-5B / %x5D-7E / obs-text; quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
    # -- RFC 9110 §5.6.4
    cdef unsigned char c
    i += 1
    while i < n:
        c = p[i]
        if c == 0x22:
            return i + 1
        if c == 0x5C:
            if i + 1 >= n:
                return -1
            c = p[i + 1]
            if not (c == 0x09 or c >= 0x20) or c == 0x7F:
                return -1
            out.append(c)
            i += 2
            continue
        if not (c == 0x09 or c >= 0x20) or c == 0x7F:
            return -1
        out.append(c)
        i += 1
    return -1


cdef list _pm_parse(bytes offers):
    """[(name, [(param, value or None)])] of an extension-list, or None if malformed."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(offers)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(offers)
    cdef Py_ssize_t i = 0, j, k, save
    cdef list result = []
    cdef list params
    cdef bytearray quoted
    while True:
        while i < n and (p[i] == 0x20 or p[i] == 0x09 or p[i] == 0x2C):
            i += 1
        if i == n:
            return result
        j = _pm_token(p, i, n)
        if j == i:
            return None
        name = PyBytes_FromStringAndSize(<const char *>p + i, j - i)
        params = []
        i = j
        while True:
            # OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ]
            k = _pm_ows(p, i, n)
            if k >= n or p[k] != 0x3B:
                break
            k = _pm_ows(p, k + 1, n)
            j = _pm_token(p, k, n)
            if j == k:
                break
            param = PyBytes_FromStringAndSize(<const char *>p + k, j - k)
            value = None
            save = j
            k = _pm_ows(p, j, n)
            if k < n and p[k] == 0x3D:
                k = _pm_ows(p, k + 1, n)
                if k < n and p[k] == 0x22:
                    quoted = bytearray()
                    j = _pm_quoted(p, k, n, quoted)
                    if j >= 0:
                        value = bytes(quoted)
                        save = j
                else:
                    j = _pm_token(p, k, n)
                    if j > k:
                        value = PyBytes_FromStringAndSize(<const char *>p + k, j - k)
                        save = j
            params.append((param, value))
            i = save
        result.append((name, params))
        i = _pm_ows(p, i, n)
        if i < n and p[i] != 0x2C:
            return None


cdef int _pm_bits(object value) noexcept:
    """A window-bits value "8".."15" without leading zeroes (RFC 7692 §7.1.2), else -1."""
    cdef bytes v = <bytes>value
    cdef Py_ssize_t n = PyBytes_GET_SIZE(v)
    cdef const char *s = PyBytes_AS_STRING(v)
    if n == 1 and (s[0] == b'8' or s[0] == b'9'):
        return s[0] - 48
    if n == 2 and s[0] == b'1' and b'0' <= s[1] <= b'5':
        return 10 + s[1] - 48
    return -1


cdef Deflate _pm_accept(list params, bint server_nct, bint client_nct, int server_bits,
                        int client_bits, int level, int mem_level):
    """The Deflate for one offer, or None to decline it (RFC 7692 §7.1)."""
    cdef dict seen = {}
    cdef int bits
    for name, value in params:
        if name in seen:
            return None                      # duplicate parameter
        seen[name] = value
        if name == b"server_no_context_takeover" or name == b"client_no_context_takeover":
            if value is not None:
                return None                  # these have no value
        elif name == b"server_max_window_bits":
            if value is None or _pm_bits(value) < 0:
                return None
        elif name == b"client_max_window_bits":
            if value is not None and _pm_bits(value) < 0:
                return None
        else:
            return None                      # a parameter not defined for an offer
    offered = seen.get(b"server_max_window_bits")
    if offered is not None:
        server_bits = min(server_bits, _pm_bits(offered))
        if server_bits < 9:
            return None                      # zlib cannot deflate with an 8-bit window
    cdef int agreed_client_bits = 15
    if b"client_max_window_bits" in seen:
        agreed_client_bits = client_bits
        offered = seen[b"client_max_window_bits"]
        if offered is not None:
            agreed_client_bits = min(agreed_client_bits, _pm_bits(offered))
    return Deflate(
        server_no_context_takeover=server_nct or b"server_no_context_takeover" in seen,
        client_no_context_takeover=client_nct or b"client_no_context_takeover" in seen,
        server_max_window_bits=server_bits,
        client_max_window_bits=agreed_client_bits,
        compress_level=level,
        mem_level=mem_level,
    )


def negotiate_deflate(offers, *, enabled=True, server_no_context_takeover=False,
                      client_no_context_takeover=False, server_max_window_bits=15,
                      client_max_window_bits=15, compress_level=-1, mem_level=8):
    """Accept the first permessage-deflate offer we can honour (RFC 7692 §5, §7.1).

    Returns (the response's Sec-WebSocket-Extensions value, the Deflate), or None.
    """
    cdef int server_bits = _check_bits("server_max_window_bits", server_max_window_bits, 9)
    cdef int client_bits = _check_bits("client_max_window_bits", client_max_window_bits, 8)
    if type(compress_level) is not int or not -1 <= compress_level <= 9:
        raise ValueError(f"compress_level must be an int from -1 to 9, not {compress_level!r}")
    if type(mem_level) is not int or not 1 <= mem_level <= 9:
        raise ValueError(f"mem_level must be an int from 1 to 9, not {mem_level!r}")
    if not enabled:
        return None
    cdef list parsed = _pm_parse(bytes(offers))
    cdef Deflate deflate
    if parsed is None:
        return None
    for name, params in parsed:
        if name != _PMD:
            continue
        deflate = _pm_accept(params, bool(server_no_context_takeover),
                             bool(client_no_context_takeover), server_bits, client_bits,
                             compress_level, mem_level)
        if deflate is not None:
            return deflate.response(), deflate
    return None
