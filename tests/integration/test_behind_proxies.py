"""sailfish behind a real nginx (TCP and unix-socket upstreams) and a real HAProxy (PROXY v2).

Strategy: each test writes a config for the proxy into its tmp dir (ports picked by binding
127.0.0.1:0 first; temp paths, pid and logs in the tmp dir), starts the proxy in the
foreground as a child process, waits (bounded) until it accepts, and ends it through its own
pid at teardown. The test client connects from 127.0.0.3 (any 127/8 address is local on
Linux), so the client address the app sees can only have come from the proxy's headers or
PROXY header. The app answers with client, server, scheme, Host and tls extension as JSON.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sailfish.config import Config
from sailfish.server import Server
from system import require_program
from waiting import poll_until, wait_for

if sys.platform != "linux":  # pragma: no cover
    pytest.skip("127.0.0.3 as a source address needs Linux", allow_module_level=True)

TIMEOUT = 5.0
CLIENT_ADDRESS = "127.0.0.3"
QUIET_LOGS: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}


async def who(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    host = [value.decode() for name, value in scope["headers"] if name == b"host"]
    body = json.dumps(
        {
            "client": scope["client"],
            "server": scope["server"],
            "scheme": scope["scheme"],
            "host": host,
            "path": scope["path"],
            "tls": scope["extensions"].get("tls"),
        }
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(port: int, path: str, host: str, context: ssl.SSLContext | None = None) -> Any:
    source = (CLIENT_ADDRESS, 0)
    if context is not None:
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=TIMEOUT, source_address=source, context=context
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=TIMEOUT, source_address=source
        )
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())
    finally:
        connection.close()


@contextlib.contextmanager
def sailfish(**options: Any) -> Iterator[Server]:
    """A sailfish server in a thread (TCP on 127.0.0.1:0, or `uds=`), stopped on exit."""
    if "uds" not in options:
        options.update(host="127.0.0.1", port=0)
    config = Config.from_options(
        who, loop="asyncio", log_config=QUIET_LOGS, timeout_graceful_shutdown=3.0, **options
    )
    server = Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or errors, what="sailfish to listen")
        assert not errors, errors
        yield server
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "sailfish did not stop"


class Proxy:
    """A proxy process in the foreground; ended through its pid."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.port = port
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

        def accepts() -> bool:
            if self.process.poll() is not None:
                return True
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return True
            return False

        poll_until(accepts, 10.0, interval=0.02)
        if self.process.poll() is not None:
            self.stop()
            raise AssertionError(f"{argv[0]} exited at startup:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    started: list[Proxy] = []
    yield started
    for proxy in started:
        proxy.stop()


# -- nginx ----------------------------------------------------------------------------------------

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream sailfish {{ server {upstream}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sailfish;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
        }}
        location /terminated/ {{
            proxy_pass http://sailfish;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port 443;
        }}
    }}
}}
"""


def start_nginx(tmp_path: Path, upstream: str, proxies: list[Proxy]) -> Proxy:
    nginx = require_program("nginx")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, upstream=upstream, port=port))
    proxy = Proxy([nginx, "-p", str(tmp_path), "-c", str(conf)], port, tmp_path / "nginx.out")
    proxies.append(proxy)
    return proxy


def test_nginx_tcp_upstream_proxy_headers(tmp_path: Path, proxies: list[Proxy]) -> None:
    with sailfish(forwarded_allow_ips="127.0.0.1") as server:
        port = server.sockets[0].getsockname()[1]
        nginx = start_nginx(tmp_path, f"127.0.0.1:{port}", proxies)
        seen = get(nginx.port, "/a?b=1", f"shop.example:{nginx.port}")
        assert seen["client"] == [CLIENT_ADDRESS, 0]  # from X-Forwarded-For
        assert seen["scheme"] == "http"
        assert seen["host"] == [f"shop.example:{nginx.port}"]  # $host + X-Forwarded-Port
        assert seen["server"] == ["shop.example", nginx.port]
        assert seen["path"] == "/a"
        terminated = get(nginx.port, "/terminated/x", "shop.example")
        assert terminated["scheme"] == "https"
        assert terminated["host"] == ["shop.example"] and terminated["server"] == [
            "shop.example",
            443,
        ]


def test_nginx_headers_ignored_from_an_untrusted_proxy(
    tmp_path: Path, proxies: list[Proxy]
) -> None:
    with sailfish(forwarded_allow_ips="10.0.0.1") as server:
        port = server.sockets[0].getsockname()[1]
        nginx = start_nginx(tmp_path, f"127.0.0.1:{port}", proxies)
        seen = get(nginx.port, "/", "shop.example")
        assert seen["client"][0] == "127.0.0.1"  # nginx itself
        assert seen["host"] == ["shop.example"]  # nginx's Host, not rewritten
        assert seen["server"] == ["127.0.0.1", port]


def test_nginx_unix_socket_upstream(tmp_path: Path, proxies: list[Proxy]) -> None:
    path = tmp_path / "sailfish.sock"
    with sailfish(uds=str(path), forwarded_allow_ips="unix:"):
        nginx = start_nginx(tmp_path, f"unix:{path}", proxies)
        for _ in range(3):  # nginx keeps the upstream connection alive between them
            seen = get(nginx.port, "/over-unix", "shop.example")
            assert seen["client"] == [CLIENT_ADDRESS, 0]
            assert seen["host"] == [f"shop.example:{nginx.port}"]
            assert seen["path"] == "/over-unix"


# -- HAProxy --------------------------------------------------------------------------------------

HAPROXY_CONF = """
global
    maxconn 64
defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend plain
    mode tcp
    bind 127.0.0.1:{port}
    default_backend sailfish
frontend terminated
    mode http
    bind 127.0.0.1:{tls_port} ssl crt {pem} alpn http/1.1
    default_backend sailfish_ssl
backend sailfish
    mode tcp
    option httpchk
    http-check send meth GET uri /health ver HTTP/1.1 hdr Host check.internal
    server app 127.0.0.1:{upstream} send-proxy-v2 check inter 200ms check-send-proxy
backend sailfish_ssl
    mode http
    server app 127.0.0.1:{upstream} send-proxy-v2 proxy-v2-options ssl,ssl-cipher,crc32c
"""


def test_haproxy_send_proxy_v2(
    tmp_path: Path, proxies: list[Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    haproxy = require_program("haproxy")
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    pem = tmp_path / "haproxy.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    context = ssl.create_default_context()
    ca.configure_trust(context)

    with (
        caplog.at_level("INFO", "sailfish.access"),
        sailfish(proxy_protocol=True, forwarded_allow_ips="127.0.0.1") as server,
    ):
        upstream = server.sockets[0].getsockname()[1]
        port, tls_port = free_port(), free_port()
        conf = tmp_path / "haproxy.cfg"
        conf.write_text(
            HAPROXY_CONF.format(port=port, tls_port=tls_port, pem=pem, upstream=upstream)
        )
        proxies.append(Proxy([haproxy, "-db", "-f", str(conf)], port, tmp_path / "haproxy.out"))

        seen = get(port, "/via-haproxy", "shop.example")
        assert seen["client"][0] == CLIENT_ADDRESS  # from the PROXY v2 header
        assert seen["client"][1] > 0  # the client's real source port
        assert seen["server"] == ["127.0.0.1", port]  # the address the client dialled
        assert seen["scheme"] == "http" and seen["tls"] is None

        secure = get(tls_port, "/via-haproxy-tls", "shop.example", context=context)
        assert secure["client"][0] == CLIENT_ADDRESS
        assert secure["server"] == ["127.0.0.1", tls_port]
        assert secure["scheme"] == "https"  # PP2_TYPE_SSL: the client used TLS to HAProxy
        assert secure["tls"]["tls_version"] in (0x0303, 0x0304)
        assert isinstance(secure["tls"]["cipher_suite"], int)  # from HAProxy's cipher name
        # ... and that header carried a CRC32C TLV, which was checked.
        assert secure["tls"]["server_cert"] is None

        # HAProxy's health checks open connections with a PROXY v2 LOCAL header: served,
        # with the connection's own addresses.
        wait_for(
            lambda: "127.0.0.1:" in caplog.text and '"GET /health' in caplog.text,
            what="a health check in the access log",
        )
        checks = [r.getMessage() for r in caplog.records if "/health" in r.getMessage()]
        assert checks and all(line.startswith("127.0.0.1:") for line in checks), checks
    assert "Invalid PROXY protocol header" not in caplog.text
    assert "not in --forwarded-allow-ips" not in caplog.text


def test_direct_connection_without_proxy_header_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with sailfish(proxy_protocol=True) as server:
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:
                pass
    assert "not a PROXY protocol header" in caplog.text
