"""Consumed events -> use cases. Each handler runs inside the consumer's batch transaction.

Imported history (``event.is_historical``) never reserves, commits or releases money:
those handlers ignore it. Historical spend is still recorded in the ledger (it is money
that was spent, and recording its source reference makes a later re-send a no-op) but
it never raises threshold alerts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from marops_events import contracts as c
from marops_events.consumer import Handler, Unprocessable
from marops_events.envelope import Envelope

from . import service
from .domain import RuleViolation
from .service import Rules

UseCase = Callable[[asyncpg.Connection, Envelope, Rules], Awaitable[None]]


def build_handlers(rules: Rules) -> dict[str, Handler]:
    async def refusing(use_case: UseCase, conn: asyncpg.Connection, event: Envelope) -> None:
        """Run a use case; an event that breaks a budget rule goes to the dead-letter topic.
        (One holding a value PostgreSQL refuses, asyncpg.DataError, the consumer runner
        dead-letters by itself.)"""
        try:
            await use_case(conn, event, rules)
        except RuleViolation as exc:
            raise Unprocessable(exc.message) from exc

    def live_only(use_case: UseCase) -> Handler:
        async def handle(conn: asyncpg.Connection, event: Envelope) -> None:
            if not event.is_historical:
                await refusing(use_case, conn, event)
        return handle

    async def gate_approved(conn: asyncpg.Connection, event: Envelope, rules: Rules) -> None:
        if event.data.gate_kind is c.GateKind.budget:
            await service.budget_gate_approved(conn, event, rules)

    async def gate_rejected(conn: asyncpg.Connection, event: Envelope, rules: Rules) -> None:
        # "Changes requested" keeps the reservation: the resubmitted version adjusts it.
        if event.data.kind is c.RejectionKind.rejected:
            await service.rejected_outright(conn, event, rules)

    async def spend_recorded(conn: asyncpg.Connection, event: Envelope) -> None:
        await refusing(service.spend_consumed, conn, event)

    return {
        "BriefSubmitted": live_only(service.brief_submitted),
        "GateApproved": live_only(gate_approved),
        "GateRejected": live_only(gate_rejected),
        "CampaignCancelled": live_only(service.campaign_cancelled),
        "SpendRecorded": spend_recorded,
    }
