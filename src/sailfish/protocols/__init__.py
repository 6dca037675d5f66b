"""The protocol layer: a connection base and the protocols built on it, compiled or not.

Strategy: `base.Connection` owns one transport (writes, flow control, close, deadlines);
`http1.HTTPProtocol` speaks HTTP/1.1 over it (`wsgi` runs its WSGI requests on threads);
`websocket.WebSocketProtocol` speaks WebSocket over it once http1 hands an upgrade over; HTTP/2
will sit beside them. The same sources are also compiled (setup.py builds copies of base,
deadlines, http1, websocket and wsgi into the package `sailfish._shell`, with their .pxd
types). This module picks one set, the way sailfish.http picks the core's twin: the compiled
one unless SAILFISH_NO_EXTENSIONS=1 or it cannot be imported (SAILFISH_REQUIRE_EXTENSIONS=1
turns that into an ImportError). Import the classes from here, never from the submodules, so
compiled and pure classes are not mixed.
`COMPILED` says which set runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sailfish._compat import NO_EXTENSIONS, REQUIRE_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from sailfish.protocols import base, deadlines, http1, websocket, wsgi

    COMPILED = False
else:
    try:
        from sailfish._shell import (  # type: ignore[no-redef]
            base,
            deadlines,
            http1,
            websocket,
            wsgi,
        )
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        from sailfish.protocols import base, deadlines, http1, websocket, wsgi

        COMPILED = False
    else:
        COMPILED = True

Connection = base.Connection
FEED_SLICE = base.FEED_SLICE
HIGH_WATER = base.HIGH_WATER
LINGER_TIMEOUT = base.LINGER_TIMEOUT
Ticker = deadlines.Ticker
Timers = deadlines.Timers
deadlines_for = deadlines.deadlines_for
ClientDisconnected = http1.ClientDisconnected
HTTPProtocol = http1.HTTPProtocol
MAX_PIPELINE = http1.MAX_PIPELINE
SHUTDOWN_IDLE = http1.SHUTDOWN_IDLE
Quirks = http1.Quirks
RequestCycle = http1.RequestCycle
service_unavailable = http1.service_unavailable
WebSocketProtocol = websocket.WebSocketProtocol
websocket_upgrade_handler = websocket.upgrade_handler
WSGICycle = wsgi.WSGICycle
WSGIRunner = wsgi.WSGIRunner

__all__ = [
    "COMPILED",
    "FEED_SLICE",
    "HIGH_WATER",
    "LINGER_TIMEOUT",
    "MAX_PIPELINE",
    "SHUTDOWN_IDLE",
    "ClientDisconnected",
    "Connection",
    "HTTPProtocol",
    "Quirks",
    "RequestCycle",
    "Ticker",
    "Timers",
    "WebSocketProtocol",
    "WSGICycle",
    "WSGIRunner",
    "deadlines_for",
    "service_unavailable",
    "websocket_upgrade_handler",
]
