"""The options table: Config, the CLI, the docs and the uvicorn/gunicorn mappings agree with it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sailfish import cli, options
from sailfish.config import Config
from sailfish.errors import ConfigError
from sailfish.options import BY_NAME, OPTIONS, from_gunicorn, from_uvicorn

DOCS = Path(__file__).resolve().parents[2] / "docs" / "options.md"


def test_every_setting_is_in_the_table_once() -> None:
    config = Config("m:a")
    stored = {(opt.group, opt.attribute) for opt in OPTIONS}
    top = {
        item.name
        for item in dataclasses.fields(Config)
        if item.init and item.name not in ("app", *options.GROUPS)
    }
    assert {attribute for group, attribute in stored if group is None} == top
    for group, cls in options.GROUPS.items():
        assert isinstance(getattr(config, group), cls)
        fields = {item.name for item in dataclasses.fields(cls)}
        assert {attribute for g, attribute in stored if g == group} == fields
    assert len({opt.display_flag for opt in OPTIONS}) == len(OPTIONS)


def test_defaults_come_from_the_table() -> None:
    config = Config("m:a")
    for opt in OPTIONS:
        holder = config if opt.group is None else getattr(config, opt.group)
        if opt.env_fallback is None:
            assert getattr(holder, opt.attribute) == opt.default, opt.name
        assert opt.help and opt.help.endswith("."), opt.name


def test_table_defaults_are_valid() -> None:
    for opt in OPTIONS:
        opt.check(opt.default)


@pytest.mark.parametrize("opt", OPTIONS, ids=[opt.name for opt in OPTIONS])
def test_every_option_reaches_the_config_through_from_options(opt: Any) -> None:
    samples: dict[str, Any] = {"bool": not opt.default, "int": 7, "float": 7.5, "str": "x"}
    special: dict[str, Any] = {
        "loop": "asyncio",
        "lifespan": "on",
        "interface": "asgi2",
        "root_path": "/x",
        "forwarded_allow_ips": "10.0.0.0/8",
        "log_level": "debug",
        "log_config": "logging.json",
        "headers": ["x-a: 1"],
    }
    value = special.get(opt.name, samples.get(opt.kind))
    config = Config.from_options("m:a", **{opt.name: value})
    holder = config if opt.group is None else getattr(config, opt.group)
    expected = opt.convert(value) if opt.convert else value
    assert getattr(holder, opt.attribute) == expected


def test_help_shows_every_flag_default_and_env_var() -> None:
    result = CliRunner().invoke(cli.command, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for opt in OPTIONS:
        assert opt.cli_flag.split("/")[0] in text
        for name in opt.envvars:
            assert name in text
    assert "[env var: SAILFISH_MAX_REQUEST_LINE; default: 8190]" in text
    assert "default: ($FORWARDED_ALLOW_IPS or 127.0.0.1)" in text
    assert "--loop [auto|uvloop|asyncio|module:attr]" in text


@pytest.mark.skipif(
    not DOCS.is_file(), reason="no source tree here (the tests run next to an installed wheel)"
)
def test_docs_options_md_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == options.render_markdown(), (
        "docs/options.md is stale: regenerate it with "
        "`python -m sailfish.options --markdown docs/options.md`"
    )


def test_markdown_command(tmp_path: Path) -> None:
    out = tmp_path / "options.md"
    command = [sys.executable, "-m", "sailfish.options", "--markdown", str(out)]
    assert subprocess.run(command, timeout=30).returncode == 0
    assert out.read_text(encoding="utf-8") == options.render_markdown()
    assert options.main([]) == 2


# -- validation messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param("*", True, id="star"),
        pytest.param("127.0.0.1,::1", True, id="addresses"),
        pytest.param(" 10.0.0.0/8 , 2001:db8::/32 ", True, id="networks_with_spaces"),
        pytest.param("unix:", True, id="unix_peers"),
        pytest.param(["10.0.0.1", "unix:"], True, id="list"),
        pytest.param("", True, id="empty_trusts_nobody"),
        pytest.param("nope", False, id="name"),
        pytest.param("127.0.0.1,not-an-ip", False, id="one_bad_entry"),
        pytest.param("10.0.0.1/99", False, id="bad_prefix_length"),
        pytest.param(5, False, id="not_a_string"),
    ],
)
def test_forwarded_allow_ips_validation(value: Any, ok: bool) -> None:
    config = Config("m:a", forwarded_allow_ips=value)
    if ok:
        config.validate()
        return
    with pytest.raises(ConfigError, match="--forwarded-allow-ips") as info:
        config.validate()
    if isinstance(value, str):
        bad = [entry.strip() for entry in value.split(",") if entry.strip() != "127.0.0.1"][0]
        assert f'"{bad}" is not an IP address' in str(info.value)


def test_loop_accepts_an_import_string() -> None:
    Config("m:a", loop="mypkg.loops:new_loop").validate()
    for bad in ("trio", "mod:", ":attr", "a b:c"):
        with pytest.raises(ConfigError, match='--loop must be one of .* or "module:attr"'):
            Config("m:a", loop=bad).validate()


def test_bool_and_type_messages() -> None:
    with pytest.raises(ConfigError, match="--access-log must be true or false, not 1"):
        Config("m:a", access_log=1).validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--lifespan must be a string, not None"):
        Config("m:a", lifespan=None).validate()  # type: ignore[arg-type]


# -- uvicorn and gunicorn mappings ---------------------------------------------------------


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    pass


def test_from_uvicorn_reads_a_real_uvicorn_config() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(
        asgi_app,
        log_config=None,
        root_path="/api",
        limit_concurrency=20,
        timeout_keep_alive=3,
        h11_max_incomplete_event_size=4096,
        forwarded_allow_ips="10.0.0.1,unix:",
        proxy_headers=False,
        backlog=128,
        access_log=False,
        timeout_graceful_shutdown=9,
        headers=[["X-Frame-Options", " DENY"], ["x-b", "2"]],
        ws_max_size=1024,
        ws_max_queue=4,
        ws_ping_interval=None,
        ws_ping_timeout=2,
        ws_per_message_deflate=False,
    )
    values = from_uvicorn(config)
    assert values == {
        "root_path": "/api",
        "limit_concurrency": 20,
        "timeout_keep_alive": 3.0,
        "max_header_size": 4096,
        "forwarded_allow_ips": "10.0.0.1,unix:",
        "proxy_headers": False,
        "backlog": 128,
        "access_log": False,
        "timeout_graceful_shutdown": 9.0,
        "headers": [("X-Frame-Options", "DENY"), ("x-b", "2")],
        "ws_max_size": 1024,
        "ws_max_queue": 4,
        "ws_ping_interval": None,
        "ws_ping_timeout": 2.0,
        "ws_per_message_deflate": False,
    }
    ours = Config.from_options(asgi_app, **values)
    ours.validate()
    assert ours.limits.max_header_size == 4096 and ours.limits.concurrency == 20
    assert ours.http.default_headers == [(b"x-frame-options", b"DENY"), (b"x-b", b"2")]
    assert ours.timeouts.graceful_shutdown == 9.0 and not ours.proxy_headers
    assert ours.websocket.max_size == 1024 and ours.websocket.ping_interval is None


def test_from_uvicorn_defaults_keep_sailfish_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    values = from_uvicorn(uvicorn.Config(asgi_app, log_config=None))
    assert "max_header_size" not in values  # h11_max_incomplete_event_size=None
    assert values["root_path"] == "" and values["headers"] == []
    assert values["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert values["timeout_graceful_shutdown"] is None
    config = Config.from_options(asgi_app, **values)
    config.validate()
    assert config.limits.max_header_size == BY_NAME["max_header_size"].default


def test_from_gunicorn_reads_gunicorn_settings() -> None:
    gunicorn_config = pytest.importorskip("gunicorn.config")
    cfg = gunicorn_config.Config()
    cfg.set("keepalive", 7)
    cfg.set("graceful_timeout", 10)
    cfg.set("backlog", 64)
    cfg.set("limit_request_line", 0)  # gunicorn: unlimited -> sailfish's default
    cfg.set("limit_request_fields", 50)
    cfg.set("forwarded_allow_ips", "10.0.0.1")
    values = from_gunicorn(cfg)
    assert values["timeout_keep_alive"] == 7.0
    assert values["timeout_graceful_shutdown"] == 9.0
    assert values["backlog"] == 64 and values["max_headers"] == 50
    assert "max_request_line" not in values
    config = Config.from_options(None, **values)
    assert config.limits.max_request_line == BY_NAME["max_request_line"].default
    assert config.forwarded_allow_ips in ("10.0.0.1", ["10.0.0.1"])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "ws",
            "wsproto",
            '--ws must be one of auto, sailfish, none, not "wsproto"',
            id="ws_choice",
        ),
        pytest.param(
            "ws_max_size", 0, "--ws-max-size must be an integer >= 1, not 0", id="max_size_zero"
        ),
        pytest.param(
            "ws_max_queue", 0, "--ws-max-queue must be an integer >= 1, not 0", id="queue_zero"
        ),
        pytest.param(
            "ws_ping_interval",
            -1,
            "--ws-ping-interval must be >= 0 seconds, not -1",
            id="negative_ping",
        ),
        pytest.param(
            "ws_ping_timeout",
            "x",
            "--ws-ping-timeout must be a number of seconds, not 'x'",
            id="timeout_text",
        ),
    ],
)
def test_websocket_settings_are_validated(name: str, value: Any, message: str) -> None:
    config = Config.from_options("m:a", **{name: value})
    with pytest.raises(ConfigError) as caught:
        config.validate()
    assert str(caught.value) == message


def test_websocket_defaults() -> None:
    settings = Config("m:a").websocket
    assert settings.protocol == "auto" and settings.max_size == 16 * 1024 * 1024
    assert settings.max_queue == 32 and settings.per_message_deflate is False
    assert settings.ping_interval == 20.0 and settings.ping_timeout == 20.0
