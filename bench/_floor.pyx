# cython: language_level=3, boundscheck=False, wraparound=False
# The object-creation floor of an S2 parse: build (and drop) exactly the Python objects a
# parsed 15-field head must produce -- 15 value bytes, 15 tuples, the headers list, the scope
# (a template copy, as sailfish does), its asgi dict, path/raw_path/query objects, a Request-like
# holder and the events list -- from fixed spans, with no parsing or validation at all. No
# parser that returns this object model can beat it; bench_core.py reports it beside the parsers.
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Copy
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeASCII


cdef class Holder:
    cdef public object scope
    cdef public bint keep_alive, expect_continue, has_body
    cdef public object upgrade


cdef dict TEMPLATE = {
    "type": "http", "asgi": None, "http_version": "1.1", "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET", "root_path": "",
    "path": None, "raw_path": None, "query_string": None, "headers": None,
}
cdef list NAMES = [b"header-%d" % i for i in range(15)]
cdef Py_ssize_t OFFSETS[15]
cdef Py_ssize_t LENGTHS[15]


def set_spans(list spans):
    """spans: 15 (offset, length) pairs of header values inside the raw request."""
    for i, (off, n) in enumerate(spans):
        OFFSETS[i] = off
        LENGTHS[i] = n


def build(bytes raw):
    cdef const char *p = PyBytes_AS_STRING(raw)
    cdef list headers = PyList_New(15)
    cdef Py_ssize_t i
    cdef object item
    for i in range(15):
        item = (NAMES[i], PyBytes_FromStringAndSize(p + OFFSETS[i], LENGTHS[i]))
        Py_INCREF(item)
        PyList_SET_ITEM(headers, i, item)
    cdef dict scope = PyDict_Copy(TEMPLATE)
    scope["asgi"] = {"version": "3.0", "spec_version": "2.4"}
    scope["path"] = PyUnicode_DecodeASCII(p + 4, 1, NULL)
    scope["raw_path"] = PyBytes_FromStringAndSize(p + 4, 1)
    scope["query_string"] = PyBytes_FromStringAndSize(p + 6, 20)
    scope["headers"] = headers
    cdef Holder h = Holder.__new__(Holder)
    h.scope = scope
    h.upgrade = None
    return [h]
