"""`--proxy-protocol` on real sockets: the header sets the addresses, and who may send it.

Strategy: a server with `proxy_protocol=True` gets raw bytes from a socket (the PROXY header,
then HTTP) and its app answers with the client, server, scheme and tls extension it saw, as
JSON. Refusals (an untrusted peer, a malformed or missing header, a header that never ends)
must close the connection without an HTTP answer; the log says why. Waits are bounded by
socket timeouts.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sailfish.config import Config
from sailfish.proxy_protocol import V2_SIGNATURE
from sailfish.server import Server
from waiting import wait_for

TIMEOUT = 5.0
# The sailfish loggers propagate to the root logger (as the integration conftest sets them).
QUIET_LOGS: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}
V1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
GET = b"GET /who HTTP/1.1\r\nHost: example.org\r\n\r\n"


def v2(command: int = 1, tlvs: bytes = b"") -> bytes:
    addresses = socket.inet_aton("203.0.113.7") + socket.inet_aton("198.51.100.9")
    body = addresses + struct.pack("!HH", 40000, 8443) + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(body)) + body


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + len(value).to_bytes(2, "big") + value


async def who(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps(
        {
            "client": scope["client"],
            "server": scope["server"],
            "scheme": scope["scheme"],
            "tls": scope["extensions"].get("tls"),
        }
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _exchange(sock: socket.socket, data: bytes) -> dict[str, Any]:
    sock.sendall(data)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.startswith(b"content-length")).split(
            b":"
        )[1]
    )
    while len(body) < length:
        body += sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200")
    result: dict[str, Any] = json.loads(body)
    return result


def _closed_unanswered(sock: socket.socket) -> bool:
    """Read until EOF (or a reset); True if no byte of an answer came."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data == b""


@pytest.fixture
def proxied(serve: Callable[..., Any]) -> Callable[..., Any]:
    def start(**options: Any) -> Any:
        options.setdefault("forwarded_allow_ips", "127.0.0.1")
        return serve(who, proxy_protocol=True, **options)

    return start


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def test_v1_sets_client_and_server_for_every_request(
    proxied: Callable[..., Any], loop_name: str
) -> None:
    running = proxied(loop=loop_name)
    with _connect(running.port) as sock:
        first = _exchange(sock, V1 + GET)
        second = _exchange(sock, GET)  # keep-alive: the header counts for the connection
    for seen in (first, second):
        assert seen["client"] == ["192.0.2.1", 56324]
        assert seen["server"] == ["198.51.100.2", 443]
        assert seen["scheme"] == "http" and seen["tls"] is None


def test_v2_split_across_packets(proxied: Callable[..., Any], loop_name: str) -> None:
    running = proxied(loop=loop_name)
    data = v2() + GET
    with _connect(running.port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (data[:5], data[5:14], data[14:20]):
            sock.sendall(piece)
        seen = _exchange(sock, data[20:])
    assert seen["client"] == ["203.0.113.7", 40000]
    assert seen["server"] == ["198.51.100.9", 8443]


def test_v2_ssl_tlv_makes_https_with_a_tls_extension(proxied: Callable[..., Any]) -> None:
    running = proxied()
    ssl_tlv = tlv(
        0x20,
        b"\x01"
        + struct.pack("!I", 0)
        + tlv(0x21, b"TLSv1.3")
        + tlv(0x23, b"TLS_AES_128_GCM_SHA256"),
    )
    with _connect(running.port) as sock:
        seen = _exchange(sock, v2(tlvs=ssl_tlv) + GET)
    assert seen["scheme"] == "https"
    assert seen["tls"] == {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": 0x0304,
        "cipher_suite": 0x1301,
    }


def test_v2_ssl_tlv_reaches_a_websocket_scope(serve: Callable[..., Any]) -> None:
    """The PROXY header's TLS stands for the connection's after an upgrade too: wss, the
    proxied addresses and the tls extension, as the HTTP request had them."""
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        seen.append(scope)
        await receive()
        await send({"type": "websocket.close"})  # before accept: a 403

    running = serve(app, proxy_protocol=True, forwarded_allow_ips="127.0.0.1")
    ssl_tlv = tlv(0x20, b"\x01" + struct.pack("!I", 0) + tlv(0x21, b"TLSv1.3"))
    upgrade = (
        b"GET /ws HTTP/1.1\r\nHost: example.org\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with _connect(running.port) as sock:
        sock.sendall(v2(tlvs=ssl_tlv) + upgrade)
        assert sock.recv(65536).startswith(b"HTTP/1.1 403 ")
    (scope,) = seen
    assert scope["scheme"] == "wss"
    assert scope["client"] == ("203.0.113.7", 40000)
    assert scope["extensions"]["tls"]["tls_version"] == 0x0304


def test_v2_local_keeps_the_socket_addresses(proxied: Callable[..., Any]) -> None:
    running = proxied()
    with _connect(running.port) as sock:
        seen = _exchange(sock, v2(command=0) + GET)
        local = sock.getsockname()
    assert seen["client"] == [local[0], local[1]]
    assert seen["server"] == ["127.0.0.1", running.port]


def test_untrusted_peer_is_closed(
    proxied: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    running = proxied(forwarded_allow_ips="10.1.2.3")
    with caplog.at_level(logging.WARNING, "sailfish.error"), _connect(running.port) as sock:
        sock.sendall(V1 + GET)
        assert _closed_unanswered(sock)
    assert "PROXY protocol: connection from 127.0.0.1:" in caplog.text
    assert "not in --forwarded-allow-ips" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GET, id="no_header"),
        pytest.param(b"PROXY TCP4 192.0.2.1 198.51.100.2 99999 443\r\n" + GET, id="bad_port"),
        pytest.param(b"PROXY " + b"x" * 200, id="v1_too_long"),
        pytest.param(V2_SIGNATURE + b"\x21\x11\xff\xff", id="v2_too_large"),
        pytest.param(v2(tlvs=b"\x04\x00\x09") + GET, id="v2_tlv_overruns"),
    ],
)
def test_malformed_header_closes_only_its_connection(
    proxied: Callable[..., Any], data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    running = proxied()
    with _connect(running.port) as good:
        _exchange(good, V1 + GET)
        with caplog.at_level(logging.WARNING, "sailfish.error"), _connect(running.port) as bad:
            bad.sendall(data)
            assert _closed_unanswered(bad)
        assert "Invalid PROXY protocol header from 127.0.0.1:" in caplog.text
        assert _exchange(good, GET)["client"] == ["192.0.2.1", 56324]


def test_incomplete_header_times_out(proxied: Callable[..., Any]) -> None:
    running = proxied(timeout_header_read=0.3, timeout_keep_alive=30.0)
    with _connect(running.port) as sock:
        sock.sendall(V1[:10])
        assert _closed_unanswered(sock)  # within the 5 s socket timeout


def test_forwarded_headers_after_proxy_header_need_a_trusted_client(
    proxied: Callable[..., Any],
) -> None:
    running = proxied(forwarded_allow_ips="127.0.0.1,192.0.2.1")
    spoof = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n"
    with _connect(running.port) as sock:
        # 192.0.2.1 (trusted) may forward for another client.
        assert _exchange(sock, V1 + spoof)["client"] == ["10.9.9.9", 0]
    untrusted = b"PROXY TCP4 192.0.2.99 198.51.100.2 1000 443\r\n"
    with _connect(running.port) as sock:
        # 192.0.2.99 is just a client: its X-Forwarded-For is not believed.
        assert _exchange(sock, untrusted + spoof)["client"] == ["192.0.2.99", 1000]


@pytest.mark.posix_only("unix sockets")
def test_unix_socket_peer_trusted_with_unix_entry(short_dir: Path) -> None:
    path = str(short_dir / "pp.sock")
    config = Config.from_options(
        who,
        uds=path,
        proxy_protocol=True,
        forwarded_allow_ips="unix:",
        loop="asyncio",
        log_config=QUIET_LOGS,
        timeout_graceful_shutdown=3.0,
    )
    server = Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="the server to listen on its unix socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(path)
            assert _exchange(sock, V1 + GET)["client"] == ["192.0.2.1", 56324]
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


# -- the PROXY header in front of TLS (TLS passthrough: HAProxy `mode tcp` + send-proxy-v2) ------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """The server's certificate file, and a client context that trusts it."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return cert, client


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([V1], id="v1"),
        pytest.param([v2()[:5], v2()[5:17], v2()[17:]], id="v2_split"),
    ],
)
def test_header_before_the_tls_handshake(
    proxied: Callable[..., Any],
    tls_files: tuple[Path, ssl.SSLContext],
    loop_name: str,
    pieces: list[bytes],
) -> None:
    cert, client = tls_files
    running = proxied(loop=loop_name, ssl_certfile=str(cert))
    raw = _connect(running.port)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in pieces:
        raw.sendall(piece)
    with client.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        first = _exchange(sock, GET)
        second = _exchange(sock, GET)
    expected = V1.split()[2:4] if pieces == [V1] else [b"203.0.113.7", b"198.51.100.9"]
    for seen in (first, second):
        assert seen["client"][0] == expected[0].decode()
        assert seen["server"][0] == expected[1].decode()
        assert seen["scheme"] == "https"
        assert seen["tls"]["tls_version"] in (0x0303, 0x0304)  # the server's own TLS


def test_untrusted_peer_is_closed_before_tls(
    proxied: Callable[..., Any],
    tls_files: tuple[Path, ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = proxied(forwarded_allow_ips="10.1.2.3", ssl_certfile=str(tls_files[0]))
    with caplog.at_level(logging.WARNING, "sailfish.error"), _connect(running.port) as sock:
        sock.sendall(V1)
        assert _closed_unanswered(sock)
    assert "PROXY protocol: connection from 127.0.0.1:" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", id="tls_without_header"),
        pytest.param(b"PROXY " + b"x" * 200, id="v1_too_long"),
    ],
)
def test_bad_header_before_tls_closes_only_its_connection(
    proxied: Callable[..., Any],
    tls_files: tuple[Path, ssl.SSLContext],
    data: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cert, client = tls_files
    running = proxied(ssl_certfile=str(cert))
    raw = _connect(running.port)
    raw.sendall(V1)
    with client.wrap_socket(raw, server_hostname="127.0.0.1") as good:
        _exchange(good, GET)
        with caplog.at_level(logging.WARNING, "sailfish.error"), _connect(running.port) as bad:
            bad.sendall(data)
            assert _closed_unanswered(bad)
        assert "Invalid PROXY protocol header from 127.0.0.1:" in caplog.text
        assert _exchange(good, GET)["client"][0] == "192.0.2.1"


def test_header_before_tls_times_out(
    proxied: Callable[..., Any], tls_files: tuple[Path, ssl.SSLContext]
) -> None:
    running = proxied(ssl_certfile=str(tls_files[0]), ssl_handshake_timeout=0.3)
    with _connect(running.port) as sock:
        sock.sendall(V1[:10])
        assert _closed_unanswered(sock)  # within the 5 s socket timeout
