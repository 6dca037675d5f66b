"""ResponseWriter parts behind the ASGI extensions, once per twin ("py", "c").

Strategy: `early_hint` (103 Early Hints), the trailer rules (declared and sent fields),
`frame_external` (a body the shell writes itself: pathsend, zerocopysend) and `reset` each get
their rules checked in exact bytes and, where framing matters, as an h11 client reads them. The
last section holds the twins to identical outcomes, and `frame_external` to the very bytes
`body` gives for the same content.
"""

from __future__ import annotations

import importlib
from typing import Any

import h11
import pytest
from hypothesis import given, strategies as st
from test_writer import (
    BAD_VALUES,
    GET_11,
    HYPOTHESIS,
    b,
    body_msg,
    h11_read,
    new,
    outcome,
    s,
    start_msg,
    t,
    trailers_msg,
)

from sailfish.errors import ResponseError
from sailfish.http.writer import FORBIDDEN_TRAILERS

LINK = b"</style.css>; rel=preload; as=style"


def hint(links: Any) -> dict[str, Any]:
    return {"type": "http.response.early_hint", "links": links}


# -- early hints -------------------------------------------------------------------------------


def test_early_hint_is_a_103_with_one_link_field_per_link(writer_cls: Any) -> None:
    writer = new(writer_cls)
    out = writer.early_hint(hint([LINK, b"</app.js>; rel=preload; as=script"]), "1.1")
    assert out == (
        b"HTTP/1.1 103 Early Hints\r\n"
        b"link: </style.css>; rel=preload; as=style\r\n"
        b"link: </app.js>; rel=preload; as=script\r\n\r\n"
    )
    assert not writer.started


def test_early_hints_then_the_response_as_a_client_reads_them(writer_cls: Any) -> None:
    writer = new(writer_cls)
    out = writer.early_hint(hint([LINK]), "1.1") + writer.early_hint(hint((LINK,)), "1.1")
    writer.start(start_msg(200), *GET_11)
    out += writer.body(body_msg(b"page"))
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(out)
    events = [conn.next_event() for _ in range(4)]
    assert [type(e).__name__ for e in events] == [
        "InformationalResponse",
        "InformationalResponse",
        "Response",
        "Data",
    ]
    assert events[0].status_code == 103 and events[0].headers == [(b"link", LINK)]


def test_early_hint_to_http10_is_never_sent(writer_cls: Any) -> None:
    # "a server MUST NOT send a 1xx response to an HTTP/1.0 client" -- RFC 9110 §15.2
    assert new(writer_cls).early_hint(hint([LINK]), "1.0") == b""


def test_early_hint_without_links_writes_nothing(writer_cls: Any) -> None:
    assert new(writer_cls).early_hint(hint([]), "1.1") == b""
    assert new(writer_cls).early_hint({"type": "http.response.early_hint"}, "1.1") == b""


def test_early_hint_link_whitespace_is_stripped(writer_cls: Any) -> None:
    out = new(writer_cls).early_hint(hint([b" \t</a>; rel=preload "]), "1.1")
    assert b"link: </a>; rel=preload\r\n" in out


@pytest.mark.parametrize("link", BAD_VALUES)
def test_early_hint_link_with_bad_bytes_is_refused(writer_cls: Any, link: bytes) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).early_hint(hint([LINK, link]), "1.1")


@pytest.mark.parametrize(
    "link",
    [
        pytest.param(b"/style.css", id="no_angle_brackets"),
        pytest.param(b"<unterminated", id="no_closing_bracket"),
        pytest.param(b"", id="empty"),
        pytest.param("</style.css>", id="str"),
        pytest.param(None, id="none"),
    ],
)
def test_early_hint_that_is_not_a_link_value_is_refused(writer_cls: Any, link: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).early_hint(hint([link]), "1.1")
    with pytest.raises(ResponseError):
        new(writer_cls).early_hint(hint([link]), "1.0")  # refused on HTTP/1.0 too


@pytest.mark.parametrize("links", [LINK, "</a>", 3, None], ids=["bytes", "str", "int", "none"])
def test_early_hint_links_must_be_an_iterable_of_bytes(writer_cls: Any, links: Any) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).early_hint(hint(links), "1.1")


def test_early_hint_after_start_is_refused_and_before_the_next_is_fine(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200), *GET_11)
    with pytest.raises(ResponseError):
        writer.early_hint(hint([LINK]), "1.1")
    writer.body(body_msg(b"a", more=True))
    with pytest.raises(ResponseError):
        writer.early_hint(hint([LINK]), "1.1")
    writer.body(body_msg(b""))
    assert writer.complete
    assert writer.early_hint(hint([LINK]), "1.1").startswith(b"HTTP/1.1 103 ")


# -- trailers: declared and sent fields --------------------------------------------------------

FORBIDDEN = [
    b"content-length",
    b"Transfer-Encoding",
    b"trailer",
    b"connection",
    b"host",
    b"te",
    b"Set-Cookie",
    b"www-authenticate",
    b"cache-control",
    b"location",
    b"content-type",
]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_framing_fields_are_refused_as_trailers(writer_cls: Any, name: bytes) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"a"))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg([(b"x-ok", b"1"), (name, b"1")]))
    assert not writer.complete
    assert writer.trailers(trailers_msg([(b"x-ok", b"1")])) == b"x-ok: 1\r\n\r\n"


@pytest.mark.parametrize("name", sorted(FORBIDDEN_TRAILERS))
def test_every_forbidden_trailer_name_is_refused_by_both_twins(
    writer_cls: Any, name: bytes
) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError):
        writer.start(start_msg(200, [(b"trailer", b"x-a, " + name)], trailers=True), *GET_11)
    writer.start(start_msg(200, trailers=True), *GET_11)
    writer.body(body_msg(b"a"))
    with pytest.raises(ResponseError):
        writer.trailers(trailers_msg([(name.upper(), b"1")]))


@pytest.mark.parametrize(
    "name", [b"x-checksum", b"server-timing", b"authentication-info", b"grpc-status", b"etag"]
)
def test_trailer_fields_that_may_trail_are_sent(writer_cls: Any, name: bytes) -> None:
    writer = new(writer_cls, server_header=None, date_header=False)
    writer.start(start_msg(200, [(b"trailer", name)], trailers=True), *GET_11)
    writer.body(body_msg(b"a"))
    assert writer.trailers(trailers_msg([(name, b"1")])) == name + b": 1\r\n\r\n"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"x-checksum, content-length", id="forbidden_name"),
        pytest.param(b"x checksum", id="not_a_token"),
        pytest.param(b"x-a, Host", id="forbidden_any_case"),
    ],
)
def test_declared_trailer_fields_are_validated(writer_cls: Any, value: bytes) -> None:
    with pytest.raises(ResponseError):
        new(writer_cls).start(start_msg(200, [(b"trailer", value)], trailers=True), *GET_11)


def test_declared_trailer_list_with_empty_elements_is_accepted(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"Trailer", b"x-a, , x-b ,")], trailers=True), *GET_11)
    out = writer.body(body_msg(b"ab")) + writer.trailers(trailers_msg([(b"x-a", b"1")]))
    seen = h11_read(out)
    assert (b"trailer", b"x-a, , x-b ,") in seen["headers"]
    assert seen["trailers"] == [(b"x-a", b"1")]


# -- frame_external ----------------------------------------------------------------------------


def test_external_whole_body_gets_its_content_length(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    before, after, write = writer.frame_external(5, False)
    assert before == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    assert after == b"" and write
    assert writer.complete and writer.keep_alive


def test_external_body_with_the_apps_content_length(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"content-length", b"5")]), *GET_11)
    before, after, write = writer.frame_external(5, False)
    assert before == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    assert (after, write, writer.complete) == (b"", True, True)


@pytest.mark.parametrize("size", [4, 6], ids=["shorter", "longer"])
def test_external_body_must_match_the_apps_content_length(writer_cls: Any, size: int) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200, [(b"content-length", b"5")]), *GET_11)
    with pytest.raises(ResponseError):
        writer.frame_external(size, False)
    # nothing was written: the response can still be dropped for a 500
    assert writer.started
    writer.reset()
    assert not writer.started


def test_external_body_is_chunked_when_more_follows(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    before, after, write = writer.frame_external(26, True)
    assert before == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1a\r\n"
    assert (after, write) == (b"\r\n", True)
    assert writer.frame_external(0, True) == (b"", b"", False)
    before, after, write = writer.frame_external(3, False)
    assert (before, after, write) == (b"3\r\n", b"\r\n0\r\n\r\n", True)
    assert writer.complete


def test_external_and_ordinary_bodies_mix(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, [(b"content-length", b"6")]), *GET_11)
    out = writer.body(body_msg(b"ab", more=True))
    before, after, write = writer.frame_external(3, True)
    out += before + b"cde" + after
    out += writer.body(body_msg(b"f"))
    assert h11_read(out)["body"] == b"abcdef"
    assert writer.complete


def test_external_body_then_trailers(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200, trailers=True), *GET_11)
    before, after, write = writer.frame_external(2, False)
    assert after == b"\r\n0\r\n"
    out = before + b"ab" + after + writer.trailers(trailers_msg([(b"x", b"1")]))
    seen = h11_read(out)
    assert (seen["body"], seen["trailers"], seen["complete"]) == (b"ab", [(b"x", b"1")], True)


@pytest.mark.parametrize(
    ("request_", "status"),
    [(("HEAD", "1.1", True), 200), (GET_11, 204), (GET_11, 205), (GET_11, 304)],
    ids=["head", "204", "205", "304"],
)
def test_external_body_is_not_written_without_content(
    writer_cls: Any, request_: Any, status: int
) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(status, [(b"content-length", b"9")]), *request_)
    before, after, write = writer.frame_external(9, False)
    # RFC 9110 §8.6: a 204 never carries Content-Length; HEAD and 304 pass the app's through;
    # a 205 carries ours, 0 (RFC 9110 §15.3.6)
    field = {204: b"\r\n\r\n", 205: b"content-length: 0\r\n\r\n"}.get(
        status, b"content-length: 9\r\n\r\n"
    )
    assert before.endswith(field) and before.count(b"\r\n\r\n") == 1
    assert (after, write, writer.complete) == (b"", False, True)


@pytest.mark.parametrize("size", [0, 9])
@pytest.mark.parametrize(
    ("version", "keep_alive"), [("1.1", True), ("1.1", False), ("1.0", True), ("1.0", False)]
)
@pytest.mark.parametrize("trailers", [False, True])
def test_external_body_answering_head_has_the_get_heads_fields(
    writer_cls: Any, size: int, version: str, keep_alive: bool, trailers: bool
) -> None:
    # "The server SHOULD send the same header fields in response to a HEAD request as it
    # would have sent if the request method had been GET" -- RFC 9110 §9.3.2: the file's size
    # is known, so HEAD gets the Content-Length that GET gets (and neither gets a body).
    fields = [(b"content-type", b"application/octet-stream")]
    get = new(writer_cls)
    get.start(start_msg(200, fields, trailers=trailers), "GET", version, keep_alive)
    get_head = get.body(body_msg(b"x" * size)).partition(b"\r\n\r\n")[0]
    head = new(writer_cls)
    head.start(start_msg(200, fields, trailers=trailers), "HEAD", version, keep_alive)
    before, after, write = head.frame_external(size, False)
    assert (after, write) == (b"", False)
    assert (head.complete, head.keep_alive) == (get.complete, get.keep_alive)
    if trailers and version == "1.1":
        # announced trailers make GET's body chunked, as if streamed: no length for HEAD
        # either, and no transfer coding (as for any HEAD, the writer adds none)
        assert b"\r\ntransfer-encoding: chunked" in get_head
        assert b"content-length" not in before and b"transfer-encoding" not in before
    else:
        assert before == get_head + b"\r\n\r\n"
        assert b"content-length: %d\r\n" % size in before
        assert h11_read(before, method="HEAD")["complete"]


@pytest.mark.parametrize(
    ("fields", "more", "status", "expected"),
    [
        pytest.param([], True, 200, b"", id="streamed"),
        pytest.param([(b"content-length", b"5")], False, 200, b"content-length: 5\r\n", id="apps"),
        pytest.param(
            [(b"transfer-encoding", b"chunked")],
            False,
            200,
            b"transfer-encoding: chunked\r\n",
            id="apps_chunked",
        ),
        pytest.param([], False, 204, b"", id="204"),
        pytest.param([], False, 205, b"content-length: 0\r\n", id="205"),
        pytest.param([], False, 304, b"", id="304"),
    ],
)
def test_external_body_answering_head_adds_no_length_it_does_not_know(
    writer_cls: Any, fields: Any, more: bool, status: int, expected: bytes
) -> None:
    # A streamed file's total is unknown here; the app's own framing field passes through
    # (as for any HEAD); 204 and 304 have no such field (RFC 9110 §8.6: 304 only the app's).
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(status, fields), "HEAD", "1.1", True)
    before, after, write = writer.frame_external(9, more)
    assert before.split(b"\r\n", 1)[1] == expected + b"\r\n"
    assert (after, write) == (b"", False)


def test_body_answering_head_adds_no_length(writer_cls: Any) -> None:
    # An app's body to HEAD is usually empty whatever GET's would be: no length from it.
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), "HEAD", "1.1", True)
    assert writer.body(body_msg(b"abc")) == b"HTTP/1.1 200 OK\r\n\r\n"


def test_external_body_on_http10_is_close_delimited_when_streamed(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), "GET", "1.0", True)
    before, after, write = writer.frame_external(4, True)
    assert before == b"HTTP/1.1 200 OK\r\n\r\n" and (after, write) == (b"", True)
    assert not writer.keep_alive


@pytest.mark.parametrize("size", [-1, True, 1.0, "3", None, 2**70], ids=str)
def test_external_size_must_be_a_non_negative_int(writer_cls: Any, size: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200), *GET_11)
    with pytest.raises(ResponseError):
        writer.frame_external(size, False)
    assert writer.started and not writer.complete


def test_external_size_just_below_the_limit_is_framed(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.start(start_msg(200), *GET_11)
    before, after, write = writer.frame_external((1 << 63) - 1, True)
    assert before.endswith(b"\r\n\r\n7fffffffffffffff\r\n") and (after, write) == (b"\r\n", True)


def test_external_body_outside_a_response_is_refused(writer_cls: Any) -> None:
    writer = new(writer_cls)
    with pytest.raises(ResponseError):
        writer.frame_external(1, False)
    writer.start(start_msg(200), *GET_11)
    writer.frame_external(1, False)
    with pytest.raises(ResponseError):
        writer.frame_external(1, False)


# -- reset -------------------------------------------------------------------------------------


def test_reset_drops_a_response_whose_head_was_not_written(writer_cls: Any) -> None:
    writer = new(writer_cls, server_header=None)
    writer.reset()  # idle: nothing to drop
    writer.start(start_msg(200, [(b"connection", b"close")]), *GET_11)
    assert not writer.keep_alive
    writer.reset()
    assert not writer.started and writer.keep_alive
    writer.start(start_msg(500), "GET", "1.1", False)
    assert writer.body(body_msg(b"")).startswith(b"HTTP/1.1 500 ")


def test_reset_after_the_head_was_written_is_refused(writer_cls: Any) -> None:
    writer = new(writer_cls)
    writer.start(start_msg(200), *GET_11)
    writer.body(body_msg(b"a", more=True))
    with pytest.raises(ResponseError):
        writer.reset()
    assert writer.started


# -- the twins agree ---------------------------------------------------------------------------


@pytest.fixture
def py_writer_cls() -> Any:
    return importlib.import_module("sailfish.http.writer").ResponseWriter


def e(size: Any, more: bool) -> tuple[Any, ...]:
    return ("frame_external", size, more)


def h(links: Any, version: str = "1.1") -> tuple[Any, ...]:
    return ("early_hint", hint(links), version)


steps = st.one_of(
    st.builds(
        lambda status, headers, trailers, request: s(
            start_msg(status, headers, trailers=trailers), request
        ),
        st.sampled_from([100, 200, 204, 205, 304, 404]),
        st.lists(
            st.tuples(
                st.sampled_from([b"content-length", b"trailer", b"x-a", b"transfer-encoding"]),
                st.sampled_from([b"0", b"3", b"x-a", b"chunked", b"x-a, te"]),
            ),
            max_size=3,
        ),
        st.booleans(),
        st.tuples(st.sampled_from(["GET", "HEAD"]), st.sampled_from(["1.0", "1.1"]), st.booleans()),
    ),
    st.builds(b, st.binary(max_size=4), st.booleans()),
    st.builds(e, st.integers(-1, 5), st.booleans()),
    st.builds(
        t, st.lists(st.tuples(st.sampled_from([b"x", b"host"]), st.just(b"v"))), st.booleans()
    ),
    st.builds(
        h,
        st.lists(st.sampled_from([LINK, b"bad", b" <x>"]), max_size=2),
        st.sampled_from(["1.0", "1.1"]),
    ),
    st.just(("reset",)),
)


@HYPOTHESIS
@given(sequence=st.lists(steps, min_size=1, max_size=10))
def test_twins_agree_on_extension_sequences(
    writer_cls: Any, py_writer_cls: Any, sequence: list[tuple[Any, ...]]
) -> None:
    kwargs = {"date_header": False}
    assert outcome(writer_cls, kwargs, sequence) == outcome(py_writer_cls, kwargs, sequence)


@HYPOTHESIS
@given(
    parts=st.lists(st.binary(max_size=40), min_size=1, max_size=4),
    headers=st.sampled_from([[], [(b"transfer-encoding", b"chunked")]]),
    request=st.sampled_from([GET_11, ("GET", "1.0", True), ("HEAD", "1.1", True)]),
    trailers=st.booleans(),
)
def test_external_framing_equals_body_framing(
    writer_cls: Any, parts: list[bytes], headers: Any, request: Any, trailers: bool
) -> None:
    # The same content, once through body() and once through frame_external(): same bytes.
    by_body, by_external = new(writer_cls), new(writer_cls)
    by_body.start(start_msg(200, headers, trailers=trailers), *request)
    by_external.start(start_msg(200, headers, trailers=trailers), *request)
    expected = actual = b""
    for i, part in enumerate(parts):
        more = i < len(parts) - 1
        expected += by_body.body(body_msg(part, more))
        before, after, write = by_external.frame_external(len(part), more)
        actual += before + (part if write else b"") + after
    if request[0] == "HEAD" and len(parts) == 1 and not headers and not trailers:
        # the one difference: a file answering HEAD has GET's Content-Length (next tests)
        expected = expected[:-2] + b"content-length: %d\r\n\r\n" % len(parts[0])
    assert actual == expected
    assert by_external.complete == by_body.complete
    assert by_external.keep_alive == by_body.keep_alive
