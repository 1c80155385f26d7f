"""Budget use cases: load -> domain -> save -> outbox, inside the caller's transaction.

Commands (API) and consumed events both end here, so a spend recorded through the API
and the same spend arriving on Kafka meet the same rule, and every decision about a
campaign is taken under that campaign's row lock.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
from pydantic import BaseModel

from marops_events import contracts as c
from marops_events import outbox
from marops_events.envelope import Envelope, utcnow
from marops_events.registry import new_event

from . import repository as repo
from .domain import (
    Brief,
    Commit,
    HoldStatus,
    Release,
    Reserve,
    Reserved,
    RuleViolation,
    Spend,
    brief_problem,
    check_adjustment,
    check_reallocation,
    check_spend,
    crossed_thresholds,
    decide_reservation,
    next_action,
    require_amount,
)
from .settings import Settings

log = logging.getLogger(__name__)

SOURCE = "marops/budget"
MAX_STEPS = 4  # reserve, commit (or release) and a margin: next_action converges in two


class UnknownLine(LookupError):
    def __init__(self, line_id: str) -> None:
        super().__init__(f"budget line {line_id!r} does not exist")
        self.line_id = line_id


@dataclass(frozen=True)
class Rules:
    thresholds: tuple[int, ...] = (80, 100, 110)
    pacing_tolerance_percent: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(tuple(settings.threshold_percents), settings.pacing_tolerance_percent)


@dataclass(frozen=True)
class Cause:
    """What led to a decision: its journey (correlation) and the triggering event."""

    correlation_id: str | None = None
    causation_id: str | None = None

    @classmethod
    def of(cls, event: Envelope) -> Cause:
        return cls(event.correlationid, str(event.id))


async def _publish(conn: asyncpg.Connection, payload: BaseModel, cause: Cause,
                   event_id: uuid.UUID | None = None) -> None:
    await outbox.add(conn, new_event(payload, source=SOURCE, time=utcnow(), correlation_id=cause.correlation_id,
                                     causation_id=cause.causation_id, event_id=event_id))


def _money(amount: Decimal, currency: str) -> c.Money:
    return c.Money(amount=amount, currency=currency)


# ------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class NewLine:
    id: str
    name: str | None
    fiscal_year: int
    quarter: int
    team: str
    channel: str
    amount: Decimal
    currency: str


async def create_line(conn: asyncpg.Connection, line: NewLine, actor: str, rules: Rules) -> asyncpg.Record:
    require_amount(line.amount, non_negative=True)
    if not await repo.insert_line(conn, line_id=line.id, name=line.name, fiscal_year=line.fiscal_year,
                                  quarter=line.quarter, team=line.team, channel=line.channel,
                                  amount=line.amount, currency=line.currency, actor=actor):
        raise RuleViolation(f"budget line {line.id!r} already exists", conflict=True)
    await repo.add_line_change(conn, line_id=line.id, kind="created", delta=line.amount,
                               amount_after=line.amount, reason=None, actor=actor)
    # Spend that named this line before it existed counts from now on.
    for campaign_id in await repo.campaigns_spending_on(conn, line.id):
        await repo.lock_campaign(conn, campaign_id)
        await evaluate_thresholds(conn, campaign_id, Cause(correlation_id=campaign_id), rules)
    return await _balance(conn, line.id)


async def _balance(conn: asyncpg.Connection, line_id: str) -> asyncpg.Record:
    row = await repo.line_balance(conn, line_id)
    if row is None:
        raise UnknownLine(line_id)
    return row


async def adjust_line(conn: asyncpg.Connection, line_id: str, amount: Decimal, currency: str, reason: str,
                      actor: str) -> asyncpg.Record:
    if not await repo.lock_lines(conn, [line_id]):
        raise UnknownLine(line_id)
    before = await _balance(conn, line_id)
    check_adjustment(line_id, repo.as_balance(before), amount, currency)
    await repo.set_line_amount(conn, line_id, amount)
    await repo.add_line_change(conn, line_id=line_id, kind="adjusted", delta=amount - before["amount"],
                               amount_after=amount, reason=reason, actor=actor)
    return await _balance(conn, line_id)


async def reallocate(conn: asyncpg.Connection, from_line_id: str, to_line_id: str, amount: Decimal,
                     currency: str, reason: str, actor: str) -> asyncpg.Record:
    found = await repo.lock_lines(conn, sorted({from_line_id, to_line_id}))
    for line_id in (from_line_id, to_line_id):
        if line_id not in found:
            raise UnknownLine(line_id)
    source, target = await _balance(conn, from_line_id), await _balance(conn, to_line_id)
    check_reallocation(from_line_id, repo.as_balance(source), to_line_id, repo.as_balance(target), amount, currency)
    reallocation_id = uuid.uuid4()
    row = await repo.insert_reallocation(conn, reallocation_id=reallocation_id, from_line_id=from_line_id,
                                         to_line_id=to_line_id, amount=amount, currency=currency, reason=reason,
                                         actor=actor)
    for line_id, line, delta, kind in ((from_line_id, source, -amount, "reallocated_out"),
                                       (to_line_id, target, amount, "reallocated_in")):
        await repo.set_line_amount(conn, line_id, line["amount"] + delta)
        await repo.add_line_change(conn, line_id=line_id, kind=kind, delta=delta, amount_after=line["amount"] + delta,
                                   reason=reason, actor=actor, reallocation_id=reallocation_id)
    await _publish(conn, c.BudgetReallocated(from_line_id=from_line_id, to_line_id=to_line_id,
                                             amount=_money(amount, currency), reason=reason, reallocated_by=actor),
                   Cause(correlation_id=str(reallocation_id)))
    return row


# ------------------------------------------------------------------- reservations and commitments


async def reconcile(conn: asyncpg.Connection, campaign_id: str, cause: Cause, rules: Rules) -> None:
    """Act on the campaign's facts until nothing is left to do. Needs the campaign lock."""
    for _ in range(MAX_STEPS):
        action = next_action(await repo.load_facts(conn, campaign_id), await repo.load_hold(conn, campaign_id))
        if action is None:
            break
        if isinstance(action, Reserve):
            await _reserve(conn, action.brief, cause)
        elif isinstance(action, Commit):
            hold = dataclasses.replace(action.hold, status=HoldStatus.committed)
            await repo.save_hold(conn, hold)
            await _publish(conn, c.BudgetCommitted(campaign_id=campaign_id, brief_version=hold.brief_version,
                                                   budget_line_id=hold.budget_line_id,
                                                   amount=_money(hold.amount, hold.currency)), cause)
        elif isinstance(action, Release):
            hold = dataclasses.replace(action.hold, status=HoldStatus.released)
            await repo.save_hold(conn, hold, release_reason=action.reason.value)
            await _publish(conn, c.BudgetReleased(campaign_id=campaign_id, budget_line_id=hold.budget_line_id,
                                                  amount=_money(hold.amount, hold.currency), reason=action.reason),
                           cause)
    else:
        raise RuntimeError(f"budget decisions for campaign {campaign_id!r} did not converge")
    await evaluate_thresholds(conn, campaign_id, cause, rules)


async def _reserve(conn: asyncpg.Connection, brief: Brief, cause: Cause) -> None:
    # The line's row lock makes concurrent reservations on one line take turns, so each
    # one sees every hold committed before it: a line is never over-reserved. It must be a
    # statement of its own: line_state's snapshot is then taken after the lock was granted.
    await repo.lock_lines(conn, [brief.budget_line_id])
    outcome = decide_reservation(brief, await repo.line_state(conn, brief.budget_line_id, brief.campaign_id))
    requested = _money(brief.amount, brief.currency)
    if isinstance(outcome, Reserved):
        await repo.insert_decision(conn, brief, reserved=True)
        await repo.save_hold(conn, outcome.hold)
        await _publish(conn, c.BudgetReserved(campaign_id=brief.campaign_id, brief_version=brief.version,
                                              budget_line_id=brief.budget_line_id, amount=requested), cause)
    else:
        await repo.insert_decision(conn, brief, reserved=False, reason_code=outcome.code.value, reason=outcome.reason)
        await _publish(conn, c.BudgetReservationRejected(
            campaign_id=brief.campaign_id, brief_version=brief.version, budget_line_id=brief.budget_line_id,
            requested=requested, reason_code=outcome.code, reason=outcome.reason), cause)


async def evaluate_thresholds(conn: asyncpg.Connection, campaign_id: str, cause: Cause, rules: Rules) -> None:
    """Publish each threshold of the commitment that spend has reached, once. Needs the campaign lock."""
    hold = await repo.load_hold(conn, campaign_id)
    if hold is None or hold.status is not HoldStatus.committed:
        return
    spent = await repo.campaign_spent(conn, campaign_id, hold.currency)
    already = await repo.thresholds_alerted(conn, campaign_id)
    for threshold in crossed_thresholds(hold.amount, spent, rules.thresholds, already):
        if await repo.insert_threshold_alert(conn, campaign_id=campaign_id, threshold=threshold,
                                             line_id=hold.budget_line_id, committed=hold.amount, spent=spent,
                                             currency=hold.currency):
            await _publish(conn, c.BudgetThresholdExceeded(
                campaign_id=campaign_id, budget_line_id=hold.budget_line_id, threshold_percent=threshold,
                committed=_money(hold.amount, hold.currency), spent=_money(spent, hold.currency)), cause)


async def brief_submitted(conn: asyncpg.Connection, event: Envelope[c.BriefSubmitted], rules: Rules) -> None:
    d = event.data
    brief = Brief(campaign_id=d.campaign_id, version=d.version, budget_line_id=d.budget_request.budget_line_id,
                  amount=d.budget_request.amount.amount, currency=d.budget_request.amount.currency,
                  flight_start=d.flight_start, flight_end=d.flight_end)
    problem = brief_problem(brief)
    if problem:
        raise RuleViolation(problem)
    await repo.lock_campaign(conn, d.campaign_id)
    await repo.insert_brief(conn, brief, title=d.title, team=d.team, submitted_at=event.time, event_id=event.id)
    await reconcile(conn, d.campaign_id, Cause.of(event), rules)


async def budget_gate_approved(conn: asyncpg.Connection, event: Envelope[c.GateApproved], rules: Rules) -> None:
    d = event.data
    await repo.lock_campaign(conn, d.campaign_id)
    await repo.insert_budget_approval(conn, campaign_id=d.campaign_id, brief_version=d.brief_version,
                                      gate_id=d.gate_id, approved_at=event.time, event_id=event.id)
    await reconcile(conn, d.campaign_id, Cause.of(event), rules)


async def rejected_outright(conn: asyncpg.Connection, event: Envelope[c.GateRejected], rules: Rules) -> None:
    d = event.data
    await repo.lock_campaign(conn, d.campaign_id)
    await repo.insert_outright_rejection(conn, campaign_id=d.campaign_id, brief_version=d.brief_version,
                                         gate_id=d.gate_id, reason=d.reason, rejected_at=event.time,
                                         event_id=event.id)
    await reconcile(conn, d.campaign_id, Cause.of(event), rules)


async def campaign_cancelled(conn: asyncpg.Connection, event: Envelope[c.CampaignCancelled], rules: Rules) -> None:
    d = event.data
    await repo.lock_campaign(conn, d.campaign_id)
    await repo.insert_cancellation(conn, campaign_id=d.campaign_id, cancelled_by=d.cancelled_by, reason=d.reason,
                                   cancelled_at=event.time, event_id=event.id)
    await reconcile(conn, d.campaign_id, Cause.of(event), rules)


# ------------------------------------------------------------------- spend


@dataclass(frozen=True)
class SpendResult:
    row: asyncpg.Record
    recorded: bool  # False: the (source_system, source_reference) pair was already in the ledger
    same_fact: bool = True  # for a re-sent spend: whether it repeats what was recorded


def spend_of(d: c.SpendRecorded) -> Spend:
    return Spend(campaign_id=d.campaign_id, source_system=d.source_system, source_reference=d.source_reference,
                 amount=d.amount.amount, currency=d.amount.currency, incurred_on=d.incurred_on,
                 budget_line_id=d.budget_line_id, corrects_reference=d.corrects_reference,
                 description=d.description)


async def record_spend(conn: asyncpg.Connection, spend: Spend, *, origin: str, event_id: uuid.UUID,
                       recorded_by: str | None, cause: Cause, rules: Rules, historical: bool = False,
                       publish: bool = False) -> SpendResult:
    """Record a spend once per (source_system, source_reference); a re-sent one changes nothing."""
    await repo.lock_campaign(conn, spend.campaign_id)
    existing = await repo.find_spend(conn, spend.source_system, spend.source_reference)
    if existing is not None:
        return SpendResult(existing, recorded=False, same_fact=repo.as_spend(existing).same_fact_as(spend))
    check_spend(spend, await repo.counted_line_currency(conn, spend.campaign_id, spend.budget_line_id))
    if not await repo.insert_spend(conn, spend, origin=origin, historical=historical, event_id=event_id,
                                   recorded_by=recorded_by):
        # The same pair under another campaign id raced us; the first one stands.
        existing = await repo.find_spend(conn, spend.source_system, spend.source_reference)
        assert existing is not None
        return SpendResult(existing, recorded=False, same_fact=repo.as_spend(existing).same_fact_as(spend))
    if publish:
        await _publish(conn, c.SpendRecorded(
            campaign_id=spend.campaign_id, source_system=spend.source_system,
            source_reference=spend.source_reference, amount=_money(spend.amount, spend.currency),
            incurred_on=spend.incurred_on, budget_line_id=spend.budget_line_id,
            corrects_reference=spend.corrects_reference, description=spend.description), cause, event_id=event_id)
    if not historical:
        await evaluate_thresholds(conn, spend.campaign_id, cause, rules)
    row = await repo.find_spend(conn, spend.source_system, spend.source_reference)
    assert row is not None
    return SpendResult(row, recorded=True)


async def spend_consumed(conn: asyncpg.Connection, event: Envelope[c.SpendRecorded], rules: Rules) -> None:
    result = await record_spend(conn, spend_of(event.data), origin="kafka", event_id=event.id,
                                recorded_by=event.source, cause=Cause.of(event), rules=rules,
                                historical=event.is_historical)
    if not result.same_fact:
        log.warning("spend %s/%s re-sent with different content by event %s; the first recording stands",
                    event.data.source_system, event.data.source_reference, event.id)
