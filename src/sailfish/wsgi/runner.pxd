# runner.pxd: augments runner.py when Cython compiles it (pure-Python mode) into
# sailfish._shell.runner. Call, made and run once per request, and _Crew, the pool's counts
# read per job, become extension types with typed, `public` attributes; the other classes stay
# Python classes (with compiled bodies). Call's internal steps are C methods. Every attribute
# the __init__ of a class here sets must be declared.


cdef class _Crew:
    cdef public object queue
    cdef public list threads
    cdef public object lock
    cdef public Py_ssize_t idle, waiting


cdef class Call:
    cdef public object app, environ, loop, deliver, logger
    cdef public bint head, sendfile
    cdef public object outbox
    cdef public bint scheduled
    cdef public object message
    cdef public bint headers_sent, ended
    cdef public object length
    cdef public Py_ssize_t count, file_sent
    cdef public bint counted
    cdef public Py_ssize_t sent, acked
    cdef public bint gone
    cdef public object writable

    cdef object _send_file(self, object wrapper)
    cdef object _failed(self, BaseException exc)
    cdef object _chunk(self, object chunk)
    cdef object _head(self)
    cdef object _send(self, object chunk)
    cdef object _wait_writable(self)
    cdef object _send_all(self, object chunks)
    cdef object _end(self)
    cdef object _check_length(self)
    cdef object _push(self, object item)
