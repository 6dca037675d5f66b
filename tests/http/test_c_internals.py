"""Tests of what only the compiled twin has: SIMD scanners, interned names, buffer handling.

Strategy: the differential suite proves that the twins agree on outcomes; these tests aim at
the compiled twin's own machinery, where a bug would be invisible to a pure-Python reader:
16-byte SIMD blocks and their overlapping tails, the well-known-name table (shared objects,
case folding), the zero-copy path that keeps only an incomplete tail of the caller's buffer,
and the Request type's C-level behaviour. Skipped when the extension is not built.
"""

from __future__ import annotations

import os

import pytest

if os.environ.get("SAILFISH_NO_EXTENSIONS") == "1":
    pytest.skip(
        "SAILFISH_NO_EXTENSIONS=1: the compiled twin is not under test", allow_module_level=True
    )
_http = pytest.importorskip("sailfish._http")
from sailfish.errors import InvalidHeader, InvalidRequestLine  # noqa: E402

RequestParser = _http.RequestParser
Request = _http.Request

KNOWN = [
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"expect",
    b"upgrade",
    b"user-agent",
    b"accept",
    b"accept-encoding",
    b"accept-language",
    b"cookie",
    b"content-type",
    b"referer",
    b"upgrade-insecure-requests",
    b"cache-control",
    b"sec-fetch-site",
    b"sec-fetch-mode",
    b"sec-fetch-dest",
    b"sec-ch-ua",
    b"sec-ch-ua-mobile",
    b"sec-ch-ua-platform",
]


def head(*fields: bytes, target: bytes = b"/") -> bytes:
    return (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: x\r\n"
        + b"".join(f + b"\r\n" for f in fields)
        + b"\r\n"
    )


@pytest.mark.parametrize("length", range(0, 40))
@pytest.mark.parametrize("bad", [b"\x00", b"\x7f", b"\r", b"\x1f"])
def test_a_bad_value_byte_is_found_at_every_offset(length: int, bad: bytes) -> None:
    for at in range(length + 1):
        value = b"v" * at + bad + b"v" * (length - at)
        events = RequestParser().feed(head(b"X-Long: " + value))
        assert len(events) == 1 and isinstance(events[0], InvalidHeader), (length, at)


@pytest.mark.parametrize("length", range(0, 40))
def test_values_of_every_length_keep_obs_text_and_tabs(length: int) -> None:
    value = bytes(
        0x80 + (i % 0x7F) if i % 3 else 0x09 if i % 5 == 0 else 0x41 for i in range(length)
    )
    value = value.strip(b" \t")
    (req,) = RequestParser().feed(head(b"X: \t" + value + b" \t"))
    assert req.scope["headers"][-1] == (b"x", value)


@pytest.mark.parametrize("length", range(1, 40))
def test_a_non_vchar_target_byte_is_found_at_every_offset(length: int) -> None:
    for at in range(1, length + 1):
        target = b"/" + b"a" * (at - 1) + b"\x7f" + b"a" * (length - at)
        (err,) = RequestParser().feed(head(target=target))
        assert isinstance(err, InvalidRequestLine), (length, at)


@pytest.mark.parametrize("name", [n for n in KNOWN if n != b"host"])
def test_well_known_names_are_shared_objects_whatever_their_case(name: bytes) -> None:
    value = {b"transfer-encoding": b"chunked", b"expect": b"100-continue"}.get(name, b"1")
    first = RequestParser().feed(head(name.upper() + b": " + value))[0].scope["headers"]
    second = RequestParser().feed(head(name.title() + b": " + value))[0].scope["headers"]
    assert first[-1][0] == name and first[-1][0] is second[-1][0]


@pytest.mark.parametrize(
    "name",
    [b"X-Custom_Name", b"Hosts", b"Hos", b"Content-Lengthy", b"Sec-Fetch-Sitf", b"A" * 40, b"~^`|"],
)
def test_other_names_are_lower_cased_copies(name: bytes) -> None:
    (req,) = RequestParser().feed(head(name + b": v"))
    assert req.scope["headers"][-1] == (name.lower(), b"v")


def test_the_tail_is_copied_so_the_caller_may_reuse_its_buffer() -> None:
    parser = RequestParser()
    buf = bytearray(b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1")
    assert parser.feed(buf) == []
    buf[:] = b"\x00" * len(buf)
    (req,) = parser.feed(memoryview(bytearray(b"23\r\n\r\n")))
    assert req.scope["headers"] == [(b"host", b"x"), (b"x-a", b"123")]
    assert req.scope["raw_path"] == b"/a"


def test_body_bytes_in_the_callers_buffer_are_copied_out() -> None:
    parser = RequestParser()
    data = bytearray(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel")
    events = parser.feed(data)
    data[:] = b"\x00" * len(data)
    assert events[1] == {"type": "http.request", "body": b"hel", "more_body": True}
    assert parser.feed(b"lo") == [{"type": "http.request", "body": b"lo", "more_body": False}]


def test_a_non_contiguous_memoryview_is_accepted() -> None:
    raw = head()
    strided = memoryview(bytes(b for c in raw for b in (c, 0)))[::2]
    (req,) = RequestParser().feed(strided)
    assert req.scope["path"] == "/"


def test_many_pipelined_heads_in_one_call_reuse_the_field_array() -> None:
    many = head(*[b"X-%d: %d" % (i, i) for i in range(90)]) * 20
    events = RequestParser().feed(many)
    assert len(events) == 20
    assert all(len(e.scope["headers"]) == 91 for e in events)


def test_request_is_not_constructible_nor_hashable() -> None:
    with pytest.raises(TypeError):
        Request()
    (req,) = RequestParser().feed(head())
    with pytest.raises(TypeError):
        hash(req)
    (again,) = RequestParser().feed(head())
    assert req == again and not req != again
    assert "GET" in repr(req)


def test_percent_decoding_matches_unquote_on_long_paths() -> None:
    from urllib.parse import unquote

    for path in [b"/" + b"%e2%82%ac" * 300, b"/" + b"%ff%" * 200, b"/a%2" + b"b" * 600]:
        (req,) = RequestParser(max_request_line=1 << 16).feed(head(target=path))
        assert req.scope["path"] == unquote(path.decode("ascii"), errors="replace")
