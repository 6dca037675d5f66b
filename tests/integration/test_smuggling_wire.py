"""Known request-smuggling payloads against a running server: 400, close, nothing smuggled.

The parser's side of each attack (and the advisory it comes from) is in
tests/http/test_smuggling.py; here the whole server answers it over a raw socket: the
response is a 400 with `connection: close`, the server closes, and the request hidden after
the attack never reaches the app, nor is the attacking request's body ever delivered as
complete. A chunked body cut short by the client going away ends in `http.disconnect`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from integ_helpers import Conn, wait_for

from twins import corpus_spec

Serve = Callable[..., Any]
SPEC = corpus_spec()


class Recorder:
    """Records the path of every request and the body messages it receives; answers 200."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.first_body = threading.Event()
        self.disconnected = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.paths.append(scope["path"])
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
            self.first_body.set()
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


# (corpus name, the path of the request the attack hides)
ATTACKS = [
    ("400-cve_2025_43859_h11_two_bytes_after_chunk_data", "/two"),
    ("400-cve_2025_22871_go_bare_lf_ends_chunk_size_line", "/smuggled"),
    ("400-cve_2025_55315_kestrel_lf_in_chunk_extension", "/admin"),
    ("400-cve_2024_1135_gunicorn_chunked_then_identity_lines", None),
    ("400-cl_te_space_before_colon", None),
    ("400-te_chunked_then_vertical_tab", None),
]


@pytest.mark.parametrize(("name", "hidden"), ATTACKS)
def test_smuggling_payload_is_400_and_close(serve: Serve, name: str, hidden: str | None) -> None:
    app = Recorder()
    running = serve(app)
    raw, _ = SPEC.INVALID[name]
    with Conn(running.port) as conn:
        conn.send(raw)
        response = conn.read_response()
        assert response.status == 400, response
        assert response.header("connection") == "close"
        assert conn.is_closed_by_peer(timeout=3), "the connection stayed open after the 400"
    assert hidden not in app.paths
    assert len(app.paths) <= 1, app.paths
    assert not any(m.get("more_body") is False for m in app.messages), app.messages


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"5\r\nhello\r\n", id="between_chunks"),
        pytest.param(b"5\r\nhello\r\n6\r\n wo", id="inside_chunk_data"),
        pytest.param(b"5\r\nhello\r\n0\r\n", id="last_chunk_without_final_crlf"),
        pytest.param(b"5\r\nhello\r\n0\r\nX-T: 1\r\n", id="inside_trailers"),
    ],
)
def test_chunked_body_cut_short_is_a_disconnect(serve: Serve, sent: bytes) -> None:
    """The client goes away mid-body: the app sees `http.disconnect`, never a complete body."""
    app = Recorder()
    running = serve(app)
    with Conn(running.port) as conn:
        conn.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + sent)
        assert app.first_body.wait(5), "the app never received the first chunk"
    assert app.disconnected.wait(5), f"the app never saw http.disconnect: {app.messages}"
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert b"".join(m.get("body", b"") for m in app.messages).startswith(b"hello")
    assert not any(m.get("more_body") is False for m in app.messages), app.messages
    assert wait_for(lambda: not running.server.server_state.connections, timeout=3)
