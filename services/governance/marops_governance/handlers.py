"""Consumed events -> stored facts. Each handler runs inside the consumer's batch transaction.

Handlers only record facts (idempotently per business fact, not just per event id);
gate state is derived from the facts when read, so a BudgetReserved that overtakes its
BriefSubmitted, or a duplicate under a new event id, ends in the same state. Imported
history (``event.is_historical``) is ignored: governance must not open gates for it.
"""

from __future__ import annotations

import asyncpg

from marops_events import contracts as c
from marops_events import outbox
from marops_events.consumer import BatchHandler, Unprocessable
from marops_events.envelope import Envelope, utcnow
from marops_events.registry import new_event
from marops_events.subscriptions import E, Subscriptions, TypedHandler
from marops_service.locks import lock_campaign, lock_campaigns

from . import notifier, repository
from .domain import (
    BriefVersion,
    BudgetFact,
    BudgetFactKind,
    BudgetRelease,
    Cancellation,
    ChangeInfo,
    ChangeOutcome,
    applicable_gates,
    change_gates,
    change_kinds,
    change_verdict,
)
from .policy import check_amount
from .repository import Audit

BUDGET = "budget"

SUBSCRIPTIONS = Subscriptions("governance")


def _money(value: c.Money) -> c.Money:
    try:
        return check_amount(value, max_places=None)
    except ValueError as exc:
        raise Unprocessable(f"amount {value.amount} {value.currency}: {exc}") from None


def _storable(handler: TypedHandler[E]) -> TypedHandler[E]:
    """Dead-letter what PostgreSQL could never store."""

    async def handle(conn: asyncpg.Connection, event: Envelope[E]) -> None:
        if "\\u0000" in event.data.model_dump_json():
            raise Unprocessable("text contains the NUL character, which cannot be stored")
        await handler(conn, event)

    return handle


@SUBSCRIPTIONS.on(c.BriefSubmitted, live_only=True)
@_storable
async def on_brief_submitted(conn: asyncpg.Connection, event: Envelope[c.BriefSubmitted]) -> None:
    data = event.data
    await lock_campaign(conn, data.campaign_id)
    policy_version, policy = await repository.policy_in_force(conn, event.time)
    brief = BriefVersion(
        campaign_id=data.campaign_id, version=data.version, submitted_at=event.time, requester=data.requester,
        owner=data.owner, team=data.team, title=data.title, channels=tuple(data.channels),
        amount=_money(data.budget_request.amount), budget_line_id=data.budget_request.budget_line_id,
        kpis=tuple(data.kpis), tracking_plan=data.tracking_plan, raci=data.raci,
        target_launch_date=data.target_launch_date, policy_version=policy_version, event_id=event.id,
        correlation_id=event.correlationid, authors=tuple(data.authors) or (data.requester,),
    )
    gates = applicable_gates(policy, brief)
    recorded = await repository.insert_brief_version(conn, brief, Audit(
        "gates_opened", data.requester, event.time, policy_version=policy_version,
        details={"brief_version": data.version, "gates": [g.id for g in gates], "event_id": str(event.id)}))
    if recorded:  # the first gate's approvers hear of it (rights as of now: the system clock)
        await notifier.dispatch_for(conn, data.campaign_id, utcnow())


@SUBSCRIPTIONS.on(c.ChangeRequested, live_only=True)
@_storable
async def on_change_requested(conn: asyncpg.Connection, event: Envelope[c.ChangeRequested]) -> None:
    """The proposal is stored as a brief version of its own, with the gates the change rules
    of the policy in force name for it; a change that needs no gate is approved at once."""
    data, proposal = event.data, event.data.brief
    await lock_campaign(conn, data.campaign_id)
    policy_version, policy = await repository.policy_in_force(conn, event.time)
    brief = BriefVersion(
        campaign_id=data.campaign_id, version=proposal.version, submitted_at=event.time, requester=data.requested_by,
        owner=proposal.owner, team=proposal.team, title=proposal.title, channels=tuple(proposal.channels),
        amount=_money(proposal.budget_request.amount), budget_line_id=proposal.budget_request.budget_line_id,
        kpis=tuple(proposal.kpis), tracking_plan=proposal.tracking_plan, raci=proposal.raci,
        target_launch_date=proposal.target_launch_date, policy_version=policy_version, event_id=event.id,
        correlation_id=event.correlationid,
        authors=tuple(sorted({*proposal.authors, proposal.requester, data.requested_by})),
    )
    kinds = change_kinds([ch.value for ch in data.changes], data.base_amount, brief.amount, data.base_channels,
                         brief.channels)
    gates = change_gates(policy, brief, kinds)
    brief = BriefVersion(**{**brief.__dict__, "change": ChangeInfo(
        data.change_id, data.base_version, tuple(ch.value for ch in data.changes), data.reason, gates)})
    if not await repository.insert_brief_version(conn, brief):
        return
    await repository.audit(conn, campaign_id=data.campaign_id, action="change_gates_opened",
                           actor=data.requested_by, at=event.time, reason=data.reason, policy_version=policy_version,
                           details={"change_id": data.change_id, "brief_version": brief.version,
                                    "changes": sorted(kinds), "gates": list(gates), "event_id": str(event.id)})
    if not gates:
        outcome = ChangeOutcome(data.change_id, brief.version, c.ChangeOutcome.approved, "governance", event.time,
                                "no change rule of the policy names a gate for this change")
        if await repository.insert_change_outcome(conn, data.campaign_id, outcome):
            verdict = change_verdict(data.campaign_id, brief, outcome)
            await outbox.add(conn, new_event(verdict.event, source="marops/governance", time=event.time,
                                             correlation_id=event.correlationid, causation_id=str(event.id)))
    campaign = await repository.load_campaign(conn, data.campaign_id)
    if campaign is not None:  # the change's first gate's approvers hear of it, or the requester of its approval
        await notifier.dispatch(conn, campaign, utcnow())


@SUBSCRIPTIONS.on(c.ReviewPackPublished, live_only=True)
@_storable
async def on_review_pack_published(conn: asyncpg.Connection, event: Envelope[c.ReviewPackPublished]) -> None:
    """metrics' weekly review pack goes to the directory's read-everything roles, once per pack."""
    await notifier.tell_review_pack(conn, event.data, utcnow())


@SUBSCRIPTIONS.on(c.CampaignPaused, live_only=True)
async def on_campaign_paused(conn: asyncpg.Connection, event: Envelope[c.CampaignPaused]) -> None:
    await lock_campaign(conn, event.data.campaign_id)
    await repository.record_pause(conn, event.data.campaign_id, event.data.pause, paused_at=event.time)


@SUBSCRIPTIONS.on(c.CampaignResumed, live_only=True)
async def on_campaign_resumed(conn: asyncpg.Connection, event: Envelope[c.CampaignResumed]) -> None:
    await lock_campaign(conn, event.data.campaign_id)
    await repository.record_pause(conn, event.data.campaign_id, event.data.pause, resumed_at=event.time)


@SUBSCRIPTIONS.on(c.CampaignCancelled, live_only=True)
@_storable
async def on_campaign_cancelled(conn: asyncpg.Connection, event: Envelope[c.CampaignCancelled]) -> None:
    data = event.data
    await lock_campaign(conn, data.campaign_id)
    await repository.insert_cancellation(
        conn, data.campaign_id, Cancellation(event.time, data.cancelled_by, data.reason), event.id,
        Audit("gates_closed", data.cancelled_by, event.time, reason=data.reason, details={"event_id": str(event.id)}))


BudgetFactEvent = c.BudgetReserved | c.BudgetReservationRejected | c.BudgetCommitted
BUDGET_FACT_KINDS = {"BudgetReserved": BudgetFactKind.reserved,
                     "BudgetReservationRejected": BudgetFactKind.reservation_rejected,
                     "BudgetCommitted": BudgetFactKind.committed}


def _budget_fact(event: Envelope[BudgetFactEvent]) -> tuple[BudgetFact, Audit]:
    if "\\u0000" in event.data.model_dump_json():
        raise Unprocessable("text contains the NUL character, which cannot be stored")
    data, kind = event.data, BUDGET_FACT_KINDS[event.type]
    amount = data.requested if isinstance(data, c.BudgetReservationRejected) else data.amount
    fact = BudgetFact(
        brief_version=data.brief_version, kind=kind, budget_line_id=data.budget_line_id, amount=_money(amount),
        occurred_at=event.time, reason_code=getattr(data, "reason_code", None),
        reason=getattr(data, "reason", None),
    )
    return fact, Audit(
        f"budget_{kind.value}", BUDGET, event.time, reason=fact.reason,
        details={"brief_version": data.brief_version, "budget_line_id": data.budget_line_id,
                 "amount": amount.model_dump(mode="json"), "reason_code": fact.reason_code,
                 "event_id": str(event.id)})


async def record_budget_facts(conn: asyncpg.Connection, events: list[Envelope[BudgetFactEvent]]) -> None:
    """Budget's answers of a fetched batch, set-wise: the campaigns locked (in id order), then
    every fact stored with its audit entry in one statement (two statements a batch; they were
    two an event). Of one campaign's version and kind the latest by business time is kept,
    as one at a time would."""
    latest: dict[tuple[str, int, BudgetFactKind], tuple[BudgetFact, Envelope[BudgetFactEvent], Audit]] = {}
    for event in events:
        fact, audit = _budget_fact(event)
        key = (event.data.campaign_id, fact.brief_version, fact.kind)
        kept = latest.get(key)
        if kept is None or fact.occurred_at > kept[0].occurred_at:
            latest[key] = (fact, event, audit)
    if not latest:
        return
    await lock_campaigns(conn, sorted({campaign_id for campaign_id, _, _ in latest}))
    await repository.upsert_budget_facts(conn, [(campaign_id, fact, event.id, audit)
                                                for (campaign_id, _, _), (fact, event, audit) in latest.items()])


SUBSCRIPTIONS.add((c.BudgetReserved, c.BudgetReservationRejected, c.BudgetCommitted),
                  BatchHandler(record_budget_facts), live_only=True)


@SUBSCRIPTIONS.on(c.BudgetReleased, live_only=True)
@_storable
async def on_budget_released(conn: asyncpg.Connection, event: Envelope[c.BudgetReleased]) -> None:
    data = event.data
    await lock_campaign(conn, data.campaign_id)
    release = BudgetRelease(_money(data.amount), data.reason.value, event.time)
    await repository.insert_release(
        conn, data.campaign_id, release, data.budget_line_id, event.id,
        Audit("budget_released", BUDGET, event.time, reason=data.reason.value,
              details={"budget_line_id": data.budget_line_id, "amount": data.amount.model_dump(mode="json"),
                       "event_id": str(event.id)}))
