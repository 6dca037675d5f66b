"""`--access-log-format`: gunicorn-style access lines, compiled once.

Strategy: a format such as `%(h)s "%(r)s" %(s)s %(D)s` is parsed once (`compile_format`, cached
per process) into a %-template (each atom a `%s`; a percent sign is `%%`, as in gunicorn) and a
tuple of getters, one per atom. A response's line is then `template % tuple(getters' texts)`: no
parsing per request. The request headers the atoms need (`{name}i`, and f, a, u) are picked out
of the scope in one pass, only when the format uses any. Every text that comes from the client,
a header or the environment is escaped (C0 and C1 controls and DEL as `\\xNN`, `"` and `\\` with
a backslash), so a CR/LF in a request can never split or forge a line. The default line (no
format) is not made here: the protocol keeps its own and asks this module nothing. Response
headers (`{name}o`) are not offered: the cycle does not keep them, and keeping them would cost
every response.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from sailfish.errors import ConfigError

__all__ = ["ATOMS", "AccessFormat", "compile_format", "escape"]

access_logger = logging.getLogger("sailfish.access")

ATOMS: dict[str, str] = {
    "h": "remote address (the client's host, after proxy headers)",
    "l": '"-" (identd is not asked)',
    "u": 'user name from "Authorization: Basic", else "-"',
    "t": "time of the log line, [10/Oct/2000:13:55:36 +0000]",
    "r": 'request line, "GET /path?query HTTP/1.1" (the path as received)',
    "m": "request method",
    "U": "URL path, percent-decoded, without the query",
    "q": "query string",
    "H": "protocol, HTTP/1.1",
    "s": "status",
    "B": "response body bytes",
    "b": 'response body bytes, "-" for none',
    "f": "Referer header",
    "a": "User-Agent header",
    "T": "request time in whole seconds",
    "D": "request time in microseconds",
    "M": "request time in milliseconds",
    "L": "request time in decimal seconds (microsecond precision)",
    "p": "process id, <1234>",
    "{name}i": "request header `name`",
    "{name}e": "environment variable `NAME` (the name is matched as written)",
}

# C0 controls, DEL and C1 controls, the quote that delimits fields, and the escape itself.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')
_TABLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_TABLE[ord('"')] = '\\"'
_TABLE[ord("\\")] = "\\\\"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATOM = re.compile(r"%(?:(%)|\(([^()]*)\)(.?))")


def escape(text: str) -> str:
    """`text` safe for one log line: controls as \\xNN, `"` and `\\` backslashed."""
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_TABLE)


class _Line:
    """What one response's getters read; built once per line."""

    __slots__ = ("duration", "headers", "scope", "size", "status")

    def __init__(
        self,
        scope: dict[str, Any],
        status: int,
        size: int,
        duration: float,
        headers: dict[bytes, str],
    ) -> None:
        self.scope = scope
        self.status = status
        self.size = size
        self.duration = duration
        self.headers = headers


Getter = Callable[[_Line], str]


def _host(line: _Line) -> str:
    client = line.scope.get("client")
    return escape(str(client[0])) if client else "-"


def _user(line: _Line) -> str:
    value = line.headers.get(b"authorization")
    if value is None or value[:6].lower() != "basic ":
        return "-"
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "-"
    user = decoded.partition(":")[0]
    return escape(user) if user else "-"


def _request_line(line: _Line) -> str:
    scope = line.scope
    target = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope["query_string"]
    if query:
        target = target + b"?" + query
    text = f"{scope['method']} {target.decode('latin-1')} HTTP/{scope['http_version']}"
    return escape(text)


def _header(name: bytes) -> Getter:
    def get(line: _Line) -> str:
        value = line.headers.get(name)
        return "-" if value is None else escape(value)

    return get


def _environ(name: str) -> Getter:
    def get(line: _Line) -> str:
        value = os.environ.get(name)
        return "-" if value is None else escape(value)

    return get


_SIMPLE: dict[str, Getter] = {
    "h": _host,
    "l": lambda line: "-",
    "u": _user,
    "t": lambda line: time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
    "r": _request_line,
    "m": lambda line: escape(line.scope["method"]),
    "U": lambda line: escape(line.scope["path"]),
    "q": lambda line: escape(line.scope["query_string"].decode("latin-1")),
    "H": lambda line: f"HTTP/{line.scope['http_version']}",
    "s": lambda line: str(line.status),
    "B": lambda line: str(line.size),
    "b": lambda line: str(line.size) if line.size else "-",
    "f": _header(b"referer"),
    "a": _header(b"user-agent"),
    "T": lambda line: str(int(line.duration)),
    "D": lambda line: str(int(line.duration * 1_000_000)),
    "M": lambda line: str(int(line.duration * 1000)),
    "L": lambda line: f"{line.duration:.6f}",
    "p": lambda line: f"<{os.getpid()}>",
}
# The request headers each simple atom reads.
_SIMPLE_HEADERS = {"u": b"authorization", "f": b"referer", "a": b"user-agent"}


class AccessFormat:
    """A compiled access-log format: make one with `compile_format`.

    Attributes:
        text: The format as given.
        template: `text` with each atom replaced by `%s` (`%%` stays a percent sign).
        getters: One function per atom, in order: the atom's text for a response.
        headers: The lower-case request header names the atoms read.
    """

    __slots__ = ("getters", "headers", "template", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        literal: list[str] = []
        getters: list[Getter] = []
        headers: set[bytes] = set()
        position = 0
        for match in _ATOM.finditer(text):
            self._check_literal(text, position, match.start())
            literal.append(text[position : match.start()])
            position = match.end()
            if match.group(1):  # "%%"
                literal.append("%%")
                continue
            name, conversion = match.group(2), match.group(3)
            if conversion != "s":
                raise self._error(f"%({name}) must be followed by s, as in %({name})s")
            getters.append(self._getter(name, headers))
            literal.append("%s")
        self._check_literal(text, position, len(text))
        literal.append(text[position:])
        self.template = "".join(literal)
        self.getters = tuple(getters)
        self.headers = frozenset(headers)

    def _check_literal(self, text: str, start: int, end: int) -> None:
        at = text.find("%", start, end)
        if at >= 0:
            raise self._error(
                f"a lone % at position {at} (write %% for a percent sign, %(name)s for an atom)"
            )

    def _error(self, text: str) -> ConfigError:
        return ConfigError(f"--access-log-format {self.text!r}: {text}")

    def _getter(self, name: str, headers: set[bytes]) -> Getter:
        simple = _SIMPLE.get(name)
        if simple is not None:
            if name in _SIMPLE_HEADERS:
                headers.add(_SIMPLE_HEADERS[name])
            return simple
        if len(name) > 3 and name[0] == "{" and name[-2] == "}":
            inner, kind = name[1:-2], name[-1]
            if kind == "i":
                if not _TOKEN.fullmatch(inner):
                    raise self._error(f"%({name})s: {inner!r} is not a header name")
                header = inner.lower().encode("ascii")
                headers.add(header)
                return _header(header)
            if kind == "e":
                return _environ(inner)
            if kind == "o":
                raise self._error(f"%({name})s: response headers ({{name}}o) are not supported")
        known = " ".join(ATOMS)
        raise self._error(f"unknown atom %({name})s (known: {known})")

    def render(self, scope: dict[str, Any], status: int, size: int, duration: float) -> str:
        """The line for one response: `duration` in seconds, `size` the body bytes sent."""
        found: dict[bytes, str] = {}
        wanted = self.headers
        if wanted:
            for name, value in scope["headers"]:
                if name in wanted:
                    found[name] = value.decode("latin-1")  # the last one wins, as in gunicorn
        line = _Line(scope, status, size, duration, found)
        return self.template % tuple([getter(line) for getter in self.getters])

    def log(self, scope: dict[str, Any], status: int, size: int, start: float) -> None:
        """Emit the line on `sailfish.access` (`start`: the request's `time.perf_counter()`).

        The record carries the same `extra` fields as the default line, so the JSON
        formatter writes them as well.
        """
        duration = time.perf_counter() - start
        path = scope["path"]
        if scope["query_string"]:
            path = f"{path}?{scope['query_string'].decode('latin-1')}"
        peer = scope.get("client")
        client = f"{peer[0]}:{peer[1]}" if peer else "-"
        access_logger.info(
            "%s",
            self.render(scope, status, size, duration),
            extra={
                "client": client,
                "method": scope["method"],
                "path": path,
                "http_version": scope["http_version"],
                "status": status,
                "size": size,
                "duration_ms": duration * 1000,
            },
        )


@functools.lru_cache(maxsize=8)
def compile_format(text: str) -> AccessFormat:
    """The compiled format for `text`, made once per process (cached).

    Raises:
        ConfigError: one line naming the unknown atom, the malformed `%(...)`, or the lone `%`.
    """
    return AccessFormat(text)
