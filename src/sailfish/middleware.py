"""ASGI middleware the server wraps around the application: proxy headers and ASGI 2.

Strategy: `ProxyHeadersMiddleware` rewrites `scope["client"]` and `scope["scheme"]` from
`Forwarded` (RFC 7239; preferred when present) or `X-Forwarded-For` / `X-Forwarded-Proto`, and
the `host` header and `scope["server"]` from `Forwarded: host=` or `X-Forwarded-Host` /
`X-Forwarded-Port` (the port alone replaces the port of the request's own Host, as werkzeug's
ProxyFix does, but only beside another forwarded field), only when the direct peer is
trusted. The chain of addresses is read right to left (nearest proxy first), skipping trusted
proxies; the first untrusted address is the client, because everything to its left was
written by someone we do not trust; the proto and host of that hop are the ones used.
Lifespan scopes pass through untouched. `ASGI2Middleware` adapts a two-step ASGI 2 app to the
ASGI 3 signature.
"""

from __future__ import annotations

import ipaddress
import re

from sailfish._types import ASGI2App, ASGIApp, Message, Receive, Scope, Send

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A peer on a unix socket has no address; list this token to trust such peers.
UNIX_PEER = "unix:"
_PROXY_FIELDS = frozenset(
    (
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
    )
)
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
# RFC 9110 §7.2 Host = uri-host [ ":" port ]: a reg-name or an IP-literal (RFC 3986 §3.2.2).
_HOST = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.vV]+\])(?::[0-9]{0,5})?")

_SCHEMES = {
    "http": {"http": "http", "https": "https", "ws": "http", "wss": "https"},
    "websocket": {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"},
}


def _parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


TrustedEntry = tuple[str, IPAddress | IPNetwork | str]


def parse_trusted_entry(entry: str) -> TrustedEntry:
    """Classify one entry of a trusted-hosts list, as `TrustedHosts` reads it.

    Returns:
        ("any", "*"), ("address", IPv4Address | IPv6Address), ("network", IPv4Network |
        IPv6Network), or ("literal", the stripped text) for anything else: "unix:", or a name
        compared as text (a network with bad bits, such as "10.0.0.1/99", is a literal too).
    """
    entry = entry.strip()
    if entry == "*":
        return ("any", entry)
    if (address := _parse_address(entry)) is not None:
        return ("address", address)
    if "/" in entry:
        try:
            return ("network", ipaddress.ip_network(entry, strict=False))
        except ValueError:
            pass
    return ("literal", entry)


class TrustedHosts:
    """A set of trusted peers: "*", IP addresses, CIDR networks and literal names.

    Args:
        trusted_hosts: A comma-separated string or a list of entries. "*" trusts every peer;
            "unix:" trusts peers on a unix socket; an entry that is neither an address nor a
            network is compared as a literal string (e.g. a hostname a proxy writes). The
            server's own settings refuse such names (`--forwarded-allow-ips`); the class keeps
            them for hosts that pass their own lists (uvicorn's accepts names).
    """

    def __init__(self, trusted_hosts: str | list[str]) -> None:
        entries = trusted_hosts.split(",") if isinstance(trusted_hosts, str) else trusted_hosts
        self.always_trust = False
        self._cache: dict[str, bool] = {}  # host -> trusted; peers repeat, parsing is slow
        self.addresses: set[IPAddress] = set()
        self.networks: set[IPNetwork] = set()
        self.literals: set[str] = set()
        for raw in entries:
            if not raw.strip():
                continue
            kind, value = parse_trusted_entry(raw)
            if kind == "any":
                self.always_trust = True
            elif isinstance(value, IPAddress):
                self.addresses.add(value)
            elif isinstance(value, IPNetwork):
                self.networks.add(value)
            else:
                self.literals.add(value)

    def __contains__(self, host: object) -> bool:
        """Whether `host` (a str address or name; None for a unix-socket peer) is trusted."""
        if self.always_trust:
            return True
        if host is None or host == "":
            return UNIX_PEER in self.literals
        if not isinstance(host, str):
            return False
        cached = self._cache.get(host)
        if cached is None:
            if len(self._cache) >= 4096:  # bounded: addresses seen by a busy server vary
                self._cache.clear()
            cached = self._cache[host] = self._lookup(host)
        return cached

    def _lookup(self, host: str) -> bool:
        address = _parse_address(host)
        if address is None:
            return host in self.literals
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            if address.ipv4_mapped in self.addresses or any(
                address.ipv4_mapped in net for net in self.networks
            ):
                return True
        return address in self.addresses or any(address in net for net in self.networks)

    def client_index(self, hosts: list[str]) -> int:
        """The index of the client in a chain of addresses (left-most is the origin).

        The right-most untrusted entry; if every entry is trusted, the left-most one.
        """
        for index in range(len(hosts) - 1, -1, -1):
            if hosts[index] not in self:
                return index
        return 0


def _split_node(node: str) -> tuple[str, int]:
    """`for=` node of RFC 7239 §6 -> (host, port); port 0 when absent or obfuscated."""
    node = node.strip()
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
    else:  # a bare name, an IPv4 address, or an (invalid but common) unbracketed IPv6
        host, port = node, ""
    return host, int(port) if port.isdigit() else 0


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """Parse a `Forwarded` field value (RFC 7239 §4) into one dict per hop.

    Parameter names are lower-cased and values unquoted; malformed pairs are skipped.
    """
    hops: list[dict[str, str]] = []
    for element in _split_outside_quotes(value, ","):
        hop: dict[str, str] = {}
        for pair in _split_outside_quotes(element, ";"):
            name, sep, raw = pair.partition("=")
            name = name.strip().lower()
            if sep and name:
                hop[name] = _unquote(raw)
        if hop:
            hops.append(hop)
    return hops


class ProxyHeadersMiddleware:
    """Take the client address and scheme from a trusted proxy's headers.

    With a `Forwarded` field, its `for=` and `proto=` parameters are used (the hop chosen for
    the client supplies both). Otherwise `X-Forwarded-For` gives the client and
    `X-Forwarded-Proto` the scheme. Nothing is changed unless the direct peer is trusted.

    Args:
        app: The ASGI 3 application to call.
        trusted_hosts: Who may set these headers: "*", IPs, CIDR networks, "unix:" for
            unix-socket peers, comma-separated or as a list.
    """

    def __init__(self, app: ASGIApp, trusted_hosts: str | list[str] = "127.0.0.1") -> None:
        self.app = app
        self.trusted_hosts = TrustedHosts(trusted_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite `client`/`scheme` of an http or websocket scope, then call the app."""
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else None
            if peer in self.trusted_hosts:
                self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        apply_proxy_headers(scope, self.trusted_hosts)


def _pick(values: list[str], index: int, hops: int) -> str:
    """The entry of a per-hop list (X-Forwarded-Proto/-Host/-Port) for the chosen hop.

    Aligned with X-Forwarded-For when it has one entry per address; otherwise the last
    one, which the nearest proxy wrote.
    """
    return values[index] if len(values) == hops else values[-1]


def apply_proxy_headers(scope: Scope, trusted_hosts: TrustedHosts) -> None:
    """Rewrite `client`, `scheme`, the `host` header and `server` from the proxy fields of a
    scope whose peer is trusted."""
    forwarded: list[str] = []
    xff: list[str] = []
    xfp: list[str] = []
    xfh: list[str] = []
    xfport: list[str] = []
    for name, value in scope["headers"]:
        if name not in _PROXY_FIELDS:
            continue
        if name == b"forwarded":
            forwarded.append(value.decode("latin-1"))
        elif name == b"x-forwarded-for":
            xff.append(value.decode("latin-1"))
        elif name == b"x-forwarded-proto":
            xfp.append(value.decode("latin-1"))
        elif name == b"x-forwarded-host":
            xfh.append(value.decode("latin-1"))
        else:
            xfport.append(value.decode("latin-1"))
    if not (forwarded or xff or xfp or xfh):
        return  # X-Forwarded-Port alone qualifies nothing

    proto: str | None = None
    host: str | None = None
    port: str | None = None
    if forwarded:
        parsed = parse_forwarded(",".join(forwarded))
        hops = [hop for hop in parsed if "for" in hop]
        if hops:
            nodes = [_split_node(hop["for"]) for hop in hops]
            index = trusted_hosts.client_index([host for host, _ in nodes])
            scope["client"] = nodes[index]
            proto = hops[index].get("proto")
            host = hops[index].get("host")
        else:
            protos = [hop["proto"] for hop in parsed if "proto" in hop]
            proto = protos[-1] if protos else None
            hosts = [hop["host"] for hop in parsed if "host" in hop]
            host = hosts[-1] if hosts else None
    else:
        hosts = [host.strip() for host in ",".join(xff).split(",") if host.strip()]
        protos = [p.strip() for p in ",".join(xfp).split(",") if p.strip()]
        names = [h.strip() for h in ",".join(xfh).split(",") if h.strip()]
        ports = [p.strip() for p in ",".join(xfport).split(",") if p.strip()]
        index = len(hosts) - 1
        if hosts:
            nodes = [_split_node(host) for host in hosts]
            index = trusted_hosts.client_index([host for host, _ in nodes])
            scope["client"] = nodes[index]
        if protos:
            proto = _pick(protos, index, len(hosts))
        if names:
            host = _pick(names, index, len(hosts))
        if ports:
            port = _pick(ports, index, len(hosts))
            if host is None:  # the public port on the request's own Host (a proxy that
                host = _own_host(scope)  # passes Host through but drops its port)

    if proto is not None:
        scheme = _SCHEMES.get(scope["type"], {}).get(proto.lower())
        if scheme is not None:
            scope["scheme"] = scheme
    if host is not None:
        _apply_host(scope, host, port)


def _apply_host(scope: Scope, host: str, port: str | None) -> None:
    """Make `host` (with `port`, from X-Forwarded-Port) the request's Host and `server`.

    A value that is not a valid Host (RFC 9110 §7.2) or port is ignored, so nothing a proxy
    passes through can put bytes into the headers that the parser would have refused.
    """
    if not _HOST.fullmatch(host) or (port is not None and not _valid_port(port)):
        return
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        own_port = rest[1:]
    else:
        name, _, own_port = host.partition(":")
    if port is None:
        port = own_port or None
        if port is not None and not _valid_port(port):
            return
    default = _DEFAULT_PORTS.get(scope["scheme"], 80)
    number = int(port) if port is not None else default
    value = name if number == default else f"{name}:{number}"
    encoded = value.encode("latin-1")
    headers = scope["headers"]
    for position, (field, _) in enumerate(headers):
        if field == b"host":
            headers[position] = (b"host", encoded)
            break
    else:
        headers.append((b"host", encoded))
    scope["server"] = (name.strip("[]"), number)


def _own_host(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return None


def _valid_port(text: str) -> bool:
    return text.isdigit() and len(text) <= 5 and int(text) <= 65535


class ASGI2Middleware:
    """Run an ASGI 2 application (`app(scope)` returns `instance(receive, send)`) as ASGI 3.

    Args:
        app: The ASGI 2 application.
    """

    def __init__(self, app: ASGI2App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Instantiate the app for this scope and run it."""
        instance = self.app(scope)
        await instance(receive, send)


__all__ = [
    "ASGI2App",
    "ASGI2Middleware",
    "ASGIApp",
    "Message",
    "ProxyHeadersMiddleware",
    "Receive",
    "Scope",
    "Send",
    "TrustedHosts",
    "apply_proxy_headers",
    "parse_forwarded",
    "parse_trusted_entry",
]
