"""The peer of the HTTP benchmark: a bare FastAPI endpoint (a pydantic body, one asyncpg INSERT)
under the same uvicorn, against the same PostgreSQL. No auth, outbox, idempotency or telemetry:
what the platform's endpoints are compared with."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    amount: Decimal


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BARE_DATABASE_URL"], min_size=1, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})


@app.post("/items", status_code=201)
async def create(item: Item, request: Request) -> dict[str, int]:
    item_id = await request.app.state.pool.fetchval(
        "INSERT INTO items (name, amount) VALUES ($1, $2) RETURNING id", item.name, item.amount)
    return {"id": item_id}
