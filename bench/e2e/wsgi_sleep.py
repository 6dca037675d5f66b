"""The thread-pool goal of issue 13: 10 WSGI requests that each sleep 0.5 s, on 10 threads.

    python bench/e2e/wsgi_sleep.py                 # 5 rounds, --interface wsgi and the middleware
    python bench/e2e/wsgi_sleep.py --rounds 3 --requests 10 --threads 10 --sleep 0.5

Strategy: one sailfish process per mode (`--interface wsgi --wsgi-threads N`, and the same app
behind `sailfish.wsgi.WSGIMiddleware(workers=N)` served as ASGI), started from this tree.
Each round opens N connections first, then sends one request on each from its own thread at
once and times from the first send to the last whole response: with N threads and N requests
the wall time is the sleep plus the server's overhead, and a server that ran them one after
the other would take N times the sleep. The goal is at most 0.6 s for 10 x 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
APP = """
import os, time
SLEEP = float(os.environ["SLEEP_SECONDS"])
def app(environ, start_response):
    time.sleep(SLEEP)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"slept"]
def __getattr__(name):
    if name == "mounted":
        from sailfish.wsgi import WSGIMiddleware
        return WSGIMiddleware(app, workers=int(os.environ["SLEEP_THREADS"]))
    raise AttributeError(name)
"""
LISTENING = re.compile(r"Listening on http://127\.0\.0\.1:(\d+)")


def start(
    mode: str, threads: int, sleep: float, app_dir: Path
) -> tuple[subprocess.Popen[str], int]:
    target = ["sleep_app:app", "--interface", "wsgi", "--wsgi-threads", str(threads)]
    if mode == "middleware":
        target = ["sleep_app:mounted"]
    env = dict(os.environ, PYTHONPATH=str(SRC), SLEEP_SECONDS=str(sleep))
    env["SLEEP_THREADS"] = str(threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sailfish", *target, "--app-dir", str(app_dir), "--port", "0"]
        + ["--no-access-log", "--lifespan", "off"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        match = LISTENING.search(line)
        if match:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep it drained
            return proc, int(match.group(1))
    raise SystemExit(f"{mode}: the server did not start")


def one_round(port: int, count: int) -> float:
    """Seconds from the first send to the last whole response, `count` requests at once."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    go = threading.Barrier(count + 1)
    done: list[float] = []

    def client(sock: socket.socket) -> None:
        go.wait()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        data = b""
        while not data.endswith(b"slept"):
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"closed early: {data!r}")
            data += chunk
        done.append(time.perf_counter())

    workers = [threading.Thread(target=client, args=(sock,)) for sock in conns]
    for worker in workers:
        worker.start()
    go.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    for sock in conns:
        sock.close()
    if len(done) != count:
        raise RuntimeError("a request failed")
    return max(done) - began


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=0.5)
    args = parser.parse_args(argv)
    app_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"sailfish-wsgi-sleep-{os.getpid()}"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "sleep_app.py").write_text(APP)
    print(
        f"| mode | {args.requests} x {args.sleep} s on {args.threads} threads: wall s, "
        f"median (min-max of {args.rounds}) |"
    )
    print("|---|---|")
    for mode in ("wsgi", "middleware"):
        proc, port = start(mode, args.threads, args.sleep, app_dir)
        try:
            one_round(port, args.requests)  # warm-up: threads started, imports done
            times = [one_round(port, args.requests) for _ in range(args.rounds)]
        finally:
            proc.terminate()
            proc.wait(10)
        label = "--interface wsgi" if mode == "wsgi" else "WSGIMiddleware"
        print(f"| {label} | {statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
