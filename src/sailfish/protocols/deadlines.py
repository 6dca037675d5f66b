"""Deadline strategies: how a connection's single deadline is enforced.

Strategy: a connection has at most one deadline at a time (header read, keep-alive idle, or
the end of a lingering close) and asks its strategy to `arm(conn, timeout)` or `disarm(conn)`
it; when it passes, the strategy calls `conn.on_deadline()`. `arm` returns the value the
connection keeps in `conn.deadline` (a clock time for the ticker, 0.0 for timers). A second,
independent slot bounds how long a peer may take nothing while writing is paused:
`arm_write` / `disarm_write`, kept in `conn.write_deadline`, calling `conn.on_write_deadline()`.
Two slots so neither clobbers the other: the one deadline is about what the peer sends (or
how long it idles), the write deadline about what it reads, and both may be due at once. Two
strategies, chosen once per connection by `deadlines_for(loop)`:
- `Ticker`, one per event loop: `arm` only stores `conn.deadline` (a float), and one periodic
  callback checks every watched connection. No timer is created or cancelled per request.
- `Timers`, one per connection: a `call_later` handle per armed deadline, for loops that have
  `call_later` but no `time()` (uvicorn's protocol test loop) and for hosts that want timers.
A test passes a `Ticker` with a clock of its own (`clock=`) and calls `tick()` itself.
Nothing here knows about HTTP; compiled with the shell (deadlines.pxd).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["Deadlines", "Ticker", "Timers", "deadlines_for", "tick_interval"]


def tick_interval(*timeouts: float) -> float:
    """How often a ticker must look for the given timeouts: a quarter of the shortest, within
    [0.05, 1.0] seconds (a deadline fires at most a quarter late)."""
    return max(0.05, min([1.0] + [t / 4 for t in timeouts if t > 0]))


class Deadlines:
    """What a connection asks of its deadline strategy (the base of Ticker and Timers)."""

    def watch(self, conn: Any, interval: float) -> None:
        """Start enforcing `conn`'s deadlines, looking at least every `interval` seconds."""

    def unwatch(self, conn: Any) -> None:
        """Stop enforcing `conn`'s deadlines (it is closed)."""

    def arm(self, conn: Any, timeout: float) -> float:
        """`conn.on_deadline()` about `timeout` seconds from now; 0 or less: no deadline.

        Returns the value for `conn.deadline` (which the connection stores itself).
        """
        return 0.0

    def disarm(self, conn: Any) -> None:
        """No deadline for `conn` until the next `arm` (the connection zeroes `deadline`)."""

    def arm_write(self, conn: Any, timeout: float) -> float:
        """`conn.on_write_deadline()` about `timeout` seconds from now (`timeout` > 0).

        Returns the value for `conn.write_deadline`.
        """
        return 0.0

    def disarm_write(self, conn: Any) -> None:
        """No write deadline for `conn` (the connection zeroes `write_deadline`)."""


class Ticker(Deadlines):
    """One periodic callback that enforces the deadlines of many connections.

    Args:
        loop: Schedules the tick (`call_later`).
        interval: Seconds between ticks; `watch` may shorten it.
        clock: Returns the current time; default `loop.time`. Tests pass their own.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.clock = clock if clock is not None else loop.time
        self.connections: set[Any] = set()
        self.handle: Any = None
        self.on_idle: Callable[[], None] | None = None  # called when the last one leaves

    def watch(self, conn: Any, interval: float) -> None:
        self.connections.add(conn)
        if interval < self.interval:
            self.interval = interval
            if self.handle is not None:
                self.handle.cancel()
                self.handle = None
        if self.handle is None:
            self.handle = self.loop.call_later(self.interval, self.tick)

    def unwatch(self, conn: Any) -> None:
        self.connections.discard(conn)

    def arm(self, conn: Any, timeout: float) -> float:
        # Only the value: the tick compares it with the clock.
        return self.clock() + timeout if timeout > 0 else 0.0

    def disarm(self, conn: Any) -> None:
        pass

    def arm_write(self, conn: Any, timeout: float) -> float:
        return self.clock() + timeout

    def disarm_write(self, conn: Any) -> None:
        pass

    def tick(self) -> None:
        """Fire every passed deadline; reschedule while connections are watched."""
        now = self.clock()
        due = [
            c for c in self.connections if 0.0 < c.deadline <= now or 0.0 < c.write_deadline <= now
        ]
        for conn in due:
            if 0.0 < conn.deadline <= now:
                conn.on_deadline()
            if 0.0 < conn.write_deadline <= now:
                conn.on_write_deadline()
        if self.connections:
            self.handle = self.loop.call_later(self.interval, self.tick)
        else:
            self.handle = None
            if self.on_idle is not None:
                self.on_idle()


class Timers(Deadlines):
    """One `call_later` timer per armed deadline, for one connection.

    Attributes:
        handle: The armed timer, or None (uvicorn's tests read it through the drop-in).
        write_handle: The armed write deadline's timer, or None.
    """

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.handle: Any = None
        self.write_handle: Any = None

    def watch(self, conn: Any, interval: float) -> None:
        pass

    def unwatch(self, conn: Any) -> None:
        self.disarm(conn)
        self.disarm_write(conn)

    def arm(self, conn: Any, timeout: float) -> float:
        self.disarm(conn)
        if timeout > 0:
            self.handle = self.loop.call_later(timeout, self._fire, conn)
        return 0.0  # no value for a ticker to compare: the timer fires by itself

    def disarm(self, conn: Any) -> None:
        handle = self.handle
        if handle is not None:
            self.handle = None
            handle.cancel()

    def _fire(self, conn: Any) -> None:
        self.handle = None
        conn.on_deadline()

    def arm_write(self, conn: Any, timeout: float) -> float:
        self.disarm_write(conn)
        self.write_handle = self.loop.call_later(timeout, self._fire_write, conn)
        return 0.0

    def disarm_write(self, conn: Any) -> None:
        handle = self.write_handle
        if handle is not None:
            self.write_handle = None
            handle.cancel()

    def _fire_write(self, conn: Any) -> None:
        self.write_handle = None
        conn.on_write_deadline()


# One ticker per loop, dropped when its last connection leaves (so a closed loop is not kept).
_tickers: dict[Any, Ticker] = {}


def _forget(loop: Any) -> Callable[[], None]:
    def forget() -> None:
        _tickers.pop(loop, None)

    return forget


def deadlines_for(loop: Any) -> Deadlines:
    """The strategy for a new connection on `loop`: the loop's ticker if it has `time()`, else
    per-connection timers."""
    if not hasattr(loop, "time"):
        return Timers(loop)
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = Ticker(loop)
        ticker.on_idle = _forget(loop)
    return ticker
