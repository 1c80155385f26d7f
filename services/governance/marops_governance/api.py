"""HTTP API of the governance service: thin routers over the use cases."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from marops_service.app import Pool
from marops_service.auth import CurrentPrincipal, Principal, Role, require
from marops_service.clock import CurrentClock, Now
from marops_service.problems import NotFound
from marops_service.refusals import Answer
from marops_service.responses import problems

from . import repository, service
from .catalogue import CatalogueDocument
from .domain import DecisionRequest, RefusalCode
from .outputs import (
    AuditList,
    CampaignAudit,
    CampaignOut,
    CatalogueList,
    CatalogueOut,
    DecisionOut,
    GateList,
    LaunchOut,
    PolicyList,
    PolicyOut,
    QueueOut,
    RaciOut,
    ReadinessOut,
    RiskList,
    RiskOut,
)
from .schemas import (
    Acceptance,
    DecisionBody,
    LaunchBody,
    NewCatalogue,
    NewPolicy,
    NewRisk,
    RaciBody,
    RiskChanges,
    audit_view,
    campaign_view,
    catalogue_view,
    gate_view,
    policy_view,
    queue_view,
    readiness_view,
    risk_view,
)

router = APIRouter()

CampaignId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
GateId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
OpsAdmin = Annotated[Principal, Depends(require(Role.ops_admin))]
RiskEditor = Annotated[Principal, Depends(require(Role.requester, Role.approver, Role.finance))]
RiskDecider = Annotated[Principal, Depends(require(Role.approver))]

# The edge: how each refusal of the domain is answered (the code is the problem type).
REFUSALS: dict[str, Answer] = {
    RefusalCode.unknown_gate: Answer(404, "Unknown gate"),
    RefusalCode.gate_not_applicable: Answer(409, "Gate does not apply"),
    RefusalCode.campaign_cancelled: Answer(409, "Campaign cancelled"),
    RefusalCode.campaign_launched: Answer(409, "Campaign already launched"),
    RefusalCode.stale_brief_version: Answer(409, "Stale brief version"),
    RefusalCode.version_rejected: Answer(409, "Brief version rejected"),
    RefusalCode.not_current_gate: Answer(409, "Not the current gate"),
    RefusalCode.four_eyes: Answer(403, "Four-eyes rule"),
    RefusalCode.no_decision_right: Answer(403, "No decision right"),
    RefusalCode.amount_limit_exceeded: Answer(403, "Amount limit exceeded"),
    RefusalCode.budget_not_reserved: Answer(409, "Budget not reserved"),
    RefusalCode.already_approved: Answer(409, "Already approved"),
    RefusalCode.launch_forbidden: Answer(403, "Launch forbidden"),
    RefusalCode.not_ready: Answer(409, "Not ready to launch"),
    RefusalCode.risk_status: Answer(409, "Risk status does not allow this"),
    RefusalCode.team_forbidden: Answer(403, "Forbidden"),
    RefusalCode.reason_required: Answer(422, "Reason required"),
    RefusalCode.invalid_cursor: Answer(400, "Invalid cursor"),
}


# --- policy ----------------------------------------------------------------------------


@router.get("/policy", response_model=PolicyOut, responses=problems(404),
            tags=["policy"], summary="The policy version in force now")
async def current_policy(pool: Pool, _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repository.policy_row(conn)
    if row is None:
        raise NotFound("no policy yet")
    return policy_view(row)


@router.get("/policy/versions", response_model=PolicyList,
            tags=["policy"], summary="Every policy version, oldest first")
async def policy_versions(pool: Pool, _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await repository.policy_rows(conn)
    return {"items": [policy_view(r) for r in rows]}


@router.get("/policy/versions/{version}", response_model=PolicyOut, responses=problems(404),
            tags=["policy"], summary="One policy version")
async def policy_version(version: Annotated[int, Path(ge=1, le=2**31 - 1)], pool: Pool,
                         _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repository.policy_row(conn, version)
    if row is None:
        raise NotFound(f"policy version {version} does not exist")
    return policy_view(row)


@router.post("/policy/versions", response_model=PolicyOut, tags=["policy"], status_code=201,
             summary="Publish a new policy version (ops_admin); it governs briefs submitted from now on")
async def new_policy_version(body: NewPolicy, pool: Pool, now: Now, actor: OpsAdmin) -> dict[str, Any]:
    row = await service.create_policy(pool, actor, body.document(), body.reason, now)
    return policy_view(row)


@router.get("/policy/audit", response_model=AuditList, tags=["policy"], summary="Audit trail of policy changes")
async def policy_audit(pool: Pool, _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await repository.policy_audit(conn)
    return {"items": [audit_view(r) for r in rows]}


# --- metric catalogue ------------------------------------------------------------------


@router.get("/metric-catalogue", response_model=CatalogueOut, responses=problems(404), tags=["metric catalogue"],
            summary="The metric catalogue in force: the KPI definitions briefs pick from")
async def current_catalogue(pool: Pool, _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repository.catalogue_row(conn)
    if row is None:
        raise NotFound("no metric catalogue has been published yet")
    return catalogue_view(row)


@router.get("/metric-catalogue/versions", response_model=CatalogueList, tags=["metric catalogue"],
            summary="Every metric catalogue version, oldest first")
async def catalogue_versions(pool: Pool, _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await repository.catalogue_rows(conn)
    return {"items": [catalogue_view(r) for r in rows]}


@router.get("/metric-catalogue/versions/{version}", response_model=CatalogueOut, responses=problems(404),
            tags=["metric catalogue"], summary="One metric catalogue version")
async def catalogue_version(version: Annotated[int, Path(ge=1, le=2**31 - 1)], pool: Pool,
                            _: CurrentPrincipal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repository.catalogue_row(conn, version)
    if row is None:
        raise NotFound(f"metric catalogue version {version} does not exist")
    return catalogue_view(row)


@router.post("/metric-catalogue/versions", response_model=CatalogueOut, status_code=201, tags=["metric catalogue"],
             summary="Publish a new metric catalogue version (ops_admin) -> MetricCatalogueChanged")
async def new_catalogue_version(body: NewCatalogue, pool: Pool, now: Now, actor: OpsAdmin) -> dict[str, Any]:
    document = CatalogueDocument(definitions=body.definitions)
    return catalogue_view(await service.publish_catalogue(pool, actor, document, body.reason, now))


# --- campaigns and gates ---------------------------------------------------------------


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=problems(404),
            tags=["gates"], summary="Governance state of a campaign")
async def get_campaign(campaign_id: CampaignId, pool: Pool, now: Now, who: CurrentPrincipal) -> dict[str, Any]:
    return campaign_view(await service.campaign(pool, campaign_id, who), now)


@router.get("/campaigns/{campaign_id}/gates", response_model=GateList, responses=problems(404),
            tags=["gates"], summary="Gates of the current brief version")
async def get_gates(campaign_id: CampaignId, pool: Pool, now: Now, who: CurrentPrincipal) -> dict[str, Any]:
    found = await service.campaign(pool, campaign_id, who)
    return {"campaign_id": campaign_id, "brief_version": found.brief.version,
            "policy_version": found.policy_version, "items": [gate_view(g, now) for g in found.gates]}


@router.post("/campaigns/{campaign_id}/gates/{gate_id}/decisions", response_model=DecisionOut, responses=problems(404),
             tags=["gates"], status_code=201,
             summary="Approve, or reject with a reason and a kind, the gate open for decision")
async def decide(campaign_id: CampaignId, gate_id: GateId, body: Annotated[DecisionBody, Body()], pool: Pool,
                 clock: CurrentClock, actor: CurrentPrincipal) -> dict[str, Any]:
    approve = body.decision == "approve"
    request = DecisionRequest(
        gate_id=gate_id, brief_version=body.brief_version, approve=approve,
        kind=None if approve else body.kind,  # type: ignore[union-attr]
        reason=body.comment if approve else body.reason,  # type: ignore[union-attr]
    )
    updated, outcome = await service.decide(pool, campaign_id, request, actor, clock)
    return {
        "decision_id": str(outcome.decision.id), "decision": body.decision, "gate_id": gate_id,
        "brief_version": outcome.decision.brief_version, "decided_by": actor.subject,
        "decided_at": outcome.decision.decided_at,
        "published": type(outcome.event).__name__ if outcome.event is not None else None,
        "gate": gate_view(outcome.gate, outcome.decision.decided_at),
        "campaign": campaign_view(updated, outcome.decision.decided_at),
    }


@router.get("/queue", response_model=QueueOut,
            responses=problems((400, "A cursor this service did not give out, or one whose as_of is ahead of now")),
            tags=["gates"], summary="The caller's approval queue: overdue first, then by due time, a page at a time")
async def approval_queue(pool: Pool, now: Now, actor: CurrentPrincipal,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100,
                         cursor: Annotated[str | None, Query(max_length=500, description=(
                             "next_cursor of the page before: the next page, as of the first page's as_of"))] = None,
                         ) -> dict[str, Any]:
    page = await service.queue(pool, actor, now, limit=limit, cursor=cursor)
    return {"as_of": page.as_of, "items": [queue_view(i, page.as_of) for i in page.items],
            "next_cursor": page.next_cursor}


# --- readiness and launch ----------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/readiness", response_model=ReadinessOut, responses=problems(404),
            tags=["launch"], summary="Every unmet launch condition")
async def get_readiness(campaign_id: CampaignId, pool: Pool, who: CurrentPrincipal) -> dict[str, Any]:
    found, readiness = await service.readiness(pool, campaign_id, who)
    return readiness_view(found, readiness)


@router.post("/campaigns/{campaign_id}/launch", response_model=LaunchOut, responses=problems(404),
             tags=["launch"], status_code=201,
             summary="Launch (owner or ops_admin) when ready; 409 with the unmet conditions otherwise")
async def launch(campaign_id: CampaignId, pool: Pool, clock: CurrentClock, actor: CurrentPrincipal,
                 body: Annotated[LaunchBody | None, Body()] = None) -> dict[str, Any]:
    payload = await service.launch(pool, campaign_id, actor, body.brief_version if body else None,
                                   clock)
    return payload.model_dump(mode="json")


# --- RACI ------------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/raci", response_model=RaciOut, responses=problems(404),
            tags=["raci"], summary="Who is responsible, accountable, ...")
async def get_raci(campaign_id: CampaignId, pool: Pool, who: CurrentPrincipal) -> dict[str, Any]:
    return await service.raci(pool, campaign_id, who)


@router.put("/campaigns/{campaign_id}/raci", response_model=RaciOut, responses=problems(404),
            tags=["raci"], summary="Replace the RACI (ops_admin)")
async def put_raci(campaign_id: CampaignId, body: RaciBody, pool: Pool, clock: CurrentClock,
                   actor: OpsAdmin) -> dict[str, Any]:
    await service.edit_raci(pool, campaign_id, body.raci(), actor, body.reason, clock)
    return await service.raci(pool, campaign_id, actor)


# --- risks -------------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/risks", response_model=RiskList, responses=problems(404),
            tags=["risks"], summary="The campaign's risk register")
async def list_risks(campaign_id: CampaignId, pool: Pool, who: CurrentPrincipal) -> dict[str, Any]:
    found, items = await service.risks(pool, campaign_id, who)
    return {"campaign_id": campaign_id, "blocking_risk_score": found.policy.blocking_risk_score,
            "items": [risk_view(r, found) for r in items]}


@router.post("/campaigns/{campaign_id}/risks", response_model=RiskOut, responses=problems(404),
             tags=["risks"], status_code=201, summary="Register a risk")
async def add_risk(campaign_id: CampaignId, body: NewRisk, pool: Pool, clock: CurrentClock,
                   actor: RiskEditor) -> dict[str, Any]:
    found, created = await service.add_risk(pool, campaign_id, actor, clock, **body.model_dump())
    return risk_view(created, found)


@router.patch("/campaigns/{campaign_id}/risks/{risk_id}", response_model=RiskOut, responses=problems(404, 409),
              tags=["risks"],
              summary="Change a risk (description, owner, scores, mitigation, status); closing, mitigating or "
                      "down-scoring a risk that blocks launch: an approver who is no party, with a reason")
async def change_risk(campaign_id: CampaignId, risk_id: uuid.UUID, body: RiskChanges, pool: Pool, clock: CurrentClock,
                      actor: RiskEditor) -> dict[str, Any]:
    found, updated = await service.change_risk(pool, campaign_id, risk_id, actor, clock,
                                               body.changes(), body.reason)
    return risk_view(updated, found)


@router.post("/campaigns/{campaign_id}/risks/{risk_id}/accept", response_model=RiskOut, responses=problems(404, 409),
             tags=["risks"],
             summary="Accept a risk: a decision with a reason (approver or ops_admin, never the campaign's own people)")
async def accept_risk(campaign_id: CampaignId, risk_id: uuid.UUID, body: Acceptance, pool: Pool, clock: CurrentClock,
                      actor: RiskDecider) -> dict[str, Any]:
    found, accepted = await service.accept(pool, campaign_id, risk_id, actor, clock, body.reason)
    return risk_view(accepted, found)


# --- audit -------------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/audit", response_model=CampaignAudit, responses=problems(404), tags=["audit"],
            summary="Immutable audit trail of the campaign, in business-time order")
async def audit_trail(campaign_id: CampaignId, pool: Pool, who: CurrentPrincipal) -> dict[str, Any]:
    rows, policy_changes = await service.audit_trail(pool, campaign_id, who)
    return {"campaign_id": campaign_id, "items": [audit_view(r) for r in rows],
            "policy_changes": [audit_view(r) for r in policy_changes]}

