"""Cost of parsing one PROXY protocol header (sailfish.proxy_protocol), per connection.

    python bench/bench_proxy_header.py

Strategy: the parser is pure Python with no compiled twin because it runs once per
connection, not per request. This prints what one parse costs (best of 5 rounds of 20k
calls) next to a reference measured in the same run: making a compiled RequestParser and
feeding it a 54-byte GET, i.e. about what the core spends on a short request. Headers: v1
TCP4; v2 TCP4 with HAProxy's SSL TLV (version and cipher); the same with a CRC32C TLV (the
checksum is computed in Python, byte by byte: the dearest part).
"""

from __future__ import annotations

import socket
import struct
import timeit

from sailfish.http import RequestParser
from sailfish.proxy_protocol import crc32c, parse_proxy_header

n = 20000
v1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
body = socket.inet_aton("203.0.113.7") + socket.inet_aton("198.51.100.9")
body += struct.pack("!HH", 40000, 8443)
ssl_tlv = bytes([0x20]) + (5 + 10 + 25).to_bytes(2, "big") + b"\x01\x00\x00\x00\x00"
ssl_tlv += b"\x21\x00\x07TLSv1.3" + b"\x23\x00\x16TLS_AES_128_GCM_SHA256"
sig = b"\r\n\r\n\x00\r\nQUIT\n"
v2 = sig + bytes([0x21, 0x11]) + struct.pack("!H", len(body + ssl_tlv)) + body + ssl_tlv
b3 = body + ssl_tlv + b"\x03\x00\x04\x00\x00\x00\x00"
v2c = sig + bytes([0x21, 0x11]) + struct.pack("!H", len(b3)) + b3
v2c = v2c[:-4] + crc32c(v2c).to_bytes(4, "big")
get = b"GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: wrk\r\n\r\n"


def one(f):
    return min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6


ref = one(lambda: RequestParser().feed(get))
print(f"reference: RequestParser() + feed(54-byte GET) = {ref:.2f} us")
for name, data in (("v1", v1), ("v2 + SSL TLV", v2), ("v2 + SSL TLV + CRC32C", v2c)):
    assert parse_proxy_header(data) is not None
    t = one(lambda data=data: parse_proxy_header(data))
    print(f"parse {name} ({len(data)} B): {t:.2f} us = {t / ref:.2f}x the reference")
