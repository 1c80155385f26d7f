"""Read side of planning horizons: plan roll-ups, phasing and forecasts shaped into responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from marops_events.contracts import Money
from marops_service.access import can_read_campaign, is_filtered
from marops_service.auth import Principal

from . import repository as repo
from .planning import forecast
from .schemas import (
    AnnouncementOut,
    CampaignForecastOut,
    ForecastOut,
    ImportRowOut,
    PhasingMonthOut,
    PhasingOut,
    PlanCampaignOut,
    PlanImportOut,
    PlanLineOut,
    PlanOut,
    PlanQuarterOut,
    PlanReport,
    Totals,
)
from .service import ImportedRow, Rules

ZERO = Decimal(0)


def _m(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def _totals(currency: str, *, plan: Decimal | None, allocated: Decimal, reserved: Decimal, committed: Decimal,
            spent: Decimal) -> Totals:
    return Totals(plan=_m(plan, currency) if plan is not None else None, allocated=_m(allocated, currency),
                  reserved=_m(reserved, currency), committed=_m(committed, currency), spent=_m(spent, currency))


def plan_out(row: asyncpg.Record) -> PlanOut:
    cur = row["currency"]
    return PlanOut(
        id=row["id"], name=row["name"], fiscal_year=row["fiscal_year"], team=row["team"], channel=row["channel"],
        currency=cur,
        totals=_totals(cur, plan=row["amount"], allocated=row["allocated"], reserved=row["reserved"],
                       committed=row["committed"], spent=row["spent"]),
        unallocated=_m(row["amount"] - row["allocated"], cur), created_by=row["created_by"],
        created_at=row["created_at"], updated_at=row["updated_at"])


async def plan_report(conn: asyncpg.Connection, plan_id: str, readable: repo.Readable,
                      filtered: bool) -> PlanReport | None:
    """Totals at every level count every campaign; only the campaign rows are filtered."""
    row = await repo.plan_totals(conn, plan_id)
    if row is None:
        return None
    cur = row["currency"]
    lines = await repo.plan_lines(conn, plan_id)
    campaigns: dict[str, list[PlanCampaignOut]] = {}
    for r in await repo.plan_campaigns(conn, plan_id, readable):
        reserved = r["held"] if r["hold_status"] == "reserved" else ZERO
        requested = r["requested"] if r["requested_currency"] == cur else None
        campaigns.setdefault(r["line_id"], []).append(PlanCampaignOut(
            campaign_id=r["campaign_id"], title=r["title"], hold_status=r["hold_status"],
            totals=_totals(cur, plan=requested, allocated=r["held"], reserved=reserved, committed=r["committed"],
                           spent=r["spent"])))
    quarters = []
    for quarter in (1, 2, 3, 4):
        mine = [line for line in lines if line["quarter"] == quarter]
        if not mine:
            continue
        quarters.append(PlanQuarterOut(
            quarter=quarter,
            totals=_totals(cur, plan=None, allocated=_sum(mine, "amount"), reserved=_sum(mine, "reserved"),
                           committed=_sum(mine, "committed"), spent=_sum(mine, "spent")),
            lines=[PlanLineOut(
                id=line["id"], name=line["name"], quarter=quarter, channel=line["channel"],
                totals=_totals(cur, plan=line["amount"], allocated=line["reserved"] + line["committed"],
                               reserved=line["reserved"], committed=line["committed"], spent=line["spent"]),
                available=_m(line["amount"] - line["exposure"], cur),
                campaigns=campaigns.get(line["id"], [])) for line in mine]))
    base = plan_out(row)
    return PlanReport(**base.model_dump(), quarters=quarters, filtered=filtered,
                      hidden_campaign_rows=await repo.plan_campaigns_hidden(conn, plan_id, readable))


def _sum(rows: Sequence[asyncpg.Record], column: str) -> Decimal:
    return sum((r[column] for r in rows), ZERO)


async def phasing_out(conn: asyncpg.Connection, line_id: str) -> PhasingOut | None:
    line = await repo.line_balance(conn, line_id)
    if line is None:
        return None
    cur = line["currency"]
    months = await repo.phasing_of(conn, line_id)
    phased = _sum(months, "planned")
    return PhasingOut(
        budget_line_id=line_id, amount=_m(line["amount"], cur), phased=_m(phased, cur),
        unphased=_m(line["amount"] - phased, cur),
        months=[PhasingMonthOut(month=f"{m['month']:%Y-%m}", planned=_m(m["planned"], cur),
                                spent=_m(m["spent"], cur), cumulative_planned=_m(m["cumulative_planned"], cur),
                                cumulative_spent=_m(m["cumulative_spent"], cur)) for m in months])


async def forecast_out(conn: asyncpg.Connection, line_id: str, as_of: dt.date, rules: Rules,
                       who: Principal) -> ForecastOut | None:
    line, runs = await repo.forecast_inputs(conn, line_id)
    if line is None:
        return None
    cur = line["currency"]
    f = forecast(line["amount"], line["spent"], runs, as_of)
    visible = []
    for cf in f.campaigns:
        parties = await repo.parties_of(conn, cf.run.campaign_id)
        if parties is not None and can_read_campaign(who, parties):
            visible.append(cf)
    last = await repo.last_announcement(conn, line_id)
    return ForecastOut(
        budget_line_id=line_id, as_of=as_of, run_out_on=f.run_out_on,
        within_horizon=f.within(rules.run_out_horizon_days), horizon_days=rules.run_out_horizon_days,
        amount=_m(f.amount, cur), committed=_m(f.committed, cur), spent=_m(f.spent, cur),
        forecast_spend=_m(f.forecast_spend, cur),
        campaigns=[CampaignForecastOut(
            campaign_id=cf.run.campaign_id, committed=_m(cf.run.committed, cur), spent=_m(cf.run.spent, cur),
            flight_start=cf.run.flight_start, flight_end=cf.run.flight_end, daily_pace=_m(cf.daily_pace, cur),
            remaining_days=cf.remaining_days, forecast_spend=_m(cf.forecast_spend, cur)) for cf in visible],
        filtered=is_filtered(who),
        last_announcement=AnnouncementOut(revision=last.revision, run_out_on=last.run_out_on,
                                          within_horizon=last.within_horizon) if last else None)


def import_out(done: list[Any], dry_run: bool) -> PlanImportOut:
    rows: list[ImportedRow] = done
    count = {k: sum(1 for r in rows if r.outcome == k) for k in ("created", "updated", "unchanged")}
    return PlanImportOut(dry_run=dry_run, rows=[ImportRowOut(row=r.row, kind=r.kind, id=r.id, outcome=r.outcome)
                                                for r in rows], **count)
