"""Budget use cases: load -> domain -> save -> outbox, inside the caller's transaction.

Commands (API) and consumed events both end here, so a spend recorded through the API
and the same spend arriving on Kafka meet the same rule, and every decision about a
campaign is taken under that campaign's row lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import BaseModel

from marops_events import contracts as c
from marops_events import outbox
from marops_events.envelope import Envelope, utcnow
from marops_events.registry import new_event
from marops_service.clock import Clock
from marops_service.refusals import Refusal

from . import repository as repo
from .domain import (
    Brief,
    BudgetRefusal,
    Commit,
    CopyVerdict,
    Hold,
    HoldStatus,
    Release,
    Reserve,
    Reserved,
    RuleViolation,
    Spend,
    SpendCopy,
    brief_problem,
    check_adjustment,
    check_correction,
    check_reallocation,
    check_resolution,
    check_spend,
    conflict_reason,
    content_differences,
    crossed_thresholds,
    decide_reservation,
    judge_copy,
    next_action,
    reconciliation_to_publish,
    require_amount,
    unreconciled_reason_text,
)
from .settings import Settings

log = logging.getLogger(__name__)

SOURCE = "marops/budget"
MAX_STEPS = 4  # reserve, commit (or release) and a margin: next_action converges in two


class UnknownLine(Refusal):
    """No such budget line: the one a path names (404), or one a body names (422)."""

    def __init__(self, line_id: str, *, named_in_body: bool = False) -> None:
        super().__init__(BudgetRefusal.unknown_named_line if named_in_body else BudgetRefusal.unknown_line,
                         f"budget line {line_id!r} does not exist")
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
    """What led to a decision: its journey (correlation), the triggering event, and the
    clock its events are timed by (read when they are published, after the locks). A
    command brings the clock of its edge; a consumed event is decided on the system's."""

    correlation_id: str | None = None
    causation_id: str | None = None
    clock: Clock = utcnow

    @classmethod
    def of(cls, event: Envelope) -> Cause:
        return cls(event.correlationid, str(event.id))


async def _publish(conn: asyncpg.Connection, payload: BaseModel, cause: Cause,
                   event_id: uuid.UUID | None = None, time: dt.datetime | None = None) -> None:
    await outbox.add(conn, new_event(payload, source=SOURCE, time=time or cause.clock(),
                                     correlation_id=cause.correlation_id, causation_id=cause.causation_id,
                                     event_id=event_id))


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


async def create_line(conn: asyncpg.Connection, line: NewLine, actor: str, rules: Rules,
                      clock: Clock) -> asyncpg.Record:
    require_amount(line.amount, non_negative=True)
    if not await repo.insert_line(conn, line_id=line.id, name=line.name, fiscal_year=line.fiscal_year,
                                  quarter=line.quarter, team=line.team, channel=line.channel,
                                  amount=line.amount, currency=line.currency, actor=actor):
        raise RuleViolation(f"budget line {line.id!r} already exists", conflict=True)
    await repo.add_line_change(conn, line_id=line.id, kind="created", delta=line.amount,
                               amount_after=line.amount, reason=None, actor=actor)
    # Spend that named this line (or whose campaign's brief did) before it existed counts from now on.
    for campaign_id in await repo.campaigns_spending_on(conn, line.id):
        await repo.lock_campaign(conn, campaign_id)
        cause = Cause(correlation_id=campaign_id, clock=clock)
        await sync_reconciliation(conn, [campaign_id], cause)
        await evaluate_thresholds(conn, campaign_id, cause, rules)
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
                     currency: str, reason: str, actor: str, clock: Clock) -> asyncpg.Record:
    found = await repo.lock_lines(conn, sorted({from_line_id, to_line_id}))
    for line_id in (from_line_id, to_line_id):
        if line_id not in found:
            raise UnknownLine(line_id, named_in_body=True)
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
                   Cause(correlation_id=str(reallocation_id), clock=clock))
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
            await _publish_release(conn, hold, action.reason, cause)
    else:
        raise RuntimeError(f"budget decisions for campaign {campaign_id!r} did not converge")
    await evaluate_thresholds(conn, campaign_id, cause, rules)


async def _publish_release(conn: asyncpg.Connection, hold: Hold, reason: c.ReleaseReason, cause: Cause) -> None:
    await _publish(conn, c.BudgetReleased(campaign_id=hold.campaign_id, budget_line_id=hold.budget_line_id,
                                          amount=_money(hold.amount, hold.currency), reason=reason,
                                          brief_version=hold.brief_version), cause)


async def _reserve(conn: asyncpg.Connection, brief: Brief, cause: Cause) -> None:
    # The line's row lock makes concurrent reservations on one line take turns, so each
    # one sees every hold committed before it: a line is never over-reserved. It must be a
    # statement of its own: line_state's snapshot is then taken after the lock was granted.
    await repo.lock_lines(conn, [brief.budget_line_id])
    outcome = decide_reservation(brief, await repo.line_state(conn, brief.budget_line_id, brief.campaign_id))
    requested = _money(brief.amount, brief.currency)
    if isinstance(outcome, Reserved):
        replaced = await repo.load_hold(conn, brief.campaign_id)
        if replaced is not None and replaced.status is HoldStatus.committed:
            # The new version's reservation takes the committed hold's place: say the old
            # commitment is gone before announcing what replaces it, so every consumer's
            # "committed" follows budget's (a refused resubmission keeps the commitment).
            await _publish_release(conn, replaced, c.ReleaseReason.superseded, cause)
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
    # The campaign's line is known (or changed) now: its spend may be bookable, or no longer.
    await sync_reconciliation(conn, [d.campaign_id], Cause.of(event))
    await repo.record_parties(conn, d.campaign_id, version=d.version, team=d.team, owner=d.owner,
                              authors=sorted({d.requester, *d.authors}))
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


async def _kept_copy(conn: asyncpg.Connection, spend: Spend) -> asyncpg.Record | None:
    return await repo.find_spend(conn, spend.source_system, spend.source_reference)


async def record_spend(conn: asyncpg.Connection, spend: Spend, *, origin: str, event_id: uuid.UUID,
                       recorded_by: str | None, cause: Cause, rules: Rules, historical: bool = False,
                       publish: bool = False) -> SpendResult:
    """Record a spend from the API once per (source_system, source_reference); a re-sent one
    changes nothing (the caller answers a re-send with other content with a conflict)."""
    await repo.lock_campaign(conn, spend.campaign_id)
    existing = await _kept_copy(conn, spend)
    if existing is not None:
        return SpendResult(existing, recorded=False, same_fact=repo.as_spend(existing).same_fact_as(spend))
    check_spend(spend, await repo.counted_line_currency(conn, spend.campaign_id, spend.budget_line_id))
    # The published event's time is the copy's business time, so budget and metrics order
    # this copy against any other copy of the pair the same way.
    copy = SpendCopy(spend, cause.clock(), event_id)
    if not await repo.insert_spend(conn, copy, origin=origin, historical=historical, recorded_by=recorded_by):
        # The same pair under another campaign id raced us; the first one stands.
        existing = await _kept_copy(conn, spend)
        assert existing is not None
        return SpendResult(existing, recorded=False, same_fact=repo.as_spend(existing).same_fact_as(spend))
    if publish:
        await _publish(conn, c.SpendRecorded(
            campaign_id=spend.campaign_id, source_system=spend.source_system,
            source_reference=spend.source_reference, amount=_money(spend.amount, spend.currency),
            incurred_on=spend.incurred_on, budget_line_id=spend.budget_line_id,
            corrects_reference=spend.corrects_reference, description=spend.description), cause,
            event_id=event_id, time=copy.occurred_at)
    await _after_spend_change(conn, [spend.campaign_id], cause, rules, alerts=not historical)
    row = await _kept_copy(conn, spend)
    assert row is not None
    return SpendResult(row, recorded=True)


async def _after_spend_change(conn: asyncpg.Connection, campaign_ids: list[str], cause: Cause, rules: Rules,
                              *, alerts: bool) -> None:
    await sync_reconciliation(conn, campaign_ids, cause)
    if alerts:
        for campaign_id in campaign_ids:
            await evaluate_thresholds(conn, campaign_id, cause, rules)


async def record_api_spend(conn: asyncpg.Connection, spend: Spend, **recording: Any) -> SpendResult:
    """A spend sent to the API: a correction must name a spend it can correct (``check_correction``).

    The campaign lock is taken first, so two corrections of one spend cannot both pass the check.
    A re-send of a correction already recorded is answered as a re-send, not checked again.
    """
    await repo.lock_campaign(conn, spend.campaign_id)
    if spend.corrects_reference and await repo.find_spend(conn, spend.source_system, spend.source_reference) is None:
        check_correction(spend, await repo.corrected_spend(conn, spend.source_system, spend.corrects_reference))
    return await record_spend(conn, spend, **recording)


async def spend_consumed(conn: asyncpg.Connection, event: Envelope[c.SpendRecorded], rules: Rules) -> None:
    """A copy of a spend from Kafka: the earliest (time, event id) copy of a pair is kept,
    whatever the arrival order, and a later copy that contradicts it is refused (DLQ).

    A spend budget cannot book against a line (unknown campaign or line, line in another
    currency) is still recorded, as unreconciled, for finance to resolve.
    """
    spend = spend_of(event.data)
    incoming = SpendCopy(spend, event.time, event.id)
    await repo.lock_campaign(conn, spend.campaign_id)
    existing = await _kept_copy(conn, spend)
    kept = repo.as_copy(existing) if existing is not None else None
    verdict = judge_copy(kept, incoming)
    if verdict is CopyVerdict.duplicate:
        return
    if verdict is CopyVerdict.conflicts:
        assert kept is not None
        raise RuleViolation(conflict_reason(kept, incoming))
    check_spend(spend, line_currency=None)
    if verdict is CopyVerdict.new:
        if not await repo.insert_spend(conn, incoming, origin="kafka", historical=event.is_historical,
                                       recorded_by=event.source):
            raise RuntimeError("spend pair recorded concurrently; retrying the batch decides it")
        await _after_spend_change(conn, [spend.campaign_id], Cause.of(event), rules, alerts=not event.is_historical)
        return
    assert kept is not None and existing is not None
    # An earlier copy arrived after a later one was booked: it becomes the kept copy.
    affected = sorted({kept.spend.campaign_id, spend.campaign_id})
    for campaign_id in affected:
        await repo.lock_campaign(conn, campaign_id)
    changed = not kept.spend.same_fact_as(spend)
    await repo.replace_spend(conn, existing["id"], incoming, origin="kafka", historical=event.is_historical,
                             recorded_by=event.source, content_changed=changed)
    if changed:
        log.warning("spend %s/%s: earlier copy (event %s) replaced the one booked from event %s: %s",
                    spend.source_system, spend.source_reference, event.id, kept.event_id,
                    "; ".join(content_differences(kept.spend, spend)))
    # Alerts already published stand (they said what was true then); the replacement's
    # spend is evaluated like any other, so a threshold it reaches is still announced once.
    await _after_spend_change(conn, affected, Cause.of(event), rules, alerts=not event.is_historical)


# ------------------------------------------------------------------- reconciliation


async def sync_reconciliation(conn: asyncpg.Connection, campaign_ids: list[str], cause: Cause) -> None:
    """Tell others (SpendReconciliationChanged) about every spend of the campaigns whose
    bookability changed since budget last said. Needs the campaigns' locks."""
    for r in await repo.reconciliations_of(conn, campaign_ids):
        if not reconciliation_to_publish(r.now, r.published):
            continue
        row, now = r.row, r.now
        revision = r.revision + 1
        reason = None
        if now.reason_code is not None:
            reason = unreconciled_reason_text(now.reason_code, currency=now.currency, line_id=row["wanted_line_id"],
                                              line_currency=row["line_currency"])
        finance = now.resolution in (c.ReconciliationResolution.booked, c.ReconciliationResolution.excluded)
        await _publish(conn, c.SpendReconciliationChanged(
            campaign_id=now.campaign_id, source_system=r.source_system, source_reference=r.source_reference,
            amount=_money(now.amount, now.currency), revision=revision, status=now.status,
            reason_code=now.reason_code, reason=reason, resolution=now.resolution,
            budget_line_id=now.budget_line_id, resolved_by=row["resolved_by"] if finance else None,
            note=row["resolution_note"] if finance else None), cause)
        await repo.save_published_reconciliation(conn, r.source_system, r.source_reference, revision, now)


async def resolve_spend(conn: asyncpg.Connection, spend_id: int, resolution: c.ReconciliationResolution,
                        line_id: str | None, reason: str, actor: str, rules: Rules,
                        clock: Clock) -> asyncpg.Record:
    """Finance resolves an unreconciled spend: books it on a line in its currency, or
    excludes it from every line. Audited in spend_resolutions; published to metrics."""
    campaign_id = await repo.lock_spend(conn, spend_id)
    if campaign_id is None:
        raise UnknownSpend(spend_id)
    await repo.lock_campaign(conn, campaign_id)
    row = await repo.spend_by_id(conn, spend_id)
    assert row is not None
    check_resolution(resolution, unreconciled=row["reconciliation"] == "unreconciled",
                     spend_currency=row["currency"], line_id=line_id,
                     line_currency=await repo.line_currency(conn, line_id) if line_id else None)
    await repo.resolve_spend(conn, spend_id, resolution=resolution.value, line_id=line_id, reason=reason,
                             actor=actor)
    await _after_spend_change(conn, [campaign_id], Cause(correlation_id=campaign_id, clock=clock), rules,
                              alerts=not row["historical"])
    resolved = await repo.spend_by_id(conn, spend_id)
    assert resolved is not None
    return resolved


class UnknownSpend(Refusal):
    def __init__(self, spend_id: int) -> None:
        super().__init__(BudgetRefusal.unknown_spend, f"spend {spend_id} does not exist")
        self.spend_id = spend_id
