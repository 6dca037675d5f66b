# protocol.pxd: augments protocol.py when Cython compiles it (pure-Python mode). Both classes
# become extension types whose attributes are C fields: `self.x` is a struct load, not a dict
# lookup. Every attribute __init__ sets must be declared here, `public` so that Python code
# (subclasses, tests) reads and writes them as before. Subclasses written in Python (the
# uvicorn drop-in) get a __dict__ of their own for the attributes they add.

cdef class HTTPProtocol


cdef class RequestCycle:
    cdef public HTTPProtocol proto
    cdef public object request
    cdef public dict scope
    cdef public object body
    cdef public bint body_done, expect_continue, continue_sent, empty_body_sent, disconnected
    cdef public bint response_started, response_complete, started, finished
    cdef public object waiter, task
    cdef public int status
    cdef public Py_ssize_t size
    cdef public double start_time


cdef class HTTPProtocol:
    cdef object __weakref__
    cdef public object config, loop, server_state
    cdef public set connections, tasks
    cdef public dict app_state
    cdef public object app, direct_app
    cdef public str root_path
    cdef public object limits, limit_concurrency
    cdef public double timeout_keep_alive, timeout_header_read
    cdef public bint access_log
    cdef public object trusted_proxies
    cdef public object transport, parser, writer, client, server
    cdef public RequestCycle cycle, receiving, deferred
    cdef public object pipeline, pending_error
    cdef public Py_ssize_t buffered_body
    cdef public bint read_paused, write_paused
    cdef public list drain_waiters
    cdef public bint closing, lingering, shutting_down, eof
    cdef public double deadline
    cdef public bint reading_head, proxy_trusted
    cdef public list out
    cdef public Py_ssize_t out_size
    cdef public bint flush_scheduled
    cdef public bint direct_tasks
