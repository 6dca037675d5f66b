"""The PROXY protocol (HAProxy's spec, versions 1 and 2): the header a proxy sends first.

Strategy: sans-IO, like the HTTP core: `parse_proxy_header(buffer)` takes the bytes a
connection has received so far and returns a `ProxyHeader` once the whole header is there
(with its size, so the caller hands the rest to the HTTP parser), None while it is
incomplete, or raises `ProxyHeaderError` as soon as the bytes cannot become a valid header
(so a peer that speaks HTTP, or garbage, is refused at its first bytes; a header longer than
the limit is refused before it is buffered). It never guesses: the spec forbids falling
back to plain HTTP when the header is missing. Pure Python, with no compiled twin: it runs
once per connection, not per request (its cost is measured in bench/RESULTS.md). Who may send
a header is the shell's decision (`--forwarded-allow-ips`), not this module's.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from sailfish.errors import ProxyHeaderError

__all__ = [
    "MAX_HEADER_SIZE",
    "V1_MAX_SIZE",
    "V2_SIGNATURE",
    "ProxyHeader",
    "crc32c",
    "parse_proxy_header",
]

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
# "the maximum line lengths the receiver must support including the CRLF ... 107 chars"
# -- PROXY protocol spec §2.1; a longer line is not a v1 header.
V1_MAX_SIZE = 107
# A v2 header may announce up to 16 + 65535 bytes; a real proxy's (addresses, SSL details,
# a unique id) fits in a few hundred. Larger is refused before it is buffered.
MAX_HEADER_SIZE = 4096

_V2_FIXED = 16  # signature, version/command, family/transport, length
_ADDRESS_SIZES = {1: 12, 2: 36, 3: 216}  # AF_INET, AF_INET6, AF_UNIX

PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION = 0x21
PP2_SUBTYPE_SSL_CN = 0x22
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_CLIENT_SSL = 0x01
PP2_CLIENT_CERT_CONN = 0x02


@dataclass(slots=True)
class ProxyHeader:
    """What a PROXY header says about the connection it opens.

    Attributes:
        version: 1 or 2.
        size: How many bytes the header took; the HTTP bytes start there.
        local: The proxy speaks for itself (v2 LOCAL, e.g. a health check; v1 UNKNOWN; v2
            UNSPEC): keep the connection's own addresses.
        client: The original client's (host, port); None for a unix-socket client.
        server: The address the client connected to; None for a unix socket.
        ssl: The client reached the proxy over TLS (v2 PP2_TYPE_SSL, PP2_CLIENT_SSL).
        ssl_version: That TLS version as the proxy names it ("TLSv1.3"), if sent.
        ssl_cipher: That cipher's OpenSSL name, if sent.
        ssl_client_cn: Common name of the client certificate the proxy verified, if sent.
        ssl_verified: The proxy says the client's certificate verified (verify == 0 and a
            certificate was presented on this connection).
        authority: PP2_TYPE_AUTHORITY: the host name the client asked for (TLS SNI).
        alpn: PP2_TYPE_ALPN: the protocol the client and proxy agreed on.
        unique_id: PP2_TYPE_UNIQUE_ID: the proxy's id of this connection.
    """

    version: int
    size: int
    local: bool = False
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    ssl: bool = False
    ssl_version: str | None = None
    ssl_cipher: str | None = None
    ssl_client_cn: str | None = None
    ssl_verified: bool = False
    authority: str | None = None
    alpn: bytes | None = None
    unique_id: bytes | None = None


def parse_proxy_header(data: bytes, max_size: int = MAX_HEADER_SIZE) -> ProxyHeader | None:
    """Parse the PROXY header at the start of `data`.

    Args:
        data: Every byte received on the connection so far.
        max_size: The largest v2 header accepted (16 fixed bytes + its announced length).

    Returns:
        The header once complete (its `size` says where the HTTP bytes begin), or None
        while `data` is a valid but incomplete prefix of one.

    Raises:
        ProxyHeaderError: `data` does not start a valid v1 or v2 header, or the header is
            too long.
    """
    first = data[:1]
    if first == b"P":
        return _parse_v1(data)
    if first == b"\r":
        return _parse_v2(data, max_size)
    if not data:
        return None
    raise ProxyHeaderError("not a PROXY protocol header")


# -- version 1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" --------------------------


def _parse_v1(data: bytes) -> ProxyHeader | None:
    head = data[: len(V1_PREFIX)]
    if not V1_PREFIX.startswith(head):
        raise ProxyHeaderError("not a PROXY protocol header")
    end = data.find(b"\r\n", 0, V1_MAX_SIZE)
    if end < 0:
        if b"\n" in data[:V1_MAX_SIZE]:
            raise ProxyHeaderError("PROXY v1 line ends without CRLF")
        if len(data) >= V1_MAX_SIZE:
            raise ProxyHeaderError(f"PROXY v1 line longer than {V1_MAX_SIZE} bytes")
        return None
    size = end + 2
    if b"\n" in data[:end]:  # refused whole as it is refused in pieces (above)
        raise ProxyHeaderError("PROXY v1 line ends without CRLF")
    parts = data[:end].split(b" ")
    if len(parts) < 2:
        raise ProxyHeaderError("PROXY v1 line without a protocol")
    family = parts[1]
    # "UNKNOWN ... the receiver must ignore anything presented before the CRLF is found"
    if family == b"UNKNOWN":
        return ProxyHeader(version=1, size=size, local=True)
    if family not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError(f"PROXY v1 protocol {family[:16]!r} is not TCP4, TCP6 or UNKNOWN")
    if len(parts) != 6:
        raise ProxyHeaderError("PROXY v1 line must have 6 fields")
    kind = socket.AF_INET if family == b"TCP4" else socket.AF_INET6
    source = _v1_address(parts[2], kind)
    destination = _v1_address(parts[3], kind)
    return ProxyHeader(
        version=1,
        size=size,
        client=(source, _v1_port(parts[4])),
        server=(destination, _v1_port(parts[5])),
    )


def _v1_address(raw: bytes, family: int) -> str:
    # inet_pton is strict (no leading zeros, no spaces) and inet_ntop gives the canonical
    # text; both in C, several times cheaper than the ipaddress module.
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, raw.decode("ascii")))
    except (UnicodeDecodeError, OSError, ValueError):
        raise ProxyHeaderError(f"PROXY v1 address {raw[:48]!r} is invalid") from None


def _v1_port(raw: bytes) -> int:
    # "a port ... as an unsigned 16-bit integer in decimal, without leading zeroes" -- §2.1
    if not raw.isdigit() or len(raw) > 5 or (len(raw) > 1 and raw[:1] == b"0"):
        raise ProxyHeaderError(f"PROXY v1 port {raw[:8]!r} is invalid")
    port = int(raw)
    if port > 65535:
        raise ProxyHeaderError(f"PROXY v1 port {port} is out of range")
    return port


# -- version 2: binary ------------------------------------------------------------------------


def _parse_v2(data: bytes, max_size: int) -> ProxyHeader | None:
    if not V2_SIGNATURE.startswith(data[:12]):
        raise ProxyHeaderError("not a PROXY protocol header")
    if len(data) < _V2_FIXED:
        if len(data) > 12 and data[12] >> 4 != 2:
            raise ProxyHeaderError(f"PROXY v2 version {data[12] >> 4} is not 2")
        return None
    version_command, family_transport, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY v2 version {version_command >> 4} is not 2")
    command = version_command & 0x0F
    if command > 1:
        raise ProxyHeaderError(f"PROXY v2 command {command} is not LOCAL or PROXY")
    size = _V2_FIXED + length
    if size > max_size:
        raise ProxyHeaderError(f"PROXY v2 header of {size} bytes is over the limit {max_size}")
    if len(data) < size:
        return None
    # "the receiver must accept this connection as valid and must use the real connection
    # endpoints and discard the protocol block including the family" -- §2.2, LOCAL
    if command == 0:
        return ProxyHeader(version=2, size=size, local=True)
    family, transport = family_transport >> 4, family_transport & 0x0F
    if family > 3 or transport > 2:
        raise ProxyHeaderError(f"PROXY v2 address family/protocol 0x{family_transport:02x}")
    if family == 0:  # UNSPEC: "the receiver ... use the real endpoint addresses"
        fields = _tlvs(data, _V2_FIXED, size)
        return _with_tlvs(ProxyHeader(version=2, size=size, local=True), fields, data)
    if transport != 1:
        raise ProxyHeaderError("PROXY v2 header for a datagram or unspecified transport")
    address_size = _ADDRESS_SIZES[family]
    if length < address_size:
        raise ProxyHeaderError(f"PROXY v2 length {length} is too short for its addresses")
    start = _V2_FIXED
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    if family == 1:
        source, destination, sport, dport = struct.unpack_from("!4s4sHH", data, start)
        client = (socket.inet_ntop(socket.AF_INET, source), sport)
        server = (socket.inet_ntop(socket.AF_INET, destination), dport)
    elif family == 2:
        source, destination, sport, dport = struct.unpack_from("!16s16sHH", data, start)
        client = (socket.inet_ntop(socket.AF_INET6, source), sport)
        server = (socket.inet_ntop(socket.AF_INET6, destination), dport)
    header = ProxyHeader(version=2, size=size, client=client, server=server)
    return _with_tlvs(header, _tlvs(data, start + address_size, size), data)


def _tlvs(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(type, value start, value end) of each TLV in data[start:end]."""
    found = []
    index = start
    while index < end:
        if end - index < 3:
            raise ProxyHeaderError("PROXY v2 TLV truncated")
        kind, length = data[index], int.from_bytes(data[index + 1 : index + 3], "big")
        value = index + 3
        if value + length > end:
            raise ProxyHeaderError(f"PROXY v2 TLV 0x{kind:02x} runs past the header")
        found.append((kind, value, value + length))
        index = value + length
    return found


def _with_tlvs(header: ProxyHeader, fields: list[tuple[int, int, int]], data: bytes) -> ProxyHeader:
    for kind, start, end in fields:
        value = data[start:end]
        if kind == PP2_TYPE_CRC32C:
            _check_crc(data[: header.size], start, value)
        elif kind == PP2_TYPE_ALPN:
            header.alpn = value
        elif kind == PP2_TYPE_AUTHORITY:
            header.authority = _text(value, "authority")
        elif kind == PP2_TYPE_UNIQUE_ID:
            if len(value) > 128:  # "up to 128 bytes" -- §2.2.5
                raise ProxyHeaderError("PROXY v2 unique id longer than 128 bytes")
            header.unique_id = value
        elif kind == PP2_TYPE_SSL:
            _ssl(header, data, start, end)
        # Other types (NOOP, NETNS, custom 0xE0-0xEF) are skipped: "the receiver ... may
        # ignore" TLVs it does not use.
    return header


def _ssl(header: ProxyHeader, data: bytes, start: int, end: int) -> None:
    # struct pp2_tlv_ssl { uint8_t client; uint32_t verify; struct pp2_tlv sub_tlv[0]; }
    if end - start < 5:
        raise ProxyHeaderError("PROXY v2 SSL TLV shorter than 5 bytes")
    client, verify = struct.unpack_from("!BI", data, start)
    header.ssl = bool(client & PP2_CLIENT_SSL)
    header.ssl_verified = bool(client & PP2_CLIENT_CERT_CONN) and verify == 0
    for kind, sub_start, sub_end in _tlvs(data, start + 5, end):
        value = data[sub_start:sub_end]
        if kind == PP2_SUBTYPE_SSL_VERSION:
            header.ssl_version = _text(value, "SSL version")
        elif kind == PP2_SUBTYPE_SSL_CIPHER:
            header.ssl_cipher = _text(value, "SSL cipher")
        elif kind == PP2_SUBTYPE_SSL_CN:
            header.ssl_client_cn = _text(value, "SSL client CN")


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProxyHeaderError(f"PROXY v2 {what} is not UTF-8") from None


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as PP2_TYPE_CRC32C carries it (RFC 3720 §B.4)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _check_crc(header: bytes, start: int, value: bytes) -> None:
    # "the checksum is calculated ... over the entire PROXY protocol header ... with the
    # checksum field filled with zeros" -- §2.2.3
    if len(value) != 4:
        raise ProxyHeaderError("PROXY v2 CRC32C TLV is not 4 bytes")
    zeroed = header[:start] + b"\x00\x00\x00\x00" + header[start + 4 :]
    if crc32c(zeroed) != int.from_bytes(value, "big"):
        raise ProxyHeaderError("PROXY v2 CRC32C checksum does not match")
