# http1.pxd: augments http1.py when Cython compiles it (pure-Python mode). The three classes
# become extension types with typed, `public` attributes; HTTPProtocol extends the compiled
# Connection. Methods stay `def`. Every attribute __init__ sets must be declared here.

from .base cimport Connection


cdef class Quirks:
    cdef public str spec_version
    cdef public bint continue_on_first_receive, start_before_validation
    cdef public bint drop_content_length_with_te
    cdef public object log_start
    cdef public bint close_on_late_error, close_on_return_value, silent_disconnect
    cdef public bint drain_unread_body, abort_closes, lingering_close, count_own_connection
    cdef public bint eager_tasks, fresh_context
    cdef public object unavailable_app
    cdef public bint headers_from_state
    cdef public double shutdown_idle


cdef class HTTPProtocol


cdef class RequestCycle:
    cdef public HTTPProtocol conn
    cdef public object request
    cdef public dict scope
    cdef public bint access_log
    cdef public object body
    cdef public bint body_done, expect_continue, continue_sent, empty_body_sent
    cdef public bint disconnected, peer_done, response_started, response_complete
    cdef public bint told_disconnect
    cdef public object waiter, task
    cdef public bint started, finished, abandoned
    cdef public object app_error
    cdef public int status
    cdef public Py_ssize_t size
    cdef public double start_time

    cpdef _end_response(self, data)


cdef class HTTPProtocol(Connection):
    cdef public object config, server_state
    cdef public set tasks
    cdef public dict app_state
    cdef public Quirks quirks
    cdef public dict upgrades
    cdef public bint direct_tasks, eager
    cdef public object app, direct_app
    cdef public str asgi_version, root_path
    cdef public object limits, limit_concurrency
    cdef public double timeout_keep_alive, timeout_header_read
    cdef public bint access_log
    cdef public object access_format
    cdef public object trusted_proxies, headers_seen, proxy_peers, wsgi
    cdef public object parser, writer
    cdef public RequestCycle cycle, receiving, deferred
    cdef public object pipeline, pending_error
    cdef public bytes backlog
    cdef public bint held
    cdef public Py_ssize_t buffered_body
    cdef public bint shutting_down, eof, reading_head, proxy_trusted
    cdef public object proxy_buffer, proxy_preset
    cdef public dict extensions, extensions10
    cdef public bint upgrading
    cdef public bytearray upgrade_buffer
    cdef public object idle_callback
    cdef public dict last_scope

    cpdef bint hold_flush(self, bint last)
    cdef _take(self, object data, bint eager)
    cdef bint _parse(self, object data) except -1
    cdef _start(self, RequestCycle cycle, bint eager)
    cpdef body_queued(self, Py_ssize_t size)
    cpdef body_taken(self, Py_ssize_t size)
    cpdef send_continue(self)
    cpdef task_done(self, RequestCycle cycle)
    cpdef current_writer(self)
    cpdef bint response_keep_alive(self, RequestCycle cycle)
    cpdef response_complete(self, RequestCycle cycle)
    cpdef error_response(self, int status)
    cpdef abort_response(self)
