"""The WSGI application of the WSGI benchmark (bench/e2e/wsgi_bench.py), no framework.

Routes: GET / -> 200 "Hello, world!" (13 bytes); GET /10k -> 200, 10 KiB; both with a
Content-Length, returned as a one-item list (what frameworks hand a server for a plain
response). `asgi` is the same app behind a2wsgi's WSGIMiddleware (for uvicorn), `mounted`
behind sailfish's (for sailfish as an ASGI server).
"""

from __future__ import annotations

HELLO = b"Hello, world!"
TEN_K = b"x" * 10240
_HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]
_TEN_K_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(TEN_K)))]
THREADS = 10


def app(environ, start_response):
    if environ["PATH_INFO"] == "/10k":
        start_response("200 OK", _TEN_K_HEADERS)
        return [TEN_K]
    start_response("200 OK", _HELLO_HEADERS)
    return [HELLO]


def __getattr__(name):
    # Built on first use, so each server imports only the adapter it runs.
    if name == "asgi":
        from a2wsgi import WSGIMiddleware

        return WSGIMiddleware(app, workers=THREADS)
    if name == "mounted":
        from sailfish.wsgi import WSGIMiddleware

        return WSGIMiddleware(app, workers=THREADS)
    raise AttributeError(name)
