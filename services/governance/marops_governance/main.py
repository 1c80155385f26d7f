"""The governance service: `uvicorn --factory marops_governance.main:create_app`.

Owns the policy (gates, decision rights, SLAs), gate decisions, RACI, the risk register
and launch authorisation; publishes GateApproved, GateRejected and CampaignLaunched, and
SlaBreached / GateEscalated when a gate's SLA runs out. Notifies approvers, owners and ops
(e-mail, signed webhooks) from a directory ops_admin keeps.
"""

from pathlib import Path

from fastapi import FastAPI

from marops_service import refusals
from marops_service.app import Runtime, create_service_app

from . import notifier, service
from .api import REFUSALS, router
from .handlers import SUBSCRIPTIONS
from .notifications_api import router as notifications_router
from .settings import Settings


async def _seed(runtime: Runtime) -> None:
    await service.seed_policy(runtime.pool)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        settings=settings or Settings(),
        title="marops governance",
        description=__doc__ or "",
        routers=[router, notifications_router],
        migrations=Path(__file__).parent / "migrations",
        handlers=SUBSCRIPTIONS.handlers(),
        on_started=_seed,
        workers=[notifier.deadline_timer, notifier.delivery_loop],
    )
    refusals.install(app, REFUSALS)
    return app
