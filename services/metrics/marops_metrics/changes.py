"""Change in flight (SPEC section 4, the last outcome bullet): change requests per campaign
and how they were decided, and time paused.

- A campaign's change requests are its ``ChangeRequested``; approved and rejected are those
  a ``ChangeDecided`` decided, pending the rest. An approved change starts no new cycle:
  cycle time stays fixed at the first launch (``CampaignLaunched`` is kept once).
- time_paused = the sum, over the campaign's pauses, of ``CampaignResumed.time -
  CampaignPaused.time`` (both name the pause, so either may arrive first). A pause not yet
  resumed counts up to now in the per-campaign rows (a live view), never in the aggregate
  (a period report).

Both reports read the fact tables and the derived campaign rows in one read-only
snapshot; grouping, filters and the read rule are those of every other report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from marops_service.app import Pool
from marops_service.clock import Now

from .aggregates import ALL, GroupBy, Report
from .api import Filtered, Format, Grouping, Reader, documented
from .domain import SECONDS_PER_HOUR, QuarterBasis, rate
from .export import respond
from .projection import LIVE_SCHEMA as S
from .readside import Scope, _from, _groups, _head, _snapshot, _stats, _stats_sql
from .schemas import Head, Stats, _Body

router = APIRouter()

MAX_ROWS = 1000

# Per campaign: its change requests and their outcomes, its pauses, the hours of the
# pauses that ended and the start of one still in force.
_FACTS = f"""
    ch AS (
        SELECT r.campaign_id, count(*) AS change_requests,
               count(*) FILTER (WHERE d.outcome = 'approved') AS approved,
               count(*) FILTER (WHERE d.outcome = 'rejected') AS rejected
        FROM {S}.change_requests r LEFT JOIN {S}.change_decisions d USING (change_id)
        GROUP BY r.campaign_id
    ), pz AS (
        SELECT s.campaign_id, count(*) AS pauses,
               coalesce(sum(extract(epoch FROM e.resumed_at - s.paused_at)), 0)::float8 / {SECONDS_PER_HOUR}
                   AS closed_hours,
               max(s.paused_at) FILTER (WHERE e.resumed_at IS NULL) AS paused_since
        FROM {S}.pause_starts s LEFT JOIN {S}.pause_ends e USING (campaign_id, pause)
        GROUP BY s.campaign_id
    )
"""


class ChangeRow(_Body):
    campaign_id: str
    title: str | None
    team: str | None
    status: str
    launched_at: datetime | None
    cycle_time_hours: float | None = Field(description="fixed at the first launch: changes never move it")
    change_requests: int
    changes_approved: int
    changes_rejected: int
    changes_pending: int
    pauses: int
    paused_since: datetime | None = Field(description="the start of the pause in force, if any")
    time_paused_hours: float = Field(description="ended pauses, plus the one in force up to now (a live view)")


class ChangeTable(_Body):
    filters: dict[str, str]
    filtered: bool
    as_of: datetime
    items: list[ChangeRow] = Field(description="campaigns with a change request or a pause, by id")


class ChangeMeasures(_Body):
    campaigns: int = Field(description="submitted campaigns selected")
    changed_campaigns: int = Field(description="with at least one change request")
    change_requests: int
    approved: int
    rejected: int
    pending: int
    change_requests_per_campaign: float | None
    paused_campaigns: int = Field(description="with at least one pause")
    time_paused: Stats = Field(description="hours of ended pauses per campaign with one (open pauses never count)")


class ChangeMeasuresGroup(ChangeMeasures):
    group: str


class ChangeReport(Head):
    unit: str = "hours"
    overall: ChangeMeasures
    groups: list[ChangeMeasuresGroup] | None = Field(None, description="with group_by only")


_ROW_COLUMNS = list(ChangeRow.model_fields)
_REPORT_COLUMNS = ["group", "campaigns", "changed_campaigns", "change_requests", "approved", "rejected", "pending",
                   "change_requests_per_campaign", "paused_campaigns", "time_paused_count", "time_paused_mean_hours",
                   "time_paused_p50_hours", "time_paused_p90_hours"]


async def campaign_rows(pool: asyncpg.Pool, scope: Scope, now: datetime, limit: int) -> Report:
    params: list[Any] = []
    where = scope.where(QuarterBasis.submission, params)
    params.append(limit)

    async def read(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            f"""
            WITH {_FACTS}
            SELECT c.campaign_id, c.title, c.team, c.status, c.launched_at, c.cycle_time_hours,
                   coalesce(ch.change_requests, 0) AS change_requests, coalesce(ch.approved, 0) AS approved,
                   coalesce(ch.rejected, 0) AS rejected, coalesce(pz.pauses, 0) AS pauses, pz.paused_since,
                   coalesce(pz.closed_hours, 0) AS closed_hours
            FROM {S}.campaigns c
            LEFT JOIN ch ON ch.campaign_id = c.campaign_id
            LEFT JOIN pz ON pz.campaign_id = c.campaign_id
            WHERE (ch.campaign_id IS NOT NULL OR pz.campaign_id IS NOT NULL) AND {where}
            ORDER BY c.campaign_id COLLATE "C"
            LIMIT ${len(params)}
            """, *params)

    rows = []
    for r in await _snapshot(pool, read):
        open_hours = (now - r["paused_since"]).total_seconds() / SECONDS_PER_HOUR if r["paused_since"] else 0.0
        rows.append({
            "campaign_id": r["campaign_id"], "title": r["title"], "team": r["team"], "status": r["status"],
            "launched_at": r["launched_at"], "cycle_time_hours": r["cycle_time_hours"],
            "change_requests": r["change_requests"], "changes_approved": r["approved"],
            "changes_rejected": r["rejected"],
            "changes_pending": r["change_requests"] - r["approved"] - r["rejected"], "pauses": r["pauses"],
            "paused_since": r["paused_since"], "time_paused_hours": r["closed_hours"] + max(open_hours, 0.0)})
    return Report({**scope.echo(), "as_of": now, "items": rows}, _ROW_COLUMNS, rows)


def _measures(r: asyncpg.Record | None) -> dict[str, Any]:
    if r is None:
        return {"campaigns": 0, "changed_campaigns": 0, "change_requests": 0, "approved": 0, "rejected": 0,
                "pending": 0, "change_requests_per_campaign": None, "paused_campaigns": 0, "time_paused": _stats(None)}
    return {"campaigns": r["campaigns"], "changed_campaigns": r["changed_campaigns"],
            "change_requests": r["change_requests"], "approved": r["approved"], "rejected": r["rejected"],
            "pending": r["change_requests"] - r["approved"] - r["rejected"],
            "change_requests_per_campaign": rate(r["change_requests"], r["campaigns"]),
            "paused_campaigns": r["paused_campaigns"], "time_paused": _stats(r)}


def _flat(group: str, m: dict[str, Any]) -> dict[str, Any]:
    paused = m["time_paused"]
    return {"group": group, **{k: v for k, v in m.items() if k != "time_paused"},
            "time_paused_count": paused["count"], "time_paused_mean_hours": paused["mean_hours"],
            "time_paused_p50_hours": paused["p50_hours"], "time_paused_p90_hours": paused["p90_hours"]}


async def report(pool: asyncpg.Pool, scope: Scope, group_by: GroupBy | None) -> Report:
    params: list[Any] = []
    source = _from(scope, group_by, QuarterBasis.submission, params,
                   "LEFT JOIN ch ON ch.campaign_id = c.campaign_id LEFT JOIN pz ON pz.campaign_id = c.campaign_id")

    async def read(conn: asyncpg.Connection) -> dict[str | None, asyncpg.Record]:
        rows = await conn.fetch(
            f"""
            WITH {_FACTS}
            SELECT g.key, count(*) AS campaigns,
                   count(*) FILTER (WHERE ch.change_requests > 0) AS changed_campaigns,
                   coalesce(sum(ch.change_requests), 0)::int AS change_requests,
                   coalesce(sum(ch.approved), 0)::int AS approved, coalesce(sum(ch.rejected), 0)::int AS rejected,
                   count(*) FILTER (WHERE pz.pauses > 0) AS paused_campaigns,
                   {_stats_sql("pz.closed_hours", "pz.closed_hours > 0")}
            {source} AND c.submitted
            GROUP BY g.key
            """, *params)
        return {r["key"]: r for r in rows}

    rows = await _snapshot(pool, read)
    overall = _measures(rows.get(None))
    body: dict[str, Any] = {**_head("change_in_flight", scope, group_by, QuarterBasis.submission, unit="hours"),
                            "overall": overall}
    flat = [_flat(ALL, overall)]
    if group_by is not None:
        body["groups"] = []
        for key in _groups(rows):
            measures = _measures(rows[key])
            body["groups"].append({"group": key, **measures})
            flat.append(_flat(key, measures))
    return Report(body, _REPORT_COLUMNS, flat)


@router.get("/changes/campaigns", tags=["campaigns"],
            summary="Change in flight per campaign: change requests (approved, rejected, pending), pauses and time "
                    "paused up to now, beside the cycle time changes never move",
            responses=documented(ChangeTable))
async def change_rows(request: Request, pool: Pool, who: Reader, f: Filtered, now: Now, fmt: Format = None,
                      limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="rows")] = MAX_ROWS) -> Response:
    return respond(request, await campaign_rows(pool, Scope(f, who), now, limit), fmt, "change-in-flight-campaigns")


@router.get("/aggregates/change-in-flight", tags=["aggregates"],
            summary="Change requests per campaign (approved, rejected, pending) and time paused (ended pauses: "
                    "count, mean, p50, p90 in hours), overall and per group", responses=documented(ChangeReport))
async def change_report(request: Request, pool: Pool, who: Reader, f: Filtered, group_by: Grouping = None,
                        fmt: Format = None) -> Response:
    filename = "change-in-flight" if group_by is None else f"change-in-flight-by-{group_by.value}"
    return respond(request, await report(pool, Scope(f, who), group_by), fmt, filename)
