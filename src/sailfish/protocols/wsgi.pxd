# wsgi.pxd: augments wsgi.py when Cython compiles it (pure-Python mode). WSGICycle extends the
# compiled RequestCycle; every attribute __init__ sets must be declared here.

from .http1 cimport RequestCycle


cdef class WSGIRunner:
    cdef public object app, pool, logger
    cdef public dict base
    cdef public list stalled, batch


cdef class WSGICycle(RequestCycle):
    cdef public WSGIRunner runner
    cdef public Py_ssize_t queued, told
    cdef public bint raw, by_sendfile
    cdef public object input, call
