"""A Starlette application: routes, params, JSON, streaming, forms, bodies, background tasks.

`make_app()` builds a fresh app with its own `Recorder`, so tests stay independent; the
lifespan fills the state that requests read back through `request.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


class Recorder:
    def __init__(self) -> None:
        self.background_done = threading.Event()
        self.background_started_after_response = False
        self.lifespan: list[str] = []


def make_app() -> tuple[Starlette, Recorder]:
    recorder = Recorder()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        recorder.lifespan.append("startup")
        yield {"greeting": "hello from lifespan", "shared": {"hits": 0}}
        recorder.lifespan.append("shutdown")

    async def home(request: Request) -> Response:
        return PlainTextResponse("home")

    async def item(request: Request) -> Response:
        item_id = request.path_params["item_id"]
        return JSONResponse({"item_id": item_id, "type": type(item_id).__name__})

    async def query(request: Request) -> Response:
        return JSONResponse(
            {
                "single": request.query_params.get("a"),
                "multi": request.query_params.getlist("b"),
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode(),
                "client_host": request.client.host if request.client else None,
            }
        )

    async def json_echo(request: Request) -> Response:
        data = await request.json()
        return JSONResponse({"received": data, "keys": sorted(data)}, status_code=201)

    async def stream(request: Request) -> Response:
        count = int(request.query_params.get("n", "5"))

        async def generate() -> AsyncIterator[bytes]:
            for i in range(count):
                yield f"line {i}\n".encode()
                await asyncio.sleep(0.005)

        return StreamingResponse(generate(), media_type="text/plain")

    async def upload(request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            content = await upload.read()  # type: ignore[union-attr]
            return JSONResponse(
                {
                    "field": form["field"],
                    "filename": upload.filename,  # type: ignore[union-attr]
                    "content_type": upload.content_type,  # type: ignore[union-attr]
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            )

    async def urlencoded(request: Request) -> Response:
        async with request.form() as form:
            return JSONResponse({key: form.getlist(key) for key in form})

    async def body(request: Request) -> Response:
        data = await request.body()
        return JSONResponse({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    async def background(request: Request) -> Response:
        async def task() -> None:
            await asyncio.sleep(0.5)
            recorder.background_done.set()

        return PlainTextResponse("scheduled", background=BackgroundTask(task))

    async def state(request: Request) -> Response:
        greeting = getattr(request.state, "greeting", None)
        shared = getattr(request.state, "shared", None)
        if shared is not None:
            shared["hits"] += 1
        return JSONResponse(
            {"greeting": greeting, "hits": shared["hits"] if shared is not None else None}
        )

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/items/{item_id:int}", item),
            Route("/query/{rest:path}", query),
            Route("/json", json_echo, methods=["POST"]),
            Route("/stream", stream),
            Route("/upload", upload, methods=["POST"]),
            Route("/form", urlencoded, methods=["POST"]),
            Route("/body", body, methods=["POST"]),
            Route("/background", background),
            Route("/state", state),
            Route("/boom", boom),
        ],
        lifespan=lifespan,
    )
    return app, recorder
