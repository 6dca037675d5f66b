"""The sailfish command line: options and env vars -> Config, exit codes and one-line errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sailfish import cli
from sailfish.__main__ import version_line
from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.server import Server

CLI = [sys.executable, "-c", "import sys; from sailfish.cli import main; sys.exit(main())"]
LIFESPAN_FAILS = (
    "async def app(scope, receive, send):\n"
    "    await receive()\n"
    "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """Replace Server.run: record the config the CLI built instead of serving."""
    configs: list[Config] = []

    def fake_run(self: Server, sockets: Any = None) -> None:
        configs.append(self.config)

    monkeypatch.setattr(Server, "run", fake_run)
    return configs


def test_help_lists_options_and_env_vars() -> None:
    result = CliRunner().invoke(cli.command, ["--help"])
    assert result.exit_code == 0
    for text in (
        "--host",
        "--limit-concurrency",
        "--max-body-size",
        "--header",
        "SAILFISH_PORT",
        "SAILFISH_FORWARDED_ALLOW_IPS",
        "--no-server-header",
    ):
        assert text in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli.command, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == version_line()


def test_defaults_match_config(captured: list[Config]) -> None:
    assert cli.main(["main:app"]) == 0
    (config,) = captured
    expected = Config("main:app")
    assert config.app == "main:app"
    assert config.limits == expected.limits
    assert config.timeouts == expected.timeouts
    assert config.http == expected.http
    assert (config.host, config.port, config.loop, config.lifespan) == (
        "127.0.0.1",
        8000,
        "auto",
        "auto",
    )
    assert config.log_level == "info" and config.access_log and config.proxy_headers


def test_options_reach_the_config(captured: list[Config], tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("A=1\n")
    argv = [
        "pkg.main:make_app",
        "--host",
        "::1",
        "--port",
        "0",
        "--loop",
        "asyncio",
        "--lifespan",
        "on",
        "--interface",
        "asgi2",
        "--factory",
        "--root-path",
        "/api",
        "--no-proxy-headers",
        "--forwarded-allow-ips",
        "10.0.0.0/8,unix:",
        "--timeout-keep-alive",
        "2.5",
        "--timeout-header-read",
        "3",
        "--timeout-graceful-shutdown",
        "7",
        "--limit-concurrency",
        "50",
        "--backlog",
        "64",
        "--max-request-line",
        "4096",
        "--max-header-size",
        "8192",
        "--max-headers",
        "20",
        "--max-body-size",
        "1000000",
        "--max-chunk-ext-size",
        "100",
        "--max-trailer-size",
        "200",
        "--header",
        "X-A: 1",
        "--header",
        "x-b:2",
        "--no-server-header",
        "--no-date-header",
        "--log-level",
        "DEBUG",
        "--no-access-log",
        "--app-dir",
        "src",
        "--env-file",
        str(env),
    ]
    assert cli.main(argv) == 0
    (config,) = captured
    assert config.app == "pkg.main:make_app"
    assert (config.host, config.port, config.loop) == ("::1", 0, "asyncio")
    assert (config.lifespan, config.interface, config.factory) == ("on", "asgi2", True)
    assert config.root_path == "/api"
    assert not config.proxy_headers and config.forwarded_allow_ips == "10.0.0.0/8,unix:"
    assert (config.timeouts.keep_alive, config.timeouts.header_read) == (2.5, 3.0)
    assert config.timeouts.graceful_shutdown == 7.0
    limits = config.limits
    assert (limits.concurrency, limits.backlog, limits.max_request_line) == (50, 64, 4096)
    assert (limits.max_header_size, limits.max_headers, limits.max_body_size) == (8192, 20, 1000000)
    assert (limits.max_chunk_ext_size, limits.max_trailer_size) == (100, 200)
    assert config.http.default_headers == [(b"x-a", b"1"), (b"x-b", b"2")]
    assert not config.http.server_header and not config.http.date_header
    assert config.log_level == "debug" and not config.access_log
    assert config.app_dir == "src" and config.env_file == str(env)


@pytest.mark.posix_only("unix sockets (--uds)")
def test_uds_and_fd(captured: list[Config]) -> None:
    assert cli.main(["m:a", "--uds", "/tmp/x.sock"]) == 0
    assert cli.main(["m:a", "--fd", "3"]) == 0
    assert captured[0].uds == "/tmp/x.sock" and captured[1].fd == 3


def test_env_vars(captured: list[Config], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAILFISH_APP", "env:app")
    monkeypatch.setenv("SAILFISH_PORT", "9001")
    monkeypatch.setenv("SAILFISH_PROXY_HEADERS", "false")
    monkeypatch.setenv("SAILFISH_LIMIT_CONCURRENCY", "5")
    monkeypatch.setenv("SAILFISH_TIMEOUT_KEEP_ALIVE", "1")
    assert cli.main([]) == 0
    (config,) = captured
    assert config.app == "env:app" and config.port == 9001
    assert not config.proxy_headers
    assert config.limits.concurrency == 5 and config.timeouts.keep_alive == 1.0


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["m:a", "--port", "99999"], id="port_out_of_range"),
        pytest.param(["m:a", "--loop", "trio"], id="unknown_loop"),
        pytest.param(["m:a", "--no-such-flag"], id="unknown_flag"),
        pytest.param(["m:a", "--max-headers", "0"], id="zero_limit"),
        pytest.param(["m:a", "--env-file", "/no/such/file"], id="missing_env_file"),
        pytest.param([], id="missing_app"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAILFISH_APP", raising=False)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Error:" in err and "Traceback" not in err


def test_bad_header_is_one_line_exit_2(
    captured: list[Config], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["m:a", "--header", "no colon"]) == 2
    assert capsys.readouterr().err == 'Error: --header "no colon" must be in format "name:value"\n'


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(ConfigError("bad\nthing"), 2, id="config_error"),
        pytest.param(
            StartupError("could not bind to 127.0.0.1:1: permission denied"), 3, id="startup_error"
        ),
    ],
)
def test_library_errors_become_one_line(
    error: Exception,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fake_run(self: Server, sockets: Any = None) -> None:
        raise error

    monkeypatch.setattr(Server, "run", fake_run)
    assert cli.main(["m:a"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: ")
    assert err == "Error: " + " ".join(str(error).split()) + "\n"


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(self: Server, sockets: Any = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Server, "run", fake_run)
    assert cli.main(["m:a"]) == 130


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "Usage: sailfish" in capsys.readouterr().out


# -- real processes ------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30, cwd=cwd)


def test_process_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == version_line()


def test_process_bad_app_path(tmp_path: Path) -> None:
    result = run_cli("sf_no_such_module:app", "--app-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        'Error: could not import module "sf_no_such_module": no module named '
        '"sf_no_such_module" (check the name, the current directory or --app-dir)'
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_process_bad_write_timeout(value: str) -> None:
    result = run_cli("sf_unused:app", "--timeout-write", value)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "--timeout-write" in lines[-1] and "Traceback" not in result.stderr, result.stderr


def test_process_bad_attribute(tmp_path: Path) -> None:
    (tmp_path / "sf_cli_app.py").write_text("async def app(scope, receive, send): pass\n")
    result = run_cli("sf_cli_app:nope", "--app-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        'Error: attribute "nope" not found in module "sf_cli_app"'
    )


@pytest.mark.parametrize(
    ("source", "last_line"),
    [
        pytest.param(
            "import os\n\n\ndef setup():\n    import sf_cli_missing_dependency\n\n\nsetup()\n",
            'Error: importing "sf_cli_broken" raised ModuleNotFoundError: '
            "No module named 'sf_cli_missing_dependency'",
            id="missing_dependency",
        ),
        pytest.param(
            "x = (\n",
            # CPython ends "line 1)", PyPy "lines 1-2)"
            'Error: importing "sf_cli_broken" raised SyntaxError: '
            "'(' was never closed (sf_cli_broken.py, line",
            id="syntax_error",
        ),
    ],
)
def test_process_app_module_that_raises_exits_3_with_its_traceback(
    tmp_path: Path, source: str, last_line: str
) -> None:
    (tmp_path / "sf_cli_broken.py").write_text(source)
    result = run_cli("sf_cli_broken:app", "--app-dir", str(tmp_path))
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(last_line)
    assert [line for line in lines if line.startswith("Error")] == [lines[-1]]
    # The module's own traceback, without click's, sailfish's or importlib's frames.
    assert 'sf_cli_broken.py", line' in result.stderr
    for frame in ("click", "sailfish/", "importlib"):
        assert not [line for line in lines if line.startswith("  File") and frame in line]


def test_process_loop_factory_import_string(tmp_path: Path) -> None:
    (tmp_path / "sf_cli_loop.py").write_text(
        "import asyncio, sys\n"
        "def new_loop():\n"
        "    print('custom loop made', file=sys.stderr)\n"
        "    return asyncio.new_event_loop()\n"
    )
    (tmp_path / "sf_cli_life.py").write_text(LIFESPAN_FAILS)
    # The loop is made before --app-dir is applied, so the factory is found through the cwd.
    argv = ["sf_cli_life:app", "--port", "0", "--loop", "sf_cli_loop:new_loop"]
    result = run_cli(*argv, cwd=tmp_path)
    assert result.returncode == 3, result.stderr  # got as far as the lifespan: the loop ran
    assert "custom loop made" in result.stderr


def test_loop_import_string_reaches_the_config(captured: list[Config]) -> None:
    assert cli.main(["m:a", "--loop", "mypkg.loops:new_loop"]) == 0
    assert captured[0].loop == "mypkg.loops:new_loop"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--loop", "trio"],
            'Error: --loop must be one of auto, uvloop, asyncio or "module:attr", not "trio"',
            id="bad_loop",
        ),
        pytest.param(
            ["--forwarded-allow-ips", "not-an-ip"],
            'Error: --forwarded-allow-ips: "not-an-ip" is not an IP address, a network (CIDR), '
            '"*" or "unix:"',
            id="forwarded_name",
        ),
        pytest.param(
            ["--forwarded-allow-ips", "10.0.0.1, 10.0.0.0/33"],
            'Error: --forwarded-allow-ips: "10.0.0.0/33" is not an IP address, a network (CIDR), '
            '"*" or "unix:"',
            id="forwarded_bad_network",
        ),
        pytest.param(
            ["--log-level", "loud"],
            "Error: --log-level must be one of critical, error, warning, info, debug, trace, "
            'not "loud"',
            id="bad_log_level",
        ),
    ],
)
def test_bad_values_are_one_line_exit_2(
    captured: list[Config], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli.main(["m:a", *argv]) == 2
    assert capsys.readouterr().err == message + "\n"
    assert not captured


def test_bad_env_value_is_one_line_exit_2(
    captured: list[Config], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "proxy.internal")
    assert cli.main(["m:a"]) == 2
    assert '"proxy.internal" is not an IP address' in capsys.readouterr().err


FLASK_APP = "from flask import Flask\napp = Flask(__name__)\n"
WSGI_FUNCTION = (
    "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n"
)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        pytest.param(
            FLASK_APP, "it has a wsgi_app method, as Flask and werkzeug apps do", id="flask"
        ),
        pytest.param(WSGI_FUNCTION, "it takes (environ, start_response)", id="function"),
    ],
)
def test_process_wsgi_app_is_refused(tmp_path: Path, source: str, reason: str) -> None:
    if "flask" in source:
        pytest.importorskip("flask")
    (tmp_path / "sf_cli_wsgi.py").write_text(source)
    result = run_cli("sf_cli_wsgi:app", "--app-dir", str(tmp_path), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: sf_cli_wsgi:app looks like a WSGI application ({reason}); "
        "serve it with --interface wsgi"
    )
    assert "Traceback" not in result.stderr


def test_process_root_only_log_config_receives_sailfish_logs(tmp_path: Path) -> None:
    log_file = tmp_path / "root.log"
    (tmp_path / "logging.json").write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {"plain": {"format": "ROOT %(name)s %(levelname)s %(message)s"}},
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "filename": str(log_file),
                        "formatter": "plain",
                    }
                },
                "root": {"handlers": ["file"], "level": "INFO"},
            }
        )
    )
    (tmp_path / "sf_cli_life.py").write_text(LIFESPAN_FAILS)
    result = run_cli(
        "sf_cli_life:app",
        "--app-dir",
        str(tmp_path),
        "--port",
        "0",
        "--log-config",
        str(tmp_path / "logging.json"),
    )
    assert result.returncode == 3
    logged = log_file.read_text()
    assert "ROOT sailfish.error INFO Started server process" in logged
    assert "ROOT sailfish.error INFO Waiting for application startup." in logged
    assert "Started server process" not in result.stderr  # not the default handler too


def test_process_port_in_use(tmp_path: Path) -> None:
    (tmp_path / "sf_cli_app.py").write_text("async def app(scope, receive, send): pass\n")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = run_cli("sf_cli_app:app", "--app-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert lines == [f"Error: could not bind to 127.0.0.1:{port}: address already in use"]
    assert "Traceback" not in result.stderr


def test_process_bad_option() -> None:
    result = run_cli("m:a", "--port", "eighty")
    assert result.returncode == 2
    assert "Invalid value for '--port'" in result.stderr
    assert "Traceback" not in result.stderr


def test_process_lifespan_failure_exits_3(tmp_path: Path) -> None:
    (tmp_path / "sf_cli_life.py").write_text(LIFESPAN_FAILS)
    result = run_cli("sf_cli_life:app", "--app-dir", str(tmp_path), "--port", "0")
    assert result.returncode == 3
    assert result.stderr.splitlines()[-1] == "Error: application startup failed: no database"
