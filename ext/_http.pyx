# cython: language_level=3, freethreading_compatible=True
# The compiled core, sailfish._http: one module assembled from .pxi fragments, in order.
# No logic lives here. The contracts are docs/core.md (HTTP/1.1) and docs/websocket.md
# (ext/ws/); the stub is src/sailfish/_http.pyi. freethreading_compatible: the module runs
# without the GIL (free-threaded CPython does not turn it back on at import); how is
# ext/include/sf_threads.h and docs/core.md "Threads".
include "errors.pxi"
include "headers.pxi"
include "parser.pxi"
include "scope.pxi"
include "writer.pxi"
include "ws/deflate.pxi"
include "ws/frames.pxi"
include "ws/handshake.pxi"
include "wsgi/environ.pxi"
