"""A chassis app that SIGKILLs itself once at a chosen point of a request (for the crash tests).

`x-crash: after-effect` dies after the route's transaction block (effect written, response
not yet built); `x-crash: before-response` dies when the response is about to leave, i.e.
after the chassis committed. Each point kills the process once: a marker file under
CRASH_MARKERS remembers it, so the retry after the restart goes through.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marops_service.app import Pool, create_service_app
from marops_service.auth import Principal, Role, require
from marops_service.settings import ServiceSettings

MIGRATIONS = Path(tempfile.mkdtemp(prefix="crashing-app-"))
(MIGRATIONS / "001_things.sql").write_text("CREATE TABLE things (id serial PRIMARY KEY, label text NOT NULL);")


class Thing(BaseModel):
    label: str


def _die_once(point: str) -> None:
    marker = Path(os.environ["CRASH_MARKERS"]) / point
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)


router = APIRouter()


@router.post("/things", status_code=201)
async def create(body: Thing, request: Request, pool: Pool,
                 _: Annotated[Principal, Depends(require(Role.requester))]) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        thing_id = await conn.fetchval("INSERT INTO things (label) VALUES ($1) RETURNING id", body.label)
    if request.headers.get("x-crash") == "after-effect":
        _die_once(f"after-effect-{body.label}")
    return {"id": thing_id}


class CrashBeforeResponse:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        crash = scope["type"] == "http" and (b"x-crash", b"before-response") in scope["headers"]

        async def send_or_die(message: Message) -> None:
            if crash and message["type"] == "http.response.start":
                _die_once("before-response-" + scope["path"].strip("/"))
            await send(message)

        await self.app(scope, receive, send_or_die)


def create_app() -> FastAPI:
    settings = ServiceSettings(service_name="crashing")
    app = create_service_app(settings=settings, title="crashing", description="crash tests", routers=[router],
                             migrations=MIGRATIONS)
    app.add_middleware(CrashBeforeResponse)  # outermost: the chassis has committed when this sees the response
    return app
