"""End-to-end benchmark: sailfish against its peers, each one worker pinned to CPU 0, wrk on CPU 1.

    make bench-e2e                                   # 3 rounds x 10 s, every server and scenario
    make bench-e2e BENCH_E2E_ARGS=--quick            # 2 rounds x 3 s, smoke test
    python bench/e2e/run.py --servers sailfish,uvicorn-httptools --scenarios S1,S4 --rounds 5
    BENCH_VENV=$PWD/.venv-bench-3.12 python3.12 bench/e2e/run.py   # under another Python
                                     # (build the extensions in place with it first)
    python bench/e2e/run.py --baseline-src ../sailfish-before   # before/after in one run: adds
                                     # sailfish-base, uvicorn-sailfish-base (PYTHONPATH=DIR/src)

Strategy: the script bootstraps itself with the standard library only (wrk from apt when it is
missing and apt is usable; a separate venv `.venv-bench` holding the peers, with the repo's
`src/` put on its path by a .pth file so `python -m sailfish` runs the tree as built in place by
`make compile`), then re-executes itself inside `.venv-bench`. It starts every server once (its
own process group, pinned with `taskset -c 0`, access logs off, keep-alive on), checks each
server's answer to every scenario with a real HTTP request (status and body), then runs
interleaved rounds: for each round, for each scenario, every server in turn, so drift on a
shared machine hits all servers alike. One run is `taskset -c 1 wrk -t1 -cN -dD` with a Lua
script whose done() prints the summary and latency percentiles as JSON; around it the server's
CPU time (utime+stime of every process in its process group, from /proc/<pid>/stat) is read, so
each run yields req/s, p50/p99 latency and server CPU microseconds per request. Ratios are taken
against uvicorn + httptools in the same round, then the median over rounds is reported. The
results go to bench/e2e/results/ (JSON + markdown), a chart of the CPU ratios to a PNG, and with
--append-results to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
# BENCH_VENV: another peers venv, e.g. to measure under another Python (run this script with it).
VENV = Path(os.environ.get("BENCH_VENV") or REPO / ".venv-bench").resolve()
VENV_PY = VENV / "bin" / "python"
LUA = HERE / "lua"
S2_FILE = BENCH / "s2_browser.http"
RESULTS_DIR = HERE / "results"
RESULTS_MD = BENCH / "RESULTS.md"
DEFAULT_CHART = HERE / "cpu_ratio.png"

PEERS = [
    "uvicorn",
    "httptools",
    "h11",
    "granian",
    "hypercorn",
    "uvloop",
    "click",
    "matplotlib",
    "fastapi",  # S6 only, never a dependency of sailfish
    # the WebSocket benchmark (ws.py): uvicorn's two protocols, picows (the ceiling and the
    # load client, compiled by Cython with setuptools at setup)
    "websockets",
    "wsproto",
    "picows",
    "cython",
    "setuptools",
]
PEERS_STAMP = VENV / ".peers-stamp"

SERVER_CPU = "0"
CLIENT_CPU = "1"
HELLO = b"Hello, world!"
STREAM_BODY = b"Hello, world!\n" * 10
S3_SIZE = 4096
PIPELINE = 16
REFERENCE = "uvicorn-httptools"

SCENARIOS = {
    "S1": ("hello-world GET", "s1_hello.lua"),
    "S2": ("717-byte browser GET", "s2_browser.lua"),
    "S3": ("POST 4 KiB, read fully", "s3_post.lua"),
    "S4": (f"pipelined x{PIPELINE} GET", "s4_pipeline.lua"),
    "S5": ("streamed 10 body messages (chunked)", "s5_stream.lua"),
    "S6": ("FastAPI JSON, path + query parameter", "s6_fastapi.lua"),
}
# The ASGI app (module:attribute, cwd bench/e2e) each scenario runs. A server runs one app, so
# every server is started once per app the chosen scenarios need: S1-S5 never load FastAPI.
RAW_APP = "app:app"
SCENARIO_APP = {"S6": "app_fastapi:app"}
APP_LABELS = {"app_fastapi:app": "FastAPI app"}
S6_PATH = "/items/42?q=abc"
S6_BODY = b'{"item_id":42,"q":"abc"}'

# (scenario, limit vs uvicorn+httptools (<=), limit vs granian (<)) on server CPU per request.
GOALS = {
    "S1": (0.45, 0.6),
    "S2": (0.40, 0.6),
    "S3": (0.45, 0.35),
    "S4": (0.20, 0.3),
    "S5": (0.25, 0.35),
}
CEILING_GOAL = ("S1", 1.5)  # sailfish CPU/request within 1.5x of the raw uvloop ceiling

SERVER_ORDER = [
    "sailfish",
    "sailfish-base",  # with --baseline-src only, as is the next -base
    "uvicorn-sailfish",
    "uvicorn-sailfish-base",
    "uvicorn-httptools",
    "uvicorn-h11",
    "granian",
    "hypercorn",
    "ceiling",
]
SERVER_LABELS = {
    "sailfish": "sailfish",
    "sailfish-base": "sailfish (baseline)",
    "uvicorn-sailfish": "uvicorn + sailfish protocol",
    "uvicorn-sailfish-base": "uvicorn + sailfish protocol (baseline)",
    "uvicorn-httptools": "uvicorn + httptools",
    "uvicorn-h11": "uvicorn + h11",
    "granian": "granian",
    "hypercorn": "hypercorn",
    "ceiling": "raw uvloop ceiling",
}
CEILING_SCENARIOS = {"S1", "S2", "S4"}  # its canned answer is only right for these
# --baseline-src DIR: these run the same command as their twin, with PYTHONPATH=DIR/src.
BASELINE_OF = {"sailfish-base": "sailfish", "uvicorn-sailfish-base": "uvicorn-sailfish"}
SAILFISH_SERVERS = {"sailfish", "uvicorn-sailfish"} | set(BASELINE_OF)


def server_command(name: str, port: int, app: str = RAW_APP) -> list[str]:
    name = BASELINE_OF.get(name, name)
    py = str(VENV_PY)
    host = "127.0.0.1"
    uvicorn = [py, "-m", "uvicorn", app, "--host", host, "--port", str(port)]
    uvicorn += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    if name == "sailfish":
        return [
            py,
            "-m",
            "sailfish",
            app,
            "--host",
            host,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if name == "uvicorn-sailfish":
        return uvicorn + ["--http", "sailfish.uvicorn:HTTPProtocol"]
    if name == "uvicorn-httptools":
        return uvicorn + ["--http", "httptools"]
    if name == "uvicorn-h11":
        return uvicorn + ["--http", "h11"]
    if name == "granian":
        return [
            str(VENV / "bin" / "granian"),
            "--interface",
            "asgi",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--no-ws",
            "--no-access-log",
            "--log-level",
            "warning",
            app,
        ]
    if name == "hypercorn":
        return [
            py,
            "-m",
            "hypercorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            "1",
            "--worker-class",
            "uvloop",
            "--log-level",
            "warning",
            app,
        ]
    if name == "ceiling":
        return [py, str(HERE / "ceiling.py"), "--host", host, "--port", str(port)]
    raise ValueError(name)


# --------------------------------------------------------------------------- bootstrap


def log(msg: str) -> None:
    print(msg, flush=True)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        log("wrk is missing: apt-get install -y wrk")
        cmd = [apt, "install", "-y", "wrk"]
        if subprocess.run(cmd, check=False).returncode != 0:
            subprocess.run([apt, "update"], check=False)
            subprocess.run(cmd, check=False)
    if not shutil.which("wrk"):
        sys.exit(
            "error: wrk is not installed and could not be installed here; install the Debian "
            "package `wrk` (sudo apt-get install -y wrk) or put wrk on PATH, then rerun"
        )


def ensure_taskset() -> None:
    if not shutil.which("taskset"):
        sys.exit("error: taskset (util-linux) is required to pin the server and wrk to CPUs")
    if (os.cpu_count() or 1) < 2:
        sys.exit("error: this benchmark needs 2 CPUs (server on CPU 0, wrk on CPU 1)")


def ensure_venv(profile: bool) -> None:
    peers = PEERS + (["py-spy"] if profile else [])
    wanted = "\n".join(sorted(peers))
    if not VENV_PY.exists():
        log(f"creating {VENV.relative_to(REPO)} (peers never go into the runtime dependencies)")
        # From inside a venv, `-m venv` builds on the base interpreter: same Python as .venv,
        # so the extension compiled in place by `make compile` loads in .venv-bench too.
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    have = PEERS_STAMP.read_text() if PEERS_STAMP.exists() else ""
    if not set(wanted.split("\n")) <= set(have.split("\n")):
        log(f"installing peers into {VENV.relative_to(REPO)}: {' '.join(peers)}")
        pip = [str(VENV_PY), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + peers, check=True)
        PEERS_STAMP.write_text("\n".join(sorted(set(peers) | set(have.split("\n")) - {""})))
    site = subprocess.run(
        [str(VENV_PY), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    pth = Path(site) / "sailfish-src.pth"
    src = str(REPO / "src")
    if not pth.exists() or pth.read_text().strip() != src:
        pth.write_text(src + "\n")


def in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """utime+stime (and reaped children's) of every live process in the process group."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = proc_stat(int(entry))
        if fields is None or int(fields[2]) != pgid:
            continue
        # after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        #            utime stime cutime cstime
        ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


@dataclass
class Server:
    name: str
    port: int
    logfile: Path
    app: str = RAW_APP
    wanted: set[str] = field(default_factory=set)  # the scenarios this instance is started for
    env: dict[str, str] = field(default_factory=dict)  # on top of os.environ (PYTHONPATH)
    src: Path | None = None  # sailfish servers: the src/ whose sailfish the process must load
    proc: subprocess.Popen | None = None
    error: str | None = None
    scenarios: set[str] = field(default_factory=set)  # those whose check passed
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        app = APP_LABELS.get(self.app, self.app)
        return SERVER_LABELS[self.name] + ("" if self.app == RAW_APP else f" / {app}")

    def start(self) -> None:
        cmd = ["taskset", "-c", SERVER_CPU] + server_command(self.name, self.port, self.app)
        self.cmd = cmd
        out = open(self.logfile, "wb")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            cmd,
            cwd=HERE,
            env=dict(os.environ, **self.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return True
            time.sleep(0.1)
        return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.logfile.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def cpu(self) -> float:
        assert self.proc is not None
        return group_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # children left in the group (workers) get the same treatment
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def sailfish_env(src: Path) -> dict[str, str]:
    """The environment (on top of os.environ) that makes a process import sailfish from src.

    PYTHONPATH comes before site-packages on sys.path, hence before the directories that
    .venv-bench's sailfish-src.pth appends (the working tree's src/). cwd is bench/e2e, which
    holds no sailfish package.
    """
    if src.resolve() == (REPO / "src").resolve():
        return {}  # the .pth file already does it
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}


def sailfish_modules(pgid: int, srcs: list[Path]) -> list[Path]:
    """The compiled sailfish modules mapped by the processes of a group, from any of srcs.

    /proc/<pid>/maps names every shared object a live process has loaded, so this tells what
    the running server really imported, whatever its sys.path said.
    """
    roots = [(src / "sailfish").resolve() for src in srcs]
    found: set[Path] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = proc_stat(int(entry))
        if fields is None or int(fields[2]) != pgid:
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{entry}/maps").read_text().splitlines():
                parts = line.split(None, 5)
                if len(parts) < 6 or not parts[5].startswith("/"):
                    continue
                path = Path(parts[5].removesuffix(" (deleted)"))
                if path.suffix in (".so", ".pyd") and any(path.is_relative_to(r) for r in roots):
                    found.add(path)
    return sorted(found)


def sailfish_srcs(args: argparse.Namespace) -> list[Path]:
    """Every place a server could import sailfish from: the trees and .venv-bench itself."""
    import sysconfig

    paths = sysconfig.get_paths()
    srcs = [REPO / "src", Path(paths["purelib"]), Path(paths["platlib"])]
    return srcs + ([args.baseline_src / "src"] if args.baseline_src else [])


def check_sailfish_code(server: Server, srcs: list[Path]) -> str:
    """Raise CheckError unless the server runs compiled sailfish from server.src only."""
    assert server.proc is not None and server.src is not None
    want = (server.src / "sailfish").resolve()
    mods = sailfish_modules(server.proc.pid, srcs + [server.src])
    wrong = [m for m in mods if not m.is_relative_to(want)]
    if wrong:
        raise CheckError(
            f"loaded sailfish from elsewhere than {want}: {', '.join(map(str, wrong))}"
        )
    if not mods:
        raise CheckError(
            f"no compiled sailfish module from {want} is loaded (build it in place with the "
            f"Python of {VENV.name}: cd {server.src.parent} && python setup.py build_ext --inplace)"
        )
    return f"{want}: " + ", ".join(str(m.relative_to(want)) for m in mods)


# --------------------------------------------------------------------------- checks


class CheckError(Exception):
    pass


def _recv_more(sock: socket.socket, buf: bytearray) -> None:
    data = sock.recv(65536)
    if not data:
        raise CheckError("connection closed before the response was complete")
    buf += data


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buf:
        _recv_more(sock, buf)
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise CheckError(f"bad status line {head[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                _recv_more(sock, buf)
            end = buf.index(b"\r\n")
            size = int(bytes(buf[:end]).split(b";")[0], 16)
            del buf[: end + 2]
            if size == 0:
                while not buf.startswith(b"\r\n"):  # trailers, then the final CRLF
                    while b"\r\n" not in buf:
                        _recv_more(sock, buf)
                    if buf.startswith(b"\r\n"):
                        break
                    del buf[: buf.index(b"\r\n") + 2]
                del buf[:2]
                return status, headers, bytes(body)
            while len(buf) < size + 2:
                _recv_more(sock, buf)
            body += buf[:size]
            del buf[: size + 2]
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(buf) < size:
            _recv_more(sock, buf)
        body = bytes(buf[:size])
        del buf[:size]
        return status, headers, body
    raise CheckError("response has neither content-length nor chunked framing")


def expect(status: int, body: bytes, want: bytes, what: str) -> None:
    if status != 200:
        raise CheckError(f"{what}: status {status}, want 200")
    if body != want:
        raise CheckError(f"{what}: body {body[:60]!r} ({len(body)} bytes), want {want[:60]!r}")


def check_scenario(port: int, scenario: str) -> str:
    """One real exchange per scenario (two on one connection for S1: keep-alive)."""
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    get = b"GET / HTTP/1.1\r\n" + host + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        buf = bytearray()
        if scenario == "S1":
            for i in range(2):
                sock.sendall(get)
                status, _, body = read_response(sock, buf)
                expect(status, body, HELLO, f"GET / #{i + 1} on one connection")
        elif scenario == "S2":
            sock.sendall(S2_FILE.read_bytes())
            status, _, body = read_response(sock, buf)
            expect(status, body, HELLO, "S2 browser request")
        elif scenario == "S3":
            sock.sendall(
                b"POST /upload HTTP/1.1\r\n" + host + b"Content-Type: application/octet-stream\r\n"
                b"Content-Length: 4096\r\n\r\n" + b"x" * S3_SIZE
            )
            status, _, body = read_response(sock, buf)
            expect(status, body, str(S3_SIZE).encode(), "POST /upload")
        elif scenario == "S4":
            sock.sendall(get * PIPELINE)
            for i in range(PIPELINE):
                status, _, body = read_response(sock, buf)
                expect(status, body, HELLO, f"pipelined response {i + 1}/{PIPELINE}")
        elif scenario == "S5":
            sock.sendall(b"GET /stream HTTP/1.1\r\n" + host + b"\r\n")
            status, headers, body = read_response(sock, buf)
            if "chunked" not in headers.get("transfer-encoding", ""):
                raise CheckError("GET /stream: response not chunked")
            expect(status, body, STREAM_BODY, "GET /stream")
        elif scenario == "S6":
            sock.sendall(f"GET {S6_PATH} HTTP/1.1\r\n".encode() + host + b"\r\n")
            status, headers, body = read_response(sock, buf)
            if headers.get("content-type") != "application/json":
                raise CheckError(f"GET {S6_PATH}: content-type {headers.get('content-type')!r}")
            expect(status, body, S6_BODY, f"GET {S6_PATH}")
        if buf:
            raise CheckError(f"{len(buf)} unexpected bytes after the response(s)")
    return "ok"


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    round: int
    scenario: str
    server: str
    requests: int
    duration_s: float
    rps: float
    cpu_s: float
    cpu_us_per_req: float
    latency_us: dict
    errors: dict
    wrk_cmd: str


def run_wrk(
    server: Server, scenario: str, duration: float, connections: int, round_no: int, logdir: Path
) -> Run:
    script = LUA / SCENARIOS[scenario][1]
    cmd = [
        "taskset",
        "-c",
        CLIENT_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{server.port}/",
    ]
    env = dict(os.environ, SF_LUA_DIR=str(LUA), SF_S2_FILE=str(S2_FILE), SF_PIPELINE=str(PIPELINE))
    before = server.cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
    after = server.cpu()
    with open(logdir / "wrk.log", "a") as f:
        f.write(f"### round {round_no} {scenario} {server.name}\n$ {' '.join(cmd)}\n")
        f.write(proc.stdout + proc.stderr + "\n")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SFJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    data = json.loads(line[len("SFJSON ") :])
    requests = data["requests"]
    dur = data["duration_us"] / 1e6
    cpu = after - before
    return Run(
        round=round_no,
        scenario=scenario,
        server=server.name,
        requests=requests,
        duration_s=dur,
        rps=requests / dur if dur else 0.0,
        cpu_s=cpu,
        cpu_us_per_req=cpu * 1e6 / requests if requests else float("inf"),
        latency_us=data["latency_us"],
        errors=data["errors"],
        wrk_cmd=" ".join(cmd[3:]).replace(str(REPO) + "/", ""),
    )


# --------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[Run], servers: list[str], scenarios: list[str]) -> dict:
    by = {(r.round, r.scenario, r.server): r for r in runs}
    rounds = sorted({r.round for r in runs})
    table: dict = {}
    for sc in scenarios:
        for sv in servers:
            mine = [by[(rd, sc, sv)] for rd in rounds if (rd, sc, sv) in by]
            if not mine:
                continue

            def ratio(attr: str, other: str, mine=mine, sc=sc) -> float:
                vals = []
                for r in mine:
                    ref = by.get((r.round, sc, other))
                    if ref and getattr(ref, attr) > 0:
                        vals.append(getattr(r, attr) / getattr(ref, attr))
                return median(vals)

            table[(sc, sv)] = {
                "rps": median([r.rps for r in mine]),
                "rps_ratio": ratio("rps", REFERENCE),
                "p50_ms": _latency_ms(mine, "p50"),
                "p99_ms": _latency_ms(mine, "p99"),
                "cpu_us": median([r.cpu_us_per_req for r in mine]),
                "cpu_ratio": ratio("cpu_us_per_req", REFERENCE),
                "cpu_vs_granian": ratio("cpu_us_per_req", "granian"),
                "cpu_vs_ceiling": ratio("cpu_us_per_req", "ceiling"),
                "rps_vs_ceiling": ratio("rps", "ceiling"),
                # --baseline-src: this tree / the baseline tree (NaN for servers without one)
                "cpu_vs_base": ratio("cpu_us_per_req", sv + "-base"),
                "rps_vs_base": ratio("rps", sv + "-base"),
                "non2xx": sum(r.errors["status"] for r in mine),
                "socket_errors": sum(
                    r.errors[k] for r in mine for k in ("connect", "read", "write", "timeout")
                ),
                "rounds": len(mine),
            }
    return table


def _latency_ms(runs: list[Run], key: str) -> float:
    """Median over rounds; NaN when wrk reported 0 in any round.

    wrk 4 "corrects" its latency histogram for coordinated omission with an interval of
    duration / (responses / connections); with pipelining it counts 16 responses per recorded
    batch, puts synthetic samples below the recorded minimum and percentile() then finds no rank
    and returns 0. Such a figure is not a latency, so it is shown as a dash.
    """
    vals = [r.latency_us[key] for r in runs]
    if not vals or min(vals) <= 0:
        return float("nan")
    return median(vals) / 1000


def fmt(x: float, spec: str = ".2f") -> str:
    return "–" if x != x else format(x, spec)  # NaN -> dash


def markdown_table(table: dict, servers: list[str], scenarios: list[str]) -> str:
    out = []
    for sc in scenarios:
        out.append(f"\n**{sc}: {SCENARIOS[sc][0]}**\n")
        out.append(
            "| server | req/s (median) | req/s ratio | p50 ms | p99 ms | "
            "server CPU µs/req | CPU ratio | non-2xx | socket errors |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for sv in servers:
            row = table.get((sc, sv))
            if row is None:
                continue
            out.append(
                f"| {SERVER_LABELS[sv]} | {row['rps']:,.0f} | {fmt(row['rps_ratio'])} | "
                f"{fmt(row['p50_ms'])} | {fmt(row['p99_ms'])} | {row['cpu_us']:.1f} | "
                f"{fmt(row['cpu_ratio'])} | {row['non2xx']} | {row['socket_errors']} |"
            )
    return "\n".join(out)


def compact_table(table: dict, servers: list[str], scenarios: list[str]) -> str:
    """One line per server: CPU µs/request (ratio to uvicorn+httptools) per scenario."""
    head = "| server | " + " | ".join(f"{sc} µs/req (ratio)" for sc in scenarios) + " |"
    out = [head, "| --- |" + " ---: |" * len(scenarios)]
    for sv in servers:
        cells = []
        for sc in scenarios:
            row = table.get((sc, sv))
            cells.append("–" if row is None else f"{row['cpu_us']:.1f} ({fmt(row['cpu_ratio'])})")
        out.append(f"| {SERVER_LABELS[sv]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def before_after_table(table: dict, servers: list[str], scenarios: list[str]) -> str:
    """--baseline-src: per scenario, each sailfish server of this tree against the baseline's."""
    pairs = [(twin, base) for base, twin in BASELINE_OF.items() if {twin, base} <= set(servers)]
    head = "| scenario |"
    rule = "| --- |"
    for twin, _ in pairs:
        name = SERVER_LABELS[twin]
        head += f" {name}: CPU µs/req before → after | CPU after/before | req/s after/before |"
        rule += " ---: | ---: | ---: |"
    out = [head, rule]
    for sc in scenarios:
        cells = [sc]
        for twin, base in pairs:
            now, before = table.get((sc, twin)), table.get((sc, base))
            if now is None or before is None:
                cells += ["–", "–", "–"]
                continue
            cells += [
                f"{before['cpu_us']:.1f} → {now['cpu_us']:.1f}",
                f"{fmt(now['cpu_vs_base'], '.3f')}",
                f"{fmt(now['rps_vs_base'], '.3f')}",
            ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def goals_report(table: dict, scenarios: list[str]) -> list[str]:
    lines = []

    def verdict(value: float, limit: float, strict: bool) -> str:
        if value != value:
            return "not measured"
        ok = value < limit if strict else value <= limit
        if ok:
            return "met"
        return f"missed by {value - limit:.2f} ({(value / limit - 1) * 100:+.0f}%)"

    for sc in scenarios:
        if sc not in GOALS:
            row = table.get((sc, "sailfish"))
            if row is not None:  # S6: no goal, what a FastAPI user gains
                lines.append(
                    f"- {sc} (no goal): CPU/req vs uvicorn+httptools {fmt(row['cpu_ratio'])}, "
                    f"vs granian {fmt(row['cpu_vs_granian'])}"
                )
            continue
        row = table.get((sc, "sailfish"))
        ref_limit, gr_limit = GOALS[sc]
        if row is None:
            lines.append(f"- {sc}: sailfish not measured")
            continue
        lines.append(
            f"- {sc}: CPU/req vs uvicorn+httptools {fmt(row['cpu_ratio'])} (goal ≤{ref_limit}): "
            f"{verdict(row['cpu_ratio'], ref_limit, False)}; vs granian "
            f"{fmt(row['cpu_vs_granian'])} (goal <{gr_limit}): "
            f"{verdict(row['cpu_vs_granian'], gr_limit, True)}"
        )
        if sc == CEILING_GOAL[0]:
            lim = CEILING_GOAL[1]
            lines.append(
                f"- {sc}: CPU/req vs raw uvloop ceiling {fmt(row['cpu_vs_ceiling'])} "
                f"(goal ≤{lim}x): {verdict(row['cpu_vs_ceiling'], lim, False)} "
                f"(req/s vs ceiling {fmt(row['rps_vs_ceiling'])})"
            )
    return lines


def sailfish_tree(root: Path) -> tuple[str, str]:
    """(`python -m sailfish --version` run from root/src, the git commit of root)."""
    sf = subprocess.run(
        [str(VENV_PY), "-m", "sailfish", "--version"],
        capture_output=True,
        text=True,
        cwd=HERE,
        env=dict(os.environ, **sailfish_env(root / "src")),
    )
    version = (sf.stdout or sf.stderr).strip().removeprefix("sailfish ")
    git = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    commit = git.stdout.strip() or "not a git checkout"
    return version, commit + (" + uncommitted changes" if dirty.stdout else "")


def versions(servers: list[Server], baseline: Path | None = None) -> dict:
    from importlib import metadata

    v: dict = {"python": platform.python_version() + " " + platform.python_implementation()}
    peers = ["uvicorn", "httptools", "h11", "granian", "hypercorn", "uvloop"]
    for pkg in peers + ["fastapi", "starlette", "pydantic"]:
        with contextlib.suppress(metadata.PackageNotFoundError):
            v[pkg] = metadata.version(pkg)
    v["sailfish"], v["sailfish_tree"] = sailfish_tree(REPO)
    if baseline is not None:
        v["sailfish_base"], v["sailfish_base_tree"] = sailfish_tree(baseline)
        v["sailfish_base_tree"] += f" at {baseline}"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    v["wrk"] = (wrk.stdout + wrk.stderr).strip().splitlines()[0].split(" Copyright")[0]
    v["wrk"] = v["wrk"].removeprefix("wrk ")
    return v


def machine() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release()}


def make_chart(
    table: dict, servers: list[str], scenarios: list[str], path: Path, title: str
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no chart")
        return False
    shown = [sv for sv in servers if any((sc, sv) in table for sc in scenarios)]
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    width = 0.8 / max(len(shown), 1)
    for i, sv in enumerate(shown):
        xs, ys = [], []
        for j, sc in enumerate(scenarios):
            row = table.get((sc, sv))
            if row is not None and row["cpu_ratio"] == row["cpu_ratio"]:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(row["cpu_ratio"])
        bars = ax.bar(xs, ys, width, label=SERVER_LABELS[sv])
        for b, y in zip(bars, ys, strict=True):
            ax.annotate(
                f"{y:.2f}",
                (b.get_x() + b.get_width() / 2, y),
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    for j, sc in enumerate(scenarios):
        if sc in GOALS:
            ax.hlines(
                GOALS[sc][0],
                j - 0.45,
                j + 0.45,
                colors="red",
                linewidth=1.2,
                linestyles=":",
                label="sailfish goal" if j == 0 else None,
            )
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels([f"{sc}\n{SCENARIOS[sc][0]}" for sc in scenarios], fontsize=8)
    ax.set_ylabel("server CPU per request, relative to uvicorn + httptools (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=2)
    ax.set_ylim(
        0,
        max(
            [1.2]
            + [r["cpu_ratio"] * 1.15 for r in table.values() if r["cpu_ratio"] == r["cpu_ratio"]]
        ),
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- profile


def profile(
    server: Server, scenarios: list[str], duration: float, connections: int, outdir: Path
) -> list[str]:
    """py-spy on the server during extra (unmeasured) wrk runs; returns summary lines."""
    pyspy = VENV / "bin" / "py-spy"
    lines = []
    for sc in scenarios:
        raw = outdir / f"pyspy-{server.name}-{sc}.txt"
        base = [
            "taskset",
            "-c",
            CLIENT_CPU,
            str(pyspy),
            "record",
            "--pid",
            str(server.proc.pid),
            "--duration",
            str(int(duration)),
            "--rate",
            "200",
            "--native",
            "--format",
            "raw",
            "-o",
            str(raw),
        ]
        # --native needs py-spy to pause the process per sample (this run is not measured);
        # raw = collapsed stacks: feed them to flamegraph.pl or speedscope for a picture
        spy = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        try:
            run_wrk(server, sc, duration, connections, 0, outdir)
        finally:
            try:
                _, err = spy.communicate(timeout=duration + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
                err = b"timed out"
        if not raw.exists():
            lines.append(f"{sc}: py-spy produced nothing: {err.decode(errors='replace')[-300:]}")
            continue
        self_t: dict[str, int] = {}
        incl: dict[str, int] = {}
        total = 0
        for ln in raw.read_text().splitlines():
            stack, _, n = ln.rpartition(" ")
            if not n.isdigit():
                continue
            count = int(n)
            total += count
            frames = [re.sub(r":\d+\)$", ")", fr) for fr in stack.split(";")]
            leaf = frames[-1]
            self_t[leaf] = self_t.get(leaf, 0) + count
            for fr in set(frames):
                incl[fr] = incl.get(fr, 0) + count
        lines.append(f"{sc} ({total} samples; raw stacks {raw.relative_to(REPO)}):")
        lines.append("  top self time:")
        for fr, n in sorted(self_t.items(), key=lambda kv: -kv[1])[:12]:
            lines.append(f"    {100 * n / total:5.1f}%  {fr}")
        lines.append("  top inclusive (below the event loop):")
        inner = {fr: n for fr, n in incl.items() if n < 0.97 * total}
        for fr, n in sorted(inner.items(), key=lambda kv: -kv[1])[:12]:
            lines.append(f"    {100 * n / total:5.1f}%  {fr}")
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run [10]")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds [3]")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 rounds x 3 s")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list [S1..S6]")
    p.add_argument(
        "--servers",
        default=",".join(s for s in SERVER_ORDER if s not in BASELINE_OF),
        help="comma list [all; the -base ones come with --baseline-src]",
    )
    p.add_argument("--connections", type=int, default=64, help="wrk connections [64]")
    p.add_argument("--warmup", type=float, default=1.0, help="S1 seconds per server first [1]")
    p.add_argument(
        "--chart",
        type=Path,
        default=None,
        help="PNG of the CPU ratios [the run's results folder; bench/e2e/cpu_ratio.png, which "
        "README.md shows, with --append-results]",
    )
    p.add_argument(
        "--append-results",
        action="store_true",
        help="append the markdown section to bench/RESULTS.md",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="after the rounds, py-spy sailfish during extra S1 and S4 runs",
    )
    p.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        metavar="DIR",
        help="also run sailfish-base and uvicorn-sailfish-base from DIR/src (a sailfish checkout "
        "built in place) and report after/before ratios",
    )
    p.add_argument("--check-only", action="store_true", help="start, check, stop")
    p.add_argument("--no-setup", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.quick:
        a.rounds, a.duration = 2, 3.0
    a.scenarios = [s.strip().upper() for s in a.scenarios.split(",") if s.strip()]
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in a.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s}; choose from {', '.join(SCENARIOS)}")
    for s in a.servers:
        if s not in SERVER_ORDER:
            p.error(f"unknown server {s}; choose from {', '.join(SERVER_ORDER)}")
    if a.baseline_src is None:
        if set(a.servers) & set(BASELINE_OF):
            p.error(f"{', '.join(BASELINE_OF)} need --baseline-src DIR")
    else:
        a.baseline_src = a.baseline_src.resolve()
        pkg = a.baseline_src / "src" / "sailfish"
        if not (pkg / "__init__.py").is_file():
            p.error(f"--baseline-src: {pkg}/__init__.py not found (DIR is a sailfish checkout)")
        if not any(pkg.rglob("*.so")) and not any(pkg.rglob("*.pyd")):
            p.error(
                f"--baseline-src: no compiled module in {pkg}; build it in place first: "
                f"cd {a.baseline_src} && python setup.py build_ext --inplace"
            )
        # each baseline server right after its twin, so the two are measured back to back
        for base, twin in BASELINE_OF.items():
            if twin in a.servers and base not in a.servers:
                a.servers.insert(a.servers.index(twin) + 1, base)
    if a.rounds < 1 or a.duration < 1:
        p.error("--rounds >= 1 and --duration >= 1")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not in_bench_venv():
        ensure_wrk()
        ensure_taskset()
        ensure_venv(args.profile)
        os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve())] + argv)
    return bench(args, argv)


def bench(args: argparse.Namespace, argv: list[str]) -> int:
    if args.profile and not (VENV / "bin" / "py-spy").exists():
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "py-spy"], check=False)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = RESULTS_DIR / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    command = "python bench/e2e/run.py " + " ".join(argv) if argv else "make bench-e2e"
    notes: list[str] = []

    servers: list[Server] = []
    for name in args.servers:
        src = None
        env: dict[str, str] = {}
        if name in SAILFISH_SERVERS:
            src = args.baseline_src / "src" if name in BASELINE_OF else REPO / "src"
            env = sailfish_env(src)
            # Where this environment imports sailfish from (the running server is checked too).
            code = "import sailfish; print(sailfish.__file__)"
            if "uvicorn" in name:
                code += "; from sailfish.uvicorn import HTTPProtocol"
            probe = subprocess.run(
                [str(VENV_PY), "-c", code],
                capture_output=True,
                text=True,
                cwd=HERE,
                env=dict(os.environ, **env),
            )
            label = SERVER_LABELS[name]
            if probe.returncode != 0:
                why = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
                notes.append(f"{label} skipped: {why}")
                log("SKIP " + notes[-1])
                continue
            log(f"code  {label:<52} imports {probe.stdout.strip()}")
        apps: dict[str, set[str]] = {}
        for sc in args.scenarios:
            if name == "ceiling" and sc not in CEILING_SCENARIOS:
                continue
            apps.setdefault(SCENARIO_APP.get(sc, RAW_APP), set()).add(sc)
        for app, wanted in apps.items():
            suffix = "" if app == RAW_APP else "-" + app.partition(":")[0]  # -app_fastapi
            log_path = outdir / f"server-{name}{suffix}.log"
            servers.append(
                Server(name, free_port(), log_path, app=app, wanted=wanted, env=env, src=src)
            )

    def cleanup(*_: object) -> None:
        for s in servers:
            s.stop()

    def on_signal(signum: int, _frame: object) -> None:
        cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return _bench(args, servers, notes, outdir, command)
    finally:
        cleanup()


def _bench(args, servers: list[Server], notes: list[str], outdir: Path, command: str) -> int:
    log(f"results: {outdir.relative_to(REPO)}")
    for s in servers:
        s.start()
    for s in servers:
        if not s.wait_ready():
            s.error = "did not start"
            notes.append(f"{s.label}: did not start; log tail:\n{s.log_tail()}")
            log(f"FAIL {s.label}: did not start\n{s.log_tail()}")
            s.stop()
            continue
        if s.src is not None:
            try:
                log(f"code  {s.label:<52} runs {check_sailfish_code(s, sailfish_srcs(args))}")
            except CheckError as exc:
                s.error = str(exc)
                notes.append(f"{s.label}: not measured: {exc}")
                log(f"FAIL {s.label}: {exc}")
                s.stop()
                continue
        for sc in args.scenarios:
            if sc not in s.wanted:
                continue
            try:
                check_scenario(s.port, sc)
                s.scenarios.add(sc)
            except (CheckError, OSError, ValueError) as exc:
                notes.append(f"{s.label}: check {sc} failed, not measured: {exc}")
                log(f"FAIL check {s.label} {sc}: {exc}")
        log(f"check {s.label:<52} port {s.port}: ok for {','.join(sorted(s.scenarios)) or '-'}")
    ref = next((s for s in servers if s.name == REFERENCE and s.scenarios), None)
    if ref is None:
        log(f"note: the reference {REFERENCE} is not running; ratios will be empty")
    active = [s for s in servers if s.scenarios]
    if args.check_only:
        return (
            0 if all(s.scenarios == s.wanted for s in active) and len(active) == len(servers) else 1
        )

    if args.warmup > 0:
        for s in active:
            sc = "S1" if "S1" in s.scenarios else sorted(s.scenarios)[0]  # S6 for the FastAPI app
            with contextlib.suppress(Exception):
                run_wrk(s, sc, args.warmup, args.connections, 0, outdir)
    runs: list[Run] = []
    total = sum(len(s.scenarios) for s in active) * args.rounds
    done = 0
    t0 = time.monotonic()
    for rd in range(1, args.rounds + 1):
        for sc in args.scenarios:
            for s in active:
                if sc not in s.scenarios:
                    continue
                if not s.alive():
                    if s.error is None:
                        s.error = "died"
                        notes.append(f"{s.label}: server died during the run:\n{s.log_tail()}")
                        log(f"FAIL {s.label} died\n{s.log_tail()}")
                    continue
                try:
                    r = run_wrk(s, sc, args.duration, args.connections, rd, outdir)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    notes.append(f"{s.label} round {rd} {sc}: {exc}")
                    log(f"FAIL {s.label} round {rd} {sc}: {exc}")
                    continue
                runs.append(r)
                done += 1
                err = sum(r.errors.values())
                name = SERVER_LABELS[s.name]
                log(
                    f"[{done:>3}/{total}] round {rd} {sc} {name:<38} {r.rps:>10,.0f} req/s  "
                    f"p50 {r.latency_us['p50'] / 1000:6.2f} ms  p99 "
                    f"{r.latency_us['p99'] / 1000:6.2f} ms  CPU {r.cpu_us_per_req:6.1f} µs/req"
                    + (f"  errors {r.errors}" if err else "")
                )
                time.sleep(0.3)
    elapsed = time.monotonic() - t0
    stamp = outdir.name
    server_names = list(dict.fromkeys(s.name for s in active))  # one per name, in order
    table = summarize(runs, server_names, args.scenarios)
    vers = versions(servers, args.baseline_src)
    mach = machine()
    goal_lines = goals_report(table, args.scenarios)

    cmds = []
    for s in servers:
        c = " ".join([f"{k}={v}" for k, v in s.env.items()] + getattr(s, "cmd", []))
        c = c.replace(str(VENV) + "/bin/", "").replace(str(HERE), "bench/e2e")
        cmds.append(f"- {s.label}: `{c.replace(str(s.port), 'PORT')}`")
    wrk_cmd = (
        f"taskset -c {CLIENT_CPU} wrk -t1 -c{args.connections} -d{args.duration:g}s --timeout 5s "
        f"-s bench/e2e/lua/<scenario>.lua http://127.0.0.1:PORT/"
    )
    md = [
        f"## End-to-end: sailfish vs peers ({stamp})",
        "",
        f"Command: `{command}` ({args.rounds} interleaved rounds x {args.duration:g} s per "
        f"server and scenario, {args.connections} connections, {elapsed / 60:.1f} min).",
        f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}. "
        f"Server pinned to CPU {SERVER_CPU}, wrk (1 thread) to CPU {CLIENT_CPU}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".",
        "",
        "Server commands (cwd bench/e2e, each prefixed by `taskset -c 0`):",
        *cmds,
        f"- wrk: `{wrk_cmd}`",
        "",
        "Medians over rounds. Ratios are to uvicorn + httptools measured in the same round "
        "(median of per-round ratios). Server CPU µs/req = utime+stime of the server's process "
        "group over the wrk run / responses wrk counted. With S4 (pipelining) p50/p99 are per "
        "batch of 16 (a dash: wrk's coordinated-omission correction left no figure). The ceiling "
        "answers canned bytes without parsing, so it runs S1, S2, S4 only. S6 runs the FastAPI "
        "app (app_fastapi.py) in a second instance of each server.",
        "",
        "Server CPU µs per request (ratio to uvicorn + httptools):",
        "",
        compact_table(table, server_names, args.scenarios),
        markdown_table(table, server_names, args.scenarios),
        "",
        "Goals (sailfish server CPU per request, same run):",
        "",
        *goal_lines,
    ]
    if args.baseline_src is not None:
        at = md.index("Goals (sailfish server CPU per request, same run):")
        md[at:at] = [
            f"Before/after: this tree ({vers['sailfish_tree']}) against the baseline "
            f"({vers['sailfish_base_tree']}), both run by the same peers venv with the same "
            "commands; the baseline's servers import sailfish from its src/ (PYTHONPATH), each "
            "measured right after its twin. Ratios after/before are medians of per-round ratios: "
            "CPU below 1 means this tree spends less per request, req/s above 1 that it served "
            "more.",
            "",
            before_after_table(table, server_names, args.scenarios),
            "",
        ]
    if notes:
        md += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    if args.chart is None:
        # Only a recorded run replaces the chart README.md shows; a trial run keeps its own.
        args.chart = DEFAULT_CHART if args.append_results else outdir / "cpu_ratio.png"
    chart_ok = make_chart(
        table,
        server_names,
        args.scenarios,
        args.chart,
        f"server CPU per request relative to uvicorn + httptools ({stamp}, "
        f"{args.rounds}x{args.duration:g}s, 1 worker on 1 CPU)",
    )
    if chart_ok:
        with contextlib.suppress(ValueError):
            md += ["", f"Chart: `{args.chart.resolve().relative_to(REPO)}`."]

    if args.profile:
        sf = next(
            (s for s in active if s.name == "sailfish" and s.app == RAW_APP and s.alive()), None
        )
        if sf is not None:
            prof_scen = [sc for sc in ("S1", "S4") if sc in sf.scenarios]
            log("profiling sailfish with py-spy during extra runs: " + ",".join(prof_scen))
            plines = profile(sf, prof_scen, args.duration, args.connections, outdir)
            (outdir / "profile.txt").write_text("\n".join(plines) + "\n")
            log("\n".join(plines))

    text = "\n".join(md) + "\n"
    (outdir / "results.md").write_text(text)
    (outdir / "runs.json").write_text(
        json.dumps(
            {
                "command": command,
                "versions": vers,
                "machine": mach,
                "runs": [r.__dict__ for r in runs],
                "notes": notes,
            },
            indent=1,
        )
    )
    log("\n" + text)
    if args.append_results:
        prev = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
        RESULTS_MD.write_text(prev.rstrip("\n") + "\n\n" + text)
        log(f"appended to {RESULTS_MD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
