"""Server configuration: the settings of options.py, plus app loading.

Strategy: `Config` is `options.Settings` (every setting, declared once in the options table,
grouped into `HTTPSettings`, `Limits`, `Timeouts`) plus the application and what `load()`
computes. Creating a Config does no I/O (it only reads env fallbacks such as
FORWARDED_ALLOW_IPS). `validate()` raises `ConfigError` with one readable sentence and is called
before any socket is bound; `load()` reads --env-file, imports the app, applies --factory,
refuses WSGI callables unless --interface wsgi, adapts ASGI 2 or WSGI, sets up the trusted
proxies and stores the result as `loaded_app` (and its interface as `asgi_version`; a WSGI
app's thread-pool runner as `wsgi`). Library code raises; only cli.py exits.
"""

from __future__ import annotations

import inspect
import os
import ssl as ssl_module
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from sailfish.errors import ConfigError
from sailfish.importer import import_from_string
from sailfish.middleware import ASGI2Middleware, ASGIApp, TrustedHosts
from sailfish.options import (
    GROUPS,
    INTERFACE_CHOICES,
    LIFESPAN_CHOICES,
    HTTPSettings,
    Limits,
    Settings,
    Timeouts,
    TLSSettings,
    parse_header,
    split_options,
)
from sailfish.tls import server_context


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
class Config(Settings):
    """Everything the server needs to run one application.

    Every setting is a keyword argument (see `options.Settings` and docs/options.md); only
    the app is positional: `Config("main:app", port=8080)`.

    Attributes:
        app: The application, or its "module:attr" import string.
        ssl: An `ssl.SSLContext` to serve TLS with, built by the caller (instead of the
            `--ssl-*` options; used as it is).
        loaded_app: Set by `load()`: the ASGI 3 callable the protocol calls.
        asgi_version: Set by `load()`: "2.0" for an ASGI 2 app (wrapped in ASGI2Middleware),
            else "3.0"; what `scope["asgi"]["version"]` says.
        trusted_proxies: Set by `load()`: the peers whose proxy headers count, or None.
        ssl_context: Set by `load()`: the context the sockets listen with, or None.
        proxy_protocol_peers: Set by `load()` with `proxy_protocol`: the peers allowed to
            send a PROXY header (`forwarded_allow_ips`), else None.
        wsgi: Set by `load()` with interface "wsgi": the `WSGIRunner` the protocol serves
            the WSGI app with (`loaded_app` is then the same app behind WSGIMiddleware).
        loaded: Whether `load()` has run.
    """

    app: Any
    ssl: ssl_module.SSLContext | None = field(default=None, kw_only=True, repr=False)

    loaded_app: ASGIApp = field(init=False, repr=False, compare=False)
    asgi_version: Literal["2.0", "3.0"] = field(
        init=False, default="3.0", repr=False, compare=False
    )
    trusted_proxies: TrustedHosts | None = field(
        init=False, default=None, repr=False, compare=False
    )
    ssl_context: ssl_module.SSLContext | None = field(
        init=False, default=None, repr=False, compare=False
    )
    proxy_protocol_peers: TrustedHosts | None = field(
        init=False, default=None, repr=False, compare=False
    )
    wsgi: Any = field(init=False, default=None, repr=False, compare=False)
    loaded: bool = field(init=False, default=False, repr=False, compare=False)

    @classmethod
    def from_options(cls, app: Any, **options: Any) -> Config:
        """Build a Config from flat, CLI-style keyword arguments.

        Accepts every option of the table under its flat name (`limit_concurrency`,
        `timeout_keep_alive`, `headers` as "name:value" strings or pairs, ...) and the
        group objects themselves (`http=`, `limits=`, `timeouts=`).

        Raises:
            ConfigError: an unknown option or a malformed header.
        """
        direct, groups = split_options(options)
        for name in direct:
            if name not in cls.__dataclass_fields__ or not cls.__dataclass_fields__[name].init:
                raise ConfigError(f'unknown option "{name}"')
            if name == "app":
                raise ConfigError('unknown option "app"')
        for name, group_cls in GROUPS.items():
            given = direct.pop(name, None)
            direct[name] = given or group_cls(**groups[name])
        return cls(app, **direct)

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
        self.validate_options()
        if self.proxy_protocol and not _entries(self.forwarded_allow_ips):
            raise ConfigError(
                "--proxy-protocol needs --forwarded-allow-ips: the proxies that may send the "
                "header (with none, every connection would be refused)"
            )
        if (
            self.proxy_protocol
            and self.uds is not None
            and not {"unix:", "*"} & set(_entries(self.forwarded_allow_ips))
        ):
            raise ConfigError(
                '--proxy-protocol on --uds needs "unix:" in --forwarded-allow-ips (a peer on '
                "a unix socket has no address; without it every connection would be refused)"
            )
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd cannot be used together")
        if self.uds is not None and sys.platform == "win32":
            raise ConfigError("--uds is not supported on Windows")
        if self.ssl is not None:
            if not isinstance(self.ssl, ssl_module.SSLContext):
                raise ConfigError(f"ssl must be an ssl.SSLContext, not {self.ssl!r}")
            if self.tls.certfile is not None:
                raise ConfigError("ssl (an SSLContext) and --ssl-certfile cannot be used together")

    def load(self) -> None:
        """Import and wrap the application; sets `loaded_app` and `asgi_version`.

        Order: --env-file into os.environ (existing variables win), --app-dir onto sys.path,
        import APP, call it if --factory, refuse a WSGI app unless --interface wsgi, adapt
        ASGI 2 or WSGI, set up the trusted proxies.

        Raises:
            ConfigError: the app cannot be found, is not callable, looks like a factory
                without --factory, or (with --interface auto) looks like a WSGI app.
            AppImportError: the app's module exists but raised while importing (a
                StartupError; the module's exception is its `__cause__`). Exceptions raised
                by the factory propagate unchanged.
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
            if _is_asgi3(app):
                interface = "asgi3"
            elif (reason := _wsgi_reason(app)) is not None:
                raise ConfigError(
                    f"{name} looks like a WSGI application ({reason}); "
                    "serve it with --interface wsgi"
                )
            elif _takes_any_arguments(app):
                raise ConfigError(
                    f"{name} takes *args, so it may be WSGI or ASGI 2; "
                    "serve it with --interface wsgi or --interface asgi2"
                )
            else:
                interface = "asgi2"
        if interface == "asgi2":
            app = ASGI2Middleware(app)
        elif interface == "wsgi":
            # The protocol runs the app through `wsgi`; `loaded_app` is the same app as ASGI
            # (lifespan, and hosts that call the ASGI app), on the same threads.
            from sailfish.protocols import WSGIRunner
            from sailfish.wsgi import WSGIMiddleware
            from sailfish.wsgi.runner import WorkerPool

            pool = WorkerPool(self.wsgi_threads)
            # wsgi.multiprocess: "true if an equivalent application object may be
            # simultaneously invoked by another process" -- PEP 3333 (--workers above 1).
            multiprocess = (self.process.workers or 1) > 1
            self.wsgi = WSGIRunner(app, pool, multiprocess=multiprocess)
            app = WSGIMiddleware(app, pool=pool, multiprocess=multiprocess)
        self.asgi_version = "2.0" if interface == "asgi2" else "3.0"
        # Proxy headers are applied by the protocol, which decides once per connection whether
        # the peer is trusted, instead of a middleware that would ask on every request.
        self.trusted_proxies = (
            TrustedHosts(self.forwarded_allow_ips or []) if self.proxy_headers else None
        )
        self.ssl_context = server_context(self.tls, self.ssl)
        self.proxy_protocol_peers = (
            TrustedHosts(self.forwarded_allow_ips or []) if self.proxy_protocol else None
        )
        self.loaded_app = app
        self.loaded = True


def _entries(value: str | list[str] | None) -> list[str]:
    """The non-empty entries of a comma-separated string or a list."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [item.strip() for item in items if item.strip()]


def _takes_no_arguments(app: Any) -> bool:
    """A plain function or method with no parameters: almost surely an app factory."""
    if not (inspect.isfunction(app) or inspect.ismethod(app)):
        return False
    try:
        return not inspect.signature(app).parameters
    except (TypeError, ValueError):  # pragma: no cover (builtins without signatures)
        return False


# First parameter names of WSGI callables in the wild (PEP 3333 calls them environ and
# start_response; the names are not part of the spec, so either one is enough).
_WSGI_FIRST = frozenset(("environ", "env", "environment", "wsgi_environ", "request_environ"))
_WSGI_SECOND = frozenset(("start_response", "start", "respond", "start_fn"))


def _wsgi_reason(app: Any) -> str | None:
    """Why `app` looks like a WSGI application, or None if it does not.

    Checked only once an app is known not to be ASGI 3: Flask/werkzeug-style objects
    (`wsgi_app`), Django's WSGIHandler, and callables (or classes, PEP 3333 allows them)
    taking two positional parameters named like (environ, start_response). An ASGI 2 app
    takes one (`scope`), so it is never mistaken for one.
    """
    for kind in type(app).__mro__:
        if kind.__name__ == "WSGIHandler" and kind.__module__.startswith("django."):
            return "it is Django's WSGIHandler; use django.core.asgi.get_asgi_application()"
    if not inspect.isclass(app) and callable(getattr(app, "wsgi_app", None)):
        return "it has a wsgi_app method, as Flask and werkzeug apps do"
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # pragma: no cover (builtins without signatures)
        return None
    positional = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [parameter for parameter in positional if parameter.default is parameter.empty]
    if len(positional) < 2 or len(required) > 2:
        return None
    first, second = positional[0].name.lower(), positional[1].name.lower()
    if first in _WSGI_FIRST or second in _WSGI_SECOND:
        return f"it takes ({positional[0].name}, {positional[1].name})"
    if len(required) == 2:
        # An ASGI 2 app is called with the scope alone: two required arguments cannot be one.
        return f"it requires two arguments ({positional[0].name}, {positional[1].name})"
    return None


def _takes_any_arguments(app: Any) -> bool:
    """A sync callable taking *args before any named positional parameter (a decorator's
    wrapper without functools.wraps, say): one argument (ASGI 2) or two (WSGI) both fit."""
    try:
        parameters = list(inspect.signature(app).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover (builtins without signatures)
        return False
    return bool(parameters) and parameters[0].kind is parameters[0].VAR_POSITIONAL


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
    "TLSSettings",
    "Timeouts",
    "load_env_file",
    "parse_header",
]
