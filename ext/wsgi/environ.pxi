# wsgi/environ.pxi: the PEP 3333 environ of one request, from the scope the core built.
# Strategy: the twin of src/sailfish/wsgi/environ.py (same rules, docs/wsgi.md); the request's
# own keys go into a copy of the server's constant `base`. Header names map to environ keys
# through a bounded cache (well-known names are interned bytes, so their hash is cached and a
# lookup is all a repeated name costs; entries are only ever added, never replaced); a new name
# is upper-cased and '-'->'_' in one pass over its bytes. PATH_INFO is percent-decoded with the
# parser's own sf_pct_decode, then read as latin-1: one byte, one code point. A root_path's
# trailing "/" is dropped (SCRIPT_NAME + PATH_INFO is the path). On a unix socket (no port)
# SERVER_NAME and SERVER_PORT come from the Host field. Nothing is parsed here.
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memchr, memcpy

cdef dict _ENVIRON_KEYS = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
cdef str _HTTP_COOKIE = "HTTP_COOKIE"
cdef str _SEP = ", "
cdef str _COOKIE_SEP = "; "
cdef str _HTTP_PREFIX = "HTTP/"
cdef str _LATIN1_EMPTY = ""

cdef enum:
    ENVIRON_MAX_KEYS = 512


cdef str _environ_key(bytes name):
    """The environ key of a header name ("" when the name has a '_': dropped)."""
    cdef object cached = _ENVIRON_KEYS.get(name)
    if cached is not None:
        return <str>cached
    cdef const char *p = name
    cdef Py_ssize_t n = len(name)
    cdef Py_ssize_t i
    cdef char c
    cdef char *buf
    cdef str key
    if n and memchr(p, b'_', <size_t>n) != NULL:
        key = _LATIN1_EMPTY
    else:
        buf = <char *>PyMem_Malloc(<size_t>(n + 5))
        if buf == NULL:
            raise MemoryError()
        try:
            memcpy(buf, b"HTTP_", 5)
            for i in range(n):
                c = p[i]
                if c == b'-':
                    c = b'_'
                elif b'a' <= c <= b'z':
                    c = <char>(c - 32)
                buf[5 + i] = c
            key = PyUnicode_DecodeLatin1(buf, n + 5, NULL)
        finally:
            PyMem_Free(buf)
    if len(_ENVIRON_KEYS) < ENVIRON_MAX_KEYS:
        # setdefault, not a store: a value in the cache is never replaced (and so never freed
        # while another thread holds it, borrowed from .get() above, without the GIL).
        key = _ENVIRON_KEYS.setdefault(name, key)
    return key


cdef inline bint _under_root(bytes path, bytes root):
    """`path` starts with `root` at a segment boundary (root itself, or root + "/...")."""
    cdef Py_ssize_t r = len(root)
    if r == 0 or len(path) < r or memcmp(<const char *>path, <const char *>root, r) != 0:
        return False
    return len(path) == r or (<const char *>path)[r] == b'/'


cdef str _path_info(bytes raw, Py_ssize_t start):
    """raw[start:] percent-decoded, as latin-1."""
    cdef const char *p = <const char *>raw + start
    cdef Py_ssize_t n = len(raw) - start
    cdef char stack[PATH_STACK]
    cdef char *tmp
    cdef Py_ssize_t m
    if not sf_has_pct(p, <size_t>n):
        return PyUnicode_DecodeLatin1(p, n, NULL)
    if n <= PATH_STACK:
        m = <Py_ssize_t>sf_pct_decode(stack, p, <size_t>n)
        return PyUnicode_DecodeLatin1(stack, m, NULL)
    tmp = <char *>PyMem_Malloc(<size_t>n)
    if tmp == NULL:
        raise MemoryError()
    try:
        m = <Py_ssize_t>sf_pct_decode(tmp, p, <size_t>n)
        return PyUnicode_DecodeLatin1(tmp, m, NULL)
    finally:
        PyMem_Free(tmp)


def build_environ(dict scope not None, dict base not None):
    """The WSGI environ of an ASGI HTTP scope (see sailfish.wsgi.environ.build_environ)."""
    cdef dict environ = PyDict_Copy(base)
    cdef bytes root
    cdef bytes raw
    cdef bytes path
    cdef str key
    cdef str text
    cdef object value
    environ["REQUEST_METHOD"] = scope["method"]
    root = (<str>scope.get("root_path", "")).encode("utf-8")
    if len(root) and (<const char *>root)[len(root) - 1] == b'/':
        root = root.rstrip(b"/")  # SCRIPT_NAME + PATH_INFO is the path: no "/" twice
    value = scope.get("raw_path")
    if value is None:
        path = (<str>scope["path"]).encode("utf-8")
        if _under_root(path, root):
            path = path[len(root):]
        environ["PATH_INFO"] = PyUnicode_DecodeLatin1(<const char *>path, len(path), NULL)
    else:
        raw = value if type(value) is bytes else bytes(value)
        environ["PATH_INFO"] = _path_info(raw, len(root) if _under_root(raw, root) else 0)
    environ["SCRIPT_NAME"] = PyUnicode_DecodeLatin1(<const char *>root, len(root), NULL)
    value = scope.get("query_string", b"")
    raw = value if type(value) is bytes else bytes(value)
    environ["QUERY_STRING"] = PyUnicode_DecodeLatin1(<const char *>raw, len(raw), NULL)
    environ["SERVER_PROTOCOL"] = _HTTP_PREFIX + <str>scope.get("http_version", "1.1")
    scheme = scope.get("scheme") or "http"
    server = scope.get("server")
    if server is not None and server[1] is not None:
        text = str(server[0])
        # server-name = hostname | ipv4-address | ( "[" ipv6-address "]" ) -- RFC 3875 §4.1.14
        environ["SERVER_NAME"] = "[" + text + "]" if ":" in text else text
        environ["SERVER_PORT"] = str(server[1])
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    environ["wsgi.url_scheme"] = scheme
    for name, value in scope["headers"]:
        key = _environ_key(name if type(name) is bytes else bytes(name))
        if not key:
            continue
        raw = value if type(value) is bytes else bytes(value)
        text = PyUnicode_DecodeLatin1(<const char *>raw, len(raw), NULL)
        if key in environ:
            text = <str>environ[key] + (_COOKIE_SEP if key == _HTTP_COOKIE else _SEP) + text
        environ[key] = text
    if server is None or server[1] is None:
        # A unix socket has no port: the Host field names the server, as for gunicorn.
        environ["SERVER_NAME"], environ["SERVER_PORT"] = _host_server(
            environ.get("HTTP_HOST", ""), scheme
        )
    return environ


cdef tuple _host_server(str host, str scheme):
    """SERVER_NAME and SERVER_PORT from a Host field value ("" when there was none)."""
    cdef Py_ssize_t end
    cdef str name
    cdef str port
    if host.startswith("["):  # an IPv6 literal: "[::1]:8000"
        end = host.find("]") + 1
        if end:
            name, port = host[:end], host[end + 1:]
        else:
            name, port = host, ""
    else:
        name, _, port = host.partition(":")
    return (name or "localhost"), (port or ("443" if scheme == "https" else "80"))
