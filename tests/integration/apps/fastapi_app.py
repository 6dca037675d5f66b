"""A FastAPI application: pydantic models in and out, validation (422), a dependency, UploadFile."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, UploadFile
from pydantic import BaseModel, Field

app = FastAPI()


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


class PricedItem(BaseModel):
    name: str
    price: float
    tags: list[str]
    price_with_tax: float


def require_token(x_token: Annotated[str | None, Header()] = None) -> str:
    if x_token != "secret":
        raise HTTPException(status_code=401, detail="bad token")
    return x_token


@app.post("/items", response_model=PricedItem)
async def create_item(item: Item) -> PricedItem:
    return PricedItem(**item.model_dump(), price_with_tax=round(item.price * 1.2, 2))


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}


@app.get("/private")
async def private(token: Annotated[str, Depends(require_token)]) -> dict[str, str]:
    return {"token": token}


@app.post("/files")
async def upload(
    file: Annotated[UploadFile, File()], note: Annotated[str, Form()] = ""
) -> dict[str, object]:
    content = await file.read()
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "note": note,
    }


@app.get("/sync")
def sync_endpoint() -> dict[str, str]:  # runs in the threadpool
    return {"sync": "ok"}
