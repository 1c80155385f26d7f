"""HTTP API of planning horizons: annual plans, a line's phasing and run-out forecast, plan files."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from marops_events import contracts as c
from marops_events.iso4217 import CURRENCIES
from marops_service import responses as documented
from marops_service.access import is_filtered
from marops_service.app import Pool
from marops_service.auth import Principal, Role, require
from marops_service.clock import CurrentClock, Now
from marops_service.problems import NotFound
from marops_service.transactions import in_transaction

from . import commands, plan_queries
from . import repository as repo
from .api import BudgetRules, LinePath, Reader
from .domain import RuleViolation, month_start
from .planning import PlanScope, parse_plan_file
from .schemas import (
    ForecastOut,
    NewPlan,
    Phasing,
    PhasingOut,
    PlanAdjustment,
    PlanImportOut,
    PlanOut,
    PlanReport,
)
from .service import InvalidPlanFile
from .service import NewPlan as PlanToCreate
from .service import import_plan as import_plan_rows

router = APIRouter()

# Plans are finance's; ops admins pass every role check.
Planner = Annotated[Principal, Depends(require(Role.finance))]
PlanPath = Annotated[str, Path(min_length=1, max_length=200)]
CHANNELS = frozenset(ch.value for ch in c.Channel)
MAX_PLAN_FILE_BYTES = 1024 * 1024


@router.post("/plans", status_code=201, response_model=PlanOut, tags=["plans"],
             summary="Create the annual plan of a team (or one of its channels) for a fiscal year (finance)")
async def create_plan(body: NewPlan, pool: Pool, who: Planner) -> PlanOut:
    plan = PlanToCreate(id=body.id or f"plan-{uuid.uuid4().hex[:12]}", name=body.name,
                        scope=PlanScope(body.fiscal_year, body.team, body.channel.value if body.channel else None),
                        amount=body.amount.amount, currency=body.amount.currency)
    return plan_queries.plan_out(await commands.create_plan(pool, plan, who.subject))


@router.get("/plans", response_model=list[PlanOut], tags=["plans"],
            summary="Annual plans with what their lines were given, committed and spent")
async def list_plans(pool: Pool, _: Reader,
                     fiscal_year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
                     team: Annotated[str | None, Query(max_length=200)] = None) -> list[PlanOut]:
    async with pool.acquire() as conn:
        return [plan_queries.plan_out(r) for r in await repo.list_plans(conn, fiscal_year, team)]


@router.get("/plans/{plan_id}", response_model=PlanReport, responses=documented.problems(404), tags=["plans"],
            summary="A plan rolled up: plan -> quarter -> line -> campaign (campaign rows the caller may read)")
async def get_plan(plan_id: PlanPath, pool: Pool, who: Reader) -> PlanReport:
    async with pool.acquire() as conn:
        report = await plan_queries.plan_report(conn, plan_id, repo.readable_by(who), is_filtered(who))
    if report is None:
        raise NotFound(f"plan {plan_id!r} does not exist")
    return report


@router.post("/plans/{plan_id}/adjustments", response_model=PlanOut, responses=documented.problems(404),
             tags=["plans"], summary="Set a plan's amount (finance); never below what its lines were given")
async def adjust_plan(plan_id: PlanPath, body: PlanAdjustment, pool: Pool, who: Planner) -> PlanOut:
    return plan_queries.plan_out(await commands.adjust_plan(pool, plan_id, body.amount.amount,
                                                            body.amount.currency, body.reason, who.subject))


@router.post("/plan-imports", response_model=PlanImportOut, tags=["plans"],
             summary="Import plans and budget lines from CSV (finance): ?dry_run=true checks every row first",
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
                 "type": "string", "maxLength": MAX_PLAN_FILE_BYTES,
                 "examples": ["fiscal_year,team,channel,quarter,id,name,amount,currency,month_1,month_2,month_3\n"
                              "2027,growth,,,growth-2027,Growth 2027,200000.00,EUR,,,\n"
                              "2027,growth,email,1,growth-email-q1,Growth email Q1,40000.00,EUR,"
                              "10000.00,10000.00,20000.00\n"]}}}}})
async def import_plan(request: Request, pool: Pool, who: Planner, rules: BudgetRules, clock: CurrentClock,
                      dry_run: Annotated[bool, Query(description="Check and report, change nothing")] = False,
                      ) -> PlanImportOut:
    raw = await request.body()
    if len(raw) > MAX_PLAN_FILE_BYTES:
        raise RuleViolation(f"a plan file is at most {MAX_PLAN_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RuleViolation("a plan file is UTF-8 text") from None
    if "\x00" in text:
        raise RuleViolation("a plan file holds no NUL characters")
    rows, errors = parse_plan_file(text, CHANNELS, frozenset(CURRENCIES))
    if errors:
        raise InvalidPlanFile(errors)

    class DryRun(Exception):
        def __init__(self, result: list[Any]) -> None:
            self.result = result

    async def work(conn: Any) -> list[Any]:
        result = await import_plan_rows(conn, rows, who.subject, rules, clock)
        if dry_run:
            raise DryRun(result)  # rolls the transaction back: a dry run changes nothing
        return result

    try:
        done = await in_transaction(pool, work)
    except DryRun as checked:
        done = checked.result
    return plan_queries.import_out(done, dry_run)


@router.put("/budget-lines/{line_id}/phasing", response_model=PhasingOut, responses=documented.problems(404),
            tags=["budget lines"], summary="Phase a line's amount over the months of its quarter (finance)")
async def set_phasing(line_id: LinePath, body: Phasing, pool: Pool, _: Planner) -> PhasingOut:
    months = {}
    for m in body.months:
        month = month_start(m.month)
        if month in months:
            raise RuleViolation(f"month {m.month} appears twice")
        months[month] = (m.amount.amount, m.amount.currency)
    await commands.set_phasing(pool, line_id, months)
    return await get_phasing(line_id, pool, _)


@router.get("/budget-lines/{line_id}/phasing", response_model=PhasingOut, responses=documented.problems(404),
            tags=["budget lines"], summary="A line's phasing by month beside what was spent in each month")
async def get_phasing(line_id: LinePath, pool: Pool, _: Reader) -> PhasingOut:
    async with pool.acquire() as conn:
        out = await plan_queries.phasing_out(conn, line_id)
    if out is None:
        raise NotFound(f"budget line {line_id!r} does not exist")
    return out


@router.get("/budget-lines/{line_id}/forecast", response_model=ForecastOut, responses=documented.problems(404),
            tags=["budget lines"],
            summary="When the line is forecast to run out, from its commitments and each campaign's pace")
async def get_forecast(line_id: LinePath, pool: Pool, who: Reader, rules: BudgetRules, now: Now,
                       as_of: Annotated[c.IsoDate | None, Query(description="Forecast day (default today, UTC)")]
                       = None) -> ForecastOut:
    async with pool.acquire() as conn:
        out = await plan_queries.forecast_out(conn, line_id, as_of or now.date(), rules, who)
    if out is None:
        raise NotFound(f"budget line {line_id!r} does not exist")
    return out
