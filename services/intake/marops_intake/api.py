"""HTTP API of the intake service: thin routers over the use cases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from marops_events.contracts import Channel, IsoDate
from marops_service.app import Pool
from marops_service.auth import CurrentPrincipal, Principal, Role, require
from marops_service.clock import CurrentClock, Now
from marops_service.refusals import Answer
from marops_service.responses import problems

from . import capacity_service, service
from .domain.brief import Brief, Text
from .domain.capacity import monday
from .domain.refusals import IntakeRefusal
from .domain.status import Status
from .listing import Filters, Sort
from .schemas import (
    BriefBody,
    CampaignDetail,
    CampaignPage,
    CampaignWritten,
    CancelBody,
    CapacityIn,
    CapacityReport,
    ChangeBody,
    CheckOut,
    CompleteBody,
    DiffOut,
    LessonPage,
    OwnerTransferBody,
    ReasonBody,
    ResultsBody,
    ResultsReportOut,
    RetrospectiveBody,
    RetrospectiveOut,
    VersionOut,
    VersionSummary,
)

router = APIRouter(tags=["campaigns"])

CampaignId = Annotated[Text, Path(min_length=1, max_length=200, description="Campaign id")]
QueryText = Annotated[Text | None, Query(max_length=200)]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000, description="Brief version")]
Requester = Annotated[Principal, Depends(require(Role.requester))]

# The edge: how each refusal of the use cases is answered.
REFUSALS: dict[str, Answer] = {
    IntakeRefusal.forbidden: Answer(403, "Forbidden", "forbidden"),
    IntakeRefusal.not_found: Answer(404, "Not found", "not-found"),
    IntakeRefusal.conflict: Answer(409, "Conflict", "conflict"),
    IntakeRefusal.invalid: Answer(422, "Unprocessable content", "unprocessable"),
    IntakeRefusal.brief_incomplete: Answer(422, "Brief incomplete", "brief-incomplete"),
    IntakeRefusal.invalid_cursor: Answer(400, "Invalid cursor", "invalid-cursor"),
}


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignWritten,
             summary="Create a campaign with a draft brief (may be incomplete)")
async def create_campaign(body: BriefBody, who: Requester, pool: Pool, clock: CurrentClock) -> dict[str, Any]:
    return await service.create(pool, clock, who, body.brief_fields())


@router.get("/campaigns", response_model=CampaignPage, summary="List campaigns visible to the caller",
            responses=problems((400, "A cursor this service did not give out, or one of another sort order")))
async def list_campaigns(
    who: CurrentPrincipal,
    pool: Pool,
    status_: Annotated[list[Status], Query(alias="status", description="repeat for several")] = [],  # noqa: B006
    team: QueryText = None,
    owner: QueryText = None,
    channel: Channel | None = None,
    target_from: Annotated[IsoDate | None, Query(description="target launch date on or after")] = None,
    target_to: Annotated[IsoDate | None, Query(description="target launch date on or before")] = None,
    q: Annotated[Text | None, Query(max_length=200, description="text in the title")] = None,
    sort: Sort = Sort.last_changed_desc,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    filters = Filters(statuses=tuple(status_), team=team, owner=owner, channel=channel, target_from=target_from,
                      target_to=target_to, text=q or None)
    return await service.list_campaigns(pool, who, filters, sort=sort, cursor=cursor, limit=limit)


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail, responses=problems(404),
            summary="One campaign: its brief, versions, status history and governance decisions")
async def get_campaign(campaign_id: CampaignId, who: CurrentPrincipal, pool: Pool) -> dict[str, Any]:
    return await service.get(pool, who, campaign_id)


@router.patch("/campaigns/{campaign_id}/brief", response_model=CampaignWritten,
              responses=problems(404, (409, "The brief is no longer editable (submitted, launched, cancelled...)")),
              summary="Edit the draft brief (fields sent replace the stored ones; null clears)")
async def edit_brief(campaign_id: CampaignId, body: BriefBody, who: CurrentPrincipal,
                     pool: Pool, clock: CurrentClock) -> dict[str, Any]:
    return await service.edit(pool, clock, who, campaign_id, body.brief_fields())


@router.get("/campaigns/{campaign_id}/completeness", response_model=CheckOut, responses=problems(404),
            summary="Check the draft without submitting: every missing or invalid field")
async def check_campaign(campaign_id: CampaignId, who: CurrentPrincipal,
                         pool: Pool, clock: CurrentClock) -> dict[str, Any]:
    return _check_out(await service.check(pool, clock, who, campaign_id))


@router.post("/briefs/check", response_model=CheckOut,
             summary="Check a brief that is not stored (same rules as submission)")
async def check_brief(body: BriefBody, _: CurrentPrincipal, clock: CurrentClock) -> dict[str, Any]:
    return _check_out(service.check_brief(clock, Brief.model_validate(body.brief_fields())))


@router.post("/campaigns/{campaign_id}/submit", response_model=CampaignWritten, responses=problems(404),
             summary="Submit the draft as the next version (422 listing what is missing)")
async def submit(campaign_id: CampaignId, who: CurrentPrincipal, pool: Pool, clock: CurrentClock) -> dict[str, Any]:
    return await service.submit(pool, clock, who, campaign_id)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignDetail, responses=problems(404),
             summary="Cancel the campaign (owner or ops_admin)")
async def cancel(campaign_id: CampaignId, who: CurrentPrincipal, pool: Pool, clock: CurrentClock,
                 body: CancelBody | None = None) -> dict[str, Any]:
    return await service.cancel(pool, clock, who, campaign_id, body.reason if body else None)


@router.post("/campaigns/{campaign_id}/owner", response_model=CampaignDetail, responses=problems(404),
             summary="Transfer ownership (current owner or ops_admin); audited, published on the next version")
async def transfer_owner(campaign_id: CampaignId, body: OwnerTransferBody, who: CurrentPrincipal,
                         pool: Pool, clock: CurrentClock) -> dict[str, Any]:
    return await service.transfer_ownership(pool, clock, who, campaign_id, body.owner, body.reason)


@router.post("/campaigns/{campaign_id}/complete", response_model=CampaignDetail, responses=problems(404),
             summary="Complete a launched campaign with its actual result per KPI (owner or ops_admin)")
async def complete(campaign_id: CampaignId, body: CompleteBody, who: CurrentPrincipal,
                   pool: Pool, clock: CurrentClock) -> dict[str, Any]:
    return await service.complete(pool, clock, who, campaign_id, [r.model_dump() for r in body.results])


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignDetail,
             responses=problems(404, (409, "Not approved or launched, or already paused")),
             summary="Pause an approved or launched campaign, with a reason (owner or ops_admin)")
async def pause(campaign_id: CampaignId, body: ReasonBody, who: CurrentPrincipal, pool: Pool,
                clock: CurrentClock) -> dict[str, Any]:
    return await service.pause(pool, clock, who, campaign_id, body.reason)


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignDetail,
             responses=problems(404, (409, "The campaign is not paused")),
             summary="Resume a paused campaign, with a reason (owner or ops_admin)")
async def resume(campaign_id: CampaignId, body: ReasonBody, who: CurrentPrincipal, pool: Pool,
                 clock: CurrentClock) -> dict[str, Any]:
    return await service.resume(pool, clock, who, campaign_id, body.reason)


@router.post("/campaigns/{campaign_id}/changes", response_model=CampaignDetail,
             responses=problems(404, (409, "Not approved or launched, or another change is pending")),
             summary="Request a change of an approved or launched campaign (owner or ops_admin): budget amount, "
                     "dates, channels, KPIs; governance decides it, and an approved change is the next version")
async def request_change(campaign_id: CampaignId, body: ChangeBody, who: CurrentPrincipal, pool: Pool,
                         clock: CurrentClock) -> dict[str, Any]:
    return await service.request_change(pool, clock, who, campaign_id, body.change_fields(), body.reason)


@router.post("/campaigns/{campaign_id}/results", status_code=status.HTTP_201_CREATED, response_model=ResultsReportOut,
             tags=["results"], summary="Report KPI results as of a date (owner, ops_admin or the analytics system's "
                                       "service token) -> KpiResultsRecorded",
             responses={200: {"model": ResultsReportOut,
                              "description": "Already recorded: the same source reference was sent before"},
                        **problems(404)})
async def report_results(campaign_id: CampaignId, body: ResultsBody, who: CurrentPrincipal, pool: Pool,
                         clock: CurrentClock, response: Response) -> dict[str, Any]:
    report, new = await service.record_results(pool, clock, who, campaign_id, body.model_dump())
    if not new:
        response.status_code = status.HTTP_200_OK
    return {**report, "already_recorded": not new}


@router.get("/campaigns/{campaign_id}/results", response_model=list[ResultsReportOut], responses=problems(404),
            tags=["results"], summary="Every results report of the campaign, by as-of date")
async def list_results(campaign_id: CampaignId, who: CurrentPrincipal, pool: Pool) -> list[dict[str, Any]]:
    return await service.results(pool, who, campaign_id)


@router.get("/campaigns/{campaign_id}/versions", response_model=list[VersionSummary], responses=problems(404),
            summary="Every submitted version, with what changed from the one before")
async def list_versions(campaign_id: CampaignId, who: CurrentPrincipal, pool: Pool) -> list[dict[str, Any]]:
    return (await service.get(pool, who, campaign_id))["versions"]


@router.get("/campaigns/{campaign_id}/versions/{version}", response_model=VersionOut, responses=problems(404),
            summary="One submitted version, exactly as submitted")
async def get_version(campaign_id: CampaignId, version: VersionNumber, who: CurrentPrincipal,
                      pool: Pool) -> dict[str, Any]:
    return await service.version(pool, who, campaign_id, version)


@router.get("/campaigns/{campaign_id}/versions/{version}/diff", response_model=DiffOut, responses=problems(404),
            summary="What changed between two versions (default: from the previous one)")
async def diff_versions(
    campaign_id: CampaignId, version: VersionNumber, who: CurrentPrincipal, pool: Pool,
    from_: Annotated[int | None, Query(alias="from", ge=0, le=1_000_000,
                                       description="older version; 0 is the empty brief")] = None,
) -> dict[str, Any]:
    return await service.diff_versions(pool, who, campaign_id, version, from_)


@router.post("/campaigns/{campaign_id}/retrospective", response_model=RetrospectiveOut, tags=["retrospectives"],
             responses=problems(404, (409, "The campaign is not completed")),
             summary="Record the retrospective of a completed campaign (owner or ops_admin); again replaces it "
                     "(GET /campaigns/{id} shows it)")
async def record_retrospective(campaign_id: CampaignId, body: RetrospectiveBody, who: CurrentPrincipal, pool: Pool,
                               clock: CurrentClock) -> dict[str, Any]:
    return await service.record_retrospective(pool, clock, who, campaign_id, body.model_dump())


@router.get("/lessons", response_model=LessonPage, tags=["retrospectives"],
            responses=problems((400, "A cursor this service did not give out")),
            summary="Lessons of every retrospective the caller may read, newest first; full-text search")
async def list_lessons(
    who: CurrentPrincipal,
    pool: Pool,
    team: QueryText = None,
    channel: Channel | None = None,
    q: Annotated[Text | None, Query(max_length=200, description="words to find (web-search syntax: "
                                                                   '"exact phrase", or, -not; English stemming)')] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    return await service.list_lessons(pool, who, team=team, channel=channel.value if channel else None,
                                      text=q or None, cursor=cursor, limit=limit)


def _check_out(findings: list[Any]) -> dict[str, Any]:
    return {"complete": not findings, "errors": [f.to_json() for f in findings]}


TeamPath = Annotated[Text, Path(min_length=1, max_length=200, description="Team")]


@router.put("/teams/{team}/capacity", response_model=CapacityReport, tags=["capacity"],
            summary="Set a team's capacity per week, in hours or points (ops admin or the team's lead)")
async def set_capacity(team: TeamPath, body: CapacityIn, who: CurrentPrincipal, pool: Pool,
                       clock: CurrentClock) -> dict[str, Any]:
    return await capacity_service.set_capacity(pool, clock, who, team, body.unit, body.weekly,
                                               [(w.week, w.capacity) for w in body.weeks])


@router.get("/teams/{team}/capacity", response_model=CapacityReport, tags=["capacity"],
            summary="Demand vs capacity per week: the effort of the team's campaigns over their production window")
async def capacity_report(team: TeamPath, who: CurrentPrincipal, pool: Pool, now: Now,
                          from_: Annotated[IsoDate | None, Query(alias="from", description="a day of the first week "
                                                                 "(default: this week)")] = None,
                          weeks: Annotated[int, Query(ge=1, le=104)] = 8) -> dict[str, Any]:
    return await capacity_service.report(pool, who, team, monday(from_ or now.date()), weeks)
