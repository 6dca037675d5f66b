"""Floods against one server process: connection storms, --limit-concurrency, deep pipelines,
and tiny WebSocket frames. Bounded memory, clear 503s, nothing crashes; measured, not asserted.

    make bench-floods                   # = .venv-bench/bin/python bench/floods.py
    .venv-bench/bin/python bench/floods.py --servers sailfish,uvicorn --floods pipeline --quick
    ... bench/floods.py --baseline-src ../before --servers sailfish-base,sailfish   # before/after

Strategy: each server runs `bench/e2e/flood_app.py` alone (one worker, uvloop, no access log),
started fresh per flood in its own process group; sailfish is this tree's `src/` (PYTHONPATH),
uvicorn (httptools, websockets-sansio) and granian come from `.venv-bench` (bench/e2e/run.py
makes it). The load comes from other processes on 127.0.0.1 (blocking sockets in threads, or
asyncio), always bounded in count and time. Around each flood a sampler reads the server's
RSS (VmRSS of its process group) every 20 ms: before, peak, and 1 s after the load; and a
normal client sends one keep-alive GET every 10 ms, whose p99 latency (and errors) say whether
the server kept serving. Floods:

- connect: 10,000 connection attempts (4 processes x 500 in flight, RLIMIT_NOFILE raised),
  each `GET /` with `connection: close`: served, refused, reset, timed out; with the default
  listen backlog and with `--backlog 128`.
- limit: `--limit-concurrency 50` and 300 simultaneous `GET /slow?t=1`: answers by status,
  whether every 503 closed its connection, and how many requests reached the app and ran at
  once (the app counts). granian has no 503 limit; its `--backpressure 50` queues instead.
- pipeline: 20 connections each send 10,000 pipelined GETs in one write; the client reads
  at once (read), only after 3 s (noread), or 4 KiB every 5 ms (slowread). Every response
  must arrive, in order.
- ws-tiny / ws-frag / ws-ping / ws-spew (20 connections, 4 s): 1-byte frames at an app that
  reads one message per ms; a fragmented message of 0-byte continuations without end;
  pings whose pongs are never read; a client that never reads while the app sends 1 KiB
  messages. The client never reads in any of them.

Prints a markdown table per flood; paste into bench/RESULTS.md with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
E2E = HERE / "e2e"
REPO = HERE.parent
VENV = Path(os.environ.get("BENCH_VENV") or REPO / ".venv-bench").resolve()
APP = "flood_app:app"
SERVERS = ["sailfish", "uvicorn", "granian"]
BASELINE_SRC: Path | None = None  # --baseline-src: the tree `sailfish-base` runs
FLOODS = ["connect", "limit", "pipeline", "ws-tiny", "ws-frag", "ws-ping", "ws-spew"]
TIMEOUT = 10.0
LIMIT = 50


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the server ------------------------------------------------------------------------------


def command(name: str, port: int, extra: list[str]) -> list[str]:
    py = str(VENV / "bin" / "python")
    host = ["--host", "127.0.0.1", "--port", str(port)]
    if name.startswith("sailfish"):
        return [py, "-m", "sailfish", APP, *host, "--loop", "uvloop", "--no-access-log"] + [
            "--log-level",
            "error",
            *extra,
        ]
    if name == "uvicorn":
        return [py, "-m", "uvicorn", APP, *host, "--loop", "uvloop", "--http", "httptools"] + [
            "--ws",
            "websockets-sansio",
            "--no-access-log",
            "--log-level",
            "error",
            *extra,
        ]
    if name == "granian":
        return [str(VENV / "bin" / "granian"), "--interface", "asgi", *host] + [
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--no-access-log",
            "--log-level",
            "error",
            *extra,
            APP,
        ]
    raise ValueError(name)


class Server:
    def __init__(self, name: str, extra: list[str], logdir: Path) -> None:
        self.name = name
        self.port = free_port()
        env = dict(os.environ)
        if name.startswith("sailfish"):
            tree = BASELINE_SRC if name == "sailfish-base" else REPO
            assert tree is not None, "sailfish-base needs --baseline-src"
            env["PYTHONPATH"] = str(tree / "src")
            env["SAILFISH_REQUIRE_EXTENSIONS"] = "1"
        self.log = logdir / f"{name}.log"
        out = open(self.log, "ab")  # noqa: SIM115 - closed when the process ends
        self.cmd = command(name, self.port, extra)
        self.proc = subprocess.Popen(
            self.cmd, cwd=E2E, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET /up HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    if sock.recv(100).startswith(b"HTTP/1.1 200"):
                        time.sleep(0.5)
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} did not start: {self.log}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                pgid = int(stat.rsplit(")", 1)[1].split()[2])
                if pgid != self.proc.pid:
                    continue
                for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                continue
        return total

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _normal_client(port: int, flooding: Any, stopping: Any, out: Any) -> None:
    """One keep-alive GET every 10 ms, in its own process (the flood's client threads would
    otherwise hold the GIL it needs); sends back (idle latencies, flood latencies, errors)."""
    sock: socket.socket | None = None
    request = b"GET /normal HTTP/1.1\r\nHost: a\r\n\r\n"
    idle: list[float] = []
    during: list[float] = []
    errors = 0
    while not stopping.is_set():
        begin = time.perf_counter()
        busy = flooding.is_set()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(request)
            data = b""
            while not data.endswith(b"/normal"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise ConnectionError(data[:40])
            (during if busy else idle).append(time.perf_counter() - begin)
        except OSError:
            if busy:
                errors += 1
            if sock is not None:
                sock.close()
            sock = None
        time.sleep(0.01)
    if sock is not None:
        sock.close()
    out.put((idle, during, errors))


class Watch:
    """RSS samples (a thread) and a normal keep-alive client (a process) while a flood runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rss: list[int] = []
        self.latencies: list[float] = []
        self.idle: list[float] = []
        self.errors = 0
        self.stopping = threading.Event()
        self.flooding = multiprocessing.Event()
        self.client_stop = multiprocessing.Event()
        self.results: Any = multiprocessing.Queue()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.client = multiprocessing.Process(
            target=_normal_client,
            args=(server.port, self.flooding, self.client_stop, self.results),
            daemon=True,
        )

    def __enter__(self) -> Watch:
        self.sampler.start()
        self.client.start()
        time.sleep(1.0)  # idle latency and RSS before
        self.before = self.server.rss_kib()
        self.flooding.set()
        return self

    def __exit__(self, *exc: object) -> None:
        self.flooding.clear()
        time.sleep(1.0)
        self.after = self.server.rss_kib()
        self.stopping.set()
        self.client_stop.set()
        self.sampler.join(5)
        self.idle, self.latencies, self.errors = self.results.get(timeout=20)
        self.client.join(5)

    def _sample(self) -> None:
        while not self.stopping.is_set():
            if self.flooding.is_set():
                self.rss.append(self.server.rss_kib())
            time.sleep(0.02)

    def columns(self) -> list[str]:
        peak = max(self.rss, default=self.before)
        return [
            f"{self.before / 1024:.0f} / {peak / 1024:.0f} / {self.after / 1024:.0f}",
            f"{p99(self.idle):.1f} / {p99(self.latencies):.1f}",
            f"{len(self.latencies)} ok, {self.errors} err",
        ]


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


WATCH_HEADER = ["RSS MiB before / peak / after", "normal p99 ms idle / during", "normal GETs"]


# -- connect: 10,000 attempts ----------------------------------------------------------------


async def _attempts(port: int, count: int, parallel: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    gate = asyncio.Semaphore(parallel)
    request = b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

    async def one() -> None:
        async with gate:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), TIMEOUT
                )
                writer.write(request)
                data = await asyncio.wait_for(reader.read(), TIMEOUT)
                kind = data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "empty"
            except ConnectionRefusedError:
                kind = "refused"
            except (ConnectionResetError, BrokenPipeError):
                kind = "reset"
            except asyncio.TimeoutError:
                kind = "timeout"
            except OSError as exc:
                kind = f"errno {exc.errno}"
            finally:
                if writer is not None:
                    writer.close()
            counts[kind] = counts.get(kind, 0) + 1

    await asyncio.gather(*(one() for _ in range(count)))
    return counts


def _attempts_process(port: int, count: int, parallel: int, out: Any) -> None:
    raise_nofile()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    out.put(asyncio.run(_attempts(port, count, parallel)))


def flood_connect(name: str, logdir: Path, quick: bool) -> list[list[str]]:
    rows = []
    total = 2000 if quick else 10_000
    procs = 4
    for backlog in (None, 128):
        extra = [] if backlog is None else ["--backlog", str(backlog)]
        server = Server(name, extra, logdir)
        try:
            queue: Any = multiprocessing.Queue()
            with Watch(server) as watch:
                begin = time.monotonic()
                workers = [
                    multiprocessing.Process(
                        target=_attempts_process, args=(server.port, total // procs, 500, queue)
                    )
                    for _ in range(procs)
                ]
                for worker in workers:
                    worker.start()
                counts: dict[str, int] = {}
                for _ in workers:
                    for key, value in queue.get(timeout=120).items():
                        counts[key] = counts.get(key, 0) + value
                for worker in workers:
                    worker.join(10)
                seconds = time.monotonic() - begin
            outcome = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
            rows.append(
                [
                    name,
                    "default" if backlog is None else str(backlog),
                    str(total),
                    f"{outcome} ({seconds:.1f} s)",
                    *watch.columns(),
                    "yes" if server.alive() else "**DIED**",
                ]
            )
        finally:
            server.stop()
    return rows


CONNECT_HEADER = ["server", "backlog", "attempts", "outcomes", *WATCH_HEADER, "alive"]


# -- limit: --limit-concurrency 50 ---------------------------------------------------------


def _slow_request(port: int, results: list[tuple[str, bool]], lock: threading.Lock) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /slow?t=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            status = data[9:12].decode()
            head = data.split(b"\r\n\r\n", 1)[0].lower()
            closed = False
            if status != "200":
                # The connection must end after the answer: read to EOF, bounded.
                sock.settimeout(3)
                try:
                    while sock.recv(4096):
                        pass
                    closed = True
                except TimeoutError:
                    closed = False
                closed = closed and b"connection: close" in head
            kind = status
    except (ConnectionResetError, BrokenPipeError):
        kind, closed = "reset", False
    except TimeoutError:
        kind, closed = "timeout", False
    except OSError as exc:
        kind, closed = f"err {exc.errno}", False
    with lock:
        results.append((kind, closed))


def flood_limit(name: str, logdir: Path, quick: bool) -> list[list[str]]:
    extra = (
        ["--backpressure", str(LIMIT)] if name == "granian" else ["--limit-concurrency", str(LIMIT)]
    )
    total = 100 if quick else 300
    server = Server(name, extra, logdir)
    try:
        results: list[tuple[str, bool]] = []
        lock = threading.Lock()
        with Watch(server) as watch:
            threads = [
                threading.Thread(target=_slow_request, args=(server.port, results, lock))
                for _ in range(total)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        counts: dict[str, int] = {}
        for kind, _ in results:
            counts[kind] = counts.get(kind, 0) + 1
        refused = [closed for kind, closed in results if kind not in ("200",)]
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /arrived HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        arrived, most = data.rsplit(b"\r\n\r\n", 1)[1].split()
        return [
            [
                name,
                " ".join(extra),
                str(total),
                ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
                f"{sum(refused)} of {len(refused)}",
                f"{int(arrived)} / {int(most)}",
                *watch.columns(),
                "yes" if server.alive() else "**DIED**",
            ]
        ]
    finally:
        server.stop()


LIMIT_HEADER = [
    "server",
    "setting",
    "requests",
    "answers",
    "non-200 closed",
    "reached app / at once",
    *WATCH_HEADER,
    "alive",
]


# -- pipeline: 10,000 requests in one write ------------------------------------------------

PIPELINE = 10_000


def _pipeline_client(port: int, mode: str, count: int, out: list[str], lock: threading.Lock):
    payload = b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(count))
    last = b"\r\n\r\n/%d" % (count - 1)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            data = bytearray()
            # One write; it blocks while the server does not read (it must not, if the client
            # does not read its answers either).
            sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
            sender.start()
            if mode == "noread":
                time.sleep(3)
            while not data.endswith(last):
                chunk = sock.recv(4096 if mode == "slowread" else 1 << 20)
                if not chunk:
                    break
                data += chunk
                if mode == "slowread":
                    time.sleep(0.005)
            sender.join(5)
            paths = re.findall(rb"\r\n\r\n(/\d+)", bytes(data))
            ok = paths == [b"/%d" % i for i in range(count)]
            kind = "in order" if ok else f"{len(paths)} answers, out of order or missing"
    except OSError as exc:
        kind = f"error {exc!r}"
    with lock:
        out.append(kind)


def flood_pipeline(name: str, logdir: Path, quick: bool) -> list[list[str]]:
    rows = []
    connections = 5 if quick else 20
    for mode in ("read", "noread", "slowread"):
        server = Server(name, [], logdir)
        try:
            results: list[str] = []
            lock = threading.Lock()
            with Watch(server) as watch:
                begin = time.monotonic()
                threads = [
                    threading.Thread(
                        target=_pipeline_client,
                        args=(server.port, mode, PIPELINE, results, lock),
                    )
                    for _ in range(connections)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(120)
                seconds = time.monotonic() - begin
            counts: dict[str, int] = {}
            for kind in results:
                counts[kind] = counts.get(kind, 0) + 1
            rows.append(
                [
                    name,
                    mode,
                    f"{connections} x {PIPELINE}",
                    ", ".join(f"{k}: {v}" for k, v in counts.items()) + f" ({seconds:.1f} s)",
                    *watch.columns(),
                    "yes" if server.alive() else "**DIED**",
                ]
            )
        finally:
            server.stop()
    return rows


PIPELINE_HEADER = ["server", "client", "requests", "outcomes", *WATCH_HEADER, "alive"]


# -- WebSocket floods ------------------------------------------------------------------------

MASK = b"\x01\x02\x03\x04"


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + MASK + masked


def ws_open(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(
        b"GET %s HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        % path.encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head[:40])
    return sock


WS_LOADS = {
    # flood: (path, first bytes, repeated bytes)
    "ws-tiny": ("/slow", b"", frame(0x2, b"x") * 2048),
    "ws-frag": ("/", frame(0x2, b"", fin=False), frame(0x0, b"", fin=False) * 2048),
    "ws-ping": ("/", b"", frame(0x9, b"") * 2048),
    "ws-spew": ("/spew", b"", b""),
}


def _ws_client(port: int, flood: str, seconds: float, out: list[str], lock: threading.Lock):
    path, first, batch = WS_LOADS[flood]
    sent = 0
    blocked = 0
    outcome = "ok"
    try:
        sock = ws_open(port, path)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(0.5)
        end = time.monotonic() + seconds
        if first:
            sock.sendall(first)
        while time.monotonic() < end:
            if not batch:
                time.sleep(0.05)
                continue
            try:
                sock.sendall(batch)
                sent += len(batch)
            except TimeoutError:
                blocked += 1  # the server stopped reading: expected
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError as exc:
        outcome = f"error {exc.__class__.__name__}"
    with lock:
        out.append(f"{outcome} {sent} {blocked}")


def flood_ws(flood: str):
    def run(name: str, logdir: Path, quick: bool) -> list[list[str]]:
        connections = 5 if quick else 20
        seconds = 2.0 if quick else 4.0
        server = Server(name, [], logdir)
        try:
            results: list[str] = []
            lock = threading.Lock()
            with Watch(server) as watch:
                threads = [
                    threading.Thread(
                        target=_ws_client, args=(server.port, flood, seconds, results, lock)
                    )
                    for _ in range(connections)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(seconds + 30)
            outcomes: dict[str, int] = {}
            sent = blocked = 0
            for line in results:
                outcome, count, stalls = line.rsplit(" ", 2)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                sent += int(count)
                blocked += int(stalls)
            return [
                [
                    name,
                    f"{connections} x {seconds:g} s",
                    f"{sent / 1e6:.1f} MB",
                    str(blocked),
                    ", ".join(f"{k}: {v}" for k, v in outcomes.items()),
                    *watch.columns(),
                    "yes" if server.alive() else "**DIED**",
                ]
            ]
        finally:
            server.stop()

    return run


WS_HEADER = [
    "server",
    "load",
    "client sent",
    "0.5 s send stalls",
    "clients",
    *WATCH_HEADER,
    "alive",
]

RUNNERS: dict[str, tuple[Any, list[str]]] = {
    "connect": (flood_connect, CONNECT_HEADER),
    "limit": (flood_limit, LIMIT_HEADER),
    "pipeline": (flood_pipeline, PIPELINE_HEADER),
    **{name: (flood_ws(name), WS_HEADER) for name in WS_LOADS},
}


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--floods", default=",".join(FLOODS))
    parser.add_argument("--quick", action="store_true", help="smaller floods (a smoke test)")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another sailfish tree (built in place), served as `sailfish-base`",
    )
    args = parser.parse_args()
    global BASELINE_SRC
    BASELINE_SRC = args.baseline_src.resolve() if args.baseline_src else None
    raise_nofile()  # the servers inherit it
    logdir = REPO / "build" / "floods"
    logdir.mkdir(parents=True, exist_ok=True)
    print(f"# Floods ({time.strftime('%Y-%m-%d %H:%M')}), {sys.version.split()[0]}", flush=True)
    for flood in args.floods.split(","):
        runner, header = RUNNERS[flood]
        rows = []
        for name in args.servers.split(","):
            try:
                rows += runner(name, logdir, args.quick)
            except Exception as exc:  # noqa: BLE001 - one server's failure is a row
                rows.append([name, f"**failed: {exc!r}**"] + [""] * (len(header) - 2))
        print(f"\n## {flood}\n\n{table(header, rows)}", flush=True)


if __name__ == "__main__":
    main()
