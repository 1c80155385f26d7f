"""The budget service: `uvicorn --factory marops_budget.main:create_app`.

Budget lines (the plan), reservations and commitments tied to campaigns, the spend
ledger fed by the API and by other systems over Kafka, reallocations and variance.
"""

from pathlib import Path

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from marops_service.app import create_service_app
from marops_service.problems import Unprocessable, problem_response

from .api import router
from .handlers import build_handlers
from .service import Rules
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings=settings,
        title="marops budget",
        description=__doc__ or "",
        routers=[router],
        migrations=Path(__file__).parent / "migrations",
        handlers=build_handlers(Rules.from_settings(settings)),
    )
    app.add_exception_handler(asyncpg.DataError, _unstorable)
    return app


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # Input PostgreSQL cannot hold (a NUL character in a text, say) is the client's error, not a 500.
    return problem_response(Unprocessable(f"a value cannot be stored: {exc}").body(instance=request.url.path))
