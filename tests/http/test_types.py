"""Both twins satisfy the Protocols of sailfish._types (mypy checks the signatures too)."""

from __future__ import annotations

from types import SimpleNamespace

from sailfish import _types, middleware
from sailfish.errors import HTTPError

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n"


def test_each_twin_satisfies_the_core_protocols(twin: SimpleNamespace) -> None:
    parser = twin.RequestParser()
    assert isinstance(parser, _types.ParserLike)
    [request] = parser.feed(GET)
    assert isinstance(request, _types.RequestLike)
    assert request.forwarded and request.scope["path"] == "/a"
    [error] = parser.feed(b"\x00")
    assert isinstance(error, HTTPError) and not isinstance(error, _types.RequestLike)
    writer = twin.ResponseWriter()
    assert isinstance(writer, _types.WriterLike)
    writer.start({"type": "http.response.start", "status": 204}, "GET", "1.1", True)
    assert writer.started and not writer.complete


def test_a_class_missing_a_member_is_not_a_parser() -> None:
    class FeedOnly:
        def feed(self, data: bytes) -> list[object]:
            return []

    assert not isinstance(FeedOnly(), _types.ParserLike)


def test_middleware_keeps_exporting_the_asgi_aliases() -> None:
    for name in ("Scope", "Message", "Receive", "Send", "ASGIApp", "ASGI2App"):
        assert getattr(middleware, name) is getattr(_types, name)
