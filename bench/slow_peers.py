"""Slow peers: a normal client's latency while 2,000 slow connections hang on, and memory per
idle connection; sailfish against uvicorn (and granian for memory), in one run.

    make bench-slow                                  # both parts, defaults below
    make bench-slow BENCH_SLOW_ARGS="--quick"        # 5 s phases, 1,000 idle connections only
    python bench/slow_peers.py --part latency --servers sailfish --phase 20

Strategy: bootstraps like bench/e2e/run.py (whose venv, process groups and /proc readers it
reuses: the peers live in `.venv-bench`, sailfish is this tree as built in place), raises
RLIMIT_NOFILE to its hard limit (children inherit it; the server needs about 2,100 descriptors
for the latency part and N + 100 for N idle connections, the driver as many), then re-executes
itself there. Every server runs one worker, default settings, access log off, on CPU 0; the
clients run on CPU 1, each in its own process so one's loop never delays another's timing.

Part `latency`, per server, three phases of --phase seconds each:
  a. idle: the normal client (one keep-alive connection, GET / at a fixed --rate, latency from
     its send to the last byte of the answer) alone;
  b. the same while the load process holds --slowloris connections that trickle a request head
     one byte every 200-400 ms (reconnecting when closed, so the count stays) and --readers
     connections (SO_RCVBUF 4 KiB) that each asked for GET /big (1 MiB in 64 KiB messages)
     and read 4 KiB per second;
  c. again alone, once the load process has closed everything.
Printed per phase: p50/p99/max latency, p99(b)/p99(a), the server's RSS and descriptors (at the
end of the phase; in b also the peak), what ended the trickling connections (a 408, a bare
close, or nothing: still open when b ended) and after how long, and what the readers got.

Part `memory`, per server and N in --idle (1,000 and 5,000): a fresh server (keep-alive and
header timeouts raised so nothing closes during the count), a few warm-up requests, RSS, then N
connections held open, and RSS again; (after - before) / N. Kinds: `request` (one request and
its answer on each, then idle keep-alive), `fresh` (connected, nothing sent), and for sailfish
`websocket` (an idle WebSocket after its handshake, app bench/e2e/app_ws.py).

Numbers go to stdout and bench/e2e/results/<stamp>-slow/; bench/RESULTS.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
E2E = HERE / "e2e"
sys.path.insert(0, str(E2E))

import run as e2e  # noqa: E402 - bench/e2e/run.py: bootstrap, processes, /proc

REPO = e2e.REPO
VENV = e2e.VENV
VENV_PY = e2e.VENV_PY
SERVER_CPU = e2e.SERVER_CPU
CLIENT_CPU = e2e.CLIENT_CPU
APP = "slow_app:app"
WS_APP = "app_ws:app"
HELLO_RESPONSE_BODY = b"Hello, world!"
HEAD = b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n"
BIG_REQUEST = b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
LATENCY_SERVERS = ["sailfish", "uvicorn-httptools"]
MEMORY_SERVERS = ["sailfish", "uvicorn-httptools", "granian"]
LABELS = {
    "sailfish": "sailfish",
    "uvicorn-httptools": "uvicorn + httptools",
    "granian": "granian",
}


def server_command(name: str, port: int, app: str, idle: bool) -> list[str]:
    """`idle`: timeouts raised so idle connections stay for the memory count."""
    py, host = str(VENV_PY), "127.0.0.1"
    common = ["--host", host, "--port", str(port)]
    if name == "sailfish":
        cmd = [py, "-m", "sailfish", app, *common, "--loop", "uvloop", "--no-access-log"]
        cmd += ["--log-level", "warning"]
        if idle:
            cmd += ["--timeout-keep-alive", "600", "--timeout-header-read", "600"]
            cmd += ["--ws-ping-interval", "0"]
        return cmd
    if name == "uvicorn-httptools":
        cmd = [py, "-m", "uvicorn", app, *common, "--http", "httptools", "--loop", "uvloop"]
        cmd += ["--no-access-log", "--log-level", "warning"]
        return cmd + (["--timeout-keep-alive", "600"] if idle else [])
    if name == "granian":
        cmd = [str(VENV / "bin" / "granian"), "--interface", "asgi", *common, "--workers", "1"]
        cmd += ["--runtime-threads", "1", "--loop", "uvloop", "--http", "1", "--no-ws"]
        cmd += ["--no-access-log", "--log-level", "warning", app]
        # Its default --backpressure (the backlog, 1024) stops serving more connections.
        idle_options = ["--http1-header-read-timeout", "60000", "--backpressure", "8192"]
        return cmd + (idle_options if idle else [])
    raise ValueError(name)


# --------------------------------------------------------------------------- the server


class Server(e2e.Server):
    """run.py's Server (process group, stop) with this benchmark's commands and readings."""

    idle = False

    @property
    def label(self) -> str:
        return LABELS[self.name]

    def start(self) -> None:
        cmd = ["taskset", "-c", SERVER_CPU] + server_command(
            self.name, self.port, self.app, self.idle
        )
        self.cmd = cmd
        out = open(self.logfile, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            cmd, cwd=E2E, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    def pids(self) -> list[int]:
        assert self.proc is not None
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = e2e.proc_stat(int(entry))
                if fields is not None and int(fields[2]) == self.proc.pid:
                    found.append(int(entry))
        return found

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total

    def fds(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += len(os.listdir(f"/proc/{pid}/fd"))
        return total


def tcp_kernel_kib() -> int:
    """Memory the kernel holds in TCP socket buffers, all sockets of the machine (KiB)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/sockstat").read_text().splitlines():
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return 0


def start(name: str, outdir: Path, app: str = APP, idle: bool = False, tag: str = "") -> Server:
    server = Server(name, e2e.free_port(), outdir / f"server-{name}{tag}.log", app=app)
    server.idle = idle
    server.start()
    if not server.wait_ready():
        server.stop()
        raise RuntimeError(f"{server.label} did not start:\n{server.log_tail()}")
    return server


# --------------------------------------------------------------------------- the normal client


def read_hello(sock: socket.socket, buf: bytearray) -> None:
    """One 13-byte answer (Content-Length) off a keep-alive connection."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0 and len(buf) >= end + 4 + len(HELLO_RESPONSE_BODY):
            if not buf.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer {bytes(buf[:40])!r}")
            del buf[: end + 4 + len(HELLO_RESPONSE_BODY)]
            return
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buf += data


def latency_client(port: int, duration: float, rate: float) -> None:
    """Role: GET / at `rate` per second (0: back to back) for `duration` s; prints the
    latencies (s) as JSON."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    for _ in range(20):  # warm up the connection and both ends' code paths
        sock.sendall(request)
        read_hello(sock, buf)
    latencies: list[float] = []
    errors = 0
    begin = time.perf_counter()
    i = 0
    while True:
        now = time.perf_counter()
        if now - begin >= duration:
            break
        target = begin + i / rate if rate > 0 else now
        if target > now:
            time.sleep(target - now)
        i += 1
        sent = time.perf_counter()
        try:
            sock.sendall(request)
            read_hello(sock, buf)
        except (OSError, RuntimeError):
            errors += 1
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            buf.clear()
            continue
        latencies.append(time.perf_counter() - sent)
    sock.close()
    lat = sorted(x * 1000 for x in latencies)
    summary = {"requests": len(lat), "errors": errors, "max_ms": lat[-1]}
    for q in (50, 99, 99.9):
        summary[f"p{q:g}_ms"] = lat[min(len(lat) - 1, int(q / 100 * len(lat)))]
    print(json.dumps(summary), flush=True)  # a summary: the pipe is read only at the end


# --------------------------------------------------------------------------- the slow peers


class Trickler(asyncio.Protocol):
    """One slowloris connection: records what the server answered and when it closed."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if len(self.answer) < 200:
            self.answer += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def slowloris(port: int, stats: dict, stop: asyncio.Event) -> None:
    """Keep one trickling connection open (a new one when the server closes it)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            _, proto = await loop.create_connection(Trickler, "127.0.0.1", port)
        except OSError:
            stats["connect_errors"] += 1
            await asyncio.sleep(0.5)
            continue
        assert proto.transport is not None
        began = loop.time()
        proto.transport.write(HEAD[:1])
        stats["opened"] += 1
        sent = 1
        while not stop.is_set() and not proto.closed.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(proto.closed), random.uniform(0.2, 0.4))
            if proto.closed.done() or stop.is_set():
                break
            # The head's own bytes first, then one header line that never ends.
            proto.transport.write(HEAD[sent : sent + 1] if sent < len(HEAD) else b"X-a: b"[:1])
            sent += 1
        lived = loop.time() - began
        if proto.closed.done():
            line = bytes(proto.answer).split(b"\r\n", 1)[0].decode("latin-1")
            kind = line[:12] if line else "closed, no answer"
            stats["closed"].setdefault(kind, []).append(lived)
        else:
            stats["open_at_stop"].append(lived)
            proto.transport.abort()
            return


async def slow_reader(port: int, stats: dict, stop: asyncio.Event, ready: list) -> None:
    """GET /big, then 4 KiB per second, until told to stop (or the server closes)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, BIG_REQUEST)
        first = await loop.sock_recv(sock, 4096)
        if not first.startswith(b"HTTP/1.1 200"):
            stats["bad_answer"] += 1
            return
        stats["received"] += len(first)
        ready.append(1)
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), random.uniform(0.9, 1.1))
            if stop.is_set():
                break
            data = await loop.sock_recv(sock, 4096)
            if not data:
                stats["closed_by_server"] += 1
                return
            stats["received"] += len(data)
    except OSError as exc:
        stats["errors"][type(exc).__name__] = stats["errors"].get(type(exc).__name__, 0) + 1
    finally:
        sock.close()


async def load(port: int, trickling: int, readers: int) -> None:
    """Role: hold the slow peers; 'ready' when all are in place, stats (JSON) after 'stop'."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    s_stats: dict = {"opened": 0, "connect_errors": 0, "closed": {}, "open_at_stop": []}
    r_stats: dict = {"received": 0, "closed_by_server": 0, "bad_answer": 0, "errors": {}}
    ready: list = []
    tasks = []
    for i in range(max(trickling, readers)):  # ramp up in batches: no listen-queue overflow
        if i < trickling:
            tasks.append(asyncio.ensure_future(slowloris(port, s_stats, stop)))
        if i < readers:
            tasks.append(asyncio.ensure_future(slow_reader(port, r_stats, stop, ready)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    begin = loop.time()
    while len(ready) < readers and loop.time() - begin < 30:
        await asyncio.sleep(0.1)
    print(f"ready {len(ready)}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    stop.set()
    await asyncio.gather(*tasks)
    closed = {
        kind: {"count": len(v), "median_s": statistics.median(v), "max_s": max(v)}
        for kind, v in s_stats["closed"].items()
    }
    still = s_stats["open_at_stop"]
    print(
        json.dumps(
            {
                "slowloris": {
                    "opened": s_stats["opened"],
                    "connect_errors": s_stats["connect_errors"],
                    "closed": closed,
                    "open_at_stop": len(still),
                    "open_at_stop_max_age_s": max(still) if still else 0.0,
                },
                "readers": r_stats | {"ready": len(ready)},
            }
        ),
        flush=True,
    )


# --------------------------------------------------------------------------- part: latency


def client(role: str, *args: object) -> subprocess.Popen:
    argv = ["taskset", "-c", CLIENT_CPU, str(VENV_PY), str(Path(__file__).resolve())]
    argv += ["--role", role, *map(str, args)]
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def measure(server: Server, args: argparse.Namespace, sample_peak: bool = False) -> dict:
    """One phase: the normal client for args.phase seconds; latencies (ms), RSS and fds."""
    proc = client("latency", server.port, args.phase, args.rate)
    peak_rss = peak_fds = peak_tcp = 0
    while proc.poll() is None:
        if sample_peak:
            peak_rss = max(peak_rss, server.rss_kib())
            peak_fds = max(peak_fds, server.fds())
            peak_tcp = max(peak_tcp, tcp_kernel_kib())
        time.sleep(0.5)
    out, _ = proc.communicate()
    phase = json.loads(out) | {
        "rss_kib": server.rss_kib(),
        "fds": server.fds(),
        "tcp_kernel_kib": tcp_kernel_kib(),
    }
    if sample_peak:
        phase |= {"peak_rss_kib": max(peak_rss, phase["rss_kib"]), "peak_fds": peak_fds}
        phase["peak_tcp_kernel_kib"] = max(peak_tcp, phase["tcp_kernel_kib"])
    return phase


def latency_part(args: argparse.Namespace, outdir: Path) -> dict:
    results: dict = {}
    for name in args.servers:
        if name not in LATENCY_SERVERS:
            continue
        e2e.log(f"-- latency: {LABELS[name]}")
        server = start(name, outdir)
        try:
            result = results[name] = {"started_rss_kib": server.rss_kib()}
            result["a"] = measure(server, args)
            e2e.log(f"   a idle: {fmt_phase(result['a'])}")
            loader = client("load", server.port, args.slowloris, args.readers)
            assert loader.stdout is not None and loader.stdin is not None
            ready = loader.stdout.readline().split()
            began = time.monotonic()
            result["ready_readers"] = int(ready[1]) if len(ready) == 2 else 0
            result["loaded_rss_kib"] = server.rss_kib()
            result["loaded_fds"] = server.fds()
            result["b"] = measure(server, args, sample_peak=True)
            result["b_seconds"] = time.monotonic() - began
            e2e.log(f"   b load: {fmt_phase(result['b'])}")
            loader.stdin.write("stop\n")
            loader.stdin.flush()
            result["load"] = json.loads(loader.stdout.readline())
            loader.wait(30)
            base = result["a"]["fds"] + 2
            deadline = time.monotonic() + 15
            while server.fds() > base and time.monotonic() < deadline:
                time.sleep(0.2)
            result["after_load_fds"] = server.fds()
            result["c"] = measure(server, args)
            e2e.log(f"   c after: {fmt_phase(result['c'])}")
            e2e.log("   load: " + json.dumps(result["load"]))
        finally:
            server.stop()
    return results


def fmt_phase(p: dict) -> str:
    text = (
        f"p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms, p99.9 {p['p99.9_ms']:.2f} ms, "
        f"max {p['max_ms']:.1f} ms, "
        f"{p['requests']} requests, {p['errors']} errors, RSS {p['rss_kib'] / 1024:.1f} MiB, "
        f"{p['fds']} fds, kernel TCP buffers {p['tcp_kernel_kib'] / 1024:.1f} MiB"
    )
    if "peak_rss_kib" in p:
        text += (
            f" (peak RSS {p['peak_rss_kib'] / 1024:.1f} MiB, {p['peak_fds']} fds, kernel TCP "
            f"{p['peak_tcp_kernel_kib'] / 1024:.1f} MiB)"
        )
    return text


# --------------------------------------------------------------------------- part: memory


def open_idle(
    port: int, count: int, kind: str, socks: list[socket.socket] | None = None
) -> list[socket.socket]:
    """`count` idle connections of `kind`, appended to `socks` (kept on failure, to close)."""
    socks = [] if socks is None else socks
    for _ in range(count):
        if kind == "websocket":
            sock, _ = ws_handshake(port)
        else:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if kind == "request":
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                read_hello(sock, bytearray())
        socks.append(sock)
    return socks


def ws_handshake(port: int) -> tuple[socket.socket, object]:
    import ws  # bench/e2e/ws.py: the hand-made handshake

    return ws.handshake(port)


def memory_part(args: argparse.Namespace, outdir: Path) -> list[dict]:
    rows = []
    for count in args.idle:
        for name in args.servers:
            if name not in MEMORY_SERVERS:
                continue
            kinds = ["request", "fresh"] + (["websocket"] if name == "sailfish" else [])
            for kind in kinds:
                app = WS_APP if kind == "websocket" else APP
                server = start(name, outdir, app=app, idle=True, tag=f"-{kind}-{count}")
                row = {"server": name, "kind": kind, "connections": count}
                try:
                    warm_kind = "websocket" if kind == "websocket" else "request"
                    for sock in open_idle(server.port, 10, warm_kind):
                        sock.close()
                    time.sleep(1.0)
                    before = server.rss_kib()
                    socks: list[socket.socket] = []
                    try:
                        socks = open_idle(server.port, count, kind, socks)
                        time.sleep(1.0)  # let the server finish what each connection started
                        after = server.rss_kib()
                        row |= {"before_kib": before, "after_kib": after, "fds": server.fds()}
                        row["kib_per_conn"] = (after - before) / count
                    except (OSError, RuntimeError) as exc:
                        row["failed"] = f"{type(exc).__name__} after {len(socks)} connections"
                    finally:
                        for sock in socks:
                            sock.close()
                finally:
                    server.stop()
                rows.append(row)
                if "failed" in row:
                    e2e.log(f"-- memory: {LABELS[name]:20} {kind:9} x{count}: {row['failed']}")
                    continue
                e2e.log(
                    f"-- memory: {LABELS[name]:20} {kind:9} x{count}: "
                    f"{row['kib_per_conn']:.1f} KiB/connection "
                    f"(RSS {row['before_kib'] / 1024:.1f} -> {row['after_kib'] / 1024:.1f} MiB, "
                    f"{row['fds']} fds)"
                )
    return rows


# --------------------------------------------------------------------------- report


def report(args: argparse.Namespace, command: str, latency: dict, memory: list[dict]) -> str:
    lines = [f"    {command}", ""]
    if latency:
        lines += [
            f"Latency part: normal client at "
            f"{f'{args.rate:g} req/s' if args.rate > 0 else 'back-to-back requests'}, "
            f"{args.phase:g} s per phase; "
            f"load: {args.slowloris} trickling + {args.readers} slow readers.",
            "",
            "| server | phase | p50 ms | p99 ms | max ms | requests | errors | RSS MiB | fds "
            "| kernel TCP buffers MiB (machine) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, r in latency.items():
            for phase, title in (("a", "a idle"), ("b", "b slow peers"), ("c", "c after")):
                p = r[phase]
                rss = f"{p['rss_kib'] / 1024:.1f}"
                fds = str(p["fds"])
                tcp = f"{p['tcp_kernel_kib'] / 1024:.1f}"
                if "peak_rss_kib" in p:
                    rss += f" (peak {p['peak_rss_kib'] / 1024:.1f})"
                    fds += f" (peak {p['peak_fds']})"
                    tcp += f" (peak {p['peak_tcp_kernel_kib'] / 1024:.1f})"
                lines.append(
                    f"| {LABELS[name]} | {title} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | "
                    f"{p['max_ms']:.1f} | {p['requests']} | {p['errors']} | {rss} | {fds} | {tcp} |"
                )
        lines += [
            "",
            "| server | p99(b) / p99(a) | p99(c) / p99(a) | trickling connections | slow readers |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        for name, r in latency.items():
            s = r["load"]["slowloris"]
            closed = "; ".join(
                f"{v['count']} {kind!r} after {v['median_s']:.1f} s (max {v['max_s']:.1f})"
                for kind, v in sorted(s["closed"].items())
            )
            still = (
                f"{s['open_at_stop']} open at the end (oldest {s['open_at_stop_max_age_s']:.0f} s)"
            )
            rd = r["load"]["readers"]
            readers = (
                f"{rd['ready']} answered, {rd['received'] / 2**20:.1f} MiB read in all, "
                f"{rd['closed_by_server']} closed by the server"
            )
            lines.append(
                f"| {LABELS[name]} | {r['b']['p99_ms'] / r['a']['p99_ms']:.2f} | "
                f"{r['c']['p99_ms'] / r['a']['p99_ms']:.2f} | {closed or 'none closed'}; {still} | "
                f"{readers} |"
            )
    if memory:
        lines += [
            "",
            "Memory per idle connection: (RSS after - RSS before) / N on a fresh server.",
            "",
            "| server | kind | N | KiB per connection | RSS before -> after MiB | fds |",
            "| --- | --- | ---: | ---: | --- | ---: |",
        ]
        for row in memory:
            if "failed" in row:
                lines.append(
                    f"| {LABELS[row['server']]} | {row['kind']} | {row['connections']} | "
                    f"failed: {row['failed']} | | |"
                )
                continue
            lines.append(
                f"| {LABELS[row['server']]} | {row['kind']} | {row['connections']} | "
                f"{row['kib_per_conn']:.1f} | {row['before_kib'] / 1024:.1f} -> "
                f"{row['after_kib'] / 1024:.1f} | {row['fds']} |"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        sys.exit(f"error: RLIMIT_NOFILE is {soft} (hard limit {hard}); this run needs {needed}")
    return soft


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", default="latency,memory", help="latency, memory or both")
    p.add_argument("--servers", default="sailfish,uvicorn-httptools,granian")
    p.add_argument("--phase", type=float, default=20.0, help="seconds per phase [20]")
    p.add_argument(
        "--rate", type=float, default=200.0, help="normal client req/s; 0: back to back [200]"
    )
    p.add_argument("--slowloris", type=int, default=1000, help="trickling connections [1000]")
    p.add_argument("--readers", type=int, default=1000, help="slow readers [1000]")
    p.add_argument("--idle", default="1000,5000", help="idle connection counts [1000,5000]")
    p.add_argument("--quick", action="store_true", help="5 s phases, 1,000 idle connections")
    p.add_argument("--role", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.phase, args.idle = 5.0, "1000"
    args.part = args.part.split(",")
    args.servers = args.servers.split(",")
    args.idle = [int(n) for n in args.idle.split(",")]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.role:
        role, *rest = args.role
        if role == "latency":
            latency_client(int(rest[0]), float(rest[1]), float(rest[2]))
        else:
            import uvloop

            uvloop.run(load(int(rest[0]), int(rest[1]), int(rest[2])))
        return 0
    needed = max(args.slowloris + args.readers, max(args.idle)) + 200
    limit = raise_fd_limit(needed)
    if not e2e.in_bench_venv():
        e2e.ensure_taskset()
        e2e.ensure_venv(False)
        os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve())] + argv)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = e2e.RESULTS_DIR / f"{stamp}-slow"
    outdir.mkdir(parents=True, exist_ok=True)
    command = "python bench/slow_peers.py " + " ".join(argv)
    e2e.log(f"RLIMIT_NOFILE {limit} (this run needs {needed}); results: {outdir.relative_to(REPO)}")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    latency = latency_part(args, outdir) if "latency" in args.part else {}
    memory = memory_part(args, outdir) if "memory" in args.part else []
    text = report(args, command.strip(), latency, memory)
    (outdir / "results.md").write_text(text)
    (outdir / "results.json").write_text(json.dumps({"latency": latency, "memory": memory}))
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
