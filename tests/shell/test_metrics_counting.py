"""sailfish.metrics and the board's metrics columns, without sockets: counting, the
exposition, the scrape answers, and a row's metrics surviving the round trip through shared
memory (and cleared for the row's next worker)."""

from __future__ import annotations

import threading

import pytest

from sailfish import metrics
from sailfish.errors import ConfigError
from sailfish.metrics import BUCKETS, Metrics, Sample
from sailfish.worker import ROW_SIZE, Board
from waiting import wait_for


def request_count(m: Metrics, method: str, klass: str) -> int:
    row = metrics.METHODS.index(method) * len(metrics.STATUS_CLASSES)
    return m.requests[row + metrics.STATUS_CLASSES.index(klass)]


@pytest.mark.parametrize(
    ("status", "klass"),
    [
        pytest.param(101, "1xx", id="switching"),
        pytest.param(200, "2xx", id="ok"),
        pytest.param(399, "3xx", id="top_of_3xx"),
        pytest.param(400, "4xx", id="bottom_of_4xx"),
        pytest.param(599, "5xx", id="top_of_5xx"),
        pytest.param(600, "5xx", id="beyond_5xx_clamped"),
        pytest.param(99, "1xx", id="below_1xx_clamped"),
    ],
)
def test_status_classes(status: int, klass: str) -> None:
    m = Metrics()
    m.observe("GET", status, 0.0)
    assert request_count(m, "GET", klass) == 1
    assert sum(m.requests) == 1


def test_unknown_methods_share_other() -> None:
    m = Metrics()
    for method in ("PROPFIND", "get", "BREW"):
        m.observe(method, 200, 0.0)
    m.observe("DELETE", 200, 0.0)
    assert request_count(m, "other", "2xx") == 3
    assert request_count(m, "DELETE", "2xx") == 1


def test_latency_buckets_are_inclusive_upper_bounds() -> None:
    m = Metrics()
    m.observe("GET", 200, BUCKETS[0])  # on the bound: in it
    m.observe("GET", 200, BUCKETS[0] * 1.01)  # just above: the next one
    m.observe("GET", 200, BUCKETS[-1] + 1)  # beyond the last: +Inf
    assert m.latency[0] == 1 and m.latency[1] == 1 and m.latency[-1] == 1
    assert m.latency_sum == pytest.approx(BUCKETS[0] * 2.01 + BUCKETS[-1] + 1)


def test_render_is_cumulative_and_names_every_cell() -> None:
    m = Metrics()
    m.observe("GET", 200, 0.0005)
    m.observe("POST", 503, 20.0)
    sample = Sample(list(m.requests), list(m.latency), m.latency_sum, 3, 1, 2, received=5, sent=9)
    text = metrics.render(sample).decode()
    assert "# TYPE sailfish_received_bytes_total counter\nsailfish_received_bytes_total 5\n" in text
    assert "# TYPE sailfish_sent_bytes_total counter\nsailfish_sent_bytes_total 9\n" in text
    assert 'sailfish_requests_total{method="GET",status="2xx"} 1\n' in text
    assert 'sailfish_requests_total{method="POST",status="5xx"} 1\n' in text
    assert 'sailfish_request_duration_seconds_bucket{le="0.001"} 1\n' in text
    assert 'sailfish_request_duration_seconds_bucket{le="10.0"} 1\n' in text
    assert 'sailfish_request_duration_seconds_bucket{le="+Inf"} 2\n' in text
    assert "sailfish_request_duration_seconds_count 2\n" in text
    assert "sailfish_connections_open 3\n" in text
    assert "sailfish_websocket_connections_open 2\n" in text
    assert "sailfish_wsgi_threads_busy 0\n" in text
    assert text.count("sailfish_requests_total{") == len(metrics.METHODS) * 5
    assert "sailfish_worker" not in text
    workers = metrics.WorkerCounters(starts=3, serving=2)
    workers.restarts["hung"] = 1
    text = metrics.render(sample, workers).decode()
    assert 'sailfish_worker_restarts_total{cause="hung"} 1\n' in text
    assert "sailfish_worker_starts_total 3\n" in text


def test_retired_samples_add_counters_but_not_gauges() -> None:
    total = Sample(connections=1)
    retired = Sample(requests=[1] * metrics.REQUEST_CELLS, connections=5, received=3, sent=4)
    total.add(retired, gauges=False)
    assert total.connections == 1 and sum(total.requests) == metrics.REQUEST_CELLS
    assert (total.received, total.sent) == (3, 4)


def test_board_rows_carry_metrics_and_are_cleared_for_the_next_worker() -> None:
    board = Board(4)
    assert ROW_SIZE % 64 == 0
    first, second = board.claim(10), board.claim(11)
    m = Metrics()
    m.observe("HEAD", 304, 0.3)
    sample = Sample(list(m.requests), list(m.latency), m.latency_sum, 7, 2, 1, 4, 3, 2**40, 2**41)
    board.write_metrics(second, sample)
    board.write(second, 2, 7, 1, 100, 9)
    assert board.read_metrics(second) == sample
    assert board.read(second)[3:] == (7, 1, 100, 9)
    assert board.read_metrics(first) == Sample()  # the neighbour is untouched
    board.release(second)
    assert board.read_metrics(second) == Sample()
    board.write_metrics(first, sample)
    board.release(first)
    assert board.read_metrics(board.claim(12)) == Sample()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1:9100", ("127.0.0.1", 9100), id="ipv4"),
        pytest.param("[::1]:0", ("::1", 0), id="ipv6_any_port"),
        pytest.param("localhost:65535", ("localhost", 65535), id="highest_port"),
    ],
)
def test_parse_bind_accepts(text: str, expected: tuple[str, int]) -> None:
    assert metrics.parse_bind(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("9100", id="no_host"),
        pytest.param("host:", id="no_port"),
        pytest.param("host:65536", id="port_too_high"),
        pytest.param("host:-1", id="negative_port"),
        pytest.param("[::1]:x", id="port_not_a_number"),
    ],
)
def test_parse_bind_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--metrics-bind must be host:port"):
        metrics.parse_bind(text)


def answer(head: bytes, ready: bool = True) -> bytes:
    return metrics.respond(head, "/ready", lambda: ready, lambda: b"x 1\n")


def test_respond() -> None:
    ok = answer(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4")
    assert ok.endswith(b"\r\n\r\nx 1\n") and b"content-length: 4\r\n" in ok
    assert answer(b"HEAD /metrics HTTP/1.1\r\n\r\n").endswith(b"\r\n\r\n")
    assert answer(b"GET /ready?probe=1 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    assert answer(b"GET /ready HTTP/1.0\r\n\r\n", ready=False).startswith(b"HTTP/1.1 503 ")
    assert answer(b"GET /other HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
    assert answer(b"DELETE /metrics HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    assert answer(b"GET /metrics\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert answer(b"\x16\x03\x01 garbage").startswith(b"HTTP/1.1 400 ")


def test_wsgi_load_counts_busy_threads_and_queued_requests() -> None:
    from sailfish.wsgi.runner import WorkerPool

    pool = WorkerPool(1)
    release = threading.Event()
    started = threading.Event()

    def job() -> None:
        started.set()
        release.wait(10)

    try:
        assert metrics.wsgi_load(pool) == (0, 0)
        pool.submit(job)
        assert started.wait(10)
        wait_for(lambda: metrics.wsgi_load(pool) == (1, 0), what="one thread busy")
        pool.submit(job)
        assert metrics.wsgi_load(pool) == (1, 1)  # one thread: the second waits
        release.set()
        wait_for(lambda: metrics.wsgi_load(pool) == (0, 0), what="both jobs done")
    finally:
        release.set()
        pool.shutdown()


class _Open:
    """An open connection as `collect()` sees it: its own byte counts, no response under way."""

    cycle = None

    def __init__(self, received: int, sent: int) -> None:
        self.received = received
        self.sent = sent


class _State:
    def __init__(self, connections: set[_Open]) -> None:
        self.metrics = Metrics()
        self.connections = connections


def test_collect_adds_the_open_connections_bytes_to_the_closed_ones() -> None:
    state = _State({_Open(10, 200), _Open(1, 2)})
    state.metrics.received, state.metrics.sent = 1000, 3000  # connections that ended
    sample = metrics.collect(state)
    assert (sample.received, sample.sent) == (1011, 3202)
    assert sample.connections == 2
