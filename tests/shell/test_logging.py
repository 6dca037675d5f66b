"""Logging: default config, formatters (plain, colour, JSON), --log-config files, levels."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sailfish.errors import ConfigError
from sailfish.logging import (
    ACCESS_LOGGER,
    ERROR_LOGGER,
    SAILFISH_LOGGERS,
    TRACE_LOG_LEVEL,
    AccessFormatter,
    DefaultFormatter,
    JSONFormatter,
    configure_logging,
    level_number,
)

ACCESS_EXTRA = {
    "client": "127.0.0.1:50000",
    "method": "GET",
    "path": "/items?id=1",
    "http_version": "1.1",
    "status": 404,
    "size": 9,
    "duration_ms": 1.25,
}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging()  # back to the defaults for the next test


def access_record(logger_name: str = ACCESS_LOGGER) -> logging.LogRecord:
    """An access record built exactly as the protocol emits it."""
    logger = logging.getLogger(logger_name)
    e = ACCESS_EXTRA
    return logger.makeRecord(
        logger_name,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d %d %.1fms',
        (
            e["client"],
            e["method"],
            e["path"],
            e["http_version"],
            e["status"],
            e["size"],
            e["duration_ms"],
        ),
        None,
        extra=dict(ACCESS_EXTRA),
    )


def test_access_line_format() -> None:
    formatter = AccessFormatter("%(levelprefix)s %(message)s", use_colors=False)
    assert formatter.format(access_record()) == (
        'INFO:     127.0.0.1:50000 - "GET /items?id=1 HTTP/1.1" 404 9 1.2ms'
    )


def test_access_line_colours_status() -> None:
    formatter = AccessFormatter("%(message)s", use_colors=True)
    assert '" \x1b[33m404\x1b[0m 9' in formatter.format(access_record())


def test_default_formatter_plain_and_colour() -> None:
    record = logging.LogRecord(ERROR_LOGGER, logging.WARNING, __file__, 1, "careful", None, None)
    plain = DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False)
    assert plain.format(record) == "WARNING:  careful"
    colour = DefaultFormatter("%(levelprefix)s %(message)s", use_colors=True)
    assert colour.format(record) == "\x1b[33mWARNING\x1b[0m:  careful"


def test_colour_only_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    record = logging.LogRecord(ERROR_LOGGER, logging.INFO, __file__, 1, "hi", None, None)
    formatter = DefaultFormatter("%(levelprefix)s %(message)s")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert "\x1b[" not in formatter.format(record)

    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", TTY())
    assert "\x1b[32mINFO\x1b[0m" in formatter.format(record)


def test_json_formatter_access_record() -> None:
    line = JSONFormatter().format(access_record())
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "INFO"
    assert data["logger"] == ACCESS_LOGGER
    assert data["message"] == '127.0.0.1:50000 - "GET /items?id=1 HTTP/1.1" 404 9 1.2ms'
    assert data["time"].endswith("Z") and "T" in data["time"]
    for key, value in ACCESS_EXTRA.items():
        assert data[key] == value
    assert list(data) == ["time", "level", "logger", "message", *ACCESS_EXTRA]


def test_json_formatter_plain_record_and_exception() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            ERROR_LOGGER, logging.ERROR, __file__, 1, "oops %s", ("x",), sys.exc_info()
        )
    line = JSONFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "oops x"
    assert "client" not in data
    assert "ValueError: bad" in data["exc_info"]


def test_default_config_levels_and_handlers() -> None:
    configure_logging()
    assert logging.getLogger("sailfish").handlers
    assert logging.getLogger(ACCESS_LOGGER).handlers
    assert logging.getLogger(ERROR_LOGGER).getEffectiveLevel() == logging.INFO
    configure_logging(log_level="debug")
    assert logging.getLogger(ERROR_LOGGER).getEffectiveLevel() == logging.DEBUG
    configure_logging(log_level="trace")
    assert logging.getLogger(ACCESS_LOGGER).level == TRACE_LOG_LEVEL


def test_access_log_off_and_back_on() -> None:
    configure_logging(access_log=False)
    assert logging.getLogger(ACCESS_LOGGER).disabled
    configure_logging(access_log=True)
    assert not logging.getLogger(ACCESS_LOGGER).disabled


def test_level_number() -> None:
    assert level_number("WARNING") == logging.WARNING
    assert level_number(15) == 15
    with pytest.raises(ConfigError, match="--log-level must be one of"):
        level_number("loud")


def json_config(stream_path: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "sailfish.logging.JSONFormatter"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(stream_path),
                "formatter": "json",
            }
        },
        "loggers": {"sailfish.access": {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }


def emit_access() -> None:
    e = ACCESS_EXTRA
    logging.getLogger(ACCESS_LOGGER).info(
        '%s - "%s %s HTTP/%s" %d %d %.1fms',
        e["client"],
        e["method"],
        e["path"],
        e["http_version"],
        e["status"],
        e["size"],
        e["duration_ms"],
        extra=dict(ACCESS_EXTRA),
    )


def close_handlers() -> None:
    for handler in logging.getLogger(ACCESS_LOGGER).handlers:
        handler.close()


def test_log_config_json_file(tmp_path: Path) -> None:
    out = tmp_path / "access.log"
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(json_config(out)))
    configure_logging(str(path))
    emit_access()
    close_handlers()
    assert json.loads(out.read_text())["status"] == 404


def test_log_config_yaml_file(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    out = tmp_path / "access.log"
    path = tmp_path / "logging.yaml"
    path.write_text(yaml.safe_dump(json_config(out)))
    configure_logging(str(path))
    emit_access()
    close_handlers()
    assert json.loads(out.read_text())["path"] == "/items?id=1"


def test_log_config_yaml_without_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "logging.yml"
    path.write_text("version: 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail
    with pytest.raises(ConfigError, match="pip install pyyaml"):
        configure_logging(str(path))


def test_log_config_ini_file(tmp_path: Path) -> None:
    out = tmp_path / "access.log"
    path = tmp_path / "logging.ini"
    path.write_text(
        "[loggers]\nkeys=root,access\n\n"
        "[handlers]\nkeys=file\n\n"
        "[formatters]\nkeys=json\n\n"
        "[logger_root]\nlevel=WARNING\nhandlers=\n\n"
        "[logger_access]\nlevel=INFO\nhandlers=file\npropagate=0\nqualname=sailfish.access\n\n"
        f"[handler_file]\nclass=FileHandler\nformatter=json\nargs=({str(out)!r},)\n\n"
        "[formatter_json]\nclass=sailfish.logging.JSONFormatter\n"
    )
    configure_logging(str(path))
    emit_access()
    close_handlers()
    assert json.loads(out.read_text())["method"] == "GET"


def test_log_config_dict() -> None:
    configure_logging(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "loggers": {"sailfish.error": {"level": "ERROR"}},
        }
    )
    assert logging.getLogger(ERROR_LOGGER).level == logging.ERROR


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        # the json module's own words follow (CPython: "Expecting ...", PyPy: "Key name ...")
        pytest.param("bad.json", "{not json", "--log-config .*bad.json: [A-Z]\\w+ ", id="json"),
        pytest.param("bad.ini", "[nothing]\n", "--log-config .*bad.ini", id="ini"),
        pytest.param(
            "bad.yaml",
            "version: 1\nhandlers: {h: {class: nope.Nope}}\n",
            "--log-config .*bad.yaml",
            id="yaml_bad_class",
        ),
    ],
)
def test_log_config_errors_are_one_line(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        configure_logging(str(path))
    assert "\n" not in str(info.value)


def test_log_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        configure_logging(str(tmp_path / "nope.json"))


def test_log_config_bad_dict() -> None:
    with pytest.raises(ConfigError, match="--log-config"):
        configure_logging({"version": 99})


# -- a user config that configures only the root logger --------------------------------------


def root_only(out: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(name)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(out), "formatter": "plain"}
        },
        "root": {"handlers": ["file"], "level": "INFO"},
    }


def close_root_handlers() -> None:
    for handler in logging.getLogger().handlers:
        handler.close()
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("form", ["dict", "json", "ini"])
def test_root_only_config_gets_sailfish_records(tmp_path: Path, form: str) -> None:
    out = tmp_path / "root.log"
    config: Any = root_only(out)
    if form == "json":
        path = tmp_path / "logging.json"
        path.write_text(json.dumps(config))
        config = str(path)
    elif form == "ini":
        path = tmp_path / "logging.ini"
        path.write_text(
            "[loggers]\nkeys=root\n\n[handlers]\nkeys=file\n\n[formatters]\nkeys=plain\n\n"
            "[logger_root]\nlevel=INFO\nhandlers=file\n\n"
            f"[handler_file]\nclass=FileHandler\nformatter=plain\nargs=({str(out)!r},)\n\n"
            "[formatter_plain]\nformat=%(name)s %(message)s\n"
        )
        config = str(path)
    try:
        configure_logging(config, "info")
        for name in SAILFISH_LOGGERS:
            logger = logging.getLogger(name)
            assert logger.handlers == [] and logger.propagate and not logger.disabled
        logging.getLogger(ERROR_LOGGER).info("to the root file")
        emit_access()
    finally:
        close_root_handlers()
    lines = out.read_text().splitlines()
    assert lines[0] == "sailfish.error to the root file"
    assert lines[1].startswith("sailfish.access 127.0.0.1:50000 - ")


def test_config_naming_a_sailfish_logger_keeps_the_defaults(tmp_path: Path) -> None:
    configure_logging(json_config(tmp_path / "access.log"))
    close_handlers()
    sailfish = logging.getLogger("sailfish")
    assert sailfish.handlers and sailfish.propagate is False
