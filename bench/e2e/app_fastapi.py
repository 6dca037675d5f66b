"""S6: the FastAPI application every server under test runs for scenario S6.

GET /items/{item_id}?q=... -> 200 application/json {"item_id": <int>, "q": <str or null>}: a path
parameter converted to int and a query parameter, validated by FastAPI (pydantic) and serialized
by its JSONResponse, so the figure includes what a framework user pays per request. FastAPI's
defaults are kept (the /docs, /redoc and /openapi.json routes stay registered, as in most apps).

FastAPI is installed into .venv-bench by bench/e2e/run.py, never into sailfish's dependencies.
This is a separate module (not a route of app.py) so S1-S5 servers never import FastAPI.
"""

from fastapi import FastAPI

app = FastAPI()


# No return annotation, as in FastAPI's tutorial: it would make a response_model that pydantic
# validates again on the way out.
@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}
