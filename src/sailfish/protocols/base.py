"""Connection: what every protocol needs from one transport, whatever it speaks.

Strategy: this class owns the transport and nothing about HTTP. It gives the protocols built on
it (http1 today; websocket and http2 next) one way to do each connection-level thing:
- write: `write(data, last)` collects bytes and hands them to the transport once per loop
  iteration (at once past HIGH_WATER, or when `last` ends a response with nothing after it);
  `flush()` sends what was collected now; `drain()` waits while the transport is paused.
- read flow control: `pause_reading()` / `resume_reading()`, idempotent.
- close: `close()`, `close(linger=True)` (RFC 9112 §9.6's lingering close: shut our sending
  half, read and drop until the peer's EOF or LINGER_TIMEOUT), `abort()` (a reset, so no peer
  trusts a short body).
- deadlines: `arm(timeout)` / `disarm()` through one strategy object (sailfish.protocols.
  deadlines), chosen once per connection; `on_timeout()` is called when one passes.
- TLS: `secure` (the peer reached us over TLS, directly or, per a PROXY header, through a
  proxy) and `tls` (the ASGI `tls` extension dict, built once per connection, or None);
  every protocol takes its scope's scheme from `sailfish.tls.scheme(self.secure, ...)`.
A subclass extends `connection_made` / `connection_lost` (calling these first) and implements
`data_received`, `on_timeout`, `shutdown`, and `hold_flush` if it wants to keep writes back.
Never imports the server or a protocol; compiled with Cython in pure-Python mode (base.pxd).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sailfish.tls import tls_extension

from .deadlines import deadlines_for

__all__ = ["HIGH_WATER", "LINGER_TIMEOUT", "Connection"]

# Collected writes go out past this many bytes (and a protocol pauses reading past it).
HIGH_WATER = 65536
# "a server ... that closes the connection ... while the client might still be sending data
# ... SHOULD ... close the sending half first, then keep reading (and discarding) for a while"
# -- the lingering close of RFC 9112 §9.6, bounded by this many seconds.
LINGER_TIMEOUT = 2.0


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _can_write_eof(transport: Any) -> bool:
    try:
        return bool(transport.can_write_eof())
    except NotImplementedError:
        return False


class Connection:
    """One transport: writes, flow control, close and deadlines.

    Args:
        loop: The event loop callbacks are scheduled on. With `call_soon`, writes made in one
            loop iteration are coalesced into one; without it (a loop that only has
            `create_task` and `call_later`) each write goes out at once.
        connections: The server's set of open connections; this one is in it while open.
        deadlines: The deadline strategy; default `deadlines_for(loop)`.
        logger: Where connection-level problems are logged.
    """

    def __init__(
        self,
        loop: Any,
        connections: set[Any],
        deadlines: Any = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.loop = loop
        self.connections = connections
        self.deadlines = deadlines if deadlines is not None else deadlines_for(loop)
        self.logger = logger if logger is not None else logging.getLogger("sailfish.error")
        self.coalesce = hasattr(loop, "call_soon")
        self.watch_interval = 1.0  # how often the strategy must look; set before connection_made

        # Per-connection state
        self.transport: Any = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.secure = False  # TLS to us, or to the proxy a PROXY header speaks for
        self.tls: dict[str, Any] | None = None  # the ASGI tls extension of a TLS connection
        self.closing = False  # close() or abort() was called, or the transport is gone
        self.lingering = False  # half-closed: reading and dropping until EOF or the deadline
        self.read_paused = False
        self.write_paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        self.deadline = 0.0  # for the ticker: clock time at which on_deadline fires; 0: none
        self.out: list[bytes] = []  # collected writes
        self.out_size = 0
        self.flush_scheduled = False

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = transport
        self.connections.add(self)
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _address(transport.get_extra_info("sockname"))
        if transport.get_extra_info("sslcontext"):
            self.secure = True
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                self.tls = tls_extension(ssl_object)
        self.deadlines.watch(self, self.watch_interval)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.out.clear()
        self.out_size = 0
        self.connections.discard(self)
        self.disarm()
        self.deadlines.unwatch(self)
        waiters = self.drain_waiters
        if waiters:
            self.drain_waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters = self.drain_waiters
        if waiters:
            self.drain_waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # -- writes ----------------------------------------------------------------------------

    def write(self, data: bytes, last: bool = False) -> None:
        """Queue bytes for the peer; they go out by the end of this loop iteration.

        `last`: the bytes end a message. Unless `hold_flush()` says more may join them, they
        go out at once: nothing else would come before the loop turn.
        """
        out = self.out
        if not self.coalesce or (last and not out and not self.hold_flush(True)):
            # The usual small response: one write, nothing collected before it.
            if data and self.transport is not None and not self.closing:
                self.transport.write(data)
            return
        if data:
            out.append(data)
            self.out_size += len(data)
        if self.out_size >= HIGH_WATER or (last and not self.hold_flush(True)):
            self.flush()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush_soon)

    def hold_flush(self, last: bool) -> bool:
        """Subclass: whether to keep collected bytes back because more are about to join them
        (pipelining). `last`: asked as a message ends; else by the scheduled flush."""
        return False

    def _flush_soon(self) -> None:
        self.flush_scheduled = False
        if self.hold_flush(False) and not self.closing:
            # The bytes that may join the write are produced before this callback comes round.
            self.flush_scheduled = True
            self.loop.call_soon(self._flush_soon)
            return
        self.flush()

    def flush(self) -> None:
        """Hand every collected write to the transport, as one write."""
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self.out_size = 0
            if self.transport is not None and not self.closing:
                self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport takes writes again (returns at once if it does)."""
        if self.write_paused and not self.closing:
            waiter = asyncio.get_running_loop().create_future()
            self.drain_waiters.append(waiter)
            await waiter

    # -- reads -----------------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.closing:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.closing:
            self.read_paused = False
            self.transport.resume_reading()

    # -- close -----------------------------------------------------------------------------

    def close(self, linger: bool = False) -> None:
        """Close after what was written; with `linger`, the lingering close of RFC 9112 §9.6.

        Closing a socket that still has unread bytes makes the kernel send a reset, which can
        destroy the response before the peer reads it. So when the peer may still be sending,
        close only our sending half, keep reading and dropping, and close on its EOF or after
        LINGER_TIMEOUT.
        """
        transport = self.transport
        if transport is None or self.closing:
            return
        self.flush()
        self.closing = True
        if linger and _can_write_eof(transport):
            try:
                transport.write_eof()
            except (OSError, RuntimeError):
                transport.close()
                return
            self.lingering = True
            if self.read_paused:
                self.read_paused = False
                transport.resume_reading()
            self.arm(LINGER_TIMEOUT)
            return
        transport.close()

    def abort(self) -> None:
        """Drop the connection with a reset, after flushing what was written."""
        if self.transport is not None and not self.closing:
            self.flush()  # what was written goes as far as it gets before the reset
            self.closing = True
            self.transport.abort()

    # -- deadlines -------------------------------------------------------------------------

    def arm(self, timeout: float) -> None:
        """`on_timeout()` after `timeout` seconds (replacing any armed deadline); 0: none."""
        self.deadline = self.deadlines.arm(self, timeout)

    def disarm(self) -> None:
        self.deadline = 0.0
        self.deadlines.disarm(self)

    def on_deadline(self) -> None:
        """Called by the deadline strategy when the armed deadline has passed."""
        self.deadline = 0.0
        if self.lingering:
            self.lingering = False
            if self.transport is not None:
                self.transport.close()
            return
        self.on_timeout()

    def on_timeout(self) -> None:
        """Subclass: the armed deadline passed (not a lingering close's; that is handled)."""
        self.close()
