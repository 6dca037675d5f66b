# cython: language_level=3
# The compiled core, sailfish._http: one module assembled from .pxi fragments, in order.
# No logic lives here. The contract is docs/core.md; the stub is src/sailfish/_http.pyi.
include "errors.pxi"
include "headers.pxi"
include "parser.pxi"
include "scope.pxi"
include "writer.pxi"
include "wsgi/environ.pxi"
