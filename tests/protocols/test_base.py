"""The connection base and the deadline strategies, without HTTP.

A bare `Connection` over the suite's MockTransport: coalesced writes, flow control, drain,
lingering close and abort; deadlines through a `Ticker` on a FakeClock and through `Timers` on
a loop that has only `call_later` (as uvicorn's test loop). Runs once per twin of the shell.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sailfish.protocols import HIGH_WATER, LINGER_TIMEOUT, Connection, Ticker, Timers, deadlines_for
from transport import FakeClock, MockTransport
from waiting import until


class Probe(Connection):
    """A Connection that records its timeouts."""

    def __init__(self, loop: Any, deadlines: Any = None) -> None:
        super().__init__(loop, set(), deadlines)
        self.timeouts = 0
        self.timed_out = asyncio.Event()

    def on_timeout(self) -> None:
        self.timeouts += 1
        self.timed_out.set()


def run(coro: Any) -> None:
    asyncio.run(coro)


async def made(deadlines: Any = None, **transport: Any) -> tuple[Probe, MockTransport]:
    conn = Probe(asyncio.get_running_loop(), deadlines)
    sock = MockTransport(**transport)
    sock.protocol = conn
    conn.connection_made(sock)
    return conn, sock


async def turn() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


# -- writes ---------------------------------------------------------------------------------------


def test_writes_in_one_loop_iteration_go_out_as_one() -> None:
    async def main() -> None:
        conn, sock = await made()
        conn.write(b"a")
        conn.write(b"b")
        conn.write(b"c")
        assert sock.writes == 0
        await turn()
        assert (sock.writes, sock.take()) == (1, b"abc")

    run(main())


def test_last_write_with_nothing_collected_goes_out_at_once() -> None:
    async def main() -> None:
        conn, sock = await made()
        conn.write(b"whole response", True)
        assert (sock.writes, sock.take()) == (1, b"whole response")
        conn.write(b"head")
        conn.write(b"tail", True)  # ends what was collected: flushed together, now
        assert (sock.writes, sock.take()) == (2, b"headtail")

    run(main())


def test_collected_writes_past_high_water_go_out_at_once() -> None:
    async def main() -> None:
        conn, sock = await made()
        conn.write(b"x" * (HIGH_WATER - 1))
        assert sock.writes == 0
        conn.write(b"y")
        assert sock.writes == 1 and len(sock.take()) == HIGH_WATER

    run(main())


def test_a_loop_without_call_soon_gets_every_write_at_once() -> None:
    class TimerLoop:
        def call_later(self, delay: float, callback: Any, *args: Any) -> Any:
            return asyncio.get_running_loop().call_later(delay, callback, *args)

    async def main() -> None:
        conn = Probe(TimerLoop())
        assert isinstance(conn.deadlines, Timers)
        sock = MockTransport()
        conn.connection_made(sock)
        conn.write(b"a")
        conn.write(b"b")
        assert (sock.writes, sock.take()) == (2, b"ab")

    run(main())


def test_drain_waits_while_paused_and_connection_lost_releases_it() -> None:
    async def main() -> None:
        conn, sock = await made()
        assert await asyncio.wait_for(conn.drain(), 1) is None  # not paused: at once
        conn.pause_writing()
        first = asyncio.ensure_future(conn.drain())
        await turn()
        assert not first.done()
        conn.resume_writing()
        await asyncio.wait_for(first, 1)
        conn.pause_writing()
        second = asyncio.ensure_future(conn.drain())
        await turn()
        conn.connection_lost(None)
        await asyncio.wait_for(second, 1)

    run(main())


def test_reading_pauses_and_resumes_once() -> None:
    async def main() -> None:
        conn, sock = await made()
        conn.pause_reading()
        conn.pause_reading()
        assert sock.read_paused and conn.read_paused
        conn.resume_reading()
        assert not sock.read_paused and not conn.read_paused

    run(main())


# -- close ----------------------------------------------------------------------------------------


def test_close_flushes_then_closes_and_leaves_the_set() -> None:
    async def main() -> None:
        conn, sock = await made()
        assert conn in conn.connections
        conn.write(b"bye")
        conn.close()
        assert sock.take() == b"bye" and sock.closed
        conn.write(b"late")  # after close: dropped, never written to a closed transport
        await turn()
        assert conn not in conn.connections

    run(main())


def test_lingering_close_half_closes_then_closes_at_its_deadline() -> None:
    async def main() -> None:
        clock = FakeClock()
        ticker = Ticker(asyncio.get_running_loop(), interval=3600, clock=clock)
        conn, sock = await made(ticker, can_half_close=True)
        conn.close(linger=True)
        assert sock.eof_written and not sock.closed and conn.lingering
        clock.advance(LINGER_TIMEOUT - 0.1)
        ticker.tick()
        assert not sock.closed
        clock.advance(0.2)
        ticker.tick()
        assert sock.closed and conn.timeouts == 0  # the linger's own deadline, not a timeout

    run(main())


def test_lingering_close_without_half_close_closes_at_once() -> None:
    async def main() -> None:
        conn, sock = await made(can_half_close=False)
        conn.close(linger=True)
        assert sock.closed and not conn.lingering

    run(main())


def test_abort_flushes_what_was_written_then_resets() -> None:
    async def main() -> None:
        conn, sock = await made()
        conn.write(b"partial")
        conn.abort()
        assert sock.take() == b"partial" and sock.aborted

    run(main())


# -- deadlines ------------------------------------------------------------------------------------


def test_ticker_fires_only_passed_deadlines() -> None:
    async def main() -> None:
        clock = FakeClock()
        ticker = Ticker(asyncio.get_running_loop(), interval=3600, clock=clock)
        early, _ = await made(ticker)
        late, _ = await made(ticker)
        idle, _ = await made(ticker)
        early.arm(1.0)
        late.arm(5.0)
        idle.arm(0)  # 0: no deadline
        assert (early.deadline, idle.deadline) == (clock.now + 1.0, 0.0)
        clock.advance(2.0)
        ticker.tick()
        assert (early.timeouts, late.timeouts, idle.timeouts) == (1, 0, 0)
        assert early.deadline == 0.0  # fired once, not again
        ticker.tick()
        assert early.timeouts == 1
        late.disarm()
        clock.advance(10.0)
        ticker.tick()
        assert late.timeouts == 0

    run(main())


def test_ticker_forgets_closed_connections_and_stops_when_idle() -> None:
    async def main() -> None:
        clock = FakeClock()
        ticker = Ticker(asyncio.get_running_loop(), interval=3600, clock=clock)
        idled: list[bool] = []
        ticker.on_idle = lambda: idled.append(True)
        conn, sock = await made(ticker)
        conn.arm(1.0)
        conn.close()
        await turn()  # connection_lost
        assert conn not in ticker.connections
        clock.advance(5)
        ticker.tick()
        assert conn.timeouts == 0 and idled == [True] and ticker.handle is None

    run(main())


def test_ticker_interval_shrinks_to_the_shortest_watch() -> None:
    async def main() -> None:
        ticker = Ticker(asyncio.get_running_loop(), interval=1.0)
        conn = Probe(asyncio.get_running_loop(), ticker)
        conn.watch_interval = 0.25
        conn.connection_made(MockTransport())
        assert ticker.interval == 0.25 and ticker.handle is not None
        conn.connection_lost(None)
        ticker.handle.cancel()

    run(main())


def test_timers_arm_one_call_later_and_cancel_it() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        timers = Timers(loop)
        conn, _ = await made(timers)
        conn.arm(0.01)
        first = timers.handle
        assert first is not None and conn.deadline == 0.0
        conn.arm(0.01)  # re-arming replaces the timer
        assert first.cancelled() and timers.handle is not first
        conn.disarm()
        assert timers.handle is None
        conn.arm(0.001)
        await asyncio.wait_for(conn.timed_out.wait(), 1)  # the real timer fires
        assert conn.timeouts == 1 and timers.handle is None

    run(main())


@pytest.mark.parametrize("with_time", [True, False], ids=["loop_with_time", "timer_only_loop"])
def test_deadlines_for_picks_the_loops_ticker_or_timers(with_time: bool) -> None:
    async def main() -> None:
        real = asyncio.get_running_loop()

        class TimerLoop:
            def call_later(self, delay: float, callback: Any, *args: Any) -> Any:
                return real.call_later(delay, callback, *args)

        loop: Any = real if with_time else TimerLoop()
        first, second = deadlines_for(loop), deadlines_for(loop)
        if with_time:
            assert isinstance(first, Ticker) and first is second
        else:
            assert isinstance(first, Timers) and first is not second

    run(main())


# -- the write deadline ---------------------------------------------------------------------------


async def paused(timeout: float = 2.0) -> tuple[Probe, MockTransport, Ticker, FakeClock, list[int]]:
    """A connection with a write deadline whose transport holds `held[0]` bytes, paused."""
    clock = FakeClock()
    ticker = Ticker(asyncio.get_running_loop(), interval=3600, clock=clock)
    conn = Probe(asyncio.get_running_loop(), ticker)
    conn.timeout_write = timeout
    sock = MockTransport()
    sock.protocol = conn
    held = [HIGH_WATER]
    sock.get_write_buffer_size = lambda: held[0]  # type: ignore[attr-defined]
    conn.connection_made(sock)
    conn.write(b"x" * HIGH_WATER)  # past the high-water mark: out at once
    conn.pause_writing()
    return conn, sock, ticker, clock, held


def test_a_peer_that_takes_nothing_is_aborted_at_the_write_deadline() -> None:
    async def main() -> None:
        conn, sock, ticker, clock, _ = await paused(2.0)
        drained = asyncio.ensure_future(conn.drain())
        await turn()
        assert not drained.done() and conn.write_deadline == clock.now + 2.0
        clock.advance(1.9)
        ticker.tick()
        assert not sock.aborted  # not before the deadline
        clock.advance(0.2)
        ticker.tick()
        assert sock.aborted and conn.closing and conn.timeouts == 0
        await turn()  # connection_lost wakes the app waiting to write
        assert drained.done() and not conn.drain_waiters and conn not in conn.connections

    run(main())


def test_a_peer_that_takes_some_in_each_period_is_not_aborted() -> None:
    async def main() -> None:
        conn, sock, ticker, clock, held = await paused(2.0)
        for _ in range(5):
            held[0] -= 1000  # the peer took a little: the deadline starts over
            clock.advance(2.1)
            ticker.tick()
            assert not sock.aborted and conn.write_deadline == clock.now + 2.0
        clock.advance(2.1)  # then nothing for a whole period
        ticker.tick()
        assert sock.aborted

    run(main())


def test_the_write_deadline_leaves_the_other_deadline_alone() -> None:
    async def main() -> None:
        conn, sock, ticker, clock, _ = await paused(5.0)
        conn.arm(1.0)  # e.g. keep-alive, armed while writing is paused
        conn.disarm()  # a request came: no clobbering of the write deadline either
        conn.arm(1.0)
        assert conn.write_deadline == clock.now + 5.0
        clock.advance(1.5)
        ticker.tick()
        assert conn.timeouts == 1 and not sock.aborted  # the other one fired on its own
        conn.resume_writing()  # the peer read: no write deadline, the other one as it was
        assert conn.write_deadline == 0.0
        conn.arm(1.0)
        clock.advance(10.0)
        ticker.tick()
        assert conn.timeouts == 2 and not sock.aborted

    run(main())


def test_no_write_deadline_when_it_is_off() -> None:
    async def main() -> None:
        conn, sock, ticker, clock, _ = await paused(0.0)
        assert conn.write_deadline == 0.0
        clock.advance(3600)
        ticker.tick()
        assert not sock.aborted

    run(main())


def test_timers_keep_the_write_deadline_on_a_timer_of_its_own() -> None:
    async def main() -> None:
        timers = Timers(asyncio.get_running_loop())
        conn, sock = await made(timers)
        conn.timeout_write = 0.01
        conn.arm(3600)
        conn.pause_writing()
        keep = timers.handle
        assert timers.write_handle is not None and keep is not None
        conn.resume_writing()
        assert timers.write_handle is None and timers.handle is keep and not keep.cancelled()
        conn.pause_writing()
        await until(lambda: sock.aborted, 2, "the write timer")  # the real timer fires
        assert timers.write_handle is None and conn.timeouts == 0
        await turn()
        assert timers.handle is None  # connection_lost cancelled the other one

    run(main())
