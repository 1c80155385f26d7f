"""Consumed events -> use cases. Each handler runs inside the consumer's batch transaction.

Imported history (``event.is_historical``) never reserves, commits or releases money:
those handlers are live-only. Historical spend is still recorded in the ledger (it is
money that was spent, and recording its source reference makes a later re-send a no-op)
but it never raises threshold alerts.
"""

from __future__ import annotations

import asyncpg

from marops_events import contracts as c
from marops_events.envelope import Envelope
from marops_events.subscriptions import Subscriptions

from . import service
from .service import Rules

# An event that breaks a budget rule raises a Refusal (RuleViolation): the runner
# dead-letters it with the reason. (One holding a value PostgreSQL refuses,
# asyncpg.DataError, the runner dead-letters by itself.)
SUBSCRIPTIONS = Subscriptions("budget", deps=Rules)


@SUBSCRIPTIONS.on(c.BriefSubmitted, live_only=True)
async def brief_submitted(conn: asyncpg.Connection, event: Envelope[c.BriefSubmitted], rules: Rules) -> None:
    await service.brief_submitted(conn, event, rules)


@SUBSCRIPTIONS.on(c.GateApproved, live_only=True)
async def gate_approved(conn: asyncpg.Connection, event: Envelope[c.GateApproved], rules: Rules) -> None:
    # A change request's gates decide the change, which ChangeDecided announces as a whole.
    if event.data.gate_kind is c.GateKind.budget and event.data.change_id is None:
        await service.budget_gate_approved(conn, event, rules)


@SUBSCRIPTIONS.on(c.GateRejected, live_only=True)
async def gate_rejected(conn: asyncpg.Connection, event: Envelope[c.GateRejected], rules: Rules) -> None:
    # "Changes requested" keeps the reservation: the resubmitted version adjusts it. A
    # rejected change request releases nothing (ChangeDecided drops its top-up).
    if event.data.kind is c.RejectionKind.rejected and event.data.change_id is None:
        await service.rejected_outright(conn, event, rules)


@SUBSCRIPTIONS.on(c.ChangeRequested, live_only=True)
async def change_requested(conn: asyncpg.Connection, event: Envelope[c.ChangeRequested], rules: Rules) -> None:
    await service.change_requested(conn, event, rules)


@SUBSCRIPTIONS.on(c.ChangeDecided, live_only=True)
async def change_decided(conn: asyncpg.Connection, event: Envelope[c.ChangeDecided], rules: Rules) -> None:
    await service.change_decided(conn, event, rules)


@SUBSCRIPTIONS.on(c.CampaignCancelled, live_only=True)
async def campaign_cancelled(conn: asyncpg.Connection, event: Envelope[c.CampaignCancelled], rules: Rules) -> None:
    await service.campaign_cancelled(conn, event, rules)


@SUBSCRIPTIONS.on(c.SpendRecorded)
async def spend_recorded(conn: asyncpg.Connection, event: Envelope[c.SpendRecorded], rules: Rules) -> None:
    await service.spend_consumed(conn, event, rules)
