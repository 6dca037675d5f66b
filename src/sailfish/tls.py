"""TLS: the server's SSLContext from the settings, and the ASGI `tls` extension of a connection.

Strategy: `server_context()` turns `TLSSettings` (or an `ssl.SSLContext` the user built) into
the one context every listening socket uses; it runs in `Config.load()`, before any socket is
bound, and a bad file, key or password is a `ConfigError` naming the option. The handshake
itself is the event loop's (`create_server(ssl=..., ssl_handshake_timeout=...)`), so a
protocol only ever sees finished TLS connections. `tls_extension()` builds the ASGI TLS
extension (spec 0.2) from a connection's `ssl_object`, once per connection; `scheme()` is the
one place the scope's scheme comes from, for HTTP and WebSocket alike. Nothing here touches
a transport or the loop.
"""

from __future__ import annotations

import re
import ssl
import weakref
from typing import Any

from sailfish.errors import ConfigError

__all__ = [
    "ALPN_PROTOCOLS",
    "TLS_VERSIONS",
    "cipher_suite",
    "proxied_tls_extension",
    "rfc4514_name",
    "scheme",
    "server_context",
    "tls_extension",
]

# Offered in this order by ALPN; "h2" goes first once HTTP/2 exists.
ALPN_PROTOCOLS: tuple[str, ...] = ("http/1.1",)

# ASGI TLS 0.2 `tls_version`: the protocol's number on the wire (RFC 8446 §4.2.1).
TLS_VERSIONS: dict[str, int] = {
    "TLSv1": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}

_MIN_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

# The PEM certificate each context we built presents: the extension's `server_cert`. The
# ssl module cannot say which certificate a server context holds, so it is read from the
# file once; a context the user built maps to None (the spec allows it).
_SERVER_CERTS: weakref.WeakKeyDictionary[ssl.SSLContext, str] = weakref.WeakKeyDictionary()
# OpenSSL cipher name -> IANA number, filled from the contexts that negotiate them.
_CIPHER_IDS: dict[str, int] = {}

# RFC 4514 §3: the attribute types that have a short name; others keep the ssl module's name.
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def scheme(secure: bool, websocket: bool = False) -> str:
    """The scope's scheme of a connection: http/https, or ws/wss for a WebSocket."""
    if websocket:
        return "wss" if secure else "ws"
    return "https" if secure else "http"


def server_context(tls: Any, context: ssl.SSLContext | None = None) -> ssl.SSLContext | None:
    """The SSLContext the server listens with, or None for plain TCP.

    Args:
        tls: The `TLSSettings` (certificate, key, password, CAs, client certificates,
            ciphers, lowest version).
        context: An `ssl.SSLContext` built by the user; used as it is (its ALPN too).

    Returns:
        `context`, or a new server context when `tls.certfile` is set, else None.

    Raises:
        ConfigError: a file cannot be read, the key does not match the certificate or its
            password is wrong, or the cipher list selects nothing.
    """
    if context is not None:
        return context
    if tls.certfile is None:
        return None
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    made.minimum_version = _MIN_VERSIONS[tls.min_version]
    try:
        made.load_cert_chain(tls.certfile, tls.keyfile, tls.keyfile_password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        where = tls.certfile if tls.keyfile is None else f"{tls.certfile} / {tls.keyfile}"
        why = _why(exc, password=tls.keyfile_password is not None)
        raise ConfigError(f"--ssl-certfile: cannot load {where}: {why}") from None
    made.verify_mode = _CERT_REQS[tls.cert_reqs.lower()]
    if tls.ca_certs is not None:
        try:
            made.load_verify_locations(tls.ca_certs)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--ssl-ca-certs: cannot load {tls.ca_certs}: {_why(exc)}") from None
    if tls.ciphers is not None:
        try:
            made.set_ciphers(tls.ciphers)
        except ssl.SSLError:
            raise ConfigError(f'--ssl-ciphers: "{tls.ciphers}" selects no cipher') from None
    made.set_alpn_protocols(list(ALPN_PROTOCOLS))
    made.options |= ssl.OP_NO_COMPRESSION  # CRIME; OpenSSL's default, stated
    pem = _first_certificate(tls.certfile)
    if pem is not None:
        _SERVER_CERTS[made] = pem
    return made


# OpenSSL's reason codes, as a person would say them.
_REASONS = {
    "PEM_LIB": "not a PEM certificate and key",
    "KEY_VALUES_MISMATCH": "the key does not match the certificate",
    "BAD_DECRYPT": "wrong --ssl-keyfile-password",
    "NO_START_LINE": "no PEM data found",
}


def _why(exc: BaseException, password: bool = False) -> str:
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason
        if not reason:  # e.g. "[SSL] PEM lib (_ssl.c:3905)": the code is only in the text
            text = str(exc.args[1] if len(exc.args) > 1 else exc)
            text = re.sub(r"^\[\w+\]\s*|\s*\(_ssl\.c:\d+\)$", "", text)
            reason = text.upper().replace(" ", "_")
        if password and reason in ("PEM_LIB", "BAD_DECRYPT"):
            return "wrong --ssl-keyfile-password, or not a PEM certificate and key"
        if reason in _REASONS:
            return _REASONS[reason]
        return reason.lower().replace("_", " ") or "invalid"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return " ".join(str(exc).split()) or type(exc).__name__


def _first_certificate(path: str) -> str | None:
    """The first PEM certificate in `path` (the server's own, then its chain)."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:  # pragma: no cover (load_cert_chain read it a moment ago)
        return None
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return None
    return text[start : stop + len(end)] + "\n"


def rfc4514_name(subject: Any) -> str | None:
    """An `ssl` subject (tuple of RDNs of (name, value) pairs) as an RFC 4514 string.

    RFC 4514 §2.1 writes the RDNs last first; §2.4 escapes `, + " \\ < > ;`, a leading `#`
    or space and a trailing space.
    """
    if not subject:
        return None
    rdns = []
    for rdn in reversed(subject):
        rdns.append("+".join(f"{_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(rdns)


def _escape(value: str) -> str:
    out = []
    for index, char in enumerate(value):
        if (
            char in ',+"\\<>;'
            or (index == 0 and char in "# ")
            or (index == len(value) - 1 and char == " ")
        ):
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def cipher_suite(name: str, context: ssl.SSLContext | None = None) -> int | None:
    """The IANA number of an OpenSSL cipher name ("TLS_AES_128_GCM_SHA256" -> 0x1301).

    Looked up in `context`'s cipher list (or every cipher OpenSSL knows) the first time a
    name is seen, then cached.
    """
    number = _CIPHER_IDS.get(name)
    if number is None:
        if context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_ciphers("ALL:@SECLEVEL=0")
        for cipher in context.get_ciphers():
            _CIPHER_IDS.setdefault(cipher["name"], cipher["id"] & 0xFFFF)
        number = _CIPHER_IDS.get(name)
    return number


def proxied_tls_extension(version: str | None, cipher: str | None) -> dict[str, Any]:
    """The `tls` extension of a connection whose TLS a proxy terminated (PROXY v2 SSL TLV).

    The spec's "TLS is terminated by a separate proxy" case: no certificates; the version
    and cipher when the proxy sent them.
    """
    return {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": cipher_suite(cipher) if cipher else None,
    }


def tls_extension(ssl_object: Any) -> dict[str, Any]:
    """`scope["extensions"]["tls"]` (ASGI TLS extension 0.2) of one TLS connection.

    `server_cert` is the PEM certificate of a context `server_context()` built from a file
    (None for a context the user passed). `client_cert_chain` is what the client sent (on
    Pythons without `get_unverified_chain`, its own certificate only). `client_cert_error`
    is always None: OpenSSL refuses a handshake whose client certificate fails verification,
    so no connection with a bad certificate reaches the app.

    Args:
        ssl_object: The connection's `ssl.SSLObject` (`transport.get_extra_info("ssl_object")`).
    """
    chain: list[str] = []
    name = None
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        unverified = getattr(ssl_object, "get_unverified_chain", None)
        certs = unverified() if unverified is not None else None
        if certs:
            chain = [ssl.DER_cert_to_PEM_cert(cert) for cert in certs]
        else:
            chain = [ssl.DER_cert_to_PEM_cert(der)]
        name = rfc4514_name((ssl_object.getpeercert() or {}).get("subject"))
    cipher = ssl_object.cipher()
    version = ssl_object.version()
    return {
        "server_cert": _SERVER_CERTS.get(ssl_object.context),
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": cipher_suite(cipher[0], ssl_object.context) if cipher else None,
    }
