"""The metrics service: read models of SPEC section 4, built from every topic.

`uvicorn --factory marops_metrics.main:create_app`
"""

from fastapi import FastAPI

from marops_service import refusals
from marops_service.app import create_service_app

from . import changes, operations, outcomes, overview, review_packs, reviews
from .api import REFUSALS, router
from .handlers import HANDLERS
from .service import on_started
from .settings import MIGRATIONS_DIR, Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        settings=settings or Settings(),
        title="marops metrics",
        description="Read models for cycle time, gate waits, rework, on-time launch, SLA breaches, budget "
                    "variance and data completeness, built from every event topic; rebuildable.",
        routers=[router, overview.router, operations.router, outcomes.router, changes.router, reviews.router],
        migrations=MIGRATIONS_DIR,
        handlers=HANDLERS,
        on_started=on_started,
        workers=[review_packs.review_timer],
    )
    refusals.install(app, REFUSALS)
    return app
