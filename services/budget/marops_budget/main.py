"""The budget service: `uvicorn --factory marops_budget.main:create_app`.

Budget lines (the plan), reservations and commitments tied to campaigns, the spend
ledger fed by the API and by other systems over Kafka, reallocations and variance.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path

from fastapi import FastAPI

from marops_service import refusals
from marops_service.app import Runtime, create_service_app

from .api import REFUSALS, router
from .handlers import SUBSCRIPTIONS
from .plans_api import router as plans_router
from .service import Rules, sweep_forecasts
from .settings import Settings

log = logging.getLogger(__name__)


async def _sweep(runtime: Runtime, settings: Settings) -> None:
    rules = Rules.from_settings(settings)
    while not runtime.stop.is_set():
        try:
            await sweep_forecasts(runtime.pool, rules)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database being away is no reason to stop; next round
            log.warning("run-out forecasts not re-evaluated this round", exc_info=True)
        with suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=settings.run_out_sweep_interval_seconds)


def _on_started(settings: Settings) -> Callable[[Runtime], Awaitable[None]]:
    async def started(runtime: Runtime) -> None:
        if runtime.settings.run_workers:  # the worker processes, not the API ones
            runtime.tasks.append(asyncio.create_task(_sweep(runtime, settings), name="run-out-forecasts"))
    return started


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings=settings,
        title="marops budget",
        description=__doc__ or "",
        routers=[router, plans_router],
        migrations=Path(__file__).parent / "migrations",
        handlers=SUBSCRIPTIONS.handlers(Rules.from_settings(settings)),
        on_started=_on_started(settings),
    )
    refusals.install(app, REFUSALS)
    return app
