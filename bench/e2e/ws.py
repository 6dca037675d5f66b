"""WebSocket end-to-end benchmark: echo throughput and idle memory, sailfish against its peers.

    make bench-e2e                                # run.py (HTTP), then this with its defaults
    make bench-ws BENCH_WS_ARGS=--quick           # this alone, 2 rounds x 3 s
    python bench/e2e/ws.py --servers sailfish,uvicorn-websockets-sansio,picows --scenarios W1

Same rules as run.py (whose bootstrap and process handling it reuses): one worker per server
pinned to CPU 0, the load pinned to CPU 1, only 127.0.0.1, interleaved rounds, server CPU read
from /proc for the server's whole process group.

- W1, W2: echo of 256 B and 16 KiB text messages over 64 connections, one message in flight per
  connection. The load is ws_load.pyx, a Cython client on picows (compiled into .venv-bench at
  setup). It opens every connection and warms up, then the driver reads the server's CPU, the
  client counts echoes for --duration seconds, and the driver reads the CPU again: server CPU µs
  per message = CPU seconds / echoes, and messages/s. Ratios are to uvicorn with websockets'
  sans-I/O protocol (`--ws websockets-sansio`) and to picows' own echo server (ws_ceiling.py, no
  ASGI: the ceiling) in the same round, medians over rounds.
- M0, M1: memory per idle connection: fresh servers, a few connections opened and closed to
  warm up, then 1,000 WebSocket connections opened (handshakes by hand from the driver) and
  held idle; (RSS of the server's processes after - before) / 1,000. M0 offers no extension;
  M1 offers `permessage-deflate; client_max_window_bits` as browsers do, and the table says
  whether the server accepted it.

The results go to bench/e2e/results/<timestamp>-ws/ and with --append-results to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import run as e2e

HERE = e2e.HERE
REPO = e2e.REPO
VENV = e2e.VENV
VENV_PY = e2e.VENV_PY
LOAD_BUILD = VENV / "ws-load"  # where ws_load.pyx is compiled
CLIENT_CPU = e2e.CLIENT_CPU
SERVER_CPU = e2e.SERVER_CPU

APP = "app_ws:app"
SCENARIOS = {"W1": 256, "W2": 16 * 1024}
MEMORY = {"M0": None, "M1": b"permessage-deflate; client_max_window_bits"}
IDLE = 1000
REFERENCE = "uvicorn-websockets-sansio"
CEILING = "picows"
SERVER_ORDER = [
    "sailfish",
    "uvicorn-sailfish",
    "uvicorn-websockets-sansio",
    "uvicorn-wsproto",
    "granian",
    "hypercorn",
    "picows",
]
SERVER_LABELS = {
    "sailfish": "sailfish",
    "uvicorn-sailfish": "uvicorn + sailfish WSProtocol",
    "uvicorn-websockets-sansio": "uvicorn websockets-sansio",
    "uvicorn-wsproto": "uvicorn wsproto",
    "granian": "granian",
    "hypercorn": "hypercorn (wsproto)",
    "picows": "picows echo (ceiling)",
}
SAILFISH_SERVERS = {"sailfish", "uvicorn-sailfish"}
# Goals of the WebSocket issue: sailfish CPU per message vs the reference and the ceiling.
GOAL_REFERENCE = 0.35
GOAL_CEILING = 1.3


def server_command(name: str, port: int, deflate: bool = False) -> list[str]:
    """The command line of server `name`; `deflate`: turn permessage-deflate on where it is off
    by default (sailfish), for M1."""
    py, host = str(VENV_PY), "127.0.0.1"
    uvicorn = [py, "-m", "uvicorn", APP, "--host", host, "--port", str(port)]
    uvicorn += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    if name == "sailfish":
        return (
            [py, "-m", "sailfish", APP, "--host", host, "--port", str(port)]
            + [
                "--loop",
                "uvloop",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            + (["--ws-per-message-deflate"] if deflate else [])
        )
    if name == "uvicorn-sailfish":
        return uvicorn + [
            "--http",
            "sailfish.uvicorn:HTTPProtocol",
            "--ws",
            "sailfish.uvicorn:WSProtocol",
        ]
    if name == "uvicorn-websockets-sansio":
        return uvicorn + ["--http", "httptools", "--ws", "websockets-sansio"]
    if name == "uvicorn-wsproto":
        return uvicorn + ["--http", "httptools", "--ws", "wsproto"]
    if name == "granian":
        return [str(VENV / "bin" / "granian"), "--interface", "asgi", "--host", host] + [
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
            "--no-access-log",
            "--log-level",
            "warning",
            APP,
        ]
    if name == "hypercorn":
        return [py, "-m", "hypercorn", "--bind", f"{host}:{port}", "--workers", "1"] + [
            "--worker-class",
            "uvloop",
            "--log-level",
            "warning",
            APP,
        ]
    if name == "picows":
        return [py, str(HERE / "ws_ceiling.py"), "--host", host, "--port", str(port)]
    raise ValueError(name)


class WSServer(e2e.Server):
    """run.py's Server (process group, CPU from /proc, stop) with this benchmark's commands."""

    deflate: bool = False

    @property
    def label(self) -> str:
        return SERVER_LABELS[self.name]

    def start(self) -> None:
        cmd = ["taskset", "-c", SERVER_CPU] + server_command(self.name, self.port, self.deflate)
        self.cmd = cmd
        out = open(self.logfile, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            cmd,
            cwd=HERE,
            env=dict(os.environ, **self.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def rss_kib(self) -> int:
        """VmRSS of every process in the server's process group, KiB."""
        assert self.proc is not None
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            fields = e2e.proc_stat(int(entry))
            if fields is None or int(fields[2]) != self.proc.pid:
                continue
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total


# --------------------------------------------------------------------------- a tiny client


class HandshakeError(Exception):
    pass


def handshake(port: int, extensions: bytes | None = None, timeout: float = 5.0) -> tuple:
    """Open a WebSocket connection by hand; returns (socket, the response's extension value)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16))
    head = [
        b"GET / HTTP/1.1",
        b"Host: 127.0.0.1:" + str(port).encode(),
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + key,
        b"Sec-WebSocket-Version: 13",
    ]
    if extensions is not None:
        head.append(b"Sec-WebSocket-Extensions: " + extensions)
    sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            sock.close()
            raise HandshakeError(f"closed during the handshake after {data!r}")
        data += chunk
    status = data.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        sock.close()
        raise HandshakeError(f"answered {status!r}")
    negotiated = None
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-extensions":
            negotiated = value.strip().decode()
    return sock, negotiated


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def check_echo(port: int) -> None:
    """One text message echoed back unchanged, as an unmasked final text frame."""
    sock, _ = handshake(port)
    with sock:
        sock.sendall(masked_text(b"check"))
        data = b""
        while len(data) < 7:
            chunk = sock.recv(4096)
            if not chunk:
                raise HandshakeError(f"closed before the echo, got {data!r}")
            data += chunk
        if data[:7] != b"\x81\x05check":
            raise HandshakeError(f"echo was {data[:16]!r}")


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    server: str
    scenario: str
    round: int
    messages: int
    seconds: float
    cpu_seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_msg(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else float("nan")


def run_load(server: WSServer, scenario: str, duration: float, connections: int, rd: int) -> Run:
    argv = ["taskset", "-c", CLIENT_CPU, str(VENV_PY), "-c", "import ws_load; ws_load.main()"]
    argv += [f"ws://127.0.0.1:{server.port}/", "--connections", str(connections)]
    argv += ["--size", str(SCENARIOS[scenario]), "--duration", str(duration), "--warmup", "1"]
    env = dict(os.environ, PYTHONPATH=str(LOAD_BUILD))
    client = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert client.stdin is not None and client.stdout is not None
        ready = client.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"load client: {ready!r} {client.stderr.read()[-2000:]}")
        cpu0 = server.cpu()
        client.stdin.write("\n")
        client.stdin.flush()
        done = client.stdout.readline().split()
        cpu1 = server.cpu()
        if not done or done[0] != "done":
            raise RuntimeError(f"load client: {done!r} {client.stderr.read()[-2000:]}")
        client.wait(30)
    finally:
        if client.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(client.pid, signal.SIGKILL)
            client.wait(10)
    return Run(server.name, scenario, rd, int(done[1]), float(done[2]), cpu1 - cpu0, int(done[3]))


def idle_memory(server: WSServer, extensions: bytes | None) -> dict:
    """RSS growth per idle connection over IDLE connections (KiB), and what was negotiated."""
    for _ in range(5):  # warm the code paths (and their caches) before the baseline
        sock, _ = handshake(server.port, extensions)
        sock.close()
    time.sleep(0.5)
    before = server.rss_kib()
    socks = []
    negotiated: set[str | None] = set()
    try:
        for _ in range(IDLE):
            sock, ext = handshake(server.port, extensions)
            socks.append(sock)
            negotiated.add(ext)
        time.sleep(1.0)  # let the server finish what each handshake started
        after = server.rss_kib()
    finally:
        for sock in socks:
            sock.close()
    return {
        "kib_per_conn": (after - before) / IDLE,
        "before_kib": before,
        "after_kib": after,
        "negotiated": sorted(n or "-" for n in negotiated),
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load run [10]")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds [3]")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 rounds x 3 s")
    p.add_argument("--scenarios", default="W1,W2,M0,M1", help="comma list [W1,W2,M0,M1]")
    p.add_argument("--servers", default=",".join(SERVER_ORDER), help="comma list [all]")
    p.add_argument("--connections", type=int, default=64, help="load connections [64]")
    p.add_argument("--append-results", action="store_true", help="append to bench/RESULTS.md")
    p.add_argument("--profile", action="store_true", help="py-spy sailfish during extra runs")
    a = p.parse_args(argv)
    if a.quick:
        a.rounds, a.duration = 2, 3.0
    a.scenarios = [s.strip().upper() for s in a.scenarios.split(",") if s.strip()]
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in a.scenarios:
        if s not in SCENARIOS and s not in MEMORY:
            p.error(f"unknown scenario {s}; choose from W1, W2, M0, M1")
    for s in a.servers:
        if s not in SERVER_ORDER:
            p.error(f"unknown server {s}; choose from {', '.join(SERVER_ORDER)}")
    return a


def build_load_client() -> None:
    """Compile ws_load.pyx against picows' declarations, into .venv-bench/ws-load."""
    source = HERE / "ws_load.pyx"
    built = list(LOAD_BUILD.glob("ws_load*.so"))
    if built and built[0].stat().st_mtime > source.stat().st_mtime:
        return
    e2e.log("compiling the load client bench/e2e/ws_load.pyx (Cython, picows)")
    LOAD_BUILD.mkdir(parents=True, exist_ok=True)
    script = (
        "import os, sys, picows; from setuptools import Extension, setup; "
        "from Cython.Build import cythonize; "
        "inc = os.path.dirname(picows.__file__); "
        "setup(name='ws_load', script_args=['build_ext', '--build-lib', sys.argv[1], "
        "'--build-temp', sys.argv[1] + '/tmp'], ext_modules=cythonize([Extension('ws_load', "
        "[sys.argv[2]], include_dirs=[inc])], build_dir=sys.argv[1] + '/c', quiet=True))"
    )
    subprocess.run(
        [str(VENV_PY), "-c", script, str(LOAD_BUILD), str(source)],
        check=True,
        cwd=LOAD_BUILD,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not e2e.in_bench_venv():
        e2e.ensure_taskset()
        e2e.ensure_venv(args.profile)
        build_load_client()
        os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve())] + argv)
    return bench(args, argv)


def make_servers(args: argparse.Namespace, outdir: Path, notes: list[str], tag: str) -> list:
    servers = []
    for name in args.servers:
        env: dict[str, str] = {}
        src = None
        if name in SAILFISH_SERVERS:
            src = REPO / "src"
            env = e2e.sailfish_env(src)
            code = "import sailfish.ws"
            if name == "uvicorn-sailfish":
                code += "; from sailfish.uvicorn import WSProtocol"
            probe = subprocess.run(
                [str(VENV_PY), "-c", code], capture_output=True, text=True, cwd=HERE, env=env
            )
            if probe.returncode != 0:
                why = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
                note = f"{SERVER_LABELS[name]} skipped: {why}"
                if note not in notes:
                    notes.append(note)
                    e2e.log("SKIP " + note)
                continue
        log_path = outdir / f"server-{name}-{tag}.log"
        server = WSServer(name, e2e.free_port(), log_path, app=APP, env=env, src=src)
        server.deflate = tag == "M1"
        servers.append(server)
    return servers


def start_all(servers: list, notes: list[str]) -> list:
    for s in servers:
        s.start()
    ready = []
    for s in servers:
        if not s.wait_ready():
            notes.append(f"{s.label}: did not start; log tail:\n{s.log_tail()}")
            e2e.log(f"FAIL {s.label}: did not start\n{s.log_tail()}")
            s.stop()
            continue
        try:
            check_echo(s.port)
        except (OSError, HandshakeError) as exc:
            notes.append(f"{s.label}: echo check failed, not measured: {exc}")
            e2e.log(f"FAIL check {s.label}: {exc}")
            s.stop()
            continue
        ready.append(s)
    return ready


def bench(args: argparse.Namespace, argv: list[str]) -> int:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = e2e.RESULTS_DIR / f"{stamp}-ws"
    outdir.mkdir(parents=True, exist_ok=True)
    command = "python bench/e2e/ws.py " + " ".join(argv) if argv else "python bench/e2e/ws.py"
    notes: list[str] = []
    live: list = []

    def on_signal(signum: int, _frame: object) -> None:
        for s in live:
            s.stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    e2e.log(f"results: {outdir.relative_to(REPO)}")
    memory: dict[str, dict[str, dict]] = {}
    t0 = time.monotonic()
    for scenario in [s for s in args.scenarios if s in MEMORY]:
        servers = make_servers(args, outdir, notes, scenario)
        live[:] = servers
        try:
            for s in start_all(servers, notes):
                try:
                    memory.setdefault(s.name, {})[scenario] = m = idle_memory(s, MEMORY[scenario])
                except (OSError, HandshakeError) as exc:
                    notes.append(f"{s.label} {scenario}: {exc}")
                    e2e.log(f"FAIL {s.label} {scenario}: {exc}")
                    continue
                e2e.log(
                    f"{scenario} {s.label:<34} {m['kib_per_conn']:7.1f} KiB/connection "
                    f"(RSS {m['before_kib']} -> {m['after_kib']} KiB; extension "
                    f"{', '.join(m['negotiated'])})"
                )
        finally:
            for s in servers:
                s.stop()

    runs: list[Run] = []
    load = [s for s in args.scenarios if s in SCENARIOS]
    profile_lines: list[str] = []
    if load:
        servers = make_servers(args, outdir, notes, "load")
        live[:] = servers
        try:
            active = start_all(servers, notes)
            for rd in range(1, args.rounds + 1):
                for scenario in load:
                    for s in active:
                        if not s.alive():
                            continue
                        try:
                            r = run_load(s, scenario, args.duration, args.connections, rd)
                        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                            notes.append(f"{s.label} round {rd} {scenario}: {exc}")
                            e2e.log(f"FAIL {s.label} round {rd} {scenario}: {exc}")
                            continue
                        runs.append(r)
                        e2e.log(
                            f"round {rd} {scenario} {s.label:<34} {r.rate:>9,.0f} msg/s  "
                            f"CPU {r.cpu_us_per_msg:6.1f} µs/msg"
                            + (f"  errors {r.errors}" if r.errors else "")
                        )
                        time.sleep(0.3)
            if args.profile:
                sf = next((s for s in active if s.name == "sailfish" and s.alive()), None)
                if sf is not None:
                    profile_lines = profile(sf, args, outdir)
        finally:
            for s in servers:
                s.stop()
    elapsed = time.monotonic() - t0
    text = report(args, command, runs, memory, notes, elapsed, stamp, profile_lines)
    (outdir / "results.md").write_text(text)
    (outdir / "runs.json").write_text(
        json.dumps({"runs": [r.__dict__ for r in runs], "memory": memory, "notes": notes}, indent=1)
    )
    e2e.log("\n" + text)
    if args.append_results:
        prev = e2e.RESULTS_MD.read_text()
        e2e.RESULTS_MD.write_text(prev.rstrip("\n") + "\n\n" + text)
        e2e.log(f"appended to {e2e.RESULTS_MD.relative_to(REPO)}")
    return 0


IDLE_FRAMES = ("epoll_wait", "epoll_pwait", "select", "poll")


def profile(server: WSServer, args: argparse.Namespace, outdir: Path) -> list[str]:
    """py-spy (native frames too) on sailfish during extra, unmeasured runs of each scenario.

    Returns, per scenario, the functions with the most own samples, as shares of the samples
    where the server was busy (the loop waiting in epoll is left out: the load client on the
    other CPU sets the pace).
    """
    pyspy = VENV / "bin" / "py-spy"
    if not pyspy.exists():
        return ["py-spy is not installed in .venv-bench"]
    assert server.proc is not None
    lines: list[str] = []
    for scenario in [s for s in args.scenarios if s in SCENARIOS]:
        raw = outdir / f"profile-sailfish-{scenario}.txt"
        spy = subprocess.Popen(
            [str(pyspy), "record", "--pid", str(server.proc.pid), "--native", "--rate", "250"]
            + ["--duration", str(int(args.duration)), "--format", "raw", "--output", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
            run_load(server, scenario, args.duration + 1, args.connections, 0)
        spy.wait(60)
        if not raw.exists():
            return ["py-spy wrote nothing (ptrace not permitted?)"]
        own: dict[str, int] = {}
        busy = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            leaf = re.sub(r":\d+\)$", ")", stack.split(";")[-1])  # per function, not line
            if leaf.startswith(IDLE_FRAMES):
                continue
            busy += int(count)
            own[leaf] = own.get(leaf, 0) + int(count)
        top = sorted(own.items(), key=lambda kv: -kv[1])[:20]
        lines.append(f"{scenario} ({SCENARIOS[scenario]} B), {busy} busy samples:")
        lines += [f"{100 * n / max(busy, 1):5.1f}%  {frame}" for frame, n in top]
        lines.append("")
    return lines[:-1]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(runs: list[Run], server: str, scenario: str, other: str, key: str) -> float:
    """Median over rounds of server's `key` / other's `key` in the same round."""
    ratios = []
    for r in runs:
        if r.server != server or r.scenario != scenario:
            continue
        o = next(
            (
                x
                for x in runs
                if x.server == other and x.scenario == scenario and x.round == r.round
            ),
            None,
        )
        if o is not None and getattr(o, key):
            ratios.append(getattr(r, key) / getattr(o, key))
    return _median(ratios)


@dataclass
class Row:
    label: str
    cells: list[str] = field(default_factory=list)


def versions() -> dict:
    """Python, the peers, and sailfish: version, tree and which WebSocket core twin runs."""
    from importlib import metadata

    v: dict = {"python": e2e.platform.python_version()}
    for pkg in ["uvicorn", "websockets", "wsproto", "granian", "hypercorn", "picows", "uvloop"]:
        with contextlib.suppress(metadata.PackageNotFoundError):
            v[pkg] = metadata.version(pkg)
    v["sailfish"], v["sailfish_tree"] = e2e.sailfish_tree(REPO)
    core = subprocess.run(
        [str(VENV_PY), "-c", "import sailfish.ws as w; print(w.IMPLEMENTATION)"],
        capture_output=True,
        text=True,
        cwd=HERE,
        env=dict(os.environ, **e2e.sailfish_env(REPO / "src")),
    )
    v["sailfish WebSocket core"] = core.stdout.strip() or "not importable"
    return v


def report(args, command, runs, memory, notes, elapsed, stamp, profile_lines) -> str:
    mach = e2e.machine()
    vers = versions()
    names = [n for n in SERVER_ORDER if n in args.servers]
    cmds = []
    for name in names:
        c = " ".join(server_command(name, 0)).replace(str(VENV) + "/bin/", "")
        c = c.replace(str(HERE), "bench/e2e").replace(" --port 0", " --port PORT")
        cmds.append(f"- {SERVER_LABELS[name]}: `{c.replace('127.0.0.1:0', '127.0.0.1:PORT')}`")
    if "M1" in args.scenarios:
        cmds.append("- M1 adds `--ws-per-message-deflate` to sailfish (off by default)")
    md = [
        f"## WebSocket end-to-end: sailfish vs peers ({stamp})",
        "",
        f"Command: `{command}` ({args.rounds} interleaved rounds x {args.duration:g} s, "
        f"{args.connections} connections, {elapsed / 60:.1f} min in all).",
        f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}; shared with other "
        f"work while it ran (noisy: compare ratios within this run only). Server pinned to CPU "
        f"{SERVER_CPU}, the load client (bench/e2e/ws_load.pyx: Cython on picows, one process) "
        f"to CPU {CLIENT_CPU}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".",
        "",
        "Server commands (cwd bench/e2e, each prefixed by `taskset -c 0`):",
        *cmds,
        "",
    ]
    load = [s for s in args.scenarios if s in SCENARIOS]
    if runs:
        md += [
            "Echo of text messages, one in flight per connection. Server CPU µs per message "
            "(utime+stime of the server's process group / echoes counted), messages/s, and the "
            f"medians of per-round ratios of CPU per message to {SERVER_LABELS[REFERENCE]} and to "
            f"{SERVER_LABELS[CEILING]}:",
            "",
            "| server | "
            + " | ".join(
                f"{sc} ({SCENARIOS[sc]} B) µs/msg | msg/s | vs ref | vs picows" for sc in load
            )
            + " |",
            "| --- |" + " --- | --- | --- | --- |" * len(load),
        ]
        for name in names:
            cells = []
            for sc in load:
                mine = [r for r in runs if r.server == name and r.scenario == sc]
                if not mine:
                    cells += ["-"] * 4
                    continue
                cells += [
                    f"{_median([r.cpu_us_per_msg for r in mine]):.1f}",
                    f"{_median([r.rate for r in mine]):,.0f}",
                    f"{_ratio(runs, name, sc, REFERENCE, 'cpu_us_per_msg'):.2f}",
                    f"{_ratio(runs, name, sc, CEILING, 'cpu_us_per_msg'):.2f}",
                ]
            md.append(f"| {SERVER_LABELS[name]} | " + " | ".join(cells) + " |")
        measured = {r.scenario for r in runs if r.server == "sailfish"}
        md += ["", "Goals (sailfish CPU per message, same run):", ""]
        if not measured:
            md.append("- sailfish was not measured")
        for sc in [sc for sc in load if sc in measured]:
            ref = _ratio(runs, "sailfish", sc, REFERENCE, "cpu_us_per_msg")
            ceil = _ratio(runs, "sailfish", sc, CEILING, "cpu_us_per_msg")
            md.append(
                f"- {sc}: {ref:.3f}x {SERVER_LABELS[REFERENCE]} (goal <= {GOAL_REFERENCE}: "
                f"{'met' if ref <= GOAL_REFERENCE else 'missed'}), {ceil:.3f}x picows (goal <= "
                f"{GOAL_CEILING}: {'met' if ceil <= GOAL_CEILING else 'missed'})"
            )
        errors = sum(r.errors for r in runs)
        if errors:
            md.append(f"- {errors} connection(s) closed by a server during the runs")
        md.append("")
    if memory:
        mem = [s for s in args.scenarios if s in MEMORY]
        md += [
            f"Memory per idle connection: {IDLE} connections opened and held, (RSS after - RSS "
            "before) / connections, KiB, with the extension the server answered. M0 offers no "
            "extension, M1 offers `permessage-deflate; client_max_window_bits`.",
            "",
            "| server | " + " | ".join(f"{m} KiB/conn | {m} extension" for m in mem) + " |",
            "| --- |" + " --- | --- |" * len(mem),
        ]
        for name in names:
            cells = []
            for m in mem:
                got = memory.get(name, {}).get(m)
                if got is None:
                    cells += ["-", "-"]
                else:
                    cells += [f"{got['kib_per_conn']:.1f}", ", ".join(got["negotiated"])]
            md.append(f"| {SERVER_LABELS[name]} | " + " | ".join(cells) + " |")
        if "sailfish" in memory and REFERENCE in memory:
            md += ["", "Goal (idle memory at most uvicorn websockets-sansio's):", ""]
            for m in mem:
                mine = memory["sailfish"].get(m, {}).get("kib_per_conn")
                ref = memory[REFERENCE].get(m, {}).get("kib_per_conn")
                if mine is not None and ref is not None:
                    md.append(
                        f"- {m}: sailfish {mine:.1f} KiB vs {ref:.1f} KiB: "
                        f"{'met' if mine <= ref else 'missed'}"
                    )
        md.append("")
    if profile_lines:
        md += [
            "py-spy on sailfish during extra runs (own samples per function, busy samples only):",
            "",
            "```",
        ]
        md += profile_lines + ["```", ""]
    if notes:
        md += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(md).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
