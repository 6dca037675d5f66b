"""A Quart application: a route and JSON in and out."""

from __future__ import annotations

from quart import Quart, jsonify, request

app = Quart(__name__)


@app.route("/")
async def index() -> str:
    return "hello quart"


@app.route("/json", methods=["POST"])
async def echo_json() -> object:
    data = await request.get_json()
    return jsonify({"received": data, "count": len(data)})
