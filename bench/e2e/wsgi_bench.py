"""WSGI benchmark: sailfish --interface wsgi against granian, gunicorn gthread, waitress and
uvicorn + a2wsgi, each one process pinned to CPU 0 with 10 app threads, wrk on CPU 1.

    python bench/e2e/wsgi_bench.py                      # 3 rounds x 5 s, W1 and W2
    python bench/e2e/wsgi_bench.py --rounds 1 --duration 3 --servers sailfish,granian

Strategy: the peers' venv, wrk, CPU accounting and the Lua summary come from run.py (same
bootstrap: this script re-executes itself in .venv-bench). Scenarios: W1 `GET /` (13 bytes),
W2 `GET /10k` (10 KiB), both answered by bench/e2e/wsgi_app.py with a Content-Length. Rounds
are interleaved (every server in turn per scenario) and the report gives, per scenario and
server, the median req/s and server CPU µs per request, and their ratios to granian and to
gunicorn gthread measured in the same round.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as e2e  # noqa: E402

THREADS = "10"
WSGI_PEERS = ["gunicorn", "waitress", "a2wsgi"]
SCENARIOS = {"W1": ("WSGI hello GET /", "/"), "W2": ("WSGI 10 KiB GET /10k", "/10k")}
SERVERS = [
    "sailfish",
    "sailfish-middleware",
    "granian",
    "gunicorn-gthread",
    "waitress",
    "uvicorn-a2wsgi",
]
LABELS = {
    "sailfish": "sailfish --interface wsgi",
    "sailfish-middleware": "sailfish + sailfish.wsgi.WSGIMiddleware",
    "granian": "granian --interface wsgi",
    "gunicorn-gthread": "gunicorn -k gthread",
    "waitress": "waitress",
    "uvicorn-a2wsgi": "uvicorn (httptools) + a2wsgi",
}


def command(name: str, port: int) -> list[str]:
    py = str(e2e.VENV_PY)
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    quiet = ["--no-access-log", "--log-level", "warning"]
    if name == "sailfish":
        return [
            py,
            "-m",
            "sailfish",
            "wsgi_app:app",
            *bind,
            "--interface",
            "wsgi",
            "--wsgi-threads",
            THREADS,
            "--loop",
            "uvloop",
            *quiet,
        ]
    if name == "sailfish-middleware":
        return [py, "-m", "sailfish", "wsgi_app:mounted", *bind, "--loop", "uvloop", *quiet]
    if name == "granian":
        return [
            str(e2e.VENV / "bin" / "granian"),
            "--interface",
            "wsgi",
            *bind,
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--blocking-threads",
            THREADS,
            "--http",
            "1",
            "--no-ws",
            "--no-access-log",
            "--log-level",
            "warning",
            "wsgi_app:app",
        ]
    if name == "gunicorn-gthread":
        return [
            py,
            "-m",
            "gunicorn",
            "-k",
            "gthread",
            "--threads",
            THREADS,
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi_app:app",
        ]
    if name == "waitress":
        return [
            str(e2e.VENV / "bin" / "waitress-serve"),
            f"--threads={THREADS}",
            f"--listen=127.0.0.1:{port}",
            "wsgi_app:app",
        ]
    if name == "uvicorn-a2wsgi":
        return [
            py,
            "-m",
            "uvicorn",
            "wsgi_app:asgi",
            *bind,
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    raise ValueError(name)


class Server(e2e.Server):
    def start(self) -> None:
        cmd = ["taskset", "-c", e2e.SERVER_CPU] + command(self.name, self.port)
        self.cmd = cmd
        out = open(self.logfile, "wb")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            cmd,
            cwd=e2e.HERE,
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()


def wrk(server: Server, path: str, duration: float, connections: int) -> tuple[float, float]:
    """(req/s, server CPU µs per request) of one wrk run."""
    script = e2e.LUA / "s1_hello.lua"
    cmd = [
        "taskset",
        "-c",
        e2e.CLIENT_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{server.port}{path}",
    ]
    before = server.cpu()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        env=dict(os.environ, SF_LUA_DIR=str(e2e.LUA)),
    )
    after = server.cpu()
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SFJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip()[-300:]}")
    data = json.loads(line[len("SFJSON ") :])
    errors = sum(data["errors"].values())
    if errors:
        print(f"  note: {server.name} {path}: {data['errors']}")
    requests = data["requests"]
    seconds = data["duration_us"] / 1e6
    return requests / seconds, (after - before) * 1e6 / max(requests, 1)


def report(results: dict[tuple[str, str], list[tuple[float, float]]], names: list[str]) -> str:
    """The markdown table: medians, and medians of per-round ratios to granian and gunicorn."""

    def ratio(scenario: str, name: str, peer: str, index: int) -> str:
        if peer not in names:
            return "-"
        pairs = zip(results[(scenario, name)], results[(scenario, peer)], strict=True)
        return f"{statistics.median(a[index] / b[index] for a, b in pairs):.2f}"

    lines = [
        "| scenario | server | req/s | CPU µs/req | CPU/req vs granian | req/s vs gunicorn |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, (title, _) in SCENARIOS.items():
        for name in names:
            runs = results[(scenario, name)]
            rps = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            lines.append(
                f"| {scenario} {title} | {LABELS[name]} | {rps:,.0f} | {cpu:.1f} "
                f"| {ratio(scenario, name, 'granian', 1)} "
                f"| {ratio(scenario, name, 'gunicorn-gthread', 0)} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args(argv)
    if not e2e.in_bench_venv():
        e2e.ensure_wrk()
        e2e.ensure_taskset()
        e2e.ensure_venv(False)
        pip = [str(e2e.VENV_PY), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *WSGI_PEERS], check=True)
        os.execv(str(e2e.VENV_PY), [str(e2e.VENV_PY), __file__, *argv])
    names = args.servers.split(",")
    logdir = e2e.RESULTS_DIR / ("wsgi-" + _dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    logdir.mkdir(parents=True, exist_ok=True)
    servers = [Server(n, e2e.free_port(), logdir / f"{n}.log") for n in names]
    try:
        for server in servers:
            server.start()
        for server in servers:
            if not server.wait_ready():
                raise SystemExit(f"{server.name} did not start:\n{server.log_tail()}")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_no in range(args.rounds):
            for scenario, (_, path) in SCENARIOS.items():
                for server in servers:
                    wrk(server, path, 1.0, args.connections)  # warm-up, not counted
                    rps, cpu = wrk(server, path, args.duration, args.connections)
                    results.setdefault((scenario, server.name), []).append((rps, cpu))
                    print(
                        f"round {round_no + 1} {scenario} {server.name}: {rps:,.0f} req/s, "
                        f"{cpu:.1f} µs CPU/req",
                        flush=True,
                    )
    finally:
        for server in servers:
            server.stop()
    print()
    print(report(results, names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
