"""--access-log-format through real sockets (in-process, caplog) and the CLI (a child process)."""

from __future__ import annotations

import base64
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from apps.raw import RawApp
from integ_helpers import Conn, request, wait_for

Serve = Callable[..., Any]

EVERY_ATOM = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s "%(f)s" "%(a)s" '
    "%(T)s %(D)s %(M)s %(L)s %(p)s %({x-request-id}i)s %({SF_ACCESS_TEST}e)s %({absent}i)s "
    "%({SF_ACCESS_ABSENT}e)s 100%%"
)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sailfish.access"]


def test_every_atom_over_a_real_socket(
    serve: Serve, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("SF_ACCESS_TEST", "from-env")
    monkeypatch.delenv("SF_ACCESS_ABSENT", raising=False)
    running = serve(RawApp(), access_log_format=EVERY_ATOM)
    auth = base64.b64encode(b"alice:secret").decode()
    headers = (
        f"Referer: http://ref.example/\r\nUser-Agent: probe/1.0\r\n"
        f"Authorization: Basic {auth}\r\nX-Request-ID: abc-123\r\n"
    ).encode()
    with Conn(running.port) as conn:
        conn.send(
            b"GET /log%20me?x=1&y=2 HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"
            b"GET /empty-agent HTTP/1.0\r\n\r\n"
        )
        body = conn.read_response().body
        second_size = len(conn.read_response().body)
    assert wait_for(lambda: len(access_lines(caplog)) == 2, 3)
    first, second = access_lines(caplog)
    pattern = (
        r"127\.0\.0\.1 - alice \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET /log%20me\?x=1&y=2 HTTP/1\.1" GET /log me x=1&y=2 HTTP/1\.1 200 '
        rf'{len(body)} {len(body)} "http://ref\.example/" "probe/1\.0" '
        rf"(\d+) (\d+) (\d+) (\d+)\.(\d{{6}}) <{os.getpid()}> abc-123 from-env - - 100%"
    )
    match = re.fullmatch(pattern, first)
    assert match, first
    seconds, micros, millis, whole, fraction = (int(part) for part in match.groups())
    assert seconds == whole
    assert millis == micros // 1000
    assert abs(micros - (whole * 1_000_000 + fraction)) <= 1
    # no Authorization, Referer, User-Agent or query: "-" (an empty query stays empty)
    assert second.startswith("127.0.0.1 - - [")
    assert (
        f'] "GET /empty-agent HTTP/1.0" GET /empty-agent  HTTP/1.0 200 {second_size} '
        f'{second_size} "-" "-" '
    ) in second
    assert second.endswith(" - from-env - - 100%")


def test_record_keeps_the_access_fields(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    running = serve(RawApp(), access_log_format="%(s)s %(b)s")
    with Conn(running.port) as conn:
        conn.send(request("GET", "/raise"))
        assert conn.read_response().status == 500  # and the connection closes
    assert wait_for(lambda: len(access_lines(caplog)) == 1, 3)
    with Conn(running.port) as conn:
        conn.send(request("POST", "/echo?q=1", body=b"12345"))
        assert conn.read_response().status == 200
    assert wait_for(lambda: len(access_lines(caplog)) == 2, 3)
    crashed, echoed = (r for r in caplog.records if r.name == "sailfish.access")
    assert crashed.getMessage() == f"500 {crashed.__dict__['size']}"
    assert echoed.getMessage() == "200 5"
    assert echoed.__dict__["path"] == "/echo?q=1" and echoed.__dict__["status"] == 200
    assert echoed.__dict__["duration_ms"] >= 0


def test_client_text_cannot_split_or_forge_a_line(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = serve(RawApp(), access_log_format='%(U)s "%(a)s" "%({x-note}i)s"')
    with Conn(running.port) as conn:
        # %0D%0A decodes to CR LF in scope["path"]; the header has a quote, a backslash, a
        # tab, a C1 control (NEL, \x85) and a printable Latin-1 letter (\xff).
        conn.send(
            b"GET /a%0D%0AINFO:%20forged HTTP/1.1\r\nHost: t\r\n"
            b'User-Agent: x" "y\r\nX-Note: a\\b\tc\x85d\xffe\r\n\r\n'
        )
        assert conn.read_response().status == 200
    assert wait_for(lambda: len(access_lines(caplog)) == 1, 3)
    (line,) = access_lines(caplog)
    assert line == '/a\\x0d\\x0aINFO: forged "x\\" \\"y" "a\\\\b\\x09c\\x85d\xffe"'
    assert "\n" not in line and "\r" not in line


def test_default_line_is_unchanged_without_a_format(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = serve(RawApp())
    with Conn(running.port) as conn:
        conn.send(request("GET", "/plain"))
        conn.read_response()
        client = f"127.0.0.1:{conn.sock.getsockname()[1]}"
    assert wait_for(lambda: len(access_lines(caplog)) == 1, 3)
    assert re.fullmatch(
        rf'{client} - "GET /plain HTTP/1\.1" 200 12 \d+\.\dms', access_lines(caplog)[0]
    )


@pytest.mark.posix_only("SIGTERM to a child (on Windows, send_signal(SIGTERM) kills it)")
def test_format_from_the_environment_in_a_process(serve_process: Callable[..., Any]) -> None:
    process = serve_process(
        "apps.raw:app", env={"SAILFISH_ACCESS_LOG_FORMAT": "custom %(m)s %(U)s %(s)s %(B)s"}
    )
    with Conn(process.port) as conn:
        conn.send(request("GET", "/from-env"))
        assert conn.read_response().status == 200
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0
    lines = [line for line in process.stdout.splitlines() if "/from-env" in line]
    assert lines == ["INFO:     custom GET /from-env 200 15"], process.stdout


CLI = [sys.executable, "-c", "import sys; from sailfish.cli import main; sys.exit(main())"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "%(h)s %(x)s",
            "unknown atom %(x)s (known: h l u t r m U q H s B b f a T D M L p {name}i {name}e)",
            id="unknown_atom",
        ),
        pytest.param("%({x-id)s", "unknown atom %({x-id)s", id="unclosed_brace"),
        pytest.param("%({a b}i)s", "%({a b}i)s: 'a b' is not a header name", id="bad_header"),
        pytest.param(
            "%({x-id}o)s",
            "%({x-id}o)s: response headers ({name}o) are not supported",
            id="response_header",
        ),
        pytest.param("%(s)d", "%(s) must be followed by s, as in %(s)s", id="not_s"),
        pytest.param("%(s", "a lone % at position 0", id="unclosed_paren"),
        pytest.param("100% %(s)s", "a lone % at position 3", id="lone_percent"),
    ],
)
def test_bad_format_exits_2_with_one_line(text: str, message: str) -> None:
    result = subprocess.run(
        [*CLI, "apps.raw:app", "--port", "0", "--access-log-format", text],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: --access-log-format {text!r}: {message}"), lines
