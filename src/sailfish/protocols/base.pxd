# base.pxd: augments base.py when Cython compiles it (pure-Python mode). Connection becomes an
# extension type whose attributes are C fields (`self.x` is a struct load, not a dict lookup),
# `public` so Python code (subclasses, tests) reads and writes them as before. Every attribute
# __init__ sets must be declared here. The methods a protocol calls per request are cpdef: a C
# vtable call from compiled code, still callable (and overridable) from Python.

from .deadlines cimport Deadlines


cdef class Connection:
    cdef object __weakref__
    cdef public object loop, logger
    cdef public Deadlines deadlines
    cdef public set connections
    cdef public bint coalesce
    cdef public double watch_interval, timeout_write
    cdef public object transport, client, server
    cdef public bint secure
    cdef public object tls
    cdef public bint closing, lingering, read_paused, write_paused
    cdef public list drain_waiters
    cdef public double deadline, write_deadline
    cdef public tuple write_mark
    cdef public list out
    cdef public Py_ssize_t out_size
    cdef public bint flush_scheduled
    cdef public bint sending_file
    cdef public long long received, sent
    cdef public object metrics

    cpdef write(self, data, bint last=*)
    cpdef bint hold_flush(self, bint last)
    cpdef flush(self)
    cpdef pause_reading(self)
    cpdef resume_reading(self)
    cpdef close(self, bint linger=*)
    cpdef abort(self)
    cpdef arm(self, double timeout)
    cpdef disarm(self)
