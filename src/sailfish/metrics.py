"""Prometheus metrics and the readiness answer, served on `--metrics-bind`.

Strategy: protocols count into a `Metrics` object hung on the `ServerState` they already touch
(plain int increments in lists; nothing when metrics are off: `server_state.metrics` is None).
Bytes in and out are the exception: every connection counts its own (`Connection.received`
and `sent`, a C integer add in the compiled shell, whether metrics are on or not, which is
cheaper than asking), adds them to `Metrics` when it ends, and `collect()` adds those of the
connections still open, so a long-lived one is seen on every sample.
A `Sample` is a fixed-size snapshot of those counters plus gauges read off the server state
(open connections, requests in flight, WebSocket connections), so the same numbers fit in a
worker's board row (sailfish.worker) and are summed by the supervisor, which keeps the totals
of workers that exited so counters never go backwards. The labels are a small fixed set
(`METHODS` x `STATUS_CLASSES`), which is what keeps a row fixed-size.

The exposition is the Prometheus text format 0.0.4, written here with the stdlib: a runtime
dependency for about a hundred lines of formatting is not worth it, and the supervisor (which
has no event loop and sums shared memory) would not use a client library's registry anyway.
`respond()` answers one HTTP request head; `ScrapeServer` serves it from the supervisor's
selector loop, `serve_async()` from a server's asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sailfish.errors import ConfigError

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the latency histogram; a last bucket (+Inf) takes the rest."""
RESTART_CAUSES = ("crash", "hung", "recycle", "reload", "sighup")

_METHOD_INDEX = {method: index for index, method in enumerate(METHODS[:-1])}
_OTHER = len(METHODS) - 1
_CLASSES = len(STATUS_CLASSES)
REQUEST_CELLS = len(METHODS) * _CLASSES
LATENCY_CELLS = len(BUCKETS) + 1
GAUGES = 5  # open connections, in flight, WebSocket connections, WSGI threads busy, queued
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_HEAD = 8192  # bytes of a scrape request's head
SCRAPE_TIMEOUT = 2.0  # seconds a scrape connection may take to send its request
MAX_SCRAPES = 32  # scrape connections open at once (the supervisor's listener)


def parse_bind(text: str) -> tuple[str, int]:
    """`host:port` or `[ipv6]:port` as (host, port).

    Raises:
        ConfigError: not of that form, or a port outside 0-65535.
    """
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f'--metrics-bind must be host:port (e.g. 0.0.0.0:9100 or [::1]:9100), not "{text}"'
        )
    return host, int(port)


class Metrics:
    """The counters of one server process, bumped by its protocols.

    Attributes:
        requests: Responses completed, `METHODS` x `STATUS_CLASSES`, row-major.
        latency: Responses per latency bucket (not cumulative; the last one is +Inf).
        latency_sum: Seconds of all those responses together.
        received: Bytes read from client connections that have ended (an open connection
            counts its own: `Connection.received`, added here by its `connection_lost`).
        sent: Bytes written to client connections that have ended, likewise.
    """

    __slots__ = ("latency", "latency_sum", "received", "requests", "sent")

    def __init__(self) -> None:
        self.requests = [0] * REQUEST_CELLS
        self.latency = [0] * LATENCY_CELLS
        self.latency_sum = 0.0
        self.received = 0
        self.sent = 0

    def observe(self, method: str, status: int, seconds: float) -> None:
        """One response completed: its request's method, its status, the time it took."""
        klass = status // 100
        klass = 1 if klass < 1 else 5 if klass > 5 else klass
        self.requests[_METHOD_INDEX.get(method, _OTHER) * _CLASSES + klass - 1] += 1
        self.latency[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds


@dataclass
class Sample:
    """A snapshot: counters (summable over workers and time) and gauges (of the moment)."""

    requests: list[int] = field(default_factory=lambda: [0] * REQUEST_CELLS)
    latency: list[int] = field(default_factory=lambda: [0] * LATENCY_CELLS)
    latency_sum: float = 0.0
    connections: int = 0
    in_flight: int = 0
    websockets: int = 0
    wsgi_busy: int = 0
    wsgi_queued: int = 0
    received: int = 0  # bytes (counters, like the two lists)
    sent: int = 0

    def counters(self) -> tuple[list[int], float]:
        """The counters as one flat int list (requests, latency, bytes received and sent) and
        the latency sum."""
        return [*self.requests, *self.latency, self.received, self.sent], self.latency_sum

    def gauges(self) -> list[int]:
        return [self.connections, self.in_flight, self.websockets, self.wsgi_busy, self.wsgi_queued]

    @classmethod
    def from_flat(cls, ints: list[int] | tuple[int, ...], total: float, gauges: Any) -> Sample:
        """The inverse of `counters()` and `gauges()`."""
        latency_end = REQUEST_CELLS + LATENCY_CELLS
        received, sent = ints[latency_end : latency_end + 2]
        requests, latency = list(ints[:REQUEST_CELLS]), list(ints[REQUEST_CELLS:latency_end])
        sample = cls(requests, latency, total, *gauges)
        sample.received, sample.sent = received, sent
        return sample

    def add(self, other: Sample, gauges: bool = True) -> None:
        """Add another sample's counters (and its gauges, unless it is a retired worker's)."""
        self.requests = [a + b for a, b in zip(self.requests, other.requests, strict=True)]
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]
        self.latency_sum += other.latency_sum
        self.received += other.received
        self.sent += other.sent
        if gauges:
            self.connections += other.connections
            self.in_flight += other.in_flight
            self.websockets += other.websockets
            self.wsgi_busy += other.wsgi_busy
            self.wsgi_queued += other.wsgi_queued


def collect(state: Any, wsgi: Any = None) -> Sample:
    """A `Sample` of a server state whose `metrics` is set (its gauges counted now).

    Args:
        state: The `ServerState`.
        wsgi: With `--interface wsgi`, the `WSGIRunner` (`config.wsgi`), whose thread pool
            says how many threads run the app and how many requests wait for one.
    """
    metrics: Metrics = state.metrics
    websocket_cls = _websocket_class()
    in_flight = websockets = 0
    received, sent = metrics.received, metrics.sent
    for connection in list(state.connections):
        received += connection.received
        sent += connection.sent
        if websocket_cls is not None and isinstance(connection, websocket_cls):
            websockets += 1
        elif getattr(connection, "cycle", None) is not None:
            in_flight += 1  # a response under way (pipelined requests behind it wait)
    busy, queued = wsgi_load(wsgi.pool) if wsgi is not None else (0, 0)
    return Sample(
        list(metrics.requests),
        list(metrics.latency),
        metrics.latency_sum,
        len(state.connections),
        in_flight,
        websockets,
        busy,
        queued,
        received,
        sent,
    )


def wsgi_load(pool: Any) -> tuple[int, int]:
    """(threads running a job, jobs waiting for a thread) of a `sailfish.wsgi.WorkerPool`."""
    crew = pool.crew
    with crew.lock:
        return len(crew.threads) - crew.idle, crew.waiting


def _websocket_class() -> type | None:
    import sys

    protocols = sys.modules.get("sailfish.protocols")
    cls = getattr(protocols, "WebSocketProtocol", None) if protocols is not None else None
    return cls if isinstance(cls, type) else None


@dataclass
class WorkerCounters:
    """The supervisor's own counters: worker processes started, and restarts by cause."""

    starts: int = 0
    restarts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESTART_CAUSES, 0))
    serving: int = 0


def render(sample: Sample, workers: WorkerCounters | None = None) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of a sample."""
    out: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")

    family("sailfish_requests_total", "counter", "HTTP responses completed.")
    for m, method in enumerate(METHODS):
        for c, klass in enumerate(STATUS_CLASSES):
            count = sample.requests[m * _CLASSES + c]
            out.append(f'sailfish_requests_total{{method="{method}",status="{klass}"}} {count}')
    name = "sailfish_request_duration_seconds"
    family(name, "histogram", "Time from a request's head to its response's last byte.")
    running = 0
    for bound, count in zip((*BUCKETS, None), sample.latency, strict=True):
        running += count
        le = "+Inf" if bound is None else repr(bound)
        out.append(f'{name}_bucket{{le="{le}"}} {running}')
    out.append(f"{name}_sum {sample.latency_sum!r}")
    out.append(f"{name}_count {running}")
    for counter, value, text in (
        ("sailfish_received_bytes_total", sample.received, "Bytes read from clients."),
        ("sailfish_sent_bytes_total", sample.sent, "Bytes written to clients."),
    ):
        family(counter, "counter", text)
        out.append(f"{counter} {value}")
    for gauge, value, text in (
        ("sailfish_connections_open", sample.connections, "Open client connections."),
        ("sailfish_requests_in_flight", sample.in_flight, "Responses under way."),
        ("sailfish_websocket_connections_open", sample.websockets, "Open WebSocket connections."),
        ("sailfish_wsgi_threads_busy", sample.wsgi_busy, "WSGI threads running the app."),
        ("sailfish_wsgi_requests_queued", sample.wsgi_queued, "WSGI requests waiting a thread."),
    ):
        family(gauge, "gauge", text)
        out.append(f"{gauge} {value}")
    if workers is not None:
        family("sailfish_workers_serving", "gauge", "Worker processes serving.")
        out.append(f"sailfish_workers_serving {workers.serving}")
        family("sailfish_worker_starts_total", "counter", "Worker processes started.")
        out.append(f"sailfish_worker_starts_total {workers.starts}")
        family("sailfish_worker_restarts_total", "counter", "Workers replaced, by cause.")
        for cause in RESTART_CAUSES:
            count = workers.restarts[cause]
            out.append(f'sailfish_worker_restarts_total{{cause="{cause}"}} {count}')
    return ("\n".join(out) + "\n").encode()


def respond(
    head: bytes, readiness_path: str, ready: Callable[[], bool], exposition: Callable[[], bytes]
) -> bytes:
    """The whole HTTP/1.1 response (then close) to one request head on the metrics listener.

    `GET /metrics` is the exposition; `GET <readiness_path>` is 200 while serving and 503 once
    draining has started; other paths are 404, other methods 405.
    """
    line = head.split(b"\r\n", 1)[0].split()
    if len(line) != 3 or not line[2].startswith(b"HTTP/1."):
        return _response(400, b"bad request\n")
    method, target = line[0], line[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _response(405, b"method not allowed\n", b"allow: GET, HEAD\r\n")
    if target == b"/metrics":
        body, kind = exposition(), CONTENT_TYPE.encode()
    elif target == readiness_path.encode("latin-1"):
        if ready():
            body, kind = b"ready\n", b"text/plain"
        else:
            return _response(503, b"draining\n", head_only=method == b"HEAD")
    else:
        return _response(404, b"not found\n", head_only=method == b"HEAD")
    return _response(200, body, b"content-type: " + kind + b"\r\n", method == b"HEAD")


_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    503: b"Service Unavailable",
}


def _response(status: int, body: bytes, extra: bytes = b"", head_only: bool = False) -> bytes:
    if not extra.startswith(b"content-type"):
        extra = b"content-type: text/plain\r\n" + extra
    head = b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\nconnection: close\r\n\r\n" % (
        status,
        _REASONS[status],
        extra,
        len(body),
    )
    return head if head_only else head + body


def bind(text: str) -> socket.socket:
    """A listening socket on `--metrics-bind` (raises OSError; the caller words it)."""
    host, port = parse_bind(text)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(16)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def describe(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


class ScrapeServer:
    """The metrics listener in a process without an event loop: the supervisor's selector.

    Each connection gets one response and is closed. The read side is non-blocking; the
    response (a few KiB) is sent with a short blocking timeout, which fits a socket's send
    buffer at once in practice.

    Args:
        sock: The bound, listening, non-blocking socket.
        selector: The loop's selector; callbacks are its keys' `data`.
        answer: Makes the response to a request head.
    """

    def __init__(
        self,
        sock: socket.socket,
        selector: selectors.BaseSelector,
        answer: Callable[[bytes], bytes],
    ) -> None:
        self.sock = sock
        self.selector = selector
        self.answer = answer
        self.clients: dict[socket.socket, tuple[bytearray, float]] = {}
        selector.register(sock, selectors.EVENT_READ, self._accept)

    def _accept(self) -> None:
        try:
            conn, _addr = self.sock.accept()
        except OSError:
            return
        if len(self.clients) >= MAX_SCRAPES:
            conn.close()
            return
        conn.setblocking(False)
        self.clients[conn] = (bytearray(), time.monotonic() + SCRAPE_TIMEOUT)
        self.selector.register(conn, selectors.EVENT_READ, lambda: self._read(conn))

    def _read(self, conn: socket.socket) -> None:
        buffer = self.clients[conn][0]
        try:
            data = conn.recv(MAX_HEAD)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buffer += data
        if data and b"\r\n\r\n" not in buffer and len(buffer) < MAX_HEAD:
            return
        if data:
            with contextlib.suppress(OSError):
                conn.settimeout(SCRAPE_TIMEOUT)
                conn.sendall(self.answer(bytes(buffer)))
        self._close(conn)

    def _close(self, conn: socket.socket) -> None:
        self.clients.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        conn.close()

    def expire(self, now: float) -> None:
        """Close connections that did not send a request in time."""
        for conn, (_buffer, deadline) in list(self.clients.items()):
            if now >= deadline:
                self._close(conn)

    def close(self) -> None:
        for conn in list(self.clients):
            self._close(conn)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.sock)
        self.sock.close()


async def serve_async(sock: socket.socket, answer: Callable[[bytes], bytes]) -> asyncio.Server:
    """The metrics listener on the running asyncio loop (a server in one process)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SCRAPE_TIMEOUT)
            writer.write(answer(head))
            await asyncio.wait_for(writer.drain(), SCRAPE_TIMEOUT)
        except (
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # gone, too slow, or a head over MAX_HEAD: just close
        finally:
            writer.close()

    return await asyncio.start_server(handle, sock=sock, limit=MAX_HEAD)


__all__ = [
    "BUCKETS",
    "METHODS",
    "RESTART_CAUSES",
    "STATUS_CLASSES",
    "Metrics",
    "Sample",
    "ScrapeServer",
    "WorkerCounters",
    "collect",
    "parse_bind",
    "render",
    "respond",
    "serve_async",
]
