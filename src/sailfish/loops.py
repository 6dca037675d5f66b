"""Event-loop factory: which loop runs the server.

Strategy: `loop_factory(name)` returns a zero-argument callable that makes a new event loop.
"auto" prefers uvloop and falls back to asyncio silently; "uvloop" insists on it and says how
to install it; "asyncio" is the stdlib loop; any "module:attr" names a custom factory. Nothing
is imported until a factory is asked for, and nothing here installs a global policy: the
server creates and owns its loop.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

from sailfish.errors import ConfigError
from sailfish.importer import import_from_string

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

LOOP_CHOICES = ("auto", "uvloop", "asyncio")


def _uvloop_factory() -> LoopFactory | None:
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_factory(name: str) -> LoopFactory:
    """The factory for the event loop called `name`.

    Args:
        name: "auto" (uvloop when importable, else asyncio), "uvloop", "asyncio", or
            "module:attr" naming a callable that returns a new event loop.

    Returns:
        A callable returning a new, not yet running, event loop.

    Raises:
        ConfigError: uvloop was asked for but is not installed, or the name is unknown.
    """
    if name == "asyncio":
        return asyncio.new_event_loop
    if name in ("auto", "uvloop"):
        factory = _uvloop_factory()
        if factory is not None:
            return factory
        if name == "uvloop":
            raise ConfigError("--loop uvloop: uvloop is not installed; pip install uvloop")
        return asyncio.new_event_loop
    if ":" in name:
        custom = import_from_string(name)
        if not callable(custom):
            raise ConfigError(f'--loop "{name}" is not callable')
        custom_factory: LoopFactory = custom
        return custom_factory
    raise ConfigError(
        f'--loop must be one of {", ".join(LOOP_CHOICES)} or "module:attr", not "{name}"'
    )


__all__ = ["LOOP_CHOICES", "LoopFactory", "loop_factory"]
