"""The sans-IO HTTP/1.1 core, as whichever twin is active.

Strategy: the compiled twin (`sailfish._http`, built from ext/) is used unless
SAILFISH_NO_EXTENSIONS=1, or it cannot be imported; SAILFISH_REQUIRE_EXTENSIONS=1 turns
that fall-back into an ImportError (wheels and CI set it). The pure-Python twin lives in
this package (parser.py, writer.py) and follows the same contract (docs/core.md).
`IMPLEMENTATION` says which twin is active: "compiled" or "pure".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sailfish._compat import NO_EXTENSIONS, REQUIRE_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from sailfish.http.parser import Request, RequestParser
    from sailfish.http.writer import ResponseWriter

    IMPLEMENTATION = "pure"
else:
    try:
        from sailfish._http import Request, RequestParser, ResponseWriter
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        from sailfish.http.parser import Request, RequestParser
        from sailfish.http.writer import ResponseWriter

        IMPLEMENTATION = "pure"
    else:
        IMPLEMENTATION = "compiled"

__all__ = ["IMPLEMENTATION", "Request", "RequestParser", "ResponseWriter"]
