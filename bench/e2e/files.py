"""File serving, end to end: server CPU per MiB and throughput for a 1 MiB and a 100 MiB file.

    python bench/e2e/files.py                       # 2 interleaved rounds x 4 s per server/size
    python bench/e2e/files.py --duration 10 --rounds 3 --servers sailfish,nginx

Strategy: the same setup as run.py (whose helpers it imports: .venv-bench, one server process
pinned to CPU 0, wrk with one thread pinned to CPU 1, CPU time read from /proc for the server's
whole process group), with one app, bench/e2e/files_app.py (Starlette's FileResponse), served
by sailfish (which advertises `http.response.pathsend`: os.sendfile), uvicorn + httptools (no
pathsend: Starlette reads and sends 64 KiB body messages), granian (pathsend), and nginx with
`sendfile on`, the ceiling. The files are written once into a temporary directory (random
bytes, so nothing is special about their pages) and are in the page cache for every server.
The figure that tells servers apart is server CPU per MiB sent; MiB/s mostly measures the
client. Results go to stdout as a markdown table (quote it in bench/RESULTS.md with the
command). Never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/e2e/run.py: the shared driver)

SIZES = {"1m.bin": 1 << 20, "100m.bin": 100 << 20}
SERVERS = ["sailfish", "uvicorn-httptools", "granian", "nginx"]
LABELS = {
    "sailfish": "sailfish (pathsend)",
    "uvicorn-httptools": "uvicorn + httptools (FileResponse reads)",
    "granian": "granian (pathsend)",
    "nginx": "nginx (sendfile on)",
}
APP = "files_app:app"
NGINX_CONF = """\
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {files};
    }}
}}
"""


def write_files(directory: Path) -> None:
    block = os.urandom(1 << 20)
    for name, size in SIZES.items():
        with open(directory / name, "wb") as file:
            for _ in range(size >> 20):
                file.write(block)
        (directory / name).chmod(0o644)


class Nginx(run.Server):
    """nginx in the foreground, as run.Server runs the Python servers."""

    files: Path = Path()

    def start(self) -> None:
        nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
        if nginx is None:
            raise RuntimeError("nginx is not installed (make system-deps)")
        root = self.logfile.parent / "nginx"
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=root, port=self.port, files=self.files))
        self.cmd = ["taskset", "-c", run.SERVER_CPU, nginx, "-c", str(conf), "-p", str(root)]
        self.cmd += ["-g", "daemon off;"]
        out = open(self.logfile, "wb")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            self.cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()


def check(port: int, name: str, size: int) -> None:
    """One GET with a real client: status 200 and exactly `size` bytes."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/" + name)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or len(body) != size:
            raise RuntimeError(f"GET /{name}: {response.status}, {len(body)} bytes")
    finally:
        conn.close()


def measure(server: run.Server, name: str, duration: float, connections: int) -> dict:
    cmd = ["taskset", "-c", run.CLIENT_CPU, "wrk", "-t1", f"-c{connections}"]
    cmd += [f"-d{duration:g}s", "--timeout", "30s", "-s", str(run.LUA / "files.lua")]
    cmd.append(f"http://127.0.0.1:{server.port}/")
    env = dict(os.environ, SF_LUA_DIR=str(run.LUA), SF_FILE_PATH="/" + name)
    before = server.cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 120)
    after = server.cpu()
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SFJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    data = json.loads(line[len("SFJSON ") :])
    mib = data["requests"] * SIZES[name] / (1 << 20)
    seconds = data["duration_us"] / 1e6
    errors = sum(data["errors"].values())
    return {
        "server": server.name,
        "file": name,
        "requests": data["requests"],
        "mib": mib,
        "mib_s": mib / seconds if seconds else 0.0,
        "cpu_ms_per_mib": (after - before) * 1e3 / mib if mib else float("inf"),
        "errors": errors,
        "wrk": " ".join(cmd[3:]),
    }


def report(runs: list[dict], servers: list[str]) -> str:
    lines = [
        "| file | server | MiB/s (median) | server CPU ms/MiB (median) | CPU vs nginx | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name in SIZES:
        cpu = {}
        for server in servers:
            mine = [r for r in runs if r["server"] == server and r["file"] == name]
            if mine:
                cpu[server] = statistics.median(r["cpu_ms_per_mib"] for r in mine)
        for server in servers:
            mine = [r for r in runs if r["server"] == server and r["file"] == name]
            if not mine:
                continue
            ratio = cpu[server] / cpu["nginx"] if cpu.get("nginx") else float("nan")
            lines.append(
                f"| {name} | {LABELS[server]} | {statistics.median(r['mib_s'] for r in mine):.0f}"
                f" | {cpu[server]:.3f} | {ratio:.2f} | {sum(r['errors'] for r in mine)} |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--servers", default=",".join(SERVERS))
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not run.in_bench_venv():
        run.ensure_wrk()
        run.ensure_taskset()
        run.ensure_venv(False)
        os.execv(str(run.VENV_PY), [str(run.VENV_PY), str(Path(__file__).resolve()), *argv])
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="sf-files-") as tmp:
        files = Path(tmp) / "files"
        files.mkdir()
        Path(tmp).chmod(0o755)
        files.chmod(0o755)
        write_files(files)
        # this tree's sailfish first, whatever .venv-bench's sailfish-src.pth names
        src = run.REPO / "src"
        env = {"PYTHONPATH": str(src), "SF_FILES_DIR": str(files)}
        started: list[run.Server] = []
        try:
            for name in servers:
                logfile = Path(tmp) / f"{name}.log"
                if name == "nginx":
                    server: run.Server = Nginx(name=name, port=run.free_port(), logfile=logfile)
                    server.files = files  # type: ignore[attr-defined]
                else:
                    server = run.Server(
                        name=name, port=run.free_port(), logfile=logfile, app=APP, env=env
                    )
                server.start()
                started.append(server)
                if not server.wait_ready():
                    raise RuntimeError(f"{name} did not start:\n{server.log_tail()}")
                if name == "sailfish":
                    import sysconfig

                    server.src = src
                    paths = sysconfig.get_paths()
                    srcs = [src, Path(paths["purelib"]), Path(paths["platlib"])]
                    run.log(f"sailfish runs {run.check_sailfish_code(server, srcs)}")
                for file, size in SIZES.items():
                    check(server.port, file, size)
            runs: list[dict] = []
            for round_no in range(1, args.rounds + 1):
                for file in SIZES:
                    for server in started:
                        result = measure(server, file, args.duration, args.connections)
                        run.log(
                            f"round {round_no} {file} {server.name}: "
                            f"{result['mib_s']:.0f} MiB/s, {result['cpu_ms_per_mib']:.3f} ms/MiB"
                        )
                        runs.append(result)
                        time.sleep(0.2)
        finally:
            for server in started:
                server.stop()
    print(report(runs, servers))
    print(f"\nwrk: {runs[0]['wrk'].replace(str(run.REPO) + '/', '')}  (per server, file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
