"""Capacity use cases: a team's capacity, its weekly report, and the warnings a brief gets at
intake (overload of its team, an unrealistic launch date). Warnings never refuse anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import asyncpg

from marops_service.auth import Principal
from marops_service.clock import Clock
from marops_service.refusals import Refusal
from marops_service.transactions import in_transaction

from . import repository as repo
from .domain import access
from .domain.brief import Brief
from .domain.capacity import (
    Capacity,
    CycleSample,
    Demand,
    monday,
    overloads,
    realistic_launch,
    unrealistic,
    weeks_report,
)
from .domain.refusals import IntakeRefusal

MIN_CYCLE_SAMPLES = 3


def _capacity(row: asyncpg.Record | None, weeks: list[asyncpg.Record]) -> Capacity | None:
    if row is None:
        return None
    return Capacity(unit=row["unit"], weekly=row["weekly"], weeks={w["week"]: w["capacity"] for w in weeks})


def _demand(row: asyncpg.Record) -> Demand:
    return Demand(campaign_id=row["id"], title=row["title"], effort=row["effort"], start=row["start"],
                  target=row["target"])


async def set_capacity(pool: asyncpg.Pool, clock: Clock, who: Principal, team: str, unit: str, weekly: Decimal,
                       given: list[tuple[dt.date, Decimal]]) -> dict[str, Any]:
    if not access.can_set_capacity(who, team):
        raise Refusal(IntakeRefusal.forbidden,
                      f"a team's capacity is set by ops admins or the team's lead (an approver of team {team!r})")
    weeks: dict[dt.date, Decimal] = {}
    for week, value in given:
        if week.weekday() != 0:
            raise Refusal(IntakeRefusal.invalid, f"the week of {week} is not named by its Monday")
        if week in weeks:
            raise Refusal(IntakeRefusal.invalid, f"the week of {week} appears twice")
        weeks[week] = value

    async def work(conn: asyncpg.Connection) -> None:
        await repo.set_capacity(conn, team, unit=unit, weekly=weekly, weeks=weeks, by=who.subject, at=clock())

    await in_transaction(pool, work)
    return await report(pool, who, team, monday(clock().date()), 8)


async def report(pool: asyncpg.Pool, who: Principal, team: str, first_week: dt.date, count: int) -> dict[str, Any]:
    """Demand vs capacity per week, over the campaigns the caller may read (and saying so)."""
    async with pool.acquire() as conn:
        row, weeks = await repo.capacity(conn, team)
        demands = [r for r in await repo.team_demands(conn, team)
                   if access.can_read_campaign(who, access.CampaignParties.of(
                       r["team"], r["owner"], [r["created_by"], *r["authors"]]))]
        every = len(await repo.team_demands(conn, team)) if access.is_filtered(who) else len(demands)
    cap = _capacity(row, weeks)
    titles = {r["id"]: r["title"] for r in demands}
    out = weeks_report([_demand(r) for r in demands], cap, first_week, count)
    return {
        "team": team, "unit": cap.unit if cap else None, "weekly_capacity": cap.weekly if cap else None,
        "weeks": [{"week_start": w.start, "capacity": w.capacity, "demand": w.demand, "overloaded": w.overloaded,
                   "campaigns": [{"campaign_id": cid, "title": titles.get(cid), "demand": d}
                                 for cid, d in w.by_campaign]} for w in out],
        "overloaded_weeks": [w.start for w in out if w.overloaded],
        "filtered": every != len(demands),
    }


def needs_cycle_samples(brief: Brief) -> bool:
    """Whether ``warnings`` reads the cycle samples for this brief (its deadline check)."""
    return bool(brief.team) and brief.target_launch_date is not None


async def warnings(conn: asyncpg.Connection, campaign_id: str, brief: Brief, now: dt.datetime, *,
                   created: bool = False, first_submitted: dt.datetime | None = None,
                   cycle_samples: Sequence[Sequence[Any]] | None = None) -> list[dict[str, Any]]:
    """What intake warns of for this brief (never a refusal): weeks of its team it would
    overload, and a launch date sooner than the team's (or channels') median cycle allows.
    A brief with neither an effort nor a target date costs no query (``created``: a campaign
    just created, never submitted; ``first_submitted``: its first submission, known to the
    caller; ``cycle_samples``: the rows of ``repo.cycle_samples`` for the brief, read already,
    e.g. by the create's insert)."""
    if not brief.team or (brief.effort is None and brief.target_launch_date is None):
        return []
    found: list[dict[str, Any]] = []
    first = first_submitted
    if first is None and not created:
        first = await repo.first_submission(conn, campaign_id)
    start = first or now
    if brief.effort is not None and brief.effort > 0:
        row, weeks = await repo.capacity(conn, brief.team)
        others = [_demand(r) for r in await repo.team_demands(conn, brief.team) if r["id"] != campaign_id]
        new = Demand(campaign_id, brief.title, brief.effort, start.astimezone(dt.UTC).date(),
                     brief.target_launch_date)
        over = overloads(new, others, _capacity(row, weeks))
        if over:
            unit = row["unit"] if row else ""
            found.append({
                "code": "capacity_overload",
                "message": (f"this brief would take team {brief.team!r} past its capacity in {len(over)} week(s), "
                            f"first the week of {over[0].week} ({over[0].demand_with} of {over[0].capacity} {unit})"),
                "weeks": [{"week_start": o.week, "capacity": o.capacity, "demand_without": o.demand_without,
                           "demand_with": o.demand_with} for o in over]})
    if brief.target_launch_date is None:
        return found
    channels = [ch.value for ch in brief.channels or []]
    if cycle_samples is None:
        cycle_samples = await repo.cycle_samples(conn, brief.team, channels)
    # by position: the create's samples are anonymous records (team, channels, seconds)
    samples = [CycleSample(r[0], tuple(r[1]), Fraction(r[2]) / 86400) for r in cycle_samples]
    realism = realistic_launch(brief.team, channels, start, samples, MIN_CYCLE_SAMPLES)
    if realism is not None and unrealistic(brief.target_launch_date, realism):
        basis = f"team {brief.team!r}" if realism.basis == "team" else realism.basis.replace(":", " ")
        found.append({
            "code": "deadline_unrealistic",
            "message": (f"the target launch date {brief.target_launch_date} is sooner than the median cycle time of "
                        f"{basis} ({realism.median_days} days over {realism.samples} launches) allows: "
                        f"{realism.realistic_from} at the earliest"),
            "median_cycle_days": realism.median_days, "basis": realism.basis, "realistic_from": realism.realistic_from})
    return found
