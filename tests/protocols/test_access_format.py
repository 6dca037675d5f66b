"""--access-log-format: the compiled format alone, then through HTTPProtocol over the mock
transport (run once per twin, like test_http1.py), and the gunicorn mapping."""

from __future__ import annotations

import base64
import logging
import os
import re
from typing import Any

import pytest
from test_http1 import connect, run, settle

from sailfish.access_format import ATOMS, AccessFormat, compile_format, escape
from sailfish.config import Config
from sailfish.errors import ConfigError
from sailfish.options import from_gunicorn


def scope(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "client": ("10.0.0.7", 4321),
        "method": "POST",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"k=v",
        "http_version": "1.0",
        "headers": [(b"user-agent", b"first"), (b"user-agent", b"second")],
    }
    base.update(changes)
    return base


def test_compiled_once_into_a_template_and_getters() -> None:
    compiled = compile_format('%(h)s "%(r)s" %%(s)s %(s)s')
    assert compiled is compile_format('%(h)s "%(r)s" %%(s)s %(s)s')  # cached per process
    assert compiled.template == '%s "%s" %%(s)s %s'
    assert len(compiled.getters) == 3
    assert compiled.render(scope(), 201, 0, 0.5) == '10.0.0.7 "POST /a%20b?k=v HTTP/1.0" %(s)s 201'


@pytest.mark.parametrize(
    ("atom", "expected"),
    [
        pytest.param("h", "-", id="no_client"),
        pytest.param("b", "-", id="no_body_is_a_dash"),
        pytest.param("B", "0", id="no_body_is_zero"),
        pytest.param("a", "second", id="last_header_wins"),
        pytest.param("u", "-", id="no_authorization"),
        pytest.param("T", "2", id="whole_seconds"),
        pytest.param("D", "2500000", id="microseconds"),
        pytest.param("M", "2500", id="milliseconds"),
        pytest.param("L", "2.500000", id="decimal_seconds"),
        pytest.param("p", f"<{os.getpid()}>", id="pid"),
        pytest.param("r", "POST /a%20b?k=v HTTP/1.0", id="request_line_as_received"),
    ],
)
def test_atom_edges(atom: str, expected: str) -> None:
    compiled = compile_format(f"%({atom})s")
    assert compiled.render(scope(client=None), 200, 0, 2.5) == expected


@pytest.mark.parametrize(
    ("authorization", "user"),
    [
        pytest.param(b"Basic " + base64.b64encode(b"bob:pw:with:colons"), "bob", id="basic"),
        pytest.param(b"basic " + base64.b64encode(b"bob:pw"), "bob", id="scheme_any_case"),
        pytest.param(b"Bearer abc", "-", id="not_basic"),
        pytest.param(b"Basic !!!not-base64", "-", id="bad_base64"),
        pytest.param(b"Basic " + base64.b64encode(b":pw"), "-", id="empty_user"),
        pytest.param(b"Basic " + base64.b64encode(b"a\nb:pw"), "a\\x0ab", id="escaped_user"),
    ],
)
def test_user_from_basic_authorization(authorization: bytes, user: str) -> None:
    rendered = compile_format("%(u)s").render(
        scope(headers=[(b"authorization", authorization)]), 200, 0, 0.0
    )
    assert rendered == user


def test_escape_leaves_plain_text_and_escapes_the_rest() -> None:
    assert escape("plain text é ÿ €") == "plain text é ÿ €"
    assert escape('a\r\nb\x00\x1b\x7f\x85"\\') == 'a\\x0d\\x0ab\\x00\\x1b\\x7f\\x85\\"\\\\'


def test_every_documented_atom_compiles() -> None:
    for atom in ATOMS:
        name = atom.replace("{name}", "{x-id}")
        assert isinstance(compile_format(f"%({name})s"), AccessFormat)


@pytest.mark.parametrize(
    "text",
    ["%(x)s", "%(h)d", "%(h)", "%(h", "%", "%(h)s%", "%({}i)s", "%({a:b}i)s", "%({x}o)s", "%()s"],
)
def test_bad_formats_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        AccessFormat(text)
    message = str(info.value)
    assert message.startswith(f"--access-log-format {text!r}: ")
    assert "\n" not in message


def test_config_validates_the_format() -> None:
    Config(app=None, access_log_format="%(s)s").validate_options()
    with pytest.raises(ConfigError, match=r"unknown atom %\(nope\)s"):
        Config(app=None, access_log_format="%(nope)s").validate_options()
    with pytest.raises(ConfigError, match="must be a string"):
        Config(app=None, access_log_format=42).validate_options()


# -- through the protocol, over the mock transport ---------------------------------------------


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


def test_protocol_logs_the_compiled_format(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s %(f)s %(a)s '
    text += "%(T)s %(D)s %(M)s %(L)s %(p)s %({x-id}i)s %({SF_MOCK_ENV}e)s"

    async def main() -> None:
        protocol, transport = await connect(hello, access_log=True, access_log_format=text)
        assert protocol.access_format is compile_format(text)
        with caplog.at_level(logging.INFO, logger="sailfish.access"):
            protocol.data_received(
                b"GET /p%0a?q=1 HTTP/1.1\r\nHost: a\r\nReferer: /r\r\nUser-Agent: ua\r\n"
                b"X-ID: 7\r\n\r\n"
            )
            await settle()
        [record] = [r for r in caplog.records if r.name == "sailfish.access"]
        assert re.fullmatch(
            r'127\.0\.0\.1 - - \[[^]]+\] "GET /p%0a\?q=1 HTTP/1\.1" GET /p\\x0a q=1 HTTP/1\.1 '
            r"201 5 5 /r ua \d+ \d+ \d+ \d+\.\d{6} <\d+> 7 from-mock",
            record.getMessage(),
        ), record.getMessage()
        assert record.__dict__["status"] == 201 and record.__dict__["size"] == 5

    monkeypatch.setenv("SF_MOCK_ENV", "from-mock")
    run(main())


def test_protocol_without_a_format_or_access_log_compiles_nothing() -> None:
    async def main() -> None:
        plain, _ = await connect(hello, access_log=True)
        assert plain.access_format is None
        quiet, _ = await connect(hello, access_log=False, access_log_format="%(s)s")
        assert quiet.access_format is None

    run(main())


# -- the gunicorn worker's mapping -----------------------------------------------------------


def test_gunicorn_access_log_format_is_mapped() -> None:
    gunicorn_config = pytest.importorskip("gunicorn.config")
    cfg = gunicorn_config.Config()
    default = from_gunicorn(cfg)["access_log_format"]
    assert default == '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    cfg.set("access_log_format", "%(h)s %(D)s")
    values = from_gunicorn(cfg)
    assert values["access_log_format"] == "%(h)s %(D)s"
    config = Config.from_options(None, **values)
    config.validate_options()
    assert config.access_log_format == "%(h)s %(D)s"
    cfg.set("access_log_format", "%(h)s %({x}o)s")
    with pytest.raises(ConfigError, match="response headers"):
        Config.from_options(None, **from_gunicorn(cfg)).validate_options()
