"""The two twins must agree: same bytes, same outcome, however the bytes are split.

Strategy: `outcome()` turns what a parser returns into a plain comparable value: a Request
becomes a tuple of its attributes (the scope frozen with the type of every leaf, so bytes and
bytearray differ), the body messages of one request are merged into one ("body", bytes) entry
with ("end",) where `more_body` went False (as h11's normalize_data_events merges Data
events), and an error becomes ("error", class name, status); never message text. Inputs are
the corpus (whole, byte by byte, in awkward steps, and cut in two at every offset), then
Hypothesis: valid requests and pipelines built from the grammar, and mutations of them.

Any input must give events or an HTTPError; a twin that raises anything is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sailfish.errors import HTTPError
from twins import corpus, load_twin

BODY_KEYS = {"type", "body", "more_body"}
STEPS = [1, 2, 3, 7, 64, 1 << 20]
CORPUS = corpus("valid") + corpus("invalid") + corpus("regressions")


def freeze(value: Any) -> Any:
    """A hashable, comparable copy of `value` that keeps the type of every part."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze(v) for v in value))
    return (type(value).__name__, value)


def normalise(events: Iterable[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, HTTPError):
            out.append(("error", type(event).__name__, event.status))
        elif type(event) is dict and set(event) == BODY_KEYS and event["type"] == "http.request":
            body, more = event["body"], event["more_body"]
            if type(body) is not bytes or type(more) is not bool:
                out.append(("bad body message", freeze(event)))
                continue
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + body)
            else:
                out.append(("body", body))
            if not more:
                out.append(("end",))
        elif hasattr(event, "scope") and not isinstance(event, dict):
            out.append(
                (
                    "request",
                    freeze(event.scope),
                    freeze(event.keep_alive),
                    freeze(event.expect_continue),
                    freeze(event.upgrade),
                    freeze(event.has_body),
                    freeze(event.forwarded),
                )
            )
        else:
            out.append(("unexpected event", repr(event)))
    return out


def events_at(parser_cls: Any, raw: bytes, splits: Iterable[int], **kwargs: Any) -> list[Any]:
    """Feed `raw` cut at `splits`; then feed(b"") until nothing more (a declined upgrade)."""
    parser = parser_cls(**kwargs)
    events: list[Any] = []
    start = 0
    for cut in [*sorted(splits), len(raw)]:
        events.extend(parser.feed(raw[start:cut]))
        start = max(start, cut)
    for _ in range(100):
        more = parser.feed(b"")
        if not more:
            break
        events.extend(more)
    return events


def outcome_at(parser_cls: Any, raw: bytes, splits: Iterable[int], **kwargs: Any) -> list[Any]:
    """The normalised events of `raw` cut at `splits`."""
    result = normalise(events_at(parser_cls, raw, splits, **kwargs))
    errors_at = [i for i, e in enumerate(result) if e[0] == "error"]
    assert errors_at in ([], [len(result) - 1]), f"an error that is not the last event: {result}"
    assert not any(e[0] in ("unexpected event", "bad body message") for e in result), result
    return result


def outcome(parser_cls: Any, raw: bytes, step: int, **kwargs: Any) -> list[Any]:
    """Feed `raw` in pieces of `step` bytes."""
    return outcome_at(parser_cls, raw, range(step, len(raw), step), **kwargs)


@pytest.fixture(scope="module")
def py() -> Any:
    return load_twin("py").RequestParser


@pytest.fixture(scope="module")
def c() -> Any:
    return load_twin("c").RequestParser


# -- the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [pytest.param(s, id=f"step_{s}") for s in STEPS])
@pytest.mark.parametrize("raw", CORPUS)
def test_twins_agree_on_the_corpus(py: Any, c: Any, raw: bytes, step: int) -> None:
    assert outcome(c, raw, step) == outcome(py, raw, step)


H = b"Host: a\r\n"
CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

# Inputs on which docs/core.md is silent or terse: the twins must at least agree.
EDGE = [
    pytest.param(b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", id="tab_between_method_and_target"),
    pytest.param(CHUNKED + b"5  ;a\r\nhello\r\n0\r\n\r\n", id="two_spaces_before_chunk_ext"),
    pytest.param(CHUNKED + b"5\t ;a\r\nhello\r\n0\r\n\r\n", id="tab_and_space_before_chunk_ext"),
    pytest.param(CHUNKED + b"5;\r\nhello\r\n0\r\n\r\n", id="chunk_ext_without_a_name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", id="host_with_only_a_port"),
    pytest.param(b"CONNECT :443 HTTP/1.1\r\n" + H + b"\r\n", id="connect_with_empty_host"),
    pytest.param(b"CONNECT a:443 HTTP/1.1\r\n" + H + b"\r\n", id="connect_authority_form"),
    pytest.param(b"OPTIONS *?x HTTP/1.1\r\n" + H + b"\r\n", id="asterisk_with_query"),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + H + b"Connection: upgrade\r\nUpgrade:\r\n\r\nXYZ",
        id="upgrade_with_empty_value",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Expect: foo\r\nExpect: 100-continue\r\n"
        b"Content-Length: 1\r\n\r\nx",
        id="expect_on_two_lines",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Expect: 100-continue, foo\r\nContent-Length: 1\r\n\r\nx",
        id="expect_with_two_values",
    ),
    pytest.param(CHUNKED + b"0\r\nContent-Length: 5\r\n\r\n", id="content_length_in_trailers"),
    pytest.param(CHUNKED + b"0\r\n X: y\r\n\r\n", id="trailer_starting_with_space"),
    pytest.param(b"\r\x00GET / HTTP/1.1\r\n" + H + b"\r\n", id="leading_cr_then_garbage"),
    pytest.param(b"\r\r\nGET / HTTP/1.1\r\n" + H + b"\r\n", id="leading_bare_cr_line"),
    pytest.param(b"\r\n" * 5000 + b"GET / HTTP/1.1\r\n" + H + b"\r\n", id="many_leading_crlfs"),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: 1.2.3.4:99999999999999999999\r\n\r\n", id="host_port_out_of_range"
    ),
]


@pytest.mark.parametrize("step", [pytest.param(s, id=f"step_{s}") for s in (1, 5, 1 << 20)])
@pytest.mark.parametrize("raw", EDGE)
def test_twins_agree_where_the_contract_is_silent(py: Any, c: Any, raw: bytes, step: int) -> None:
    assert outcome(c, raw, step) == outcome(py, raw, step)


def split_points(raw: bytes) -> list[int]:
    """Every offset, or for a long input the first and last 300 and 200 spread in between."""
    if len(raw) <= 2000:
        return list(range(len(raw) + 1))
    return sorted(
        {*range(300), *range(len(raw) - 300, len(raw) + 1), *range(0, len(raw), len(raw) // 200)}
    )


@pytest.mark.parametrize("name", ["py", "c"])
@pytest.mark.parametrize("raw", CORPUS)
def test_cut_in_two_anywhere_equals_fed_whole(raw: bytes, name: str) -> None:
    parser_cls = load_twin(name).RequestParser
    whole = outcome_at(parser_cls, raw, [])
    for cut in split_points(raw):
        assert outcome_at(parser_cls, raw, [cut]) == whole, f"cut at {cut}"


def test_whole_and_byte_by_byte_agree_for_every_corpus_file_per_twin(py: Any, c: Any) -> None:
    for param in CORPUS:
        raw = param.values[0]
        for parser_cls in (py, c):
            assert outcome(parser_cls, raw, 1) == outcome(parser_cls, raw, 1 << 20), param.id


# -- Hypothesis: valid requests ----------------------------------------------------------------

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PCHAR = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@"
VALUE_BYTES = bytes([9, 32, *range(0x21, 0x7F), 0x80, 0xC3, 0xA9, 0xFF])
HOSTS = [b"example.com", b"localhost:8000", b"[::1]:443", b"127.0.0.1", b"", b"xn--bcher-kva.ch"]
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS", b"M-SEARCH", b"get"]
RESERVED = {b"host", b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"expect"}
PROXY_NAMES = {b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
PROXY_FIELDS = [
    None,
    b"Forwarded",
    b"X-Forwarded-For",
    b"x-forwarded-PROTO",
    b"X-Forwarded-Host",
    b"X-Forwarded-Port",
]


def bytes_from(alphabet: bytes, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map(bytes)


percent = st.tuples(
    st.sampled_from(b"0123456789abcdefABCDEFgG%"), st.sampled_from(b"0123456789abcdefABCDEF")
).map(lambda t: b"%" + bytes(t))
segment = st.lists(st.one_of(bytes_from(PCHAR, 1, 6), percent), max_size=4).map(b"".join)
path_ = st.lists(segment, min_size=1, max_size=4).map(lambda s: b"/" + b"/".join(s))
query_ = st.one_of(st.just(b""), bytes_from(PCHAR + b"/?", 0, 16).map(lambda q: b"?" + q))
field_name = bytes_from(TCHAR, 1, 10).filter(lambda n: n.lower() not in RESERVED)
field_value = st.tuples(
    st.sampled_from([b"", b" ", b"\t", b"  "]),
    bytes_from(VALUE_BYTES, 0, 20),
    st.sampled_from([b"", b" ", b"\t"]),
).map(b"".join)
chunk_ext = st.one_of(
    st.just(b""),
    st.tuples(
        st.sampled_from([b"", b" ", b"\t"]),
        st.lists(bytes_from(TCHAR, 1, 5).map(lambda e: b";" + e), min_size=1, max_size=3).map(
            b"".join
        ),
    ).map(b"".join),
)


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> bytes:
    out = b""
    rest = body
    while rest:
        n = draw(st.integers(1, len(rest)))
        size = draw(st.sampled_from([b"%x", b"%X", b"%03x"])) % n
        out += size + draw(chunk_ext) + b"\r\n" + rest[:n] + b"\r\n"
        rest = rest[n:]
    out += draw(st.sampled_from([b"0", b"000"])) + draw(chunk_ext) + b"\r\n"
    for _ in range(draw(st.integers(0, 2))):
        out += draw(field_name) + b":" + draw(field_value) + b"\r\n"
    return out + b"\r\n"


@st.composite
def valid_request(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """One valid request, and what the parser must make of it (built from the same draws)."""
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.3"]))
    http11 = version != b"HTTP/1.0"
    method = draw(st.sampled_from([*METHODS, b"CONNECT"]))
    query = b""
    host_in_scope: bytes | None = None
    if method == b"CONNECT":
        target = raw_path = draw(st.sampled_from([b"example.com:443", b"[::1]:8443", b"a:1"]))
        path = target.decode()
    elif method == b"OPTIONS" and draw(st.booleans()):
        target = raw_path = b"*"
        path = "*"
    else:
        raw_path = draw(st.one_of(st.just(b""), path_))
        query = draw(query_)
        if raw_path and draw(st.booleans()):
            target = raw_path + query
        else:
            scheme = draw(st.sampled_from([b"http://", b"https://", b"HTTP://", b"hTtPs://"]))
            authority = draw(st.sampled_from([b"example.com", b"a.b:8080", b"[::1]"]))
            target = scheme + authority + raw_path + query
            # RFC 9112 §3.2.2: the scope's Host is the target's authority
            host_in_scope = authority
            raw_path = raw_path or b"/"
        path = unquote(raw_path.decode("ascii"), errors="replace")
    fields = [(draw(field_name), draw(field_value)) for _ in range(draw(st.integers(0, 4)))]
    if http11 or draw(st.booleans()):
        fields.append((b"Host", draw(st.sampled_from(HOSTS))))
    proxy = draw(st.sampled_from(PROXY_FIELDS))
    if proxy is not None:
        fields.append((proxy, draw(field_value)))
    connection = draw(
        st.sampled_from(
            [None, b"close", b"keep-alive", b" Keep-Alive, foo", b"upgrade", b"close, Upgrade"]
        )
    )
    if connection is not None:
        fields.append((b"Connection", connection))
    # CONNECT never pauses; whether its `upgrade` is then None is left open by the contract.
    upgrade = None if method == b"CONNECT" else draw(st.sampled_from([None, b"websocket", b"h2c"]))
    if upgrade is not None:
        fields.append((b"Upgrade", b" " + upgrade))
    expect = draw(st.booleans())
    if expect:
        fields.append((b"Expect", draw(st.sampled_from([b"100-continue", b"100-Continue"]))))
    body = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["none", "length", "chunked"] if http11 else ["none", "length"]))
    if framing == "none":
        body = b""
    elif framing == "length":
        fields.append((b"Content-Length", b"%d" % len(body)))
        if draw(st.booleans()):
            fields.append((b"content-length", b"%03d" % len(body)))
    else:
        fields.append((b"Transfer-Encoding", draw(st.sampled_from([b"chunked", b"Chunked"]))))
    fields = draw(st.permutations(fields))
    raw = method + b" " + target + b" " + version + b"\r\n"
    raw += b"".join(name + b":" + value + b"\r\n" for name, value in fields)
    raw += b"\r\n"
    raw += draw(chunked_body(body)) if framing == "chunked" else body
    tokens = [t.strip().lower() for t in (connection or b"").split(b",")]
    has_body = framing == "chunked" or len(body) > 0
    expected = {
        "method": method.decode(),
        "path": path,
        "raw_path": raw_path,
        "query_string": query[1:],
        "headers": [
            (n.lower(), host_in_scope if host_in_scope and n == b"Host" else v.strip(b" \t"))
            for n, v in fields
        ],
        "http_version": "1.1" if http11 else "1.0",
        "keep_alive": b"close" not in tokens and (http11 or b"keep-alive" in tokens),
        "expect_continue": http11 and has_body and expect,
        "upgrade": upgrade if http11 and b"upgrade" in tokens else None,
        "has_body": has_body,
        "forwarded": any(n.lower() in PROXY_NAMES for n, _ in fields),
        "body": body,
    }
    return raw, expected


@st.composite
def pipeline(draw: st.DrawFn) -> tuple[bytes, list[dict[str, Any]]]:
    """1 to 3 valid requests back to back, and the requests the parser must deliver."""
    raw = b""
    expected: list[dict[str, Any]] = []
    open_ = True
    for _ in range(draw(st.integers(1, 3))):
        raw += draw(st.sampled_from([b"", b"", b"\r\n"]))
        request, summary = draw(valid_request())
        raw += request
        if open_:
            expected.append(summary)
            open_ = summary["keep_alive"]
    return raw, expected


def summarise(events: list[Any]) -> list[dict[str, Any]]:
    """Requests (and their merged bodies) in the shape of valid_request's expectation."""
    out: list[dict[str, Any]] = []
    for event in events:
        assert not isinstance(event, HTTPError), event
        if isinstance(event, dict):
            out[-1]["body"] += event["body"]
            continue
        scope = event.scope
        out.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": scope["raw_path"],
                "query_string": scope["query_string"],
                "headers": scope["headers"],
                "http_version": scope["http_version"],
                "keep_alive": event.keep_alive,
                "expect_continue": event.expect_continue,
                "upgrade": event.upgrade,
                "has_body": event.has_body,
                "forwarded": event.forwarded,
                "body": b"",
            }
        )
    return out


def cuts(raw_len: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, raw_len), max_size=6)


HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@HYPOTHESIS
@given(data=st.data(), case=pipeline())
def test_valid_pipelines_parse_alike_in_both_twins(
    py: Any, c: Any, data: st.DataObject, case: tuple[bytes, list[dict[str, Any]]]
) -> None:
    raw, requests = case
    splits = data.draw(cuts(len(raw)), label="splits")
    assert summarise(events_at(py, raw, [])) == requests
    assert summarise(events_at(c, raw, [])) == requests
    expected = outcome_at(py, raw, [])
    assert outcome_at(py, raw, splits) == expected
    assert outcome_at(c, raw, splits) == expected


# -- Hypothesis: mutations ---------------------------------------------------------------------

INTERESTING = [
    b"\r",
    b"\n",
    b"\r\n",
    b" ",
    b"\t",
    b":",
    b"\x00",
    b"\x7f",
    b"\x80",
    b"0",
    b"9",
    b"a",
    b"f",
    b"g",
    b";",
    b",",
    b"=",
    b"/",
    b"?",
    b"%",
    b"*",
    b"-",
    b"+",
    b"\xff",
]
INJECTIONS = [
    b"Content-Length: 3\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Host: x\r\n",
    b"Host: a b\r\n",
    b"Connection: close\r\n",
    b"Connection: upgrade\r\nUpgrade: x\r\n",
    b" folded\r\n",
    b"\r\n",
    b"X:\x00\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"GET / HTTP/1.1\r\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(pipeline())[0])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "inject", "truncate"]))
        # Half the time next to a CR, LF, SP or colon, where the grammar is most delicate.
        marks = [i for i, byte in enumerate(raw) if byte in b"\r\n :"]
        if marks and draw(st.booleans()):
            at = max(0, min(len(raw), draw(st.sampled_from(marks)) + draw(st.integers(-1, 1))))
        else:
            at = draw(st.integers(0, len(raw)))
        if op == "insert":
            raw[at:at] = draw(st.sampled_from(INTERESTING))
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 3))]
        elif op == "replace" and at < len(raw):
            raw[at : at + 1] = draw(st.sampled_from(INTERESTING))
        elif op == "inject":
            # After a line end, so the injection is a line of its own.
            ends = [i + 2 for i in range(len(raw) - 1) if raw[i : i + 2] == b"\r\n"]
            if ends:
                where = draw(st.sampled_from(ends))
                raw[where:where] = draw(st.sampled_from(INJECTIONS))
        elif op == "truncate":
            del raw[at:]
    return bytes(raw)


limits = st.fixed_dictionaries(
    {},
    optional={
        "max_request_line": st.integers(0, 80),
        "max_header_size": st.integers(0, 300),
        "max_headers": st.integers(0, 8),
        "max_body_size": st.one_of(st.none(), st.integers(0, 60)),
        "max_chunk_ext_size": st.integers(0, 20),
        "max_trailer_size": st.integers(0, 60),
    },
)


@HYPOTHESIS
@given(data=st.data(), raw=mutated())
def test_mutated_requests_give_the_same_outcome_in_both_twins(
    py: Any, c: Any, data: st.DataObject, raw: bytes
) -> None:
    splits = data.draw(cuts(len(raw)), label="splits")
    expected = outcome_at(py, raw, [])
    assert outcome_at(py, raw, splits) == expected
    assert outcome_at(c, raw, splits) == expected


@HYPOTHESIS
@given(data=st.data(), raw=st.one_of(mutated(), pipeline().map(lambda p: p[0])), kwargs=limits)
def test_small_limits_give_the_same_outcome_in_both_twins(
    py: Any, c: Any, data: st.DataObject, raw: bytes, kwargs: dict[str, Any]
) -> None:
    splits = data.draw(cuts(len(raw)), label="splits")
    expected = outcome_at(py, raw, [], **kwargs)
    assert outcome_at(py, raw, splits, **kwargs) == expected
    assert outcome_at(c, raw, splits, **kwargs) == expected


@HYPOTHESIS
@given(raw=st.binary(max_size=200), data=st.data())
def test_random_bytes_never_raise(py: Any, c: Any, raw: bytes, data: st.DataObject) -> None:
    splits = data.draw(cuts(len(raw)), label="splits")
    assert outcome_at(c, raw, splits) == outcome_at(py, raw, splits)
