"""Prometheus metrics and readiness on `--metrics-bind`: real `python -m sailfish` processes.

The exposition is read with a strict parser of the text format (below): every line is a
comment, or `name{labels} value` with a known family declared before it; prometheus_client's
parser (a test dependency) must read the same samples. Counters are checked
against requests this test made; in supervised mode the totals sum both workers and stay
monotonic when SIGHUP replaces them. Readiness turns 503 once SIGTERM starts the drain.
"""

from __future__ import annotations

import http.client
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from waiting import wait_for

HERE = Path(__file__).parent
REPO = HERE.parent.parent
APP = "apps.metrics_app:app"
START_TIMEOUT = 30.0  # a child process starting on a loaded 2-core machine (seen > 10 s in CI)
_METRICS_LINE = re.compile(r"Metrics on http://127\.0\.0\.1:(\d+)/metrics")
_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\n]*\",?)*)\})? (\S+)"
)
_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"([^\"\\\n]*)\"")

pytestmark = pytest.mark.posix_only("worker processes are forked, and run by signals")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    """A strict reader of the Prometheus text format 0.0.4: fails on anything unexpected."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _hash, _type, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, f"family declared twice: {name}"
            types[name] = kind
            continue
        match = _SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample before its TYPE: {line!r}"
        pairs = frozenset(_LABEL.findall(labels or ""))
        key = (name, pairs)
        assert key not in samples, f"duplicate sample: {line!r}"
        number = float(value)
        assert not math.isnan(number)
        samples[key] = number
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(port: int) -> Samples:
    status, body = get(port, "/metrics")
    assert status == 200
    text = body.decode()
    samples = parse_exposition(text)
    assert reference_parse(text) in (None, samples)
    return samples


def reference_parse(text: str) -> Samples | None:
    """The exposition as Prometheus's own Python parser reads it (None if not installed)."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return None
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metrics_port(process: Any) -> int:
    wait_for(lambda: _METRICS_LINE.search(process.stderr), what="the metrics listener's log line")
    match = _METRICS_LINE.search(process.stderr)
    assert match
    return int(match.group(1))


@pytest.fixture
def serve(serve_process: Callable[..., Any]) -> Callable[..., tuple[Any, int]]:
    def factory(*args: str) -> tuple[Any, int]:
        process = serve_process(
            APP, "--metrics-bind", "127.0.0.1:0", *args, start_timeout=START_TIMEOUT
        )
        return process, metrics_port(process)

    return factory


def test_parser_rejects_what_prometheus_would() -> None:
    good = '# TYPE a counter\na{x="1"} 2\n'
    assert value(parse_exposition(good), "a", x="1") == 2
    for bad in ('a{x="1"} 2\n', "# TYPE a counter\na{x=1} 2\n", "# TYPE a counter\na 1 2 3\n"):
        with pytest.raises(AssertionError):
            parse_exposition(bad)


def test_counters_move_with_requests_in_one_process(serve: Callable[..., Any]) -> None:
    process, port = serve()
    before = scrape(port)
    assert value(before, "sailfish_requests_total", method="GET", status="2xx") == 0
    assert ("sailfish_worker_starts_total", frozenset()) not in before  # no supervisor
    for path, method in [("/", "GET"), ("/", "GET"), ("/status/404", "GET"), ("/", "POST")]:
        get(process.port, path, method)
    get(process.port, "/", "PROPFIND")
    after = scrape(port)
    assert value(after, "sailfish_requests_total", method="GET", status="2xx") == 2
    assert value(after, "sailfish_requests_total", method="GET", status="4xx") == 1
    assert value(after, "sailfish_requests_total", method="POST", status="2xx") == 1
    assert value(after, "sailfish_requests_total", method="other", status="2xx") == 1
    histogram = "sailfish_request_duration_seconds"
    assert value(after, f"{histogram}_count") == 5
    assert value(after, f"{histogram}_bucket", le="+Inf") == 5
    assert 0 < value(after, f"{histogram}_sum") < 5
    buckets = [v for (name, _l), v in after.items() if name == f"{histogram}_bucket"]
    assert buckets == sorted(buckets)  # cumulative
    assert value(after, "sailfish_connections_open") == 0


def test_in_flight_and_open_connections_are_gauges(serve: Callable[..., Any]) -> None:
    process, port = serve()
    done = threading.Event()

    def slow() -> None:
        get(process.port, "/slow?t=1.5")
        done.set()

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    wait_for(lambda: value(scrape(port), "sailfish_requests_in_flight") == 1, what="in flight")
    assert value(scrape(port), "sailfish_connections_open") == 1
    assert done.wait(10)
    wait_for(lambda: value(scrape(port), "sailfish_requests_in_flight") == 0, what="done")
    thread.join(5)


@pytest.mark.parametrize(
    "args",
    [pytest.param((), id="one_process"), pytest.param(("--workers", "2"), id="supervised")],
)
def test_readiness_turns_503_when_sigterm_starts_the_drain(
    serve: Callable[..., Any], args: tuple[str, ...]
) -> None:
    process, port = serve(*args)
    assert get(port, "/ready") == (200, b"ready\n")
    assert get(port, "/nope")[0] == 404
    assert get(port, "/ready", "POST")[0] == 405
    finished: list[int] = []
    thread = threading.Thread(
        target=lambda: finished.append(get(process.port, "/slow?t=3")[0]), daemon=True
    )
    thread.start()
    wait_for(lambda: value(scrape(port), "sailfish_requests_in_flight") == 1, what="in flight")
    assert get(port, "/ready")[0] == 200
    os.kill(process.popen.pid, signal.SIGTERM)
    wait_for(lambda: get(port, "/ready")[0] == 503, what="readiness 503 while draining")
    assert finished == []  # still draining: the request in flight is not done
    thread.join(10)
    assert finished == [200]
    assert process.wait(10) == 0


def test_workers_are_summed_and_stay_monotonic_across_sighup(serve: Callable[..., Any]) -> None:
    process, port = serve("--workers", "2", "--no-reuse-port")
    conns = [http.client.HTTPConnection("127.0.0.1", process.port, timeout=10) for _ in range(16)]
    try:
        for conn in conns:
            conn.request("GET", "/")
        pids = {int(conn.getresponse().read()) for conn in conns}
    finally:
        for conn in conns:
            conn.close()
    assert len(pids) == 2  # both workers served some of them

    def total() -> float:
        return value(scrape(port), "sailfish_requests_total", method="GET", status="2xx")

    wait_for(lambda: total() == 16, what="both workers' requests in the total")
    samples = scrape(port)
    assert value(samples, "sailfish_worker_starts_total") == 2
    assert value(samples, "sailfish_workers_serving") == 2
    os.kill(process.popen.pid, signal.SIGHUP)
    seen = [total()]
    deadline = time.monotonic() + 20
    while process.stderr.count("stopped (exit code 0)") < 2:  # scrape all through the restart
        seen.append(total())
        assert time.monotonic() < deadline, f"the workers were not replaced:\n{process.stderr}"
    assert seen == sorted(seen) and seen[-1] == 16  # never went back while workers changed
    get(process.port, "/")
    wait_for(lambda: total() == 17, what="the successor's request added")
    samples = scrape(port)
    assert value(samples, "sailfish_worker_starts_total") == 4
    assert value(samples, "sailfish_worker_restarts_total", cause="sighup") == 2
    assert value(samples, "sailfish_worker_restarts_total", cause="crash") == 0
    assert value(samples, "sailfish_request_duration_seconds_count") == 17
    assert get(port, "/ready")[0] == 200


@pytest.mark.parametrize(
    "bind",
    [
        pytest.param("nonsense", id="no_port"),
        pytest.param("127.0.0.1:99999", id="port_out_of_range"),
        pytest.param(":9100", id="no_host"),
    ],
)
def test_a_bad_metrics_bind_is_one_line_and_exit_2(bind: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sailfish", APP, "--app-dir", str(HERE), "--metrics-bind", bind],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=str(REPO),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--metrics-bind must be host:port" in lines[0], result.stderr


def test_readiness_path_must_be_a_path() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sailfish", APP, "--metrics-bind", "127.0.0.1:0"]
        + ["--readiness-path", "ready"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=str(REPO),
    )
    assert result.returncode == 2
    assert "--readiness-path must be a path" in result.stderr.strip().splitlines()[-1]


def test_a_killed_worker_counts_as_a_crash_and_keeps_its_requests(
    serve: Callable[..., Any],
) -> None:
    process, port = serve("--workers", "2")
    pids = {int(get(process.port, "/")[1]) for _ in range(4)}
    wait_for(
        lambda: value(scrape(port), "sailfish_requests_total", method="GET", status="2xx") == 4,
        what="the requests published",
    )
    victim = pids.pop()
    os.kill(victim, signal.SIGKILL)
    process.wait_for_stderr(f"Worker [{victim}] died", timeout=10)
    wait_for(lambda: value(scrape(port), "sailfish_workers_serving") == 2, what="the restart")
    samples = scrape(port)
    assert value(samples, "sailfish_worker_restarts_total", cause="crash") == 1
    assert value(samples, "sailfish_worker_starts_total") == 3
    assert value(samples, "sailfish_requests_total", method="GET", status="2xx") == 4


def test_recycling_and_a_hung_worker_count_as_their_causes(
    serve_process: Callable[..., Any],
) -> None:
    process = serve_process(
        "apps.pids:app",
        "--metrics-bind",
        "127.0.0.1:0",
        "--max-requests",
        "3",
        "--timeout-worker-healthcheck",
        "0.5",
        start_timeout=START_TIMEOUT,
    )
    port = metrics_port(process)

    def restarts(cause: str) -> float:
        return value(scrape(port), "sailfish_worker_restarts_total", cause=cause)

    for _ in range(3):
        get(process.port, "/")
    wait_for(lambda: restarts("recycle") == 1, what="the --max-requests recycle counted")
    process.wait_for_stderr("stopped (exit code 0)")
    blocked = threading.Thread(target=lambda: _quietly(get, process.port, "/block"))
    blocked.start()
    process.wait_for_stderr("is not responding: killing it", timeout=15)
    wait_for(lambda: restarts("hung") == 1, what="the hung worker counted")
    samples = scrape(port)
    assert value(samples, "sailfish_worker_restarts_total", cause="crash") == 0
    assert value(samples, "sailfish_worker_starts_total") == 3
    blocked.join(10)


def _quietly(function: Callable[..., object], *args: object) -> None:
    try:
        function(*args)
    except (OSError, http.client.HTTPException):
        pass


def exchange(port: int, *messages: bytes) -> bytes:
    """Send each message on one connection (after the previous reply's first bytes when there
    are several), then read until the server closes; returns every byte received."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        received = b""
        for message in messages:
            sock.sendall(message)
            if message is not messages[-1]:
                received += sock.recv(65536)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def byte_totals(port: int) -> tuple[float, float]:
    samples = scrape(port)
    return value(samples, "sailfish_received_bytes_total"), value(
        samples, "sailfish_sent_bytes_total"
    )


REQUEST = b"GET /status/201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_bytes_are_counted_exactly_in_one_process(serve: Callable[..., Any]) -> None:
    process, port = serve()
    assert byte_totals(port) == (0, 0)  # scrapes are not client traffic
    response = exchange(process.port, REQUEST)
    assert response.startswith(b"HTTP/1.1 201 ")
    assert byte_totals(port) == (len(REQUEST), len(response))
    pipelined = REQUEST.replace(b"close", b"keep-alive") * 2 + REQUEST
    more = exchange(process.port, pipelined)
    assert more.count(b"HTTP/1.1 201 ") == 3
    assert byte_totals(port) == (len(REQUEST + pipelined), len(response + more))


def test_websocket_bytes_are_counted_exactly(serve_process: Callable[..., Any]) -> None:
    process = serve_process(
        "apps.ws_echo:app", "--metrics-bind", "127.0.0.1:0", start_timeout=START_TIMEOUT
    )
    port = metrics_port(process)
    handshake = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    mask = b"\x01\x02\x03\x04"
    hello = bytes(b ^ mask[i % 4] for i, b in enumerate(b"hello"))
    text_frame = b"\x81\x85" + mask + hello
    close_frame = b"\x88\x82" + mask + bytes(b ^ mask[i] for i, b in enumerate(b"\x03\xe8"))
    received = exchange(process.port, handshake, text_frame, close_frame)
    assert received.startswith(b"HTTP/1.1 101 ")
    assert b"\x81\x05hello" in received and received.endswith(b"\x88\x02\x03\xe8")
    sent = len(handshake + text_frame + close_frame)
    wait_for(lambda: byte_totals(port) == (sent, len(received)), what="the WebSocket's bytes")


def test_bytes_are_summed_over_workers_and_survive_sighup(serve: Callable[..., Any]) -> None:
    process, port = serve("--workers", "2", "--no-reuse-port")
    request = REQUEST.replace(b"/status/201", b"/")
    # Both workers must be serving first: on a loaded machine the first can take all eight
    # while the second is still importing the app.
    wait_for(
        lambda: value(scrape(port), "sailfish_workers_serving") == 2, what="both workers serving"
    )
    # Held open together, the connections are spread by the accept gate (one after another,
    # each closed before the next opens, any one worker may take them all).
    socks = [socket.create_connection(("127.0.0.1", process.port), timeout=10) for _ in range(8)]
    responses = []
    for sock in socks:
        with sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            responses.append(received)
    pids = {int(response.rpartition(b"\r\n\r\n")[2]) for response in responses}
    assert len(pids) == 2  # both workers served some of them
    expected = (len(socks) * len(request), sum(map(len, responses)))
    wait_for(lambda: byte_totals(port) == expected, what="both workers' bytes in the totals")
    os.kill(process.popen.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while process.stderr.count("stopped (exit code 0)") < 2:  # scrape all through the restart
        assert byte_totals(port) == expected  # the retired workers' bytes are kept
        assert time.monotonic() < deadline, f"the workers were not replaced:\n{process.stderr}"
    response = exchange(process.port, request)
    expected = (expected[0] + len(request), expected[1] + len(response))
    wait_for(lambda: byte_totals(port) == expected, what="the successor's bytes added")


def test_websocket_connections_are_a_gauge(serve_process: Callable[..., Any]) -> None:
    from websockets.sync.client import connect

    process = serve_process(
        "apps.ws_echo:app", "--metrics-bind", "127.0.0.1:0", start_timeout=START_TIMEOUT
    )
    port = metrics_port(process)
    with connect(f"ws://127.0.0.1:{process.port}/", open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        samples = scrape(port)
        assert value(samples, "sailfish_websocket_connections_open") == 1
        assert value(samples, "sailfish_connections_open") == 1
        assert value(samples, "sailfish_requests_in_flight") == 0
    wait_for(
        lambda: value(scrape(port), "sailfish_websocket_connections_open") == 0,
        what="the WebSocket connection closed",
    )


def test_wsgi_apps_are_counted_and_report_their_threads(serve_process: Callable[..., Any]) -> None:
    process = serve_process(
        "apps.wsgi_app:app",
        "--interface",
        "wsgi",
        "--metrics-bind",
        "127.0.0.1:0",
        start_timeout=START_TIMEOUT,
    )
    port = metrics_port(process)
    assert get(process.port, "/")[0] == 200
    samples = scrape(port)
    assert value(samples, "sailfish_requests_total", method="GET", status="2xx") == 1
    assert value(samples, "sailfish_wsgi_threads_busy") == 0
    assert value(samples, "sailfish_wsgi_requests_queued") == 0


@pytest.mark.parametrize(
    "args",
    [pytest.param((), id="one_process"), pytest.param(("--workers", "2"), id="supervised")],
)
def test_a_metrics_port_in_use_is_a_startup_error(args: tuple[str, ...]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "sailfish", APP, "--app-dir", str(HERE), "--port", "0"]
            + ["--metrics-bind", bind, *args],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=str(REPO),
        )
    assert result.returncode == 3, result.stderr
    assert f"could not bind --metrics-bind {bind}: address already in use" in result.stderr
