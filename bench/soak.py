"""Soak: millions of mixed requests against one sailfish worker; does its memory stay flat?

    make bench-soak                                  # 200,000 requests, a try (about a minute)
    make bench-soak BENCH_SOAK_ARGS="--requests 5000000 --write-results"   # RESULTS.md's run
    python bench/soak.py --requests 1000000 --round-seconds 10 --no-wsgi

Strategy: two sailfish server processes from this tree (compiled: the driver refuses a server
that loaded no compiled sailfish module from src/), each one worker with the asyncio loop from
uvloop: the ASGI app bench/e2e/soak_app.py, and the WSGI app bench/e2e/soak_wsgi.py under
`--interface wsgi`. WSGI needs a process of its own because the interface is a server-wide
setting; it runs at the same time as the ASGI one rather than in alternate phases, so each
process soaks for the whole run and the two loads contend as they would on a real host. The
load runs in rounds of `--round-seconds`: per round, one wrk process per kind of request
(bench/e2e/lua/soak.lua: keep-alive GET, the 717-byte browser request, POST with
Content-Length and chunked, 16-deep pipelining, a chunked streaming answer, 404s, and a new
connection per request), plus bench/e2e/soak_client.py (WebSocket sessions with echoes, close
handshakes and dropped connections; rude HTTP: bodies abandoned halfway, silent connections,
refused requests, 100-continue, streams left early, app errors before and after the response
started). Rounds go on until the ASGI worker has served `--requests`; the WSGI worker's
requests come on top. Between rounds, with no load, each server's RSS and open fds are read
from /proc (after waiting, bounded, for the fds to settle) and its asyncio task count from
the app's private route /_soak/stats. Every response counts as a request: wrk's, each WebSocket
handshake and echoed message, each rude case.

Verdict (printed, and the exit status): after warm-up (the first `--warmup` of the requests),
the median RSS of the last 10% of the samples is within `--tolerance` of the median of the
first 10% after warm-up (both servers); at the end the fds and tasks are back at their values
before any load (and the WSGI server's threads at most its pool's size more); no load process
saw an answer it did not expect; no connection error. Results go to bench/e2e/results/<stamp>-soak/
(samples.json, server logs, soak.md, soak-rss.svg); with --write-results the markdown section is
put at the top of bench/RESULTS.md and the plot written to bench/soak-rss.svg.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
E2E = HERE / "e2e"
sys.path.insert(0, str(E2E))
import run as e2e  # noqa: E402  (bench/e2e/run.py: /proc readers, response reader)

LUA = E2E / "lua"
RESULTS_MD = HERE / "RESULTS.md"
SVG = HERE / "soak-rss.svg"
WSGI_THREADS = 10

# (kind, connections): one wrk process each, per round (bench/e2e/lua/soak.lua).
ASGI_LOAD = [
    ("get", 8),
    ("browser", 4),
    ("post", 4),
    ("chunked", 4),
    ("pipeline", 2),
    ("stream", 4),
    ("missing", 2),
    ("close", 4),
]
WSGI_LOAD = [("get", 2), ("post", 1), ("chunked", 1), ("stream", 1), ("missing", 1), ("close", 1)]
EXPECTED_NON_2XX = {"missing"}  # wrk counts every status >= 400 as an error


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- servers


@dataclass
class SoakServer:
    name: str
    app: str
    extra: list[str]
    port: int
    logfile: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, python: str) -> None:
        cmd = [python, "-m", "sailfish", self.app, "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning", *self.extra]
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONUNBUFFERED="1")
        env.pop("SAILFISH_NO_EXTENSIONS", None)
        self.cmd = cmd
        with open(self.logfile, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=E2E, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return True
            time.sleep(0.1)
        return False

    def status(self) -> dict[str, int]:
        """VmRSS, RssAnon and Threads from /proc/<pid>/status (KiB, KiB, count)."""
        wanted = {"VmRSS": "rss_kib", "RssAnon": "anon_kib", "Threads": "threads"}
        found: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in wanted:
                found[wanted[key]] = int(value.split()[0])
        return found

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu(self) -> float:
        return e2e.group_cpu_seconds(self.pid)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET with `Connection: close`, read to the server's close (so its fd is gone)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
            return _answer(sock)

    def tasks(self) -> int | None:
        status, body = self.get("/_soak/stats")
        if status != 200:
            raise RuntimeError(f"{self.name}: /_soak/stats answered {status}")
        value = json.loads(body)["tasks"]
        return None if value is None else int(value)

    def settle(self, fds: int, timeout: float) -> int:
        """Wait (bounded) until the open fds are down to `fds`; returns the count seen last."""
        deadline = time.monotonic() + timeout
        count = self.fds()
        while count > fds and time.monotonic() < deadline:
            time.sleep(0.02)
            count = self.fds()
        return count

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of the one response on `sock`, then wait for the server to close it."""
    buffer = bytearray()
    status, _, body = e2e.read_response(sock, buffer)
    while sock.recv(65536):
        pass
    return status, body


def check_answers(asgi: SoakServer, wsgi: SoakServer | None) -> None:
    """One real answer per route before any load (the load only counts statuses)."""
    for server in filter(None, [asgi, wsgi]):
        for path, status, body in [
            ("/", 200, b"Hello, world!"),
            ("/missing/x", 404, b"not found"),
            ("/stream", 200, b"Hello, world!\n" * 10),
        ]:
            got = server.get(path)
            if got != (status, body):
                sys.exit(f"error: {server.name} answered GET {path} with {got!r}")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
            )
            status, body = _answer(sock)
            if (status, body) != (200, b"5"):
                sys.exit(f"error: {server.name} answered a chunked POST with {status} {body!r}")


# --------------------------------------------------------------------------- one round


@dataclass
class Sample:
    requests: int  # every server, cumulative
    elapsed_s: float
    servers: dict[str, dict[str, int | None]] = field(default_factory=dict)
    server_requests: dict[str, int] = field(default_factory=dict)  # cumulative, per server


def start_wrk(server: SoakServer, kind: str, connections: int, seconds: int) -> subprocess.Popen:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    cmd += ["-s", str(LUA / "soak.lua"), f"http://127.0.0.1:{server.port}/"]
    env = dict(
        os.environ,
        SF_LUA_DIR=str(LUA),
        SF_S2_FILE=str(e2e.S2_FILE),
        SF_PIPELINE=str(e2e.PIPELINE),
        SF_SOAK_KIND=kind,
    )
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wrk_result(proc: subprocess.Popen, what: str) -> dict:
    out, err = proc.communicate(timeout=120)
    line = next((ln for ln in out.splitlines() if ln.startswith("SFJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk {what} failed ({proc.returncode}): {err.strip()[-300:]}")
    return json.loads(line[len("SFJSON ") :])


def run_round(
    args: argparse.Namespace, asgi: SoakServer, wsgi: SoakServer | None, seconds: int
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """One round of every load at once; (requests per server, per kind, problems)."""
    procs: list[tuple[SoakServer, str, subprocess.Popen]] = []
    for server, plan in [(asgi, ASGI_LOAD), (wsgi, WSGI_LOAD)]:
        if server is not None:
            for kind, connections in plan:
                procs.append((server, kind, start_wrk(server, kind, connections, seconds)))
    client = [sys.executable, str(E2E / "soak_client.py"), "--asgi-port", str(asgi.port)]
    client += ["--duration", str(seconds), "--ws-connections", str(args.ws_connections)]
    client += ["--rude-rate", str(args.rude_rate)]
    if wsgi is not None:
        client += ["--wsgi-port", str(wsgi.port)]
    rude = subprocess.Popen(client, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    per_server: dict[str, int] = {asgi.name: 0} | ({wsgi.name: 0} if wsgi else {})
    per_kind: dict[str, int] = {}
    problems: dict[str, int] = {}
    for server, kind, proc in procs:
        data = wrk_result(proc, f"{server.name}/{kind}")
        requests = data["requests"]
        per_server[server.name] += requests
        key = f"{server.name}_{kind}"
        per_kind[key] = per_kind.get(key, 0) + requests
        errors = dict(data["errors"])
        if kind in EXPECTED_NON_2XX:
            errors["status"] = max(0, errors["status"] - requests)  # every answer is a 404
        for name, count in errors.items():
            if count:
                problems[f"wrk {key}: {name} errors"] = count
    out, err = rude.communicate(timeout=seconds + 120)
    line = next((ln for ln in out.splitlines() if ln.startswith("SOAKJSON ")), None)
    if rude.returncode != 0 or line is None:
        raise RuntimeError(f"soak_client failed ({rude.returncode}): {err.strip()[-500:]}")
    data = json.loads(line[len("SOAKJSON ") :])
    for key, count in data["counts"].items():
        per_kind[key] = per_kind.get(key, 0) + count
        if key in ("ws_dropped", "ws_closed"):
            continue  # session endings, not requests (the handshake and echoes are)
        name = "wsgi" if key.startswith("wsgi_") else "asgi"
        per_server[name] += count
    for what, count in data["problems"].items():
        problems[what] = problems.get(what, 0) + count
    return per_server, per_kind, problems


def sample(
    servers: list[SoakServer], baseline: dict[str, dict[str, int | None]] | None
) -> dict[str, dict[str, int | None]]:
    """Each idle server's RSS, threads, fds (once settled) and tasks."""
    values: dict[str, dict[str, int | None]] = {}
    for server in servers:
        want = baseline[server.name]["fds"] if baseline else None
        fds = server.settle(int(want), 5.0) if want is not None else server.fds()
        tasks = server.tasks()
        values[server.name] = {"fds": fds, "tasks": tasks, **server.status()}
    return values


# --------------------------------------------------------------------------- verdict


def windows(
    samples: list[Sample], warmup: float
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(post-warm-up samples, the first 10% of them, the last 10% of all samples)."""
    total = samples[-1].requests
    after = [s for s in samples if s.requests > warmup * total]
    count = max(1, len(samples) // 10)
    return after, after[:count], samples[-count:]


def verdict(
    samples: list[Sample],
    baseline: dict[str, dict[str, int | None]],
    names: list[str],
    args: argparse.Namespace,
    problems: dict[str, int],
) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = True
    after, first, last = windows(samples, args.warmup)
    if len(after) < 3:
        ok = False
        lines.append(
            f"only {len(after)} sample(s) after warm-up: too few to call RSS flat (raise "
            "--requests or lower --round-seconds)"
        )
    for name in names:
        start = statistics.median(int(s.servers[name]["rss_kib"] or 0) for s in first)
        end = statistics.median(int(s.servers[name]["rss_kib"] or 0) for s in last)
        peak = max(int(s.servers[name]["rss_kib"] or 0) for s in after)
        change = (end - start) / start
        flat = abs(change) <= args.tolerance
        ok &= flat
        lines.append(
            f"{name}: RSS after warm-up {start / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB "
            f"({change:+.2%}; peak {peak / 1024:.1f} MiB): "
            + ("flat" if flat else f"NOT flat within {args.tolerance:.0%}")
        )
        final = samples[-1].servers[name]
        base = baseline[name]
        for key in ("fds", "tasks"):
            if base[key] is None:
                lines.append(f"{name}: {key} not measured")
                continue
            leak = int(final[key] or 0) > int(base[key])
            ok &= not leak
            lines.append(
                f"{name}: {key} {base[key]} before the load, {final[key]} at the end: "
                + (
                    "LEAK"
                    if leak
                    else "back to baseline"
                    if final[key] == base[key]
                    else "fewer (one was closing when the baseline was read)"
                )
            )
        if name == "wsgi":
            bound = int(base["threads"] or 0) + WSGI_THREADS
            within = int(final["threads"] or 0) <= bound
            ok &= within
            lines.append(
                f"{name}: threads {base['threads']} before, {final['threads']} at the end "
                f"(pool of {WSGI_THREADS}): " + ("bounded" if within else "MORE THAN THE POOL")
            )
    if problems:
        ok = False
        lines.append(f"unexpected answers or connection errors: {sum(problems.values())}")
        for what, count in sorted(problems.items(), key=lambda item: -item[1])[:10]:
            lines.append(f"  {count} x {what}")
    else:
        lines.append("every answer was the one expected; no connection error")
    return ok, lines


# --------------------------------------------------------------------------- report


COLORS = {"asgi": "#1f6fb4", "wsgi": "#d9711c"}


def svg_plot(samples: list[Sample], names: list[str], warmup: float, tolerance: float) -> str:
    """RSS over requests as a standalone SVG (no plotting library), one line per server."""
    width, height = 760, 380
    left, right, top, bottom = 70, 190, 40, 55
    plot_w, plot_h = width - left - right, height - top - bottom
    total = samples[-1].requests
    _after, first, _last = windows(samples, warmup)
    values = [int(s.servers[n]["rss_kib"] or 0) / 1024 for s in samples for n in names]
    refs = {
        n: statistics.median(int(s.servers[n]["rss_kib"] or 0) for s in first) / 1024 for n in names
    }
    low = min(values + [r * (1 - tolerance) for r in refs.values()])
    high = max(values + [r * (1 + tolerance) for r in refs.values()])
    step = _nice_step((high - low) / 5 or 1)
    low = step * int(low / step)
    high = step * (int(high / step) + 1)

    def x(requests: float) -> float:
        return left + plot_w * requests / total

    def y(mib: float) -> float:
        return top + plot_h * (1 - (mib - low) / (high - low))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">sailfish soak: RSS of each worker over '
        f"{total:,} requests</text>",
        f'<rect x="{left}" y="{top}" width="{x(warmup * total) - left:.1f}" height="{plot_h}" '
        'fill="#eeeeee"/>',
        f'<text x="{left + 4}" y="{top + 14}" fill="#777">warm-up</text>',
    ]
    tick = low
    while tick <= high + 1e-9:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#dddddd"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step
    xstep = _nice_step(total / 6)
    tick = 0.0
    while tick <= total:
        label = f"{tick / 1e6:g}M" if total >= 1e6 else f"{tick / 1e3:g}k"
        out.append(
            f'<text x="{x(tick):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{label}</text>'
        )
        tick += xstep
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">requests '
        "(every server, cumulative)</text>"
    )
    out.append(
        f'<text transform="translate(18 {top + plot_h / 2}) rotate(-90)" '
        'text-anchor="middle">RSS, MiB</text>'
    )
    for index, name in enumerate(names):
        color = COLORS.get(name, "#444")
        ref = refs[name]
        band_x = x(warmup * total)
        for bound in (ref * (1 + tolerance), ref * (1 - tolerance)):
            out.append(
                f'<line x1="{band_x:.1f}" x2="{left + plot_w}" y1="{y(bound):.1f}" '
                f'y2="{y(bound):.1f}" stroke="{color}" stroke-dasharray="5 4" '
                'stroke-opacity="0.7"/>'
            )
        points = " ".join(
            f"{x(s.requests):.1f},{y(int(s.servers[name]['rss_kib'] or 0) / 1024):.1f}"
            for s in samples
        )
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        legend_y = top + 20 + 56 * index
        out.append(
            f'<line x1="{left + plot_w + 12}" x2="{left + plot_w + 32}" y1="{legend_y}" '
            f'y2="{legend_y}" stroke="{color}" stroke-width="2"/>'
        )
        out.append(f'<text x="{left + plot_w + 38}" y="{legend_y + 4}">{name} worker</text>')
        out.append(
            f'<text x="{left + plot_w + 38}" y="{legend_y + 32}" fill="#777">'
            "10% after warm-up</text>"
        )
        out.append(
            f'<text x="{left + plot_w + 38}" y="{legend_y + 18}" fill="#777">'
            f"dashed: ±{tolerance:.0%} of the first</text>"
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _nice_step(raw: float) -> float:
    magnitude = 10 ** int(f"{raw:e}".split("e")[1])
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def rss_table(samples: list[Sample], names: list[str], every: int) -> str:
    """RSS (MiB), fds and tasks at the first sample at or past each multiple of `every`."""
    head = "| requests | " + " | ".join(f"{n} RSS MiB | {n} fds | {n} tasks" for n in names) + " |"
    rule = "| ---: |" + " ---: | ---: | ---: |" * len(names)
    rows = [head, rule]
    chosen: list[Sample] = [samples[0]]
    mark = every
    for s in samples[1:]:
        if s.requests >= mark:
            chosen.append(s)
            while mark <= s.requests:
                mark += every
    if chosen[-1] is not samples[-1]:
        chosen.append(samples[-1])
    for s in chosen:
        cells = []
        for n in names:
            v = s.servers[n]
            cells.append(f"{int(v['rss_kib'] or 0) / 1024:.1f} | {v['fds']} | {v['tasks']}")
        rows.append(f"| {s.requests:,} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def markdown(
    args: argparse.Namespace,
    command: str,
    samples: list[Sample],
    baseline: dict[str, dict[str, int | None]],
    names: list[str],
    kinds: dict[str, int],
    elapsed: float,
    cpu: dict[str, float],
    ok: bool,
    lines: list[str],
    svg_ref: str,
) -> str:
    total = samples[-1].requests
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    per_server = samples[-1].server_requests
    parts = [
        f"## Soak (issue 15, {stamp}): {total:,} mixed requests, "
        + ("RSS flat, no leak" if ok else "FAILED"),
        "",
        f"Command: `{command}`",
        "",
        textwrap.fill(
            f"{total:,} requests in {elapsed:.0f} s ({total / elapsed:,.0f} req/s over both "
            "servers, load and servers sharing the 2 cores with other work: a soak, not a speed "
            "figure). Server CPU per request: "
            + ", ".join(
                f"{n} {cpu[n] * 1e6 / max(per_server.get(n, 0), 1):.0f} µs "
                f"({per_server.get(n, 0):,} requests)"
                for n in names
            )
            + ".",
            100,
        ),
        "",
        f"![RSS over requests]({svg_ref})",
        "",
        "Verdict:",
        "",
        *[textwrap.fill(line, 100, initial_indent="- ", subsequent_indent="  ") for line in lines],
        "",
        textwrap.fill(
            "Before any load: "
            + "; ".join(
                f"{n} RSS {int(baseline[n]['rss_kib'] or 0) / 1024:.1f} MiB, "
                f"{baseline[n]['fds']} fds, {baseline[n]['tasks']} tasks, "
                f"{baseline[n]['threads']} threads"
                for n in names
            )
            + ".",
            100,
        ),
        "",
        rss_table(samples, names, args.table_every),
        "",
        "Requests by kind (`<server>_<kind>`: wrk's kinds, then the soak client's):",
        "",
        "    "
        + "\n    ".join(
            ", ".join(f"{k} {v:,}" for k, v in list(sorted(kinds.items()))[i : i + 4])
            for i in range(0, len(kinds), 4)
        ),
        "",
    ]
    return "\n".join(parts)


def write_results(text: str) -> None:
    """Put the section at the top of RESULTS.md, after its introduction."""
    current = RESULTS_MD.read_text()
    at = current.find("\n## ")
    at = len(current) if at < 0 else at + 1
    RESULTS_MD.write_text(current[:at] + text.rstrip("\n") + "\n\n" + current[at:])


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000, help="to the ASGI worker (200000)")
    parser.add_argument("--round-seconds", type=int, default=5, help="load per sample (5)")
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of requests (0.1)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="RSS change allowed (0.05)")
    parser.add_argument("--no-wsgi", action="store_true", help="the ASGI server only")
    parser.add_argument("--ws-connections", type=int, default=8, help="WebSocket loops (8)")
    parser.add_argument("--rude-rate", type=float, default=50.0, help="rude rounds/s (50)")
    parser.add_argument("--table-every", type=int, default=500_000, help="table rows (500000)")
    parser.add_argument(
        "--allow-pure", action="store_true", help="run even if the servers use the pure twin"
    )
    parser.add_argument("--write-results", action="store_true", help="RESULTS.md + soak-rss.svg")
    parser.add_argument(
        "--replot",
        type=Path,
        metavar="DIR",
        help="only redraw DIR/soak-rss.svg from DIR/samples.json (with --write-results, "
        "bench/soak-rss.svg too)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.round_seconds < 1 or not 0 <= args.warmup < 0.9:
        parser.error("--requests and --round-seconds must be positive, --warmup in [0, 0.9)")
    return args


def replot(args: argparse.Namespace) -> int:
    data = json.loads((args.replot / "samples.json").read_text())
    samples = [Sample(**item) for item in data["samples"]]
    svg = svg_plot(samples, list(samples[0].servers), args.warmup, args.tolerance)
    targets = [args.replot / "soak-rss.svg"] + ([SVG] if args.write_results else [])
    for target in targets:
        target.write_text(svg)
        log(f"wrote {target}")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.replot is not None:
        return replot(args)
    if not shutil.which("wrk"):
        sys.exit("error: wrk is not on PATH (Debian: apt-get install wrk; or make system-deps)")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = E2E / "results" / f"{stamp}-soak"
    outdir.mkdir(parents=True, exist_ok=True)
    command = "python bench/soak.py " + " ".join(argv)
    asgi = SoakServer("asgi", "soak_app:app", [], e2e.free_port(), outdir / "asgi.log")
    servers = [asgi]
    wsgi = None
    if not args.no_wsgi:
        extra = ["--interface", "wsgi", "--wsgi-threads", str(WSGI_THREADS)]
        wsgi = SoakServer("wsgi", "soak_wsgi:app", extra, e2e.free_port(), outdir / "wsgi.log")
        servers.append(wsgi)

    def on_signal(signum: int, _frame: object) -> None:
        for server in servers:
            server.stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        for server in servers:
            server.start(sys.executable)
        for server in servers:
            if not server.wait_ready():
                sys.exit(
                    f"error: the {server.name} server did not start:\n{server.logfile.read_text()}"
                )
            modules = e2e.sailfish_modules(server.pid, [REPO / "src"])
            if not modules and not args.allow_pure:
                sys.exit(
                    f"error: the {server.name} server loaded no compiled sailfish module from "
                    "src/ (make compile first, or --allow-pure)"
                )
        check_answers(asgi, wsgi)
        return soak(args, servers, asgi, wsgi, outdir, command)
    finally:
        for server in servers:
            server.stop()


def soak(
    args: argparse.Namespace,
    servers: list[SoakServer],
    asgi: SoakServer,
    wsgi: SoakServer | None,
    outdir: Path,
    command: str,
) -> int:
    names = [s.name for s in servers]
    baseline = sample(servers, None)
    log(
        f"soak: {args.requests:,} requests in rounds of {args.round_seconds} s; results in "
        f"{outdir.relative_to(REPO)}"
    )
    log("before any load: " + json.dumps(baseline))
    samples = [Sample(0, 0.0, baseline, {n: 0 for n in names})]
    kinds: dict[str, int] = {}
    problems: dict[str, int] = {}
    served = {n: 0 for n in names}
    cpu_start = {s.name: s.cpu() for s in servers}
    began = time.monotonic()
    total = 0
    while served[asgi.name] < args.requests:
        round_served, round_kinds, round_problems = run_round(args, asgi, wsgi, args.round_seconds)
        for server in servers:
            if not server.alive():
                log(f"error: the {server.name} server died:\n{server.logfile.read_text()[-3000:]}")
                return 1
        for key, count in round_kinds.items():
            kinds[key] = kinds.get(key, 0) + count
        for key, count in round_problems.items():
            problems[key] = problems.get(key, 0) + count
        for name, count in round_served.items():
            served[name] += count
        total = sum(served.values())
        values = sample(servers, baseline)
        samples.append(Sample(total, time.monotonic() - began, values, dict(served)))
        log(
            f"{total:>10,} requests {time.monotonic() - began:6.0f} s  "
            + "  ".join(
                f"{n}: {int(values[n]['rss_kib'] or 0) / 1024:6.1f} MiB {values[n]['fds']} fds "
                f"{values[n]['tasks']} tasks"
                for n in names
            )
            + (f"  problems: {sum(round_problems.values())}" if round_problems else "")
        )
    elapsed = time.monotonic() - began
    cpu = {s.name: s.cpu() - cpu_start[s.name] for s in servers}
    ok, lines = verdict(samples, baseline, names, args, problems)
    for line in lines:
        log("  " + line)
    (outdir / "samples.json").write_text(
        json.dumps({"baseline": baseline, "samples": [asdict(s) for s in samples]}, indent=1)
    )
    svg = svg_plot(samples, names, args.warmup, args.tolerance)
    (outdir / "soak-rss.svg").write_text(svg)
    svg_ref = SVG.name if args.write_results else "soak-rss.svg"
    text = markdown(
        args, command, samples, baseline, names, kinds, elapsed, cpu, ok, lines, svg_ref
    )
    (outdir / "soak.md").write_text(text)
    log("\n" + text)
    if args.write_results:
        SVG.write_text(svg)
        write_results(text)
        log(f"wrote {RESULTS_MD.relative_to(REPO)} and {SVG.relative_to(REPO)}")
    log(f"verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
