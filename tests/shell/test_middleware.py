"""ProxyHeadersMiddleware (trust, X-Forwarded-*, RFC 7239 Forwarded) and ASGI2Middleware."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sailfish.middleware import (
    ASGI2Middleware,
    ProxyHeadersMiddleware,
    TrustedHosts,
    parse_forwarded,
)


async def capture_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "scope", "scope": scope})


def run(
    trusted: str | list[str],
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None = ("127.0.0.1", 5000),
    scope_type: str = "http",
    scheme: str = "http",
) -> dict[str, Any]:
    middleware = ProxyHeadersMiddleware(capture_app, trusted_hosts=trusted)
    scope: dict[str, Any] = {
        "type": scope_type,
        "scheme": scheme,
        "client": client,
        "server": ("10.0.0.2", 8000),
        "headers": list(headers),
    }
    seen: list[Any] = []

    async def receive() -> Any:
        return {}

    async def send(message: Any) -> None:
        seen.append(message["scope"])

    asyncio.run(middleware(scope, receive, send))
    return seen[0]


XFF = b"x-forwarded-for"
XFP = b"x-forwarded-proto"
XFH = b"x-forwarded-host"
XFPORT = b"x-forwarded-port"


# -- trust --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "host", "expected"),
    [
        pytest.param("*", "203.0.113.9", True, id="star_trusts_everyone"),
        pytest.param("127.0.0.1", "127.0.0.1", True, id="exact_ipv4"),
        pytest.param("127.0.0.1", "127.0.0.2", False, id="other_ipv4"),
        pytest.param("10.0.0.0/8", "10.20.30.40", True, id="ipv4_network"),
        pytest.param("10.0.0.0/8", "11.0.0.1", False, id="outside_ipv4_network"),
        pytest.param("::1", "::1", True, id="ipv6_loopback"),
        pytest.param("2001:db8::/32", "2001:db8:1::7", True, id="ipv6_network"),
        pytest.param("2001:db8::/32", "2001:db9::1", False, id="outside_ipv6_network"),
        pytest.param("127.0.0.1", "::ffff:127.0.0.1", True, id="ipv4_mapped_ipv6"),
        pytest.param("10.0.0.0/8", "::ffff:10.1.1.1", True, id="ipv4_mapped_in_network"),
        pytest.param("proxy.internal", "proxy.internal", True, id="literal_name"),
        pytest.param("127.0.0.1", None, False, id="unix_peer_not_listed"),
        pytest.param("unix:", None, True, id="unix_peer_listed"),
        pytest.param("unix:", "", True, id="unix_peer_empty_host"),
        pytest.param("127.0.0.1", "not-an-ip", False, id="unknown_literal"),
        pytest.param(" 127.0.0.1 , ,10.0.0.1", "10.0.0.1", True, id="spaces_and_empties"),
        pytest.param(["10.0.0.1", "10.0.0.2"], "10.0.0.2", True, id="list_form"),
        pytest.param("10.0.0.1/99", "10.0.0.1/99", True, id="bad_network_is_literal"),
    ],
)
def test_trusted_hosts(trusted: str | list[str], host: str | None, expected: bool) -> None:
    assert (host in TrustedHosts(trusted)) is expected


def test_non_string_host_is_not_trusted() -> None:
    assert 5 not in TrustedHosts("127.0.0.1")


# -- X-Forwarded-For / X-Forwarded-Proto ----------------------------------------------------


def test_untrusted_peer_headers_are_ignored() -> None:
    scope = run("10.0.0.1", [(XFF, b"1.2.3.4"), (XFP, b"https")])
    assert scope["client"] == ("127.0.0.1", 5000)
    assert scope["scheme"] == "http"


def test_trusted_peer_sets_client_and_scheme() -> None:
    scope = run("127.0.0.1", [(XFF, b"1.2.3.4"), (XFP, b"https")])
    assert scope["client"] == ("1.2.3.4", 0)
    assert scope["scheme"] == "https"


def test_client_is_right_most_untrusted_address() -> None:
    # 6.6.6.6 is what the client claimed; 1.2.3.4 is who connected to our trusted proxy.
    scope = run("127.0.0.1, 10.0.0.0/8", [(XFF, b"6.6.6.6, 1.2.3.4, 10.0.0.5")])
    assert scope["client"] == ("1.2.3.4", 0)


def test_all_trusted_chain_gives_left_most() -> None:
    scope = run("*", [(XFF, b"10.0.0.1, 10.0.0.2")])
    assert scope["client"] == ("10.0.0.1", 0)


def test_repeated_header_lines_are_joined() -> None:
    scope = run("127.0.0.1", [(XFF, b"6.6.6.6"), (XFF, b"1.2.3.4")])
    assert scope["client"] == ("1.2.3.4", 0)


def test_ipv6_in_x_forwarded_for() -> None:
    scope = run("127.0.0.1", [(XFF, b"2001:db8::1")])
    assert scope["client"] == ("2001:db8::1", 0)
    scope = run("127.0.0.1", [(XFF, b"[2001:db8::1]:4711")])
    assert scope["client"] == ("2001:db8::1", 4711)


def test_address_with_port_in_x_forwarded_for() -> None:
    scope = run("127.0.0.1", [(XFF, b"1.2.3.4:8080")])
    assert scope["client"] == ("1.2.3.4", 8080)


def test_proto_list_follows_the_chosen_hop() -> None:
    scope = run("127.0.0.1, 10.0.0.0/8", [(XFF, b"1.2.3.4, 10.0.0.5"), (XFP, b"https, http")])
    assert scope["scheme"] == "https"
    scope = run("127.0.0.1", [(XFF, b"1.2.3.4"), (XFP, b"http, https")])
    assert scope["scheme"] == "https"  # lengths differ: the nearest proxy's value


def test_proto_alone_sets_scheme() -> None:
    assert run("127.0.0.1", [(XFP, b"HTTPS")])["scheme"] == "https"


def test_unknown_proto_is_ignored() -> None:
    assert run("127.0.0.1", [(XFP, b"gopher")])["scheme"] == "http"


def test_websocket_scheme_mapping() -> None:
    assert (
        run("127.0.0.1", [(XFP, b"https")], scope_type="websocket", scheme="ws")["scheme"] == "wss"
    )
    assert run("127.0.0.1", [(XFP, b"wss")], scheme="http")["scheme"] == "https"


def test_unix_socket_peer_trusted_when_listed() -> None:
    assert run("unix:", [(XFF, b"1.2.3.4")], client=None)["client"] == ("1.2.3.4", 0)
    assert run("127.0.0.1", [(XFF, b"1.2.3.4")], client=None)["client"] is None


def test_lifespan_scope_passes_through() -> None:
    scope = run("*", [], scope_type="lifespan")
    assert scope == {
        "type": "lifespan",
        "scheme": "http",
        "client": ("127.0.0.1", 5000),
        "server": ("10.0.0.2", 8000),
        "headers": [],
    }


# -- Forwarded (RFC 7239) -----------------------------------------------------------------


def test_parse_forwarded_examples_from_rfc() -> None:
    assert parse_forwarded('for="_gazonk"') == [{"for": "_gazonk"}]
    assert parse_forwarded('For="[2001:db8:cafe::17]:4711"') == [
        {"for": "[2001:db8:cafe::17]:4711"}
    ]
    assert parse_forwarded("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}
    ]
    assert parse_forwarded("for=192.0.2.43, for=198.51.100.17") == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17"},
    ]


def test_parse_forwarded_quoted_separators_and_junk() -> None:
    assert parse_forwarded('for="a,b;c";proto=https, junk, ;=x') == [
        {"for": "a,b;c", "proto": "https"}
    ]
    assert parse_forwarded(r'for="a\"b"') == [{"for": 'a"b'}]


def test_forwarded_sets_client_and_scheme() -> None:
    scope = run("127.0.0.1", [(b"forwarded", b"for=192.0.2.60;proto=https;by=203.0.113.43")])
    assert scope["client"] == ("192.0.2.60", 0)
    assert scope["scheme"] == "https"


def test_forwarded_ipv6_with_port() -> None:
    scope = run("127.0.0.1", [(b"forwarded", b'for="[2001:db8:cafe::17]:4711"')])
    assert scope["client"] == ("2001:db8:cafe::17", 4711)


def test_forwarded_right_most_untrusted_hop_gives_client_and_proto() -> None:
    value = b"for=6.6.6.6;proto=http, for=192.0.2.43;proto=https, for=10.1.1.1;proto=http"
    scope = run("127.0.0.1, 10.0.0.0/8", [(b"forwarded", value)])
    assert scope["client"] == ("192.0.2.43", 0)
    assert scope["scheme"] == "https"


def test_forwarded_wins_over_x_forwarded() -> None:
    scope = run(
        "127.0.0.1",
        [(XFF, b"1.1.1.1"), (XFP, b"http"), (b"forwarded", b"for=2.2.2.2;proto=https")],
    )
    assert scope["client"] == ("2.2.2.2", 0)
    assert scope["scheme"] == "https"


def test_forwarded_obfuscated_identifier() -> None:
    assert run("127.0.0.1", [(b"forwarded", b"for=_hidden")])["client"] == ("_hidden", 0)


def test_forwarded_proto_without_for() -> None:
    scope = run("127.0.0.1", [(b"forwarded", b"proto=https")])
    assert scope["client"] == ("127.0.0.1", 5000)
    assert scope["scheme"] == "https"


def test_forwarded_from_untrusted_peer_is_ignored() -> None:
    scope = run("10.0.0.1", [(b"forwarded", b"for=2.2.2.2;proto=https")])
    assert scope["client"] == ("127.0.0.1", 5000)
    assert scope["scheme"] == "http"


# -- X-Forwarded-Host / X-Forwarded-Port / Forwarded: host= -----------------------------------


def _host(scope: dict[str, Any]) -> list[bytes]:
    return [value for name, value in scope["headers"] if name == b"host"]


def test_x_forwarded_host_replaces_host_and_server() -> None:
    scope = run("127.0.0.1", [(b"host", b"app:8000"), (XFF, b"1.2.3.4"), (XFH, b"example.org")])
    assert _host(scope) == [b"example.org"]
    assert scope["server"] == ("example.org", 80)
    assert scope["headers"][0] == (b"host", b"example.org")  # in place, order kept


def test_x_forwarded_port_and_proto() -> None:
    headers = [(b"host", b"app"), (XFH, b"example.org"), (XFPORT, b"8443"), (XFP, b"https")]
    scope = run("127.0.0.1", headers)
    assert _host(scope) == [b"example.org:8443"]
    assert scope["server"] == ("example.org", 8443) and scope["scheme"] == "https"


def test_x_forwarded_port_without_a_host_sets_the_port_of_the_requests_own_host() -> None:
    # nginx with `Host $host` (no port) and `X-Forwarded-Port $server_port` on port 8443.
    headers = [(b"host", b"example.org"), (XFP, b"https"), (XFPORT, b"8443")]
    scope = run("127.0.0.1", headers)
    assert _host(scope) == [b"example.org:8443"]
    assert scope["server"] == ("example.org", 8443) and scope["scheme"] == "https"
    scope = run("127.0.0.1", [(b"host", b"app:8000"), (XFF, b"1.2.3.4"), (XFPORT, b"443")])
    assert _host(scope) == [b"app:443"] and scope["server"] == ("app", 443)
    scope = run("127.0.0.1", [(b"host", b"app:8000"), (XFP, b"https"), (XFPORT, b"99999")])
    assert _host(scope) == [b"app:8000"]  # not a port: ignored
    scope = run("10.9.9.9", headers)  # untrusted peer: nothing applies
    assert _host(scope) == [b"example.org"] and scope["scheme"] == "http"


def test_default_port_of_the_scheme_is_left_out() -> None:
    headers = [(b"host", b"app"), (XFH, b"example.org:443"), (XFP, b"https")]
    scope = run("127.0.0.1", headers)
    assert _host(scope) == [b"example.org"] and scope["server"] == ("example.org", 443)
    scope = run("127.0.0.1", [(b"host", b"app"), (XFH, b"example.org"), (XFPORT, b"80")])
    assert _host(scope) == [b"example.org"] and scope["server"] == ("example.org", 80)


def test_x_forwarded_host_ipv6_literal() -> None:
    scope = run("127.0.0.1", [(b"host", b"app"), (XFH, b"[2001:db8::1]:8080")])
    assert _host(scope) == [b"[2001:db8::1]:8080"]
    assert scope["server"] == ("2001:db8::1", 8080)


def test_x_forwarded_host_added_when_the_request_had_none() -> None:
    scope = run("127.0.0.1", [(XFH, b"example.org")])  # HTTP/1.0 without Host
    assert _host(scope) == [b"example.org"]


def test_x_forwarded_host_list_follows_the_chosen_hop() -> None:
    headers = [(b"host", b"app"), (XFF, b"1.2.3.4, 10.0.0.5"), (XFH, b"a.example, b.internal")]
    scope = run("127.0.0.1, 10.0.0.0/8", headers)
    assert _host(scope) == [b"a.example"]
    # Not one entry per address: the nearest proxy's (the last) counts.
    scope = run("127.0.0.1", [(b"host", b"app"), (XFF, b"1.2.3.4"), (XFH, b"x.example, y")])
    assert _host(scope) == [b"y"]


@pytest.mark.parametrize(
    ("host", "port"),
    [
        pytest.param(b"bad host", None, id="space"),
        pytest.param(b"a\\b", None, id="backslash"),
        pytest.param(b"example.org:99999", None, id="port_too_big"),
        pytest.param(b"example.org:123456", None, id="port_too_long"),
        pytest.param(b"example.org", b"http", id="port_not_digits"),
        pytest.param(b"example.org", b"70000", id="x_port_too_big"),
        pytest.param(b"[::1", None, id="open_bracket"),
    ],
)
def test_invalid_forwarded_host_or_port_is_ignored(host: bytes, port: bytes | None) -> None:
    headers = [(b"host", b"app:8000"), (XFH, host)] + ([(XFPORT, port)] if port else [])
    scope = run("127.0.0.1", headers)
    assert _host(scope) == [b"app:8000"] and scope["server"] == ("10.0.0.2", 8000)


def test_forwarded_host_from_untrusted_peer_is_ignored() -> None:
    scope = run("10.9.9.9", [(b"host", b"app"), (XFH, b"evil.example")])
    assert _host(scope) == [b"app"] and scope["server"] == ("10.0.0.2", 8000)


def test_forwarded_host_parameter() -> None:
    value = b'for=1.2.3.4;host="example.org:8080";proto=https'
    headers = [(b"host", b"app"), (b"forwarded", value)]
    scope = run("127.0.0.1", headers)
    assert _host(scope) == [b"example.org:8080"]
    assert scope["server"] == ("example.org", 8080) and scope["scheme"] == "https"


def test_forwarded_host_of_the_chosen_hop_wins_over_x_forwarded_host() -> None:
    headers = [
        (b"host", b"app"),
        (b"forwarded", b"for=1.2.3.4;host=a.example, for=10.0.0.5;host=internal"),
        (XFH, b"ignored.example"),
    ]
    scope = run("127.0.0.1, 10.0.0.0/8", headers)
    assert _host(scope) == [b"a.example"]


def test_forwarded_host_without_for() -> None:
    scope = run("127.0.0.1", [(b"host", b"app"), (b"forwarded", b"host=example.org")])
    assert _host(scope) == [b"example.org"]


# -- ASGI2Middleware ----------------------------------------------------------------------


def test_asgi2_middleware_runs_instance() -> None:
    calls: list[Any] = []

    def app(scope: Any) -> Any:
        async def instance(receive: Any, send: Any) -> None:
            calls.append((scope, await receive()))
            await send({"type": "done"})

        return instance

    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(ASGI2Middleware(app)({"type": "http"}, receive, send))
    assert calls == [({"type": "http"}, {"type": "http.request"})]
    assert sent == [{"type": "done"}]


def test_every_field_proxy_headers_read_marks_a_request_forwarded(twin: Any) -> None:
    # The shell calls apply_proxy_headers only for requests the core marks `forwarded`; that
    # is safe only while the core's names cover every field apply_proxy_headers reads.
    from sailfish.middleware import _PROXY_FIELDS

    for name in _PROXY_FIELDS - {b"x-forwarded-port"}:
        head = b"GET / HTTP/1.1\r\nHost: x\r\n" + name.title() + b": https\r\n\r\n"
        [request] = twin.RequestParser().feed(head)
        assert request.forwarded, name
    # X-Forwarded-Port alone is not read (it only qualifies X-Forwarded-Host), so a request
    # with only it need not be marked.
    assert run("127.0.0.1", [(b"host", b"a"), (XFPORT, b"9")])["headers"] == [
        (b"host", b"a"),
        (XFPORT, b"9"),
    ]
