"""Starlette serving one file with `FileResponse`, for the extension tests.

The path comes from SAILFISH_TEST_FILE (the subprocess tests) or `make_app(path)`. `sent`
records the type of every response message the app sends (GET /sent lists them, for a server in
another process), so a test can see that Starlette chose `http.response.pathsend` because the
server advertised it.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route


def make_app(path: str) -> tuple[Any, list[str]]:
    sent: list[str] = []

    async def file(request: Request) -> FileResponse:
        return FileResponse(path)

    async def small(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def messages(request: Request) -> PlainTextResponse:
        return PlainTextResponse(" ".join(sent))

    starlette = Starlette(
        routes=[Route("/file", file), Route("/small", small), Route("/sent", messages)]
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: Any) -> None:
            sent.append(message["type"])
            await send(message)

        await starlette(scope, receive, recording_send)

    return app, sent


app, _ = make_app(os.environ.get("SAILFISH_TEST_FILE", os.devnull))
