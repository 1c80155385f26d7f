"""Team capacity, demand and deadline realism as pure rules (no I/O).

- A campaign's **production window** runs from the UTC day of its first submission (today,
  for a draft never submitted) to its target launch date, both included; a target before
  that day leaves the one day.
- Its **demand** is its effort estimate spread evenly over the days of that window; a
  week's demand is the sum over the team's campaigns of their days in that (ISO, Monday to
  Sunday) week. Campaigns count while they are submitted and neither cancelled nor rejected
  outright; drafts and campaigns without an estimate add nothing.
- A week is **overloaded** when its demand exceeds its capacity (the team's weekly
  capacity, or that week's own); a week without capacity is never overloaded.
- A **cycle time** is first launch - first submission; the realistic launch date is the
  first submission (or now) plus the median cycle time of the team's launched campaigns,
  or, with fewer than ``min_samples`` of those, the largest median among the brief's
  channels (over every team's campaigns on that channel).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from marops_events.contracts import Channel


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class Demand:
    """One campaign's effort and production window."""

    campaign_id: str
    title: str | None
    effort: Decimal
    start: dt.date  # first submission (UTC day)
    target: dt.date | None

    @property
    def end(self) -> dt.date:
        return self.target if self.target is not None and self.target >= self.start else self.start

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def in_week(self, week: dt.date) -> Fraction:
        """Its demand in the week starting on Monday ``week``."""
        first = max(self.start, week)
        last = min(self.end, week + dt.timedelta(days=6))
        overlap = (last - first).days + 1
        return Fraction(self.effort) * overlap / self.days if overlap > 0 else Fraction(0)


@dataclass(frozen=True)
class Capacity:
    unit: str  # hours | points
    weekly: Decimal
    weeks: Mapping[dt.date, Decimal]

    def of(self, week: dt.date) -> Decimal:
        return self.weeks.get(week, self.weekly)


@dataclass(frozen=True)
class Week:
    start: dt.date
    capacity: Decimal | None
    demand: Decimal
    by_campaign: tuple[tuple[str, Decimal], ...]

    @property
    def overloaded(self) -> bool:
        return self.capacity is not None and self.demand > self.capacity


def _shown(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def weeks_report(demands: Iterable[Demand], capacity: Capacity | None, first_week: dt.date,
                 count: int) -> list[Week]:
    demands = list(demands)
    out = []
    for i in range(count):
        week = monday(first_week) + dt.timedelta(weeks=i)
        shares = [(d.campaign_id, d.in_week(week)) for d in demands]
        shares = [(cid, share) for cid, share in shares if share > 0]
        out.append(Week(start=week, capacity=capacity.of(week) if capacity else None,
                        demand=_shown(sum((s for _, s in shares), Fraction(0))),
                        by_campaign=tuple((cid, _shown(s)) for cid, s in sorted(shares))))
    return out


@dataclass(frozen=True)
class Overload:
    week: dt.date
    capacity: Decimal
    demand_without: Decimal
    demand_with: Decimal


def overloads(new: Demand, others: Sequence[Demand], capacity: Capacity | None) -> list[Overload]:
    """The weeks of ``new``'s window its demand would take past the team's capacity."""
    if capacity is None or new.effort <= 0:
        return []
    found = []
    week = monday(new.start)
    while week <= new.end:
        without = sum((d.in_week(week) for d in others if d.campaign_id != new.campaign_id), Fraction(0))
        with_new = without + new.in_week(week)
        cap = capacity.of(week)
        if with_new > cap:
            found.append(Overload(week, cap, _shown(without), _shown(with_new)))
        week += dt.timedelta(weeks=1)
    return found


@dataclass(frozen=True)
class CycleSample:
    team: str
    channels: tuple[str, ...]
    days: Fraction  # first launch - first submission, in days


@dataclass(frozen=True)
class Realism:
    median_days: Decimal
    basis: str  # "team" or "channel:<name>"
    samples: int
    realistic_from: dt.date


def realistic_launch(team: str, channels: Sequence[Channel | str], start: dt.datetime,
                     samples: Iterable[CycleSample], min_samples: int) -> Realism | None:
    """The earliest launch date the team's (or the channels') median cycle time allows, or
    None when there is too little history to say."""
    samples = list(samples)
    own = [s.days for s in samples if s.team == team]
    basis, chosen = None, None
    if len(own) >= min_samples:
        basis, chosen = "team", own
    else:
        for channel in channels:
            name = channel.value if isinstance(channel, Channel) else channel
            mine = [s.days for s in samples if name in s.channels]
            if len(mine) >= min_samples and (chosen is None or statistics.median(mine) > statistics.median(chosen)):
                basis, chosen = f"channel:{name}", mine
    if chosen is None or basis is None:
        return None
    median = Fraction(statistics.median(chosen))
    realistic = start + dt.timedelta(seconds=float(median * 86400))
    return Realism(median_days=_shown(median), basis=basis, samples=len(chosen), realistic_from=realistic.date())


def unrealistic(target: dt.date | None, realism: Realism | None) -> bool:
    return target is not None and realism is not None and target < realism.realistic_from
