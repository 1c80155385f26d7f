"""``GET /reviews``: the operational review pack of a week or a month.

What a marketing-operations review goes through, from the read model: gates overdue now and
SLA breaches decided in the period, launches (the late ones named), spend incurred in the
period and the campaigns off pace, open risks that block launch, campaigns completed in
the period without results or without a retrospective, rework, and each headline number
beside the previous period's.

Periods are UTC calendar periods: ``week`` is the ISO week (Monday to Sunday) holding
``start``, ``month`` the calendar month holding it. Lists name only campaigns the caller
may read (SPEC section 5); every count is over those, and the pack says ``filtered``.

Spend pacing (as of the period's last day): a launched campaign, neither cancelled nor
completed by then, with a commitment and a flight that has started, is expected to have
spent ``committed x (days of its flight elapsed / days of its flight)``; it is off pace
when its spend in the commitment's currency is below 80% or above 120% of that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from marops_events.contracts import IsoDate
from marops_events.money import format_amount
from marops_service.app import Pool
from marops_service.clock import Now

from .aggregates import Report
from .api import Filtered, Format, Reader, documented
from .domain import QuarterBasis
from .export import respond
from .projection import LIVE_SCHEMA as S
from .readside import Scope, _answered, _snapshot
from .schemas import _Body

router = APIRouter()
PACE_LOW, PACE_HIGH = Decimal("0.8"), Decimal("1.2")


class Period(StrEnum):
    week = "week"
    month = "month"


@dataclass(frozen=True)
class Window:
    first: dt.date  # the period's first day
    after: dt.date  # the day after its last

    @property
    def last(self) -> dt.date:
        return self.after - dt.timedelta(days=1)

    def times(self) -> tuple[dt.datetime, dt.datetime]:
        return (dt.datetime.combine(self.first, dt.time(), dt.UTC), dt.datetime.combine(self.after, dt.time(), dt.UTC))


def window(period: Period, day: dt.date) -> Window:
    if period is Period.week:
        first = day - dt.timedelta(days=day.weekday())
        return Window(first, first + dt.timedelta(days=7))
    first = day.replace(day=1)
    return Window(first, (first + dt.timedelta(days=32)).replace(day=1))


def previous(period: Period, w: Window) -> Window:
    return window(period, w.first - dt.timedelta(days=1))


def pace(committed: Decimal, flight_start: dt.date, flight_end: dt.date, last: dt.date) -> Decimal:
    """The share of the commitment a campaign is expected to have spent by the end of ``last``."""
    days = (flight_end - flight_start).days + 1
    elapsed = min(max((last - flight_start).days + 1, 0), days)
    return committed * elapsed / days


# --- queries -----------------------------------------------------------------------------


class _Q:
    """One scope's condition on ``c`` (readmodel.campaigns) and its parameters."""

    def __init__(self, scope: Scope) -> None:
        self.params: list[Any] = []
        self.where = scope.where(QuarterBasis.submission, self.params)

    def p(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


async def numbers(conn: asyncpg.Connection, scope: Scope, w: Window) -> dict[str, Any]:
    """The headline numbers of one period (compared with the previous period's)."""
    q = _Q(scope)
    t0, t1 = w.times()
    a, b = q.p(t0), q.p(t1)
    row = await conn.fetchrow(
        f"""
        SELECT
          (SELECT count(*) FROM {S}.campaigns c WHERE c.launched_at >= {a} AND c.launched_at < {b} AND {q.where})
            AS launches,
          (SELECT count(*) FILTER (WHERE c.on_time) FROM {S}.campaigns c
           WHERE c.launched_at >= {a} AND c.launched_at < {b} AND {q.where}) AS on_time,
          (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c.cycle_time_hours) FROM {S}.campaigns c
           WHERE c.launched_at >= {a} AND c.launched_at < {b} AND {q.where}) AS cycle_p50,
          (SELECT count(*) FROM {S}.gate_decisions d JOIN {S}.campaigns c USING (campaign_id)
           WHERE d.breached_sla AND d.decided_at >= {a} AND d.decided_at < {b} AND {q.where}) AS sla_breaches,
          (SELECT count(*) FROM {S}.gate_decisions d JOIN {S}.campaigns c USING (campaign_id)
           WHERE d.outcome = 'rejected' AND d.decided_at >= {a} AND d.decided_at < {b} AND {q.where}) AS rejections,
          (SELECT count(*) FROM {S}.brief_versions v JOIN {S}.campaigns c USING (campaign_id)
           WHERE v.version > 1 AND v.submitted_at >= {a} AND v.submitted_at < {b} AND {q.where}) AS resubmissions,
          (SELECT count(*) FROM {S}.campaigns c WHERE c.completed_at >= {a} AND c.completed_at < {b} AND {q.where})
            AS completed,
          (SELECT count(*) FROM {S}.campaigns c WHERE c.completed_at >= {a} AND c.completed_at < {b} AND {q.where}
             AND {_HAS_RESULTS}) AS completed_with_results
        """, *q.params)
    spend = await spend_in(conn, scope, w)
    launches, completed = row["launches"], row["completed"]
    return {
        "launches": launches,
        "on_time_rate": row["on_time"] / launches if launches else None,
        "cycle_time_p50_hours": row["cycle_p50"],
        "sla_breaches": row["sla_breaches"], "rejections": row["rejections"],
        "resubmissions": row["resubmissions"], "completed": completed,
        "results_reported_rate": row["completed_with_results"] / completed if completed else None,
        **{f"spend_{s['currency']}": Decimal(s["amount"]) for s in spend},
    }


# A campaign has a result when a report names one of the KPIs of its highest brief version.
_HAS_RESULTS = f"""EXISTS (
    SELECT 1 FROM {S}.kpi_reports r CROSS JOIN LATERAL jsonb_array_elements(r.results) x
    WHERE r.campaign_id = c.campaign_id AND x->>'metric' IN (
        SELECT k->>'metric' FROM (SELECT kpis FROM {S}.brief_kpis b WHERE b.campaign_id = c.campaign_id
                                  ORDER BY b.version DESC LIMIT 1) latest
        CROSS JOIN LATERAL jsonb_array_elements(latest.kpis) k))"""


async def spend_in(conn: asyncpg.Connection, scope: Scope, w: Window) -> list[dict[str, Any]]:
    q = _Q(scope)
    rows = await conn.fetch(
        f"""
        SELECT s.currency, sum(s.amount) AS amount FROM {S}.spends s JOIN {S}.campaigns c USING (campaign_id)
        WHERE s.incurred_on >= {q.p(w.first)} AND s.incurred_on < {q.p(w.after)} AND {q.where}
        GROUP BY s.currency ORDER BY s.currency
        """, *q.params)
    return [{"currency": r["currency"], "amount": format_amount(r["amount"], r["currency"])} for r in rows]


async def pack(conn: asyncpg.Connection, scope: Scope, period: Period, w: Window, now: dt.datetime) -> dict[str, Any]:
    """The pack of ``w`` as of ``now``, read on ``conn``."""
    return finish(await _read(conn, scope, period, w), now)


def finish(read: Report, now: dt.datetime) -> dict[str, Any]:
    """The pack as of ``now`` from what ``_read`` gave: everything but the gates overdue (the
    breaches whose ``due_at`` has passed) and ``as_of`` depends on the read model alone."""
    body = dict(read.body)
    body["as_of"] = now
    body["gates_overdue"] = [{**r, "hours_overdue": (now - r["due_at"]).total_seconds() / 3600}
                             for r in read.rows if r["due_at"] <= now]
    return body


async def _read(conn: asyncpg.Connection, scope: Scope, period: Period, w: Window) -> Report:
    """The pack without a 'now' (body) and the open breaches it picks the overdue gates from (rows)."""
    t0, t1 = w.times()

    async def rows(sql: str, *values: Any) -> list[asyncpg.Record]:
        q = _Q(scope)
        names = [q.p(v) for v in values]
        return list(await conn.fetch(sql.format(*names, where=q.where, S=S), *q.params))

    overdue = await rows(
        """SELECT b.campaign_id, c.title, b.gate_id, b.gate_name, b.brief_version, b.due_at
           FROM {S}.sla_breaches b JOIN {S}.campaigns c USING (campaign_id)
           WHERE b.brief_version = c.latest_version AND c.launched_at IS NULL AND c.cancelled_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM {S}.gate_decisions d WHERE d.campaign_id = b.campaign_id
                             AND d.brief_version = b.brief_version AND d.gate_id = b.gate_id)
             AND {where}
           ORDER BY b.due_at, b.campaign_id""")
    breaches = await rows(
        """SELECT d.campaign_id, c.title, d.gate_id, d.gate_name, d.brief_version, d.outcome, d.decided_at,
                  d.hours_in_gate - d.sla_hours AS hours_over
           FROM {S}.gate_decisions d JOIN {S}.campaigns c USING (campaign_id)
           WHERE d.breached_sla AND d.decided_at >= {0} AND d.decided_at < {1} AND {where}
           ORDER BY d.decided_at, d.campaign_id, d.gate_id""", t0, t1)
    launches = await rows(
        """SELECT c.campaign_id, c.title, c.target_launch_date, c.launched_on, c.on_time
           FROM {S}.campaigns c WHERE c.launched_at >= {0} AND c.launched_at < {1} AND {where}
           ORDER BY c.launched_at, c.campaign_id""", t0, t1)
    paced = await rows(
        """SELECT c.campaign_id, c.title, c.committed, c.committed_currency, f.flight_start, f.flight_end,
                  coalesce((SELECT sum(s.amount) FROM {S}.spends s WHERE s.campaign_id = c.campaign_id
                            AND s.currency = c.committed_currency AND s.incurred_on <= {0}), 0) AS spent
           FROM {S}.campaigns c
           JOIN LATERAL (SELECT flight_start, flight_end FROM {S}.brief_kpis b WHERE b.campaign_id = c.campaign_id
                         ORDER BY b.version DESC LIMIT 1) f ON true
           WHERE c.launched_on <= {0} AND c.committed IS NOT NULL AND f.flight_start <= {0}
             AND (c.cancelled_at IS NULL OR c.cancelled_at >= {1})
             AND (c.completed_at IS NULL OR c.completed_at >= {1}) AND {where}
           ORDER BY c.campaign_id""", w.last, t1)
    risks = await rows(
        """SELECT r.campaign_id, c.title, r.risk_id, r.description, r.owner, r.score, r.changed_at
           FROM {S}.risks r JOIN {S}.campaigns c USING (campaign_id)
           WHERE r.status = 'open' AND r.blocks_launch AND {where}
           ORDER BY r.score DESC, r.campaign_id, r.risk_id""")
    completed = await rows(
        "SELECT c.campaign_id, c.title, c.completed_at, " + _HAS_RESULTS + """ AS has_results,
                EXISTS (SELECT 1 FROM {S}.retrospectives t WHERE t.campaign_id = c.campaign_id) AS has_retro
           FROM {S}.campaigns c WHERE c.completed_at >= {0} AND c.completed_at < {1} AND {where}
           ORDER BY c.completed_at, c.campaign_id""", t0, t1)
    rejections = await rows(
        """SELECT d.campaign_id, c.title, d.gate_id, d.brief_version, d.rejection_kind, d.decided_at
           FROM {S}.gate_decisions d JOIN {S}.campaigns c USING (campaign_id)
           WHERE d.outcome = 'rejected' AND d.decided_at >= {0} AND d.decided_at < {1} AND {where}
           ORDER BY d.decided_at, d.campaign_id""", t0, t1)

    off_pace = []
    for r in paced:
        expected = pace(r["committed"], r["flight_start"], r["flight_end"], w.last)
        if expected <= 0:
            continue
        ratio = r["spent"] / expected
        if ratio < PACE_LOW or ratio > PACE_HIGH:
            cur = r["committed_currency"]
            off_pace.append({"campaign_id": r["campaign_id"], "title": r["title"], "currency": cur,
                             "committed": format_amount(r["committed"], cur),
                             "expected": format_amount(expected.quantize(Decimal("0.01"), ROUND_HALF_EVEN), cur),
                             "spent": format_amount(r["spent"], cur), "pace": float(ratio),
                             "direction": "under" if ratio < PACE_LOW else "over"})

    prior = previous(period, w)
    now_numbers, before = await numbers(conn, scope, w), await numbers(conn, scope, prior)
    headline = []
    for name in dict.fromkeys([*now_numbers, *before]):
        cur, old = now_numbers.get(name), before.get(name)
        if name.startswith("spend_"):
            cur, old = cur or Decimal(0), old or Decimal(0)
        change = None if cur is None or old is None else cur - old
        headline.append({"metric": name, "current": _plain(cur), "previous": _plain(old), "change": _plain(change)})

    body = {
        **scope.echo(), "period": period.value, "start": w.first, "end": w.last,
        "previous": {"start": prior.first, "end": prior.last}, "as_of": None,
        "gates_overdue": [],
        "sla_breaches": [dict(r) for r in breaches],
        "launches": {"count": len(launches), "on_time": sum(1 for r in launches if r["on_time"]),
                     "late": [{"campaign_id": r["campaign_id"], "title": r["title"],
                               "target_launch_date": r["target_launch_date"], "launched_on": r["launched_on"],
                               "days_late": (r["launched_on"] - r["target_launch_date"]).days}
                              for r in launches if r["on_time"] is False]},
        "spend": await spend_in(conn, scope, w),
        "off_pace": off_pace,
        "blocking_risks": [dict(r) for r in risks],
        "completed_without_results": [_done(r) for r in completed if not r["has_results"]],
        "completed_without_retrospective": [_done(r) for r in completed if not r["has_retro"]],
        "rework": {"rejections": len(rejections),
                   "resubmissions": now_numbers["resubmissions"],
                   "items": [dict(r) for r in rejections]},
        "headline": headline,
    }
    return Report(body, [], [dict(r) for r in overdue])


async def _remembered(pool: asyncpg.Pool, scope: Scope, period: Period, w: Window) -> Report:
    return await _snapshot(pool, lambda conn: _read(conn, scope, period, w))


# Remembered per read-model revision like every report (readside): the read is the same
# until the next write; only the overdue gates and as_of follow the clock (``finish``).
remembered_read = _answered(_remembered)


def _done(r: asyncpg.Record) -> dict[str, Any]:
    return {"campaign_id": r["campaign_id"], "title": r["title"], "completed_at": r["completed_at"]}


def _plain(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value


COLUMNS = ["section", "campaign_id", "title", "detail", "value", "previous"]


def csv_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per item of every section, then one per headline number."""
    out: list[dict[str, Any]] = []

    def add(section: str, campaign_id: str | None = None, title: str | None = None, detail: Any = None,
            value: Any = None, previous: Any = None) -> None:
        out.append({"section": section, "campaign_id": campaign_id, "title": title, "detail": detail,
                    "value": value, "previous": previous})

    for r in body["gates_overdue"]:
        add("gate_overdue", r["campaign_id"], r["title"], f"{r['gate_id']} v{r['brief_version']}",
            round(r["hours_overdue"], 2))
    for r in body["sla_breaches"]:
        add("sla_breach", r["campaign_id"], r["title"], f"{r['gate_id']} v{r['brief_version']} {r['outcome']}",
            round(r["hours_over"], 2))
    for r in body["launches"]["late"]:
        add("late_launch", r["campaign_id"], r["title"], f"target {r['target_launch_date']}", r["days_late"])
    for r in body["spend"]:
        add("spend", detail=r["currency"], value=r["amount"])
    for r in body["off_pace"]:
        add("off_pace", r["campaign_id"], r["title"], f"{r['direction']} {r['currency']} expected {r['expected']}",
            r["spent"])
    for r in body["blocking_risks"]:
        add("blocking_risk", r["campaign_id"], r["title"], r["description"], r["score"])
    for r in body["completed_without_results"]:
        add("completed_without_results", r["campaign_id"], r["title"], str(r["completed_at"]))
    for r in body["completed_without_retrospective"]:
        add("completed_without_retrospective", r["campaign_id"], r["title"], str(r["completed_at"]))
    for r in body["rework"]["items"]:
        add("rejection", r["campaign_id"], r["title"], f"{r['gate_id']} v{r['brief_version']} {r['rejection_kind']}")
    for h in body["headline"]:
        add("headline", detail=h["metric"], value=h["current"], previous=h["previous"])
    return out


# --- response model ----------------------------------------------------------------------


class PeriodOut(_Body):
    start: dt.date
    end: dt.date


class OverdueGate(_Body):
    campaign_id: str
    title: str | None
    gate_id: str
    gate_name: str
    brief_version: int
    due_at: dt.datetime
    hours_overdue: float


class Breach(_Body):
    campaign_id: str
    title: str | None
    gate_id: str
    gate_name: str
    brief_version: int
    outcome: str
    decided_at: dt.datetime
    hours_over: float = Field(description="time in gate beyond the SLA")


class LateLaunch(_Body):
    campaign_id: str
    title: str | None
    target_launch_date: dt.date | None
    launched_on: dt.date | None
    days_late: int


class Launches(_Body):
    count: int
    on_time: int
    late: list[LateLaunch]


class SpendOut(_Body):
    currency: str
    amount: str


class OffPace(_Body):
    campaign_id: str
    title: str | None
    currency: str
    committed: str
    expected: str = Field(description="committed x share of the flight elapsed by the period's last day")
    spent: str
    pace: float = Field(description="spent / expected")
    direction: str = Field(description="under (below 80%) or over (above 120%)")


class BlockingRisk(_Body):
    campaign_id: str
    title: str | None
    risk_id: str
    description: str
    owner: str
    score: int
    changed_at: dt.datetime


class Completed(_Body):
    campaign_id: str
    title: str | None
    completed_at: dt.datetime


class Rejection(_Body):
    campaign_id: str
    title: str | None
    gate_id: str
    brief_version: int
    rejection_kind: str | None
    decided_at: dt.datetime


class Rework(_Body):
    rejections: int
    resubmissions: int = Field(description="brief versions after the first submitted in the period")
    items: list[Rejection]


class Headline(_Body):
    metric: str
    current: float | int | str | None
    previous: float | int | str | None
    change: float | int | str | None


class ReviewPack(_Body):
    filters: dict[str, str]
    filtered: bool = Field(description="campaigns the caller may not read are left out of lists and counts")
    period: str
    start: dt.date
    end: dt.date
    previous: PeriodOut
    as_of: dt.datetime = Field(description="'now' for the gates overdue and the open risks")
    gates_overdue: list[OverdueGate]
    sla_breaches: list[Breach] = Field(description="decisions in the period later than their gate's SLA")
    launches: Launches
    spend: list[SpendOut] = Field(description="spend incurred in the period, per currency")
    off_pace: list[OffPace]
    blocking_risks: list[BlockingRisk] = Field(description="open risks that block launch, now")
    completed_without_results: list[Completed]
    completed_without_retrospective: list[Completed]
    rework: Rework
    headline: list[Headline] = Field(description="each headline number beside the previous period's")


@router.get("/reviews", tags=["reviews"], responses=documented(ReviewPack),
            summary="The review pack of a week or a month: overdue gates, SLA breaches, launches, spend and pace, "
                    "blocking risks, completions without results or retrospective, rework, against the period before")
async def review_pack(
    request: Request, pool: Pool, who: Reader, f: Filtered, now: Now, fmt: Format = None,
    period: Annotated[Period, Query(description="week (ISO, Monday to Sunday) or calendar month")] = Period.week,
    start: Annotated[IsoDate | None, Query(description="a day of the period (UTC); today when absent")] = None,
) -> Response:
    w = window(period, start or now.astimezone(dt.UTC).date())
    body = finish(await remembered_read(pool, Scope(f, who), period, w), now)
    return respond(request, Report(body, COLUMNS, csv_rows(body)), fmt, f"review-{period.value}-{w.first}")
