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
- the write deadline (`timeout_write`, nginx's send_timeout): while the transport is paused
  for writing, the peer must take some of what waits for it every `timeout_write` seconds, or
  the connection is aborted (a graceful close would wait on the same unread buffer) and the
  app's pending `drain()` returns as after any disconnect. A slot of its own in the strategy,
  armed by `pause_writing` and dropped by `resume_writing` (and by `sendfile` while it waits
  for the socket to take more): nothing per request.
- TLS: `secure` (the peer reached us over TLS, directly or, per a PROXY header, through a
  proxy) and `tls` (the ASGI `tls` extension dict, built once per connection, or None);
  every protocol takes its scope's scheme from `sailfish.tls.scheme(self.secure, ...)`.
- files: `sendfile(fd, offset, count)` writes part of a file after everything written before:
  `os.sendfile` on the transport's socket once the transport's buffer is empty (collected
  writes wait meanwhile), or, on TLS or a transport without a usable socket, reads and writes
  in slices under flow control; either way memory stays bounded whatever the file's size.
A subclass extends `connection_made` / `connection_lost` (calling these first) and implements
`data_received`, `on_timeout`, `shutdown`, and `hold_flush` if it wants to keep writes back.
Never imports the server or a protocol; compiled with Cython in pure-Python mode (base.pxd).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import sys
from typing import Any

from sailfish._compat import SENDFILE_UNSUPPORTED
from sailfish.tls import tls_extension

from .deadlines import deadlines_for

try:
    import fcntl
    import termios

    # The kernel's unsent-or-unacknowledged byte count of a TCP socket (Linux; see _unacked).
    _OUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
except ImportError:  # Windows
    _OUTQ = None

__all__ = [
    "FEED_SLICE",
    "HIGH_WATER",
    "LINGER_TIMEOUT",
    "READ_SLICE",
    "SENDFILE_SLICE",
    "Connection",
]

# Collected writes go out past this many bytes (and a protocol pauses reading past it).
HIGH_WATER = 65536
# A protocol hands its parser at most this many received bytes at a time, and keeps the rest
# back while its app is behind: one read (256 KiB on uvloop) of tiny pipelined requests or
# WebSocket frames would otherwise become ten thousand queued objects at once, whatever the
# pipeline or queue limit (bench/floods.py).
FEED_SLICE = 16384
# "a server ... that closes the connection ... while the client might still be sending data
# ... SHOULD ... close the sending half first, then keep reading (and discarding) for a while"
# -- the lingering close of RFC 9112 §9.6, bounded by this many seconds.
LINGER_TIMEOUT = 2.0
# sendfile(): at most this many bytes per os.sendfile call (the loop gets a turn between calls),
# and per read in the read-and-write fallback (what one slice holds in memory).
SENDFILE_SLICE = 1 << 22
READ_SLICE = 1 << 16


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _can_write_eof(transport: Any) -> bool:
    try:
        return bool(transport.can_write_eof())
    except NotImplementedError:
        return False


def _buffered(transport: Any) -> int:
    """Bytes the transport still holds (0 if it cannot say)."""
    try:
        return int(transport.get_write_buffer_size())
    except (AttributeError, NotImplementedError):
        return 0


def _unacked(transport: Any) -> int:
    """Bytes the kernel still holds for the peer (Linux's TIOCOUTQ; 0 where unknown).

    The transport sees the peer read only once the kernel's send buffer has room again, which
    on a large buffer may take much more than the peer took: this shows it sooner.
    """
    if _OUTQ is None:
        return 0
    try:
        sock = transport.get_extra_info("socket")
        if sock is None:
            return 0
        return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0])
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def _linger_zero(transport: Any) -> None:
    """Make closing the transport's socket a reset (SO_LINGER 0): the kernel then drops what
    the peer left unread at once, rather than keep retrying it for a closed socket."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, AttributeError, TypeError, ValueError):
        pass


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _pread(fd: int, size: int, offset: int) -> bytes:
    """`size` bytes of `fd` from `offset`, leaving the file's position where it was."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    # Windows has no pread: seek there and back (the position belongs to the app).
    position = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)
    finally:
        os.lseek(fd, position, os.SEEK_SET)


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
        # Seconds the peer may take nothing while writing is paused; 0: no limit. Set before
        # connection_made (and fold it into watch_interval).
        self.timeout_write = 0.0

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
        self.write_deadline = 0.0  # likewise for on_write_deadline
        # (bytes past the transport's buffer, bytes in the kernel's) when the write deadline was
        # armed or last saw the peer take some
        self.write_mark: tuple[int, int] = (0, 0)
        self.out: list[bytes] = []  # collected writes
        self.out_size = 0
        self.flush_scheduled = False
        self.sending_file = False  # sendfile() owns the socket: collected writes wait
        # Bytes read from and written to the peer (sailfish.metrics adds them up: those of
        # open connections when sampled, into `metrics` when a connection ends).
        self.received = 0
        self.sent = 0
        self.metrics: Any = None  # sailfish.metrics.Metrics with --metrics-bind

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = transport
        self.connections.add(self)
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _address(transport.get_extra_info("sockname"))
        if transport.get_extra_info("sslcontext"):
            self.secure = True
            if self.tls is None:  # an upgrade's protocol was handed the connection's dict
                ssl_object = transport.get_extra_info("ssl_object")
                if ssl_object is not None:
                    self.tls = tls_extension(ssl_object)
        self.deadlines.watch(self, self.watch_interval)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        metrics = self.metrics
        if metrics is not None:
            metrics.received += self.received
            metrics.sent += self.sent
            self.received = self.sent = 0
        self.out.clear()
        self.out_size = 0
        self.connections.discard(self)
        self.disarm()
        if self.timeout_write > 0.0:
            self.write_deadline = 0.0
            self.deadlines.disarm_write(self)
        self.deadlines.unwatch(self)
        waiters = self.drain_waiters
        if waiters:
            self.drain_waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def take_over(self, transport: Any, previous: Connection) -> None:
        """Become `transport`'s protocol in `previous`'s place: an upgrade, once
        `previous.hand_over()` gave the transport up.

        The byte counts and the `tls` extension go on with the transport, and so does its
        write flow state: a transport paused for writing calls `resume_writing` only on the
        protocol it has then, and never `pause_writing` again until it has resumed, so a new
        protocol that did not start paused would neither wait in its sends nor run the write
        deadline until the next pause.
        """
        self.metrics = previous.metrics
        self.received, self.sent = previous.received, previous.sent
        previous.received = previous.sent = 0
        # TLS, or a PROXY header's TLS: the same `tls` extension dict, built once.
        self.secure, self.tls = previous.secure, previous.tls
        transport.set_protocol(self)
        self.connection_made(transport)
        if previous.write_paused and not self.write_paused:
            self.pause_writing()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.timeout_write > 0.0 and self.transport is not None:
            self.write_mark = self._write_progress()
            self.write_deadline = self.deadlines.arm_write(self, self.timeout_write)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.timeout_write > 0.0:
            self.write_deadline = 0.0
            self.deadlines.disarm_write(self)
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
                if self.sending_file:
                    out.append(data)  # after the file (sendfile() flushes when done)
                    self.out_size += len(data)
                    return
                self.sent += len(data)
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
        if out and not self.sending_file:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            self.out_size = 0
            if self.transport is not None and not self.closing:
                self.sent += len(data)
                self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport takes writes again (returns at once if it does)."""
        if self.write_paused and not self.closing:
            waiter = asyncio.get_running_loop().create_future()
            self.drain_waiters.append(waiter)
            await waiter

    # -- files -----------------------------------------------------------------------------

    def file_socket(self) -> Any:
        """The socket `os.sendfile` may write to, or None when there is no usable one.

        None on TLS (the kernel would send the file unencrypted), for a transport without a
        socket or without `get_write_buffer_size`, on a loop without `add_writer`, and where
        the platform has no `os.sendfile`.
        """
        transport = self.transport
        if transport is None or not hasattr(os, "sendfile"):
            return None
        if transport.get_extra_info("sslcontext") is not None:
            return None
        if transport.get_extra_info("ssl_object") is not None:
            return None
        sock = transport.get_extra_info("socket")
        if sock is None or not hasattr(transport, "get_write_buffer_size"):
            return None
        if not hasattr(self.loop, "add_writer"):
            return None
        try:
            if sock.fileno() < 0:
                return None
        except (AttributeError, OSError, ValueError):
            return None
        return sock

    async def sendfile(self, fd: int, offset: int, count: int) -> int:
        """Write `count` bytes of the open file `fd` from `offset`, after all earlier writes.

        Returns the number of bytes written: `count`, or fewer when the file ended early or
        the connection closed (an error on the socket or the file aborts the connection).
        The file's own position is not used or moved.
        """
        self.flush()
        sock = self.file_socket()
        if sock is None:
            return await self._copy_file(fd, offset, count)
        self.sending_file = True
        waiter_fd = -1
        sent = 0
        unsupported = False
        try:
            out_fd = sock.fileno()
            while sent < count and not self.closing:
                if self.transport.get_write_buffer_size():
                    # What the transport still holds must reach the peer before the file.
                    waiter_fd = await self._writable(out_fd, waiter_fd)
                    continue
                want = min(count - sent, SENDFILE_SLICE)
                try:
                    n = os.sendfile(out_fd, fd, offset + sent, want)
                except (BlockingIOError, InterruptedError):
                    waiter_fd = await self._writable(out_fd, waiter_fd)
                    continue
                except OSError as exc:
                    if exc.errno in SENDFILE_UNSUPPORTED:
                        unsupported = True  # this socket or file: read and write instead
                        break
                    self.logger.debug("sendfile stopped: %r", exc)
                    self.abort()
                    break
                if n == 0:
                    break  # the file ended early
                sent += n
                self.sent += n
                if n < want:
                    # The socket buffer is full: wait for room rather than try and fail.
                    waiter_fd = await self._writable(out_fd, waiter_fd)
                elif n == SENDFILE_SLICE:
                    await asyncio.sleep(0)  # the socket takes more: let other work run first
        except NotImplementedError:  # a loop that cannot watch the socket (no add_writer)
            unsupported = True
            waiter_fd = -1  # _writable() closed it
        finally:
            self.sending_file = False
            if waiter_fd >= 0:
                os.close(waiter_fd)
        if self.out:
            self.flush()
        if unsupported:
            return sent + await self._copy_file(fd, offset + sent, count - sent)
        return sent

    async def _writable(self, out_fd: int, waiter_fd: int) -> int:
        """Wait until the socket takes more bytes, or the connection is lost.

        The loop refuses a second watcher on the transport's own descriptor, so the watch is
        on a duplicate of it (made once per sendfile; returned for the next call). A loop
        that cannot watch descriptors raises NotImplementedError, the duplicate closed.
        """
        if waiter_fd < 0:
            waiter_fd = os.dup(out_fd)
        waiter = self.loop.create_future()
        try:
            self.loop.add_writer(waiter_fd, _wake, waiter)
        except NotImplementedError:
            os.close(waiter_fd)
            raise
        self.drain_waiters.append(waiter)  # connection_lost() wakes it too
        # The socket is full: the peer must take some of it within the write deadline.
        timed = self.timeout_write > 0.0 and not self.write_paused
        if timed:
            self.write_mark = self._write_progress()
            self.write_deadline = self.deadlines.arm_write(self, self.timeout_write)
        try:
            await waiter
        finally:
            self.loop.remove_writer(waiter_fd)
            if timed and not self.write_paused:
                self.write_deadline = 0.0
                self.deadlines.disarm_write(self)
        return waiter_fd

    async def _copy_file(self, fd: int, offset: int, count: int) -> int:
        """sendfile() without a socket: read a slice, write it, wait while the transport is
        paused (so a slow reader holds at most its high-water mark and one slice)."""
        sent = 0
        slices = 0
        while sent < count and not self.closing:
            try:
                data = _pread(fd, min(count - sent, READ_SLICE), offset + sent)
            except OSError as exc:
                self.logger.debug("reading a file to send failed: %r", exc)
                self.abort()
                break
            if not data:
                break  # the file ended early
            self.transport.write(data)
            sent += len(data)
            self.sent += len(data)
            slices += 1
            if self.write_paused:
                await self.drain()
            elif slices % 16 == 0:
                await asyncio.sleep(0)  # a transport that never pauses: let other work run
        return sent

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
        """Drop the connection with a reset, after flushing what was written.

        A reset (SO_LINGER 0), not a FIN: a transport's abort() only closes the socket, and
        the FIN of a plain close would make a cut close-delimited body (HTTP/1.0) look whole.
        """
        transport = self.transport
        if transport is not None and not self.closing:
            self.flush()  # what was written goes as far as it gets before the reset
            self.closing = True
            _linger_zero(transport)
            transport.abort()

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

    def _write_progress(self) -> tuple[int, int]:
        """(bytes handed past the transport's buffer, bytes the kernel holds): the first only
        grows and the second only shrinks as the peer takes what was written."""
        transport = self.transport
        return (self.sent - _buffered(transport), _unacked(transport))

    def on_write_deadline(self) -> None:
        """Called by the deadline strategy when the write deadline has passed: re-armed if the
        peer took some bytes since it was armed (what nginx's send_timeout bounds is the time
        between two successful writes), else the connection is aborted."""
        self.write_deadline = 0.0
        transport = self.transport
        if transport is None or self.timeout_write <= 0.0:
            return
        if not self.write_paused and not self.sending_file:
            return
        mark = self.write_mark
        now = self._write_progress()
        if now[0] > mark[0] or now[1] < mark[1]:
            # Bytes moved from the transport to the kernel, or the kernel passed some on.
            self.write_mark = now
            self.write_deadline = self.deadlines.arm_write(self, self.timeout_write)
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a unix socket"
        self.logger.info(
            "Write timeout: %s took nothing for %gs; connection aborted", peer, self.timeout_write
        )
        # Even after close(): a graceful close waits on the very buffer the peer leaves unread.
        self.out.clear()
        self.out_size = 0
        self.closing = True
        _linger_zero(transport)
        transport.abort()  # connection_lost follows: it wakes the drain waiters
