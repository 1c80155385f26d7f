"""The facts metrics keeps, and what a campaign looks like when derived from them (SPEC section 4).

Pure functions over immutable facts: no I/O, no clock. Whatever order the facts were
recorded in, the same set of facts describes the same campaigns.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

SECONDS_PER_HOUR = 3600
UNKNOWN = "(unknown)"  # group key of a campaign known only from budget facts (no brief yet)


# --- facts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefVersion:
    campaign_id: str
    version: int
    submitted_at: datetime
    title: str
    team: str
    owner: str
    channels: tuple[str, ...]
    target_launch_date: date
    requested_amount: Decimal
    requested_currency: str
    budget_line_id: str
    authors: tuple[str, ...] = ()  # who wrote this version: its requester and any listed authors


@dataclass(frozen=True)
class GateDecision:
    campaign_id: str
    brief_version: int
    gate_id: str
    gate_name: str
    gate_position: int
    is_last_gate: bool
    approved: bool
    decided_at: datetime
    actionable_at: datetime
    sla_hours: int
    rejection_kind: str | None = None

    @property
    def hours_in_gate(self) -> float:
        return hours(self.decided_at - self.actionable_at)

    @property
    def breached_sla(self) -> bool:
        """Decided strictly later than the SLA after the gate became actionable."""
        return self.decided_at > self.actionable_at + timedelta(hours=self.sla_hours)


@dataclass(frozen=True)
class Launch:
    campaign_id: str
    launched_at: datetime
    brief_version: int
    kpis_with_targets: bool
    tracking_plan_defined: bool

    @property
    def data_complete(self) -> bool:
        return self.kpis_with_targets and self.tracking_plan_defined


@dataclass(frozen=True)
class Milestone:
    """A once-per-campaign fact: cancellation or completion."""

    campaign_id: str
    at: datetime


@dataclass(frozen=True)
class Commitment:
    campaign_id: str
    brief_version: int
    budget_line_id: str
    amount: Decimal
    currency: str
    committed_at: datetime
    event_id: str  # breaks ties between commitments at the same instant, deterministically


@dataclass(frozen=True)
class Release:
    campaign_id: str
    released_at: datetime
    brief_version: int | None = None  # the version it frees (absent in older events)

    def releases(self, commitment: Commitment) -> bool:
        if self.brief_version is not None:
            return self.brief_version == commitment.brief_version
        return self.released_at >= commitment.committed_at


@dataclass(frozen=True)
class Spend:
    campaign_id: str
    source_system: str
    source_reference: str
    amount: Decimal
    currency: str
    incurred_on: date
    budget_line_id: str | None
    recorded_at: datetime
    unreconciled: bool = False  # budget cannot book it against a line and finance has not resolved it


@dataclass(frozen=True)
class Facts:
    briefs: tuple[BriefVersion, ...] = ()
    decisions: tuple[GateDecision, ...] = ()
    launches: tuple[Launch, ...] = ()
    cancellations: tuple[Milestone, ...] = ()
    completions: tuple[Milestone, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    releases: tuple[Release, ...] = ()
    spends: tuple[Spend, ...] = ()  # already unique per (source_system, source_reference)


# --- small helpers -------------------------------------------------------------------


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / SECONDS_PER_HOUR


def utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    xs = sorted(values)
    if not xs:
        return None
    rank = (len(xs) - 1) * p / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (rank - lo) * (xs[hi] - xs[lo])


@dataclass(frozen=True)
class Stats:
    count: int
    mean: float | None
    p50: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        xs = list(values)
        return cls(count=len(xs), mean=math.fsum(xs) / len(xs) if xs else None,
                   p50=percentile(xs, 50), p90=percentile(xs, 90))


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent_of(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to two decimals; none when ``whole`` is zero."""
    if whole == 0:
        return None
    try:
        return (part / whole * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # beyond the context's precision: round what it can hold
        return part / whole * 100


# --- the derived campaign ------------------------------------------------------------


class Status(StrEnum):
    in_review = "in_review"
    changes_requested = "changes_requested"
    rejected = "rejected"
    approved = "approved"
    launched = "launched"
    completed = "completed"
    cancelled = "cancelled"
    unknown = "unknown"  # only budget facts so far; its brief has not arrived


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    latest: BriefVersion | None  # the highest version describes the campaign
    first_submitted_at: datetime | None
    version1_submitted_at: datetime | None
    launch: Launch | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    decisions: tuple[GateDecision, ...] = ()
    commitment: Commitment | None = None  # the latest BudgetCommitted
    committed: Decimal = Decimal(0)  # its amount, or 0 once released or cancelled
    spends: tuple[Spend, ...] = ()
    status: Status = Status.unknown
    authors: frozenset[str] = frozenset()  # authors of every version (access to the campaign)

    # description (from the highest brief version)
    @property
    def submitted(self) -> bool:
        return self.latest is not None

    @property
    def team(self) -> str | None:
        return self.latest.team if self.latest else None

    @property
    def channels(self) -> tuple[str, ...]:
        return self.latest.channels if self.latest else ()

    @property
    def target_launch_date(self) -> date | None:
        return self.latest.target_launch_date if self.latest else None

    @property
    def latest_version(self) -> int:
        return self.latest.version if self.latest else 0

    # section 4 measures
    @property
    def launched_at(self) -> datetime | None:
        return self.launch.launched_at if self.launch else None

    @property
    def cycle_time_hours(self) -> float | None:
        if self.launch is None or self.version1_submitted_at is None:
            return None
        return hours(self.launch.launched_at - self.version1_submitted_at)

    @property
    def revisions(self) -> int:
        return max(self.latest_version - 1, 0)

    @property
    def rejections(self) -> int:
        return sum(1 for d in self.decisions if not d.approved)

    @property
    def reworked(self) -> bool:
        return self.rejections > 0

    @property
    def on_time(self) -> bool | None:
        if self.launch is None or self.target_launch_date is None:
            return None
        return utc_date(self.launch.launched_at) <= self.target_launch_date

    @property
    def data_complete(self) -> bool | None:
        return self.launch.data_complete if self.launch else None

    @property
    def committed_currency(self) -> str | None:
        return self.commitment.currency if self.commitment else None

    @property
    def committed_line(self) -> str | None:
        return self.commitment.budget_line_id if self.commitment else None

    def spend_line(self, spend: Spend) -> str | None:
        """The budget line a spend counts against: its own, else the campaign's."""
        if spend.budget_line_id:
            return spend.budget_line_id
        if self.commitment is not None:
            return self.commitment.budget_line_id
        return self.latest.budget_line_id if self.latest else None

    def quarter(self, basis: QuarterBasis) -> str | None:
        moment = self.launched_at if basis is QuarterBasis.launch else self.first_submitted_at
        return quarter_of(utc_date(moment)) if moment else None


class QuarterBasis(StrEnum):
    """Cycle time is grouped by the quarter of launch; everything else by first submission."""

    launch = "launch"
    submission = "submission"


@dataclass
class _Collected:
    briefs: list[BriefVersion] = field(default_factory=list)
    decisions: list[GateDecision] = field(default_factory=list)
    launch: Launch | None = None
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None
    commitments: list[Commitment] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    spends: list[Spend] = field(default_factory=list)


def build_campaigns(facts: Facts) -> list[Campaign]:
    """Every campaign the facts mention, sorted by id."""
    by_id: dict[str, _Collected] = defaultdict(_Collected)
    for b in facts.briefs:
        by_id[b.campaign_id].briefs.append(b)
    for d in facts.decisions:
        by_id[d.campaign_id].decisions.append(d)
    for launch in facts.launches:
        by_id[launch.campaign_id].launch = launch
    for m in facts.cancellations:
        by_id[m.campaign_id].cancelled_at = m.at
    for m in facts.completions:
        by_id[m.campaign_id].completed_at = m.at
    for cm in facts.commitments:
        by_id[cm.campaign_id].commitments.append(cm)
    for r in facts.releases:
        by_id[r.campaign_id].releases.append(r)
    for s in facts.spends:
        by_id[s.campaign_id].spends.append(s)
    return [_campaign(cid, by_id[cid]) for cid in sorted(by_id)]


def _campaign(campaign_id: str, f: _Collected) -> Campaign:
    latest = max(f.briefs, key=lambda b: b.version, default=None)
    v1 = next((b for b in f.briefs if b.version == 1), None)
    first = v1.submitted_at if v1 else min((b.submitted_at for b in f.briefs), default=None)
    commitment, committed = current_commitment(f.commitments, f.releases, cancelled=f.cancelled_at is not None)
    decisions = tuple(sorted(f.decisions, key=lambda d: (d.brief_version, d.gate_position, d.decided_at)))
    return Campaign(
        campaign_id=campaign_id, latest=latest, first_submitted_at=first,
        version1_submitted_at=v1.submitted_at if v1 else None, launch=f.launch,
        cancelled_at=f.cancelled_at, completed_at=f.completed_at, decisions=decisions,
        commitment=commitment, committed=committed,
        spends=tuple(sorted(f.spends, key=lambda s: (s.incurred_on, s.source_system, s.source_reference))),
        status=status_of(latest, decisions, f.launch, f.cancelled_at, f.completed_at),
        authors=frozenset(a for b in f.briefs for a in b.authors),
    )


def current_commitment(commitments: Sequence[Commitment], releases: Sequence[Release],
                       *, cancelled: bool) -> tuple[Commitment | None, Decimal]:
    """The latest commitment and what it still commits: 0 once cancelled or released (a
    release names the brief version it frees; older events without one release what was
    committed before them)."""
    latest = max(commitments, key=lambda cm: (cm.committed_at, cm.brief_version, cm.event_id), default=None)
    if latest is None:
        return None, Decimal(0)
    if cancelled or any(r.releases(latest) for r in releases):
        return latest, Decimal(0)
    return latest, latest.amount


def status_of(latest: BriefVersion | None, decisions: Sequence[GateDecision], launch: Launch | None,
              cancelled_at: datetime | None, completed_at: datetime | None) -> Status:
    if cancelled_at is not None:
        return Status.cancelled
    if completed_at is not None:
        return Status.completed
    if launch is not None:
        return Status.launched
    if latest is None:
        return Status.unknown
    current = [d for d in decisions if d.brief_version == latest.version]
    if any(not d.approved and d.rejection_kind == "rejected" for d in current):
        return Status.rejected
    if any(not d.approved for d in current):
        return Status.changes_requested
    if any(d.approved and d.is_last_gate for d in current):
        return Status.approved
    return Status.in_review
