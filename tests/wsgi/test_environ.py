"""The PEP 3333 environ: both twins of `build_environ`, against the rules and each other.

Strategy: the rules (tests below) are checked on both twins ("py": sailfish.wsgi.environ,
"c": sailfish._http); then every valid request of the corpus is parsed, root_path and proxy
rewrites included, and the twins must give equal environs (same keys, same values, same
types); then Hypothesis builds scopes (any header names and values, paths with percent
escapes and non-ASCII bytes, roots) and the twins must agree on those too.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given, settings, strategies as st

from twins import corpus, load_twin

BASE = {"wsgi.version": (1, 0), "wsgi.run_once": False}
VALID = corpus("valid")


def environ_twin(name: str) -> Any:
    if name == "py":
        return importlib.import_module("sailfish.wsgi.environ").build_environ
    load_twin("c")  # skips, or raises, as the core's twin does
    return importlib.import_module("sailfish._http").build_environ


@pytest.fixture(params=["py", "c"])
def build_environ(request: pytest.FixtureRequest) -> Any:
    return environ_twin(request.param)


def scope(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"example.com")],
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.1", 51000),
    }
    base.update(changes)
    return base


def test_cgi_keys(build_environ: Any) -> None:
    environ = build_environ(
        scope(method="POST", raw_path=b"/a/b", query_string=b"x=1&y=%20", http_version="1.0"),
        BASE,
    )
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/a/b"
    assert environ["QUERY_STRING"] == "x=1&y=%20"  # raw, not decoded
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == "8000"
    assert environ["REMOTE_ADDR"] == "10.0.0.1"
    assert environ["REMOTE_PORT"] == "51000"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_HOST"] == "example.com"
    assert environ["wsgi.version"] == (1, 0)
    assert "CONTENT_TYPE" not in environ and "CONTENT_LENGTH" not in environ


def test_base_is_copied_not_changed(build_environ: Any) -> None:
    base = dict(BASE)
    environ = build_environ(scope(), base)
    assert base == BASE
    assert environ is not base


@pytest.mark.parametrize(
    ("raw_path", "path_info"),
    [
        pytest.param(b"/caf%C3%A9", "/caf\xc3\xa9", id="utf8_bytes_as_latin1"),
        pytest.param(b"/%FF%00", "/\xff\x00", id="any_byte_kept"),
        pytest.param(b"/a%2Fb", "/a/b", id="encoded_slash_decoded"),
        pytest.param(b"/100%", "/100%", id="lone_percent_kept"),
        pytest.param(b"/%zz", "/%zz", id="bad_escape_kept"),
    ],
)
def test_path_info_is_latin1_of_decoded_bytes(
    build_environ: Any, raw_path: bytes, path_info: str
) -> None:
    environ = build_environ(scope(raw_path=raw_path), BASE)
    assert environ["PATH_INFO"] == path_info
    assert environ["PATH_INFO"].encode("latin-1") == unquote_to_bytes(raw_path)


@pytest.mark.parametrize(
    ("root", "raw_path", "script", "path_info"),
    [
        pytest.param("/app", b"/app/x", "/app", "/x", id="below_root"),
        pytest.param("/app", b"/app", "/app", "", id="root_itself"),
        pytest.param("/app", b"/apple", "/app", "/apple", id="not_a_segment_boundary"),
        pytest.param("/app", b"/x", "/app", "/x", id="raw_path_without_root"),
        pytest.param("/caf\xe9", "/café/x".encode(), "/caf\xc3\xa9", "/x", id="non_ascii_root"),
        # Another server's root_path may end with "/": SCRIPT_NAME + PATH_INFO stays the path.
        pytest.param("/app/", b"/app/x", "/app", "/x", id="root_with_trailing_slash"),
        pytest.param("/app/", b"/app", "/app", "", id="root_with_trailing_slash_itself"),
        pytest.param("/", b"/x", "", "/x", id="root_slash_is_empty_script_name"),
    ],
)
def test_split_at_root_path(
    build_environ: Any, root: str, raw_path: bytes, script: str, path_info: str
) -> None:
    environ = build_environ(scope(root_path=root, raw_path=raw_path), BASE)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (script, path_info)


def test_without_raw_path_the_path_is_used(build_environ: Any) -> None:
    environ = build_environ(scope(raw_path=None, root_path="/r", path="/r/é"), BASE)
    assert environ["SCRIPT_NAME"] == "/r"
    assert environ["PATH_INFO"] == "/é".encode().decode("latin-1")


def test_headers(build_environ: Any) -> None:
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", b"5"),
        (b"x-multi", b"a"),
        (b"accept", b"*/*"),
        (b"x-multi", b"b"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"x_forwarded_for", b"1.2.3.4"),
        (b"x-latin", b"caf\xe9"),
    ]
    environ = build_environ(scope(headers=headers), BASE)
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["HTTP_X_MULTI"] == "a, b"
    assert environ["HTTP_ACCEPT"] == "*/*"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_X_LATIN"] == "caf\xe9"
    # A name with "_" would pass for X-Forwarded-For: dropped, however it is spelled.
    assert "HTTP_X_FORWARDED_FOR" not in environ
    assert not any("x_forwarded" in key.lower() for key in environ)


def test_underscore_name_does_not_overwrite_the_dash_one(build_environ: Any) -> None:
    headers = [(b"x-user", b"alice"), (b"x_user", b"admin")]
    environ = build_environ(scope(headers=headers), BASE)
    assert environ["HTTP_X_USER"] == "alice"


def test_unknown_server_and_client(build_environ: Any) -> None:
    environ = build_environ(scope(server=None, client=None, scheme="https", headers=[]), BASE)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("localhost", "443")
    assert "REMOTE_ADDR" not in environ and "REMOTE_PORT" not in environ
    assert environ["wsgi.url_scheme"] == "https"


@pytest.mark.parametrize(
    ("server", "host", "scheme", "expected"),
    [
        pytest.param(None, b"shop.example:8080", "http", ("shop.example", "8080"), id="no_server"),
        pytest.param(("/s.sock", None), b"a.example", "http", ("a.example", "80"), id="unix"),
        pytest.param(("/s.sock", None), b"a.example", "https", ("a.example", "443"), id="tls"),
        pytest.param(None, b"[::1]:8443", "https", ("[::1]", "8443"), id="ipv6_literal"),
        pytest.param(None, b"[::1]", "http", ("[::1]", "80"), id="ipv6_no_port"),
        pytest.param(("10.0.0.5", 8000), b"shop.example:9", "http", ("10.0.0.5", "8000"), id="tcp"),
        pytest.param(("::1", 8000), b"shop.example", "http", ("[::1]", "8000"), id="tcp_ipv6"),
    ],
)
def test_server_name_and_port(
    build_environ: Any, server: Any, host: bytes, scheme: str, expected: tuple[str, str]
) -> None:
    # From the socket when it has a port; on a unix socket (none) from Host, as gunicorn does.
    environ = build_environ(scope(server=server, scheme=scheme, headers=[(b"host", host)]), BASE)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == expected


def test_every_value_is_a_native_string(build_environ: Any) -> None:
    environ = build_environ(scope(headers=[(b"x-a", b"\xff")], raw_path=b"/%ff"), BASE)
    for key, value in environ.items():
        if key.startswith("wsgi."):
            continue
        assert type(value) is str, key


# -- the twins agree -------------------------------------------------------------------------


def parsed_scopes(raw: bytes, root_path: str) -> list[dict[str, Any]]:
    parser = load_twin("py").RequestParser(
        client=("10.0.0.2", 4321), server=("127.0.0.1", 80), root_path=root_path
    )
    return [event.scope for event in parser.feed(raw) if hasattr(event, "scope")]


@pytest.mark.parametrize("root_path", ["", "/mount"])
@pytest.mark.parametrize("raw", VALID)
def test_twins_agree_on_the_corpus(raw: bytes, root_path: str) -> None:
    py, c = environ_twin("py"), environ_twin("c")
    scopes = parsed_scopes(raw, root_path)
    assert scopes
    for parsed in scopes:
        expected = py(parsed, BASE)
        assert c(parsed, BASE) == expected
        assert {k: type(v) for k, v in c(parsed, BASE).items()} == {
            k: type(v) for k, v in expected.items()
        }
        raw_path, prefix = parsed["raw_path"], root_path.encode()
        if prefix and raw_path[len(prefix) : len(prefix) + 1] in (b"", b"/"):
            raw_path = raw_path[len(prefix) :]  # (CONNECT's "/mounthost:443" keeps it all)
        assert expected["PATH_INFO"].encode("latin-1") == unquote_to_bytes(raw_path)


NAMES = st.binary(min_size=1, max_size=12).map(lambda b: b.lower())
HEADERS = st.lists(st.tuples(NAMES, st.binary(max_size=20)), max_size=8)
PATHS = st.lists(
    st.sampled_from([b"/", b"a", b"%", b"%2", b"%2F", b"%ff", b"%C3%A9", b"_", b"\xe9"]),
    max_size=10,
).map(lambda parts: b"/" + b"".join(parts))


@settings(max_examples=300, deadline=None)
@given(
    headers=HEADERS,
    raw_path=st.one_of(st.none(), PATHS),
    root=st.sampled_from(["", "/", "/a", "/a/", "/a/b", "/é"]),
    query=st.binary(max_size=10),
    client=st.one_of(st.none(), st.tuples(st.just("::1"), st.integers(0, 65535))),
    server=st.sampled_from([("127.0.0.1", 80), ("::1", 443), None, ("/s.sock", None)]),
    host=st.one_of(st.none(), st.binary(max_size=12), st.sampled_from([b"[::1]:80", b"[", b":"])),
)
def test_twins_agree_on_generated_scopes(
    headers: list[tuple[bytes, bytes]],
    raw_path: bytes | None,
    root: str,
    query: bytes,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    host: bytes | None,
) -> None:
    py, c = environ_twin("py"), environ_twin("c")
    path = "/" if raw_path is None else raw_path.decode("latin-1")
    made = scope(
        headers=headers,
        raw_path=None if raw_path is None else root.encode() + raw_path,
        root_path=root,
        path=root + path,
        query_string=query,
        client=client,
        server=server,
    )
    if host is not None:
        made["headers"] = [(b"host", host), *headers]
    assert c(made, BASE) == py(made, BASE)
