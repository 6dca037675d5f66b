# scope.pxi: the ASGI dicts, built from C spans once a head is complete.
# Strategy: every constant (keys, "http", the method names, "1.1"/"1.0", "/", b"") is a
# module-level object made once; per request we make exactly the objects the contract asks
# for (a new scope, asgi dict and headers list; method, path, raw_path, query_string). The
# path is percent-decoded exactly as urllib.parse.unquote(p, errors="replace") does for an
# ASCII target: %XX to bytes, then UTF-8 with U+FFFD for invalid sequences. A target with no
# '%' (it is VCHAR, so ASCII) becomes a str straight from its bytes. No parsing happens here.
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Copy
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.string cimport memcmp


cdef str _V11 = "1.1"
cdef str _V10 = "1.0"
cdef str _SLASH = "/"
cdef bytes _SLASH_B = b"/"
cdef bytes _EMPTY_B = b""
cdef dict _ASGI = {"version": "3.0", "spec_version": "2.5"}   # copied, never handed out

# Common methods as ready str objects: a known method costs an INCREF.
cdef str _M_GET = "GET"
cdef str _M_POST = "POST"
cdef str _M_PUT = "PUT"
cdef str _M_HEAD = "HEAD"
cdef str _M_PATCH = "PATCH"
cdef str _M_DELETE = "DELETE"
cdef str _M_OPTIONS = "OPTIONS"
cdef str _M_CONNECT = "CONNECT"
cdef str _M_TRACE = "TRACE"

cdef enum:
    PATH_STACK = 512


cdef inline str _method_str(const char *p, Py_ssize_t n):
    """The method token (ASCII, case-sensitive) as str; shared objects for common ones."""
    if n == 3:
        if memcmp(p, b"GET", 3) == 0:
            return _M_GET
        if memcmp(p, b"PUT", 3) == 0:
            return _M_PUT
    elif n == 4:
        if memcmp(p, b"POST", 4) == 0:
            return _M_POST
        if memcmp(p, b"HEAD", 4) == 0:
            return _M_HEAD
    elif n == 5:
        if memcmp(p, b"PATCH", 5) == 0:
            return _M_PATCH
        if memcmp(p, b"TRACE", 5) == 0:
            return _M_TRACE
    elif n == 6:
        if memcmp(p, b"DELETE", 6) == 0:
            return _M_DELETE
    elif n == 7:
        if memcmp(p, b"OPTIONS", 7) == 0:
            return _M_OPTIONS
        if memcmp(p, b"CONNECT", 7) == 0:
            return _M_CONNECT
    return PyUnicode_DecodeASCII(p, n, NULL)


cdef str _decode_path(const char *p, Py_ssize_t n):
    """urllib.parse.unquote(p[:n].decode("ascii"), errors="replace"), for VCHAR bytes."""
    cdef char stack[PATH_STACK]
    cdef char *tmp
    cdef Py_ssize_t m
    if not sf_has_pct(p, <size_t>n):
        return PyUnicode_DecodeASCII(p, n, NULL)
    if n <= PATH_STACK:
        m = <Py_ssize_t>sf_pct_decode(stack, p, <size_t>n)
        return PyUnicode_DecodeUTF8(stack, m, "replace")
    tmp = <char *>PyMem_Malloc(<size_t>n)
    if tmp == NULL:
        raise MemoryError()
    try:
        m = <Py_ssize_t>sf_pct_decode(tmp, p, <size_t>n)
        return PyUnicode_DecodeUTF8(tmp, m, "replace")
    finally:
        PyMem_Free(tmp)


cdef dict _make_scope(RequestParser parser, const char *d, list headers):
    """The ASGI HTTP scope of the complete head at d (docs/core.md "The scope")."""
    cdef const char *path = d + parser._path_off
    cdef Py_ssize_t path_len = parser._path_len
    cdef str path_str
    cdef bytes raw_path
    cdef bytes query
    if parser._form == FORM_AUTHORITY:
        # CONNECT: "path = the authority as str, raw_path = its bytes, no query".
        path_str = PyUnicode_DecodeASCII(path, path_len, NULL)
        raw_path = PyBytes_FromStringAndSize(path, path_len)
    elif path_len == 0:
        # absolute-form with an empty path ("http://host" or "http://host?q")
        path_str = _SLASH
        raw_path = _SLASH_B
    else:
        path_str = _decode_path(path, path_len)
        raw_path = PyBytes_FromStringAndSize(path, path_len)
    if parser._root_path_bytes:
        # "raw_path ... prefixed by root_path.encode(). path: root_path + the path"
        path_str = parser._root_path + path_str
        raw_path = parser._root_path_bytes + raw_path
    if parser._query_len < 0:
        query = _EMPTY_B
    else:
        query = PyBytes_FromStringAndSize(d + parser._query_off, parser._query_len)
    # A copy of the parser's template (constant entries already in place, keys in contract
    # order) then replacing values is cheaper than inserting twelve keys into a new dict;
    # entries whose template value is already right ("1.1", "GET", b"") are left alone.
    # The asgi dict is a copy of a constant one too (cheaper than building it).
    cdef str method = _method_str(d, parser._method_len)
    cdef dict scope = PyDict_Copy(parser._scope_template)
    scope["asgi"] = PyDict_Copy(_ASGI)
    if not parser._http11:
        scope["http_version"] = _V10
    if method is not _M_GET:
        scope["method"] = method
    scope["path"] = path_str
    scope["raw_path"] = raw_path
    if query is not _EMPTY_B:
        scope["query_string"] = query
    scope["headers"] = headers
    return scope


cdef dict _scope_template(object client, object server, str scheme, str root_path):
    """The entries every scope of one parser shares; _make_scope copies it."""
    return {
        "type": "http",
        "asgi": None,
        "http_version": _V11,
        "server": server,
        "client": client,
        "scheme": scheme,
        "method": _M_GET,
        "root_path": root_path,
        "path": None,
        "raw_path": None,
        "query_string": _EMPTY_B,
        "headers": None,
    }


cdef inline dict _body_message(bytes body, bint more_body):
    """One http.request message."""
    return {"type": "http.request", "body": body, "more_body": more_body}
