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
from collections.abc import Mapping, Sequence
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
from marops_service.transactions import in_transaction

from . import repository as repo
from .domain import (
    Brief,
    BudgetRefusal,
    ChangeRequest,
    ChangeStep,
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
    next_change_step,
    reconciliation_to_publish,
    require_amount,
    unreconciled_reason_text,
)
from .planning import (
    PlanRow,
    PlanScope,
    RowError,
    check_allocation,
    check_new_plan,
    check_phasing,
    check_plan_amount,
    forecast,
    should_announce,
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
    run_out_horizon_days: int = 30
    run_out_material_days: int = 7

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(tuple(settings.threshold_percents), settings.pacing_tolerance_percent,
                   settings.run_out_horizon_days, settings.run_out_material_days)


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
    # The plan-scope lock makes concurrent lines and plan edits of one team's year take turns,
    # so each sees what the others allocated: a plan is never over-allocated.
    await repo.lock_plan_scopes(conn, [(line.fiscal_year, line.team)])
    check_allocation(await repo.plan_state_for(conn, line.fiscal_year, line.team, line.channel), line.currency,
                     line.amount)
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


async def _lock_scopes_of(conn: asyncpg.Connection, line_ids: list[str], *, named_in_body: bool = False) -> None:
    """Take the plan-scope locks of existing lines (a line's year and team never change)."""
    scopes = []
    for line_id in line_ids:
        row = await repo.line_balance(conn, line_id)
        if row is None:
            raise UnknownLine(line_id, named_in_body=named_in_body)
        scopes.append((row["fiscal_year"], row["team"]))
    await repo.lock_plan_scopes(conn, scopes)


async def adjust_line(conn: asyncpg.Connection, line_id: str, amount: Decimal, currency: str, reason: str,
                      actor: str, rules: Rules | None = None, clock: Clock = utcnow) -> asyncpg.Record:
    await _lock_scopes_of(conn, [line_id])
    if not await repo.lock_lines(conn, [line_id]):
        raise UnknownLine(line_id)
    before = await _balance(conn, line_id)
    check_adjustment(line_id, repo.as_balance(before), amount, currency)
    check_allocation(await repo.plan_state_for(conn, before["fiscal_year"], before["team"], before["channel"]),
                     before["currency"], amount - before["amount"])
    await repo.set_line_amount(conn, line_id, amount)
    await repo.add_line_change(conn, line_id=line_id, kind="adjusted", delta=amount - before["amount"],
                               amount_after=amount, reason=reason, actor=actor)
    await evaluate_forecasts(conn, [line_id], Cause(correlation_id=line_id, clock=clock), rules or Rules())
    return await _balance(conn, line_id)


async def reallocate(conn: asyncpg.Connection, from_line_id: str, to_line_id: str, amount: Decimal,
                     currency: str, reason: str, actor: str, clock: Clock,
                     rules: Rules | None = None) -> asyncpg.Record:
    await _lock_scopes_of(conn, sorted({from_line_id, to_line_id}), named_in_body=True)
    found = await repo.lock_lines(conn, sorted({from_line_id, to_line_id}))
    for line_id in (from_line_id, to_line_id):
        if line_id not in found:
            raise UnknownLine(line_id, named_in_body=True)
    source, target = await _balance(conn, from_line_id), await _balance(conn, to_line_id)
    check_reallocation(from_line_id, repo.as_balance(source), to_line_id, repo.as_balance(target), amount, currency)
    source_plan = await repo.plan_state_for(conn, source["fiscal_year"], source["team"], source["channel"])
    target_plan = await repo.plan_state_for(conn, target["fiscal_year"], target["team"], target["channel"])
    if target_plan is not None and (source_plan is None or source_plan.id != target_plan.id):
        check_allocation(target_plan, target["currency"], amount)  # moving within one plan allocates nothing
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
    await evaluate_forecasts(conn, sorted({from_line_id, to_line_id}), Cause(correlation_id=str(reallocation_id),
                                                                             clock=clock), rules or Rules())
    return row


# ------------------------------------------------------------------- reservations and commitments


async def reconcile(conn: asyncpg.Connection, campaign_id: str, cause: Cause, rules: Rules) -> None:
    """Act on the campaign's facts until nothing is left to do. Needs the campaign lock.

    The state is read once: what each step changes of it (a reservation decision, the hold)
    is applied to it as read, which is what reading it again would find, since the lock keeps
    every other writer of the campaign out (that second read was a round trip per event)."""
    facts, hold, has_changes = await repo.load_state(conn, campaign_id)
    for _ in range(MAX_STEPS):
        action = next_action(facts, hold)
        if action is None:
            break
        if isinstance(action, Reserve):
            reserved = await _reserve(conn, action.brief, hold, cause)
            decided = {**facts.decisions, action.brief.version: reserved is not None}
            facts = dataclasses.replace(facts, decisions=decided)
            if reserved is not None:
                hold = reserved
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
    # The state reached (nothing left to do) stands unless there are change requests to settle.
    if has_changes:
        await settle_changes(conn, campaign_id, cause)
        hold = await repo.load_hold(conn, campaign_id)
    await _evaluate_thresholds(conn, campaign_id, hold, cause, rules)
    await evaluate_forecasts(conn, await repo.lock_forecasts_of(conn, [campaign_id]), cause, rules, locked=True)


async def settle_changes(conn: asyncpg.Connection, campaign_id: str, cause: Cause) -> None:
    """Act on the campaign's change requests until each is settled or waits. Needs the campaign lock.

    More money is a top-up reserved on the line like a reservation (the line's row lock,
    the same availability rule); the commitment moves to the proposed version only once
    the change is approved: BudgetCommitted for it, and BudgetReleased (``changed``) of the
    difference when it asks for less. A rejected change drops its top-up; a refused
    top-up (BudgetReservationRejected for the proposed version) leaves the commitment as it was.
    """
    for _ in range(MAX_STEPS * 4):
        facts, hold, _ = await repo.load_state(conn, campaign_id)
        step = None
        for change in await repo.change_requests(conn, campaign_id):
            step = next_change_step(change, hold, facts.cancelled)
            if step is not None and step is not ChangeStep.wait:
                break
        if step is None or step is ChangeStep.wait:
            return
        await _change_step(conn, change, step, hold, cause)
    raise RuntimeError(f"change requests of campaign {campaign_id!r} did not settle")


async def _change_step(conn: asyncpg.Connection, change: ChangeRequest, step: ChangeStep, hold: Hold | None,
                       cause: Cause) -> None:
    row = await repo.change_row(conn, change.change_id)
    proposed = Brief(campaign_id=change.campaign_id, version=change.brief_version,
                     budget_line_id=change.budget_line_id, amount=change.amount, currency=change.currency,
                     flight_start=row["flight_start"], flight_end=row["flight_end"])
    requested = _money(change.amount, change.currency)
    if step is ChangeStep.top_up:
        assert hold is not None
        # The same guard as a reservation: the line's row lock, then its state read in a
        # statement of its own, so concurrent top-ups of one line take turns.
        await repo.lock_lines(conn, [change.budget_line_id])
        outcome = decide_reservation(proposed, await repo.line_state(conn, change.budget_line_id,
                                                                     change.campaign_id))
        if isinstance(outcome, Reserved):
            await repo.set_top_up(conn, change.campaign_id, change.amount - hold.amount)
            step = ChangeStep.accept
        else:
            await _refuse_change(conn, change.change_id, proposed, outcome.code, outcome.reason, cause)
            return
    if step is ChangeStep.accept:
        await repo.insert_decision(conn, proposed, reserved=True)
        await repo.set_change_state(conn, change.change_id, "reserved")
        await _publish(conn, c.BudgetReserved(campaign_id=change.campaign_id, brief_version=change.brief_version,
                                              budget_line_id=change.budget_line_id, amount=requested), cause)
    elif step is ChangeStep.refuse:
        assert hold is not None
        await _refuse_change(conn, change.change_id, proposed, c.ReservationRejectionReason.currency_mismatch,
                             f"a change keeps the commitment's line and currency ({hold.budget_line_id}, "
                             f"{hold.currency}); it asked for {change.budget_line_id} in {change.currency}", cause)
    elif step is ChangeStep.commit:
        assert hold is not None
        committed = Hold(change.campaign_id, change.budget_line_id, change.brief_version, change.amount,
                         change.currency, HoldStatus.committed)
        await repo.save_hold(conn, committed)
        await repo.set_top_up(conn, change.campaign_id, Decimal(0))
        await repo.insert_brief(conn, proposed, title=row["title"], team=row["team"],
                                submitted_at=row["requested_at"], event_id=row["event_id"])
        await repo.set_change_state(conn, change.change_id, "committed")
        await _publish(conn, c.BudgetCommitted(campaign_id=change.campaign_id, brief_version=change.brief_version,
                                               budget_line_id=change.budget_line_id, amount=requested), cause)
        if change.amount < hold.amount:
            await _publish(conn, c.BudgetReleased(
                campaign_id=change.campaign_id, budget_line_id=hold.budget_line_id,
                amount=_money(hold.amount - change.amount, hold.currency), reason=c.ReleaseReason.changed,
                brief_version=hold.brief_version), cause)
    elif step is ChangeStep.drop:
        if change.state == "reserved":
            await repo.set_top_up(conn, change.campaign_id, Decimal(0))
        await repo.set_change_state(conn, change.change_id, "dropped")


async def _refuse_change(conn: asyncpg.Connection, change_id: str, proposed: Brief,
                         code: c.ReservationRejectionReason, reason: str, cause: Cause) -> None:
    await repo.insert_decision(conn, proposed, reserved=False, reason_code=code.value, reason=reason)
    await repo.set_change_state(conn, change_id, "refused")
    await _publish(conn, c.BudgetReservationRejected(
        campaign_id=proposed.campaign_id, brief_version=proposed.version, budget_line_id=proposed.budget_line_id,
        requested=_money(proposed.amount, proposed.currency), reason_code=code, reason=reason), cause)


async def _publish_release(conn: asyncpg.Connection, hold: Hold, reason: c.ReleaseReason, cause: Cause) -> None:
    await _publish(conn, c.BudgetReleased(campaign_id=hold.campaign_id, budget_line_id=hold.budget_line_id,
                                          amount=_money(hold.amount, hold.currency), reason=reason,
                                          brief_version=hold.brief_version), cause)


async def _reserve(conn: asyncpg.Connection, brief: Brief, replaced: Hold | None, cause: Cause) -> Hold | None:
    """``replaced``: the campaign's hold when the reservation was decided on (under its lock).
    Returns the new hold, None when the reservation was refused (the hold stays as it was)."""
    # The line's row lock makes concurrent reservations on one line take turns, so each
    # one sees every hold committed before it: a line is never over-reserved. It must be a
    # statement of its own: line_state's snapshot is then taken after the lock was granted.
    await repo.lock_lines(conn, [brief.budget_line_id])
    outcome = decide_reservation(brief, await repo.line_state(conn, brief.budget_line_id, brief.campaign_id))
    requested = _money(brief.amount, brief.currency)
    if isinstance(outcome, Reserved):
        if replaced is not None and replaced.status is HoldStatus.committed:
            # The new version's reservation takes the committed hold's place: say the old
            # commitment is gone before announcing what replaces it, so every consumer's
            # "committed" follows budget's (a refused resubmission keeps the commitment).
            await _publish_release(conn, replaced, c.ReleaseReason.superseded, cause)
        await repo.insert_decision(conn, brief, reserved=True)
        await repo.save_hold(conn, outcome.hold)
        await _publish(conn, c.BudgetReserved(campaign_id=brief.campaign_id, brief_version=brief.version,
                                              budget_line_id=brief.budget_line_id, amount=requested), cause)
        return outcome.hold
    await repo.insert_decision(conn, brief, reserved=False, reason_code=outcome.code.value, reason=outcome.reason)
    await _publish(conn, c.BudgetReservationRejected(
        campaign_id=brief.campaign_id, brief_version=brief.version, budget_line_id=brief.budget_line_id,
        requested=requested, reason_code=outcome.code, reason=outcome.reason), cause)
    return None


async def evaluate_thresholds(conn: asyncpg.Connection, campaign_id: str, cause: Cause, rules: Rules) -> None:
    """Publish each threshold of the commitment that spend has reached, once. Needs the campaign lock."""
    await _evaluate_thresholds(conn, campaign_id, await repo.load_hold(conn, campaign_id), cause, rules)


async def _evaluate_thresholds(conn: asyncpg.Connection, campaign_id: str, hold: Hold | None, cause: Cause,
                               rules: Rules) -> None:
    """``evaluate_thresholds`` with the hold the caller read under the campaign lock."""
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
    await repo.insert_brief(conn, brief, title=d.title, team=d.team, submitted_at=event.time, event_id=event.id,
                            parties=(d.owner, sorted({d.requester, *d.authors})))
    # The campaign's line is known (or changed) now: its spend may be bookable, or no longer.
    await sync_reconciliation(conn, [d.campaign_id], Cause.of(event))
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


async def change_requested(conn: asyncpg.Connection, event: Envelope[c.ChangeRequested], rules: Rules) -> None:
    d = event.data
    problem = brief_problem(Brief(d.campaign_id, d.brief.version, d.brief.budget_request.budget_line_id,
                                  d.brief.budget_request.amount.amount, d.brief.budget_request.amount.currency,
                                  d.brief.flight_start, d.brief.flight_end))
    if problem:
        raise RuleViolation(problem)
    await repo.lock_campaign(conn, d.campaign_id)
    await repo.insert_change_request(conn, d, requested_at=event.time, event_id=event.id)
    await reconcile(conn, d.campaign_id, Cause.of(event), rules)


async def change_decided(conn: asyncpg.Connection, event: Envelope[c.ChangeDecided], rules: Rules) -> None:
    d = event.data
    await repo.lock_campaign(conn, d.campaign_id)
    await repo.insert_change_outcome(conn, d, decided_at=event.time, event_id=event.id)
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
    changes nothing (the caller answers a re-send with other content with a conflict).
    Needs the campaign lock (``record_api_spend`` takes it)."""
    try:
        check_spend(spend, line_currency=None)  # what needs no data, before anything is written
    except RuleViolation:
        existing = await _kept_copy(conn, spend)
        if existing is None:
            raise
        # a re-send is answered as one, whatever it says (the caller judges its content)
        return SpendResult(existing, recorded=False, same_fact=repo.as_spend(existing).same_fact_as(spend))
    # The published event's time is the copy's business time, so budget and metrics order
    # this copy against any other copy of the pair the same way.
    copy = SpendCopy(spend, cause.clock(), event_id)
    # Inserted first (a re-send's insert is a no-op): the line's currency comes back with it,
    # and a refusal below rolls the insert back with the transaction.
    recorded = await repo.insert_spend_on_line(conn, copy, origin=origin, historical=historical,
                                               recorded_by=recorded_by)
    if not recorded.inserted:
        # Recorded before (a re-send), or the same pair under another campaign id raced us:
        # the first one stands.
        existing = await _kept_copy(conn, spend)
        assert existing is not None
        return SpendResult(existing, recorded=False, same_fact=repo.as_spend(existing).same_fact_as(spend))
    check_spend(spend, recorded.line_currency)
    if publish:
        await _publish(conn, c.SpendRecorded(
            campaign_id=spend.campaign_id, source_system=spend.source_system,
            source_reference=spend.source_reference, amount=_money(spend.amount, spend.currency),
            incurred_on=spend.incurred_on, budget_line_id=spend.budget_line_id,
            corrects_reference=spend.corrects_reference, description=spend.description), cause,
            event_id=event_id, time=copy.occurred_at)
    pair = (spend.source_system, spend.source_reference)
    read = await _after_spend_change(conn, [spend.campaign_id], cause, rules, alerts=not historical, spend=pair,
                                     holds={spend.campaign_id: recorded.hold})
    # The answer is the spend's ledger row as the reconciliation read it, after the insert: what
    # follows changes no column of it (thresholds, forecasts and the published reconciliation
    # state are other tables), so it is not read again.
    row = next((r.row for r in read if (r.source_system, r.source_reference) == pair), None)
    if row is None:
        row = await _kept_copy(conn, spend)
    assert row is not None
    return SpendResult(row, recorded=True)


async def _after_spend_change(conn: asyncpg.Connection, campaign_ids: list[str], cause: Cause, rules: Rules,
                              *, alerts: bool, spend: tuple[str, str],
                              holds: Mapping[str, Hold | None] | None = None) -> list[repo.ReconciliationRow]:
    """Reconciliation, thresholds and forecasts after one spend (source_system,
    source_reference) of the campaigns changed; returns its rows as ``sync_reconciliation``
    read them. ``holds``: of campaigns whose hold the caller read under their lock already."""
    read = await sync_reconciliation(conn, campaign_ids, cause, spends=[spend])
    if alerts:
        for campaign_id in campaign_ids:
            if holds is not None and campaign_id in holds:
                await _evaluate_thresholds(conn, campaign_id, holds[campaign_id], cause, rules)
            else:
                await evaluate_thresholds(conn, campaign_id, cause, rules)
        await evaluate_forecasts(conn, await repo.lock_forecasts_of(conn, campaign_ids), cause, rules, locked=True)
    return read


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
    if event.source == SOURCE:
        # Budget's own copy of a spend its API recorded: the spend was inserted in the
        # transaction that published it, so it is almost always the kept copy already, and
        # then a duplicate whatever else happens to the pair; that needs no lock (seeing it
        # before a concurrent replacement commits is the order in which this copy came first).
        existing = await _kept_copy(conn, spend)
        if existing is not None and existing["event_id"] == event.id:
            return
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
        await _after_spend_change(conn, [spend.campaign_id], Cause.of(event), rules, alerts=not event.is_historical,
                                  spend=(spend.source_system, spend.source_reference))
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
    await _after_spend_change(conn, affected, Cause.of(event), rules, alerts=not event.is_historical,
                              spend=(spend.source_system, spend.source_reference))


# ------------------------------------------------------------------- reconciliation


async def sync_reconciliation(conn: asyncpg.Connection, campaign_ids: list[str], cause: Cause, *,
                              spends: Sequence[tuple[str, str]] | None = None) -> list[repo.ReconciliationRow]:
    """Tell others (SpendReconciliationChanged) about every spend of the campaigns whose
    bookability changed since budget last said; returns the spends as read. Needs the
    campaigns' locks.

    ``spends`` (source_system, source_reference): only these changed, and a spend's
    bookability depends on nothing of its campaign's other spends, so only they are read;
    reading every spend of the campaign made each new spend cost as much as its history."""
    read = (await repo.reconciliations_of_spends(conn, spends) if spends is not None
            else await repo.reconciliations_of(conn, campaign_ids))
    for r in read:
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
    return read


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
                              alerts=not row["historical"], spend=(row["source_system"], row["source_reference"]))
    resolved = await repo.spend_by_id(conn, spend_id)
    assert resolved is not None
    return resolved


class UnknownSpend(Refusal):
    def __init__(self, spend_id: int) -> None:
        super().__init__(BudgetRefusal.unknown_spend, f"spend {spend_id} does not exist")
        self.spend_id = spend_id


# ------------------------------------------------------------------- annual plans


@dataclass(frozen=True)
class NewPlan:
    id: str
    name: str | None
    scope: PlanScope
    amount: Decimal
    currency: str


async def create_plan(conn: asyncpg.Connection, plan: NewPlan, actor: str) -> asyncpg.Record:
    scope = plan.scope
    await repo.lock_plan_scopes(conn, [(scope.fiscal_year, scope.team)])
    if await repo.plan_row(conn, plan.id) is not None:
        raise RuleViolation(f"plan {plan.id!r} already exists", conflict=True)
    others = [PlanScope(r["fiscal_year"], r["team"], r["channel"])
              for r in await repo.plans_of_scope(conn, scope.fiscal_year, scope.team)]
    lines = [(r["amount"], r["currency"])
             for r in await repo.lines_in_scope(conn, scope.fiscal_year, scope.team, scope.channel)]
    check_new_plan(scope, plan.amount, plan.currency, others, lines)
    if not await repo.insert_plan(conn, plan_id=plan.id, name=plan.name, scope=scope, amount=plan.amount,
                                  currency=plan.currency, actor=actor):
        raise RuleViolation(f"plan {plan.id!r} already exists", conflict=True)
    await repo.add_plan_change(conn, plan_id=plan.id, kind="created", delta=plan.amount, amount_after=plan.amount,
                               reason=None, actor=actor)
    row = await repo.plan_totals(conn, plan.id)
    assert row is not None
    return row


class UnknownPlan(Refusal):
    def __init__(self, plan_id: str) -> None:
        super().__init__(BudgetRefusal.unknown_plan, f"plan {plan_id!r} does not exist")


async def adjust_plan(conn: asyncpg.Connection, plan_id: str, amount: Decimal, currency: str, reason: str,
                      actor: str) -> asyncpg.Record:
    found = await repo.plan_row(conn, plan_id)
    if found is None:
        raise UnknownPlan(plan_id)
    await repo.lock_plan_scopes(conn, [(found["fiscal_year"], found["team"])])
    state = await repo.plan_state(conn, plan_id)
    assert state is not None
    check_plan_amount(state, amount, currency)
    await repo.set_plan_amount(conn, plan_id, amount)
    await repo.add_plan_change(conn, plan_id=plan_id, kind="adjusted", delta=amount - state.amount,
                               amount_after=amount, reason=reason, actor=actor)
    row = await repo.plan_totals(conn, plan_id)
    assert row is not None
    return row


async def set_phasing(conn: asyncpg.Connection, line_id: str, months: dict[dt.date, tuple[Decimal, str]]) -> None:
    if not await repo.lock_lines(conn, [line_id]):
        raise UnknownLine(line_id)
    line = await _balance(conn, line_id)
    check_phasing(line["fiscal_year"], line["quarter"], line["amount"], line["currency"], months)
    await repo.set_phasing(conn, line_id, {month: value for month, (value, _) in months.items()})


# ------------------------------------------------------------------- run-out forecast


async def evaluate_forecasts(conn: asyncpg.Connection, line_ids: list[str], cause: Cause, rules: Rules, *,
                             locked: bool = False) -> None:
    """Announce (BudgetLineRunOutForecast) each line whose run-out day came inside the horizon,
    left it, or moved materially inside it since budget last said.

    Each line's forecast lock makes two changes of one line announce in turn, each against
    what the other announced and on every fact committed before it. It is its own lock, not
    the line's row lock, and taken last: a use case that already holds one line's row must
    not wait for another's here (a reservation and a reallocation would deadlock).
    ``locked``: the caller took the lines' forecast locks (``repo.lock_forecasts_of``)."""
    for line_id in sorted(set(line_ids)):
        if not locked:
            await repo.lock_forecast(conn, line_id)
        line, runs, last = await repo.forecast_state(conn, line_id)
        if line is None:
            continue
        as_of = cause.clock().date()
        now = forecast(line["amount"], line["spent"], runs, as_of)
        if not should_announce(now, last, rules.run_out_horizon_days, rules.run_out_material_days):
            continue
        revision = (last.revision if last else 0) + 1
        within = now.within(rules.run_out_horizon_days)
        currency = line["currency"]
        await _publish(conn, c.BudgetLineRunOutForecast(
            budget_line_id=line_id, revision=revision, as_of=as_of, run_out_on=now.run_out_on,
            within_horizon=within, horizon_days=rules.run_out_horizon_days,
            previous_run_out_on=last.run_out_on if last else None, amount=_money(line["amount"], currency),
            committed=_money(now.committed, currency), spent=_money(now.spent, currency),
            forecast_spend=_money(now.forecast_spend, currency)), cause)
        await repo.save_announcement(conn, line_id, revision, as_of, now.run_out_on, within)


async def sweep_forecasts(pool: asyncpg.Pool, rules: Rules, clock: Clock = utcnow) -> int:
    """Re-evaluate every line with a commitment or an announcement inside the horizon, each in
    its own transaction: time passing alone moves a run-out day into (or out of) the horizon.
    Safe on any number of worker replicas: the forecast lock and the last announcement make a
    second evaluation of the same day a no-op. Returns how many lines were evaluated."""
    async with pool.acquire() as conn:
        line_ids = await repo.lines_to_forecast(conn)
    for line_id in line_ids:
        cause = Cause(correlation_id=line_id, clock=clock)

        async def work(conn: asyncpg.Connection, line_id: str = line_id, cause: Cause = cause) -> None:
            await evaluate_forecasts(conn, [line_id], cause, rules)

        await in_transaction(pool, work)
    return len(line_ids)


# ------------------------------------------------------------------- plan files


@dataclass(frozen=True)
class ImportedRow:
    row: int
    kind: str  # plan | line
    id: str
    outcome: str  # created | updated | unchanged


class InvalidPlanFile(Refusal):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(BudgetRefusal.invalid_plan_file,
                         f"the plan file has {len(errors)} error(s); nothing was imported",
                         errors=[e.as_problem_item() for e in sorted(errors, key=lambda e: (e.row, e.column or ""))])


async def import_plan(conn: asyncpg.Connection, rows: list[PlanRow], actor: str, rules: Rules,
                      clock: Clock) -> list[ImportedRow]:
    """Apply a parsed plan file through the same rules as one-by-one edits, all or nothing.

    Plans that are new or grow go first, then the lines, then plans that shrink, so a file
    that moves money around is judged on where it ends, not on its row order. Each row runs
    in a savepoint: a refused row is noted with its reason and the others are still checked,
    so one run lists every error; any error refuses the whole file (the caller's
    transaction is rolled back). A file applied twice changes nothing the second time.
    """
    errors: list[RowError] = []
    done: list[ImportedRow] = []

    async def attempt(row: PlanRow, step: Any, column: str | None = "amount") -> None:
        try:
            async with conn.transaction():
                outcome = await step()
            if outcome is not None:
                done.append(ImportedRow(row.row, "plan" if row.is_plan else "line", row.id, outcome))
        except Refusal as exc:
            errors.append(RowError(row.row, column, exc.detail))

    plans = [r for r in rows if r.is_plan]
    lines = [r for r in rows if not r.is_plan]
    shrinking: list[PlanRow] = []
    for r in plans:
        existing = await repo.plan_row(conn, r.id)
        if existing is None:
            await attempt(r, lambda r=r: _import_new_plan(conn, r, actor))
        elif (existing["fiscal_year"], existing["team"], existing["channel"]) != (r.fiscal_year, r.team, r.channel):
            errors.append(RowError(r.row, "id", f"plan {r.id!r} exists for {existing['fiscal_year']}, team "
                                                f"{existing['team']!r}, channel {existing['channel'] or '(all)'}"))
        elif r.amount < existing["amount"]:
            shrinking.append(r)
        else:
            await attempt(r, lambda r=r: _import_plan_amount(conn, r, actor))
    for r in lines:
        await attempt(r, lambda r=r: _import_line(conn, r, actor, rules, clock))
    for r in shrinking:
        await attempt(r, lambda r=r: _import_plan_amount(conn, r, actor))
    if errors:
        raise InvalidPlanFile(errors)
    return sorted(done, key=lambda d: d.row)


async def _import_new_plan(conn: asyncpg.Connection, r: PlanRow, actor: str) -> str:
    await create_plan(conn, NewPlan(r.id, r.name, PlanScope(r.fiscal_year, r.team, r.channel), r.amount,
                                    r.currency), actor)
    return "created"


async def _import_plan_amount(conn: asyncpg.Connection, r: PlanRow, actor: str) -> str:
    existing = await repo.plan_row(conn, r.id)
    assert existing is not None
    if existing["amount"] == r.amount and existing["currency"] == r.currency:
        return "unchanged"
    await adjust_plan(conn, r.id, r.amount, r.currency, "plan file import", actor)
    return "updated"


async def _import_line(conn: asyncpg.Connection, r: PlanRow, actor: str, rules: Rules, clock: Clock) -> str:
    assert r.quarter is not None and r.channel is not None
    existing = await repo.line_balance(conn, r.id)
    if existing is None:
        await create_line(conn, NewLine(r.id, r.name, r.fiscal_year, r.quarter, r.team, r.channel, r.amount,
                                        r.currency), actor, rules, clock)
        await _import_phasing(conn, r)
        return "created"
    scope = (existing["fiscal_year"], existing["quarter"], existing["team"], existing["channel"])
    if scope != (r.fiscal_year, r.quarter, r.team, r.channel):
        raise RuleViolation(f"budget line {r.id!r} exists for {scope[0]} Q{scope[1]}, team {scope[2]!r}, "
                            f"channel {scope[3]}")
    outcome = "unchanged"
    if existing["amount"] != r.amount or existing["currency"] != r.currency:
        await adjust_line(conn, r.id, r.amount, r.currency, "plan file import", actor, rules, clock)
        outcome = "updated"
    if await _import_phasing(conn, r):
        outcome = "updated"
    return outcome


async def _import_phasing(conn: asyncpg.Connection, r: PlanRow) -> bool:
    """Set the line's phasing to the row's months, if the row gives any; True when it changed."""
    if r.phasing is None or await repo.line_phasing(conn, r.id) == r.phasing:
        return False
    await set_phasing(conn, r.id, {month: (value, r.currency) for month, value in r.phasing.items()})
    return True
