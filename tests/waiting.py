"""Bounded waits for tests that watch a server in another thread or process.

Strategy: a test never sleeps "long enough" for something to have happened; it polls the
condition it means, with a bound, and fails saying what it waited for. `wait_for` raises an
AssertionError on timeout (and returns True, so `assert wait_for(...)` reads well too);
`poll_until` returns False instead, for callers that clean up before they fail;
`until` is `wait_for` for a test running on the loop it watches. A plain
module, not conftest.py, for the reason given in twins.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

TIMEOUT = 5.0
INTERVAL = 0.005


def poll_until(
    predicate: Callable[[], object], timeout: float = TIMEOUT, interval: float = INTERVAL
) -> bool:
    """Poll `predicate()` until it is true (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def wait_for(
    predicate: Callable[[], object],
    timeout: float = TIMEOUT,
    what: str | None = None,
    interval: float = INTERVAL,
) -> bool:
    """Poll `predicate()` until it is true; fail the test if it is not within `timeout`.

    Args:
        predicate: The condition, polled from this thread.
        timeout: Seconds before giving up.
        what: Says what was awaited, for the failure message.
        interval: Seconds between polls.

    Returns:
        True.

    Raises:
        AssertionError: the predicate stayed false for `timeout` seconds.
    """
    if not poll_until(predicate, timeout, interval):
        awaited = what or getattr(predicate, "__qualname__", repr(predicate))
        raise AssertionError(f"timed out after {timeout:g}s waiting for {awaited}")
    return True


async def until(
    predicate: Callable[[], object],
    timeout: float = TIMEOUT,
    what: str | None = None,
    interval: float = 0.001,
) -> bool:
    """`wait_for` on the running loop: poll `predicate()`, yielding to the loop in between.

    Raises:
        AssertionError: the predicate stayed false for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            awaited = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:g}s waiting for {awaited}")
        await asyncio.sleep(interval)
    return True
