"""The PEP 3333 environ of one request: the reference twin of ext/wsgi/environ.pxi.

Strategy: `build_environ(scope, base)` turns the ASGI HTTP scope that the core built from the
request head (the same parse; nothing is parsed twice) into a WSGI environ: a copy of `base`
(the per-server constants: `wsgi.version`, `wsgi.errors`, ...) plus the request's CGI keys.
It is a pure function of its two arguments: the shell adds the per-request objects
(`wsgi.input`) afterwards. Rules (docs/wsgi.md has the table):
- SCRIPT_NAME is root_path without a trailing "/" (so SCRIPT_NAME + PATH_INFO is the path,
  and a root of "/" is the empty SCRIPT_NAME); PATH_INFO is the rest of raw_path,
  percent-decoded to bytes and read as latin-1 (PEP 3333: "native strings" hold bytes as
  latin-1), so no byte is lost to UTF-8 decoding. Without raw_path (another ASGI server may
  omit it), the UTF-8 bytes of path.
- SERVER_NAME / SERVER_PORT from the listening socket (an IPv6 address in brackets, as CGI
  writes it, so SERVER_NAME:SERVER_PORT is a valid authority); on a unix socket (no port) from the
  Host field, as gunicorn does, else "localhost" and the scheme's default port.
- HTTP_<NAME> for every header whose name has no "_" (with "_" it would collide with the "-"
  spelling: a client could forge `X_Forwarded_For` as `X-Forwarded-For`, so it is dropped);
  repeated fields are joined with ", " (Cookie with "; ", its own separator, RFC 6265 §4.2.1).
  CONTENT_TYPE and CONTENT_LENGTH only when the client sent them.
- REMOTE_ADDR / REMOTE_PORT and wsgi.url_scheme from the scope's client and scheme, which the
  shell has already rewritten from trusted proxy headers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["build_environ"]

# Header name -> environ key ("" for a dropped name); bounded, since names come from peers.
_KEYS: dict[bytes, str] = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
_MAX_KEYS = 512


def _key(name: bytes) -> str:
    key = _KEYS.get(name)
    if key is None:
        # ASCII-only case mapping, as the compiled twin does (header names are tokens).
        key = "" if b"_" in name else "HTTP_" + name.upper().replace(b"-", b"_").decode("latin-1")
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[name] = key
    return key


def build_environ(scope: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP scope.

    Args:
        scope: An ASGI HTTP scope (sailfish's own, or another server's).
        base: The keys every environ of this server shares; copied, never modified.

    Returns:
        A new dict: `base`, then REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING,
        SERVER_PROTOCOL, SERVER_NAME, SERVER_PORT, REMOTE_ADDR and REMOTE_PORT (when the
        client is known), wsgi.url_scheme, CONTENT_TYPE / CONTENT_LENGTH (when sent) and the
        HTTP_* keys.
    """
    environ = base.copy()
    environ["REQUEST_METHOD"] = scope["method"]
    root = scope.get("root_path", "").encode("utf-8").rstrip(b"/")
    raw = scope.get("raw_path")
    if raw is None:
        path = scope["path"].encode("utf-8")
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in (b"", b"/"):
            path = path[len(root) :]
    else:
        raw = bytes(raw)
        if root and raw.startswith(root) and raw[len(root) : len(root) + 1] in (b"", b"/"):
            raw = raw[len(root) :]
        path = unquote_to_bytes(raw) if b"%" in raw else raw
    environ["SCRIPT_NAME"] = root.decode("latin-1")
    environ["PATH_INFO"] = path.decode("latin-1")
    environ["QUERY_STRING"] = bytes(scope.get("query_string", b"")).decode("latin-1")
    environ["SERVER_PROTOCOL"] = "HTTP/" + scope.get("http_version", "1.1")
    scheme = scope.get("scheme") or "http"
    server = scope.get("server")
    if server is not None and server[1] is not None:
        name = str(server[0])
        # server-name = hostname | ipv4-address | ( "[" ipv6-address "]" ) -- RFC 3875 §4.1.14
        environ["SERVER_NAME"] = f"[{name}]" if ":" in name else name
        environ["SERVER_PORT"] = str(server[1])
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    environ["wsgi.url_scheme"] = scheme
    for name, value in scope["headers"]:
        key = _key(bytes(name))
        if not key:
            continue
        text = bytes(value).decode("latin-1")
        if key in environ:
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
        environ[key] = text
    if server is None or server[1] is None:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = host_server(
            environ.get("HTTP_HOST", ""), scheme
        )
    return environ


def host_server(host: str, scheme: str) -> tuple[str, str]:
    """SERVER_NAME and SERVER_PORT from a Host field value ("" when there was none)."""
    if host.startswith("["):  # an IPv6 literal: "[::1]:8000"
        end = host.find("]") + 1
        name, port = (host[:end], host[end + 1 :]) if end else (host, "")
    else:
        name, _, port = host.partition(":")
    return name or "localhost", port or ("443" if scheme == "https" else "80")
