# cython: language_level=3
# The compiled core, sailfish._http: one module assembled from .pxi fragments, in order.
# No logic lives here. The contracts are docs/core.md (HTTP/1.1) and docs/websocket.md
# (ext/ws/); the stub is src/sailfish/_http.pyi.
include "errors.pxi"
include "headers.pxi"
include "parser.pxi"
include "scope.pxi"
include "writer.pxi"
include "ws/deflate.pxi"
include "ws/frames.pxi"
include "ws/handshake.pxi"
