# websocket.pxd: augments websocket.py when Cython compiles it (pure-Python mode). The protocol
# becomes an extension type extending the compiled Connection, with typed, `public` attributes
# (uvicorn's tests and sailfish.uvicorn read some). Methods stay `def`. Every attribute
# __init__ sets must be declared here.

from .base cimport Connection


cdef class WebSocketProtocol(Connection):
    cdef public set tasks
    cdef public object app
    cdef public dict app_state
    cdef public object writer
    cdef public list headers
    cdef public str asgi_version
    cdef public object log_handshake
    cdef public bint close_frame_on_exit, raw
    cdef public str root_path
    cdef public Py_ssize_t max_size, max_queue
    cdef public double ping_interval, ping_timeout
    cdef public bint per_message_deflate
    cdef public double close_timeout
    cdef public int state
    cdef public object http_parser, handshake
    cdef public dict scope
    cdef public object parser, frames
    cdef public bytearray pending
    cdef public object queue, waiter
    cdef public bytes backlog
    cdef public dict disconnect
    cdef public object task
    cdef public int timer
    cdef public bytes ping_payload
    cdef public double ping_sent_at
    cdef public bint peer_closed, empty_denial
