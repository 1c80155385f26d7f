"""The intake service: `uvicorn --factory marops_intake.main:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from marops_service import refusals
from marops_service.app import create_service_app

from .api import REFUSALS, router
from .handlers import SUBSCRIPTIONS
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        settings=settings or Settings(),
        title="marops intake",
        description=__doc__ or "",
        routers=[router],
        migrations=Path(__file__).parent / "migrations",
        handlers=SUBSCRIPTIONS.handlers(),
    )
    refusals.install(app, REFUSALS)
    return app
