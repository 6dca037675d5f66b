"""SIGTERM under load: lost requests and time to exit, sailfish against uvicorn and granian.

    make bench-shutdown                 # = .venv-bench/bin/python bench/shutdown.py
    ... bench/shutdown.py --servers sailfish,uvicorn --workers 1,2 --rounds 3

Strategy: each server runs bench/e2e/app_shutdown.py (peers from `.venv-bench`, see
bench/e2e/run.py; sailfish is this tree's `src/`) in its own process group, with 1 or 2
workers. The client is this process (asyncio): `--steady` keep-alive connections send "/" back
to back (a balancer's pooled upstream connections), `--idle` keep-alive connections sit idle
after one answer, and `--in-flight` connections each send one "/slow", which the app holds
until the bench creates a release file. Once every slow request is in the app (the app counts
arrivals in a file), the bench sends SIGTERM to the server's main process, waits `--hold`
seconds, releases the slow requests, and keeps the steady load going until the process exits.

Counted per run: slow requests answered whole (of `--in-flight`); requests lost (sent on a
connection and never answered whole: reset, EOF or timeout; steady and slow together);
connection attempts refused after the signal (nothing was sent: a client or balancer retries
elsewhere, so they are listed apart); how long the idle connections stayed open after the
signal (the slowest of them; a server that leaves them open closes them as it exits); and
the time from SIGTERM to the process's exit. sailfish and uvicorn get a 60 s keep-alive
timeout, so only the shutdown closes the idle connections, and a 20 s graceful timeout.
Nothing is pinned: the servers and the client share the machine's CPUs; the numbers are about
correctness and timing, not speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
E2E = HERE / "e2e"
REPO = HERE.parent
VENV = Path(os.environ.get("BENCH_VENV") or REPO / ".venv-bench").resolve()
APP = "app_shutdown:app"
QUICK = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n"
SLOW = b"GET /slow HTTP/1.1\r\nhost: bench\r\n\r\n"
SLOW_SIZE = 4096
SERVERS = ["sailfish", "uvicorn", "granian"]
EXIT_LIMIT = 30.0  # seconds after SIGTERM before the bench gives up on an exit


def command(name: str, port: int, workers: int) -> list[str]:
    py = str(VENV / "bin" / "python")
    common = ["--port", str(port), "--host", "127.0.0.1", "--no-access-log"]
    common += ["--log-level", "warning"]
    if name == "sailfish":
        cmd = [py, "-m", "sailfish", APP, "--loop", "uvloop", *common]
        cmd += ["--timeout-graceful-shutdown", "20", "--timeout-keep-alive", "60"]
        return cmd + (["--workers", str(workers)] if workers > 1 else [])
    if name == "uvicorn":
        cmd = [py, "-m", "uvicorn", APP, "--loop", "uvloop", "--http", "httptools", *common]
        cmd += ["--timeout-graceful-shutdown", "20", "--timeout-keep-alive", "60"]
        return cmd + (["--workers", str(workers)] if workers > 1 else [])
    if name == "granian":
        cmd = [str(VENV / "bin" / "granian"), "--interface", "asgi", "--workers", str(workers)]
        return [*cmd, "--loop", "uvloop", "--http", "1", "--no-ws", *common, APP]
    raise ValueError(name)


@dataclass
class Stats:
    answered: int = 0  # steady requests answered whole
    lost: int = 0  # requests sent and never answered whole
    refused: int = 0  # connects refused after the signal
    slow_ok: int = 0
    idle_closed: list[float] = field(default_factory=list)  # seconds after the signal


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """(body, server closes) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and b"close" in value.lower():
            close = True
    return await reader.readexactly(length), close


async def steady(port: int, stats: Stats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats.refused += 1
            await asyncio.sleep(0.01)
            continue
        try:
            while not stop.is_set():
                writer.write(QUICK)
                body, close = await asyncio.wait_for(read_answer(reader), 10)
                stats.answered += 1
                if close:
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            stats.lost += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def slow(port: int, stats: Stats) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(SLOW)
        body, _ = await asyncio.wait_for(read_answer(reader), EXIT_LIMIT)
        if len(body) == SLOW_SIZE:
            stats.slow_ok += 1
        else:
            stats.lost += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
        stats.lost += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def idle(port: int, stats: Stats, signalled: asyncio.Future[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(QUICK)
        await read_answer(reader)
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1), EXIT_LIMIT)  # b"": the server closed it
        stats.idle_closed.append(time.monotonic() - await signalled)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def scenario(proc: subprocess.Popen[bytes], port: int, files: Any, args: Any) -> dict:
    arrivals, release = files
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signalled: asyncio.Future[float] = loop.create_future()
    load = [asyncio.create_task(steady(port, stats, stop)) for _ in range(args.steady)]
    idlers = [asyncio.create_task(idle(port, stats, signalled)) for _ in range(args.idle)]
    await asyncio.sleep(0.5)  # the steady load runs
    slows = [asyncio.create_task(slow(port, stats)) for _ in range(args.in_flight)]
    deadline = time.monotonic() + 20
    while arrivals.stat().st_size < args.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    in_app = arrivals.stat().st_size
    begin = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    signalled.set_result(begin)
    await asyncio.sleep(args.hold)
    release.touch()
    exit_time = None
    while time.monotonic() - begin < EXIT_LIMIT:
        if proc.poll() is not None:
            exit_time = time.monotonic() - begin
            break
        await asyncio.sleep(0.005)
    stop.set()
    await asyncio.gather(*slows, *idlers, *load)
    return {
        "in_app": in_app,
        "slow_ok": stats.slow_ok,
        "answered": stats.answered,
        "lost": stats.lost,
        "refused": stats.refused,
        "idle_closed": max(stats.idle_closed) if stats.idle_closed else None,
        "exit": exit_time,
        "code": proc.returncode,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], workers: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(QUICK)
            if s.recv(100).startswith(b"HTTP/1.1 200"):
                time.sleep(2.0 if workers > 1 else 0.2)  # the other workers start
                return
        time.sleep(0.1)
    raise RuntimeError("server not ready")


def run_one(server: str, workers: int, args: Any) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-shutdown-") as tmp:
        arrivals, release = Path(tmp) / "arrivals", Path(tmp) / "release"
        arrivals.touch()
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO / "src"),
            BENCH_ARRIVALS=str(arrivals),
            BENCH_RELEASE=str(release),
        )
        proc = subprocess.Popen(
            command(server, port, workers),
            cwd=E2E,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(port, proc, workers)
            return asyncio.run(scenario(proc, port, (arrivals, release), args))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--steady", type=int, default=32, help="keep-alive connections under load")
    parser.add_argument("--idle", type=int, default=16, help="idle keep-alive connections")
    parser.add_argument("--in-flight", type=int, default=200, help="slow requests held")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds from SIGTERM to release")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not (VENV / "bin" / "python").exists():
        sys.exit(f"error: no peers venv at {VENV}: run `make bench-e2e` once (it creates it)")
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        for server in args.servers.split(","):
            for _ in range(args.rounds):
                result = run_one(server, workers, args)
                print(server, workers, result, flush=True)
                rows.append((server, workers, result))
    print()
    print(
        f"| server | workers | slow answered (of {args.in_flight}) | steady answered | lost "
        "| refused after SIGTERM | idle closed after (s) | SIGTERM to exit (s) | exit code |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for server, workers, r in rows:
        print(
            f"| {server} | {workers} | {r['slow_ok']} | {r['answered']:,} | {r['lost']} "
            f"| {r['refused']:,} | {cell(r['idle_closed'])} | {cell(r['exit'])} | {r['code']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
