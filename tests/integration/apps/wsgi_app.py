"""A plain WSGI application for the command-line tests (`--interface wsgi`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from wsgiref.validate import validator


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size)
    text = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {threading.current_thread().name}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode("latin-1"), b" ", body]


app = validator(_app)
