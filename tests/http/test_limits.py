"""Every limit of RequestParser on both sides: exactly at it passes, one byte over fails.

Each limit is also judged before the LF arrives (docs/core.md, "Framing and validation"): an
over-long line fed without its LF gives the error at once instead of waiting for more.
Every case runs fed whole and fed one byte at a time (`step`).
"""

from __future__ import annotations

from typing import Any

import pytest

from sailfish import errors
from twins import feed_pieces

STEPS = [pytest.param(1 << 20, id="whole"), pytest.param(1, id="byte_by_byte")]


def head(request_line: bytes, *fields: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in (request_line, *fields)) + b"\r\n"


def section_size(*fields: bytes) -> int:
    """max_header_size counts each field line with its CRLF, plus the final CRLF."""
    return sum(len(f) + 2 for f in fields) + 2


def ok(events: list[Any]) -> list[Any]:
    assert events, "no events"
    assert not any(isinstance(e, BaseException) for e in events), events
    return events


def fails(events: list[Any], cls: type[errors.HTTPError], status: int) -> None:
    assert events, "no events"
    assert type(events[-1]) is cls, events
    assert events[-1].status == status
    assert not any(isinstance(e, BaseException) for e in events[:-1])


def body_of(events: list[Any]) -> bytes:
    return b"".join(e["body"] for e in events if isinstance(e, dict))


# -- max_request_line (414) --------------------------------------------------------------------


def request_line(length: int) -> bytes:
    line = b"GET /" + b"a" * (length - 14) + b" HTTP/1.1"
    assert len(line) == length
    return line


@pytest.mark.parametrize("step", STEPS)
def test_request_line_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    raw = head(request_line(64), b"Host: a")
    [request] = ok(feed_pieces(parser_cls(max_request_line=64), raw, step))
    assert request.scope["raw_path"] == b"/" + b"a" * 50


@pytest.mark.parametrize("step", STEPS)
def test_request_line_one_over_the_limit_is_414(parser_cls: Any, step: int) -> None:
    raw = head(request_line(65), b"Host: a")
    fails(feed_pieces(parser_cls(max_request_line=64), raw, step), errors.RequestLineTooLong, 414)


@pytest.mark.parametrize("step", STEPS)
def test_default_request_line_limit_is_8190(parser_cls: Any, step: int) -> None:
    ok(feed_pieces(parser_cls(), head(request_line(8190), b"Host: a"), step))
    fails(
        feed_pieces(parser_cls(), head(request_line(8191), b"Host: a"), step),
        errors.RequestLineTooLong,
        414,
    )


def test_request_line_limit_plus_cr_waits_for_the_lf(parser_cls: Any) -> None:
    parser = parser_cls(max_request_line=64)
    assert parser.feed(request_line(64) + b"\r") == []
    assert len(ok(parser.feed(b"\nHost: a\r\n\r\n"))) == 1


def test_request_line_too_long_is_detected_without_lf(parser_cls: Any) -> None:
    parser = parser_cls(max_request_line=64)
    assert parser.feed(request_line(65)) == []  # 65 bytes: may still end in CR LF
    fails(parser.feed(b"a"), errors.RequestLineTooLong, 414)
    assert parser.feed(b"\r\n") == []


def test_request_line_of_limit_plus_one_then_lf_is_414(parser_cls: Any) -> None:
    parser = parser_cls(max_request_line=64)
    assert parser.feed(request_line(65)) == []
    fails(parser.feed(b"\n"), errors.RequestLineTooLong, 414)


def test_default_request_line_limit_without_lf(parser_cls: Any) -> None:
    parser = parser_cls()
    assert parser.feed(b"G" * 8191) == []
    fails(parser.feed(b"G"), errors.RequestLineTooLong, 414)


def test_endless_request_line_in_one_feed_is_414_not_a_hang(parser_cls: Any) -> None:
    fails(parser_cls().feed(b"GET /" + b"a" * 100_000), errors.RequestLineTooLong, 414)


def test_leading_empty_lines_do_not_count_toward_the_request_line(parser_cls: Any) -> None:
    raw = b"\r\n" * 40 + head(request_line(64), b"Host: a")
    assert len(ok(parser_cls(max_request_line=64).feed(raw))) == 1


# -- max_header_size (431) ---------------------------------------------------------------------

LONG_LINE = b"GET /" + b"p" * 200 + b" HTTP/1.1"  # the request line is not part of the section
FIELDS = (b"Host: example.com", b"X-One: 1", b"X-Two:  two  ")


@pytest.mark.parametrize("step", STEPS)
def test_header_section_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    size = section_size(*FIELDS)
    [request] = ok(feed_pieces(parser_cls(max_header_size=size), head(LONG_LINE, *FIELDS), step))
    assert len(request.scope["headers"]) == 3


@pytest.mark.parametrize("step", STEPS)
def test_header_section_one_over_the_limit_is_431(parser_cls: Any, step: int) -> None:
    size = section_size(*FIELDS) - 1  # the final CRLF is what tips it over
    fails(
        feed_pieces(parser_cls(max_header_size=size), head(LONG_LINE, *FIELDS), step),
        errors.HeadersTooLarge,
        431,
    )


@pytest.mark.parametrize("step", STEPS)
def test_empty_header_section_counts_its_crlf(parser_cls: Any, step: int) -> None:
    raw = head(b"GET / HTTP/1.0")
    assert len(ok(feed_pieces(parser_cls(max_header_size=2), raw, step))) == 1
    fails(feed_pieces(parser_cls(max_header_size=1), raw, step), errors.HeadersTooLarge, 431)


def test_header_section_too_large_is_detected_without_lf(parser_cls: Any) -> None:
    parser = parser_cls(max_header_size=100)
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n") == []
    assert parser.feed(b"X-Big: " + b"a" * (100 - 9 - 7)) == []  # exactly 100 bytes buffered
    fails(parser.feed(b"a"), errors.HeadersTooLarge, 431)


def test_default_header_size_limit_is_65536(parser_cls: Any) -> None:
    filler = b"X-Fill: " + b"f" * (65536 - 2 - 2 - 8 - len(b"Host: a") - 2)
    fields = (b"Host: a", filler)
    assert section_size(*fields) == 65536
    ok(parser_cls().feed(head(b"GET / HTTP/1.1", *fields)))
    fails(
        parser_cls().feed(head(b"GET / HTTP/1.1", b"Host: a", filler + b"f")),
        errors.HeadersTooLarge,
        431,
    )


def test_endless_header_line_in_one_feed_is_431_not_a_hang(parser_cls: Any) -> None:
    raw = b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000
    fails(parser_cls().feed(raw), errors.HeadersTooLarge, 431)


# -- max_headers (431) -------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS)
def test_header_count_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    raw = head(b"GET / HTTP/1.1", b"Host: a", *(b"X-%d: v" % i for i in range(4)))
    [request] = ok(feed_pieces(parser_cls(max_headers=5), raw, step))
    assert len(request.scope["headers"]) == 5


@pytest.mark.parametrize("step", STEPS)
def test_header_count_one_over_the_limit_is_431(parser_cls: Any, step: int) -> None:
    raw = head(b"GET / HTTP/1.1", b"Host: a", *(b"X-%d: v" % i for i in range(5)))
    fails(feed_pieces(parser_cls(max_headers=5), raw, step), errors.HeadersTooLarge, 431)


def test_header_count_is_judged_when_the_extra_line_ends(parser_cls: Any) -> None:
    parser = parser_cls(max_headers=1)
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Extra: 1") == []
    fails(parser.feed(b"\r\n"), errors.HeadersTooLarge, 431)


def test_zero_headers_allowed(parser_cls: Any) -> None:
    assert len(ok(parser_cls(max_headers=0).feed(head(b"GET / HTTP/1.0")))) == 1
    fails(
        parser_cls(max_headers=0).feed(head(b"GET / HTTP/1.0", b"X: y")),
        errors.HeadersTooLarge,
        431,
    )


@pytest.mark.parametrize("step", STEPS)
def test_default_header_count_limit_is_100(parser_cls: Any, step: int) -> None:
    fields = [b"Host: a", *(b"X-%d: v" % i for i in range(99))]
    ok(feed_pieces(parser_cls(), head(b"GET / HTTP/1.1", *fields), step))
    fails(
        feed_pieces(parser_cls(), head(b"GET / HTTP/1.1", *fields, b"X-Last: v"), step),
        errors.HeadersTooLarge,
        431,
    )


# -- max_body_size (413) -----------------------------------------------------------------------


def cl_request(length: int, body: bytes = b"") -> bytes:
    return head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: %d" % length) + body


CHUNKED_HEAD = head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked")


@pytest.mark.parametrize("step", STEPS)
def test_content_length_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    events = ok(feed_pieces(parser_cls(max_body_size=10), cl_request(10, b"0123456789"), step))
    assert body_of(events) == b"0123456789"


@pytest.mark.parametrize("step", STEPS)
def test_content_length_one_over_the_limit_is_413_at_once(parser_cls: Any, step: int) -> None:
    # Only the head is fed: the error does not wait for the body.
    events = feed_pieces(parser_cls(max_body_size=10), cl_request(11), step)
    assert len(events) == 1
    fails(events, errors.BodyTooLarge, 413)


def test_max_body_size_zero(parser_cls: Any) -> None:
    ok(parser_cls(max_body_size=0).feed(cl_request(0)))
    fails(parser_cls(max_body_size=0).feed(cl_request(1)), errors.BodyTooLarge, 413)
    events = ok(parser_cls(max_body_size=0).feed(CHUNKED_HEAD + b"0\r\n\r\n"))
    assert events[1:] == [{"type": "http.request", "body": b"", "more_body": False}]
    fails(parser_cls(max_body_size=0).feed(CHUNKED_HEAD + b"1\r\n"), errors.BodyTooLarge, 413)


def test_max_body_size_none_is_unlimited(parser_cls: Any) -> None:
    [request] = ok(parser_cls(max_body_size=None).feed(cl_request(999_999_999_999_999_999)))
    assert request.has_body is True
    events = ok(parser_cls().feed(CHUNKED_HEAD + b"7fffffffffffffff\r\nabc"))
    assert body_of(events) == b"abc"


def test_invalid_content_length_wins_over_the_body_limit(parser_cls: Any) -> None:
    raw = head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5, 100")
    fails(parser_cls(max_body_size=10).feed(raw), errors.InvalidFraming, 400)


@pytest.mark.parametrize("step", STEPS)
def test_chunked_total_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    raw = CHUNKED_HEAD + b"4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n"
    events = ok(feed_pieces(parser_cls(max_body_size=10), raw, step))
    assert body_of(events) == b"abcdefghij"


def test_chunked_total_one_over_the_limit_is_413_when_the_size_line_announces_it(
    parser_cls: Any,
) -> None:
    parser = parser_cls(max_body_size=10)
    events = parser.feed(CHUNKED_HEAD + b"4\r\nabcd\r\n7\r\n")  # no data of the second chunk
    fails(events, errors.BodyTooLarge, 413)
    assert body_of(events) == b"abcd"
    assert events[1:-1] == [{"type": "http.request", "body": b"abcd", "more_body": True}]
    assert parser.feed(b"efghijk\r\n0\r\n\r\n") == []


def test_chunked_total_over_the_limit_byte_by_byte(parser_cls: Any) -> None:
    raw = CHUNKED_HEAD + b"4\r\nabcd\r\n7\r\nefghijk\r\n0\r\n\r\n"
    events = feed_pieces(parser_cls(max_body_size=10), raw, 1)
    fails(events, errors.BodyTooLarge, 413)
    assert body_of(events) == b"abcd"


def test_single_chunk_over_the_limit_is_413(parser_cls: Any) -> None:
    events = parser_cls(max_body_size=10).feed(CHUNKED_HEAD + b"b\r\n")
    fails(events, errors.BodyTooLarge, 413)
    assert len(events) == 2  # the Request, then the error


# -- max_chunk_ext_size (400) ------------------------------------------------------------------


def chunk_with_ext(ext_len: int) -> bytes:
    ext = b";" + b"e" * (ext_len - 1)
    return CHUNKED_HEAD + b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"


@pytest.mark.parametrize("step", STEPS)
def test_chunk_extension_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    events = ok(feed_pieces(parser_cls(max_chunk_ext_size=32), chunk_with_ext(32), step))
    assert body_of(events) == b"hello"


@pytest.mark.parametrize("step", STEPS)
def test_chunk_extension_one_over_the_limit_is_invalid_chunk(parser_cls: Any, step: int) -> None:
    fails(
        feed_pieces(parser_cls(max_chunk_ext_size=32), chunk_with_ext(33), step),
        errors.InvalidChunk,
        400,
    )


@pytest.mark.parametrize("step", STEPS)
def test_default_chunk_extension_limit_is_4096(parser_cls: Any, step: int) -> None:
    ok(feed_pieces(parser_cls(), chunk_with_ext(4096), step))
    fails(feed_pieces(parser_cls(), chunk_with_ext(4097), step), errors.InvalidChunk, 400)


def test_chunk_extension_limit_counts_whitespace_after_the_digits(parser_cls: Any) -> None:
    raw = CHUNKED_HEAD + b"5 ;abc\r\nhello\r\n0\r\n\r\n"
    ok(parser_cls(max_chunk_ext_size=5).feed(raw))
    fails(parser_cls(max_chunk_ext_size=4).feed(raw), errors.InvalidChunk, 400)


def test_chunk_extension_at_the_limit_plus_cr_waits_for_the_lf(parser_cls: Any) -> None:
    parser = parser_cls(max_chunk_ext_size=8)
    assert len(ok(parser.feed(CHUNKED_HEAD + b"5;1234567\r"))) == 1
    assert ok(parser.feed(b"\nhello\r\n0\r\n\r\n")) == [
        {"type": "http.request", "body": b"hello", "more_body": False}
    ]


def test_chunk_extension_too_long_is_detected_without_lf(parser_cls: Any) -> None:
    parser = parser_cls(max_chunk_ext_size=8)
    assert len(ok(parser.feed(CHUNKED_HEAD + b"5;12345678"))) == 1  # 9 bytes: may end in CR
    fails(parser.feed(b"9"), errors.InvalidChunk, 400)


def test_chunk_size_with_more_than_16_digits_is_detected_without_lf(parser_cls: Any) -> None:
    parser = parser_cls()
    assert len(ok(parser.feed(CHUNKED_HEAD + b"0" * 16))) == 1
    fails(parser.feed(b"0"), errors.InvalidChunk, 400)


def test_endless_chunk_line_in_one_feed_is_invalid_not_a_hang(parser_cls: Any) -> None:
    fails(parser_cls().feed(CHUNKED_HEAD + b"5;" + b"x" * 100_000), errors.InvalidChunk, 400)


# -- max_trailer_size (431) --------------------------------------------------------------------

TRAILERS = (b"X-Checksum: 1234", b"X-Other: two")


def with_trailers(*fields: bytes) -> bytes:
    return CHUNKED_HEAD + b"1\r\nx\r\n0\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


@pytest.mark.parametrize("step", STEPS)
def test_trailer_section_at_the_limit_passes(parser_cls: Any, step: int) -> None:
    size = section_size(*TRAILERS)
    events = ok(feed_pieces(parser_cls(max_trailer_size=size), with_trailers(*TRAILERS), step))
    assert body_of(events) == b"x"
    assert events[-1]["more_body"] is False


@pytest.mark.parametrize("step", STEPS)
def test_trailer_section_one_over_the_limit_is_431(parser_cls: Any, step: int) -> None:
    size = section_size(*TRAILERS) - 1
    fails(
        feed_pieces(parser_cls(max_trailer_size=size), with_trailers(*TRAILERS), step),
        errors.HeadersTooLarge,
        431,
    )


@pytest.mark.parametrize("step", STEPS)
def test_empty_trailer_section_counts_its_crlf(parser_cls: Any, step: int) -> None:
    ok(feed_pieces(parser_cls(max_trailer_size=2), with_trailers(), step))
    fails(
        feed_pieces(parser_cls(max_trailer_size=1), with_trailers(), step),
        errors.HeadersTooLarge,
        431,
    )


def test_default_trailer_limit_is_8192(parser_cls: Any) -> None:
    filler = b"X-Fill: " + b"f" * (8192 - 2 - 2 - 8)
    assert section_size(filler) == 8192
    ok(parser_cls().feed(with_trailers(filler)))
    fails(parser_cls().feed(with_trailers(filler + b"f")), errors.HeadersTooLarge, 431)


def test_trailer_section_too_large_is_detected_without_lf(parser_cls: Any) -> None:
    parser = parser_cls(max_trailer_size=50)
    assert len(ok(parser.feed(CHUNKED_HEAD + b"0\r\n"))) == 1
    assert parser.feed(b"X: " + b"a" * 47) == []  # exactly 50 bytes buffered
    fails(parser.feed(b"a"), errors.HeadersTooLarge, 431)


def test_trailer_lines_are_limited_by_max_headers_on_their_own(parser_cls: Any) -> None:
    # The head has 2 field lines and the trailers 2: each section is within max_headers=2.
    events = ok(parser_cls(max_headers=2).feed(with_trailers(b"T-1: a", b"T-2: b")))
    assert body_of(events) == b"x"
    fails(
        parser_cls(max_headers=2).feed(with_trailers(b"T-1: a", b"T-2: b", b"T-3: c")),
        errors.HeadersTooLarge,
        431,
    )


def test_trailer_size_does_not_use_the_header_size_limit(parser_cls: Any) -> None:
    # The head section is exactly at max_header_size; the larger trailers only need to fit
    # max_trailer_size.
    size = section_size(b"Host: a", b"Transfer-Encoding: chunked")
    trailer = b"T: " + b"t" * 200
    events = ok(parser_cls(max_header_size=size).feed(with_trailers(trailer)))
    assert body_of(events) == b"x"


# -- every limit applies to each request on its own --------------------------------------------


def test_limits_start_again_for_each_pipelined_request(parser_cls: Any) -> None:
    one = (
        head(b"POST /a HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked")
        + b"3;abcd\r\nxyz\r\n2;abcd\r\nuv\r\n0\r\nT: 1\r\n\r\n"
    )
    two = head(b"POST /b HTTP/1.1", b"Host: a", b"Content-Length: 5") + b"12345"
    parser = parser_cls(
        max_request_line=len(b"POST /a HTTP/1.1"),
        max_header_size=section_size(b"Host: a", b"Transfer-Encoding: chunked"),
        max_headers=2,
        max_body_size=5,
        max_chunk_ext_size=5,
        max_trailer_size=section_size(b"T: 1"),
    )
    events = ok(parser.feed(one + one + two + one))
    assert [e.scope["path"] for e in events if not isinstance(e, dict)] == ["/a", "/a", "/b", "/a"]
    assert body_of(events) == b"xyzuv" * 2 + b"12345" + b"xyzuv"


def test_limits_larger_than_64_bits_are_accepted(parser_cls: Any) -> None:
    huge = 2**70
    parser = parser_cls(
        max_request_line=huge,
        max_header_size=huge,
        max_headers=huge,
        max_body_size=huge,
        max_chunk_ext_size=huge,
        max_trailer_size=huge,
    )
    events = ok(parser.feed(cl_request(999_999_999_999_999_999, b"abc")))
    assert events[1:] == [{"type": "http.request", "body": b"abc", "more_body": True}]
