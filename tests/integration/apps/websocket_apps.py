"""WebSocket routes in Starlette and FastAPI, for tests/integration/test_websocket.py.

Each framework gets the same three routes: `/echo` (text, bytes and JSON back, and a close
with code and reason when asked), `/chat` (accepts the subprotocol "chat.v2" if offered) and
`/private` (a denial response: 401 with a header and a body). `make_*()` builds a fresh app.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close please":
                await websocket.close(code=4002, reason="as asked")
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


async def _chat(websocket: WebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol="chat.v2" if "chat.v2" in offered else None)
    await websocket.send_json({"offered": offered, "query": websocket.query_params.get("who")})
    await websocket.close()


async def _private(websocket: WebSocket) -> None:
    await websocket.send_denial_response(
        PlainTextResponse("no entry", status_code=401, headers={"www-authenticate": "Token"})
    )


def make_starlette() -> Starlette:
    return Starlette(
        routes=[
            WebSocketRoute("/echo", _echo),
            WebSocketRoute("/chat", _chat),
            WebSocketRoute("/private", _private),
        ]
    )


def make_fastapi() -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    app.add_api_websocket_route("/echo", _echo)
    app.add_api_websocket_route("/chat", _chat)
    app.add_api_websocket_route("/private", _private)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"http": "still served"}

    return app
