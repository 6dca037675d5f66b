"""The PROXY protocol parser (sailfish.proxy_protocol), sans-IO: every field, every limit.

Strategy: headers are built here field by field (`v2()` packs the binary form; TLVs are
`(type, value)` pairs), fed whole, then in every split, and each must give the same result:
None for every proper prefix, the header for the whole. Malformed input raises at the first
byte that makes it invalid; limits are tested at the limit and one past it.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from sailfish.errors import ProxyHeaderError
from sailfish.proxy_protocol import (
    MAX_HEADER_SIZE,
    V1_MAX_SIZE,
    V2_SIGNATURE,
    ProxyHeader,
    crc32c,
    parse_proxy_header,
)

INET, INET6, UNIX, UNSPEC = 0x10, 0x20, 0x30, 0x00
STREAM, DGRAM = 0x01, 0x02


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + len(value).to_bytes(2, "big") + value


def v2(
    command: int = 1,
    family: int = INET | STREAM,
    addresses: bytes | None = None,
    tlvs: bytes = b"",
    version: int = 2,
    length: int | None = None,
) -> bytes:
    if addresses is None:
        addresses = (
            ipaddress.IPv4Address("192.0.2.10").packed
            + ipaddress.IPv4Address("198.51.100.20").packed
            + struct.pack("!HH", 51234, 443)
        )
    body = addresses + tlvs
    size = len(body) if length is None else length
    return V2_SIGNATURE + bytes([version << 4 | command, family]) + struct.pack("!H", size) + body


def parse_all_ways(data: bytes) -> ProxyHeader | None:
    """Parse `data` whole, after checking that every proper prefix is incomplete."""
    complete = parse_proxy_header(data)
    size = complete.size if complete is not None else len(data)
    for cut in range(size):
        assert parse_proxy_header(data[:cut]) is None, cut
    return complete


# -- version 1 -------------------------------------------------------------------------------------


def test_v1_tcp4() -> None:
    line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
    header = parse_all_ways(line + b"GET / HTTP/1.1\r\n")
    assert header == ProxyHeader(
        version=1, size=len(line), client=("192.0.2.1", 56324), server=("198.51.100.2", 443)
    )


def test_v1_tcp6() -> None:
    line = b"PROXY TCP6 2001:db8::1 2001:db8:0:0::2 65535 0\r\n"
    header = parse_all_ways(line)
    assert header is not None
    assert header.client == ("2001:db8::1", 65535) and header.server == ("2001:db8::2", 0)


def test_v1_unknown_keeps_the_real_addresses() -> None:
    for line in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ff::1 what ever\r\n"):
        header = parse_all_ways(line)
        assert header == ProxyHeader(version=1, size=len(line), local=True)


def test_v1_longest_line_fits_and_one_more_byte_does_not() -> None:
    # The spec's worst case is 107 bytes with its CRLF (UNKNOWN with addresses).
    longest = b"PROXY UNKNOWN " + b"x" * (V1_MAX_SIZE - 16) + b"\r\n"
    assert len(longest) == V1_MAX_SIZE
    assert parse_proxy_header(longest) is not None
    too_long = b"PROXY UNKNOWN " + b"x" * (V1_MAX_SIZE - 15) + b"\r\n"
    with pytest.raises(ProxyHeaderError, match="longer than 107"):
        parse_proxy_header(too_long)
    # Without a CRLF it is refused as soon as 107 bytes are in, not buffered further.
    assert parse_proxy_header(too_long[: V1_MAX_SIZE - 1]) is None
    with pytest.raises(ProxyHeaderError, match="longer than 107"):
        parse_proxy_header(too_long[:V1_MAX_SIZE])


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", id="bare_lf"),
        pytest.param(b"PROXY UNKNOWN a\nb\r\n", id="bare_lf_before_crlf"),
        pytest.param(b"PROXY\r\n", id="no_protocol"),
        pytest.param(b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", id="udp"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", id="five_fields"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", id="seven_fields"),
        pytest.param(b"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", id="double_space"),
        pytest.param(b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", id="v6_in_tcp4"),
        pytest.param(b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", id="v4_in_tcp6"),
        pytest.param(b"PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n", id="bad_octet"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", id="port_too_big"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 080 2\r\n", id="port_leading_zero"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n", id="negative_port"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 1 \xff\r\n", id="non_ascii_port"),
        pytest.param(b"PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n", id="lower_case_protocol"),
    ],
)
def test_v1_malformed(line: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(line)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET / HTTP/1.1\r\n", id="http"),
        pytest.param(b"PROXX", id="wrong_prefix"),
        pytest.param(b"proxy ", id="lower_case"),
        pytest.param(b"\x16\x03\x01", id="tls_client_hello"),
        pytest.param(b"\r\n\r\n\x00\r\nQUIX", id="wrong_v2_signature"),
    ],
)
def test_not_a_header_is_refused_at_once(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError, match="not a PROXY protocol header"):
        parse_proxy_header(data)


def test_empty_is_incomplete() -> None:
    assert parse_proxy_header(b"") is None


# -- version 2 -------------------------------------------------------------------------------------


def test_v2_inet() -> None:
    data = v2()
    header = parse_all_ways(data + b"GET")
    assert header == ProxyHeader(
        version=2, size=len(data), client=("192.0.2.10", 51234), server=("198.51.100.20", 443)
    )


def test_v2_inet6() -> None:
    addresses = (
        ipaddress.IPv6Address("2001:db8::10").packed
        + ipaddress.IPv6Address("::ffff:198.51.100.20").packed
        + struct.pack("!HH", 1, 65535)
    )
    header = parse_all_ways(v2(family=INET6 | STREAM, addresses=addresses))
    assert header is not None
    assert header.client == ("2001:db8::10", 1)
    assert header.server == ("::ffff:198.51.100.20", 65535)


def test_v2_unix_has_no_addresses() -> None:
    addresses = b"/run/client.sock".ljust(108, b"\x00") + b"/run/app.sock".ljust(108, b"\x00")
    header = parse_all_ways(v2(family=UNIX | STREAM, addresses=addresses))
    assert header == ProxyHeader(version=2, size=16 + 216)


def test_v2_local_keeps_the_real_addresses() -> None:
    # A health check: LOCAL, with or without an address block, which is skipped.
    for data in (v2(command=0, family=UNSPEC, addresses=b""), v2(command=0)):
        header = parse_all_ways(data)
        assert header == ProxyHeader(version=2, size=len(data), local=True)


def test_v2_unspec_proxy_keeps_the_real_addresses() -> None:
    header = parse_all_ways(v2(family=UNSPEC, addresses=b""))
    assert header is not None and header.local


def test_v2_extra_bytes_after_addresses_are_tlvs() -> None:
    data = v2(tlvs=tlv(0x04, b"\x00" * 10) + tlv(0xE0, b"custom") + tlv(0x30, b"netns"))
    header = parse_all_ways(data)
    assert header is not None and header.client == ("192.0.2.10", 51234)


def test_v2_tlvs() -> None:
    ssl_sub = (
        tlv(0x21, b"TLSv1.3")
        + tlv(0x23, b"TLS_AES_256_GCM_SHA384")
        + tlv(0x22, b"alice")
        + tlv(0x24, b"SHA256")
        + tlv(0x25, b"RSA2048")
    )
    ssl_tlv = tlv(0x20, bytes([0x01 | 0x02]) + struct.pack("!I", 0) + ssl_sub)
    data = v2(
        tlvs=tlv(0x01, b"http/1.1") + tlv(0x02, b"example.org") + tlv(0x05, b"\x01" * 128) + ssl_tlv
    )
    header = parse_all_ways(data)
    assert header is not None
    assert header.alpn == b"http/1.1"
    assert header.authority == "example.org"
    assert header.unique_id == b"\x01" * 128
    assert header.ssl and header.ssl_verified
    assert header.ssl_version == "TLSv1.3"
    assert header.ssl_cipher == "TLS_AES_256_GCM_SHA384"
    assert header.ssl_client_cn == "alice"


def test_v2_ssl_flags() -> None:
    plain = parse_proxy_header(v2(tlvs=tlv(0x20, b"\x00" + struct.pack("!I", 0))))
    assert plain is not None and not plain.ssl and not plain.ssl_verified
    failed = parse_proxy_header(v2(tlvs=tlv(0x20, b"\x03" + struct.pack("!I", 20))))
    assert failed is not None and failed.ssl and not failed.ssl_verified
    no_cert = parse_proxy_header(v2(tlvs=tlv(0x20, b"\x01" + struct.pack("!I", 0))))
    assert no_cert is not None and no_cert.ssl and not no_cert.ssl_verified


def test_v2_unique_id_limit() -> None:
    with pytest.raises(ProxyHeaderError, match="128"):
        parse_proxy_header(v2(tlvs=tlv(0x05, b"\x01" * 129)))


def test_crc32c_known_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # RFC 3720 B.4's check value
    assert crc32c(b"") == 0


def test_v2_crc32c_checked() -> None:
    unsigned = v2(tlvs=tlv(0x03, b"\x00\x00\x00\x00"))
    good = unsigned[:-4] + crc32c(unsigned).to_bytes(4, "big")
    header = parse_all_ways(good)
    assert header is not None and header.client == ("192.0.2.10", 51234)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(ProxyHeaderError, match="CRC32C"):
        parse_proxy_header(bad)
    with pytest.raises(ProxyHeaderError, match="CRC32C"):
        parse_proxy_header(v2(tlvs=tlv(0x03, b"\x00\x00\x00")))


def test_v2_size_limit_both_sides() -> None:
    # Exactly MAX_HEADER_SIZE bytes is accepted; one more is refused from its fixed part.
    at_limit = v2(tlvs=tlv(0x04, b"\x00" * (MAX_HEADER_SIZE - 16 - 12 - 3)))
    assert len(at_limit) == MAX_HEADER_SIZE
    assert parse_proxy_header(at_limit) is not None
    over = v2(tlvs=tlv(0x04, b"\x00" * (MAX_HEADER_SIZE - 16 - 12 - 2)))
    with pytest.raises(ProxyHeaderError, match="over the limit"):
        parse_proxy_header(over[:16])
    # The limit is the caller's to set.
    assert parse_proxy_header(over, max_size=len(over)) is not None
    with pytest.raises(ProxyHeaderError, match="over the limit"):
        parse_proxy_header(v2(), max_size=len(v2()) - 1)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(v2(version=1), id="version_1_in_binary"),
        pytest.param(v2(version=3), id="version_3"),
        pytest.param(v2(command=2), id="command_2"),
        pytest.param(v2(family=0x40 | STREAM), id="family_4"),
        pytest.param(v2(family=INET | 0x03), id="transport_3"),
        pytest.param(v2(family=INET | DGRAM), id="udp"),
        pytest.param(v2(family=INET | 0x00), id="unspec_transport"),
        pytest.param(v2(length=11), id="short_for_inet"),
        pytest.param(v2(family=INET6 | STREAM), id="short_for_inet6"),
        pytest.param(v2(tlvs=b"\x04\x00"), id="tlv_truncated"),
        pytest.param(v2(tlvs=b"\x04\x00\x05abc"), id="tlv_overruns"),
        pytest.param(v2(tlvs=tlv(0x20, b"\x01\x00\x00")), id="ssl_tlv_short"),
        pytest.param(v2(tlvs=tlv(0x20, b"\x01\x00\x00\x00\x00\x21\x00")), id="ssl_sub_truncated"),
        pytest.param(v2(tlvs=tlv(0x02, b"\xff\xfe")), id="authority_not_utf8"),
    ],
)
def test_v2_malformed(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(data)


def test_v2_bad_version_refused_before_the_length() -> None:
    with pytest.raises(ProxyHeaderError, match="version 1"):
        parse_proxy_header(V2_SIGNATURE + b"\x11")


def test_v2_length_may_leave_bytes_for_http() -> None:
    data = v2() + b"PROXY TCP4 ..."  # what follows is not read
    header = parse_proxy_header(data)
    assert header is not None and data[header.size :] == b"PROXY TCP4 ..."


# -- any input ---------------------------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

PREFIXES = [b"", b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 ", V2_SIGNATURE, V2_SIGNATURE + b"\x21"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PREFIXES), st.binary(max_size=300), st.integers(0, 400))
def test_any_input_gives_a_header_none_or_the_error(prefix: bytes, rest: bytes, cut: int) -> None:
    data = prefix + rest
    try:
        header = parse_proxy_header(data)
    except ProxyHeaderError:
        header = None
        complete = False
    else:
        complete = header is not None
    if complete:
        assert header is not None and 0 < header.size <= len(data)
        # The same bytes with more after them give the same header.
        assert parse_proxy_header(data + b"GET / HTTP/1.1\r\n") == header
    # However the bytes are split: a prefix of a header is incomplete (never refused), and a
    # prefix never gives a different header.
    try:
        partial = parse_proxy_header(data[:cut])
    except ProxyHeaderError:
        assert not complete or cut >= header.size  # type: ignore[union-attr]
        return
    if partial is not None:
        assert complete and partial == header
