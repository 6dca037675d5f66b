"""Logging through real runs: the access line (caplog, in-process), the default formatters and
the JSON formatter (a child process writing to its own stdout/stderr)."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apps.raw import RawApp
from integ_helpers import Conn, request, wait_for

Serve = Callable[..., Any]


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sailfish.access"]


def test_access_log_line_and_fields(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    running = serve(RawApp())
    with Conn(running.port) as conn:
        client_port = conn.sock.getsockname()[1]
        conn.send(request("GET", "/logged?x=1&y=%20") + request("POST", "/echo", body=b"12345"))
        conn.read_response()
        conn.read_response()
        conn.send(b"GET /old HTTP/1.0\r\n\r\n")
        conn.read_response()
    assert wait_for(lambda: len(access_records(caplog)) == 3, 3)
    first, second, third = access_records(caplog)
    client = f"127.0.0.1:{client_port}"
    assert first.levelno == logging.INFO
    message = first.getMessage()
    assert message.startswith(f'{client} - "GET /logged?x=1&y=%20 HTTP/1.1" 200 23 ')
    assert message.endswith("ms")
    assert first.__dict__["client"] == client
    assert first.__dict__["method"] == "GET"
    assert first.__dict__["path"] == "/logged?x=1&y=%20"
    assert first.__dict__["http_version"] == "1.1"
    assert first.__dict__["status"] == 200
    assert first.__dict__["size"] == len(b"hello /logged?x=1&y=%20")
    assert first.__dict__["duration_ms"] >= 0
    assert second.getMessage().startswith(f'{client} - "POST /echo HTTP/1.1" 200 5 ')
    assert third.getMessage().startswith(f'{client} - "GET /old HTTP/1.0" 200 10 ')


def test_default_line_escapes_a_decoded_path(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    # The path is percent-decoded: a client's %0D%0A must not split the line or forge another.
    caplog.set_level(logging.DEBUG)
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/a%0D%0A127.0.0.1:1%20-%20%22GET%20/forged"))
        conn.read_response()
        conn.send(request("GET", "/caf%C3%A9"))  # printable non-ASCII stays as it is
        conn.read_response()
    assert wait_for(lambda: len(access_records(caplog)) == 2, 3)
    forged, plain = (record.getMessage() for record in access_records(caplog))
    assert "\r" not in forged and "\n" not in forged
    assert '"GET /a\\x0d\\x0a127.0.0.1:1 - \\"GET /forged HTTP/1.1" 200 ' in forged
    assert '"GET /café HTTP/1.1" 200 ' in plain


def test_access_log_for_errors_and_disabled(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/raise"))
        assert conn.read_response().status == 500
    assert any(
        r.name == "sailfish.error" and r.getMessage() == "Exception in ASGI application"
        for r in caplog.records
    )
    # the 500 the server answered for the crashed app is a response like any other
    assert wait_for(
        lambda: [r.__dict__.get("status") for r in access_records(caplog)] == [500], 2
    ), [r.getMessage() for r in access_records(caplog)]
    caplog.clear()
    quiet = serve(RawApp(), access_log=False)
    with Conn(quiet.port) as conn:
        conn.send(request("GET", "/quiet"))
        assert conn.read_response().status == 200
    assert access_records(caplog) == []


def test_invalid_request_is_logged_as_a_warning(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(b"GET / HTTP/1.1\r\n\r\n")  # no Host
        assert conn.read_response().status == 400
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "sailfish.error" and r.levelno == logging.WARNING
    ]
    # The message names the reason, not the parser stage that found it.
    assert any(
        m.startswith("Invalid HTTP request from 127.0.0.1:")
        and m.endswith(": missing Host (required in HTTP/1.1) (400)")
        for m in warnings
    )


@pytest.mark.parametrize(
    ("sent", "status", "reason"),
    [
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
            413,
            "request body too large (Content-Length 1001 > limit 1000)",
            id="body_too_large",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n",
            431,
            "header section too large (limit 1024 bytes)",
            id="header_section_too_large",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(11)),
            431,
            "too many header fields (limit 10)",
            id="too_many_fields",
        ),
    ],
)
def test_rejections_are_logged_with_their_reason(
    serve: Serve, caplog: pytest.LogCaptureFixture, sent: bytes, status: int, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    running = serve(RawApp(), max_body_size=1000, max_header_size=1024, max_headers=10)
    with Conn(running.port) as conn:
        conn.send(sent)
        assert conn.read_response().status == status
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "sailfish.error" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and warnings[0].endswith(f": {reason} ({status})"), warnings


def stop(process: Any) -> None:
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0


@pytest.mark.posix_only("SIGTERM to a child (on Windows, send_signal(SIGTERM) kills it)")
def test_default_formatters_in_a_real_process(serve_process: Callable[..., Any]) -> None:
    process = serve_process("apps.raw:app")
    with Conn(process.port) as conn:
        conn.send(request("GET", "/from-process?q=1"))
        assert conn.read_response().status == 200
        client = f"127.0.0.1:{conn.sock.getsockname()[1]}"
    stop(process)
    # access lines on stdout, the rest on stderr; no colours: neither is a TTY
    access = [line for line in process.stdout.splitlines() if "/from-process" in line]
    assert len(access) == 1, process.stdout
    assert access[0].startswith(f'INFO:     {client} - "GET /from-process?q=1 HTTP/1.1" 200 ')
    assert "\x1b[" not in process.stdout + process.stderr
    assert f"INFO:     Listening on http://127.0.0.1:{process.port} (Press CTRL+C to quit)" in (
        process.stderr
    )
    assert "/from-process" not in process.stderr


@pytest.mark.posix_only("SIGTERM to a child (on Windows, send_signal(SIGTERM) kills it)")
def test_json_formatter_in_a_real_process(
    serve_process: Callable[..., Any], tmp_path: Path
) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "sailfish.logging.JSONFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "sailfish": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "sailfish.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
        },
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    process = serve_process("apps.raw:app", "--log-config", str(path))
    with Conn(process.port) as conn:
        conn.send(request("POST", "/echo?json=1", body=b"abc"))
        assert conn.read_response().status == 200
        conn.send(request("GET", "/raise"))
        assert conn.read_response().status == 500
    stop(process)
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert process.stdout == ""
    access = [r for r in records if r["logger"] == "sailfish.access"]
    assert access
    assert access[0]["method"] == "POST"
    assert access[0]["path"] == "/echo?json=1"
    assert access[0]["status"] == 200
    assert access[0]["size"] == 3
    assert access[0]["http_version"] == "1.1"
    assert access[0]["client"].startswith("127.0.0.1:")
    assert isinstance(access[0]["duration_ms"], float)
    assert access[0]["level"] == "INFO"
    assert access[0]["time"].endswith("Z")
    errors = [r for r in records if r["message"] == "Exception in ASGI application"]
    assert len(errors) == 1
    assert errors[0]["level"] == "ERROR"
    assert "Traceback (most recent call last)" in errors[0]["exc_info"]
    assert "ValueError" in errors[0]["exc_info"]
    assert any(r["message"].startswith("Listening on http://127.0.0.1:") for r in records)
