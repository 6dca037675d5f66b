"""sailfish: an ASGI server whose HTTP/1.1 core is compiled with Cython.

The public API is exactly `__all__`; the server parts are imported on first use, so
`import sailfish` (and the core in `sailfish.http`) stays cheap for library users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from sailfish.config import Config
    from sailfish.server import Server, run

__all__ = ["Config", "Server", "__version__", "run"]


def __getattr__(name: str) -> Any:
    if name == "Config":
        from sailfish.config import Config

        return Config
    if name in ("Server", "run"):
        import sailfish.server

        return getattr(sailfish.server, name)
    raise AttributeError(f"module 'sailfish' has no attribute {name!r}")
