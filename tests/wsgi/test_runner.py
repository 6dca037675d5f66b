"""The worker-thread side on its own: WorkerPool, WSGIInput, Call (no server, no sockets).

Strategy: a pool's promises are checked with barriers and events (never timing): its thread
count is a ceiling that is reached but never passed, a batch still runs in parallel, the
queue keeps order and is counted. The input is fed from the test thread as the loop would,
while a reader thread blocks; every read form is checked at its limits (exact size, one past,
at the end, after an abort). A Call runs on the test thread with a fake loop.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import pytest

from sailfish.wsgi.runner import HIGH_WATER, Call, ClientGone, LogStream, WorkerPool, WSGIInput

TIMEOUT = 5.0


def test_pool_runs_a_batch_in_parallel_up_to_its_size() -> None:
    pool = WorkerPool(4)
    barrier = threading.Barrier(4, timeout=TIMEOUT)
    done = threading.Semaphore(0)

    def job() -> None:
        barrier.wait()  # only passes if four run at once
        done.release()

    pool.submit_many([job] * 4)
    for _ in range(4):
        assert done.acquire(timeout=TIMEOUT)
    assert len(pool.threads) == 4
    pool.shutdown(TIMEOUT)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_pool_threads_run_under_sched_batch() -> None:
    # Their wake-ups must not preempt the event loop's thread, which holds the GIL they need.
    pool = WorkerPool(2)
    policies: list[int] = []
    done = threading.Event()

    def job() -> None:
        policies.append(os.sched_getscheduler(0))
        done.set()

    pool.submit(job)
    assert done.wait(TIMEOUT)
    assert policies == [os.SCHED_BATCH]
    assert os.sched_getscheduler(0) != os.SCHED_BATCH  # the submitting thread keeps its own
    pool.shutdown(TIMEOUT)


def test_pool_never_runs_more_than_its_size() -> None:
    pool = WorkerPool(2)
    release = threading.Event()
    lock = threading.Lock()
    running = [0, 0]
    done = threading.Semaphore(0)

    def job() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running)
        assert release.wait(TIMEOUT)
        with lock:
            running[0] -= 1
        done.release()

    pool.submit_many([job] * 3)
    pool.submit(job)
    deadline = threading.Event()
    for _ in range(500):  # bounded poll: two running, two waiting
        if running[0] == 2 and pool.backlog == 2:
            break
        deadline.wait(0.01)
    assert (running[0], pool.backlog) == (2, 2)
    release.set()
    for _ in range(4):
        assert done.acquire(timeout=TIMEOUT)
    assert running[1] == 2 and len(pool.threads) == 2 and pool.backlog == 0
    pool.shutdown(TIMEOUT)
    assert pool.threads == []


def test_pool_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WorkerPool(0)


def reader(stream: WSGIInput, calls: list[Any]) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []

    def run() -> None:
        for name, *args in calls:
            try:
                results.append(getattr(stream, name)(*args))
            except Exception as exc:  # noqa: BLE001 - the test compares it
                results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        pytest.param([("read", 3), ("read", 3)], [b"abc", b"\nde"], id="read_exact"),
        pytest.param([("read", 7), ("read", 2)], [b"abc\ndef", b"g"], id="read_one_short"),
        pytest.param([("read", 9), ("read", 1)], [b"abc\ndefg", b""], id="read_past_end"),
        pytest.param([("read",), ("read",)], [b"abc\ndefg", b""], id="read_all_then_end"),
        pytest.param([("read", None)], [b"abc\ndefg"], id="read_none"),
        pytest.param([("read", -1), ("read", -1)], [b"abc\ndefg", b""], id="read_negative"),
        pytest.param(
            [("readline", -1), ("readline", None)], [b"abc\n", b"defg"], id="readline_all"
        ),
        pytest.param([("readline", 0), ("readline",)], [b"", b"abc\n"], id="readline_zero"),
        pytest.param([("readlines", None)], [[b"abc\n", b"defg"]], id="readlines_none"),
        pytest.param([("readlines", -1)], [[b"abc\n", b"defg"]], id="readlines_negative"),
        pytest.param([("readlines",), ("readline",)], [[b"abc\n", b"defg"], b""], id="past_end"),
        pytest.param([("read", 0)], [b""], id="read_zero"),
        pytest.param([("readline",), ("readline",)], [b"abc\n", b"defg"], id="readline"),
        pytest.param([("readline", 2), ("readline", 2)], [b"ab", b"c\n"], id="readline_limit"),
        pytest.param([("readline", 4)], [b"abc\n"], id="readline_limit_is_the_line"),
        pytest.param([("readlines",)], [[b"abc\n", b"defg"]], id="readlines"),
        pytest.param([("readlines", 2)], [[b"abc\n"]], id="readlines_hint"),
    ],
)
def test_input_reads(calls: list[Any], expected: list[Any]) -> None:
    stream = WSGIInput()
    thread, results = reader(stream, calls)
    stream.feed(b"ab", False)  # arrives in pieces, while the reader may be waiting
    stream.feed(b"c\nde", False)
    stream.feed(b"fg", True)
    thread.join(TIMEOUT)
    assert results == expected


def test_input_iteration_and_empty_body() -> None:
    stream = WSGIInput()
    stream.feed(b"a\nb\n", True)
    assert list(stream) == [b"a\n", b"b\n"]
    empty = WSGIInput()
    empty.feed(b"", True)
    assert empty.read() == b"" and empty.readline() == b""


def test_input_abort_fails_a_waiting_read() -> None:
    stream = WSGIInput()
    thread, results = reader(stream, [("read", 10)])
    stream.feed(b"abc", False)
    stream.abort()
    thread.join(TIMEOUT)
    assert isinstance(results[0], ClientGone)


def test_input_first_wait_calls_back_once_and_reports_taken_bytes() -> None:
    first: list[int] = []
    taken: list[int] = []
    stream = WSGIInput(lambda: first.append(1), taken.append)
    thread, results = reader(stream, [("read", HIGH_WATER), ("read", 10)])
    stream.feed(b"x" * (HIGH_WATER - 1), False)  # one short of the read: it waits again
    stream.feed(b"x" * 11, True)
    thread.join(TIMEOUT)
    assert [len(r) for r in results] == [HIGH_WATER, 10]
    assert first == [1]
    assert sum(taken) >= HIGH_WATER  # every byte a read takes is reported before it waits


class FakeLoop:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def call_soon_threadsafe(self, callback: Any, *args: Any) -> None:
        self.calls.append(callback)


def run_call(app: Any, head: bool = False) -> tuple[Call, FakeLoop]:
    loop = FakeLoop()
    call = Call(app, {}, loop, lambda: None, logging.getLogger("test"), head)
    call.run()
    return call, loop


def test_a_list_response_is_one_hand_over() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    call, loop = run_call(app)
    assert len(loop.calls) == 1
    items = list(call.outbox)
    assert items[0]["status"] == 200 and items[1:] == [b"ab", None]


def test_start_response_in_the_first_iteration_is_honoured() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield b"made"

    call, loop = run_call(app)
    items = list(call.outbox)
    assert items[0]["status"] == 201 and items[1:] == [b"made", None]


def test_reaching_content_length_ends_the_response_with_the_chunk() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "4")])
        yield b"abcd"

    call, loop = run_call(app)
    assert len(loop.calls) == 1
    assert list(call.outbox)[1:] == [b"abcd", None]


def test_head_is_not_counted_against_content_length() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "100")])
        return [b"short"]

    call, _ = run_call(app, head=True)
    assert list(call.outbox)[-1] is None  # not an error: HEAD sends no body


def test_pool_after_shutdown_starts_new_threads() -> None:
    pool = WorkerPool(2)
    done = threading.Semaphore(0)
    pool.submit(done.release)
    assert done.acquire(timeout=TIMEOUT)
    old = list(pool.threads)
    pool.shutdown(TIMEOUT)
    assert not any(thread.is_alive() for thread in old)
    pool.submit_many([done.release] * 3)
    for _ in range(3):
        assert done.acquire(timeout=TIMEOUT)
    assert pool.threads and not set(pool.threads) & set(old)
    pool.shutdown(TIMEOUT)


def test_pool_single_submits_all_get_a_thread() -> None:
    # One job per submit, faster than threads start: every job must still get its own thread.
    pool = WorkerPool(5)
    barrier = threading.Barrier(5, timeout=TIMEOUT)
    done = threading.Semaphore(0)

    def job() -> None:
        barrier.wait()
        done.release()

    for _ in range(5):
        pool.submit(job)
    for _ in range(5):
        assert done.acquire(timeout=TIMEOUT)
    pool.shutdown(TIMEOUT)


def test_errors_stream_keeps_each_threads_unfinished_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = LogStream(logging.getLogger("sailfish.test_errors"))
    first_half = threading.Event()
    other_done = threading.Event()

    def other() -> None:
        assert first_half.wait(TIMEOUT)
        stream.write("other line\n")
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with caplog.at_level(logging.ERROR, "sailfish.test_errors"):
        assert stream.write("first ") == 6
        first_half.set()
        assert other_done.wait(TIMEOUT)
        stream.writelines(["half\n", "tail"])
        stream.flush()
        stream.flush()  # nothing left: no empty record
    thread.join(TIMEOUT)
    assert [r.getMessage() for r in caplog.records] == ["other line", "first half", "tail"]
    with pytest.raises(TypeError):
        stream.write(b"bytes")  # type: ignore[arg-type]
