"""Logging: logger names, the default configuration, and the formatters.

Strategy: sailfish logs to two loggers, `sailfish.error` (everything about the server: startup,
shutdown, bad requests, app exceptions) and `sailfish.access` (one record per response, emitted
by the protocol with the fields below in `extra`). `configure_logging` applies the default
dictConfig, then the user's `--log-config` (JSON, YAML or ini), then the level. A user config
that names no `sailfish*` logger configures the root logger only: sailfish's loggers then drop
their own handlers and propagate, so the user's handlers get their records. Formatters never
do I/O of their own; colour is used only when the stream is a TTY.

Access record contract (the protocol emits exactly this):
    logging.getLogger("sailfish.access").info('%s - "%s %s HTTP/%s" %d %d %.1fms', client,
        method, path_with_query, http_version, status, size, duration_ms, extra={"client": ...,
        "method": ..., "path": ..., "http_version": ..., "status": ..., "size": ...,
        "duration_ms": ...})
With `--access-log-format` the message is that format's line instead (sailfish.access_format,
logged as "%s"); `extra` is the same.
"""

from __future__ import annotations

import configparser
import datetime
import importlib
import json
import logging
import logging.config
import os
import sys
from copy import deepcopy
from typing import Any, TextIO

from sailfish.errors import ConfigError

ERROR_LOGGER = "sailfish.error"
ACCESS_LOGGER = "sailfish.access"

TRACE_LOG_LEVEL = 5
logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}

# The `extra` fields of an access record, in the order the JSON formatter writes them.
ACCESS_FIELDS = ("client", "method", "path", "http_version", "status", "size", "duration_ms")

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "sailfish.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
        },
        "access": {
            "()": "sailfish.logging.AccessFormatter",
            "fmt": "%(levelprefix)s %(message)s",
        },
    },
    "handlers": {
        "default": {
            "formatter": "default",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "sailfish": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "sailfish.error": {"level": "INFO"},
        "sailfish.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}

_LEVEL_COLOURS = {
    TRACE_LOG_LEVEL: "\x1b[34m",  # blue
    logging.DEBUG: "\x1b[36m",  # cyan
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[91m",  # bright red
}
_RESET = "\x1b[0m"


def _is_tty(stream: TextIO | None) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class DefaultFormatter(logging.Formatter):
    """`INFO:     message` lines; the level is coloured when writing to a TTY.

    Adds `%(levelprefix)s` to the record: the level name, a colon, padded to 9 columns.

    Args:
        fmt: The format string; may use `%(levelprefix)s`.
        datefmt: As for `logging.Formatter`.
        style: As for `logging.Formatter`.
        use_colors: True or False to force colour on or off; None (default) colours only
            when stderr is a TTY.
    """

    stream: TextIO | None = None  # None: sys.stderr at format time

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Any = "%",
        use_colors: bool | None = None,
    ) -> None:
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)
        self.use_colors = use_colors

    def _colours(self) -> bool:
        if self.use_colors is not None:
            return self.use_colors
        return _is_tty(self.stream if self.stream is not None else sys.stderr)

    def formatMessage(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname}:".ljust(9)
        if self._colours():
            colour = _LEVEL_COLOURS.get(record.levelno, "")
            prefix = f"{colour}{record.levelname}{_RESET}:" + " " * max(
                0, 8 - len(record.levelname)
            )
        record.levelprefix = prefix
        return super().formatMessage(record)


class AccessFormatter(DefaultFormatter):
    """The default access-line format; the status code is coloured on a TTY (stdout)."""

    def _colours(self) -> bool:
        if self.use_colors is not None:
            return self.use_colors
        return _is_tty(self.stream if self.stream is not None else sys.stdout)

    def formatMessage(self, record: logging.LogRecord) -> str:
        status = getattr(record, "status", None)
        if isinstance(status, int) and self._colours():
            colour = "\x1b[32m" if status < 400 else "\x1b[33m" if status < 500 else "\x1b[31m"
            record.message = record.message.replace(
                f'" {status} ', f'" {colour}{status}{_RESET} ', 1
            )
        return super().formatMessage(record)


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the access fields.

    `time` is ISO 8601 in UTC with milliseconds. Access records (those carrying the access
    fields in `extra`) also get client, method, path, http_version, status, size and
    duration_ms. A record with an exception gets `exc_info`, the formatted traceback.
    """

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        data: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc_info"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


SAILFISH_LOGGERS = ("sailfish", ERROR_LOGGER, ACCESS_LOGGER)


def _is_sailfish_logger(name: str) -> bool:
    return name == "sailfish" or name.startswith("sailfish.")


def _dict_names_sailfish(config: Any) -> bool:
    loggers = config.get("loggers") if isinstance(config, dict) else None
    return isinstance(loggers, dict) and any(_is_sailfish_logger(str(name)) for name in loggers)


def _ini_names_sailfish(path: str) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
        keys = parser.get("loggers", "keys", fallback="")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return False  # fileConfig reports the error
    for key in (key.strip() for key in keys.split(",")):
        qualname = parser.get(f"logger_{key}", "qualname", fallback="")
        if key and key != "root" and _is_sailfish_logger(qualname.strip()):
            return True
    return False


def _propagate_to_root() -> None:
    """sailfish's loggers hand their records to the root logger's handlers only."""
    for name in SAILFISH_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()  # the defaults, already closed by the user's dictConfig
        logger.propagate = True
        logger.disabled = False  # dictConfig's disable_existing_loggers was not about us


def _load_config_file(path: str) -> bool:
    """Apply a config file; returns whether it configures a sailfish logger."""
    if not os.path.exists(path):
        raise ConfigError(f"--log-config {path}: no such file")
    lower = path.lower()
    try:
        if lower.endswith(".json"):
            with open(path, encoding="utf-8") as file:
                config = json.load(file)
            logging.config.dictConfig(config)
            return _dict_names_sailfish(config)
        elif lower.endswith((".yaml", ".yml")):
            try:
                yaml = importlib.import_module("yaml")
            except ImportError:
                raise ConfigError(
                    f"--log-config {path}: YAML needs PyYAML; "
                    'pip install pyyaml (or pip install "sailfish[standard]")'
                ) from None
            with open(path, encoding="utf-8") as file:
                config = yaml.safe_load(file)
            logging.config.dictConfig(config)
            return _dict_names_sailfish(config)
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
            return _ini_names_sailfish(path)
    except ConfigError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError) as exc:
        raise ConfigError(f"--log-config {path}: {_one_line(exc)}") from exc
    except configparser.Error as exc:
        raise ConfigError(f"--log-config {path}: {_one_line(exc)}") from exc
    except Exception as exc:  # yaml.YAMLError and friends: report, don't crash
        raise ConfigError(f"--log-config {path}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def level_number(level: str | int) -> int:
    """The numeric logging level for a name ("info", "TRACE", ...) or a number.

    Raises:
        ConfigError: an unknown level name.
    """
    if isinstance(level, int):
        return level
    try:
        return LOG_LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(
            f'--log-level must be one of {", ".join(LOG_LEVELS)}, not "{level}"'
        ) from None


def configure_logging(
    log_config: str | dict[str, Any] | None = None,
    log_level: str | int | None = None,
    access_log: bool = True,
) -> None:
    """Configure the sailfish loggers.

    Args:
        log_config: None for the default configuration; a dict for `dictConfig`; or the path
            of a `.json` / `.yaml` / `.yml` file (dictConfig) or any other file (ini, for
            `fileConfig`). The default is applied first, so a user file that configures a
            `sailfish*` logger only needs to say what it changes; one that configures none
            (only the root logger) gets sailfish's records through propagation instead.
        log_level: Level for the sailfish loggers ("info", "debug", ..., or an int); None
            leaves what the configuration says.
        access_log: False silences `sailfish.access` entirely.

    Raises:
        ConfigError: the file is missing or invalid, YAML without PyYAML, or a bad level.
    """
    logging.config.dictConfig(deepcopy(LOGGING_CONFIG))
    names_sailfish = True
    if isinstance(log_config, dict):
        try:
            logging.config.dictConfig(log_config)
        except (ValueError, TypeError, KeyError, AttributeError, ImportError) as exc:
            raise ConfigError(f"--log-config: {_one_line(exc)}") from exc
        names_sailfish = _dict_names_sailfish(log_config)
    elif log_config is not None:
        names_sailfish = _load_config_file(os.fspath(log_config))
    if not names_sailfish:
        _propagate_to_root()

    if log_level is not None:
        number = level_number(log_level)
        for name in SAILFISH_LOGGERS:
            logging.getLogger(name).setLevel(number)
    access = logging.getLogger(ACCESS_LOGGER)
    access.disabled = not access_log


__all__ = [
    "ACCESS_FIELDS",
    "ACCESS_LOGGER",
    "ERROR_LOGGER",
    "LOGGING_CONFIG",
    "LOG_LEVELS",
    "SAILFISH_LOGGERS",
    "TRACE_LOG_LEVEL",
    "AccessFormatter",
    "DefaultFormatter",
    "JSONFormatter",
    "configure_logging",
    "level_number",
]
