"""Request-smuggling bugs fixed in other servers, replayed against both twins.

Each payload has the shape given in its advisory, and its expected outcome sits in
tests/corpus/make_corpus.py (INVALID, checked whole and byte by byte by test_parser.py).
Here the point of each attack is checked: the request hidden in the body never comes out
of the parser, however the bytes are cut; and a chunked body cut short is never delivered
as complete.

- CVE-2025-43859, h11 < 0.16 (GHSA-vqfr-h8mv-ghfj): the two bytes after chunk data were
  skipped without checking they were CRLF.
- CVE-2025-22871, Go net/http < 1.24.2 (golang/go#71988): a bare LF ended a chunk-size line.
- CVE-2025-55315, ASP.NET Core Kestrel: a bare LF inside a chunk extension was scanned past
  until the next CRLF, where a front end took the LF as the line end.
- CVE-2024-1135, gunicorn < 22: conflicting Transfer-Encoding lines treated as chunked;
  CVE-2024-6827, gunicorn < 23: an invalid Transfer-Encoding fell back to Content-Length;
  benoitc/gunicorn#3364: control bytes and NBSP stripped around "chunked".
- The classic CL.TE / TE.CL / TE.TE obfuscations (PortSwigger's taxonomy): a space before the
  colon, obs-fold, a leading-space line, `xchunked`, a trailing vertical tab.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sailfish.errors import HTTPError
from twins import corpus_spec

SPEC = corpus_spec()

# name in INVALID -> the path of the request hidden after the attack (None: no second request)
ATTACKS = {
    "400-cve_2025_43859_h11_two_bytes_after_chunk_data": "/two",
    "400-cve_2025_22871_go_bare_lf_ends_chunk_size_line": "/smuggled",
    "400-cve_2025_55315_kestrel_lf_in_chunk_extension": "/admin",
    "400-chunk_extension_value_with_bare_lf": None,
    "400-cve_2024_1135_gunicorn_chunked_then_identity_lines": None,
    "400-cve_2024_6827_gunicorn_unknown_te_with_content_length": None,
    "400-gunicorn_3364_control_bytes_around_chunked": None,
    "400-te_chunked_with_nbsp_is_not_chunked": None,
    "400-te_chunked_then_vertical_tab": None,
    "400-te_xchunked": None,
    "400-te_chunked_with_http10_and_content_length": None,
    "400-cl_te_space_before_colon": None,
    "400-cl_te_obs_folded_transfer_encoding": None,
    "400-cl_te_transfer_encoding_with_leading_space_line": None,
    "400-te_cl_content_length_then_te_chunked_twice": None,
    "400-two_host_lines_differ_in_case": None,
    "400-two_content_length_lines_one_empty": None,
    "400-transfer_encoding_not_ending_in_chunked": None,
    "400-transfer_encoding_identity": None,
    "400-transfer_encoding_chunked_twice": None,
    "400-transfer_encoding_in_http10": None,
    "400-content_length_then_transfer_encoding": None,
    "400-two_host_lines": None,
    "400-content_length_lines_differ": None,
}


def feed_cut(parser_cls: Any, raw: bytes, cut: int) -> list[Any]:
    parser = parser_cls()
    return parser.feed(raw[:cut]) + parser.feed(raw[cut:])


def test_every_attack_is_in_the_corpus() -> None:
    assert set(ATTACKS) <= set(SPEC.INVALID)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_is_refused_and_hides_no_request(twin: SimpleNamespace, name: str) -> None:
    raw, error = SPEC.INVALID[name]
    hidden = ATTACKS[name]
    for cut in range(len(raw) + 1):
        events = feed_cut(twin.RequestParser, raw, cut)
        assert type(events[-1]).__name__ == error, (cut, events)
        paths = [e.scope["path"] for e in events if isinstance(e, twin.Request)]
        assert len(paths) <= 1, (cut, paths)
        assert hidden not in paths, f"the smuggled {hidden} came out (cut at {cut})"
        # no body of the refused request was delivered as complete
        assert not any(type(e) is dict and e["more_body"] is False for e in events), (cut, events)


CHUNKED_REQUEST = (
    b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
)
LENGTH_REQUEST = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"


@pytest.mark.parametrize(
    "raw", [pytest.param(CHUNKED_REQUEST, id="chunked"), pytest.param(LENGTH_REQUEST, id="length")]
)
def test_body_cut_short_is_never_complete(twin: SimpleNamespace, raw: bytes) -> None:
    """gunicorn's truncated chunked bodies: every prefix of a request, however it arrives,
    leaves the body open (the shell then tells the app `http.disconnect` when the peer goes);
    only the last byte completes it."""
    for size in range(len(raw)):
        for step in (1, 3, size or 1):
            parser = twin.RequestParser()
            events: list[Any] = []
            for i in range(0, size, step):
                events.extend(parser.feed(raw[i : min(i + step, size)]))
            assert not any(isinstance(e, HTTPError) for e in events), (size, events)
            bodies = [e for e in events if type(e) is dict]
            assert all(m["more_body"] for m in bodies), (size, step, bodies)
    events = twin.RequestParser().feed(raw)
    assert events[-1] == {"type": "http.request", "body": b"hello world", "more_body": False}
