"""TLS end to end: certificates from trustme, real clients (httpx, curl, openssl s_client).

Strategy: one trustme CA per module issues the server's certificate (127.0.0.1, localhost) and
a client certificate; the files live in a tmp dir. The app answers with what it saw (scheme,
the `tls` extension) as JSON and keeps every `tls` dict it was given, so a test can tell one
connection's dict from another's. Handshake failures and the handshake timeout are driven
with raw sockets; every wait is bounded by a socket timeout or tests/waiting.py.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sailfish import cli
from sailfish.tls import TLS_VERSIONS, cipher_suite, rfc4514_name, scheme
from system import require_program
from waiting import poll_until, wait_for

trustme = pytest.importorskip("trustme")

TIMEOUT = 5.0


class Certs:
    """A CA, the server's certificate and key, a client's, and a stranger's (another CA)."""

    def __init__(self, root: Path) -> None:
        self.ca = trustme.CA(organization_name="sailfish test CA")
        self.ca_pem = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_pem = root / "server.pem"
        self.server_key = root / "server.key"
        server.cert_chain_pems[0].write_to_path(str(self.server_pem))
        for blob in server.cert_chain_pems[1:]:
            blob.write_to_path(str(self.server_pem), append=True)
        server.private_key_pem.write_to_path(str(self.server_key))
        self.server_cert_text = server.cert_chain_pems[0].bytes().decode()
        client = self.ca.issue_cert(
            "client@example.org",
            common_name="alice, the client",
            organization_name="Example Org",
            organization_unit_name="Clients",
        )
        self.client_pem = root / "client.pem"
        self.client_key = root / "client.key"
        client.cert_chain_pems[0].write_to_path(str(self.client_pem))
        client.private_key_pem.write_to_path(str(self.client_key))
        self.client_cert_text = client.cert_chain_pems[0].bytes().decode()
        stranger = trustme.CA().issue_cert("mallory@example.org", common_name="mallory")
        self.stranger_pem = root / "stranger.pem"
        self.stranger_key = root / "stranger.key"
        stranger.cert_chain_pems[0].write_to_path(str(self.stranger_pem))
        stranger.private_key_pem.write_to_path(str(self.stranger_key))

    def client_context(self, cert: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        if cert == "client":
            context.load_cert_chain(str(self.client_pem), str(self.client_key))
        elif cert == "stranger":
            context.load_cert_chain(str(self.stranger_pem), str(self.stranger_key))
        return context

    def options(self, **extra: Any) -> dict[str, Any]:
        return {"ssl_certfile": str(self.server_pem), "ssl_keyfile": str(self.server_key), **extra}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


class TLSApp:
    """Answers {scheme, http_version, tls} as JSON; keeps each scope's tls dict."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any] | None] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        tls = scope["extensions"].get("tls")
        with self.lock:
            self.seen.append(tls)
        body = json.dumps(
            {"scheme": scope["scheme"], "http_version": scope["http_version"], "tls": tls}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _url(port: int) -> str:
    return f"https://127.0.0.1:{port}/"


def test_https_scope_and_tls_extension(
    serve: Callable[..., Any], certs: Certs, loop_name: str
) -> None:
    app = TLSApp()
    running = serve(app, loop=loop_name, **certs.options())
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as client:
        first = client.get(_url(running.port)).json()
        client.get(_url(running.port))  # the same connection (keep-alive)
    assert first["scheme"] == "https"
    tls = first["tls"]
    assert tls["server_cert"] == certs.server_cert_text
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] in (TLS_VERSIONS["TLSv1.2"], TLS_VERSIONS["TLSv1.3"])
    assert isinstance(tls["cipher_suite"], int) and 0 < tls["cipher_suite"] <= 0xFFFF
    # Built once per connection: both requests of the connection got the same dict.
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as other:
        other.get(_url(running.port))
    assert app.seen[0] is app.seen[1]
    assert app.seen[2] is not app.seen[0] and app.seen[2] == app.seen[0]


def test_wss_scope_has_the_tls_extension(serve: Callable[..., Any], certs: Certs) -> None:
    """The ASGI tls extension covers websocket scopes: a wss connection's scope has it."""
    from websockets.sync.client import connect

    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        seen.append(scope)
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    running = serve(app, **certs.options())
    uri = f"wss://127.0.0.1:{running.port}/"
    with connect(uri, ssl=certs.client_context(), open_timeout=TIMEOUT, close_timeout=TIMEOUT):
        pass  # the handshake is what matters
    (scope,) = seen
    assert scope["scheme"] == "wss"
    tls = scope["extensions"]["tls"]
    assert tls["server_cert"] == certs.server_cert_text
    assert tls["tls_version"] in (TLS_VERSIONS["TLSv1.2"], TLS_VERSIONS["TLSv1.3"])
    assert "websocket.http.response" in scope["extensions"]


def test_tls_version_and_cipher_numbers(serve: Callable[..., Any], certs: Certs) -> None:
    running = serve(TLSApp(), **certs.options())
    context = certs.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256")
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        tls = client.get(_url(running.port)).json()["tls"]
    assert tls["tls_version"] == 0x0303
    # RFC 5289: TLS_ECDHE_{RSA,ECDSA}_WITH_AES_128_GCM_SHA256 = {0xC0,0x2F} / {0xC0,0x2B}
    assert tls["cipher_suite"] in (0xC02F, 0xC02B)
    assert cipher_suite("TLS_AES_128_GCM_SHA256") == 0x1301  # RFC 8446 B.4


def test_server_cipher_list_is_applied(serve: Callable[..., Any], certs: Certs) -> None:
    # trustme's keys are ECDSA: of the two, only ECDHE-ECDSA-AES256-GCM-SHA384 can be chosen.
    ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
    running = serve(TLSApp(), **certs.options(ssl_ciphers=ciphers))
    context = certs.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        tls = client.get(_url(running.port)).json()["tls"]
    assert tls["cipher_suite"] == 0xC02C  # RFC 5289: TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")  # not in the server's list
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=context, timeout=TIMEOUT) as c:
        c.get(_url(running.port))


def test_tls_min_version_refuses_older(serve: Callable[..., Any], certs: Certs) -> None:
    running = serve(TLSApp(), **certs.options(ssl_min_version="TLSv1.3"))
    old = certs.client_context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=old, timeout=TIMEOUT) as client:
        client.get(_url(running.port))
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as client:
        assert client.get(_url(running.port)).json()["tls"]["tls_version"] == 0x0304


def test_http10_over_tls_has_the_extension(serve: Callable[..., Any], certs: Certs) -> None:
    running = serve(TLSApp(), **certs.options())
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    with certs.client_context().wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["http_version"] == "1.0" and body["tls"]["server_cert"] == certs.server_cert_text


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="curl on Windows (Schannel) wants revocation data the test CA lacks",
)
def test_curl_negotiates_http11_by_alpn(serve: Callable[..., Any], certs: Certs) -> None:
    curl = require_program("curl")
    running = serve(TLSApp(), **certs.options())
    done = subprocess.run(
        [curl, "-sS", "-v", "--max-time", "5", "--cacert", str(certs.ca_pem), _url(running.port)],
        capture_output=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert json.loads(done.stdout)["scheme"] == "https"
    log = done.stderr.decode(errors="replace")
    assert "ALPN" in log and "http/1.1" in log
    assert "h2" not in log.split("ALPN: server accepted", 1)[-1].splitlines()[0]


def test_ssl_context_from_code(serve: Callable[..., Any], certs: Certs) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certs.server_pem), str(certs.server_key))
    running = serve(TLSApp(), ssl=context)
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as client:
        tls = client.get(_url(running.port)).json()["tls"]
    assert tls["server_cert"] is None  # the spec allows None: the context is the user's
    assert tls["tls_version"] in (0x0303, 0x0304)


GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("offered", "selected", "sent", "status"),
    [
        pytest.param(["h2", "http/1.1"], "http/1.1", GET_CLOSE, b"200 OK", id="h2_and_http11"),
        pytest.param(["h2"], None, GET_CLOSE, b"200 OK", id="h2_only"),
        pytest.param(["h2"], None, H2_PREFACE, b"505 ", id="h2_only_preface"),
        pytest.param(["x-unknown/1", "spdy/3"], None, GET_CLOSE, b"200 OK", id="unknown_only"),
    ],
)
def test_alpn_selects_http11_or_nothing(
    serve: Callable[..., Any],
    certs: Certs,
    offered: list[str],
    selected: str | None,
    sent: bytes,
    status: bytes,
) -> None:
    """ALPN picks http/1.1 when offered. A client offering only protocols the server lacks
    (h2 alone) gets no ALPN answer rather than a failed handshake (Python's ssl cannot send
    RFC 7301's no_application_protocol alert): HTTP/1.1 is served on the connection, and an
    HTTP/2 preface is answered 505 and closed."""
    running = serve(TLSApp(), **certs.options())
    context = certs.client_context()
    context.set_alpn_protocols(offered)
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    with context.wrap_socket(raw, server_hostname="localhost") as conn:
        assert conn.selected_alpn_protocol() == selected
        conn.sendall(sent)
        assert _read_all(conn).startswith(b"HTTP/1.1 " + status)


class WSApp:
    """Accepts a WebSocket and sends {scheme, tls} as JSON; keeps each scope's tls dict."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any] | None] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        tls = scope["extensions"].get("tls")
        self.seen.append(tls)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send(
            {"type": "websocket.send", "text": json.dumps({"scheme": scope["scheme"], "tls": tls})}
        )
        await send({"type": "websocket.close"})


def test_websocket_over_tls_has_wss_and_the_tls_extension(
    serve: Callable[..., Any], certs: Certs, loop_name: str
) -> None:
    from websockets.sync.client import connect

    app = WSApp()
    running = serve(app, loop=loop_name, **_mtls(certs, "optional"))
    url = f"wss://127.0.0.1:{running.port}/ws"
    with connect(url, ssl=certs.client_context("client"), open_timeout=TIMEOUT) as ws:
        seen = json.loads(ws.recv(timeout=TIMEOUT))
    assert seen["scheme"] == "wss"
    tls = seen["tls"]
    assert tls["server_cert"] == certs.server_cert_text
    assert tls["client_cert_chain"] == [certs.client_cert_text]
    assert tls["client_cert_name"] == "CN=alice\\, the client,OU=Clients,O=Example Org"
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] in (0x0303, 0x0304) and isinstance(tls["cipher_suite"], int)
    # Without a client certificate: the extension is there, with no client fields.
    with connect(url, ssl=certs.client_context(), open_timeout=TIMEOUT) as ws:
        tls = json.loads(ws.recv(timeout=TIMEOUT))["tls"]
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    assert tls["server_cert"] == certs.server_cert_text


# -- mutual TLS ---------------------------------------------------------------------------------


def _mtls(certs: Certs, reqs: str) -> dict[str, Any]:
    return certs.options(ssl_ca_certs=str(certs.ca_pem), ssl_cert_reqs=reqs)


def test_client_certificate_fields(serve: Callable[..., Any], certs: Certs) -> None:
    running = serve(TLSApp(), **_mtls(certs, "required"))
    with httpx.Client(verify=certs.client_context("client"), timeout=TIMEOUT) as client:
        tls = client.get(_url(running.port)).json()["tls"]
    assert tls["client_cert_chain"] == [certs.client_cert_text]
    # RFC 4514: the last RDN first, "," between RDNs, "\," for a comma in a value; the same
    # string as cryptography's own RFC 4514 rendering.
    assert tls["client_cert_name"] == "CN=alice\\, the client,OU=Clients,O=Example Org"
    from cryptography import x509

    subject = x509.load_pem_x509_certificate(certs.client_cert_text.encode()).subject
    assert tls["client_cert_name"] == subject.rfc4514_string()
    assert tls["client_cert_error"] is None


def test_optional_client_certificate(serve: Callable[..., Any], certs: Certs) -> None:
    running = serve(TLSApp(), **_mtls(certs, "optional"))
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as client:
        tls = client.get(_url(running.port)).json()["tls"]
    assert tls["client_cert_chain"] == [] and tls["client_cert_name"] is None
    with httpx.Client(verify=certs.client_context("client"), timeout=TIMEOUT) as client:
        assert client.get(_url(running.port)).json()["tls"]["client_cert_name"].startswith("CN=")


def _s_client(openssl: str, port: int, certs: Certs, *cert: str) -> str:
    request = b"GET /mtls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    done = subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"]
        + ["-CAfile", str(certs.ca_pem), "-quiet", "-verify_return_error", *cert],
        input=request,
        capture_output=True,
        timeout=10,
    )
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


def test_openssl_s_client_mutual_tls(serve: Callable[..., Any], certs: Certs) -> None:
    openssl = require_program("openssl")
    app = TLSApp()
    running = serve(app, **_mtls(certs, "required"))
    good = _s_client(
        openssl, running.port, certs, "-cert", str(certs.client_pem), "-key", str(certs.client_key)
    )
    assert "HTTP/1.1 200 OK" in good
    assert '"client_cert_name": "CN=alice\\\\, the client,OU=Clients,O=Example Org"' in good
    missing = _s_client(openssl, running.port, certs)
    assert "HTTP/1.1 200" not in missing
    stranger = _s_client(
        openssl,
        running.port,
        certs,
        *("-cert", str(certs.stranger_pem), "-key", str(certs.stranger_key)),
    )
    assert "HTTP/1.1 200" not in stranger
    assert len(app.seen) == 1  # only the verified client reached the app


# -- failures stay on their own connection ------------------------------------------------------


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_bad_handshakes_do_not_disturb_other_connections(
    serve: Callable[..., Any], certs: Certs, loop_name: str
) -> None:
    running = serve(TLSApp(), loop=loop_name, **_mtls(certs, "optional"))
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    with certs.client_context().wrap_socket(raw, server_hostname="localhost") as good:
        good.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert good.recv(65536).startswith(b"HTTP/1.1 200")
        # Plain HTTP on the TLS port: the handshake fails and that connection is closed.
        with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"HTTP/1.1 200" not in _read_all(plain)
        # A client certificate from another CA: refused.
        raw2 = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
        with pytest.raises((ssl.SSLError, ConnectionResetError)):  # noqa: PT012
            with certs.client_context("stranger").wrap_socket(
                raw2, server_hostname="localhost"
            ) as bad:
                bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                bad.recv(65536)  # TLS 1.3: the alert arrives after the client's Finished
                raise ssl.SSLError("the server answered a stranger")  # pragma: no cover
        # A client that stops mid-handshake and closes.
        with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as half:
            half.sendall(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03")
        # The first connection still works, on the same socket.
        good.sendall(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert good.recv(65536).startswith(b"HTTP/1.1 200")


HANDSHAKE_TIMEOUT = 0.5


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="silent"),
        # The first 11 bytes of a ClientHello record that announces 200 bytes.
        pytest.param(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03", id="half_hello"),
    ],
)
def test_handshake_timeout_closes_after_the_limit_not_before(
    serve: Callable[..., Any], certs: Certs, loop_name: str, sent: bytes
) -> None:
    running = serve(
        TLSApp(), loop=loop_name, **certs.options(ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
    )
    with socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT) as stalled:
        begin = time.monotonic()
        stalled.sendall(sent)
        # The server closes (EOF or reset) before our 5 s socket timeout, and not early: its
        # deadline runs from its accept, which comes at the earliest a moment before `begin`
        # (once the TCP handshake is done), hence the small slack (and uvloop's 1 ms clock).
        assert _read_all(stalled) == b""
        elapsed = time.monotonic() - begin
    assert elapsed >= HANDSHAKE_TIMEOUT - 0.02, elapsed
    # A client that completes its handshake within the limit is served.
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as client:
        assert client.get(_url(running.port)).status_code == 200


def test_handshake_timeout_spares_a_client_within_it(
    serve: Callable[..., Any], certs: Certs
) -> None:
    running = serve(TLSApp(), **certs.options(ssl_handshake_timeout=30.0))
    with socket.create_connection(("127.0.0.1", running.port), timeout=0.5) as slow:
        # Quiet for longer than the other test's limit: still open (the read times out).
        with pytest.raises(TimeoutError):
            slow.recv(1)
        with certs.client_context().wrap_socket(slow, server_hostname="localhost") as conn:
            conn.settimeout(TIMEOUT)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")


class WaitingApp:
    """Reads its request, then waits in receive() until the client goes away."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.messages: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        self.called.set()
        self.messages.append((await receive())["type"])


def test_half_closed_tls_peer_logs_no_loop_warning(
    serve: Callable[..., Any],
    certs: Certs,
    loop_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TLS client that half-closes while its request runs: the app hears of it, the
    connection closes, and neither event loop logs "returning true from eof_received() has no
    effect when using ssl" (a line per connection a client could provoke at will)."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    app = WaitingApp()
    running = serve(app, loop=loop_name, **certs.options())
    raw = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    with certs.client_context().wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert app.called.wait(TIMEOUT)
        conn.shutdown(socket.SHUT_WR)  # a TCP FIN, no close_notify; reads are raw from here
        _read_all(conn)  # until the server closes (a socket timeout fails the test)
    wait_for(lambda: app.messages == ["http.disconnect"], what="the app saw the disconnect")
    assert not [r for r in caplog.records if "eof_received" in r.getMessage()]


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "tls"])
def test_closed_connections_are_freed_without_the_cyclic_collector(
    serve: Callable[..., Any], certs: Certs, secure: bool
) -> None:
    """A connection the server closes (`Connection: close`, a 400) leaves no reference cycle:
    its protocol and request cycle go when the last reference does. Left to the collector,
    every TLS connection's SSL objects and buffers waited for the next collection (and the
    collections themselves cost CPU per connection: bench/RESULTS.md)."""
    running = serve(TLSApp(), **(certs.options() if secure else {}))
    kept = ("HTTPProtocol", "RequestCycle", "RequestParser")

    def leftovers() -> list[str]:
        return [name for o in gc.get_objects() if (name := type(o).__name__) in kept]

    requests = [b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"BAD\r\n\r\n"] * 3
    gc.collect()
    gc.disable()
    try:
        for request in requests:
            raw = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
            if secure:
                raw = certs.client_context().wrap_socket(raw, server_hostname="localhost")
            with raw as conn:
                conn.sendall(request)
                assert _read_all(conn).startswith(b"HTTP/1.1 ")
        freed = poll_until(lambda: not leftovers())
        left = leftovers()
    finally:
        gc.enable()
    assert freed, left


# -- settings -------------------------------------------------------------------------------------


def test_scheme_comes_from_one_place() -> None:
    assert [scheme(False), scheme(True)] == ["http", "https"]
    assert [scheme(False, websocket=True), scheme(True, websocket=True)] == ["ws", "wss"]


def test_password_is_not_in_repr() -> None:
    from sailfish.config import Config

    config = Config.from_options("m:a", ssl_certfile="c.pem", ssl_keyfile_password="hunter2")
    assert "hunter2" not in repr(config) and "keyfile_password='***'" in repr(config.tls)


def test_ssl_option_must_be_a_context() -> None:
    from sailfish.config import Config
    from sailfish.errors import ConfigError

    with pytest.raises(ConfigError, match="ssl must be an ssl.SSLContext"):
        Config.from_options("m:a", ssl="cert.pem").validate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ConfigError, match="cannot be used together"):
        Config.from_options("m:a", ssl=context, ssl_certfile="cert.pem").validate()


def test_rfc4514_escapes() -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    for value in (' #a+b;c<d>"e\\ ', "#x, y", "plain"):
        subject = ((("countryName", "DE"),), (("commonName", value),))
        expected = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                x509.NameAttribute(NameOID.COMMON_NAME, value),
            ]
        ).rfc4514_string()
        assert rfc4514_name(subject) == expected
    assert rfc4514_name(((("commonName", "#x"),),)) == "CN=\\#x"
    multi = ((("organizationName", "X"), ("organizationalUnitName", "Y")),)
    assert rfc4514_name(multi) == "O=X+OU=Y"
    assert rfc4514_name(()) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            ["--ssl-keyfile", "{key}"], "--ssl-keyfile needs --ssl-certfile", id="key_alone"
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-cert-reqs", "required"],
            "--ssl-cert-reqs required needs --ssl-ca-certs",
            id="required_without_ca",
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ciphers", "NOPE"],
            '--ssl-ciphers: "NOPE" selects no cipher',
            id="bad_ciphers",
        ),
        pytest.param(
            ["--ssl-certfile", "{key}"], "--ssl-certfile: cannot load", id="key_is_not_a_cert"
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{enc}", "--ssl-keyfile-password", "x"],
            "wrong --ssl-keyfile-password",
            id="wrong_password",
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{other_key}"],
            "the key does not match the certificate",
            id="key_cert_mismatch",
        ),
        pytest.param(["--ssl-certfile", "{missing}"], "does not exist", id="missing_certfile"),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{missing}"],
            "does not exist",
            id="missing_keyfile",
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ca-certs", "{key}"],
            "--ssl-ca-certs: cannot load",
            id="ca_certs_not_certificates",
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-min-version", "TLSv1.0"],
            "--ssl-min-version",
            id="bad_min_version",
        ),
        pytest.param(
            ["--ssl-certfile", "{cert}", "--ssl-handshake-timeout", "0"],
            "--ssl-handshake-timeout must be > 0",
            id="zero_handshake_timeout",
        ),
    ],
)
def test_bad_tls_settings_are_one_line_exit_2(
    extra: list[str],
    message: str,
    certs: Certs,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.server_key.read_bytes(), None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    (tmp_path / "app.py").write_text("async def app(scope, receive, send): pass\n")
    paths = {
        "cert": str(certs.server_pem),
        "key": str(certs.server_key),
        "enc": str(encrypted),
        "other_key": str(certs.stranger_key),  # a valid key, of another certificate
        "missing": str(tmp_path / "missing.pem"),
    }
    argv = ["app:app", "--app-dir", str(tmp_path), "--port", "0", "--lifespan", "off"]
    argv += [arg.format(**paths) for arg in extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    # Errors found while loading follow the "Started server process" line; one line each.
    last = err.splitlines()[-1]
    assert last.startswith("Error: ") and message in last, err
    assert err.count("Error") == 1 and "Traceback" not in err


def test_encrypted_key_with_its_password(
    serve: Callable[..., Any], certs: Certs, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.server_key.read_bytes(), None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    running = serve(
        TLSApp(),
        ssl_certfile=str(certs.server_pem),
        ssl_keyfile=str(encrypted),
        ssl_keyfile_password="secret",
    )
    with httpx.Client(verify=certs.client_context(), timeout=TIMEOUT) as client:
        assert client.get(_url(running.port)).json()["scheme"] == "https"
