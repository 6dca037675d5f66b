"""Our own accept loop, for what `loop.create_server` cannot do.

Strategy: `Acceptor` accepts from a listening socket on the loop and hands each connection to
`loop.connect_accepted_socket`. Two things need it: worker processes sharing one socket, which
gate their accepts to balance the load (sailfish.worker), and the PROXY protocol in front of
TLS, whose header arrives before the ClientHello and must be read off the raw socket before
the loop starts the handshake (`proxy_prelude`). Everything else listens with
`loop.create_server`, whose accept loop is the loop's own (in C under uvloop).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from sailfish.errors import ProxyHeaderError
from sailfish.proxy_protocol import MAX_HEADER_SIZE, ProxyHeader, parse_proxy_header

logger = logging.getLogger("sailfish.error")

ACCEPT_BATCH = 16  # connections accepted per wake-up at most
GATE_RETRY = 0.002  # seconds before a gated acceptor looks again


def _with_prelude(factory: Callable[[], Any], found: Any) -> Any:
    protocol = factory()
    protocol.accept_prelude(found)
    return protocol


class Acceptor(asyncio.AbstractServer):
    """Accepts connections from one listening socket on the loop, optionally gated.

    Stands in for the asyncio server `loop.create_server` would make, so `Server._shutdown`
    closes it the same way. The socket may be shared with other processes; closing stops
    this process accepting and closes nothing.

    Args:
        sock: A listening socket.
        factory: Makes the protocol of one connection.
        count: This process's open connections (what `gate` weighs).
        gate: Asked before each accept with the open and pending connections; False puts
            accepting off for `GATE_RETRY` seconds. None: always accept.
        tls: `ssl` and `ssl_handshake_timeout` for `connect_accepted_socket`, or empty.
        prelude: Run on each accepted socket before the transport is made (before the TLS
            handshake); it returns what `factory`'s protocol gets through `accept_prelude()`,
            or None to close the socket.
    """

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.BaseProtocol],
        count: Callable[[], int],
        gate: Callable[[int], bool] | None,
        tls: dict[str, Any],
        prelude: Callable[[socket.socket], Awaitable[Any]] | None = None,
    ) -> None:
        self.sock = sock
        self.factory = factory
        self.count = count
        self.gate = gate
        self.tls = tls
        self.prelude = prelude
        self.loop = asyncio.get_running_loop()
        self.accepted = 0
        self.pending = 0  # accepted, transport not made yet
        self.serving = False
        self.retry: asyncio.TimerHandle | None = None
        self.tcp = sock.family in (socket.AF_INET, socket.AF_INET6)

    def start(self) -> None:
        self.sock.setblocking(False)
        self.serving = True
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def _pause(self, delay: float) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.retry = self.loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        self.retry = None
        if self.serving:
            self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.gate is not None and not self.gate(self.count() + self.pending):
                self._pause(GATE_RETRY)
                return
            try:
                conn, _address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    logger.error("Could not accept a connection: %s; pausing accepts", exc)
                    self._pause(0.1)
                    return
                raise
            self.accepted += 1
            self.pending += 1
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
            if self.tcp:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            factory = self.factory
            if self.prelude is not None:
                found = await self.prelude(conn)
                if found is None:
                    conn.close()
                    return
                factory = functools.partial(_with_prelude, self.factory, found)
            await self.loop.connect_accepted_socket(factory, conn, **self.tls)
        except Exception as exc:  # noqa: BLE001 - one connection's failure, e.g. a TLS handshake
            logger.debug("Connection failed before it started: %r", exc)
            conn.close()
        finally:
            self.pending -= 1

    # -- asyncio.AbstractServer ---------------------------------------------------------

    def close(self) -> None:
        if not self.serving:
            return
        self.serving = False
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        with contextlib.suppress(OSError, ValueError):
            self.loop.remove_reader(self.sock.fileno())

    async def wait_closed(self) -> None:
        return None

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    def is_serving(self) -> bool:
        return self.serving

    async def start_serving(self) -> None:
        if not self.serving:
            self.start()

    async def serve_forever(self) -> None:
        raise NotImplementedError("a worker's Server runs the loop")


def _peer(sock: socket.socket) -> tuple[str | None, str]:
    """The peer's host as TrustedHosts takes it (None for a unix-socket peer), and its name
    for the log."""
    try:
        peer = sock.getpeername()
    except OSError:
        peer = None
    if isinstance(peer, tuple):
        return peer[0], f"{peer[0]}:{peer[1]}"
    return None, "a unix socket"


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket, timeout: float) -> None:
    waiter = loop.create_future()
    fd = sock.fileno()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(waiter, timeout)
    finally:
        loop.remove_reader(fd)


def can_watch(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bool:
    """Whether `loop` can watch `sock` for readability (`add_reader`), as `Acceptor` and
    `proxy_prelude` need. Windows' proactor loop cannot: it raises NotImplementedError."""
    try:
        loop.add_reader(sock.fileno(), _nothing)
    except NotImplementedError:
        return False
    loop.remove_reader(sock.fileno())
    return True


def _nothing() -> None:
    """A reader callback that is removed before it can run."""


def proxy_prelude(
    peers: Any, timeout: float
) -> Callable[[socket.socket], Awaitable[ProxyHeader | None]]:
    """A prelude that reads a PROXY header (v1 or v2) off the raw socket, before TLS.

    Only the header's bytes are taken from the socket (the rest is peeked at, never read), so
    the TLS handshake starts exactly where the header ends. The socket is closed (None) when
    its peer is not in `peers`, the header is invalid, the peer closes, or the header is not
    complete within `timeout` seconds.
    """

    async def read(sock: socket.socket) -> ProxyHeader | None:
        host, name = _peer(sock)
        if host not in peers:
            logger.warning(
                "PROXY protocol: connection from %s refused (not in --forwarded-allow-ips)", name
            )
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        taken = b""  # the header's bytes read so far: all of them belong to it
        while True:
            try:
                peeked = sock.recv(MAX_HEADER_SIZE - len(taken), socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                peeked = None
            except OSError:
                return None
            if peeked is not None:
                if not peeked:
                    return None  # the peer closed before its header was complete
                try:
                    header = parse_proxy_header(taken + peeked)
                except ProxyHeaderError as exc:
                    logger.warning("Invalid PROXY protocol header from %s: %s", name, exc)
                    return None
                if header is not None:
                    sock.recv(header.size - len(taken))  # exactly the rest of the header
                    return header
                # Incomplete: every peeked byte is part of the header. Take them, so that
                # waiting for more does not wake at once on bytes already seen.
                taken += sock.recv(len(peeked))
            remaining = deadline - loop.time()
            if remaining <= 0:
                logger.warning("PROXY protocol: no complete header from %s in time", name)
                return None
            try:
                await _readable(loop, sock, remaining)
            except asyncio.TimeoutError:
                logger.warning("PROXY protocol: no complete header from %s in time", name)
                return None

    return read


__all__ = ["ACCEPT_BATCH", "GATE_RETRY", "Acceptor", "can_watch", "proxy_prelude"]
