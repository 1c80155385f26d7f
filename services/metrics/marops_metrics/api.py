"""HTTP API of the metrics service: thin routers over the use cases.

Every report answers JSON, or CSV with ``?format=csv`` or ``Accept: text/csv``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from marops_events.contracts import Channel, IsoDate
from marops_service.app import Pool, Runtime, get_runtime
from marops_service.auth import Principal, Role, require
from marops_service.problems import Problem
from marops_service.refusals import Answer
from marops_service.responses import csv_export, problems

from . import readside, schemas, service
from .aggregates import Filters, GroupBy
from .export import respond
from .readside import Scope
from .refusals import MetricsRefusal

router = APIRouter()

# The edge: how each refusal of the use cases is answered.
REFUSALS: dict[str, Answer] = {
    MetricsRefusal.not_found: Answer(404, "Not found", "not-found"),
    MetricsRefusal.rebuild_running: Answer(409, "Conflict", "rebuild-running"),
    # the problem type every other query-validation failure of this service has
    MetricsRefusal.invalid_cursor: Answer(422, "Validation failed", "validation-error"),
}


def documented(model: type, *, csv: bool = True, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a report: its JSON schema, and its CSV variant."""
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    if csv:
        content.update(csv_export(status=status)[status]["content"])
    return {status: {"model": model, "content": content}}

Reader = Annotated[Principal, Depends(require(Role.viewer, Role.requester, Role.approver, Role.finance))]
Admin = Annotated[Principal, Depends(require(Role.ops_admin))]
Format = Annotated[Literal["json", "csv"] | None, Query(alias="format", description="csv, or Accept: text/csv")]
DEFAULT_PAGE = 100
MAX_PAGE = 1000
Grouping = Annotated[GroupBy | None, Query(description="team, channel (a campaign counts under each of its "
                                                       "channels) or quarter")]


def filters(
    team: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    channel: Channel | None = None,
    submitted_from: Annotated[IsoDate | None, Query(description="first submission on or after (UTC date)")] = None,
    submitted_to: Annotated[IsoDate | None, Query(description="first submission on or before (UTC date)")] = None,
    launched_from: Annotated[IsoDate | None, Query(description="launch on or after (UTC date)")] = None,
    launched_to: Annotated[IsoDate | None, Query(description="launch on or before (UTC date)")] = None,
    quarter: Annotated[str | None, Query(pattern=r"^\d{4}-Q[1-4]$", examples=["2026-Q1"],
                                         description="of launch for cycle time, of first submission "
                                                     "otherwise")] = None,
) -> Filters:
    errors = [
        {"path": f"query.{low}", "message": f"{low} is after {high}", "type": "value_error"}
        for low, high, a, b in (("submitted_from", "submitted_to", submitted_from, submitted_to),
                                ("launched_from", "launched_to", launched_from, launched_to))
        if a and b and a > b
    ]
    if errors:
        raise Problem("the date range is empty", status=422, title="Validation failed", slug="validation-error",
                      errors=errors)
    return Filters(team=team, channel=channel.value if channel else None, submitted_from=submitted_from,
                   submitted_to=submitted_to, launched_from=launched_from, launched_to=launched_to,
                   quarter=quarter)


Filtered = Annotated[Filters, Depends(filters)]


@router.get("/campaigns", tags=["campaigns"], summary="The campaign table, a page at a time",
            responses=documented(schemas.CampaignTable))
async def campaign_table(
    request: Request, pool: Pool, who: Reader, f: Filtered, fmt: Format = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page")] = None,
) -> Response:
    report = await service.campaign_table(pool, Scope(f, who), limit=limit, cursor=cursor)
    return respond(request, report, fmt, "campaigns")


@router.get("/campaigns/{campaign_id}/timeline", tags=["campaigns"],
            summary="Every event of a campaign in business-time order, with durations between steps",
            responses={**documented(schemas.Timeline, csv=False),
                       **problems(404)})
async def campaign_timeline(campaign_id: Annotated[str, Path(min_length=1, max_length=200)], pool: Pool,
                            who: Reader,
                            limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="events per page")] = 500,
                            cursor: Annotated[str | None, Query(max_length=1000,
                                                                description="next_cursor of the previous page")] = None,
                            ) -> JSONResponse:
    return JSONResponse(jsonable_encoder(await service.timeline(pool, campaign_id, who, limit=limit, cursor=cursor)))


_MODELS: dict[str, type] = {
    "cycle-time": schemas.CycleTimeReport, "gate-times": schemas.GateTimesReport,
    "sla-breaches": schemas.SlaReport, "rework": schemas.ReworkReport, "on-time": schemas.OnTimeReport,
    "data-completeness": schemas.CompletenessReport, "variance/campaigns": schemas.VarianceReport,
    "variance/months": schemas.MonthReport,
}


def _grouped(path: str, summary: str) -> None:
    name = path.removeprefix("/aggregates/")
    build = service.GROUPED[name]
    filename = path.rsplit("/", 1)[-1]

    async def endpoint(request: Request, pool: Pool, who: Reader, f: Filtered, group_by: Grouping = None,
                       fmt: Format = None) -> Response:
        return respond(request, await build(pool, Scope(f, who), group_by), fmt,
                       filename if group_by is None else f"{filename}-by-{group_by.value}")

    router.add_api_route(path, endpoint, methods=["GET"], tags=["aggregates"], summary=summary,
                         name=f"aggregate_{path.rsplit('/', 1)[-1]}", responses=documented(_MODELS[name]))


_grouped("/aggregates/cycle-time", "Cycle time (first submission to launch): count, mean, p50, p90 in hours")
_grouped("/aggregates/gate-times", "Time in each gate per approval (p50, p90), with the bottleneck gate")
_grouped("/aggregates/sla-breaches", "Decisions later than their gate's SLA, per gate")
_grouped("/aggregates/rework", "Rework rate and revisions per brief")
_grouped("/aggregates/on-time", "On-time launch rate (UTC launch date vs target date)")
_grouped("/aggregates/data-completeness",
         "Launched campaigns whose launch snapshot had KPIs with targets and a tracking plan")
_grouped("/aggregates/variance/campaigns", "Budget variance per campaign and currency (or per group with group_by)")
_grouped("/aggregates/variance/months", "Actual spend per calendar month of the incurred date, per currency")


@router.get("/aggregates/variance/budget-lines", tags=["aggregates"],
            summary="Budget variance per budget line and currency", responses=documented(schemas.LineVarianceReport))
async def variance_by_line(request: Request, pool: Pool, who: Reader, f: Filtered, fmt: Format = None) -> Response:
    return respond(request, await readside.variance_by_line(pool, Scope(f, who)), fmt, "variance-budget-lines")


@router.get("/summary", tags=["aggregates"], summary="All headline numbers at once",
            responses=documented(schemas.Summary))
async def summary(request: Request, pool: Pool, who: Reader, f: Filtered, fmt: Format = None) -> Response:
    return respond(request, await readside.summary(pool, Scope(f, who)), fmt, "summary")


@router.get("/status", tags=["operations"], summary="Freshness: consumer lag and last event time per topic",
            responses=documented(schemas.Freshness, csv=False), response_model=None)
async def status(runtime: Annotated[Runtime, Depends(get_runtime)], _: Reader) -> dict[str, Any]:
    return await service.freshness(runtime)


@router.post("/admin/rebuild", status_code=202, tags=["operations"],
             summary="Rebuild the read model from the topics and swap it in atomically",
             responses={**documented(schemas.RebuildStarted, csv=False, status=202),
                        **problems((409, "A rebuild is already running"))}, response_model=None)
async def rebuild(runtime: Annotated[Runtime, Depends(get_runtime)], who: Admin) -> dict[str, Any]:
    return await service.start_rebuild(runtime, who.subject)


@router.get("/admin/rebuilds/{run_id}", tags=["operations"], summary="A rebuild run and its outcome",
            responses={**documented(schemas.RebuildRun, csv=False), **problems((404, "No such rebuild run"))},
            response_model=None)
async def rebuild_run(run_id: uuid.UUID, pool: Pool, _: Admin) -> dict[str, Any]:
    return await service.rebuild_run(pool, run_id)
