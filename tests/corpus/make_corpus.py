"""The request corpus: exact bytes, and what the parser must make of them.

Strategy: every corpus file is generated from this module, so its bytes (CRLFs, NULs,
obs-text) are exact and reviewable here rather than hidden in a file. Run

    python tests/corpus/make_corpus.py

to (re)write tests/corpus/valid/*.http and tests/corpus/invalid/*.http; stale files in those
two folders are removed. tests/http/test_parser.py checks the files on disk equal `VALID` and
`INVALID`, so the two cannot drift apart.

- `VALID[name] = (raw, expected)`: `expected` is the list of requests the default parser
  (`RequestParser()`) must produce, each a dict of the scope fields, flags and body (see `req`).
- `INVALID[name] = (raw, error_class_name)`: `name` starts with the status the error carries
  (`400-`, `414-`, `431-`, `501-`, `505-`); the error must be the last event. (A `413` needs a
  `max_body_size`, which the default parser has not: see tests/http/test_limits.py.)
  `EXPECTED_ERROR` is the same as a plain dict name -> error class name.

Every expectation follows docs/core.md (the contract) and RFC 9110/9112, never a twin.
This module imports only the stdlib: tests load it by path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

Headers = list[tuple[bytes, bytes]]


def req(
    method: str,
    path: str,
    raw_path: bytes,
    headers: Headers,
    *,
    query_string: bytes = b"",
    http_version: str = "1.1",
    keep_alive: bool = True,
    expect_continue: bool = False,
    upgrade: bytes | None = None,
    has_body: bool = False,
    body: bytes = b"",
) -> dict[str, Any]:
    """One expected request (default parser: no client/server, scheme "http", root_path "")."""
    return {
        "method": method,
        "path": path,
        "raw_path": raw_path,
        "query_string": query_string,
        "headers": headers,
        "http_version": http_version,
        "keep_alive": keep_alive,
        "expect_continue": expect_continue,
        "upgrade": upgrade,
        "has_body": has_body,
        "body": body,
    }


def head(request_line: bytes, *fields: bytes) -> bytes:
    """A request head: the request line, the field lines, the empty line; all CRLF."""
    return b"".join(line + b"\r\n" for line in (request_line, *fields)) + b"\r\n"


HOST = b"Host: example.com"
H_HOST = (b"host", b"example.com")

BROWSER_S2 = (
    b"GET /?q=benchmark&page=2 HTTP/1.1\r\n"
    b"Host: localhost:8000\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"*/*;q=0.8\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Referer: http://localhost:8000/search?q=benchmark\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: sessionid=8f2c1d7e9b4a4c6f; csrftoken=Zq3v9XwLk2Pp7TnR\r\n"
    b"\r\n"
)
BROWSER_S2_HEADERS: Headers = [
    (b"host", b"localhost:8000"),
    (b"connection", b"keep-alive"),
    (b"sec-ch-ua", b'"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
    (b"sec-ch-ua-mobile", b"?0"),
    (b"sec-ch-ua-platform", b'"Linux"'),
    (b"upgrade-insecure-requests", b"1"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        b"Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        b"accept",
        b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    ),
    (b"sec-fetch-site", b"same-origin"),
    (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-dest", b"document"),
    (b"referer", b"http://localhost:8000/search?q=benchmark"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"cookie", b"sessionid=8f2c1d7e9b4a4c6f; csrftoken=Zq3v9XwLk2Pp7TnR"),
]

CHUNKED = b"Transfer-Encoding: chunked"
H_CHUNKED = (b"transfer-encoding", b"chunked")

VALID: dict[str, tuple[bytes, list[dict[str, Any]]]] = {
    "get_simple": (
        head(b"GET / HTTP/1.1", HOST),
        [req("GET", "/", b"/", [H_HOST])],
    ),
    "browser_s2": (
        BROWSER_S2,
        [req("GET", "/", b"/", BROWSER_S2_HEADERS, query_string=b"q=benchmark&page=2")],
    ),
    "get_query_string": (
        head(b"GET /search/items?q=sail+fish&lang=en HTTP/1.1", HOST),
        [
            req(
                "GET",
                "/search/items",
                b"/search/items",
                [H_HOST],
                query_string=b"q=sail+fish&lang=en",
            )
        ],
    ),
    "get_empty_query_string": (
        head(b"GET /p? HTTP/1.1", HOST),
        [req("GET", "/p", b"/p", [H_HOST], query_string=b"")],
    ),
    # The query is everything after the *first* "?", not decoded.
    "get_query_with_more_question_marks": (
        head(b"GET /p?a=1?b=%20 HTTP/1.1", HOST),
        [req("GET", "/p", b"/p", [H_HOST], query_string=b"a=1?b=%20")],
    ),
    "percent_encoded_utf8_path": (
        head(b"GET /caf%C3%A9/%e2%9c%93?x=%C3%A9 HTTP/1.1", HOST),
        [
            req(
                "GET",
                "/caf\u00e9/\u2713",
                b"/caf%C3%A9/%e2%9c%93",
                [H_HOST],
                query_string=b"x=%C3%A9",
            )
        ],
    ),
    # urllib.parse.unquote("/bad%FF%zz%2", errors="replace") == "/bad\ufffd%zz%2"
    "percent_encoded_invalid_utf8_and_stray_percent": (
        head(b"GET /bad%FF%zz%2 HTTP/1.1", HOST),
        [req("GET", "/bad\ufffd%zz%2", b"/bad%FF%zz%2", [H_HOST])],
    ),
    "percent_encoded_slash_is_decoded_in_path_only": (
        head(b"GET /a%2Fb HTTP/1.1", HOST),
        [req("GET", "/a/b", b"/a%2Fb", [H_HOST])],
    ),
    "post_content_length": (
        head(
            b"POST /submit HTTP/1.1",
            HOST,
            b"Content-Type: application/x-www-form-urlencoded",
            b"Content-Length: 11",
        )
        + b"hello=world",
        [
            req(
                "POST",
                "/submit",
                b"/submit",
                [
                    H_HOST,
                    (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", b"11"),
                ],
                has_body=True,
                body=b"hello=world",
            )
        ],
    ),
    "post_content_length_zero": (
        head(b"POST /empty HTTP/1.1", HOST, b"Content-Length: 0"),
        [req("POST", "/empty", b"/empty", [H_HOST, (b"content-length", b"0")])],
    ),
    # 18 digits is the most the contract allows, leading zeros included.
    "content_length_18_digits_with_leading_zeros": (
        head(b"PUT /z HTTP/1.1", HOST, b"Content-Length: 000000000000000005") + b"12345",
        [
            req(
                "PUT",
                "/z",
                b"/z",
                [H_HOST, (b"content-length", b"000000000000000005")],
                has_body=True,
                body=b"12345",
            )
        ],
    ),
    "content_length_identical_duplicate_lines": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 5", b"Content-Length: 5") + b"abcde",
        [
            req(
                "POST",
                "/",
                b"/",
                [H_HOST, (b"content-length", b"5"), (b"content-length", b"5")],
                has_body=True,
                body=b"abcde",
            )
        ],
    ),
    "content_length_identical_duplicate_list": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 5 , 05") + b"abcde",
        [
            req(
                "POST",
                "/",
                b"/",
                [H_HOST, (b"content-length", b"5 , 05")],
                has_body=True,
                body=b"abcde",
            )
        ],
    ),
    "chunked_simple": (
        head(b"POST /upload HTTP/1.1", HOST, CHUNKED) + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        [
            req(
                "POST",
                "/upload",
                b"/upload",
                [H_HOST, H_CHUNKED],
                has_body=True,
                body=b"hello world",
            )
        ],
    ),
    "chunked_extensions_and_trailers": (
        head(b"POST /upload HTTP/1.1", HOST, CHUNKED)
        + b"5;name=value\r\nhello\r\n"
        + b'6 ; q="x y";flag\r\n world\r\n'
        + b"0;last\r\nX-Checksum: abc\r\nX-Other:two\r\n\r\n",
        [
            req(
                "POST",
                "/upload",
                b"/upload",
                [H_HOST, H_CHUNKED],
                has_body=True,
                body=b"hello world",
            )
        ],
    ),
    "chunked_hex_sizes_upper_lower_and_leading_zeros": (
        head(b"POST / HTTP/1.1", HOST, CHUNKED)
        + b"A\r\n0123456789\r\n00000b\r\nabcdefghijk\r\n0000\r\n\r\n",
        [req("POST", "/", b"/", [H_HOST, H_CHUNKED], has_body=True, body=b"0123456789abcdefghijk")],
    ),
    "chunked_zero_length_body": (
        head(b"POST / HTTP/1.1", HOST, CHUNKED) + b"0\r\n\r\n",
        [req("POST", "/", b"/", [H_HOST, H_CHUNKED], has_body=True, body=b"")],
    ),
    "chunked_coding_is_case_insensitive": (
        head(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding:  Chunked ") + b"3\r\nabc\r\n0\r\n\r\n",
        [
            req(
                "POST",
                "/",
                b"/",
                [H_HOST, (b"transfer-encoding", b"Chunked")],
                has_body=True,
                body=b"abc",
            )
        ],
    ),
    "pipelined_three_gets": (
        head(b"GET /1 HTTP/1.1", HOST)
        + head(b"GET /2 HTTP/1.1", HOST)
        + head(b"GET /3 HTTP/1.1", HOST),
        [
            req("GET", "/1", b"/1", [H_HOST]),
            req("GET", "/2", b"/2", [H_HOST]),
            req("GET", "/3", b"/3", [H_HOST]),
        ],
    ),
    "pipelined_post_chunked_post_length_get": (
        head(b"POST /a HTTP/1.1", HOST, CHUNKED)
        + b"2\r\nhi\r\n0\r\n\r\n"
        + head(b"POST /b HTTP/1.1", HOST, b"Content-Length: 3")
        + b"xyz"
        + head(b"GET /c HTTP/1.1", HOST),
        [
            req("POST", "/a", b"/a", [H_HOST, H_CHUNKED], has_body=True, body=b"hi"),
            req(
                "POST", "/b", b"/b", [H_HOST, (b"content-length", b"3")], has_body=True, body=b"xyz"
            ),
            req("GET", "/c", b"/c", [H_HOST]),
        ],
    ),
    "leading_empty_lines_are_skipped": (
        b"\r\n\r\n" + head(b"GET / HTTP/1.1", HOST) + b"\r\n" + head(b"GET /next HTTP/1.1", HOST),
        [req("GET", "/", b"/", [H_HOST]), req("GET", "/next", b"/next", [H_HOST])],
    ),
    "http10_without_keep_alive_ignores_later_bytes": (
        head(b"GET /old HTTP/1.0") + head(b"GET /ignored HTTP/1.1", HOST) + b"\x00garbage\n",
        [req("GET", "/old", b"/old", [], http_version="1.0", keep_alive=False)],
    ),
    "http10_keep_alive_then_second_request": (
        head(b"GET /a HTTP/1.0", b"Connection: Keep-Alive")
        + head(b"GET /b HTTP/1.0", b"Connection: keep-alive"),
        [
            req("GET", "/a", b"/a", [(b"connection", b"Keep-Alive")], http_version="1.0"),
            req("GET", "/b", b"/b", [(b"connection", b"keep-alive")], http_version="1.0"),
        ],
    ),
    "http10_keep_alive_and_close_means_close": (
        head(b"GET / HTTP/1.0", b"Connection: keep-alive, close"),
        [
            req(
                "GET",
                "/",
                b"/",
                [(b"connection", b"keep-alive, close")],
                http_version="1.0",
                keep_alive=False,
            )
        ],
    ),
    # HTTP/1.0: Expect and Upgrade are ignored (RFC 9110 §10.1.1, §7.8).
    "http10_ignores_expect_and_upgrade": (
        head(
            b"POST /e HTTP/1.0",
            b"Connection: keep-alive, upgrade",
            b"Upgrade: websocket",
            b"Expect: 100-continue",
            b"Content-Length: 2",
        )
        + b"ok",
        [
            req(
                "POST",
                "/e",
                b"/e",
                [
                    (b"connection", b"keep-alive, upgrade"),
                    (b"upgrade", b"websocket"),
                    (b"expect", b"100-continue"),
                    (b"content-length", b"2"),
                ],
                http_version="1.0",
                has_body=True,
                body=b"ok",
            )
        ],
    ),
    "http11_connection_close_ignores_later_bytes": (
        head(b"POST / HTTP/1.1", HOST, b"Connection: foo, Close", b"Content-Length: 1")
        + b"x"
        + head(b"GET /ignored HTTP/1.1", HOST),
        [
            req(
                "POST",
                "/",
                b"/",
                [H_HOST, (b"connection", b"foo, Close"), (b"content-length", b"1")],
                keep_alive=False,
                has_body=True,
                body=b"x",
            )
        ],
    ),
    "absolute_form": (
        head(b"GET http://example.com/a/b%20c?x=1 HTTP/1.1", HOST),
        [req("GET", "/a/b c", b"/a/b%20c", [H_HOST], query_string=b"x=1")],
    ),
    "absolute_form_upper_case_scheme_and_empty_path": (
        head(b"GET HTTPS://Example.com:8443?x HTTP/1.1", b"Host: Example.com:8443"),
        [req("GET", "/", b"/", [(b"host", b"Example.com:8443")], query_string=b"x")],
    ),
    "options_asterisk_form": (
        head(b"OPTIONS * HTTP/1.1", HOST),
        [req("OPTIONS", "*", b"*", [H_HOST])],
    ),
    "connect_authority_form": (
        head(b"CONNECT example.com:443 HTTP/1.1", b"Host: example.com:443"),
        [req("CONNECT", "example.com:443", b"example.com:443", [(b"host", b"example.com:443")])],
    ),
    # The authority is not percent-decoded.
    "connect_authority_form_is_not_percent_decoded": (
        head(b"CONNECT a%41.example:443 HTTP/1.1", b"Host: a%41.example:443"),
        [
            req(
                "CONNECT",
                "a%41.example:443",
                b"a%41.example:443",
                [(b"host", b"a%41.example:443")],
            )
        ],
    ),
    "connect_ipv6_authority_form": (
        head(b"CONNECT [::1]:8443 HTTP/1.1", b"Host: [::1]:8443"),
        [req("CONNECT", "[::1]:8443", b"[::1]:8443", [(b"host", b"[::1]:8443")])],
    ),
    "duplicate_headers_kept_in_order_names_lowercased": (
        head(b"GET / HTTP/1.1", HOST, b"Accept: a", b"X-Dup: 1", b"ACCEPT: b", b"x-dup: 2"),
        [
            req(
                "GET",
                "/",
                b"/",
                [H_HOST, (b"accept", b"a"), (b"x-dup", b"1"), (b"accept", b"b"), (b"x-dup", b"2")],
            )
        ],
    ),
    "header_values_stripped_and_empty": (
        head(
            b"GET / HTTP/1.1", HOST, b"X-A:b", b"X-Empty:", b"X-Spaces: \t  ", b"X-Inner:  a  b  "
        ),
        [
            req(
                "GET",
                "/",
                b"/",
                [
                    H_HOST,
                    (b"x-a", b"b"),
                    (b"x-empty", b""),
                    (b"x-spaces", b""),
                    (b"x-inner", b"a  b"),
                ],
            )
        ],
    ),
    "tabs_in_values": (
        head(b"GET / HTTP/1.1", HOST, b"X-Tab:\ta\tb\t"),
        [req("GET", "/", b"/", [H_HOST, (b"x-tab", b"a\tb")])],
    ),
    "obs_text_in_value": (
        head(b"GET / HTTP/1.1", HOST, b"X-Name: caf\xe9 \x80\xff"),
        [req("GET", "/", b"/", [H_HOST, (b"x-name", b"caf\xe9 \x80\xff")])],
    ),
    "expect_100_continue": (
        head(b"PUT /f HTTP/1.1", HOST, b"Expect: 100-Continue", b"Content-Length: 4") + b"data",
        [
            req(
                "PUT",
                "/f",
                b"/f",
                [H_HOST, (b"expect", b"100-Continue"), (b"content-length", b"4")],
                expect_continue=True,
                has_body=True,
                body=b"data",
            )
        ],
    ),
    # Expect = #expectation (RFC 9110 §10.1.1): empty elements are ignored (§5.6.1).
    "expect_100_continue_in_a_list_with_empty_elements": (
        head(b"PUT /f HTTP/1.1", HOST, b"Expect: , 100-continue ,", b"Content-Length: 1") + b"x",
        [
            req(
                "PUT",
                "/f",
                b"/f",
                [H_HOST, (b"expect", b", 100-continue ,"), (b"content-length", b"1")],
                expect_continue=True,
                has_body=True,
                body=b"x",
            )
        ],
    ),
    "http10_ignores_an_unknown_expectation": (
        head(b"GET / HTTP/1.0", b"Expect: x-unknown"),
        [
            req(
                "GET",
                "/",
                b"/",
                [(b"expect", b"x-unknown")],
                http_version="1.0",
                keep_alive=False,
            )
        ],
    ),
    # "the origin server MUST ignore the received Host header field (if any) and instead use
    # the host information of the request-target" -- RFC 9112 §3.2.2
    "absolute_form_authority_replaces_a_differing_host": (
        head(b"GET http://a.example:8080/p HTTP/1.1", b"X-A: 1", b"Host: b.example", b"X-B: 2"),
        [
            req(
                "GET",
                "/p",
                b"/p",
                [(b"x-a", b"1"), (b"host", b"a.example:8080"), (b"x-b", b"2")],
            )
        ],
    ),
    "absolute_form_in_http10_without_host": (
        head(b"GET http://a.example/p HTTP/1.0"),
        [req("GET", "/p", b"/p", [], http_version="1.0", keep_alive=False)],
    ),
    "absolute_form_with_ip_literal_and_port": (
        head(b"GET http://[::1]:8080/x HTTP/1.1", HOST),
        [req("GET", "/x", b"/x", [(b"host", b"[::1]:8080")])],
    ),
    "expect_100_continue_without_body_is_not_expect_continue": (
        head(b"GET / HTTP/1.1", HOST, b"Expect: 100-continue"),
        [req("GET", "/", b"/", [H_HOST, (b"expect", b"100-continue")])],
    ),
    "upgrade_websocket": (
        head(
            b"GET /chat HTTP/1.1",
            HOST,
            b"Connection: keep-alive, Upgrade",
            b"Upgrade:  websocket ",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            b"Sec-WebSocket-Version: 13",
        ),
        [
            req(
                "GET",
                "/chat",
                b"/chat",
                [
                    H_HOST,
                    (b"connection", b"keep-alive, Upgrade"),
                    (b"upgrade", b"websocket"),
                    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                    (b"sec-websocket-version", b"13"),
                ],
                upgrade=b"websocket",
            )
        ],
    ),
    # Several Upgrade lines are joined with ", " (RFC 9110 §5.3).
    "upgrade_on_two_lines_is_joined": (
        head(b"GET / HTTP/1.1", HOST, b"Connection: upgrade", b"Upgrade: h2c ", b"Upgrade:\tfoo/2"),
        [
            req(
                "GET",
                "/",
                b"/",
                [H_HOST, (b"connection", b"upgrade"), (b"upgrade", b"h2c"), (b"upgrade", b"foo/2")],
                upgrade=b"h2c, foo/2",
            )
        ],
    ),
    "connection_tokens_with_empty_elements": (
        head(b"GET / HTTP/1.1", HOST, b"Connection: , ,CLOSE,"),
        [req("GET", "/", b"/", [H_HOST, (b"connection", b", ,CLOSE,")], keep_alive=False)],
    ),
    "upgrade_field_without_connection_token_is_ignored": (
        head(b"GET / HTTP/1.1", HOST, b"Upgrade: h2c"),
        [req("GET", "/", b"/", [H_HOST, (b"upgrade", b"h2c")])],
    ),
    "http12_is_treated_as_http11": (
        head(b"GET / HTTP/1.2", HOST),
        [req("GET", "/", b"/", [H_HOST], http_version="1.1")],
    ),
    "empty_host_on_http11": (
        head(b"GET / HTTP/1.1", b"Host:"),
        [req("GET", "/", b"/", [(b"host", b"")])],
    ),
    "host_with_empty_port": (
        head(b"GET / HTTP/1.1", b"Host: example.com:"),
        [req("GET", "/", b"/", [(b"host", b"example.com:")])],
    ),
    "host_ipvfuture_literal": (
        head(b"GET / HTTP/1.1", b"Host: [v1.fe80::a]"),
        [req("GET", "/", b"/", [(b"host", b"[v1.fe80::a]")])],
    ),
    "ipv6_host_with_port": (
        head(b"GET / HTTP/1.1", b"Host: [::1]:8000"),
        [req("GET", "/", b"/", [(b"host", b"[::1]:8000")])],
    ),
    "reg_name_host_with_all_allowed_chars": (
        head(b"GET / HTTP/1.1", b"Host: a-b.c_d~e!f$g&h'i(j)k*l+m,n;o=p%41:65535"),
        [req("GET", "/", b"/", [(b"host", b"a-b.c_d~e!f$g&h'i(j)k*l+m,n;o=p%41:65535")])],
    ),
    # OWS before a field value may be HTAB (RFC 9112 §5.1): this is chunked, not a smuggle.
    "transfer_encoding_after_a_tab": (
        head(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding:\tchunked") + b"1\r\nZ\r\n0\r\n\r\n",
        [
            req(
                "POST",
                "/",
                b"/",
                [H_HOST, H_CHUNKED],
                has_body=True,
                body=b"Z",
            )
        ],
    ),
    # Content-Type is a singleton field (RFC 9110 §8.3) but not framing: both lines are kept for
    # the app, in order, as every duplicate is (gunicorn's advisories name it; nothing in RFC
    # 9112 makes a recipient refuse it, and the body's length does not depend on it).
    "duplicate_content_type_kept_in_order": (
        head(
            b"POST / HTTP/1.1",
            HOST,
            b"Content-Type: text/plain",
            b"Content-Type: application/json",
            b"Content-Length: 2",
        )
        + b"{}",
        [
            req(
                "POST",
                "/",
                b"/",
                [
                    H_HOST,
                    (b"content-type", b"text/plain"),
                    (b"content-type", b"application/json"),
                    (b"content-length", b"2"),
                ],
                has_body=True,
                body=b"{}",
            )
        ],
    ),
    "method_tokens_are_case_sensitive_and_custom": (
        head(b"get /1 HTTP/1.1", HOST)
        + head(b"M-SEARCH /2 HTTP/1.1", HOST)
        + head(b"PURGE! /3 HTTP/1.1", HOST),
        [
            req("get", "/1", b"/1", [H_HOST]),
            req("M-SEARCH", "/2", b"/2", [H_HOST]),
            req("PURGE!", "/3", b"/3", [H_HOST]),
        ],
    ),
}


def te(value: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return head(b"POST / " + version, HOST, b"Transfer-Encoding: " + value) + b"0\r\n\r\n"


def cl(*values: bytes) -> bytes:
    return head(b"POST / HTTP/1.1", HOST, *(b"Content-Length: " + v for v in values)) + b"hello"


def chunked(body: bytes) -> bytes:
    return head(b"POST / HTTP/1.1", HOST, CHUNKED) + body


def field(line: bytes) -> bytes:
    """A GET whose head has one extra field line (after Host)."""
    return head(b"GET / HTTP/1.1", HOST, line)


def line(request_line: bytes) -> bytes:
    return head(request_line, HOST)


INVALID: dict[str, tuple[bytes, str]] = {
    # -- request line: length, bare LF, spaces, then version, method, target
    "414-request_line_too_long": (
        line(b"GET /" + b"a" * 8200 + b" HTTP/1.1"),
        "RequestLineTooLong",
    ),
    "400-request_line_ends_in_bare_lf": (
        b"GET / HTTP/1.1\nHost: example.com\r\n\r\n",
        "InvalidRequestLine",
    ),
    "400-leading_empty_line_is_a_bare_lf": (b"\n" + line(b"GET / HTTP/1.1"), "InvalidRequestLine"),
    "400-two_spaces_after_method": (line(b"GET  / HTTP/1.1"), "InvalidRequestLine"),
    "400-leading_space_in_request_line": (line(b" GET / HTTP/1.1"), "InvalidRequestLine"),
    "400-trailing_space_in_request_line": (line(b"GET / HTTP/1.1 "), "InvalidRequestLine"),
    "400-space_in_target": (line(b"GET /a b HTTP/1.1"), "InvalidRequestLine"),
    "400-request_line_with_one_part": (line(b"GET"), "InvalidRequestLine"),
    "400-http09_style_request_without_version": (b"GET /\r\n", "InvalidVersion"),
    "400-lower_case_version": (line(b"GET / http/1.1"), "InvalidVersion"),
    "400-version_with_two_digit_minor": (line(b"GET / HTTP/1.10"), "InvalidVersion"),
    "400-version_without_minor": (line(b"GET / HTTP/1"), "InvalidVersion"),
    "400-version_not_digits": (line(b"GET / HTTP/a.b"), "InvalidVersion"),
    # A byte that can be in no request line (not SP or VCHAR, or a CR not before LF) is an
    # InvalidRequestLine wherever it stands, judged before the parts (docs/core.md step 1).
    "400-version_ends_in_bare_cr": (line(b"GET / HTTP/1.1\r"), "InvalidRequestLine"),
    "505-http2_version": (line(b"GET / HTTP/2.0"), "UnsupportedVersion"),
    "505-http0_major_version": (line(b"GET / HTTP/0.9"), "UnsupportedVersion"),
    "505-version_is_checked_before_method_and_target": (
        line(b"G@T nope HTTP/3.0"),
        "UnsupportedVersion",
    ),
    "400-method_with_at_sign": (line(b"G@T / HTTP/1.1"), "InvalidMethod"),
    "400-method_with_nul": (line(b"GE\x00T / HTTP/1.1"), "InvalidRequestLine"),
    "400-method_with_non_ascii": (line(b"G\xc3\x89T / HTTP/1.1"), "InvalidRequestLine"),
    "400-method_is_checked_before_target": (line(b"GET: nope HTTP/1.1"), "InvalidMethod"),
    "400-target_without_leading_slash": (line(b"GET index.html HTTP/1.1"), "InvalidTarget"),
    "400-target_with_control_byte": (line(b"GET /a\x01b HTTP/1.1"), "InvalidRequestLine"),
    "400-target_with_del": (line(b"GET /a\x7f HTTP/1.1"), "InvalidRequestLine"),
    "400-target_with_raw_utf8": (line(b"GET /caf\xc3\xa9 HTTP/1.1"), "InvalidRequestLine"),
    "400-target_with_bare_cr": (line(b"GET /a\rb HTTP/1.1"), "InvalidRequestLine"),
    "400-asterisk_target_with_get": (line(b"GET * HTTP/1.1"), "InvalidTarget"),
    "400-authority_form_with_get": (line(b"GET example.com:80 HTTP/1.1"), "InvalidTarget"),
    # "A recipient that processes such a URI reference [an "http" URI with an empty host
    # identifier] MUST reject it as invalid"; userinfo: "treat its presence as an error"
    # -- RFC 9110 §4.2.1, §4.2.4
    "400-absolute_form_with_empty_host": (line(b"GET http:///a HTTP/1.1"), "InvalidTarget"),
    "400-absolute_form_with_port_but_no_host": (
        line(b"GET http://:80/a HTTP/1.1"),
        "InvalidTarget",
    ),
    "400-absolute_form_with_empty_authority_and_query": (
        line(b"GET https://?a HTTP/1.1"),
        "InvalidTarget",
    ),
    "400-absolute_form_with_userinfo": (
        line(b"GET http://user:pw@example.com/a HTTP/1.1"),
        "InvalidTarget",
    ),
    "400-absolute_form_with_bad_port": (
        line(b"GET http://example.com:8x/a HTTP/1.1"),
        "InvalidTarget",
    ),
    # "A server that receives an Expect field value containing a member other than
    # 100-continue MAY respond with a 417 (Expectation Failed)" -- RFC 9110 §10.1.1
    "417-expect_unknown": (
        head(b"POST / HTTP/1.1", HOST, b"Expect: x-unknown", b"Content-Length: 1") + b"x",
        "ExpectationFailed",
    ),
    "417-expect_100_continue_and_an_unknown_one": (
        head(b"POST / HTTP/1.1", HOST, b"Expect: 100-continue, foo", b"Content-Length: 1") + b"x",
        "ExpectationFailed",
    ),
    "417-expect_unknown_on_second_line": (
        head(
            b"POST / HTTP/1.1",
            HOST,
            b"Expect: 100-continue",
            b"Expect: foo=bar",
            b"Content-Length: 1",
        )
        + b"x",
        "ExpectationFailed",
    ),
    "417-expect_with_parameter": (
        head(b"GET / HTTP/1.1", HOST, b"Expect: 100-continue;a=b"),
        "ExpectationFailed",
    ),
    "400-absolute_form_with_ftp_scheme": (
        line(b"GET ftp://example.com/ HTTP/1.1"),
        "InvalidTarget",
    ),
    # authority-form = uri-host ":" port (RFC 9112 §3.2.3): the port is not optional, and
    # there is no userinfo, path or query.
    "400-connect_target_without_port": (line(b"CONNECT example.com HTTP/1.1"), "InvalidTarget"),
    "400-connect_target_with_userinfo": (
        line(b"CONNECT user@example.com:443 HTTP/1.1"),
        "InvalidTarget",
    ),
    "400-connect_target_with_path": (line(b"CONNECT example.com:443/x HTTP/1.1"), "InvalidTarget"),
    "400-connect_target_with_query": (line(b"CONNECT example.com:443?x HTTP/1.1"), "InvalidTarget"),
    "400-connect_target_with_two_ports": (
        line(b"CONNECT example.com:443:80 HTTP/1.1"),
        "InvalidTarget",
    ),
    "400-connect_target_ipv6_without_port": (line(b"CONNECT [::1] HTTP/1.1"), "InvalidTarget"),
    "400-connect_target_with_empty_port": (line(b"CONNECT example.com: HTTP/1.1"), "InvalidTarget"),
    "400-connect_target_with_bad_host_byte": (
        line(b'CONNECT exa"mple.com:443 HTTP/1.1'),
        "InvalidTarget",
    ),
    # "CONNECT uses a special form of request target, unique to this method, consisting of
    # only the host and port number of the tunnel destination" -- RFC 9110 §9.3.6
    "400-connect_with_origin_form": (line(b"CONNECT /x HTTP/1.1"), "InvalidTarget"),
    "400-connect_with_absolute_form": (
        line(b"CONNECT http://example.com:443/ HTTP/1.1"),
        "InvalidTarget",
    ),
    "400-connect_with_asterisk_form": (line(b"CONNECT * HTTP/1.1"), "InvalidTarget"),
    # -- field lines
    "431-header_section_too_large": (field(b"X-Big: " + b"a" * 65536), "HeadersTooLarge"),
    "431-too_many_headers": (
        head(b"GET / HTTP/1.1", HOST, *(b"X-%d: %d" % (i, i) for i in range(100))),
        "HeadersTooLarge",
    ),
    "400-header_line_ends_in_bare_lf": (
        b"GET / HTTP/1.1\r\nHost: example.com\nX-A: b\r\n\r\n",
        "InvalidHeader",
    ),
    "400-empty_line_is_a_bare_lf": (b"GET / HTTP/1.1\r\nHost: example.com\r\n\n", "InvalidHeader"),
    "400-whitespace_before_first_header": (
        b"GET / HTTP/1.1\r\n Host: example.com\r\n\r\n",
        "InvalidHeader",
    ),
    "400-obs_fold": (head(b"GET / HTTP/1.1", HOST, b"X-A: one", b"  two"), "InvalidHeader"),
    "400-obs_fold_with_tab": (
        head(b"GET / HTTP/1.1", HOST, b"X-A: one", b"\ttwo"),
        "InvalidHeader",
    ),
    "400-space_before_colon": (field(b"X-A : b"), "InvalidHeader"),
    "400-tab_before_colon": (field(b"X-A\t: b"), "InvalidHeader"),
    "400-space_before_colon_in_host": (
        head(b"GET / HTTP/1.1", b"Host : example.com"),
        "InvalidHeader",
    ),
    "400-header_without_colon": (field(b"NoColonHere"), "InvalidHeader"),
    "400-header_with_empty_name": (field(b": value"), "InvalidHeader"),
    "400-header_name_with_nul": (field(b"X-\x00A: b"), "InvalidHeader"),
    "400-header_name_not_a_token": (field(b"X(A): b"), "InvalidHeader"),
    "400-header_name_with_obs_text": (field(b"X-\xe9: b"), "InvalidHeader"),
    "400-header_value_with_nul": (field(b"X-A: b\x00c"), "InvalidHeader"),
    "400-header_value_with_control_byte": (field(b"X-A: b\x01"), "InvalidHeader"),
    "400-header_value_with_del": (field(b"X-A: b\x7f"), "InvalidHeader"),
    "400-header_value_with_bare_cr": (field(b"X-A: b\rc"), "InvalidHeader"),
    "400-header_value_ends_in_bare_cr": (field(b"X-A: b\r"), "InvalidHeader"),
    # -- Host
    "400-missing_host_in_http11": (head(b"GET / HTTP/1.1", b"Accept: */*"), "InvalidHost"),
    "400-missing_host_in_http12": (head(b"GET / HTTP/1.2"), "InvalidHost"),
    "400-two_host_lines": (head(b"GET / HTTP/1.1", HOST, HOST), "InvalidHost"),
    "400-two_host_lines_in_http10": (head(b"GET / HTTP/1.0", HOST, b"Host: other"), "InvalidHost"),
    "400-host_with_space": (head(b"GET / HTTP/1.1", b"Host: exa mple.com"), "InvalidHost"),
    "400-host_with_userinfo": (head(b"GET / HTTP/1.1", b"Host: user@example.com"), "InvalidHost"),
    "400-host_with_bad_port": (head(b"GET / HTTP/1.1", b"Host: example.com:8o"), "InvalidHost"),
    "400-host_with_unclosed_ipv6": (head(b"GET / HTTP/1.1", b"Host: [::1"), "InvalidHost"),
    "400-host_empty_ip_literal": (head(b"GET / HTTP/1.1", b"Host: []"), "InvalidHost"),
    "400-host_ip_literal_with_zone_id": (
        head(b"GET / HTTP/1.1", b"Host: [fe80::1%25eth0]"),
        "InvalidHost",
    ),
    "400-host_with_path": (head(b"GET / HTTP/1.1", b"Host: example.com/x"), "InvalidHost"),
    "400-host_is_checked_before_framing": (
        head(b"POST / HTTP/1.1", CHUNKED, b"Content-Length: 5") + b"hello",
        "InvalidHost",
    ),
    # -- framing
    "400-content_length_then_transfer_encoding": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 5", CHUNKED) + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    "400-transfer_encoding_then_content_length": (
        head(b"POST / HTTP/1.1", HOST, CHUNKED, b"Content-Length: 5") + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    "400-content_length_lines_differ": (cl(b"5", b"6"), "InvalidFraming"),
    "400-content_length_list_differs": (cl(b"5, 6"), "InvalidFraming"),
    "400-content_length_with_plus_sign": (cl(b"+5"), "InvalidFraming"),
    "400-content_length_with_minus_sign": (cl(b"-5"), "InvalidFraming"),
    "400-content_length_with_inner_space": (cl(b"1 0"), "InvalidFraming"),
    "400-content_length_in_hex": (cl(b"0x5"), "InvalidFraming"),
    "400-content_length_with_19_digits": (cl(b"0000000000000000005"), "InvalidFraming"),
    "400-content_length_overflows_64_bits": (cl(b"99999999999999999999"), "InvalidFraming"),
    "400-content_length_empty": (cl(b""), "InvalidFraming"),
    "400-content_length_list_with_empty_element": (cl(b"5,,5"), "InvalidFraming"),
    "400-transfer_encoding_not_ending_in_chunked": (te(b"chunked, gzip"), "InvalidFraming"),
    "400-transfer_encoding_identity": (te(b"identity"), "InvalidFraming"),
    "400-transfer_encoding_chunked_twice": (te(b"chunked, chunked"), "InvalidFraming"),
    "400-transfer_encoding_chunked_on_two_lines": (
        head(b"POST / HTTP/1.1", HOST, CHUNKED, CHUNKED) + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    "400-transfer_encoding_with_parameter": (te(b"chunked;foo=bar"), "InvalidFraming"),
    "400-transfer_encoding_with_empty_element": (te(b"gzip,,chunked"), "InvalidFraming"),
    "400-transfer_encoding_not_a_token": (te(b'"chunked"'), "InvalidFraming"),
    "400-transfer_encoding_in_http10": (te(b"chunked", b"HTTP/1.0"), "InvalidFraming"),
    "501-transfer_encoding_gzip_then_chunked": (te(b"gzip, chunked"), "UnsupportedTransferCoding"),
    "501-transfer_encoding_unknown_on_its_own_line": (
        head(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: x-custom", CHUNKED) + b"0\r\n\r\n",
        "UnsupportedTransferCoding",
    ),
    # -- chunked body
    "400-chunk_size_not_hex": (chunked(b"g\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_size_missing": (chunked(b"\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_size_missing_before_extension": (chunked(b";a=b\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_size_with_17_digits": (
        chunked(b"00000000000000001\r\nx\r\n0\r\n\r\n"),
        "InvalidChunk",
    ),
    "400-chunk_size_2_pow_63": (chunked(b"8000000000000000\r\n"), "InvalidChunk"),
    "400-chunk_size_negative": (chunked(b"-5\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_size_with_0x_prefix": (chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_extension_without_semicolon": (
        chunked(b"5 x\r\nhello\r\n0\r\n\r\n"),
        "InvalidChunk",
    ),
    "400-chunk_size_with_trailing_space_only": (
        chunked(b"5 \r\nhello\r\n0\r\n\r\n"),
        "InvalidChunk",
    ),
    "400-chunk_extension_with_nul": (chunked(b"5;a\x00\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_extension_with_del": (chunked(b"5;a=\x7f\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_extension_with_bare_cr": (chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_line_ends_in_bare_lf": (chunked(b"5\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-last_chunk_line_ends_in_bare_lf": (chunked(b"5\r\nhello\r\n0\n\r\n"), "InvalidChunk"),
    "400-chunk_data_not_followed_by_crlf": (chunked(b"5\r\nhelloX\r\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_data_followed_by_bare_lf": (chunked(b"5\r\nhello\n0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_data_followed_by_bare_cr": (chunked(b"5\r\nhello\r0\r\n\r\n"), "InvalidChunk"),
    "400-chunk_data_longer_than_its_size": (chunked(b"3\r\nhello\r\n0\r\n\r\n"), "InvalidChunk"),
    # -- trailers: validated as field lines
    "400-trailer_obs_fold": (chunked(b"0\r\nX-A: one\r\n two\r\n\r\n"), "InvalidHeader"),
    "400-trailer_space_before_colon": (chunked(b"0\r\nX-A : one\r\n\r\n"), "InvalidHeader"),
    "400-trailer_line_ends_in_bare_lf": (chunked(b"0\r\nX-A: one\n\r\n"), "InvalidHeader"),
    "400-trailer_section_ends_in_bare_lf": (chunked(b"0\r\n\n"), "InvalidHeader"),
    "400-trailer_value_with_nul": (chunked(b"0\r\nX-A: o\x00ne\r\n\r\n"), "InvalidHeader"),
    "431-trailer_section_too_large": (
        chunked(b"0\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n"),
        "HeadersTooLarge",
    ),
    # -- request-smuggling bugs found in other servers (tests/http/test_smuggling.py cites each
    # advisory and checks the smuggled request never appears); shapes from the advisories.
    # h11 < 0.16 (CVE-2025-43859): took any two bytes after chunk data as its CRLF.
    "400-cve_2025_43859_h11_two_bytes_after_chunk_data": (
        head(b"GET /one HTTP/1.1", HOST, CHUNKED)
        + b"5\r\nAAAAAXX2\r\n45\r\n0\r\n\r\n"
        + head(b"GET /two HTTP/1.1", HOST, CHUNKED)
        + b"0\r\n\r\n",
        "InvalidChunk",
    ),
    # Go net/http (CVE-2025-22871): a bare LF ended a chunk-size line.
    "400-cve_2025_22871_go_bare_lf_ends_chunk_size_line": (
        chunked(b"2\nxx\r\n0\r\n\r\n" + line(b"GET /smuggled HTTP/1.1")),
        "InvalidChunk",
    ),
    # Kestrel (CVE-2025-55315): a bare LF inside a chunk extension, scanned past to the CRLF.
    "400-cve_2025_55315_kestrel_lf_in_chunk_extension": (
        chunked(b"2;\nxx\r\n22\r\n0\r\n\r\n" + line(b"GET /admin HTTP/1.1")),
        "InvalidChunk",
    ),
    "400-chunk_extension_value_with_bare_lf": (
        chunked(b"2;a=b\nc\r\nxx\r\n0\r\n\r\n"),
        "InvalidChunk",
    ),
    # gunicorn < 22 (CVE-2024-1135): conflicting Transfer-Encoding lines taken as chunked.
    "400-cve_2024_1135_gunicorn_chunked_then_identity_lines": (
        head(b"POST / HTTP/1.1", HOST, CHUNKED, b"Transfer-Encoding: identity") + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    # gunicorn < 23 (CVE-2024-6827): an invalid Transfer-Encoding fell back to Content-Length.
    "400-cve_2024_6827_gunicorn_unknown_te_with_content_length": (
        head(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: xchunked", b"Content-Length: 5")
        + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    # gunicorn #3364: \x0b\x0c\x1c-\x1f\x85\xa0 stripped around a coding, leaving "chunked".
    "400-gunicorn_3364_control_bytes_around_chunked": (
        te(b"\x0b\x0c\x1c\x1d\x1e\x1fchunked\x0b\x0c\x1c\x1d\x1e\x1f"),
        "InvalidHeader",
    ),
    "400-te_chunked_with_nbsp_is_not_chunked": (te(b"\x85\xa0chunked\x85\xa0"), "InvalidFraming"),
    "400-te_chunked_then_vertical_tab": (te(b"chunked\x0b"), "InvalidHeader"),
    "400-te_xchunked": (te(b"xchunked"), "InvalidFraming"),
    "400-te_chunked_with_http10_and_content_length": (
        head(b"POST / HTTP/1.0", HOST, CHUNKED, b"Content-Length: 5") + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    # The classic CL.TE / TE.CL obfuscations: a second parser that ignores the odd field line
    # frames by Content-Length; ours never guesses.
    "400-cl_te_space_before_colon": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 5", b"Transfer-Encoding : chunked")
        + b"0\r\n\r\n",
        "InvalidHeader",
    ),
    "400-cl_te_obs_folded_transfer_encoding": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 5", b"Transfer-Encoding:", b" chunked")
        + b"0\r\n\r\n",
        "InvalidHeader",
    ),
    "400-cl_te_transfer_encoding_with_leading_space_line": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 5", b" Transfer-Encoding: chunked")
        + b"0\r\n\r\n",
        "InvalidHeader",
    ),
    "400-te_cl_content_length_then_te_chunked_twice": (
        head(b"POST / HTTP/1.1", HOST, CHUNKED, b"Content-Length: 3", CHUNKED) + b"0\r\n\r\n",
        "InvalidFraming",
    ),
    "400-two_host_lines_differ_in_case": (
        head(b"GET / HTTP/1.1", b"Host: example.com", b"host: evil.example"),
        "InvalidHost",
    ),
    "400-two_content_length_lines_one_empty": (cl(b"5", b""), "InvalidFraming"),
    # -- a good request, then a bad one
    "400-good_request_then_bad_method": (
        line(b"GET /ok HTTP/1.1") + line(b"G(T / HTTP/1.1"),
        "InvalidMethod",
    ),
    "400-good_chunked_request_then_bad_target": (
        chunked(b"1\r\na\r\n0\r\n\r\n") + line(b"GET nope HTTP/1.1"),
        "InvalidTarget",
    ),
}

EXPECTED_ERROR: dict[str, str] = {name: cls for name, (_, cls) in INVALID.items()}


def write(root: Path = HERE) -> None:
    for kind, table in (("valid", VALID), ("invalid", INVALID)):
        folder = root / kind
        folder.mkdir(exist_ok=True)
        wanted = {f"{name}.http": raw for name, (raw, _) in table.items()}
        for stale in folder.glob("*.http"):
            if stale.name not in wanted:
                stale.unlink()
        for name, raw in wanted.items():
            (folder / name).write_bytes(raw)


if __name__ == "__main__":
    write()
    print(f"{len(VALID)} valid, {len(INVALID)} invalid", file=sys.stderr)
