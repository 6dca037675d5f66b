# ws/handshake.pxi: the compiled twin of src/sailfish/ws/handshake.py (check_handshake,
# Handshake, accept_response).
# Strategy: one pass over the head's header list (names are already lower-cased bytes, the
# known ones shared objects) collects the six fields RFC 6455 §4.2.1 names; the tokens are
# matched with a C loop, the key checked as 22 base64 characters and "==" (exactly what
# decodes to 16 bytes), and the websocket scope is a new dict made from the HTTP scope's
# values. SHA-1 and base64 run once per connection, through hashlib/binascii. The 101 head's
# extra fields are validated by the HTTP writer's own `_w_fields` (writer.pxi).
import binascii as _binascii
import hashlib as _hashlib

from sailfish.errors import HandshakeError as _HandshakeError, ResponseError as _ResponseError

cdef object _sha1 = _hashlib.sha1
cdef object _b2a_base64 = _binascii.b2a_base64
cdef bytes _WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
cdef dict _WS_ASGI = {"version": "3.0", "spec_version": "2.5"}   # copied, never handed out
cdef str _WS_HTTP11 = "1.1"
cdef bytes _H_UPGRADE = b"upgrade"
cdef bytes _H_CONNECTION = b"connection"
cdef bytes _H_WS_KEY = b"sec-websocket-key"
cdef bytes _H_WS_VERSION = b"sec-websocket-version"
cdef bytes _H_WS_PROTOCOL = b"sec-websocket-protocol"
cdef bytes _H_WS_EXTENSIONS = b"sec-websocket-extensions"
cdef bytes _ACCEPT_HEAD = (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                           b"connection: Upgrade\r\nsec-websocket-accept: ")


cdef inline bint _hs_ows(unsigned char c) noexcept:
    return c == 0x20 or c == 0x09


cdef bint _hs_has_token(list values, const char *token, Py_ssize_t tn) noexcept:
    """Some comma-separated element of `values` equals `token` (lower case), ignoring case."""
    cdef const unsigned char *p
    cdef const unsigned char *end
    cdef const unsigned char *s
    cdef const unsigned char *e
    cdef Py_ssize_t i
    for value in values:
        p = <const unsigned char *>PyBytes_AS_STRING(value)
        end = p + PyBytes_GET_SIZE(value)
        while True:
            s = p
            while p < end and p[0] != 0x2C:
                p += 1
            e = p
            while s < e and _hs_ows(s[0]):
                s += 1
            while e > s and _hs_ows((e - 1)[0]):
                e -= 1
            if e - s == tn:
                i = 0
                while i < tn and sf_lower[s[i]] == <unsigned char>token[i]:
                    i += 1
                if i == tn:
                    return True
            if p >= end:
                break
            p += 1
    return False


cdef bytes _hs_strip(bytes value):
    cdef const char *p = PyBytes_AS_STRING(value)
    cdef Py_ssize_t s = 0, e = PyBytes_GET_SIZE(value)
    while s < e and _hs_ows(p[s]):
        s += 1
    while e > s and _hs_ows(p[e - 1]):
        e -= 1
    if s == 0 and e == PyBytes_GET_SIZE(value):
        return value
    return PyBytes_FromStringAndSize(p + s, e - s)


cdef bint _hs_key_ok(bytes key) noexcept:
    """base64 that decodes to exactly 16 bytes: 22 alphabet characters, then "=="."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(key)
    cdef Py_ssize_t i
    cdef unsigned char c
    if PyBytes_GET_SIZE(key) != 24 or p[22] != 0x3D or p[23] != 0x3D:
        return False
    for i in range(22):
        c = p[i]
        if not ((0x41 <= c <= 0x5A) or (0x61 <= c <= 0x7A) or (0x30 <= c <= 0x39)
                or c == 0x2B or c == 0x2F):
            return False
    return True


cdef list _hs_subprotocols(list values):
    cdef list out = []
    cdef const char *p
    cdef Py_ssize_t n, i, s, e
    for value in values:
        p = PyBytes_AS_STRING(value)
        n = PyBytes_GET_SIZE(value)
        i = 0
        while i <= n:
            s = i
            while i < n and p[i] != b',':
                i += 1
            e = i
            while s < e and _hs_ows(p[s]):
                s += 1
            while e > s and _hs_ows(p[e - 1]):
                e -= 1
            if e > s:
                out.append(p[s:e].decode("latin-1"))
            i += 1
    return out


@cython.final
cdef class Handshake:
    """A valid opening handshake: the websocket scope, the accept key and the offers."""

    cdef readonly dict scope
    cdef readonly bytes accept
    cdef readonly object extensions

    def __init__(self, dict scope not None, bytes accept not None, extensions):
        self.scope = scope
        self.accept = accept
        self.extensions = extensions

    def __eq__(self, other):
        if not isinstance(other, Handshake):
            return NotImplemented
        cdef Handshake o = <Handshake>other
        return (self.scope == o.scope and self.accept == o.accept
                and self.extensions == o.extensions)

    __hash__ = None

    def __repr__(self):
        return f"<Handshake {self.scope['raw_path']!r} accept={self.accept!r}>"


def check_handshake(request, *, scheme_secure=False):
    """Judge an Upgrade request as a WebSocket opening handshake (RFC 6455 §4.2.1).

    Returns a Handshake, or a HandshakeError (400, or 426 with Sec-WebSocket-Version: 13).
    """
    cdef dict http = request.scope
    cdef list upgrade = [], connection = [], keys = [], versions = []
    cdef list protocols = [], extensions = []
    cdef bytes key
    if http["method"] != "GET":
        return _HandshakeError(400, "WebSocket handshake with a method other than GET", [])
    if http["http_version"] != _WS_HTTP11:
        return _HandshakeError(400, "WebSocket handshake over HTTP/1.0", [])
    if request.has_body:  # after the 101, the bytes after the head are read as frames
        return _HandshakeError(400, "WebSocket handshake with a request body", [])
    # The values are read as C strings below: `<bytes?>` checks they are bytes.
    for name, value in http["headers"]:
        if name == _H_UPGRADE:
            upgrade.append(<bytes?>value)
        elif name == _H_CONNECTION:
            connection.append(<bytes?>value)
        elif name == _H_WS_KEY:
            keys.append(<bytes?>value)
        elif name == _H_WS_VERSION:
            versions.append(<bytes?>value)
        elif name == _H_WS_PROTOCOL:
            protocols.append(<bytes?>value)
        elif name == _H_WS_EXTENSIONS:
            extensions.append(<bytes?>value)
    if not _hs_has_token(upgrade, b"websocket", 9):
        return _HandshakeError(400, "WebSocket handshake without Upgrade: websocket", [])
    if not _hs_has_token(connection, b"upgrade", 7):
        return _HandshakeError(400, "WebSocket handshake without Connection: upgrade", [])
    if not keys:
        return _HandshakeError(400, "Missing Sec-WebSocket-Key header", [])
    if len(keys) > 1:
        return _HandshakeError(400, "More than one Sec-WebSocket-Key header", [])
    key = _hs_strip(<bytes>keys[0])
    if not _hs_key_ok(key):
        return _HandshakeError(400, "invalid Sec-WebSocket-Key", [])
    if len(versions) != 1 or _hs_strip(<bytes>versions[0]) != b"13":
        return _HandshakeError(426, "unsupported Sec-WebSocket-Version",
                               [(b"sec-websocket-version", b"13")])
    cdef dict scope = {
        "type": "websocket",
        "asgi": _WS_ASGI.copy(),
        "http_version": _WS_HTTP11,
        "scheme": "wss" if scheme_secure or http["scheme"] == "https" else "ws",
        "server": http["server"],
        "client": http["client"],
        "root_path": http["root_path"],
        "path": http["path"],
        "raw_path": http["raw_path"],
        "query_string": http["query_string"],
        "headers": http["headers"],
        "subprotocols": _hs_subprotocols(protocols),
    }
    accept = _b2a_base64(_sha1(key + _WS_GUID).digest(), newline=False)
    return Handshake(scope, accept, b", ".join(extensions) if extensions else None)


def accept_response(Handshake handshake not None, *, subprotocol=None, extensions=None,
                    headers=()):
    """The whole `101 Switching Protocols` head that accepts `handshake` (RFC 6455 §4.2.2).

    Raises ResponseError for a subprotocol the client did not offer or an invalid header.
    """
    cdef list out = [_ACCEPT_HEAD, handshake.accept, b"\r\n"]
    if subprotocol is not None:
        if not isinstance(subprotocol, str) or subprotocol not in handshake.scope["subprotocols"]:
            raise _ResponseError(f"subprotocol {subprotocol!r} was not offered by the client")
        out.append(b"sec-websocket-protocol: " + (<str>subprotocol).encode("latin-1") + b"\r\n")
    if extensions is not None:
        fields = _w_fields([(_H_WS_EXTENSIONS, extensions)], "websocket.accept")
        out.append(b"sec-websocket-extensions: " + fields[0][1] + b"\r\n")
    for name, value in _w_fields(headers, "websocket.accept headers"):
        out.append(name + b": " + value + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)
