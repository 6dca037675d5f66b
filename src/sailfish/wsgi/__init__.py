"""WSGI (PEP 3333) on sailfish: the environ twins, the thread-pool runner, WSGIMiddleware.

Strategy: `build_environ` is part of the core and has two twins, picked the way sailfish.http
picks its own: the compiled one in `sailfish._http` (ext/wsgi/environ.pxi) unless
SAILFISH_NO_EXTENSIONS=1 or it cannot be imported (SAILFISH_REQUIRE_EXTENSIONS=1 makes that an
ImportError), else the pure-Python `sailfish.wsgi.environ`. `WSGIMiddleware` mounts a WSGI app
inside any ASGI app or server; `sailfish --interface wsgi` serves one directly
(sailfish.protocols.wsgi), both over the same worker-thread machinery (runner.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sailfish._compat import NO_EXTENSIONS, REQUIRE_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from sailfish.wsgi.environ import build_environ
else:
    try:
        from sailfish._http import build_environ
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        from sailfish.wsgi.environ import build_environ

from sailfish.wsgi.middleware import WSGIMiddleware  # noqa: E402
from sailfish.wsgi.runner import FileWrapper  # noqa: E402

__all__ = ["FileWrapper", "WSGIMiddleware", "build_environ"]
