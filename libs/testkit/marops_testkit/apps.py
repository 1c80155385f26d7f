"""Run a service app in-process (lifespan, workers and all) and call it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from marops_service.auth import mint
from marops_service.settings import ServiceSettings

TEST_JWT_SECRET = "test-only-secret-not-for-production-0123456789"


def service_settings(settings_cls: type[ServiceSettings], *, pg_dsn: str, kafka_bootstrap: str,
                  topic_prefix: str, **overrides: Any) -> Any:
    """Settings for one test: its own database, its own topics, fast polling."""
    values: dict[str, Any] = dict(
        database_url=pg_dsn, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix,
        topic_partitions=3, jwt_secret=TEST_JWT_SECRET, outbox_poll_interval=0.1, log_json=False,
        log_level="WARNING",
    )
    values.update(overrides)
    return settings_cls(**values)


def token(settings: ServiceSettings, subject: str, *roles: str, team: str | None = None,
          source_systems: list[str] | None = None) -> str:
    return mint(settings, subject, list(roles), team, source_systems=source_systems)


def auth(settings: ServiceSettings, subject: str, *roles: str, team: str | None = None,
         source_systems: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, subject, *roles, team=team, source_systems=source_systems)}"}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan and yield an HTTP client bound to it."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
