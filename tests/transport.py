"""The one mock transport (and fake clock) of the test suite and bench/bench_shell.py.

Strategy: `MockTransport` is what a protocol sees of a socket, in memory: `write` appends to
`buffer` (asserting the transport is not closed, uvicorn's habit), `close` asserts it was not
closed already and schedules `connection_lost` on the running loop, `abort` marks a reset,
pause/resume record the read state, `write_eof` records the half-close (offered only with
`can_half_close=True`, so an error answer closes at once unless a test asks for lingering).
bench/bench_shell.py subclasses it and counts responses in `write`. `FakeClock` is a clock a
test moves by hand; pass `Ticker(loop, clock=clock)` as a protocol's deadline strategy and call
`ticker.tick()` after `clock.advance(...)`: deadlines fire without any real wait.
"""

from __future__ import annotations

import asyncio
from typing import Any

PEER = ("127.0.0.1", 50000)
SOCKNAME = ("127.0.0.1", 8000)


class MockTransport:
    """An in-memory transport for one protocol (set `protocol` to get connection_lost)."""

    def __init__(
        self,
        peername: Any = PEER,
        sockname: Any = SOCKNAME,
        can_half_close: bool = False,
    ) -> None:
        self.extra = {"peername": peername, "sockname": sockname}
        self.can_half_close = can_half_close
        self.buffer = bytearray()
        self.writes = 0
        self.closed = False
        self.aborted = False
        self.eof_written = False
        self.read_paused = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def write(self, data: Any) -> None:
        assert not self.closed, "write after close"
        assert not self.eof_written, "write after write_eof"
        self.writes += 1
        self.buffer += data

    def can_write_eof(self) -> bool:
        return self.can_half_close

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        assert not self.closed, "closed twice"
        self.closed = True
        if self.protocol is not None:
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        if not self.closed:
            self.close()

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.read_paused = True

    def resume_reading(self) -> None:
        self.read_paused = False

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def take(self) -> bytes:
        """Everything written since the last take()."""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
