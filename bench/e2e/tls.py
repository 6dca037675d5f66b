"""TLS cost: sailfish against uvicorn + httptools, the same certificate, wrk over https.

    python bench/e2e/tls.py                       # 3 interleaved rounds x 5 s
    python bench/e2e/tls.py --rounds 2 --duration 3 --markdown
    python bench/e2e/tls.py --baseline ../other-tree --case handshake   # before/after

Strategy: one self-signed certificate (ECDSA P-256, made by the `openssl` command in a temp
dir) serves both servers, each one process pinned to CPU 0 (`taskset -c 0`), uvloop, access log
off; wrk runs on CPU 1 against `https://127.0.0.1:PORT/` (the raw app of app.py, "Hello,
world!"). Three cases: **request** (keep-alive: the TLS record cost of a request),
**handshake** (`Connection: close`: every request is a new TCP connection and a full TLS
handshake; wrk does not resume sessions), and **close, no TLS** (the same against a second,
plain-HTTP instance of each server: what a new connection costs without the handshake). Around
each wrk run the server's CPU time is read from /proc, giving server CPU µs per request; ratios
are to uvicorn in the same round, and the median over rounds is printed. Run it with the
interpreter that has uvicorn, httptools and uvloop (the repo's .venv: the `test` group), after
`make compile`; sailfish is the working tree's `src/`. `--baseline TREE` adds a third server,
"sailfish-baseline", run from another checkout's `src/` (built in place): a before/after
comparison measured in the same rounds. Never part of the test run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LUA = HERE / "lua"
SERVER_CPU, CLIENT_CPU = "0", "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("sailfish", "uvicorn-httptools")
CASES = {
    "request": [],
    "handshake": ["-H", "Connection: close"],
    "close, no TLS": ["-H", "Connection: close"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key)]
        + ["-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def command(name: str, port: int, cert: Path | None, key: Path | None) -> list[str]:
    tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)] if cert and key else []
    common = ["app:app", "--host", "127.0.0.1", "--port", str(port), *tls]
    if name.startswith("sailfish"):
        return [sys.executable, "-m", "sailfish", *common, "--loop", "uvloop", "--no-access-log"]
    return [sys.executable, "-m", "uvicorn", *common, "--http", "httptools", "--loop", "uvloop"] + [
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("server did not listen")


def wrk(port: int, case: str, duration: float, connections: int) -> dict[str, object]:
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s"]
    cmd += ["--timeout", "5s", *CASES[case], "-s", str(LUA / "s1_hello.lua")]
    cmd.append(f"{'http' if case.endswith('no TLS') else 'https'}://127.0.0.1:{port}/")
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=dict(os.environ, SF_LUA_DIR=str(LUA)),
        timeout=duration + 60,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("SFJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()[-300:]}")
    data: dict[str, object] = json.loads(line[len("SFJSON ") :])
    data["command"] = " ".join(cmd[3:])
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--markdown", action="store_true", help="print a RESULTS.md table")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (built in place) whose sailfish runs too, as sailfish-baseline",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=list(CASES),
        help="run only this case (repeatable); all of them by default",
    )
    args = parser.parse_args()
    cases = [case for case in CASES if case in (args.case or CASES)]
    servers = SERVERS if args.baseline is None else (*SERVERS, "sailfish-baseline")

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    baseline_env = env
    if args.baseline is not None:
        baseline_env = dict(env, PYTHONPATH=str(args.baseline.resolve() / "src"))
    runs: dict[tuple[str, str], list[tuple[float, float, dict[str, object]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_certificate(Path(tmp))
        processes: dict[tuple[str, bool], tuple[subprocess.Popen[bytes], int]] = {}
        try:
            needed = {not case.endswith("no TLS") for case in cases}
            for name, secure in ((name, secure) for name in servers for secure in needed):
                port = free_port()
                files = (cert, key) if secure else (None, None)
                process = subprocess.Popen(
                    ["taskset", "-c", SERVER_CPU, *command(name, port, *files)],
                    cwd=HERE,
                    env=baseline_env if name == "sailfish-baseline" else env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                processes[(name, secure)] = (process, port)
                wait_ready(process, port)
            for _ in range(args.rounds):
                for case in cases:
                    for name in servers:
                        process, port = processes[(name, not case.endswith("no TLS"))]
                        before = cpu_seconds(process.pid)
                        data = wrk(port, case, args.duration, args.connections)
                        cpu = cpu_seconds(process.pid) - before
                        requests = int(data["requests"])  # type: ignore[call-overload]
                        seconds = int(data["duration_us"]) / 1e6  # type: ignore[call-overload]
                        runs.setdefault((case, name), []).append(
                            (cpu * 1e6 / requests, requests / seconds, data)
                        )
        finally:
            for process, _ in processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)

    rows = []
    for case in cases:
        for name in servers:
            mine = runs[(case, name)]
            peer = runs[(case, "uvicorn-httptools")]
            ratios = [m[0] / p[0] for m, p in zip(mine, peer, strict=True)]
            errors = sum(sum(r[2]["errors"].values()) for r in mine)  # type: ignore[attr-defined]
            rows.append(
                (
                    case,
                    name,
                    statistics.median(r[1] for r in mine),
                    statistics.median(r[0] for r in mine),
                    statistics.median(ratios),
                    errors,
                )
            )
    header = "| case | server | req/s | server CPU µs/req | CPU ratio to uvicorn | errors |"
    print(header)
    print("|---|---|---|---|---|---|")
    for case, name, rps, cpu, ratio, errors in rows:
        print(f"| {case} | {name} | {rps:,.0f} | {cpu:.1f} | {ratio:.2f} | {errors} |")
    if args.markdown and "handshake" in cases:
        sample = str(runs[("handshake", "sailfish")][0][2]["command"])
        sample = sample.replace(str(HERE) + "/", "").rsplit(" ", 1)[0] + " https://127.0.0.1:PORT/"
        print(f"\nwrk command (handshake case, from bench/e2e): `{sample}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
