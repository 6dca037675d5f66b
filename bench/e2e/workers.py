"""Worker processes: load spread across 2 workers, and failed requests during restarts.

    make bench-workers                  # = .venv-bench/bin/python bench/e2e/workers.py
    BENCH_VENV=path/to/.venv-bench path/to/.venv-bench/bin/python bench/e2e/workers.py
    ... bench/e2e/workers.py --servers sailfish,uvicorn --scenarios sighup --duration 3

Strategy: every server runs `app_pid:app` (each answer is the answering worker's pid) with 2
workers, started once per scenario in its own process group; sailfish is this tree's `src/`
(PYTHONPATH), the peers come from `.venv-bench` (see run.py). The client is in this process:
asyncio keep-alive connections that count, per worker pid, the connections (by the pid of a
connection's first answer) and the requests, and count as failed every request that got no
complete answer (reset, EOF, timeout) and every refused connect; a `connection: close` answer
just reconnects. Scenarios:

- balance: C persistent connections for D seconds; spread = busiest / quietest worker
  (with --rounds N, N fresh servers; the table shows the worst round and lists them all).
- churn: as balance, but each connection closes after 10 requests (thousands of accepts).
- sighup: 32 connections; three SIGHUPs to the server's main process, 3 s apart.
- recycle: 32 connections until the workers were replaced three times (new pids seen):
  sailfish `--max-requests`, uvicorn `--limit-max-requests`; granian has no request limit,
  so its nearest recycle, `--workers-max-rss 1` (every RSS sample exceeds 1 MiB), stands in.

Nothing is pinned: 2 workers plus the client share the machine's 2 CPUs, so the numbers are
about correctness and spread, not speed. Results print as a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = Path(os.environ.get("BENCH_VENV") or REPO / ".venv-bench").resolve()
APP = "app_pid:app"
WORKERS = 2
STARTUP = 2.0  # seconds after the first answer before the load starts
RECYCLE_REQUESTS = 3000
REQUEST = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n"
SERVERS = ["sailfish", "sailfish-reuseport", "uvicorn", "granian"]
SCENARIOS = ["balance", "churn", "sighup", "recycle"]


def command(name: str, port: int, recycle: bool) -> list[str]:
    py = str(VENV / "bin" / "python")
    common = ["--port", str(port), "--host", "127.0.0.1", "--no-access-log"]
    common += ["--log-level", "warning"]
    if name.startswith("sailfish"):
        cmd = [py, "-m", "sailfish", APP, "--workers", str(WORKERS), "--loop", "uvloop", *common]
        if name == "sailfish-reuseport":
            cmd.append("--reuse-port")
        if recycle:
            cmd += ["--max-requests", str(RECYCLE_REQUESTS), "--max-requests-jitter", "300"]
        return cmd
    if name == "uvicorn":
        cmd = [py, "-m", "uvicorn", APP, "--workers", str(WORKERS), "--loop", "uvloop", *common]
        cmd += ["--http", "httptools"]
        if recycle:
            cmd += ["--limit-max-requests", str(RECYCLE_REQUESTS)]
        return cmd
    if name == "granian":
        cmd = [str(VENV / "bin" / "granian"), "--interface", "asgi", "--workers", str(WORKERS)]
        cmd += ["--loop", "uvloop", "--http", "1", "--no-ws", *common]
        if recycle:
            cmd += ["--workers-max-rss", "1", "--rss-sample-interval", "2s"]
        return [*cmd, APP]
    raise ValueError(name)


@dataclass
class Stats:
    connections: collections.Counter[int] = field(default_factory=collections.Counter)
    requests: collections.Counter[int] = field(default_factory=collections.Counter)
    failed: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(pid, server closes) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and b"close" in value.lower():
            close = True
    body = await reader.readexactly(length)
    return int(body), close


async def client(port: int, stats: Stats, stop: asyncio.Event, per_connection: int) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats.refused += 1
            await asyncio.sleep(0.01)
            continue
        first = True
        try:
            done = 0
            while not stop.is_set():
                writer.write(REQUEST)
                pid, close = await asyncio.wait_for(read_answer(reader), 5)
                stats.requests[pid] += 1
                if first:
                    stats.connections[pid] += 1
                    first = False
                done += 1
                if close or done == per_connection:
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            stats.failed += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def spread(counter: collections.Counter[int]) -> float:
    values = list(counter.values())
    if len(values) < WORKERS:
        return float("inf")
    return max(values) / max(min(values), 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(REQUEST)
            if s.recv(100).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.1)
    raise RuntimeError("server not ready")


async def scenario(name: str, proc: subprocess.Popen[bytes], port: int, args: Any) -> dict:
    stats = Stats()
    stop = asyncio.Event()
    clients = args.connections if name in ("balance", "churn") else 32
    per_connection = 10 if name == "churn" else 0
    tasks = [asyncio.create_task(client(port, stats, stop, per_connection)) for _ in range(clients)]
    await asyncio.sleep(1.0)  # warm up: every connection has its worker
    result: dict = {}
    if name in ("balance", "churn"):
        if name == "balance":
            stats.requests.clear()  # connections were counted while they were made
        await asyncio.sleep(args.duration)
    elif name == "sighup":
        for _ in range(3):
            os.kill(proc.pid, signal.SIGHUP)
            await asyncio.sleep(3.0)
        await asyncio.sleep(1.0)
    elif name == "recycle":
        deadline = time.monotonic() + 60
        while len(stats.requests) < WORKERS + 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*tasks)
    result.update(
        requests=stats.total,
        failed=stats.failed + stats.refused,
        pids=len(stats.requests),
        conn_spread=spread(stats.connections),
        req_spread=spread(stats.requests),
        connections=sum(stats.connections.values()),
    )
    return result


def run_one(server: str, name: str, args: Any) -> dict:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(
        command(server, port, name == "recycle"),
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(port, proc)
        time.sleep(STARTUP)  # the first answer came from one worker; let the others start
        return asyncio.run(scenario(name, proc, port, args))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat balance and churn; report the worst round"
    )
    args = parser.parse_args()
    if not (VENV / "bin" / "python").exists():
        sys.exit(f"error: no peers venv at {VENV}: run `make bench-e2e` once (it creates it)")
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    rows = []
    for name in args.scenarios.split(","):
        rounds = args.rounds if name in ("balance", "churn") else 1
        for server in args.servers.split(","):
            results = []
            for _ in range(rounds):
                results.append(run_one(server, name, args))
                print(name, server, results[-1], flush=True)
            worst = max(results, key=lambda r: (r["conn_spread"], r["failed"]))
            worst["failed"] = sum(r["failed"] for r in results)
            worst["requests"] = sum(r["requests"] for r in results)
            worst["connections"] = sum(r["connections"] for r in results)
            worst["rounds"] = [round(r["conn_spread"], 2) for r in results]
            rows.append((name, server, worst))
    print()
    print("| scenario | server | requests | failed | worker pids seen | connections |", end="")
    print(" busiest/quietest (connections), worst round | busiest/quietest (requests) |", end="")
    print(" connections spread, each round |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, server, r in rows:
        balanced = name in ("balance", "churn")
        conn = f"{r['conn_spread']:.2f}" if balanced else "–"
        req = f"{r['req_spread']:.2f}" if balanced else "–"
        print(
            f"| {name} | {server} | {r['requests']:,} | {r['failed']} | {r['pids']} "
            f"| {r['connections']:,} | {conn} | {req} "
            f"| {' '.join(map(str, r['rounds'])) if balanced else '–'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
