"""The governance service: `uvicorn --factory marops_governance.main:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from marops_service.app import create_service_app

from .api import router
from .handlers import HANDLERS
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="marops governance",
        description=__doc__ or "",
        routers=[router],
        migrations=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
    )
