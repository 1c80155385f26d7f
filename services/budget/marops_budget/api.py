"""HTTP API of the budget service: thin routers over the use cases."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from marops_events import contracts as c
from marops_service import responses as documented
from marops_service.access import can_read_campaign, is_filtered, reads_everything
from marops_service.app import Pool
from marops_service.auth import Principal, Role, require
from marops_service.clock import CurrentClock, Now
from marops_service.exports import csv_response, wants_csv
from marops_service.problems import NotFound
from marops_service.refusals import Answer
from marops_service.transactions import snapshot

from . import commands, queries
from . import repository as repo
from .domain import BudgetRefusal, Spend, month_start
from .schemas import (
    BudgetLineOut,
    CampaignBudgetOut,
    LedgerPage,
    LineAdjustment,
    LineChangeOut,
    MonthOut,
    NewBudgetLine,
    NewReallocation,
    NewSpend,
    ReallocationOut,
    SpendDetailOut,
    SpendRecordedOut,
    SpendResolution,
)
from .service import NewLine, Rules

router = APIRouter()

Reader = Annotated[Principal, Depends(require(Role.viewer, Role.requester, Role.approver, Role.finance,
                                                      Role.service))]
Finance = Annotated[Principal, Depends(require(Role.finance))]
SpendRecorder = Annotated[Principal, Depends(require(Role.finance, Role.service))]
LinePath = Annotated[str, Path(min_length=1, max_length=200)]
# YYYY-MM in ASCII digits, year 0001-9999: what the schema allows is what _month accepts
# (\d would also match other scripts' digits, and year 0000 is no calendar year).
MONTH_PATTERN = r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$"
Format = Annotated[Literal["json", "csv"] | None, Query(description="csv for a spreadsheet export")]


async def may_read_campaign(conn: asyncpg.Connection, who: Principal, campaign_id: str) -> bool:
    """The access rule for one campaign's rows; a campaign no brief has named yet (spend that
    arrived first) is readable only by the roles that read everything."""
    parties = await repo.parties_of(conn, campaign_id)
    return can_read_campaign(who, parties) if parties is not None else reads_everything(who)


async def get_rules(request: Request) -> Rules:  # async: no thread hop per request
    return Rules.from_settings(request.app.state.settings)


BudgetRules = Annotated[Rules, Depends(get_rules)]


# The edge: how each refusal of the domain is answered.
REFUSALS: dict[str, Answer] = {
    BudgetRefusal.conflict: Answer(409, "Conflict", "conflict"),
    BudgetRefusal.invalid: Answer(422, "Unprocessable content", "unprocessable"),
    BudgetRefusal.unknown_line: Answer(404, "Not found", "not-found"),
    BudgetRefusal.unknown_named_line: Answer(422, "Unprocessable content", "unprocessable"),
    BudgetRefusal.unknown_spend: Answer(404, "Not found", "not-found"),
    BudgetRefusal.source_system_not_allowed: Answer(403, "Forbidden"),
    BudgetRefusal.spend_reference_conflict: Answer(409, "Conflict"),
    BudgetRefusal.unknown_plan: Answer(404, "Not found", "not-found"),
    BudgetRefusal.invalid_plan_file: Answer(422, "Invalid plan file"),
}


# ------------------------------------------------------------------- budget lines


@router.post("/budget-lines", status_code=201, response_model=BudgetLineOut, tags=["budget lines"],
             summary="Create a budget line (finance)")
async def create_line(body: NewBudgetLine, pool: Pool, who: Finance, rules: BudgetRules, clock: CurrentClock,
                      response: Response) -> BudgetLineOut:
    line = NewLine(id=body.id or f"bl-{uuid.uuid4().hex[:12]}", name=body.name,
                   fiscal_year=body.fiscal_year, quarter=body.quarter, team=body.team,
                   channel=body.channel.value, amount=body.amount.amount, currency=body.amount.currency)
    row = await commands.create_line(pool, line, who.subject, rules, clock)
    response.headers["Location"] = f"/budget-lines/{line.id}"
    return queries.line_out(row)


@router.get("/budget-lines", response_model=list[BudgetLineOut], responses=documented.csv_export(), tags=["budget lines"],
            summary="Line balances (JSON, or CSV with ?format=csv)")
async def list_lines(request: Request, pool: Pool, _: Reader,
                     fiscal_year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
                     quarter: Annotated[int | None, Query(ge=1, le=4)] = None,
                     team: Annotated[str | None, Query(max_length=200)] = None,
                     channel: Annotated[str | None, Query(max_length=200)] = None,
                     currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
                     format: Format = None) -> object:
    async with pool.acquire() as conn:
        rows = await repo.list_line_balances(conn, repo.LineFilter(fiscal_year, quarter, team, channel, currency))
    if wants_csv(request, format):
        return csv_response("budget-lines.csv", queries.LINE_CSV_HEADER, map(queries.line_csv_row, rows))
    return [queries.line_out(r) for r in rows]


@router.get("/budget-lines/{line_id}", response_model=BudgetLineOut, responses=documented.problems(404), tags=["budget lines"])
async def get_line(line_id: LinePath, pool: Pool, _: Reader) -> BudgetLineOut:
    async with pool.acquire() as conn:
        row = await repo.line_balance(conn, line_id)
    if row is None:
        raise NotFound(f"budget line {line_id!r} does not exist")
    return queries.line_out(row)


@router.post("/budget-lines/{line_id}/adjustments", response_model=BudgetLineOut, responses=documented.problems(404),
             tags=["budget lines"],
             summary="Set a line's amount (finance); never below what it holds and spent")
async def adjust_line(line_id: LinePath, body: LineAdjustment, pool: Pool, who: Finance, rules: BudgetRules,
                      clock: CurrentClock) -> BudgetLineOut:
    row = await commands.adjust_line(pool, line_id, body.amount.amount, body.amount.currency, body.reason,
                                     who.subject, rules, clock)
    return queries.line_out(row)


@router.get("/budget-lines/{line_id}/history", response_model=list[LineChangeOut], responses=documented.problems(404),
            tags=["budget lines"],
            summary="Every change of the line's amount: creation, adjustments, reallocations")
async def line_history(line_id: LinePath, pool: Pool, _: Reader) -> list[LineChangeOut]:
    async with snapshot(pool) as conn:
        line = await repo.line_balance(conn, line_id)
        if line is None:
            raise NotFound(f"budget line {line_id!r} does not exist")
        return [queries.change_out(r, line["currency"]) for r in await repo.line_history(conn, line_id)]


# ------------------------------------------------------------------- reallocations


@router.post("/reallocations", status_code=201, response_model=ReallocationOut, tags=["reallocations"],
             summary="Move money between two lines (finance) -> BudgetReallocated")
async def reallocate(body: NewReallocation, pool: Pool, who: Finance, clock: CurrentClock,
                     rules: BudgetRules) -> ReallocationOut:
    row = await commands.reallocate(pool, body.from_line_id, body.to_line_id, body.amount.amount,
                                    body.amount.currency, body.reason, who.subject, clock, rules)
    return queries.reallocation_out(row)


@router.get("/reallocations", response_model=list[ReallocationOut], tags=["reallocations"])
async def list_reallocations(pool: Pool, _: Reader,
                             budget_line_id: Annotated[str | None, Query(max_length=200)] = None,
                             ) -> list[ReallocationOut]:
    async with pool.acquire() as conn:
        return [queries.reallocation_out(r) for r in await repo.list_reallocations(conn, budget_line_id)]


# ------------------------------------------------------------------- spend


@router.post("/spend", status_code=201, response_model=SpendRecordedOut, tags=["spend"],
             summary="Record a spend (finance or a service account) -> SpendRecorded",
             responses={200: {"model": SpendRecordedOut,
                              "description": "Already recorded: the same source reference was sent before"},
                        **documented.problems(404)})
async def record_spend(body: NewSpend, pool: Pool, who: SpendRecorder, rules: BudgetRules, clock: CurrentClock,
                       response: Response) -> SpendRecordedOut:
    spend = Spend(campaign_id=body.campaign_id, source_system=body.source_system,
                  source_reference=body.source_reference, amount=body.amount.amount, currency=body.amount.currency,
                  incurred_on=body.incurred_on, budget_line_id=body.budget_line_id,
                  corrects_reference=body.corrects_reference, description=body.description)
    result = await commands.record_spend(pool, spend, who, rules, clock)
    if not result.recorded:
        response.status_code = 200
    return SpendRecordedOut(**queries.spend_fields(result.row), already_recorded=not result.recorded)


@router.get("/spend", response_model=LedgerPage, responses=documented.csv_export(), tags=["spend"],
            summary="The spend ledger (JSON pages, or the whole ledger as CSV with ?format=csv)")
async def ledger(request: Request, pool: Pool, who: Reader,
                 campaign_id: Annotated[str | None, Query(max_length=200)] = None,
                 budget_line_id: Annotated[str | None, Query(max_length=200,
                                                             description="The line spend counts against")] = None,
                 source_system: Annotated[str | None, Query(max_length=200)] = None,
                 attribution: Literal["attributed", "unattributed", "currency_mismatch", "excluded"] | None = None,
                 reconciliation: Annotated[
                     Literal["reconciled", "unreconciled", "historical"] | None,
                     Query(description="unreconciled: what finance still has to resolve")] = None,
                 incurred_from: c.IsoDate | None = None,
                 incurred_to: c.IsoDate | None = None,
                 cursor: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 format: Format = None) -> object:
    f = repo.SpendFilter(campaign_id, budget_line_id, source_system, attribution, incurred_from, incurred_to,
                         reconciliation, readable=repo.readable_by(who))
    async with snapshot(pool) as conn:
        if wants_csv(request, format):
            rows = await repo.list_spend(conn, f)
            return csv_response("spend-ledger.csv", queries.LEDGER_CSV_HEADER, map(queries.ledger_csv_row, rows))
        rows = await repo.list_spend(conn, f, after=cursor or 0, limit=limit + 1)
        totals = await repo.spend_totals(conn, f)
    page = rows[:limit]
    return LedgerPage(items=[queries.spend_out(r) for r in page],
                      next_cursor=str(page[-1]["id"]) if len(rows) > limit else None,
                      totals=[dict(t) for t in totals], filtered=is_filtered(who))


SpendId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/spend/{spend_id}", response_model=SpendDetailOut, responses=documented.problems(404), tags=["spend"],
            summary="One ledger entry with finance's resolutions and the copies it superseded")
async def get_spend(spend_id: SpendId, pool: Pool, who: Reader) -> SpendDetailOut:
    async with snapshot(pool) as conn:
        row = await repo.spend_by_id(conn, spend_id)
        if row is None or not await may_read_campaign(conn, who, row["campaign_id"]):
            raise NotFound(f"spend {spend_id} does not exist or is not visible to you")
        return queries.spend_detail(row, await repo.resolutions_of(conn, spend_id),
                                    await repo.superseded_copies(conn, spend_id))


@router.post("/spend/{spend_id}/resolution", response_model=SpendDetailOut, responses=documented.problems(404),
             tags=["spend"],
             summary="Resolve an unreconciled spend (finance): book it on a line, or exclude it")
async def resolve_spend(spend_id: SpendId, body: SpendResolution, pool: Pool, who: Finance,
                        rules: BudgetRules, clock: CurrentClock) -> SpendDetailOut:
    resolution = c.ReconciliationResolution(body.resolution)
    await commands.resolve_spend(pool, spend_id, resolution, body.budget_line_id, body.reason, who.subject, rules, clock)
    return await get_spend(spend_id, pool, who)


# ------------------------------------------------------------------- reports


@router.get("/campaigns/{campaign_id}/budget", response_model=CampaignBudgetOut, responses=documented.problems(404),
            tags=["reports"],
            summary="A campaign's reservation, commitment, spend, variance and pacing")
async def campaign_budget(campaign_id: Annotated[str, Path(min_length=1, max_length=200)], pool: Pool,
                          who: Reader, rules: BudgetRules, now: Now,
                          as_of: Annotated[c.IsoDate | None, Query(description="Pacing date (default today, UTC)")]
                          = None) -> CampaignBudgetOut:
    async with snapshot(pool) as conn:
        readable = await may_read_campaign(conn, who, campaign_id)
        out = await queries.campaign_budget(conn, campaign_id, as_of or now.date(),
                                            rules.pacing_tolerance_percent) if readable else None
    if out is None:
        raise NotFound(f"budget knows nothing about campaign {campaign_id!r}, or it is not visible to you")
    return out


@router.get("/reports/monthly", response_model=list[MonthOut], responses=documented.csv_export(), tags=["reports"],
            summary="Spend per calendar month (of incurrence) and budget line, with running totals")
async def monthly(request: Request, pool: Pool, who: Reader,
                  from_month: Annotated[str | None, Query(pattern=MONTH_PATTERN, examples=["2026-03"])] = None,
                  to_month: Annotated[str | None, Query(pattern=MONTH_PATTERN, examples=["2026-03"])] = None,
                  budget_line_id: Annotated[str | None, Query(max_length=200)] = None,
                  campaign_id: Annotated[str | None, Query(max_length=200)] = None,
                  team: Annotated[str | None, Query(max_length=200)] = None,
                  format: Format = None) -> object:
    f = repo.MonthFilter(month_start(from_month) if from_month else None, month_start(to_month) if to_month else None,
                         budget_line_id, campaign_id, team, readable=repo.readable_by(who))
    async with pool.acquire() as conn:
        rows = await repo.spend_by_month(conn, f)
    if wants_csv(request, format):
        return csv_response("spend-by-month.csv", queries.MONTH_CSV_HEADER, map(queries.month_csv_row, rows))
    filtered = is_filtered(who)
    return [queries.month_out(r).model_copy(update={"filtered": filtered}) for r in rows]

