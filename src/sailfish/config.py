"""Server configuration: dataclasses grouped by concern, validation, and app loading.

Strategy: `Config` holds every setting; the groups (`HTTPSettings`, `Limits`, `Timeouts`) are
what the protocol reads per connection. Creating a Config does no I/O (it only reads the
FORWARDED_ALLOW_IPS default from the environment). `validate()` raises `ConfigError` with one
readable sentence and is called before any socket is bound; `load()` reads --env-file, imports
the app, applies --factory, adapts ASGI 2, sets up the trusted proxies and stores the
result as `loaded_app`. Library code raises; only cli.py exits.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sailfish.errors import ConfigError
from sailfish.importer import import_from_string
from sailfish.logging import LOG_LEVELS
from sailfish.loops import LOOP_CHOICES
from sailfish.middleware import ASGI2Middleware, ASGIApp, TrustedHosts

LIFESPAN_CHOICES = ("auto", "on", "off")
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2")

# RFC 9110 §5.1: field-name = token; §5.5: field-value has no CR, LF, NUL or other controls.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


def parse_header(text: str) -> tuple[bytes, bytes]:
    """Parse one `--header "name:value"` into a validated (lower-case name, value) pair.

    Raises:
        ConfigError: no colon, a name that is not a token, or a value with control bytes.
    """
    name, sep, value = text.partition(":")
    if not sep:
        raise ConfigError(f'--header "{text}" must be in format "name:value"')
    try:
        pair = (name.strip().lower().encode("latin-1"), value.strip().encode("latin-1"))
    except UnicodeEncodeError:
        raise ConfigError(f'--header "{text}" must be Latin-1 text') from None
    _check_header(*pair)
    return pair


def _check_header(name: bytes, value: bytes) -> None:
    shown = f"{name.decode('latin-1')!r}: {value.decode('latin-1')!r}"
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"--header {shown}: the name must be a non-empty token")
    if not _FIELD_VALUE.fullmatch(value):
        raise ConfigError(f"--header {shown}: the value must not contain CR, LF, NUL or controls")


def load_env_file(path: str) -> dict[str, str]:
    """Read a `KEY=VALUE` file (blank lines and `#` comments skipped, `export ` allowed).

    Values may be wrapped in single or double quotes, which are removed; nothing is expanded.

    Raises:
        ConfigError: the file cannot be read or a line is not `KEY=VALUE`.
    """
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"--env-file {path}: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"--env-file {path}, line {number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


@dataclass
class HTTPSettings:
    """What the server adds to every response.

    Attributes:
        server_header: Send `server: sailfish` unless the app sets its own.
        date_header: Send `date` unless the app sets its own.
        default_headers: Extra (name, value) fields for every response, from `--header`.
    """

    server_header: bool = True
    date_header: bool = True
    default_headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def validate(self) -> None:
        """Raises ConfigError if a default header is not a valid field."""
        for pair in self.default_headers:
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or not all(isinstance(part, bytes) for part in pair)
            ):
                raise ConfigError(f"default header {pair!r} must be a (bytes, bytes) pair")
            _check_header(*pair)


@dataclass
class Limits:
    """Size and count limits; each protects a buffer or the process.

    Attributes:
        max_request_line: Longest request line in bytes (414 beyond).
        max_header_size: Largest header section in bytes (431 beyond).
        max_headers: Most header fields (431 beyond).
        max_body_size: Largest request body in bytes (413 beyond); None for no limit.
        max_chunk_ext_size: Longest chunk extension in bytes (400 beyond).
        max_trailer_size: Largest trailer section in bytes (431 beyond).
        concurrency: Most concurrent connections and tasks before answering 503; None: no limit.
        backlog: The listen backlog.
    """

    max_request_line: int = 8190
    max_header_size: int = 65536
    max_headers: int = 100
    max_body_size: int | None = None
    max_chunk_ext_size: int = 4096
    max_trailer_size: int = 8192
    concurrency: int | None = None
    backlog: int = 2048

    def validate(self) -> None:
        """Raises ConfigError if a limit is not a positive integer (or None where allowed)."""
        for name, flag, minimum, optional in (
            ("max_request_line", "--max-request-line", 1, False),
            ("max_header_size", "--max-header-size", 1, False),
            ("max_headers", "--max-headers", 1, False),
            ("max_body_size", "--max-body-size", 0, True),
            ("max_chunk_ext_size", "--max-chunk-ext-size", 0, False),
            ("max_trailer_size", "--max-trailer-size", 0, False),
            ("concurrency", "--limit-concurrency", 1, True),
            ("backlog", "--backlog", 1, False),
        ):
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{flag} must be an integer >= {minimum}, not {value!r}")


@dataclass
class Timeouts:
    """Deadlines, in seconds.

    Attributes:
        keep_alive: Close an idle keep-alive connection after this long.
        header_read: Close a connection whose request head is not complete after this long.
        graceful_shutdown: On shutdown, cancel what is still running after this long;
            None waits until a second signal.
    """

    keep_alive: float = 5.0
    header_read: float = 10.0
    graceful_shutdown: float | None = None

    def validate(self) -> None:
        """Raises ConfigError if a timeout is negative or not a number."""
        for name, flag, positive, optional in (
            ("keep_alive", "--timeout-keep-alive", False, False),
            ("header_read", "--timeout-header-read", True, False),
            ("graceful_shutdown", "--timeout-graceful-shutdown", False, True),
        ):
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{flag} must be a number of seconds, not {value!r}")
            if value < 0 or (positive and value == 0):
                raise ConfigError(
                    f"{flag} must be {'> 0' if positive else '>= 0'} seconds, not {value!r}"
                )


# Flat option names (the CLI's, as keyword arguments of `run()`) -> (group, attribute).
_GROUPED_OPTIONS: dict[str, tuple[str, str]] = {
    "server_header": ("http", "server_header"),
    "date_header": ("http", "date_header"),
    "headers": ("http", "default_headers"),
    "max_request_line": ("limits", "max_request_line"),
    "max_header_size": ("limits", "max_header_size"),
    "max_headers": ("limits", "max_headers"),
    "max_body_size": ("limits", "max_body_size"),
    "max_chunk_ext_size": ("limits", "max_chunk_ext_size"),
    "max_trailer_size": ("limits", "max_trailer_size"),
    "limit_concurrency": ("limits", "concurrency"),
    "backlog": ("limits", "backlog"),
    "timeout_keep_alive": ("timeouts", "keep_alive"),
    "timeout_header_read": ("timeouts", "header_read"),
    "timeout_graceful_shutdown": ("timeouts", "graceful_shutdown"),
}


def _header_pairs(headers: Iterable[Any]) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    for item in headers:
        if isinstance(item, str):
            pairs.append(parse_header(item))
        elif isinstance(item, tuple | list) and len(item) == 2:
            name, value = (
                part.encode("latin-1") if isinstance(part, str) else part for part in item
            )
            pairs.append((bytes(name).lower(), bytes(value)))
        else:
            raise ConfigError(f'header {item!r} must be "name:value" or a (name, value) pair')
    return pairs


@dataclass
class Config:
    """Everything the server needs to run one application.

    Attributes:
        app: The application, or its "module:attr" import string.
        host: Address to bind (IPv4, IPv6 or a name); ignored with `uds` or `fd`.
        port: TCP port to bind; 0 picks a free one.
        uds: Path of a unix socket to bind instead of host/port.
        fd: An already bound socket's file descriptor to serve on.
        loop: "auto", "uvloop", "asyncio" or "module:attr" (a loop factory).
        lifespan: "auto" (use it if the app supports it), "on" (required) or "off".
        interface: "auto", "asgi3" or "asgi2".
        factory: `app` names a callable returning the application.
        root_path: The ASGI root_path, for apps mounted below a path prefix.
        proxy_headers: Trust Forwarded / X-Forwarded-* from `forwarded_allow_ips`.
        forwarded_allow_ips: Trusted proxies ("*", IPs, networks, "unix:"); None means the
            FORWARDED_ALLOW_IPS environment variable, else "127.0.0.1".
        log_level: Level of the sailfish loggers, or None to keep the configuration's.
        access_log: Log one line per response on `sailfish.access`.
        log_config: A dictConfig dict or a .json/.yaml/.ini file path.
        app_dir: Directory put first on sys.path before importing the app.
        env_file: A KEY=VALUE file loaded into the environment before importing the app
            (variables already set win).
        http: What the server adds to responses.
        limits: Size and count limits.
        timeouts: Deadlines.
        loaded_app: Set by `load()`: the ASGI 3 callable the protocol calls.
    """

    app: Any
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    loop: str = "auto"
    lifespan: str = "auto"
    interface: str = "auto"
    factory: bool = False
    root_path: str = ""
    proxy_headers: bool = True
    forwarded_allow_ips: str | list[str] | None = None
    log_level: str | int | None = "info"
    access_log: bool = True
    log_config: str | dict[str, Any] | None = None
    app_dir: str | None = "."
    env_file: str | None = None
    http: HTTPSettings = field(default_factory=HTTPSettings)
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)

    loaded_app: ASGIApp = field(init=False, repr=False, compare=False)
    trusted_proxies: TrustedHosts | None = field(
        init=False, default=None, repr=False, compare=False
    )
    loaded: bool = field(init=False, default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.forwarded_allow_ips is None:
            self.forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

    @classmethod
    def from_options(cls, app: Any, **options: Any) -> Config:
        """Build a Config from flat, CLI-style keyword arguments.

        Accepts every `Config` field plus the grouped settings under their CLI names
        (`limit_concurrency`, `timeout_keep_alive`, `headers` as "name:value" strings, ...).

        Raises:
            ConfigError: an unknown option or a malformed header.
        """
        groups: dict[str, dict[str, Any]] = {"http": {}, "limits": {}, "timeouts": {}}
        direct: dict[str, Any] = {}
        fields = set(cls.__dataclass_fields__) - {"app", "loaded_app", "loaded"}
        for name, value in options.items():
            if name in _GROUPED_OPTIONS:
                group, attribute = _GROUPED_OPTIONS[name]
                if name == "headers":
                    value = _header_pairs(value or ())
                groups[group][attribute] = value
            elif name in fields:
                direct[name] = value
            else:
                raise ConfigError(f'unknown option "{name}"')
        return cls(
            app,
            http=direct.pop("http", None) or HTTPSettings(**groups["http"]),
            limits=direct.pop("limits", None) or Limits(**groups["limits"]),
            timeouts=direct.pop("timeouts", None) or Timeouts(**groups["timeouts"]),
            **direct,
        )

    @property
    def is_unix_socket(self) -> bool:
        """Whether the server listens on a unix socket path."""
        return self.uds is not None

    def validate(self) -> None:
        """Check every setting; call before binding anything.

        Raises:
            ConfigError: with one sentence naming the option and what is wrong.
        """
        if self.app is None or (isinstance(self.app, str) and not self.app.strip()):
            raise ConfigError("APP is required, for example main:app")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ConfigError(f"--port must be an integer, not {self.port!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, not {self.port}")
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("--host must be a non-empty address or name")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd cannot be used together")
        if self.uds is not None and sys.platform == "win32":  # pragma: no cover
            raise ConfigError("--uds is not supported on Windows")
        if self.fd is not None and (
            isinstance(self.fd, bool) or not isinstance(self.fd, int) or self.fd < 0
        ):
            raise ConfigError(f"--fd must be a non-negative integer, not {self.fd!r}")
        if self.loop not in LOOP_CHOICES and ":" not in self.loop:
            raise ConfigError(
                f'--loop must be one of {", ".join(LOOP_CHOICES)} or "module:attr", '
                f'not "{self.loop}"'
            )
        _check_choice("--lifespan", self.lifespan, LIFESPAN_CHOICES)
        _check_choice("--interface", self.interface, INTERFACE_CHOICES)
        if self.root_path and not self.root_path.startswith("/"):
            raise ConfigError(f'--root-path must start with "/", not "{self.root_path}"')
        if self.root_path.endswith("/"):
            raise ConfigError(f'--root-path must not end with "/": "{self.root_path}"')
        if isinstance(self.log_level, str) and self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(
                f'--log-level must be one of {", ".join(LOG_LEVELS)}, not "{self.log_level}"'
            )
        self.http.validate()
        self.limits.validate()
        self.timeouts.validate()

    def load(self) -> None:
        """Import and wrap the application; sets `loaded_app`.

        Order: --env-file into os.environ (existing variables win), --app-dir onto sys.path,
        import APP, call it if --factory, adapt ASGI 2, set up the trusted proxies.

        Raises:
            ConfigError: the app cannot be found, is not callable, or looks like a factory
                without --factory. Exceptions raised by the app's own import or factory
                propagate unchanged.
        """
        if self.loaded:
            return
        if self.env_file is not None:
            for key, value in load_env_file(self.env_file).items():
                os.environ.setdefault(key, value)
        if self.app_dir is not None:
            app_dir = os.path.abspath(self.app_dir)
            if app_dir not in sys.path:
                sys.path.insert(0, app_dir)

        app = import_from_string(self.app)
        name = self.app if isinstance(self.app, str) else "APP"
        if self.factory:
            if not callable(app):
                raise ConfigError(f"--factory: {name} is not callable")
            app = app()
        elif _takes_no_arguments(app):
            raise ConfigError(f"{name} takes no arguments; if it returns the app, pass --factory")
        if not callable(app):
            raise ConfigError(f"{name} is not an ASGI application (it is not callable)")

        interface = self.interface
        if interface == "auto":
            interface = "asgi3" if _is_asgi3(app) else "asgi2"
        if interface == "asgi2":
            app = ASGI2Middleware(app)
        # Proxy headers are applied by the protocol, which decides once per connection whether
        # the peer is trusted, instead of a middleware that would ask on every request.
        self.trusted_proxies = (
            TrustedHosts(self.forwarded_allow_ips or []) if self.proxy_headers else None
        )
        self.loaded_app = app
        self.loaded = True


def _check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f'{flag} must be one of {", ".join(choices)}, not "{value}"')


def _takes_no_arguments(app: Any) -> bool:
    """A plain function or method with no parameters: almost surely an app factory."""
    if not (inspect.isfunction(app) or inspect.ismethod(app)):
        return False
    try:
        return not inspect.signature(app).parameters
    except (TypeError, ValueError):  # pragma: no cover (builtins without signatures)
        return False


def _is_asgi3(app: Any) -> bool:
    """Whether `app(scope, receive, send)` is a coroutine function (uvicorn's detection)."""
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    if inspect.iscoroutinefunction(app):  # functions, methods, functools.partial
        return True
    if inspect.isfunction(app) or inspect.ismethod(app):
        return False
    return inspect.iscoroutinefunction(type(app).__call__)


__all__ = [
    "Config",
    "HTTPSettings",
    "INTERFACE_CHOICES",
    "LIFESPAN_CHOICES",
    "Limits",
    "Timeouts",
    "load_env_file",
    "parse_header",
]
