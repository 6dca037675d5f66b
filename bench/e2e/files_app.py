"""The file-serving app of bench/e2e/files.py: Starlette's FileResponse for /<name>.

Starlette sends `http.response.pathsend` when the server advertises it (sailfish, granian) and
reads the file in 64 KiB body messages otherwise (uvicorn). The directory comes from
SF_FILES_DIR.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

ROOT = os.environ.get("SF_FILES_DIR", ".")


async def serve_file(request: Request) -> FileResponse:
    return FileResponse(os.path.join(ROOT, os.path.basename(request.path_params["name"])))


app = Starlette(routes=[Route("/{name}", serve_file)])
