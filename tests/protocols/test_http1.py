"""HTTP/1.1 protocol over the mock transport: one behaviour per test.

The protocol runs over whichever twin is active, so `make test` runs this file once per twin
(compiled leg and SAILFISH_NO_EXTENSIONS=1 leg). The loop is a real asyncio loop; the
transport is the suite's `MockTransport` (tests/transport.py), and deadlines are driven by a
`FakeClock` through a `Ticker` the test ticks itself: no test waits for real time. Responses
are parsed with h11 where the exact bytes do not matter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sailfish.protocols import (
    FEED_SLICE,
    HIGH_WATER,
    MAX_PIPELINE,
    SHUTDOWN_IDLE,
    HTTPProtocol,
    Quirks,
    Ticker,
)
from transport import FakeClock, MockTransport

App = Callable[[Any, Any, Any], Awaitable[None]]

SIMPLE_GET = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"


def make_config(app: App, **overrides: Any) -> SimpleNamespace:
    limits = dict(
        max_request_line=8190,
        max_header_size=65536,
        max_headers=100,
        max_body_size=None,
        max_chunk_ext_size=4096,
        max_trailer_size=8192,
        concurrency=None,
    )
    limits.update(overrides.pop("limits", {}))
    timeouts = dict(keep_alive=5.0, header_read=10.0)
    timeouts.update(overrides.pop("timeouts", {}))
    config = SimpleNamespace(
        loaded_app=app,
        root_path="",
        http=SimpleNamespace(server_header=True, date_header=True, default_headers=[]),
        limits=SimpleNamespace(**limits),
        timeouts=SimpleNamespace(**timeouts),
        access_log=False,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def make_state() -> SimpleNamespace:
    return SimpleNamespace(total_requests=0, connections=set(), tasks=set(), default_headers=[])


async def connect(
    app: App,
    state: SimpleNamespace | None = None,
    app_state: dict[str, Any] | None = None,
    deadlines: Any = None,
    quirks: Any = None,
    **kw: Any,
) -> tuple[HTTPProtocol, MockTransport]:
    protocol = HTTPProtocol(
        make_config(app, **kw),
        state or make_state(),
        app_state,
        _loop=asyncio.get_running_loop(),
        deadlines=deadlines,
        quirks=quirks,
    )
    transport = MockTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


def fake_ticker() -> tuple[Ticker, FakeClock]:
    """A deadline strategy whose clock only the test moves (call `ticker.tick()` after)."""
    clock = FakeClock()
    return Ticker(asyncio.get_running_loop(), interval=3600.0, clock=clock), clock


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def responses(data: bytes, method: bytes = b"GET", count: int | None = None) -> list[Any]:
    """Parse `data` into [(h11.Response, body bytes), ...] as a client would."""
    import h11

    conn = h11.Connection(h11.CLIENT)
    conn.receive_data(data)
    out: list[Any] = []
    while count is None or len(out) < count:
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        response = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return out
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                out.append((response, body))
                break
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            break
        conn.start_next_cycle()
    return out


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def echo_body(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        body += message["body"]
        if not message["more_body"]:
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def header(response: Any, name: bytes) -> bytes | None:
    for key, value in response.headers:
        if key == name:
            return bytes(value)
    return None


# -- the basics ---------------------------------------------------------------------------


def test_get_gets_one_write_with_head_and_body_and_stays_open() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(SIMPLE_GET)
        await settle()
        data = transport.take()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b"\r\n\r\nHello, world!")
        [(response, body)] = responses(data)
        assert header(response, b"content-length") == b"13"
        assert header(response, b"server") == b"sailfish"
        assert header(response, b"date") is not None
        assert not transport.closed

    run(main())


@pytest.mark.parametrize("with_factory", [False, True], ids=["no_factory", "task_factory"])
def test_request_tasks_go_through_the_loops_task_factory_when_it_has_one(
    with_factory: bool,
) -> None:
    # Tasks are made directly for speed, but never around a task factory (tracing tools
    # install one): it is asked for every request task, pipelined ones included.
    made: list[Any] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    async def main() -> None:
        if with_factory:
            asyncio.get_running_loop().set_task_factory(factory)
        protocol, transport = await connect(hello)
        protocol.data_received(SIMPLE_GET * 3)
        await settle()
        assert len(responses(transport.take())) == 3
        assert protocol.direct_tasks is not with_factory
        assert len(made) == (3 if with_factory else 0)

    run(main())


def test_scope_carries_client_server_state_and_root_path() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)
        scope["state"]["mutated"] = True
        await hello(scope, receive, send)

    async def main() -> None:
        app_state = {"db": "conn"}
        protocol, transport = await connect(app, app_state=app_state, root_path="/api")
        protocol.data_received(b"GET /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        await settle()
        [scope] = seen
        assert scope["client"] == ("127.0.0.1", 50000)
        assert scope["server"] == ("127.0.0.1", 8000)
        assert scope["root_path"] == "/api"
        assert scope["path"] == "/api/x"
        assert scope["query_string"] == b"y=1"
        assert scope["state"] == {"db": "conn", "mutated": True}
        assert app_state == {"db": "conn"}, "each request gets a shallow copy"

    run(main())


def test_pipelined_requests_are_answered_in_order() -> None:
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(
            b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /three HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        await settle()
        assert transport.take() == b""  # /two and /three wait for /slow
        release.set()
        await settle()
        bodies = [body for _, body in responses(transport.take())]
        assert bodies == [b"/slow", b"/two", b"/three"]

    run(main())


def test_post_body_reaches_the_app() -> None:
    async def main() -> None:
        protocol, transport = await connect(echo_body)
        protocol.data_received(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello")
        await settle()
        protocol.data_received(b" world")
        await settle()
        [(_, body)] = responses(transport.take())
        assert body == b"hello world"

    run(main())


def test_chunked_body_reaches_the_app_de_chunked() -> None:
    async def main() -> None:
        protocol, transport = await connect(echo_body)
        protocol.data_received(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        await settle()
        [(_, body)] = responses(transport.take())
        assert body == b"hello world"

    run(main())


def test_get_without_body_receives_one_empty_request_message_then_disconnect() -> None:
    messages: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        messages.append(await receive())
        await hello(scope, receive, send)
        messages.append(await receive())

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert messages == [
            {"type": "http.request", "body": b"", "more_body": False},
            {"type": "http.disconnect"},
        ]

    run(main())


def test_head_response_has_no_body() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        await settle()
        data = transport.take()
        assert data.endswith(b"\r\n\r\n")
        assert b"Hello" not in data

    run(main())


# -- keep-alive and close -----------------------------------------------------------------


def test_http10_without_keep_alive_closes_after_the_response() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(b"GET / HTTP/1.0\r\n\r\n")
        await settle()
        assert transport.take().endswith(b"Hello, world!")
        assert transport.closed

    run(main())


def test_http10_keep_alive_is_honoured() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        await settle()
        assert b"connection: keep-alive" in transport.take().lower()
        assert not transport.closed

    run(main())


def test_connection_close_closes_after_the_response() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        await settle()
        [(response, _)] = responses(transport.take())
        assert header(response, b"connection") == b"close"
        assert transport.closed

    run(main())


def test_keep_alive_idle_timeout_closes_the_connection() -> None:
    async def main() -> None:
        ticker, clock = fake_ticker()
        protocol, transport = await connect(hello, deadlines=ticker, timeouts={"keep_alive": 5})
        protocol.data_received(SIMPLE_GET)
        await settle()
        clock.advance(4.9)
        ticker.tick()
        assert not transport.closed
        clock.advance(0.2)
        ticker.tick()
        assert transport.closed
        assert transport.take().endswith(b"Hello, world!")  # no extra bytes on idle close

    run(main())


def test_header_read_timeout_answers_408_and_closes() -> None:
    async def main() -> None:
        ticker, clock = fake_ticker()
        protocol, transport = await connect(hello, deadlines=ticker, timeouts={"header_read": 2})
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: a\r\n")  # head never finishes
        clock.advance(1.5)
        ticker.tick()
        protocol.data_received(b"X-Slow: 1\r\n")  # trickling does not extend the deadline
        assert transport.take() == b""
        clock.advance(0.6)
        ticker.tick()
        assert transport.take().startswith(b"HTTP/1.1 408 ")
        assert transport.closed

    run(main())


def test_header_read_deadline_does_not_cut_a_request_in_flight() -> None:
    async def main() -> None:
        ticker, clock = fake_ticker()
        release = asyncio.Event()

        async def slow(scope: Any, receive: Any, send: Any) -> None:
            await release.wait()
            await hello(scope, receive, send)

        protocol, transport = await connect(
            slow, deadlines=ticker, timeouts={"header_read": 2, "keep_alive": 2}
        )
        protocol.data_received(SIMPLE_GET)
        await settle()
        clock.advance(60)
        ticker.tick()
        assert not transport.closed
        release.set()
        await settle()
        assert transport.take().endswith(b"Hello, world!")
        clock.advance(2.1)  # now idle: the keep-alive deadline runs from the response
        ticker.tick()
        assert transport.closed

    run(main())


# -- graceful shutdown --------------------------------------------------------------------


def test_shutdown_closes_a_connection_idle_for_shutdown_idle_at_once() -> None:
    async def main() -> None:
        ticker, clock = fake_ticker()
        protocol, transport = await connect(hello, deadlines=ticker, timeouts={"keep_alive": 60})
        protocol.data_received(SIMPLE_GET)
        await settle()
        clock.advance(SHUTDOWN_IDLE)
        protocol.shutdown()
        assert transport.closed
        assert transport.take().endswith(b"Hello, world!")  # nothing written on the close

    run(main())


def test_shutdown_answers_the_next_request_of_a_connection_that_just_answered() -> None:
    """A client sending back to back has its next request on the wire: answer it, then close."""

    async def main() -> None:
        ticker, clock = fake_ticker()
        protocol, transport = await connect(hello, deadlines=ticker, timeouts={"keep_alive": 60})
        protocol.data_received(SIMPLE_GET)
        await settle()
        [(first, _)] = responses(transport.take())
        assert header(first, b"connection") is None  # keep-alive
        clock.advance(SHUTDOWN_IDLE / 2)
        protocol.shutdown()
        assert not transport.closed
        protocol.data_received(SIMPLE_GET)
        await settle()
        [(second, body)] = responses(transport.take())
        assert body == b"Hello, world!"
        assert header(second, b"connection") == b"close"
        assert transport.closed

    run(main())


def test_shutdown_idle_zero_closes_every_connection_without_a_request_at_once() -> None:
    """uvicorn's contract (the drop-in's quirk): idle or mid-head, the connection closes."""

    async def main() -> None:
        ticker, _clock = fake_ticker()
        quirks = Quirks(shutdown_idle=0.0)
        protocol, transport = await connect(hello, deadlines=ticker, quirks=quirks)
        protocol.data_received(SIMPLE_GET)
        await settle()
        protocol.shutdown()
        assert transport.closed
        protocol, transport = await connect(hello, deadlines=ticker, quirks=quirks)
        protocol.data_received(SIMPLE_GET[:10])
        protocol.shutdown()
        assert transport.closed

    run(main())


def test_shutdown_lets_a_request_whose_head_is_arriving_finish() -> None:
    async def main() -> None:
        ticker, clock = fake_ticker()
        protocol, transport = await connect(hello, deadlines=ticker)
        protocol.data_received(SIMPLE_GET[:10])
        clock.advance(1.0)
        protocol.shutdown()
        assert not transport.closed
        protocol.data_received(SIMPLE_GET[10:])
        await settle()
        [(response, _)] = responses(transport.take())
        assert header(response, b"connection") == b"close"
        assert transport.closed

    run(main())


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n", 400, id="space_before_colon"
        ),
        pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http2_version"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            id="unknown_coding",
        ),
        pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", 414, id="long_request_line"),
    ],
)
def test_parse_errors_get_their_status_and_close(raw: bytes, status: int) -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(raw)
        await settle()
        data = transport.take()
        assert data.startswith(b"HTTP/1.1 %d " % status)
        assert b"connection: close" in data.lower()
        assert transport.closed

    run(main())


def test_good_request_then_bad_one_gets_200_then_400() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(SIMPLE_GET + b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
        await settle()
        data = transport.take()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.count(b"HTTP/1.1 400 ") == 1
        assert data.index(b"Hello, world!") < data.index(b"HTTP/1.1 400 ")
        assert transport.closed

    run(main())


def test_app_exception_before_start_gives_500_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom")

    async def main() -> None:
        protocol, transport = await connect(app)
        with caplog.at_level(logging.ERROR, logger="sailfish.error"):
            protocol.data_received(SIMPLE_GET)
            await settle()
        assert transport.take().startswith(b"HTTP/1.1 500 ")
        assert transport.closed
        [record] = [r for r in caplog.records if r.name == "sailfish.error"]
        assert record.exc_info is not None and "boom" in str(record.exc_info[1])

    run(main())


def test_app_exception_after_start_aborts_the_connection() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("boom")

    async def main() -> None:
        protocol, transport = await connect(app)
        logging.getLogger("sailfish.error").disabled = True
        try:
            protocol.data_received(SIMPLE_GET)
            await settle()
        finally:
            logging.getLogger("sailfish.error").disabled = False
        assert transport.aborted
        data = transport.take()
        assert b"partial" in data and not data.endswith(b"0\r\n\r\n")

    run(main())


@pytest.mark.parametrize("swallow", [False, True], ids=["raised", "swallowed"])
@pytest.mark.parametrize("body", [b"abc", b"abcdefg", "text"], ids=["short", "long", "not_bytes"])
def test_one_body_message_the_writer_refuses_is_a_500_while_the_head_is_held(
    caplog: pytest.LogCaptureFixture, body: Any, swallow: bool
) -> None:
    # The head waits for the first body message; a final one that breaks the app's
    # Content-Length (RFC 9112 §6.3: exactly that many octets) leaves nothing sent, so the
    # client gets a 500 rather than a silent close, and the app's error is logged.
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        fields = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": fields})
        try:
            await send({"type": "http.response.body", "body": body})
        except RuntimeError as exc:
            raised.append(exc)
            if not swallow:
                raise

    async def main() -> None:
        protocol, transport = await connect(app)
        with caplog.at_level(logging.ERROR, logger="sailfish.error"):
            protocol.data_received(SIMPLE_GET)
            await settle()
        ((response, text),) = responses(transport.take())
        assert response.status_code == 500 and text == b"Internal Server Error"
        assert transport.closed and not transport.aborted
        assert len(raised) == 1
        logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
        assert logged == raised  # once, with the app's traceback

    run(main())


def test_a_body_message_refused_after_the_head_went_out_aborts() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        fields = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": fields})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    async def main() -> None:
        protocol, transport = await connect(app)
        logging.getLogger("sailfish.error").disabled = True
        try:
            protocol.data_received(SIMPLE_GET)
            await settle()
        finally:
            logging.getLogger("sailfish.error").disabled = False
        assert transport.aborted
        data = transport.take()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nabc")

    run(main())


def test_app_returning_without_a_response_gives_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert transport.take().startswith(b"HTTP/1.1 500 ")

    run(main())


def test_app_returning_mid_response_aborts() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert transport.aborted

    run(main())


def test_messages_out_of_order_raise_runtime_error_in_the_app() -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await send({"type": "http.response.body", "body": b"too early"})
        except RuntimeError as exc:
            errors.append(exc)
        await hello(scope, receive, send)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        except RuntimeError as exc:
            errors.append(exc)

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert len(errors) == 2
        assert transport.take().endswith(b"Hello, world!")

    run(main())


def test_header_injection_is_an_app_error_not_bytes_on_the_wire() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nevil: 1")]}
        )

    async def main() -> None:
        protocol, transport = await connect(app)
        logging.getLogger("sailfish.error").disabled = True
        try:
            protocol.data_received(SIMPLE_GET)
            await settle()
        finally:
            logging.getLogger("sailfish.error").disabled = False
        data = transport.take()
        assert data.startswith(b"HTTP/1.1 500 ")
        assert b"evil" not in data

    run(main())


# -- 100-continue -------------------------------------------------------------------------

EXPECT = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"


def test_100_continue_is_sent_when_the_app_asks_for_the_body() -> None:
    async def main() -> None:
        protocol, transport = await connect(echo_body)
        protocol.data_received(EXPECT)
        await settle()
        assert transport.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
        protocol.data_received(b"hello")
        await settle()
        [(_, body)] = responses(transport.take())
        assert body == b"hello"

    run(main())


def test_100_continue_is_not_sent_when_the_app_answers_without_reading() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(EXPECT)
        await settle()
        data = transport.take()
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert b"100 Continue" not in data
        assert transport.closed, "the unread body is not drained: the connection closes"

    run(main())


def test_100_continue_is_never_sent_to_http10() -> None:
    async def main() -> None:
        protocol, transport = await connect(echo_body)
        protocol.data_received(
            b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        await settle()
        assert transport.take() == b""
        protocol.data_received(b"hello")
        await settle()
        assert transport.take().startswith(b"HTTP/1.1 200 OK")

    run(main())


# -- disconnects --------------------------------------------------------------------------


def test_disconnect_mid_body_gives_http_disconnect_and_send_raises_oserror() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        except OSError as exc:
            seen.append(exc)

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
        await settle()
        protocol.connection_lost(None)
        await settle()
        assert seen[0] == {"type": "http.request", "body": b"hello", "more_body": True}
        assert seen[1] == {"type": "http.disconnect"}
        assert isinstance(seen[2], OSError)

    run(main())


def test_receive_after_response_waits_for_disconnect() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})
        seen.append(await receive())

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert seen == [{"type": "http.disconnect"}]

    run(main())


# -- limits and flow control --------------------------------------------------------------


def test_limit_concurrency_answers_503() -> None:
    async def main() -> None:
        state = make_state()
        first, t1 = await connect(hello, state=state, limits={"concurrency": 1})
        second, t2 = await connect(hello, state=state, limits={"concurrency": 1})
        second.data_received(SIMPLE_GET)
        await settle()
        assert t2.take().startswith(b"HTTP/1.1 503 ")

    run(main())


def test_large_body_pauses_reading_until_the_app_reads() -> None:
    gate = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        await echo_body(scope, receive, send)

    async def main() -> None:
        protocol, transport = await connect(app)
        size = 200_000
        protocol.data_received(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size + b"x" * 100_000
        )
        await settle()
        assert transport.read_paused
        gate.set()
        await settle()
        assert not transport.read_paused
        protocol.data_received(b"x" * 100_000)
        await settle()
        [(_, body)] = responses(transport.take())
        assert len(body) == size

    run(main())


def test_send_waits_while_the_transport_is_paused_for_writing() -> None:
    progress: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        progress.append("first sent")
        await send({"type": "http.response.body", "body": b"b", "more_body": False})
        progress.append("done")

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.pause_writing()
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert progress == []
        protocol.resume_writing()
        await settle()
        assert progress == ["first sent", "done"]

    run(main())


def test_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        protocol, transport = await connect(hello, access_log=True)
        protocol.access_log = True
        with caplog.at_level(logging.INFO, logger="sailfish.access"):
            protocol.data_received(b"GET /p?q=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            await settle()
        [record] = [r for r in caplog.records if r.name == "sailfish.access"]
        message = record.getMessage()
        assert message.startswith('127.0.0.1:50000 - "GET /p?q=1 HTTP/1.1" 200 13 ')
        assert record.status == 200  # type: ignore[attr-defined]

    run(main())


# -- coalesced writes ---------------------------------------------------------------------


def test_a_small_response_is_one_write() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert transport.writes == 1

    run(main())


def test_a_response_streamed_in_one_step_is_one_write() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(10):
            await send({"type": "http.response.body", "body": b"part %d" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        [(_, body)] = responses(transport.take())
        assert body == b"".join(b"part %d" % i for i in range(10))
        assert transport.writes == 1

    run(main())


def test_a_streamed_response_with_pauses_goes_out_as_it_is_sent() -> None:
    gate = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await gate.wait()
        await send({"type": "http.response.body", "body": b"second"})

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        assert transport.buffer.endswith(b"5\r\nfirst\r\n"), "sent before the app resumes"
        gate.set()
        await settle()
        assert transport.buffer.endswith(b"6\r\nsecond\r\n0\r\n\r\n")

    run(main())


def test_pipelined_responses_share_writes() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(SIMPLE_GET * 8)
        await settle(60)
        assert len(responses(transport.take())) == 8
        assert transport.writes == 1

    run(main())


def test_a_large_body_is_written_without_waiting_for_the_loop() -> None:
    big = b"x" * (HIGH_WATER + 1)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": big, "more_body": True})
        assert transport.writes == 1, "past the high-water mark the bytes go out at once"
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        nonlocal transport
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        [(_, body)] = responses(transport.take())
        assert body == big

    transport: Any = None
    run(main())


def test_hundreds_of_pipelined_requests_in_one_packet_are_all_answered_in_order() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async def main() -> None:
        protocol, transport = await connect(app)
        count = 600
        protocol.data_received(
            b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(count))
        )
        assert transport.read_paused, "a deep pipeline stops reading"
        for _ in range(count * 3):
            await asyncio.sleep(0)
        bodies = [body for _, body in responses(transport.take())]
        assert bodies == [b"/%d" % i for i in range(count)]
        assert not transport.read_paused, "reading resumes once the pipeline has drained"

    run(main())


def test_a_request_waits_while_the_transport_is_paused_for_writing() -> None:
    started: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.append(scope["path"])
        await hello(scope, receive, send)

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        await settle()
        protocol.pause_writing()  # the client stopped reading
        protocol.data_received(
            b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        await settle()
        assert started == ["/1"], "no app runs while its response could only pile up"
        assert protocol.held
        protocol.resume_writing()
        await settle()
        assert started == ["/1", "/2", "/3"]
        assert len(responses(transport.take())) == 3

    run(main())


def test_a_large_read_of_tiny_requests_is_parsed_only_as_the_pipeline_drains() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        count = 3000  # about 90 KB: several slices
        protocol.data_received(
            b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(count))
        )
        waiting = len(protocol.pipeline)
        assert MAX_PIPELINE <= waiting <= MAX_PIPELINE + FEED_SLICE // 28
        assert protocol.backlog and transport.read_paused
        for _ in range(count * 3):
            await asyncio.sleep(0)
            if protocol.cycle is None and not protocol.pipeline and not protocol.backlog:
                break
        assert len(responses(transport.take())) == count
        assert not protocol.backlog and not transport.read_paused

    run(main())


def test_binary_garbage_without_any_line_end_is_refused_at_once() -> None:
    async def main() -> None:
        protocol, transport = await connect(hello)
        protocol.data_received(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS ClientHello
        await settle()
        assert transport.take().startswith(b"HTTP/1.1 400 ")
        assert transport.closed

    run(main())
