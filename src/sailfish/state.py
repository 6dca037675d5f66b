"""State shared by the server and every protocol instance it creates.

Strategy: one `ServerState` per `Server`; the server reads it to drain and shut down, protocols
write to it (add/remove themselves, count requests, track their tasks). It lives in its own
module so protocols never import `server.py` (uvicorn keeps it in server.py, which ties the two
together). The attribute names are uvicorn's, so code written against uvicorn's ServerState
(its protocols, third-party protocols) works unchanged. `SHUTDOWN_CANCEL` is the message the
server cancels request tasks with at a forced shutdown, so a protocol can tell that
cancellation (the server logs one summary line for it) from an app's own error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

SHUTDOWN_CANCEL = "sailfish: server shutdown"
"""The `msg` of `Task.cancel()` for request tasks still running when a shutdown is forced."""


def is_shutdown_cancel(exc: BaseException) -> bool:
    """Whether `exc` is the server cancelling a request task at a forced shutdown.

    A protocol logs nothing for it: the server logs how many requests it cancelled, once.
    The message travels with the CancelledError the task's coroutine sees; an app that catches
    it and raises a new CancelledError keeps it as the new one's `__context__`.

    Args:
        exc: The exception a request's app raised.

    Returns:
        True for a CancelledError carrying `SHUTDOWN_CANCEL` (or caused by one).
    """
    seen: BaseException | None = exc
    while isinstance(seen, asyncio.CancelledError):
        if SHUTDOWN_CANCEL in seen.args:
            return True
        seen = seen.__context__
    return False


class Connection(Protocol):
    """What the server needs from a connection in `ServerState.connections`."""

    def shutdown(self, restart: bool = False) -> None:
        """Begin a graceful close: idle connections close at once, busy ones after the response.

        `restart`: a successor serves in this one's place (only passed when true, so a
        protocol written for uvicorn's `shutdown()` works for every final stop).
        """


@dataclass
class ServerState:
    """Mutable state shared by a server and its protocols.

    Attributes:
        total_requests: Requests started on this server, counted by the protocols.
        connections: Open connections; each protocol adds itself on `connection_made` and
            removes itself on `connection_lost`. The server calls `shutdown()` on each.
        tasks: Running request tasks; the server waits for them to finish on shutdown.
        default_headers: Extra response headers (from `--header`), as (name, value) bytes.
        metrics: The `sailfish.metrics.Metrics` protocols count into, or None (metrics off).
    """

    total_requests: int = 0
    connections: set[Any] = field(default_factory=set)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    default_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    metrics: Any = None


__all__ = ["SHUTDOWN_CANCEL", "Connection", "ServerState", "is_shutdown_cancel"]
