"""The sans-IO WebSocket core (RFC 6455, RFC 7692), as whichever twin is active.

Strategy: exactly as `sailfish.http` picks its twin: the compiled names from `sailfish._http`
unless SAILFISH_NO_EXTENSIONS=1, or they cannot be imported; SAILFISH_REQUIRE_EXTENSIONS=1
turns that fall-back into an ImportError. The pure-Python twin lives in this package
(frames.py, deflate.py, handshake.py) and follows the same contract (docs/websocket.md).
`IMPLEMENTATION` says which twin is active: "compiled" or "pure". Import from here only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sailfish._compat import NO_EXTENSIONS, REQUIRE_EXTENSIONS
from sailfish.errors import HandshakeError, WebSocketError, WebSocketMessageError

if TYPE_CHECKING or NO_EXTENSIONS:
    from sailfish.ws.deflate import Deflate, negotiate_deflate
    from sailfish.ws.frames import Close, FrameParser, FrameWriter, Ping, Pong
    from sailfish.ws.handshake import Handshake, accept_response, check_handshake

    IMPLEMENTATION = "pure"
else:
    try:
        from sailfish._http import (
            Close,
            Deflate,
            FrameParser,
            FrameWriter,
            Handshake,
            Ping,
            Pong,
            accept_response,
            check_handshake,
            negotiate_deflate,
        )
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        from sailfish.ws.deflate import Deflate, negotiate_deflate
        from sailfish.ws.frames import Close, FrameParser, FrameWriter, Ping, Pong
        from sailfish.ws.handshake import Handshake, accept_response, check_handshake

        IMPLEMENTATION = "pure"
    else:
        IMPLEMENTATION = "compiled"

__all__ = [
    "IMPLEMENTATION",
    "Close",
    "Deflate",
    "FrameParser",
    "FrameWriter",
    "Handshake",
    "HandshakeError",
    "Ping",
    "Pong",
    "WebSocketError",
    "WebSocketMessageError",
    "accept_response",
    "check_handshake",
    "negotiate_deflate",
]
