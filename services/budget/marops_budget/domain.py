"""Budget rules as pure functions over facts: no I/O, so every rule is testable alone.

Consumed events are stored as facts; ``next_action`` derives what budget still has to do
for a campaign from those facts and its current hold. Applying the actions until there
is none left reaches the same hold whatever order the facts arrived in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from marops_events.contracts import (
    ReconciliationResolution,
    ReconciliationStatus,
    ReleaseReason,
    ReservationRejectionReason,
    UnreconciledReason,
)
from marops_service.auth import Principal, Role
from marops_service.refusals import Refusal

MAX_ABS_AMOUNT = Decimal("1000000000000000")  # 10^15: far above any budget, far below overflow
MAX_DECIMALS = 4


class BudgetRefusal(StrEnum):
    """Why budget refuses a command or an event (api.REFUSALS answers each over HTTP)."""

    conflict = "conflict"  # a state clash: 409
    invalid = "invalid"  # the input itself is wrong: 422
    unknown_line = "unknown-line"  # the line the path names: 404
    unknown_named_line = "unknown-named-line"  # a line the body names: 422
    unknown_spend = "unknown-spend"  # 404
    source_system_not_allowed = "source-system-not-allowed"  # a token's source_systems claim: 403
    spend_reference_conflict = "spend-reference-conflict"  # a re-sent spend with other content: 409
    unknown_plan = "unknown-plan"  # 404
    invalid_plan_file = "invalid-plan-file"  # a plan CSV with row errors: 422, every error listed


class RuleViolation(Refusal):
    """A command or event that breaks a budget rule. ``conflict`` is a state clash (409),
    otherwise the input itself is wrong (422)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(BudgetRefusal.conflict if conflict else BudgetRefusal.invalid, message)
        self.message = message
        self.conflict = conflict


class HoldStatus(StrEnum):
    reserved = "reserved"
    committed = "committed"
    released = "released"


# ------------------------------------------------------------------- money


def amount_problem(amount: Decimal, *, what: str = "amount") -> str | None:
    """Why an amount cannot be stored, or None."""
    if not amount.is_finite():
        return f"{what} must be a finite number"
    if abs(amount) >= MAX_ABS_AMOUNT:
        return f"{what} must be below {MAX_ABS_AMOUNT:,} in absolute value"
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        return f"{what} must have at most {MAX_DECIMALS} decimal places"
    return None


def require_amount(amount: Decimal, *, what: str = "amount", positive: bool = False,
                   non_negative: bool = False) -> None:
    problem = amount_problem(amount, what=what)
    if problem is None and positive and amount <= 0:
        problem = f"{what} must be greater than zero"
    if problem is None and non_negative and amount < 0:
        problem = f"{what} must not be negative"
    if problem:
        raise RuleViolation(problem)


# ------------------------------------------------------------------- facts and holds


@dataclass(frozen=True)
class Brief:
    campaign_id: str
    version: int
    budget_line_id: str
    amount: Decimal
    currency: str
    flight_start: dt.date
    flight_end: dt.date


@dataclass(frozen=True)
class Hold:
    """What one campaign holds on one line: reserved, committed, or released."""

    campaign_id: str
    budget_line_id: str
    brief_version: int
    amount: Decimal
    currency: str
    status: HoldStatus

    @property
    def active(self) -> bool:
        return self.status is not HoldStatus.released


@dataclass(frozen=True)
class CampaignFacts:
    """Everything budget has been told about a campaign (live events only)."""

    campaign_id: str
    latest_brief: Brief | None = None
    cancelled: bool = False
    outright_rejected_versions: frozenset[int] = frozenset()
    budget_approved_versions: frozenset[int] = frozenset()
    # brief version -> True if reserved, False if the reservation was refused
    decisions: Mapping[int, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Reserve:
    brief: Brief


@dataclass(frozen=True)
class Commit:
    hold: Hold


@dataclass(frozen=True)
class Release:
    hold: Hold
    reason: ReleaseReason


Action = Reserve | Commit | Release


def next_action(facts: CampaignFacts, hold: Hold | None) -> Action | None:
    """The one thing budget still has to do for this campaign, or None when converged.

    The state it converges to depends only on the facts, not on their order. Let H be the
    highest version whose reservation was accepted (a reservation only ever moves up to the
    version just reserved, so the hold belongs to H; later versions were refused, and a
    refused version leaves H's reservation in place). Nothing is held once the campaign is
    cancelled, or once any version from H on was rejected outright; otherwise H's
    reservation is held, committed once H's budget gate is approved. Brief versions arrive
    in order (one topic, keyed by campaign), so each is decided in turn.
    """
    held = hold if hold is not None and hold.active else None
    if facts.cancelled:
        return Release(held, ReleaseReason.cancelled) if held else None
    brief = facts.latest_brief
    if (brief is not None and brief.version not in facts.decisions
            and brief.version not in facts.outright_rejected_versions):
        return Reserve(brief)
    if held is None:
        return None
    if any(v >= held.brief_version for v in facts.outright_rejected_versions):
        return Release(held, ReleaseReason.rejected)
    if held.status is HoldStatus.reserved and held.brief_version in facts.budget_approved_versions:
        return Commit(held)
    return None


# ------------------------------------------------------------------- change in flight


@dataclass(frozen=True)
class ChangeRequest:
    """A change request of a campaign as budget knows it (ChangeRequested, and ChangeDecided
    once it arrives: either may come first)."""

    change_id: str
    campaign_id: str
    brief_version: int
    budget_line_id: str
    amount: Decimal  # the proposed version's whole requested amount
    currency: str
    state: str  # requested, reserved, refused, committed, dropped
    outcome: str | None = None  # approved or rejected


class ChangeStep(StrEnum):
    wait = "wait"  # the commitment it changes is not there yet
    top_up = "top_up"  # more money: reserve the difference, like a reservation
    accept = "accept"  # no more money: nothing to reserve
    refuse = "refuse"  # it can never be reserved (another line or currency than the commitment)
    commit = "commit"  # approved: the proposed version is the commitment now
    drop = "drop"  # rejected (or approved without a reservation): the top-up goes


def next_change_step(change: ChangeRequest, hold: Hold | None, cancelled: bool) -> ChangeStep | None:
    """What budget still has to do for one change request, or None when it is settled."""
    if change.state in ("committed", "dropped"):
        return None
    if change.state == "requested":
        if cancelled or (hold is not None and hold.brief_version >= change.brief_version):
            return ChangeStep.drop
        if hold is None or hold.status is not HoldStatus.committed:
            return ChangeStep.wait
        if (change.budget_line_id, change.currency) != (hold.budget_line_id, hold.currency):
            return ChangeStep.refuse
        return ChangeStep.top_up if change.amount > hold.amount else ChangeStep.accept
    if change.outcome is None:
        return None
    if change.outcome == "approved" and change.state == "reserved" and not cancelled:
        return ChangeStep.commit
    return ChangeStep.drop


# ------------------------------------------------------------------- reservations


def campaign_use(held: Decimal, spent: Decimal) -> Decimal:
    """What a campaign uses of its line: the larger of what it holds there and what it
    spent there (spend beyond a commitment also uses up the line). The SQL side of the
    same rule is ``line_exposure.used`` (migration 005), which every balance sums."""
    return max(held, spent)


@dataclass(frozen=True)
class LineState:
    """A locked budget line as a reservation sees it."""

    id: str
    currency: str
    amount: Decimal
    others_exposure: Decimal  # what every other campaign uses of the line (campaign_use, summed)
    campaign_spent: Decimal  # what this campaign has already spent on the line

    @property
    def available_to_campaign(self) -> Decimal:
        return self.amount - self.others_exposure


@dataclass(frozen=True)
class Reserved:
    hold: Hold


@dataclass(frozen=True)
class Refused:
    code: ReservationRejectionReason
    reason: str


def decide_reservation(brief: Brief, line: LineState | None) -> Reserved | Refused:
    """Reserve the requested amount, replacing whatever the campaign held before.

    A campaign uses the larger of what it holds and what it spent, so the line never
    carries more than its amount once the reservation is in place.
    """
    if line is None:
        return Refused(ReservationRejectionReason.unknown_line,
                       f"budget line {brief.budget_line_id!r} does not exist")
    if brief.currency != line.currency:
        return Refused(ReservationRejectionReason.currency_mismatch,
                       f"requested {brief.currency} but budget line {line.id!r} is in {line.currency}")
    needed = campaign_use(held=brief.amount, spent=line.campaign_spent)
    if needed > line.available_to_campaign:
        return Refused(ReservationRejectionReason.insufficient_funds,
                       f"requested {brief.amount} {brief.currency} but budget line {line.id!r} has "
                       f"{max(line.available_to_campaign, Decimal(0))} {line.currency} available")
    return Reserved(Hold(brief.campaign_id, line.id, brief.version, brief.amount, brief.currency,
                         HoldStatus.reserved))


def brief_problem(brief: Brief) -> str | None:
    """Why a submitted brief can never be reserved (it is dead-lettered), or None."""
    if brief.amount < 0:
        return "requested budget amount is negative"
    return amount_problem(brief.amount, what="requested budget amount")


# ------------------------------------------------------------------- spend


@dataclass(frozen=True)
class Spend:
    campaign_id: str
    source_system: str
    source_reference: str
    amount: Decimal
    currency: str
    incurred_on: dt.date
    budget_line_id: str | None = None
    corrects_reference: str | None = None
    description: str | None = None

    @property
    def content(self) -> tuple[object, ...]:
        """The business content of a spend: what two copies of one (source_system,
        source_reference) must agree on. The free-text description is left out (systems
        re-render it), and amounts compare as numbers (10.0 is 10.00)."""
        return (self.campaign_id, self.amount, self.currency, self.incurred_on, self.budget_line_id,
                self.corrects_reference)

    def same_fact_as(self, other: Spend) -> bool:
        """A re-sent spend: same business content (description aside)."""
        return self.content == other.content


_CONTENT_NAMES = ("campaign_id", "amount", "currency", "incurred_on", "budget_line_id", "corrects_reference")


def content_differences(kept: Spend, other: Spend) -> list[str]:
    """What ``other`` says differently from ``kept``, readably ("amount 11.00, not 10.00")."""
    return [f"{name} {theirs}, not {ours}" for name, ours, theirs in zip(_CONTENT_NAMES, kept.content, other.content,
                                                                        strict=True) if ours != theirs]


@dataclass(frozen=True)
class SpendCopy:
    """One copy of a spend as an event delivered it: its content, business time and id."""

    spend: Spend
    occurred_at: dt.datetime
    event_id: uuid.UUID

    @property
    def order(self) -> tuple[dt.datetime, uuid.UUID]:
        # Earliest (time, event id) wins, as in metrics (SPEC section 4): UUIDs compare
        # as their big-endian bytes in Python and in PostgreSQL alike.
        return (self.occurred_at, self.event_id)


class CopyVerdict(StrEnum):
    new = "new"  # first copy of the pair: book it
    duplicate = "duplicate"  # the kept copy again, or a later copy with the same content: nothing to do
    replaces = "replaces"  # earlier than the kept copy: it becomes the kept one
    conflicts = "conflicts"  # later than the kept copy and says something else: refused


def judge_copy(kept: SpendCopy | None, incoming: SpendCopy) -> CopyVerdict:
    """What to do with an incoming copy so that the kept one is the earliest whatever the
    arrival order, and a later copy that contradicts it is refused, not silently dropped."""
    if kept is None:
        return CopyVerdict.new
    if incoming.event_id == kept.event_id:
        return CopyVerdict.duplicate
    if incoming.order < kept.order:
        return CopyVerdict.replaces
    return CopyVerdict.duplicate if incoming.spend.same_fact_as(kept.spend) else CopyVerdict.conflicts


def conflict_reason(kept: SpendCopy, incoming: SpendCopy) -> str:
    s = incoming.spend
    return (f"spend {s.source_system}/{s.source_reference} conflicts with the earlier copy kept from event "
            f"{kept.event_id}: {'; '.join(content_differences(kept.spend, s))}")


def check_recorder(who: Principal, source_system: str) -> None:
    """Finance (and ops_admin) record for any source; a service account only for the systems its token names."""
    if not (who.has(Role.finance, Role.ops_admin) or source_system in who.source_systems):
        raise Refusal(BudgetRefusal.source_system_not_allowed,
                      f"this service account may record spend for {sorted(who.source_systems) or 'no source system'}"
                      f", not {source_system!r} (the token's source_systems claim)")


def check_resent(spend: Spend, same_fact: bool) -> None:
    """A spend re-sent with the reference of a recorded one must repeat it."""
    if not same_fact:
        raise Refusal(BudgetRefusal.spend_reference_conflict,
                      f"spend {spend.source_system}/{spend.source_reference} was already recorded with "
                      "different content")


def month_start(value: str) -> dt.date:
    """'2026-03' -> 2026-03-01 (the query pattern already guarantees the shape, not the year)."""
    year, month = (int(part) for part in value.split("-"))
    if year < 1:
        raise RuleViolation(f"{value!r} is not a month")
    return dt.date(year, month, 1)


def check_spend(spend: Spend, line_currency: str | None) -> None:
    """Refuse a spend that can never be recorded. ``line_currency`` is the currency of the
    line the spend counts against, when that line is already known."""
    require_amount(spend.amount)
    if spend.amount == 0:
        raise RuleViolation("a spend of zero records nothing")
    if spend.amount < 0 and not spend.corrects_reference:
        raise RuleViolation("a negative spend (refund or correction) must name corrects_reference")
    if spend.corrects_reference == spend.source_reference:
        raise RuleViolation("a spend cannot correct itself")
    if line_currency is not None and spend.currency != line_currency:
        raise RuleViolation(f"spend is in {spend.currency} but its budget line is in {line_currency}")


@dataclass(frozen=True)
class Reconciliation:
    """Whether a spend is booked against a line, as budget derives it now or last published it."""

    campaign_id: str
    amount: Decimal
    currency: str
    status: ReconciliationStatus
    reason_code: UnreconciledReason | None = None
    resolution: ReconciliationResolution | None = None
    budget_line_id: str | None = None


def reconciliation_to_publish(now: Reconciliation, published: Reconciliation | None) -> bool:
    """Whether others must be told. A spend booked from the start needs no event (consumers
    take a spend with no SpendReconciliationChanged as reconciled); any later change does."""
    if published is None:
        return now.status is ReconciliationStatus.unreconciled
    return now != published


def unreconciled_reason_text(code: UnreconciledReason, *, currency: str, line_id: str | None,
                             line_currency: str | None) -> str:
    if code is UnreconciledReason.unknown_campaign:
        return "no brief of its campaign is known yet, so neither is its budget line"
    if code is UnreconciledReason.unknown_line:
        return f"budget line {line_id!r} does not exist"
    return f"spend is in {currency} but budget line {line_id!r} is in {line_currency}"


def check_resolution(resolution: ReconciliationResolution, *, unreconciled: bool, spend_currency: str,
                     line_id: str | None, line_currency: str | None) -> None:
    """Finance books an unreconciled spend on a line in its currency, or excludes it."""
    if not unreconciled:
        raise RuleViolation("the spend is not unreconciled: nothing to resolve", conflict=True)
    if resolution is ReconciliationResolution.booked:
        if line_id is None:
            raise RuleViolation("booking a spend needs the budget_line_id to book it on")
        if line_currency is None:
            raise RuleViolation(f"budget line {line_id!r} does not exist")
        if line_currency != spend_currency:
            raise RuleViolation(f"spend is in {spend_currency} but budget line {line_id!r} is in {line_currency}")
    elif resolution is ReconciliationResolution.excluded:
        if line_id is not None:
            raise RuleViolation("an excluded spend counts against no line: leave budget_line_id out")
    else:
        raise RuleViolation(f"finance resolves by booking or excluding, not {resolution.value!r}")


@dataclass(frozen=True)
class CorrectedSpend:
    """The spend a correction names, with every correction recorded against it so far."""

    campaign_id: str
    currency: str
    remaining: Decimal  # its amount plus those corrections


def check_correction(spend: Spend, original: CorrectedSpend | None) -> None:
    """A correction names an existing spend of the same source system, campaign and currency,
    and never takes it below zero."""
    if spend.corrects_reference is None:
        return
    named = f"{spend.source_system}/{spend.corrects_reference}"
    if original is None:
        raise RuleViolation(f"corrects_reference names no recorded spend ({named})")
    if original.campaign_id != spend.campaign_id:
        raise RuleViolation(f"the corrected spend {named} belongs to another campaign")
    if original.currency != spend.currency:
        raise RuleViolation(f"the corrected spend {named} is in {original.currency}, not {spend.currency}")
    if original.remaining + spend.amount < 0:
        raise RuleViolation(f"the correction would take {named} below zero (it stands at "
                            f"{original.remaining} {original.currency})")


def crossed_thresholds(committed: Decimal, spent: Decimal, thresholds: Iterable[int],
                       already: Iterable[int]) -> list[int]:
    """Thresholds (percent of the commitment) that spend has reached and nobody was told of."""
    if committed <= 0:
        return []
    done = set(already)
    return [t for t in sorted(set(thresholds)) if t not in done and spent * 100 >= committed * t]


# ------------------------------------------------------------------- plan changes


@dataclass(frozen=True)
class LineBalance:
    amount: Decimal
    currency: str
    exposure: Decimal  # what every campaign uses of the line (campaign_use, summed)

    @property
    def available(self) -> Decimal:
        return self.amount - self.exposure


def check_adjustment(line_id: str, balance: LineBalance, new_amount: Decimal, currency: str) -> None:
    require_amount(new_amount, what="amount", non_negative=True)
    if currency != balance.currency:
        raise RuleViolation(f"budget line {line_id!r} is in {balance.currency}, not {currency}")
    if new_amount < balance.exposure:
        raise RuleViolation(
            f"budget line {line_id!r} cannot go below {balance.exposure} {balance.currency} "
            "(what it has reserved, committed and spent)", conflict=True)


def check_reallocation(from_id: str, source: LineBalance, to_id: str, target: LineBalance,
                       amount: Decimal, currency: str) -> None:
    require_amount(amount, positive=True)
    if from_id == to_id:
        raise RuleViolation("cannot reallocate a line to itself")
    if source.currency != target.currency:
        raise RuleViolation(f"lines are in different currencies ({source.currency}, {target.currency})")
    if currency != source.currency:
        raise RuleViolation(f"the lines are in {source.currency}, not {currency}")
    if amount > source.available:
        raise RuleViolation(
            f"budget line {from_id!r} has {source.available} {source.currency} available; "
            f"moving {amount} would take it below what it has reserved and committed", conflict=True)


# ------------------------------------------------------------------- reporting


class PacingStatus(StrEnum):
    not_started = "not_started"
    no_commitment = "no_commitment"
    underpacing = "underpacing"
    on_pace = "on_pace"
    overpacing = "overpacing"


@dataclass(frozen=True)
class Pacing:
    elapsed_share: Decimal  # share of the flight's days elapsed by as_of (inclusive), 0..1
    spend_share: Decimal | None  # spent / committed
    expected_spend: Decimal  # committed * elapsed_share
    pacing_index: Decimal | None  # spend_share / elapsed_share (1 = exactly on pace)
    status: PacingStatus


def pacing(committed: Decimal, spent: Decimal, flight_start: dt.date, flight_end: dt.date,
           as_of: dt.date, tolerance_percent: int) -> Pacing:
    days = max((flight_end - flight_start).days + 1, 1)
    elapsed_days = min(max((as_of - flight_start).days + 1, 0), days)
    # Compare exact fractions; round only what is shown.
    elapsed = Fraction(elapsed_days, days)
    share = Fraction(spent) / Fraction(committed) if committed > 0 else None
    if share is None:
        status = PacingStatus.no_commitment
    elif elapsed_days == 0:
        status = PacingStatus.overpacing if spent > 0 else PacingStatus.not_started
    elif share > elapsed + Fraction(tolerance_percent, 100):
        status = PacingStatus.overpacing
    elif share < elapsed - Fraction(tolerance_percent, 100):
        status = PacingStatus.underpacing
    else:
        status = PacingStatus.on_pace
    index = share / elapsed if share is not None and elapsed > 0 else None
    return Pacing(elapsed_share=_ratio(elapsed), spend_share=_ratio(share) if share is not None else None,
                  expected_spend=(committed * elapsed_days / days).quantize(Decimal("0.01")),
                  pacing_index=_ratio(index) if index is not None else None, status=status)


def _ratio(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.0001"))


def variance_percent(spent: Decimal, committed: Decimal) -> Decimal | None:
    """(spent - committed) as a percentage of committed; none when nothing is committed.
    Rounded half up, as the metrics service rounds it, so both show the same number."""
    if committed == 0:
        return None
    return ((spent - committed) * 100 / committed).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
