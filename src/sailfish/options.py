"""Every setting of the server, declared once: the options table.

Strategy: each setting is one typed dataclass field whose default is `option(...)`: the field
gives its attribute name, type and default; `option()` adds the flat name (`Config.from_options`
keyword and CLI parameter), help, CLI flag, validation (range, choices, or a validator), extra
environment variables, and where the uvicorn and gunicorn drop-ins read it from. `Settings` holds
the top-level fields and one field per group (`HTTPSettings`, `Limits`, `Timeouts`); `OPTIONS` is
the flat table collected from them. Config (config.py), the click CLI (cli.py), docs/options.md
(`python -m sailfish.options --markdown docs/options.md`), `from_uvicorn` and `from_gunicorn`
all derive from it, so a new setting is one field here. Nothing here imports click or binds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, overload

from sailfish.access_format import ATOMS, compile_format
from sailfish.errors import ConfigError
from sailfish.logging import LOG_LEVELS
from sailfish.loops import LOOP_CHOICES
from sailfish.middleware import parse_trusted_entry

T = TypeVar("T")

LIFESPAN_CHOICES = ("auto", "on", "off")
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2", "wsgi")
WSGI_THREADS = 10
WS_CHOICES = ("auto", "sailfish", "none")

# gunicorn's arbiter SIGKILLs a worker at --graceful-timeout: the drain ends this much earlier.
GUNICORN_GRACE_MARGIN = 1.0

_OPTION = "sailfish.option"  # dataclass field metadata key: the option's declaration
_GROUP = "sailfish.group"  # metadata key of a Settings field holding a group dataclass


class _Unset:
    """The type of `UNSET`."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""Returned by a uvicorn/gunicorn converter when the source value means "sailfish's default"."""

Validator = Callable[["Option", Any], None]
Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One setting, as the table declares it (see `option()` for each field's meaning).

    `name`, `attribute`, `group`, `kind` and `optional` are filled in from the dataclass field
    when the table is collected; the rest comes from `option()`.
    """

    help: str
    default: Any = None
    name: str = ""
    attribute: str = ""
    group: str | None = None
    kind: str = "any"  # "bool", "int", "float", "str", or "any" (checked by `validator`)
    optional: bool = False
    flag: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    case_sensitive: bool = True
    validator: Validator | None = None
    convert: Converter | None = None
    accepts: str | None = None
    metavar: str | None = None
    unit: str = ""
    none_means: str | None = None
    env_fallback: tuple[str, str] | None = None
    path: bool = False
    multiple: bool = False
    uvicorn: str | None = None
    uvicorn_convert: Converter | None = None
    gunicorn: str | None = None
    gunicorn_convert: Converter | None = None

    # -- derived -----------------------------------------------------------------------------

    @property
    def cli_flag(self) -> str:
        """The click declaration: "--port", "--proxy-headers/--no-proxy-headers", ..."""
        if self.flag is not None:
            return self.flag
        long = "--" + self.name.replace("_", "-")
        if self.kind == "bool" and self.default is True:
            return f"{long}/--no-{long[2:]}"
        return long

    @property
    def display_flag(self) -> str:
        """The flag as error messages name it: the first spelling ("--proxy-headers")."""
        return self.cli_flag.split("/")[0]

    @property
    def envvars(self) -> tuple[str, ...]:
        """SAILFISH_<NAME>, then any other variable read for this setting."""
        extra = (self.env_fallback[0],) if self.env_fallback else ()
        return (f"SAILFISH_{self.name.upper()}", *extra)

    def default_text(self) -> str:
        """The default as --help and the docs show it."""
        if self.env_fallback is not None:
            return f"${self.env_fallback[0]} or {self.env_fallback[1]}"
        if self.default is None:
            return self.none_means or "none"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, list | tuple) and not self.default:
            return "none"
        if isinstance(self.default, str) and not self.default:
            return '""'
        return str(self.default)

    def accepts_text(self) -> str:
        """What values are valid, in a few words (the docs' "Accepts" column)."""
        if self.accepts is not None:
            return self.accepts
        if self.choices:
            return ", ".join(self.choices)
        if self.kind == "bool":
            return "true / false"
        if self.kind == "int":
            unit = f" ({self.unit})" if self.unit else ""
            if self.maximum is not None:
                return f"integer {self.minimum:g}-{self.maximum:g}{unit}"
            if self.minimum is not None:
                return f"integer >= {self.minimum:g}{unit}"
            return f"integer{unit}"
        if self.kind == "float":
            what = self.unit or "number"
            if self.minimum is not None:
                return f"{what} {'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
            return what
        return "file path" if self.path else "text"

    # -- validation --------------------------------------------------------------------------

    def check(self, value: Any) -> None:
        """Validate a value of this setting (as stored on its dataclass).

        Raises:
            ConfigError: one sentence naming the flag, what is expected and the value.
        """
        if value is None and self.optional:
            return
        flag = self.display_flag
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{flag} must be true or false, not {value!r}")
        elif kind == "int":
            self._check_int(flag, value)
        elif kind == "float":
            self._check_float(flag, value)
        elif kind == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{flag} must be a string, not {value!r}")
            if self.choices:
                shown = value if self.case_sensitive else value.lower()
                if shown not in self.choices:
                    raise ConfigError(
                        f'{flag} must be one of {", ".join(self.choices)}, not "{value}"'
                    )
        if self.validator is not None:
            self.validator(self, value)

    def _check_int(self, flag: str, value: Any) -> None:
        is_int = isinstance(value, int) and not isinstance(value, bool)
        low, high = self.minimum, self.maximum
        if high is not None and low is not None:
            if not is_int:
                raise ConfigError(f"{flag} must be an integer, not {value!r}")
            if not low <= value <= high:
                raise ConfigError(f"{flag} must be between {low:g} and {high:g}, not {value!r}")
            return
        if low is None:
            if not is_int:
                raise ConfigError(f"{flag} must be an integer, not {value!r}")
            return
        if not is_int or value < low:
            wanted = "a non-negative integer" if low == 0 else f"an integer >= {low:g}"
            raise ConfigError(f"{flag} must be {wanted}, not {value!r}")

    def _check_float(self, flag: str, value: Any) -> None:
        unit = f" {self.unit}" if self.unit else ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            of = f" of {self.unit}" if self.unit else ""
            raise ConfigError(f"{flag} must be a number{of}, not {value!r}")
        low = self.minimum
        if low is None:
            return
        if value < low or (self.exclusive_minimum and value == low):
            op = ">" if self.exclusive_minimum else ">="
            raise ConfigError(f"{flag} must be {op} {low:g}{unit}, not {value!r}")


# -- declaring options -----------------------------------------------------------------------


@overload
def option(default: T, /, **spec: Any) -> T: ...
@overload
def option(*, factory: Callable[[], T], **spec: Any) -> T: ...
def option(default: Any = dataclasses.MISSING, /, *, factory: Any = None, **spec: Any) -> Any:
    """Declare one setting: the default of a dataclass field in a settings class.

    Args:
        default: The default value (or `factory=` for a mutable default).
        **spec: The other `Option` fields: `help` (required), `name` (the flat name when it
            differs from the attribute), `flag` (CLI spelling; default `--name`, or
            `--name/--no-name` for a bool that defaults to True), `minimum` / `maximum` /
            `exclusive_minimum` and `unit` for numbers, `choices` and `case_sensitive` for
            strings, `validator(option, value)` for anything else, `convert` (flat value ->
            stored value), `accepts` / `metavar` / `none_means` (help and docs text),
            `env_fallback` ((VAR, value): read by Config when the value is None), `path` (an
            existing file on the CLI), `multiple` (repeatable flag), `uvicorn` / `gunicorn`
            (the attribute of their config object) with `uvicorn_convert` / `gunicorn_convert`.

    Returns:
        A `dataclasses.field` (typed as the default's type, so the class type-checks).
    """
    if factory is not None:
        declared = Option(default=factory(), **spec)
        return field(default_factory=factory, metadata={_OPTION: declared})
    return field(default=default, metadata={_OPTION: Option(default=default, **spec)})


def _group(cls: type[T]) -> T:
    """A Settings field holding the group dataclass `cls` (a fresh instance per Settings)."""
    made: T = field(default_factory=cls, metadata={_GROUP: cls})
    return made


# -- validators ------------------------------------------------------------------------------

# RFC 9110 §5.1: field-name = token; §5.5: field-value has no CR, LF, NUL or other controls.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_IMPORT_STRING = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


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


def _header_pairs(headers: Iterable[Any] | None) -> list[tuple[bytes, bytes]]:
    """`--header` values ("name:value" strings or (name, value) pairs) -> (bytes, bytes)."""
    pairs: list[tuple[bytes, bytes]] = []
    for item in headers or ():
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


def _check_headers(opt: Option, value: Any) -> None:
    if not isinstance(value, list):
        raise ConfigError(f"{opt.display_flag} must be a list of (bytes, bytes) pairs")
    for pair in value:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(part, bytes) for part in pair)
        ):
            raise ConfigError(f"default header {pair!r} must be a (bytes, bytes) pair")
        _check_header(*pair)


def _check_host(opt: Option, value: str) -> None:
    if not value:
        raise ConfigError(f"{opt.display_flag} must be a non-empty address or name")


def _check_loop(opt: Option, value: str) -> None:
    if value not in LOOP_CHOICES and not _IMPORT_STRING.fullmatch(value):
        raise ConfigError(
            f'{opt.display_flag} must be one of {", ".join(LOOP_CHOICES)} or "module:attr", '
            f'not "{value}"'
        )


def _check_root_path(opt: Option, value: str) -> None:
    if value and not value.startswith("/"):
        raise ConfigError(f'{opt.display_flag} must start with "/", not "{value}"')
    if value.endswith("/"):
        raise ConfigError(f'{opt.display_flag} must not end with "/": "{value}"')


def _check_log_level(opt: Option, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        return
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        shown = f'"{value}"' if isinstance(value, str) else repr(value)
        raise ConfigError(f"{opt.display_flag} must be one of {', '.join(LOG_LEVELS)}, not {shown}")


def _check_log_config(opt: Option, value: Any) -> None:
    if not isinstance(value, str | dict | os.PathLike):
        raise ConfigError(f"{opt.display_flag} must be a file path or a dictConfig dict")


def _check_access_log_format(opt: Option, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{opt.display_flag} must be a string, not {value!r}")
    compile_format(value)


def _check_forwarded_allow_ips(opt: Option, value: Any) -> None:
    """The entries TrustedHosts reads, minus names: "*", addresses, networks, "unix:"."""
    if isinstance(value, str):
        entries = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        entries = list(value)
    else:
        raise ConfigError(f"{opt.display_flag} must be a comma-separated string or a list")
    for entry in entries:
        if not entry.strip():
            continue
        kind, text = parse_trusted_entry(entry)
        if kind == "literal" and text != "unix:":
            raise ConfigError(
                f'{opt.display_flag}: "{text}" is not an IP address, a network (CIDR), '
                '"*" or "unix:"'
            )


TLS_CERT_REQS = ("none", "optional", "required")
TLS_MIN_VERSIONS = ("TLSv1.2", "TLSv1.3")


def _cert_reqs_name(value: Any) -> Any:
    """0, 1, 2 (ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED) as none, optional, required"""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 3:
        return TLS_CERT_REQS[value]
    return value


def _check_tls_file(opt: Option, value: Any) -> None:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ConfigError(f"{opt.display_flag} must be a file path, not {value!r}")


# -- uvicorn and gunicorn converters ---------------------------------------------------------


def _seconds(value: Any) -> Any:
    """as a float number of seconds"""
    return None if value is None else float(value)


def _or_empty(value: Any) -> str:
    """None as \"\""""
    return value or ""


def _none_is_default(value: Any) -> Any:
    """None: sailfish's default"""
    return UNSET if value is None else value


def _zero_is_default(value: Any) -> Any:
    """0: sailfish's default"""
    return value or UNSET


def _unlimited_is_default(value: Any) -> Any:
    """0 (gunicorn: no limit): sailfish's default"""
    return value or UNSET


def _uvicorn_headers(value: Any) -> list[tuple[str, str]]:
    """[name, value] str pairs, stripped"""
    return [(str(name).strip(), str(text).strip()) for name, text in value or ()]


def _uvicorn_ping(value: Any) -> Any:
    """None or 0 (no pings) as None, else float seconds"""
    return float(value) if value else None


def _gunicorn_graceful(value: Any) -> float:
    """less 1 s, so the drain ends before the arbiter's SIGKILL"""
    return max(float(value) - GUNICORN_GRACE_MARGIN, 0.0)


# -- the table -------------------------------------------------------------------------------


@dataclass
class HTTPSettings:
    """What the server adds to every response.

    Attributes:
        server_header: Send `server: sailfish` unless the app sets its own.
        date_header: Send `date` unless the app sets its own.
        default_headers: Extra (name, value) fields for every response, from `--header`.
    """

    server_header: bool = option(True, help="Send the server header.")
    date_header: bool = option(True, help="Send the date header.")
    default_headers: list[tuple[bytes, bytes]] = option(
        factory=list,
        name="headers",
        flag="--header",
        multiple=True,
        help='Add a response header to every response: "name:value" (repeatable).',
        accepts='"name:value", repeatable',
        validator=_check_headers,
        convert=_header_pairs,
        uvicorn="headers",
        uvicorn_convert=_uvicorn_headers,
    )

    def validate(self) -> None:
        """Raises ConfigError if a default header is not a valid field."""
        _check_group(self)


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

    max_request_line: int = option(
        8190,
        minimum=1,
        unit="bytes",
        help="Longest request line in bytes (414 beyond).",
        gunicorn="limit_request_line",
        gunicorn_convert=_unlimited_is_default,
    )
    max_header_size: int = option(
        65536,
        minimum=1,
        unit="bytes",
        help="Largest header section in bytes (431 beyond).",
        uvicorn="h11_max_incomplete_event_size",
        uvicorn_convert=_none_is_default,
    )
    max_headers: int = option(
        100,
        minimum=1,
        help="Most header fields (431 beyond).",
        gunicorn="limit_request_fields",
        gunicorn_convert=_unlimited_is_default,
    )
    max_body_size: int | None = option(
        None,
        minimum=0,
        unit="bytes",
        none_means="no limit",
        help="Largest request body in bytes (413 beyond).",
    )
    max_chunk_ext_size: int = option(
        4096, minimum=0, unit="bytes", help="Longest chunk extension in bytes (400 beyond)."
    )
    max_trailer_size: int = option(
        8192, minimum=0, unit="bytes", help="Largest trailer section in bytes (431 beyond)."
    )
    concurrency: int | None = option(
        None,
        name="limit_concurrency",
        minimum=1,
        none_means="no limit",
        help="Answer 503 beyond this many connections or tasks.",
        uvicorn="limit_concurrency",
    )
    backlog: int = option(
        2048,
        minimum=1,
        help="Listen backlog.",
        uvicorn="backlog",
        gunicorn="backlog",
        gunicorn_convert=_zero_is_default,
    )

    def validate(self) -> None:
        """Raises ConfigError if a limit is not a positive integer (or None where allowed)."""
        _check_group(self)


@dataclass
class Timeouts:
    """Deadlines, in seconds.

    Attributes:
        keep_alive: Close an idle keep-alive connection after this long.
        header_read: Close a connection whose request head is not complete after this long.
        graceful_shutdown: On shutdown, cancel what is still running after this long;
            None waits until a second signal.
        write: Abort a connection whose peer takes none of what waits for it (the transport
            is paused for writing) for this long; 0: no limit (nginx's send_timeout).
    """

    keep_alive: float = option(
        5.0,
        name="timeout_keep_alive",
        minimum=0,
        unit="seconds",
        help="Close idle keep-alive connections after this many seconds.",
        uvicorn="timeout_keep_alive",
        uvicorn_convert=_seconds,
        gunicorn="keepalive",
        gunicorn_convert=_seconds,
    )
    header_read: float = option(
        10.0,
        name="timeout_header_read",
        minimum=0,
        exclusive_minimum=True,
        unit="seconds",
        help="Close a connection whose request head takes longer than this.",
    )
    graceful_shutdown: float | None = option(
        None,
        name="timeout_graceful_shutdown",
        minimum=0,
        unit="seconds",
        none_means="wait for a second signal",
        help="On shutdown, cancel what still runs after this many seconds.",
        uvicorn="timeout_graceful_shutdown",
        uvicorn_convert=_seconds,
        gunicorn="graceful_timeout",
        gunicorn_convert=_gunicorn_graceful,
    )
    # 60 s, as nginx's send_timeout: long enough for a client on a bad link (it only has to
    # take a few KiB in that time), short enough that a client that stops reading does not
    # hold a connection, its buffered response and a waiting app forever. uvicorn and
    # gunicorn have no such setting: the uvicorn drop-in turns it off.
    write: float = option(
        60.0,
        name="timeout_write",
        minimum=0,
        unit="seconds",
        help="Abort a connection whose client reads nothing of a pending response for this "
        "many seconds; 0: no limit.",
    )

    def validate(self) -> None:
        """Raises ConfigError if a timeout is negative or not a number."""
        _check_group(self)


@dataclass
class TLSSettings:
    """TLS on the listening sockets (off unless `certfile` is set or an SSLContext is given).

    Attributes:
        certfile: PEM certificate chain; turns TLS on.
        keyfile: PEM private key, when it is not in `certfile`.
        keyfile_password: Password of an encrypted `keyfile`.
        ca_certs: PEM CA bundle that verifies client certificates (mutual TLS).
        cert_reqs: Client certificates: "none", "optional" (verified if sent) or "required".
        ciphers: OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's).
        min_version: Lowest protocol version accepted.
        handshake_timeout: Close a connection whose handshake is not done after this long.
    """

    certfile: str | None = option(
        None,
        name="ssl_certfile",
        path=True,
        validator=_check_tls_file,
        help="TLS certificate chain (PEM); turns TLS on.",
        gunicorn="certfile",
    )
    keyfile: str | None = option(
        None,
        name="ssl_keyfile",
        path=True,
        validator=_check_tls_file,
        none_means="the key is in --ssl-certfile",
        help="TLS private key (PEM).",
        gunicorn="keyfile",
    )
    keyfile_password: str | None = option(
        None, name="ssl_keyfile_password", help="Password of an encrypted --ssl-keyfile."
    )
    ca_certs: str | None = option(
        None,
        name="ssl_ca_certs",
        path=True,
        validator=_check_tls_file,
        help="CA certificates (PEM) that verify client certificates.",
        gunicorn="ca_certs",
    )
    cert_reqs: str = option(
        "none",
        name="ssl_cert_reqs",
        choices=TLS_CERT_REQS,
        case_sensitive=False,
        convert=_cert_reqs_name,
        help="Client certificates: none, optional (verified if sent) or required (mutual TLS).",
        gunicorn="cert_reqs",
        gunicorn_convert=_cert_reqs_name,
    )
    ciphers: str | None = option(
        None,
        name="ssl_ciphers",
        none_means="OpenSSL's defaults",
        help="OpenSSL cipher list for TLS 1.2.",
        gunicorn="ciphers",
    )
    min_version: str = option(
        "TLSv1.2",
        name="ssl_min_version",
        choices=TLS_MIN_VERSIONS,
        help="Lowest TLS version accepted.",
    )
    handshake_timeout: float = option(
        10.0,
        name="ssl_handshake_timeout",
        minimum=0,
        exclusive_minimum=True,
        unit="seconds",
        help="Close a connection whose TLS handshake takes longer than this.",
    )

    @property
    def enabled(self) -> bool:
        """Whether these settings turn TLS on."""
        return self.certfile is not None

    def __repr__(self) -> str:
        # The password never reaches a log line or a traceback through repr().
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if shown["keyfile_password"] is not None:
            shown["keyfile_password"] = "***"
        return f"TLSSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def validate(self) -> None:
        """Raises ConfigError if a setting is invalid or needs one that is missing."""
        _check_group(self)
        if self.certfile is None:
            for name, value in (
                ("--ssl-keyfile", self.keyfile),
                ("--ssl-keyfile-password", self.keyfile_password),
                ("--ssl-ca-certs", self.ca_certs),
                ("--ssl-ciphers", self.ciphers),
            ):
                if value is not None:
                    raise ConfigError(f"{name} needs --ssl-certfile")
            if self.cert_reqs.lower() != "none":
                raise ConfigError("--ssl-cert-reqs needs --ssl-certfile")
        elif self.cert_reqs.lower() != "none" and self.ca_certs is None:
            raise ConfigError(
                f"--ssl-cert-reqs {self.cert_reqs.lower()} needs --ssl-ca-certs (the CAs "
                "that verify client certificates)"
            )


_UDS_MODE = re.compile(r"(?:0o?)?[0-7]{3,4}")


def _check_uds_mode(opt: Option, value: Any) -> None:
    if not isinstance(value, str) or not _UDS_MODE.fullmatch(value):
        raise ConfigError(
            f'{opt.display_flag} must be octal permissions such as 660, not "{value}"'
        )


def _str_list(value: Any) -> list[str]:
    """A repeatable flag's values (a str, or a tuple from the CLI) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _check_str_list(opt: Option, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{opt.display_flag} must be a list of non-empty strings, not {value!r}")


def _check_metrics_bind(opt: Option, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{opt.display_flag} must be host:port, not {value!r}")
    from sailfish.metrics import parse_bind

    parse_bind(value)


def _check_readiness_path(opt: Option, value: Any) -> None:
    if not isinstance(value, str) or not value.startswith("/") or value == "/metrics":
        raise ConfigError(f'{opt.display_flag} must be a path starting with "/", not {value!r}')


@dataclass
class ProcessSettings:
    """The process model: workers under a supervisor, recycling, reload, sockets, pid file.

    More than one worker, `reload`, or a recycling limit (`max_requests`, `max_worker_memory`,
    `worker_lifetime`) runs a supervisor process (sailfish.supervisor) that binds the sockets
    and starts the workers; otherwise the server runs in this one process.

    Attributes:
        workers: Worker processes; None reads WEB_CONCURRENCY, else 1.
        reuse_port: Linux: one SO_REUSEPORT listener per worker instead of one shared socket.
        healthcheck_timeout: Kill and replace a worker whose heartbeat is older than this.
        max_requests: Recycle a worker after this many requests (None: never).
        max_requests_jitter: Add 0..this many requests to each worker's max_requests.
        max_worker_memory: Recycle a worker whose resident memory exceeds this many MiB.
        worker_lifetime: Recycle a worker after this many seconds.
        reload: Restart the workers when a watched file changes (needs watchfiles).
        reload_dirs: Directories to watch (default: the current directory).
        reload_includes: Glob patterns of file names to watch (default: *.py).
        reload_excludes: Glob patterns of file names or directories to ignore.
        uds_mode: Permissions of the unix socket (`uds`), octal text; None: 666.
        pid_file: Write the server's process id to this file while it runs.
        metrics_bind: Serve Prometheus metrics and readiness on this host:port (None: off).
        readiness_path: The readiness path on the metrics listener.
    """

    workers: int | None = option(
        None,
        minimum=1,
        maximum=1024,
        env_fallback=("WEB_CONCURRENCY", "1"),
        help="Worker processes; more than 1 runs them under a supervisor.",
    )
    reuse_port: bool = option(
        False,
        flag="--reuse-port/--no-reuse-port",
        help="Linux: one SO_REUSEPORT listener per worker (kernel hashing) instead of one "
        "socket shared by all workers (balanced accepts).",
    )
    healthcheck_timeout: float = option(
        10.0,
        name="timeout_worker_healthcheck",
        minimum=0,
        exclusive_minimum=True,
        unit="seconds",
        help="Kill and replace a worker whose heartbeat is older than this many seconds.",
    )
    max_requests: int | None = option(
        None, minimum=1, none_means="no limit", help="Recycle a worker after this many requests."
    )
    max_requests_jitter: int = option(
        0, minimum=0, help="Add a random 0 to this many requests to each worker's --max-requests."
    )
    max_worker_memory: int | None = option(
        None,
        minimum=1,
        unit="MiB",
        none_means="no limit",
        help="Recycle a worker whose resident memory (RSS) exceeds this many MiB.",
    )
    worker_lifetime: float | None = option(
        None,
        minimum=0,
        exclusive_minimum=True,
        unit="seconds",
        none_means="forever",
        help="Recycle a worker after it has served this many seconds.",
    )
    reload: bool = option(False, help="Restart the worker when a watched file changes.")
    reload_dirs: list[str] = option(
        factory=list,
        flag="--reload-dir",
        multiple=True,
        convert=_str_list,
        validator=_check_str_list,
        accepts="directory, repeatable",
        help="Watch this directory with --reload (repeatable; default: the current one).",
    )
    reload_includes: list[str] = option(
        factory=list,
        flag="--reload-include",
        multiple=True,
        convert=_str_list,
        validator=_check_str_list,
        accepts="glob pattern, repeatable",
        help="With --reload, watch file names matching this glob (repeatable; default: *.py).",
    )
    reload_excludes: list[str] = option(
        factory=list,
        flag="--reload-exclude",
        multiple=True,
        convert=_str_list,
        validator=_check_str_list,
        accepts="glob pattern, repeatable",
        help="With --reload, ignore names matching this glob (repeatable; .* and *.pyc always).",
    )
    uds_mode: str | None = option(
        None,
        validator=_check_uds_mode,
        accepts="octal permissions, e.g. 660",
        none_means="666",
        help="Permissions of the --uds socket file, in octal.",
    )
    pid_file: str | None = option(
        None, help="Write the server's process id to this file; removed at exit."
    )
    metrics_bind: str | None = option(
        None,
        validator=_check_metrics_bind,
        accepts="host:port, [ipv6]:port",
        none_means="off",
        help="Serve Prometheus metrics (GET /metrics) and readiness on this address.",
    )
    readiness_path: str = option(
        "/ready",
        validator=_check_readiness_path,
        help="On the --metrics-bind listener: 200 while serving, 503 once draining starts.",
    )

    def __post_init__(self) -> None:
        if self.workers is None:
            text = os.environ.get("WEB_CONCURRENCY", "").strip() or "1"  # empty: unset, as click
            try:
                self.workers = int(text)
            except ValueError:
                self.workers = text  # type: ignore[assignment]  # validate() names it

    def validate(self) -> None:
        """Raises ConfigError if a setting is out of range."""
        if isinstance(self.workers, str):  # from WEB_CONCURRENCY, see __post_init__
            raise ConfigError(f'WEB_CONCURRENCY must be a number of workers, not "{self.workers}"')
        _check_group(self)

    @property
    def supervised(self) -> bool:
        """Whether a supervisor runs the server in worker processes."""
        return bool(
            (self.workers or 1) > 1
            or self.reload
            or self.max_requests is not None
            or self.max_worker_memory is not None
            or self.worker_lifetime is not None
        )


@dataclass
class WebSocketSettings:
    """WebSocket (RFC 6455) connections, handed over from HTTP/1.1 upgrades.

    Attributes:
        protocol: "auto" or "sailfish" serve WebSocket with sailfish's protocol; "none"
            serves an upgrade request to the app as plain HTTP.
        max_size: Largest message in bytes, after decompression (close 1009 beyond).
        max_queue: Received messages held for the app before reading pauses.
        ping_interval: Seconds between keepalive pings; None or 0: no pings.
        ping_timeout: Close (1011) when a ping's pong takes longer; None or 0: wait forever.
        per_message_deflate: Accept permessage-deflate (RFC 7692) when a client offers it.
    """

    protocol: str = option(
        "auto",
        name="ws",
        choices=WS_CHOICES,
        help="WebSocket: auto and sailfish serve it; none serves upgrades as plain HTTP.",
    )
    max_size: int = option(
        16 * 1024 * 1024,
        name="ws_max_size",
        minimum=1,
        unit="bytes",
        help="Largest WebSocket message in bytes, decompressed (close 1009 beyond).",
        uvicorn="ws_max_size",
    )
    max_queue: int = option(
        32,
        name="ws_max_queue",
        minimum=1,
        help="WebSocket messages held for the app before reading pauses.",
        uvicorn="ws_max_queue",
    )
    ping_interval: float | None = option(
        20.0,
        name="ws_ping_interval",
        minimum=0,
        unit="seconds",
        none_means="no pings",
        help="Send a WebSocket keepalive ping every this many seconds (0: none).",
        uvicorn="ws_ping_interval",
        uvicorn_convert=_uvicorn_ping,
    )
    ping_timeout: float | None = option(
        20.0,
        name="ws_ping_timeout",
        minimum=0,
        unit="seconds",
        none_means="wait for the pong forever",
        help="Close a WebSocket (1011) whose pong is later than this (0: wait forever).",
        uvicorn="ws_ping_timeout",
        uvicorn_convert=_uvicorn_ping,
    )
    per_message_deflate: bool = option(
        False,
        name="ws_per_message_deflate",
        help="Compress WebSocket messages (permessage-deflate) when the client offers it. "
        "Off by default: its zlib streams cost each connection tens of KiB and each message "
        "more CPU than the rest of its path (bench/RESULTS.md); worth it for large, "
        "compressible messages on slow links.",
        uvicorn="ws_per_message_deflate",
    )

    def validate(self) -> None:
        """Raises ConfigError if a WebSocket setting is out of range."""
        _check_group(self)


@dataclass(kw_only=True)
class Settings:
    """Every setting of `sailfish.config.Config`, which adds the app and what `load()` makes.

    Attributes:
        host: Address to bind (IPv4, IPv6 or a name); ignored with `uds` or `fd`.
        port: TCP port to bind; 0 picks a free one.
        uds: Path of a unix socket to bind instead of host/port.
        fd: An already bound socket's file descriptor to serve on.
        loop: "auto", "uvloop", "asyncio" or "module:attr" (a loop factory).
        lifespan: "auto" (use it if the app supports it), "on" (required) or "off".
        interface: "auto", "asgi3", "asgi2" or "wsgi".
        wsgi_threads: Threads of the pool a WSGI app runs on.
        factory: `app` names a callable returning the application.
        root_path: The ASGI root_path, for apps mounted below a path prefix.
        proxy_headers: Trust Forwarded / X-Forwarded-* from `forwarded_allow_ips`.
        forwarded_allow_ips: Trusted proxies ("*", IPs, networks, "unix:"); None means the
            FORWARDED_ALLOW_IPS environment variable, else "127.0.0.1".
        proxy_protocol: Read a PROXY protocol header (v1 or v2) first on every connection;
            only `forwarded_allow_ips` peers may connect.
        log_level: Level of the sailfish loggers, or None to keep the configuration's.
        access_log: Log one line per response on `sailfish.access`.
        access_log_format: The access line in gunicorn's atoms (sailfish.access_format);
            None: the default line.
        log_config: A dictConfig dict or a .json/.yaml/.ini file path.
        app_dir: Directory put first on sys.path before importing the app.
        env_file: A KEY=VALUE file loaded into the environment before importing the app
            (variables already set win).
        http: What the server adds to responses.
        limits: Size and count limits.
        timeouts: Deadlines.
        tls: TLS on the listening sockets.
        process: Workers, supervisor, reload, sockets and pid file.
        websocket: WebSocket connections.
    """

    host: str = option("127.0.0.1", help="Address to bind.", validator=_check_host)
    port: int = option(8000, minimum=0, maximum=65535, help="Port to bind; 0 picks a free one.")
    uds: str | None = option(None, help="Bind to this unix socket path instead of host and port.")
    fd: int | None = option(
        None, minimum=0, help="Serve on this already bound socket file descriptor."
    )
    loop: str = option(
        "auto",
        validator=_check_loop,
        accepts=f"{', '.join(LOOP_CHOICES)} or module:attr (a loop factory)",
        metavar=f"[{'|'.join(LOOP_CHOICES)}|module:attr]",
        help="Event loop: auto prefers uvloop; module:attr names a function returning a loop.",
    )
    lifespan: str = option(
        "auto",
        choices=LIFESPAN_CHOICES,
        help="ASGI lifespan: auto uses it when the app supports it.",
    )
    interface: str = option(
        "auto",
        choices=INTERFACE_CHOICES,
        help="Application interface: auto tells ASGI 3 from ASGI 2, and refuses a WSGI app "
        "(serve it with wsgi).",
    )
    wsgi_threads: int = option(
        WSGI_THREADS,
        minimum=1,
        maximum=1024,
        help="Threads that run a WSGI app (--interface wsgi); requests beyond them wait.",
    )
    factory: bool = option(False, help="APP is a callable that returns the application.")
    root_path: str = option(
        "",
        validator=_check_root_path,
        accepts='"" or a path starting with /',
        help="ASGI root_path, for an app mounted below a path prefix.",
        uvicorn="root_path",
        uvicorn_convert=_or_empty,
    )
    proxy_headers: bool = option(
        True,
        help="Take the client address and scheme from Forwarded / X-Forwarded-* "
        "sent by a trusted proxy.",
        uvicorn="proxy_headers",
    )
    forwarded_allow_ips: str | list[str] | None = option(
        None,
        env_fallback=("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        validator=_check_forwarded_allow_ips,
        accepts='comma-separated: IP addresses, networks (CIDR), "*", "unix:"',
        help="Trusted proxies: comma-separated IPs, networks, '*' or 'unix:'.",
        uvicorn="forwarded_allow_ips",
        gunicorn="forwarded_allow_ips",
    )
    proxy_protocol: bool = option(
        False,
        help="Expect a PROXY protocol header (v1 or v2) first on every connection; only "
        "peers in --forwarded-allow-ips may connect.",
    )
    log_level: str | int | None = option(
        "info",
        choices=tuple(LOG_LEVELS),
        case_sensitive=False,
        validator=_check_log_level,
        none_means="as the logging configuration says",
        help="Log level of the sailfish loggers.",
    )
    access_log: bool = option(True, help="Log one line per response.", uvicorn="access_log")
    access_log_format: str | None = option(
        None,
        validator=_check_access_log_format,
        accepts="gunicorn atoms: " + " ".join(f"%({atom})s" for atom in ATOMS),
        none_means='the default line: client - "request line" status size duration',
        help="Access line in gunicorn's atoms, e.g. '%(h)s \"%(r)s\" %(s)s %(b)s %(D)s': "
        + "; ".join(f"{atom} {meaning}" for atom, meaning in ATOMS.items())
        + "; %% is a percent sign.",
        gunicorn="access_log_format",
    )
    log_config: str | dict[str, Any] | None = option(
        None,
        path=True,
        validator=_check_log_config,
        accepts=".json, .yaml/.yml or .ini file",
        help="Logging configuration: .json, .yaml/.yml or .ini file.",
    )
    app_dir: str | None = option(
        ".", help="Look for APP in this directory (put first on sys.path)."
    )
    env_file: str | None = option(
        None, path=True, help="Load KEY=VALUE lines into the environment first."
    )
    http: HTTPSettings = _group(HTTPSettings)
    limits: Limits = _group(Limits)
    timeouts: Timeouts = _group(Timeouts)
    tls: TLSSettings = _group(TLSSettings)
    process: ProcessSettings = _group(ProcessSettings)
    websocket: WebSocketSettings = _group(WebSocketSettings)

    def __post_init__(self) -> None:
        for opt in OPTIONS:
            if opt.env_fallback is not None and opt.group is None:
                if getattr(self, opt.attribute) is None:
                    variable, fallback = opt.env_fallback
                    setattr(self, opt.attribute, os.environ.get(variable, fallback))

    def validate_options(self) -> None:
        """Check every setting against the table.

        Raises:
            ConfigError: with one sentence naming the option and what is wrong.
        """
        for opt in OPTIONS:
            if opt.group is None:
                opt.check(getattr(self, opt.attribute))
        for name in GROUPS:
            getattr(self, name).validate()


# -- the flat table, collected ---------------------------------------------------------------


def _kind(hint: Any) -> tuple[str, bool]:
    """(kind, optional) of a field annotation: `int | None` -> ("int", True)."""
    args = typing.get_args(hint) if _is_union(hint) else (hint,)
    optional = type(None) in args
    rest = [arg for arg in args if arg is not type(None)]
    kinds: dict[Any, str] = {bool: "bool", int: "int", float: "float", str: "str"}
    kind = kinds.get(rest[0], "any") if len(rest) == 1 else "any"
    return kind, optional


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType)


def _collect(cls: type[Any], group: str | None) -> Iterator[Option]:
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        declared = item.metadata.get(_OPTION)
        if declared is None:
            continue
        kind, optional = _kind(hints[item.name])
        yield dataclasses.replace(
            declared,
            name=declared.name or item.name,
            attribute=item.name,
            group=group,
            kind=kind,
            optional=optional,
        )


GROUPS: dict[str, type[Any]] = {
    item.name: item.metadata[_GROUP]
    for item in dataclasses.fields(Settings)
    if _GROUP in item.metadata
}
"""Group name (the Settings attribute: "http", "limits", "timeouts") -> its dataclass."""

OPTIONS: tuple[Option, ...] = (
    *_collect(Settings, None),
    *(opt for name, cls in GROUPS.items() for opt in _collect(cls, name)),
)
"""Every setting, top-level first, then each group in order."""

BY_NAME: dict[str, Option] = {opt.name: opt for opt in OPTIONS}
"""The table by flat name (`Config.from_options` keywords, CLI parameter names)."""

if len(BY_NAME) != len(OPTIONS):  # pragma: no cover (a mistake in the table above)
    raise RuntimeError("two options share a flat name")


def _check_group(instance: Any) -> None:
    for opt in OPTIONS:
        if opt.group is not None and isinstance(instance, GROUPS[opt.group]):
            opt.check(getattr(instance, opt.attribute))


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Flat option values -> (top-level attribute values, {group: {attribute: value}}).

    Converts each value as its option says (`headers` strings -> (bytes, bytes) pairs).
    Names that are not options (e.g. `http`, `limits`) are returned top-level unchanged, for
    the caller to accept or refuse.

    Raises:
        ConfigError: a malformed header.
    """
    direct: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {name: {} for name in GROUPS}
    for name, value in options.items():
        opt = BY_NAME.get(name)
        if opt is None:
            direct[name] = value
            continue
        if opt.convert is not None:
            value = opt.convert(value)
        if opt.group is None:
            direct[opt.attribute] = value
        else:
            groups[opt.group][opt.attribute] = value
    return direct, groups


def _mapped(source: Any, side: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        attribute = getattr(opt, side)
        if attribute is None:
            continue
        convert: Converter | None = getattr(opt, f"{side}_convert")
        value = getattr(source, attribute)
        if convert is not None:
            value = convert(value)
        if value is not UNSET:
            values[opt.name] = value
    return values


def from_uvicorn(config: Any) -> dict[str, Any]:
    """The sailfish option values that a uvicorn `Config` sets, as flat names.

    For `Config.from_options(app, **from_uvicorn(uvicorn_config))`. Maps `root_path`,
    `limit_concurrency`, `timeout_keep_alive`, `h11_max_incomplete_event_size` (to
    `max_header_size`, unless None), `proxy_headers`, `forwarded_allow_ips`, `backlog`,
    `access_log`, `timeout_graceful_shutdown`, `headers` (uvicorn's [name, value] str pairs)
    and the `ws_*` WebSocket settings (a ping setting of None or 0: none).
    The values are as uvicorn holds them: `forwarded_allow_ips` may contain names, which
    uvicorn trusts and `Config.validate()` refuses.

    Args:
        config: A `uvicorn.Config` (0.54); only the attributes above are read.

    Returns:
        Flat option name -> value.
    """
    return _mapped(config, "uvicorn")


def from_gunicorn(cfg: Any) -> dict[str, Any]:
    """The sailfish option values that gunicorn's settings set, as flat names.

    Maps `--keep-alive`, `--graceful-timeout` (less one second), `--backlog`,
    `--forwarded-allow-ips`, `--limit-request-line` and `--limit-request-fields` (0 keeps
    sailfish's default), and `--access-logformat` (its default included: a gunicorn worker
    writes gunicorn's access line).

    Args:
        cfg: A `gunicorn.config.Config` (a worker's `self.cfg`).

    Returns:
        Flat option name -> value.
    """
    return _mapped(cfg, "gunicorn")


# -- docs/options.md -------------------------------------------------------------------------

_GROUP_TITLES = {
    None: "Server",
    "http": "HTTP",
    "limits": "Limits",
    "timeouts": "Timeouts",
    "tls": "TLS",
    "process": "Processes",
    "websocket": "WebSocket",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    """docs/options.md: every option, by group, and the uvicorn / gunicorn mappings."""
    lines = [
        "# sailfish options",
        "",
        "<!-- Generated by `python -m sailfish.options --markdown docs/options.md`;"
        " do not edit. -->",
        "",
        "Every setting is a command-line flag, an environment variable, and a keyword of",
        "`sailfish.run()` / `Config.from_options()` (the name in the Keyword column). Flags win",
        "over environment variables, which win over defaults.",
    ]
    for group in (None, *GROUPS):
        title = _GROUP_TITLES.get(group, str(group))
        where = "`Config`" if group is None else f"`Config.{group}`"
        lines += [
            "",
            f"## {title}",
            "",
            f"Stored on {where}.",
            "",
            "| Flag | Keyword | Environment | Default | Accepts | Description |",
            "|---|---|---|---|---|---|",
        ]
        for opt in OPTIONS:
            if opt.group != group:
                continue
            keyword = f"`{opt.name}`"
            if opt.name != opt.attribute:
                keyword += f" (`.{opt.attribute}`)"
            envs = ", ".join(f"`{name}`" for name in opt.envvars)
            lines.append(
                f"| `{_cell(opt.cli_flag)}` | {keyword} | {envs} | {_cell(opt.default_text())} "
                f"| {_cell(opt.accepts_text())} | {_cell(opt.help)} |"
            )
    for side, title, source in (
        ("uvicorn", "From uvicorn", "`uvicorn.Config`"),
        ("gunicorn", "From gunicorn", "gunicorn's `cfg`"),
    ):
        lines += [
            "",
            f"## {title}",
            "",
            f"What `sailfish.options.from_{side}()` reads from {source}.",
            "",
            f"| {side} | sailfish | Conversion |",
            "|---|---|---|",
        ]
        for opt in OPTIONS:
            attribute = getattr(opt, side)
            if attribute is None:
                continue
            convert = getattr(opt, f"{side}_convert")
            note = (convert.__doc__ or "").strip() if convert is not None else "as is"
            lines.append(f"| `{attribute}` | `{opt.display_flag}` | {_cell(note)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m sailfish.options --markdown [PATH]`: print or write docs/options.md."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "--markdown" or len(args) > 2:
        print("usage: python -m sailfish.options --markdown [PATH]", file=sys.stderr)
        return 2
    text = render_markdown()
    if len(args) == 2:
        with open(args[1], "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


__all__ = [
    "BY_NAME",
    "GROUPS",
    "GUNICORN_GRACE_MARGIN",
    "HTTPSettings",
    "INTERFACE_CHOICES",
    "LIFESPAN_CHOICES",
    "Limits",
    "OPTIONS",
    "Option",
    "ProcessSettings",
    "Settings",
    "TLSSettings",
    "TLS_CERT_REQS",
    "TLS_MIN_VERSIONS",
    "Timeouts",
    "UNSET",
    "WS_CHOICES",
    "WebSocketSettings",
    "WSGI_THREADS",
    "from_gunicorn",
    "from_uvicorn",
    "option",
    "parse_header",
    "render_markdown",
    "split_options",
]

if __name__ == "__main__":
    sys.exit(main())
