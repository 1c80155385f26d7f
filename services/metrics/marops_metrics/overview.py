"""``GET /campaigns/{id}/overview``: one campaign as the read model knows it, in one call.

A frontend showing a campaign would otherwise call intake (status), governance (gates)
and budget (money) and stitch the answers; metrics already holds the facts of all three,
so it answers status, dates, the per-campaign measures, every gate decision with its time
in gate and SLA verdict, committed and actual money per currency, and the latest events.
It reads only the derived rows the projection keeps current (no fact is reloaded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import Field

from marops_service import access
from marops_service.app import Pool
from marops_service.problems import NotFound
from marops_service.responses import problems

from .aggregates import Variance
from .api import Reader
from .projection import LIVE_SCHEMA as S
from .schemas import CampaignMeasures, _Body

RECENT_EVENTS = 10

router = APIRouter()


class OverviewDecision(_Body):
    gate_id: str
    gate_name: str
    gate_position: int
    brief_version: int
    outcome: str = Field(description="approved or rejected")
    rejection_kind: str | None
    decided_by: str
    actionable_at: datetime
    decided_at: datetime
    hours_in_gate: float
    sla_hours: int
    breached_sla: bool


class OverviewMoney(_Body):
    currency: str
    committed: str
    actual: str
    variance: str
    variance_pct: str | None = Field(description="of committed; none when committed is 0")
    unreconciled: str


class OverviewEvent(_Body):
    event_id: str
    type: str
    time: datetime
    source: str


class CampaignOverview(CampaignMeasures):
    decisions: list[OverviewDecision] = Field(description="every gate decision, in decision order")
    money: list[OverviewMoney] = Field(description="per currency: committed, actual spend, variance")
    recent_events: list[OverviewEvent] = Field(description=f"the latest {RECENT_EVENTS} events, newest first")
    as_of: datetime | None = Field(description="business time of the latest event of the campaign")


_CAMPAIGN_COLUMNS = ("campaign_id, title, team, owner, authors, channels, status, latest_version, revisions, "
                     "rejections, first_submitted_at, target_launch_date, launched_at, on_time, cycle_time_hours, "
                     "data_complete, cancelled_at, completed_at, budget_line_id")


async def load(conn: asyncpg.Connection, campaign_id: str) -> dict[str, Any] | None:
    """The overview of a campaign, or None if the read model has no row for it."""
    row = await conn.fetchrow(f"SELECT {_CAMPAIGN_COLUMNS} FROM {S}.campaigns WHERE campaign_id = $1", campaign_id)
    if row is None:
        return None
    decisions = await conn.fetch(
        f"SELECT gate_id, gate_name, gate_position, brief_version, outcome, rejection_kind, decided_by, "
        f"actionable_at, decided_at, hours_in_gate, sla_hours, breached_sla "
        f"FROM {S}.gate_decisions WHERE campaign_id = $1 ORDER BY decided_at, gate_position", campaign_id)
    money = await conn.fetch(
        f"SELECT currency, committed, actual, unreconciled FROM {S}.campaign_money WHERE campaign_id = $1 "
        f"ORDER BY currency", campaign_id)
    events = await conn.fetch(
        f"SELECT event_id, event_type, occurred_at, source FROM {S}.event_log WHERE campaign_id = $1 "
        f"ORDER BY occurred_at DESC, event_id DESC LIMIT {RECENT_EVENTS}", campaign_id)
    body = dict(row)
    return {
        **body,
        "decisions": [dict(d) for d in decisions],
        "money": [{"currency": m["currency"], **Variance(committed=m["committed"], actual=m["actual"],
                                                         unreconciled=m["unreconciled"]).body(m["currency"])}
                  for m in money],
        "recent_events": [{"event_id": str(e["event_id"]), "type": e["event_type"], "time": e["occurred_at"],
                           "source": e["source"]} for e in events],
        "as_of": events[0]["occurred_at"] if events else None,
    }


@router.get("/campaigns/{campaign_id}/overview", tags=["campaigns"], response_model=CampaignOverview,
            summary="One campaign in one call: status, dates, measures, gate decisions, money, latest events",
            responses=problems(404))
async def campaign_overview(campaign_id: Annotated[str, Path(min_length=1, max_length=200)], pool: Pool,
                            who: Reader) -> JSONResponse:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        body = await load(conn, campaign_id)
    parties = access.CampaignParties.of(body["team"], body["owner"], body["authors"]) if body else None
    if body is None or parties is None or not access.can_read_campaign(who, parties):
        raise NotFound(f"no campaign {campaign_id!r}")
    del body["authors"]
    # validated against its schema, then written like the other metrics reports (times as +00:00)
    return JSONResponse(jsonable_encoder(CampaignOverview.model_validate(body).model_dump()))
