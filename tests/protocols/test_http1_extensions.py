"""The ASGI extensions in the HTTP/1.1 protocol: what a connection advertises and what each
extension message puts on the wire, including every error path.

Strategy: most tests run the protocol over the suite's `MockTransport` (no socket, so files go
through the read-and-write fallback); the zero-copy path needs a socket, so those tests connect
the protocol to one end of a real `socket.socketpair()` through the loop's own transport and
read the other end, slowly where flow control is the point. Responses are parsed with h11.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import h11
import pytest
from test_http1 import SIMPLE_GET, connect, make_config, make_state, responses, run, settle

import sailfish.protocols.base as base_module
from sailfish.protocols import HTTPProtocol
from transport import MockTransport
from waiting import until

LINK = b"</style.css>; rel=preload; as=style"
HTTP10_GET = b"GET / HTTP/1.0\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: example.org\r\n\r\n"
TE_GET = b"GET / HTTP/1.1\r\nHost: example.org\r\nTE: trailers\r\n\r\n"


def start(headers: Any = (), **extra: Any) -> dict[str, Any]:
    return {"type": "http.response.start", "status": 200, "headers": list(headers), **extra}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 1024)  # 256 KiB: several read slices
    return path


class Recorder:
    """An app that sends the given messages in order and records what send() raised."""

    def __init__(self, *messages: dict[str, Any], swallow: bool = False) -> None:
        self.messages = messages
        self.swallow = swallow
        self.scopes: list[dict[str, Any]] = []
        self.raised: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        for message in self.messages:
            try:
                await send(message)
            except Exception as exc:
                self.raised.append(exc)
                if not self.swallow:
                    raise
                return


async def serve_mock(app: Any, request: bytes = SIMPLE_GET, **kw: Any) -> MockTransport:
    protocol, transport = await connect(app, **kw)
    protocol.data_received(request)
    await settle(40)
    return transport


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(r.exc_info[1]) for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


# -- what each connection advertises -----------------------------------------------------------


def test_extensions_per_http_version() -> None:
    app = Recorder(start(), {"type": "http.response.body"})

    async def main() -> None:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET + SIMPLE_GET)
        await settle()
        protocol2, _ = await connect(app)
        protocol2.data_received(HTTP10_GET)
        await settle()
        assert len(responses(transport.take())) == 2

    run(main())
    first, second, http10 = app.scopes
    assert set(first["extensions"]) == {
        "http.response.trailers",
        "http.response.early_hint",
        "http.response.pathsend",
        "http.response.zerocopysend",
    }
    assert set(http10["extensions"]) == {"http.response.pathsend", "http.response.zerocopysend"}
    # one dict per connection, shared by its requests; none shared between connections
    assert first["extensions"] is second["extensions"]
    assert first["asgi"] == {"version": "3.0", "spec_version": "2.5"}


# -- early hints -------------------------------------------------------------------------------


def test_early_hints_go_out_at_once_before_the_response() -> None:
    hint = {"type": "http.response.early_hint", "links": [LINK]}
    written: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(hint)
        written.append(transport.take())  # flushed before the app goes on
        await send({**hint, "links": [b"</app.js>; rel=preload; as=script"]})
        await send(start())
        await send({"type": "http.response.body", "body": b"page"})

    async def main() -> None:
        nonlocal transport
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET)
        await settle()
        written.append(transport.take())

    transport: Any = None
    run(main())
    assert written[0] == b"HTTP/1.1 103 Early Hints\r\nlink: " + LINK + b"\r\n\r\n"
    assert written[1].startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </app.js>")
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.receive_data(written[1])
    kinds = [type(client.next_event()).__name__ for _ in range(3)]
    assert kinds == ["InformationalResponse", "Response", "Data"]


def test_early_hint_to_http10_is_dropped_and_the_response_stands() -> None:
    app = Recorder(
        {"type": "http.response.early_hint", "links": [LINK]},
        start(),
        {"type": "http.response.body", "body": b"ok"},
    )
    transport = asyncio.run(serve_mock(app, HTTP10_GET))
    out = bytes(transport.buffer)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"103" not in out
    assert not app.raised


def test_early_hint_with_a_bad_link_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    app = Recorder({"type": "http.response.early_hint", "links": [b"no-brackets"]}, start())
    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    assert responses(bytes(transport.buffer))[0][0].status_code == 500
    assert any("not a link value" in text for text in errors_logged(caplog))


def test_early_hint_after_start_aborts_even_if_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    app = Recorder(
        start(),
        {"type": "http.response.early_hint", "links": [LINK]},
        swallow=True,
    )
    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    assert transport.aborted and b"103" not in transport.buffer
    assert any("early_hint" in text for text in errors_logged(caplog))


# -- trailers ----------------------------------------------------------------------------------


def test_forbidden_trailer_field_after_the_head_aborts(caplog: pytest.LogCaptureFixture) -> None:
    app = Recorder(
        start(trailers=True),
        {"type": "http.response.body", "body": b"x"},
        {"type": "http.response.trailers", "headers": [(b"content-length", b"9")]},
    )
    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    assert transport.aborted
    assert not bytes(transport.buffer).endswith(b"\r\n\r\n")  # the body never ends


def trailers_app() -> Recorder:
    return Recorder(
        start([(b"trailer", b"x-a, x-b")], trailers=True),
        {"type": "http.response.body", "body": b"hello", "more_body": True},
        {"type": "http.response.body", "body": b""},
        {"type": "http.response.trailers", "headers": [(b"x-a", b"1")], "more_trailers": True},
        {"type": "http.response.trailers", "headers": [(b"x-b", b"2")]},
    )


@pytest.mark.parametrize(
    "te", [b"trailers", b"gzip, TRAILERS", b"deflate;q=0.5 ,\ttrailers ,"], ids=repr
)
def test_trailers_go_out_when_the_client_sent_te_trailers(te: bytes) -> None:
    request = b"GET / HTTP/1.1\r\nHost: example.org\r\nTE: %s\r\n\r\n" % te
    data = bytes(asyncio.run(serve_mock(trailers_app(), request)).buffer)
    assert data.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\nx-a: 1\r\nx-b: 2\r\n\r\n")


@pytest.mark.parametrize(
    "request_",
    [SIMPLE_GET, b"GET / HTTP/1.1\r\nHost: example.org\r\nTE: gzip, trailersx\r\n\r\n"],
    ids=["no_te", "te_without_trailers"],
)
def test_trailers_without_te_trailers_are_left_out_quietly(
    request_: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # "The ASGI server will only send the trailing headers in case the client has sent the
    # TE: trailers header in the request." -- ASGI extensions. The fields are still checked,
    # the chunked body still ends, and the connection serves the next request.
    app = trailers_app()

    async def main() -> bytes:
        protocol, transport = await connect(app)
        protocol.data_received(request_ + request_)
        await settle(40)
        return bytes(transport.buffer)

    with caplog.at_level(logging.DEBUG, logger="sailfish.error"):
        data = asyncio.run(main())
    assert data.count(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n") == 2 and b"x-a: 1" not in data
    assert [(r.status_code, body) for r, body in responses(data)] == [(200, b"hello")] * 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_forbidden_trailer_field_is_refused_without_te_trailers_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder(
        start(trailers=True),
        {"type": "http.response.body", "body": b"x"},
        {"type": "http.response.trailers", "headers": [(b"transfer-encoding", b"chunked")]},
    )
    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    assert transport.aborted and errors_logged(caplog)


def test_trailers_of_a_head_response_are_dropped_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request_ = HEAD.replace(b"\r\n\r\n", b"\r\nTE: trailers\r\n\r\n")
    with caplog.at_level(logging.DEBUG, logger="sailfish.error"):
        data = bytes(asyncio.run(serve_mock(trailers_app(), request_)).buffer)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"x-a, x-b\r\n\r\n")
    assert b"hello" not in data and b"transfer-encoding" not in data
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_205_and_its_trailers_go_out_without_content_or_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # RFC 9110 §15.3.6: no content in a 205, so nothing to trail: not the app's mistake
    app = trailers_app()
    app.messages = ({**app.messages[0], "status": 205}, *app.messages[1:])
    request_ = TE_GET + SIMPLE_GET

    async def main() -> MockTransport:
        protocol, transport = await connect(app)
        protocol.data_received(request_)
        await settle(80)
        return transport

    with caplog.at_level(logging.DEBUG, logger="sailfish.error"):
        transport = asyncio.run(main())
    (first, body), (second, body2) = responses(bytes(transport.buffer))
    assert (first.status_code, body) == (205, b"")
    assert [v for n, v in first.headers if n == b"content-length"] == [b"0"]
    assert (second.status_code, body2) == (205, b"")  # the next request: no stray bytes
    assert b"hello" not in transport.buffer
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_trailers_to_http10_are_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    request_ = b"GET / HTTP/1.0\r\nTE: trailers\r\n\r\n"
    with caplog.at_level(logging.WARNING, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(trailers_app(), request_))
    data = bytes(transport.buffer)
    assert data.endswith(b"\r\n\r\nhello") and b"x-a: 1" not in data  # close-delimited
    warnings = [r.getMessage() for r in caplog.records if "trailers dropped" in r.getMessage()]
    assert len(warnings) == 1 and "HTTP/1.0" in warnings[0]


def test_trailers_dropped_with_content_length_log_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder(
        start([(b"content-length", b"1")], trailers=True),
        {"type": "http.response.body", "body": b"x"},
        {"type": "http.response.trailers", "headers": [(b"x-a", b"1")], "more_trailers": True},
        {"type": "http.response.trailers", "headers": [(b"x-b", b"2")]},
    )
    with caplog.at_level(logging.WARNING, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    ((response, body),) = responses(bytes(transport.buffer))
    assert body == b"x" and response.status_code == 200
    warnings = [r.getMessage() for r in caplog.records if "trailers dropped" in r.getMessage()]
    assert len(warnings) == 1 and "Content-Length" in warnings[0]


# -- pathsend ----------------------------------------------------------------------------------


def test_pathsend_sends_the_file_with_its_length(data_file: Path) -> None:
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> MockTransport:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET + SIMPLE_GET)  # the connection stays usable
        await settle(80)
        return transport

    transport = asyncio.run(main())
    (first, body), (second, body2) = responses(bytes(transport.buffer))
    assert (b"content-length", b"262144") in first.headers
    assert body == body2 == data_file.read_bytes()
    assert not app.raised


def test_pathsend_to_http10_and_head(data_file: Path) -> None:
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})
    out10 = bytes(asyncio.run(serve_mock(app, HTTP10_GET)).buffer)
    head, _, body = out10.partition(b"\r\n\r\n")
    assert b"content-length: 262144" in head and body == data_file.read_bytes()
    # RFC 9110 §9.3.2: HEAD gets the fields GET gets, the file's length too, and no body;
    # the connection goes on (a stray body would be read as the next response)
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> MockTransport:
        protocol, transport = await connect(app)
        protocol.data_received(HEAD + SIMPLE_GET)
        await settle(80)
        return transport

    out = bytes(asyncio.run(main()).buffer)
    head, _, rest = out.partition(b"\r\n\r\n")
    assert b"\r\ncontent-length: 262144\r\n" in head + b"\r\n"
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    ((response, body),) = responses(rest)
    assert body == data_file.read_bytes() and not app.raised


@pytest.mark.parametrize(
    ("message", "length"),
    [
        pytest.param({"offset": 10, "count": 100}, b"100", id="count"),
        pytest.param({"offset": 262000}, b"144", id="to_the_end"),
        pytest.param({"count": 100, "more_body": True}, None, id="streamed"),
    ],
)
def test_zerocopysend_to_head_has_the_length_when_it_is_known(
    data_file: Path, message: dict[str, Any], length: bytes | None
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        with open(data_file, "rb") as file:
            await send(start())
            await send({"type": "http.response.zerocopysend", "file": file, **message})
            if message.get("more_body"):
                await send({"type": "http.response.body", "body": b"end"})

    out = bytes(asyncio.run(serve_mock(app, HEAD)).buffer)
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="HEAD", target="/", headers=[("Host", "example.org")]))
    conn.receive_data(out)
    response = conn.next_event()
    assert isinstance(response, h11.Response)
    assert isinstance(conn.next_event(), h11.EndOfMessage)
    assert conn.next_event() is h11.NEED_DATA  # nothing after the head
    lengths = [v for n, v in response.headers if n == b"content-length"]
    assert lengths == ([] if length is None else [length])


def test_pathsend_with_the_apps_content_length(data_file: Path) -> None:
    app = Recorder(
        start([(b"content-length", b"262144")]),
        {"type": "http.response.pathsend", "path": str(data_file)},
    )
    ((response, body),) = responses(bytes(asyncio.run(serve_mock(app)).buffer))
    assert body == data_file.read_bytes()
    assert [v for n, v in response.headers if n == b"content-length"] == [b"262144"]


def bad_paths(tmp_path: Path) -> dict[str, Any]:
    unreadable = tmp_path / "unreadable"
    unreadable.write_bytes(b"secret")
    unreadable.chmod(0)
    if os.access(unreadable, os.R_OK):
        # root reads any file, but not a write-only sysctl: proc checks the mode for root too
        unreadable = Path("/proc/sys/vm/drop_caches")
    return {
        "nul_byte": str(tmp_path / "a\0b"),
        "missing": str(tmp_path / "missing"),
        "directory": str(tmp_path),
        "unreadable": str(unreadable),
        "not_a_str": tmp_path / "missing",
        "content_length_mismatch": None,
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "unreadable",
        "nul_byte",
        "not_a_str",
        "content_length_mismatch",
    ],
)
def test_pathsend_error_before_the_head_is_a_500(
    tmp_path: Path, data_file: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    path = bad_paths(tmp_path)[case]
    headers = []
    if case == "unreadable" and (not os.path.exists(path) or os.access(path, os.R_OK)):
        pytest.skip("running as a user who reads any file, without /proc/sys")
    if case == "content_length_mismatch":
        path, headers = str(data_file), [(b"content-length", b"5")]
    app = Recorder(start(headers), {"type": "http.response.pathsend", "path": path})
    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    ((response, body),) = responses(bytes(transport.buffer))
    assert response.status_code == 500 and not transport.aborted
    assert isinstance(app.raised[0], RuntimeError)
    assert errors_logged(caplog)  # the traceback of the app's error


@pytest.mark.posix_only("named pipes")
def test_pathsend_of_a_fifo_is_a_500_without_waiting_for_a_writer(tmp_path: Path) -> None:
    # A blocking open of a FIFO waits for a writer, and the whole event loop with it. The
    # watchdog opens the writing end after 10 s, so a regression fails instead of hanging.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    released: list[bool] = []

    def release() -> None:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # only if a reader waits
            released.append(True)
        except OSError:
            pass

    watchdog = threading.Timer(10, release)
    watchdog.start()
    try:
        app = Recorder(start(), {"type": "http.response.pathsend", "path": str(fifo)})
        transport = asyncio.run(serve_mock(app))
    finally:
        watchdog.cancel()
    assert not released
    assert responses(bytes(transport.buffer))[0][0].status_code == 500


def test_pathsend_error_swallowed_by_the_app_is_still_a_500(tmp_path: Path) -> None:
    app = Recorder(
        start(), {"type": "http.response.pathsend", "path": str(tmp_path / "x")}, swallow=True
    )
    transport = asyncio.run(serve_mock(app))
    assert responses(bytes(transport.buffer))[0][0].status_code == 500


def test_pathsend_error_after_the_head_aborts(tmp_path: Path) -> None:
    app = Recorder(
        start(),
        {"type": "http.response.body", "body": b"partial", "more_body": True},
        {"type": "http.response.pathsend", "path": str(tmp_path / "missing")},
        swallow=True,
    )
    transport = asyncio.run(serve_mock(app))
    assert transport.aborted
    assert b"partial" in transport.buffer and not transport.buffer.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"7")]], ids=["chunked", "length"])
def test_pathsend_after_body_messages_is_framed_as_one_body(
    tmp_path: Path, headers: list[tuple[bytes, bytes]]
) -> None:
    # The spec says pathsend "cannot be mixed with http.response.body"; an app that does it
    # anyway gets a well-framed response: its bytes, then the file's.
    path = tmp_path / "tail"
    path.write_bytes(b"tail")
    app = Recorder(
        start(headers),
        {"type": "http.response.body", "body": b"", "more_body": True},
        {"type": "http.response.body", "body": b"pre", "more_body": True},
        {"type": "http.response.pathsend", "path": str(path)},
    )

    async def main() -> MockTransport:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET + SIMPLE_GET)
        await settle(80)
        return transport

    transport = asyncio.run(main())
    (first, body), (second, body2) = responses(bytes(transport.buffer))
    assert body == body2 == b"pretail" and not app.raised and not transport.aborted


@pytest.mark.parametrize(
    "late",
    [
        pytest.param({"type": "http.response.pathsend"}, id="pathsend"),
        pytest.param({"type": "http.response.zerocopysend", "file": 0}, id="zerocopysend"),
        pytest.param({"type": "http.response.body", "body": b"late"}, id="body"),
    ],
)
def test_a_message_after_pathsend_is_an_app_error_and_the_response_stands(
    data_file: Path, caplog: pytest.LogCaptureFixture, late: dict[str, Any]
) -> None:
    if late["type"] == "http.response.pathsend":
        late = {**late, "path": str(data_file)}
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)}, late)

    async def main() -> MockTransport:
        protocol, transport = await connect(app)
        protocol.data_received(SIMPLE_GET + SIMPLE_GET)
        await settle(80)
        return transport

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(main())
    (first, body), (second, body2) = responses(bytes(transport.buffer))
    assert body == body2 == data_file.read_bytes() and not transport.aborted
    assert len(app.raised) == 2 and len(errors_logged(caplog)) == 2  # one per request


def test_pathsend_relative_path_is_resolved_like_the_apps_own_open(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The spec asks for an absolute path; Starlette passes FileResponse's path as given, so a
    # relative one is taken against the process's working directory, as the app's os.stat was.
    monkeypatch.chdir(data_file.parent)
    app = Recorder(start(), {"type": "http.response.pathsend", "path": data_file.name})
    ((response, body),) = responses(bytes(asyncio.run(serve_mock(app)).buffer))
    assert response.status_code == 200 and body == data_file.read_bytes()


def test_pathsend_before_start_is_a_500(data_file: Path) -> None:
    app = Recorder({"type": "http.response.pathsend", "path": str(data_file)})
    transport = asyncio.run(serve_mock(app))
    assert responses(bytes(transport.buffer))[0][0].status_code == 500


# -- zerocopysend ------------------------------------------------------------------------------


def test_zerocopysend_offset_count_and_more_body(data_file: Path) -> None:
    content = data_file.read_bytes()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with open(data_file, "rb") as file:
            await send(start())
            await send(
                {
                    "type": "http.response.zerocopysend",
                    "file": file,
                    "offset": 10,
                    "count": 100,
                    "more_body": True,
                }
            )
            file.seek(1000)
            # no offset: from the file's position, which then moves past what was sent
            await send(
                {"type": "http.response.zerocopysend", "file": file, "count": 5, "more_body": True}
            )
            assert file.tell() == 1005
            await send({"type": "http.response.body", "body": b"|", "more_body": True})
            # no count: to the end; a bare descriptor works too
            await send(
                {"type": "http.response.zerocopysend", "file": file.fileno(), "offset": 262000}
            )

    ((response, body),) = responses(bytes(asyncio.run(serve_mock(app)).buffer))
    assert (b"transfer-encoding", b"chunked") in response.headers
    assert body == content[10:110] + content[1000:1005] + b"|" + content[262000:]


@pytest.mark.parametrize("buffering", [-1, 0], ids=["buffered", "raw"])
def test_zerocopysend_starts_at_the_file_objects_own_position(
    data_file: Path, buffering: int
) -> None:
    # A buffered file that returned 10 bytes has read a whole buffer from the descriptor:
    # its position is tell(), and afterwards it reads on from just past what was sent.
    content = data_file.read_bytes()
    after: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with open(data_file, "rb", buffering=buffering) as file:
            assert file.read(10) == content[:10]
            await send(start())
            await send({"type": "http.response.zerocopysend", "file": file, "count": 5})
            after.append(file.read(3))

    ((response, body),) = responses(bytes(asyncio.run(serve_mock(app)).buffer))
    assert body == content[10:15] and after == [content[15:18]]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"file": object()}, id="no_fileno"),
        pytest.param({"file": None}, id="no_file"),
        pytest.param({"file": 10**6}, id="closed_descriptor"),
        pytest.param({"count": -1}, id="negative_count"),
        pytest.param({"offset": "0"}, id="str_offset"),
    ],
)
def test_zerocopysend_bad_message_is_a_500(
    data_file: Path, caplog: pytest.LogCaptureFixture, message: dict[str, Any]
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        with open(data_file, "rb") as file:
            await send(start())
            await send({"type": "http.response.zerocopysend", "file": file, **message})

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    assert responses(bytes(transport.buffer))[0][0].status_code == 500
    assert errors_logged(caplog)


@pytest.mark.parametrize("head_sent", [False, True], ids=["before_the_head", "after_the_head"])
def test_zerocopysend_past_the_end_of_the_file(
    data_file: Path, caplog: pytest.LogCaptureFixture, head_sent: bool
) -> None:
    # The file's size is known before a byte goes out: a 500 while the head is still ours
    # to replace, an abort once it left (never a head promising bytes the file lacks).
    async def app(scope: Any, receive: Any, send: Any) -> None:
        with open(data_file, "rb") as file:
            await send(start([(b"content-length", b"100")] if not head_sent else ()))
            if head_sent:
                await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            await send(
                {"type": "http.response.zerocopysend", "file": file, "offset": 262100, "count": 100}
            )

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport = asyncio.run(serve_mock(app))
    assert transport.aborted is head_sent
    if not head_sent:
        assert responses(bytes(transport.buffer))[0][0].status_code == 500
    assert any("runs past the end of the file" in text for text in errors_logged(caplog))


def test_file_that_shrinks_while_it_is_sent_aborts(
    data_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The head promised the size the file had at the start; when the file is cut short
    # meanwhile, the client must see a broken response, not a short one that looks whole.
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> tuple[PausingTransport, bytes]:
        protocol = HTTPProtocol(make_config(app), make_state(), _loop=asyncio.get_running_loop())
        transport = PausingTransport(limit=4096)
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(SIMPLE_GET)
        await until(lambda: transport.pending > 4096, what="the file to fill the transport")
        os.truncate(data_file, 10000)
        received = b""
        for _ in range(100):
            received += transport.drain()
            await settle(5)
            if transport.aborted:
                break
        return transport, received

    with caplog.at_level(logging.ERROR, logger="sailfish.error"):
        transport, received = asyncio.run(main())
    assert transport.aborted and b"content-length: 262144" in received
    assert len(received.partition(b"\r\n\r\n")[2]) < 262144
    assert any("bytes early" in text for text in errors_logged(caplog))


# -- the read-and-write fallback ---------------------------------------------------------------


class PausingTransport(MockTransport):
    """A transport with a high-water mark: past it the protocol is paused until drained."""

    def __init__(self, limit: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.limit = limit
        self.pending = 0
        self.most_pending = 0

    def write(self, data: Any) -> None:
        super().write(data)
        self.pending += len(data)
        self.most_pending = max(self.most_pending, self.pending)
        if self.pending > self.limit:
            self.protocol.pause_writing()

    def drain(self) -> bytes:
        """The peer reads everything: the protocol may write again."""
        self.pending = 0
        self.protocol.resume_writing()
        return self.take()


@pytest.mark.parametrize("tls", [False, True], ids=["no_socket", "tls"])
def test_fallback_holds_at_most_one_slice_past_the_high_water_mark(
    data_file: Path, monkeypatch: pytest.MonkeyPatch, tls: bool
) -> None:
    def no_sendfile(*args: Any) -> int:
        raise AssertionError("os.sendfile on a connection without a usable socket")

    monkeypatch.setattr(os, "sendfile", no_sendfile, raising=False)
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> bytes:
        protocol = HTTPProtocol(
            make_config(app),
            make_state(),
            _loop=asyncio.get_running_loop(),
        )
        transport = PausingTransport(limit=4096)
        if tls:
            # what a TLS transport shows: its raw socket must not get the plain file
            left, right = socket.socketpair()
            transport.extra.update(socket=left, sslcontext=object())
            transport.get_write_buffer_size = lambda: 0  # type: ignore[attr-defined]
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(SIMPLE_GET)
        received = b""
        for _ in range(200):
            await settle(5)
            received += transport.drain()
            if len(received) > 262144:
                break
        if tls:
            left.close()
            right.close()
        return received

    received = asyncio.run(main())
    ((_, body),) = responses(received)
    assert body == data_file.read_bytes()


def test_fallback_memory_is_bounded_by_flow_control(data_file: Path) -> None:
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> tuple[PausingTransport, int, bytes]:
        protocol = HTTPProtocol(make_config(app), make_state(), _loop=asyncio.get_running_loop())
        transport = PausingTransport(limit=4096)
        transport.protocol = protocol
        protocol.connection_made(transport)
        protocol.data_received(SIMPLE_GET)
        await settle(40)
        stalled = transport.pending  # nobody reads: the protocol waits, nothing piles up
        received = b""
        for _ in range(200):
            received += transport.drain()
            await settle(5)
            if len(received) > 262144:
                break
        return transport, stalled, received

    transport, stalled, received = asyncio.run(main())
    assert 4096 < stalled <= 4096 + base_module.READ_SLICE
    assert transport.most_pending <= 4096 + base_module.READ_SLICE
    assert responses(received)[0][1] == data_file.read_bytes()


# -- zero copy on a real socket ----------------------------------------------------------------


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected TCP sockets on 127.0.0.1: what the server sends files to (macOS's
    sendfile takes no unix socket, which is what socket.socketpair() makes there). Their
    buffers are small, as a socket pair's are, so a few MiB fill them."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.socket()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        theirs.settimeout(5)
        theirs.connect(listener.getsockname()[:2])
        ours, _ = listener.accept()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    return ours, theirs


async def socket_protocol(app: Any) -> tuple[HTTPProtocol, Any, socket.socket]:
    """The protocol on one end of a TCP connection, through the loop's own transport."""
    loop = asyncio.get_running_loop()
    ours, theirs = tcp_pair()
    theirs.setblocking(False)
    protocol = HTTPProtocol(
        make_config(app),
        make_state(),
        _loop=loop,
    )
    transport, _ = await loop.connect_accepted_socket(lambda: protocol, ours)
    return protocol, transport, theirs


async def read_all(sock: socket.socket, size: int | None = None, slow: bool = False) -> bytes:
    """Read `size` bytes, or until EOF; `slow`: a short nap every 16 reads."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    reads = 0
    while size is None or len(data) < size:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        if not chunk:
            break
        data += chunk
        reads += 1
        if slow and reads % 16 == 0:
            await asyncio.sleep(0.001)
    return bytes(data)


@pytest.mark.posix_only("os.sendfile")
def test_zero_copy_after_buffered_writes_keeps_the_order(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_sendfile = os.sendfile

    def counting_sendfile(*args: Any) -> int:
        calls.append(args[3])
        return real_sendfile(*args)

    monkeypatch.setattr(os, "sendfile", counting_sendfile)
    monkeypatch.setattr(base_module, "SENDFILE_SLICE", 50000)  # several slices and yields
    big = bytes(range(7)) * 300000  # more than a socket buffer: the transport keeps some

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start([(b"content-length", b"%d" % (len(big) + 262144))]))
        # no pause: the transport keeps what the socket does not take yet
        protocol.transport.set_write_buffer_limits(high=1 << 24)
        await send({"type": "http.response.body", "body": big, "more_body": True})
        assert protocol.transport.get_write_buffer_size() > 0
        await send({"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> bytes:
        nonlocal protocol
        protocol, transport, peer = await socket_protocol(app)
        protocol.data_received(SIMPLE_GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        with peer:
            return await read_all(peer, slow=True)

    protocol: Any = None
    data = asyncio.run(main())
    ((_, body),) = responses(data)
    assert body == big + data_file.read_bytes()
    assert calls and sum(calls) >= 262144


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_zero_copy_to_a_peer_that_goes_away(data_file: Path, tmp_path: Path) -> None:
    large = tmp_path / "large.bin"
    with open(large, "wb") as file:
        file.truncate(64 << 20)  # sparse: far more than the socket buffers hold
    raised: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        try:
            await send({"type": "http.response.pathsend", "path": str(large)})
        except Exception as exc:
            raised.append(exc)

    async def main() -> None:
        fds_before = len(os.listdir("/proc/self/fd"))
        protocol, transport, peer = await socket_protocol(app)
        protocol.data_received(SIMPLE_GET)
        await read_all(peer, 100000)
        peer.close()
        await until(lambda: raised, what="the app's send() to raise")
        assert isinstance(raised[0], OSError)  # ClientDisconnected
        assert protocol.closing
        await asyncio.sleep(0)
        assert len(os.listdir("/proc/self/fd")) <= fds_before  # the watch descriptor is closed

    asyncio.run(main())


@pytest.mark.posix_only("os.sendfile")
def test_zero_copy_uses_os_sendfile_on_a_plain_socket(data_file: Path) -> None:
    async def main() -> None:
        protocol, transport, peer = await socket_protocol(Recorder())
        assert protocol.file_socket() is not None
        transport.close()
        peer.close()

    asyncio.run(main())


@pytest.mark.posix_only("os.sendfile")
def test_sendfile_refused_for_this_socket_falls_back_to_read_and_write(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing_sendfile(*args: Any) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "sendfile", refusing_sendfile)
    app = Recorder(start(), {"type": "http.response.pathsend", "path": str(data_file)})

    async def main() -> bytes:
        protocol, transport, peer = await socket_protocol(app)
        protocol.data_received(SIMPLE_GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        with peer:
            return await read_all(peer)

    ((_, body),) = responses(asyncio.run(main()))
    assert body == data_file.read_bytes() and not app.raised


def test_writes_during_a_sendfile_wait_for_the_file() -> None:
    # Whatever the connection writes while a file goes out (a 100 Continue, a pipelined
    # response) is collected and flushed after the file, never interleaved with it.
    async def main() -> None:
        protocol, transport = await connect(Recorder())
        protocol.sending_file = True
        protocol.write(b"after", True)
        protocol.flush()
        assert transport.take() == b""
        protocol.sending_file = False
        protocol.flush()
        assert transport.take() == b"after"

    run(main())
