"""sailfish: an ASGI server whose HTTP/1.1 core is compiled with Cython."""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
