"""The budget service: `uvicorn --factory marops_budget.main:create_app`.

Budget lines (the plan), reservations and commitments tied to campaigns, the spend
ledger fed by the API and by other systems over Kafka, reallocations and variance.
"""

from pathlib import Path

from fastapi import FastAPI

from marops_service import refusals
from marops_service.app import create_service_app

from .api import REFUSALS, router
from .handlers import SUBSCRIPTIONS
from .plans_api import router as plans_router
from .service import Rules
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings=settings,
        title="marops budget",
        description=__doc__ or "",
        routers=[router, plans_router],
        migrations=Path(__file__).parent / "migrations",
        handlers=SUBSCRIPTIONS.handlers(Rules.from_settings(settings)),
    )
    refusals.install(app, REFUSALS)
    return app
