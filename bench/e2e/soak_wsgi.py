"""The WSGI application of the soak (bench/soak.py), served with `--interface wsgi`.

Routes:
- GET / (and any path not listed) -> 200 "Hello, world!" (13 bytes, one-item list).
- POST /upload -> reads wsgi.input to the end (Content-Length or chunked), answers its length.
- GET /missing... -> 404.
- GET /stream -> 10 parts from a generator, no content-length: chunked.
- GET /error -> raises before start_response: 500 and a logged traceback.
- GET /_soak/stats -> JSON {"tasks": N, "threads": N}: asyncio tasks alive on the server's loop
  (counted on the loop itself, besides the one counting) and the process's Python threads.

The server imports this module from its running loop (sailfish's Config.load() runs inside
Server.serve()), which is how the stats route finds the loop without asking sailfish for it.
"""

from __future__ import annotations

import asyncio
import json
import threading

HELLO = b"Hello, world!"
STREAM_PART = b"Hello, world!\n"
_HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]

try:
    _LOOP: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
except RuntimeError:  # imported outside the server's loop: the stats report no task count
    _LOOP = None


class SoakError(Exception):
    """What /error raises: the server must answer 500 and go on."""


async def _count_tasks() -> int:
    current = asyncio.current_task()
    return sum(1 for task in asyncio.all_tasks() if task is not current)


def _stream():
    for _ in range(10):
        yield STREAM_PART


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/upload":
        stream = environ["wsgi.input"]
        size = 0
        while True:
            data = stream.read(65536)
            if not data:
                break
            size += len(data)
        body = str(size).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if path.startswith("/missing"):
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stream()
    if path == "/error":
        raise SoakError("soak: an error in a WSGI app (500 expected)")
    if path == "/_soak/stats":
        tasks = None
        if _LOOP is not None:
            tasks = asyncio.run_coroutine_threadsafe(_count_tasks(), _LOOP).result(10)
        body = json.dumps({"tasks": tasks, "threads": threading.active_count()}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]
    start_response("200 OK", _HELLO_HEADERS)
    return [HELLO]
