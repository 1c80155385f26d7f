"""Request bodies (strict: unknown fields are refused) and the JSON views the API returns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from marops_events import contracts as c
from marops_service.text import NOT_BLANK

from .catalogue import CatalogueDocument
from .domain import BriefVersion, Campaign, ChangeOutcome, GateState, QueueItem, Readiness
from .policy import PolicyDocument, undecidable
from .risks import Risk, RiskStatus, blocks_launch

MAX_INT = 2**31 - 1
# Text is stripped before its length is checked, so "   " is empty: the schema says "at
# least one character that str.strip() keeps" (its whitespace, spelt out: JSON Schema's \s
# is not Python's). The pattern is checked after stripping, where it means the same.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=NOT_BLANK)]
UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)]
# The bounds come before the JSON-integer validator: after it (Annotated[c.JsonInt, Field(...)])
# pydantic enforces them but writes "ge"/"le" into the schema, which no client understands.
Version = Annotated[int, Field(ge=1, le=MAX_INT), BeforeValidator(c.json_int)]
Score = Annotated[int, Field(ge=1, le=5), BeforeValidator(c.json_int)]


def _refuse_nul(value: Any) -> None:
    # PostgreSQL text and jsonb cannot hold U+0000; refuse it up front instead of failing late.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain the NUL character")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k)
            _refuse_nul(v)
    elif isinstance(value, list):
        for v in value:
            _refuse_nul(v)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        _refuse_nul(data)
        return data


# --- requests --------------------------------------------------------------------------


class NewPolicy(PolicyDocument):
    """A new policy version: the whole document, and why it changes."""

    reason: Text

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        _refuse_nul(data)
        return data

    @model_validator(mode="after")
    def _decidable(self) -> NewPolicy:
        reasons = undecidable(self)
        if reasons:
            raise ValueError("every gate must be decidable: " + "; ".join(reasons))
        return self

    def document(self) -> PolicyDocument:
        return PolicyDocument.model_validate(self.model_dump(exclude={"reason"}))


class Approve(_Body):
    decision: Literal["approve"]
    brief_version: Version
    comment: Text | None = None


class Reject(_Body):
    decision: Literal["reject"]
    brief_version: Version
    kind: c.RejectionKind
    reason: Text


DecisionBody = Annotated[Approve | Reject, Field(discriminator="decision")]


class LaunchBody(_Body):
    brief_version: Version | None = None


class RaciBody(_Body):
    responsible: list[UserId] = Field(default_factory=list, max_length=100)
    accountable: UserId | None = None
    consulted: list[UserId] = Field(default_factory=list, max_length=100)
    informed: list[UserId] = Field(default_factory=list, max_length=100)
    reason: Text | None = None

    def raci(self) -> c.Raci:
        return c.Raci.model_validate(self.model_dump(exclude={"reason"}))


class NewRisk(_Body):
    description: Text
    owner: UserId
    probability: Score
    impact: Score
    mitigation: Text | None = None


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "default": null would contradict the type


#: a field a risk always has: it may be left out of a change but not cleared, so the
#: schema offers no null
KEEP = Field(default=None, json_schema_extra=_no_default)


class RiskChanges(_Body):
    description: Text | SkipJsonSchema[None] = KEEP
    owner: UserId | SkipJsonSchema[None] = KEEP
    probability: Score | SkipJsonSchema[None] = KEEP
    impact: Score | SkipJsonSchema[None] = KEEP
    mitigation: Text | None = None
    status: RiskStatus | SkipJsonSchema[None] = KEEP
    reason: Text | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> RiskChanges:
        nulls = [f for f in ("description", "owner", "probability", "impact", "status")
                 if f in self.model_fields_set and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if k != "reason"}


class Acceptance(_Body):
    reason: Text


# --- views -----------------------------------------------------------------------------


def money(value: c.Money | None) -> dict[str, str] | None:
    return value.model_dump(mode="json") if value is not None else None


class NewCatalogue(CatalogueDocument):
    """A new metric catalogue version: every definition (the whole catalogue), and why it changes."""

    reason: Text


def catalogue_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in ("version", "definitions", "created_by", "created_at", "reason")}


def policy_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"version": row["version"], "effective_from": row["effective_from"], "created_by": row["created_by"],
            "created_at": row["created_at"], "reason": row["reason"], **row["document"]}


def gate_view(gate: GateState, now: dt.datetime) -> dict[str, Any]:
    d = gate.definition
    rejection = gate.rejection
    return {
        "gate_id": d.id, "name": d.name, "kind": d.kind.value, "position": gate.position, "is_last": gate.is_last,
        "status": gate.status.value, "actionable_at": gate.actionable_at, "due_at": gate.due_at,
        "overdue": gate.overdue(now), "escalated_to": d.escalation_role.value if gate.overdue(now) else None,
        "sla_hours": d.sla_hours, "approvals_required": d.approvals_required,
        "approvals": [{"by": a.decided_by, "at": a.decided_at, "comment": a.reason} for a in gate.approvals],
        "approved_at": gate.approved_at,
        "rejection": None if rejection is None else {
            "by": rejection.decided_by, "at": rejection.decided_at, "kind": rejection.kind.value if rejection.kind
            else None, "reason": rejection.reason},
        "deciders": [r.model_dump(mode="json", exclude_none=True) for r in d.deciders],
        "escalation_role": d.escalation_role.value,
    }


def campaign_view(campaign: Campaign, now: dt.datetime) -> dict[str, Any]:
    brief = campaign.brief
    reservation = campaign.reservation()
    commitment = campaign.commitment
    current = campaign.current_gate
    return {
        "campaign_id": brief.campaign_id, "title": brief.title, "team": brief.team, "owner": brief.owner,
        "status": campaign.status.value, "brief_version": brief.version, "policy_version": campaign.policy_version,
        "submitted_at": brief.submitted_at, "requested": money(brief.amount), "channels": list(brief.channels),
        "current_gate": current.id if current else None,
        "gates": [gate_view(g, now) for g in campaign.gates],
        "budget": {
            "budget_line_id": brief.budget_line_id,
            "reservation": {"status": reservation.status, "amount": money(reservation.amount),
                            "reason_code": reservation.reason_code, "reason": reservation.reason,
                            "at": reservation.at},
            "committed": money(commitment.amount) if commitment else None,
        },
        "cancelled": None if campaign.cancellation is None else {
            "by": campaign.cancellation.cancelled_by, "at": campaign.cancellation.cancelled_at,
            "reason": campaign.cancellation.reason},
        "launched": None if campaign.launch is None else {
            "by": campaign.launch.launched_by, "at": campaign.launch.launched_at,
            "brief_version": campaign.launch.brief_version},
        "versions": [{"version": v.version, "submitted_at": v.submitted_at, "requester": v.requester,
                      "policy_version": v.policy_version} for v in campaign.versions],
        "paused": campaign.paused,
        "pending_change": _pending_change(campaign, now),
        "changes": [_change_summary(v, {o.change_id: o for o in campaign.outcomes}) for v in campaign.changes],
    }


def _pending_change(campaign: Campaign, now: dt.datetime) -> dict[str, Any] | None:
    proposal = campaign.pending_change
    if proposal is None or proposal.change is None:
        return None
    view = campaign.change_view()
    reservation = view.reservation()
    current = view.current_gate
    return {
        "change_id": proposal.change.change_id, "brief_version": proposal.version,
        "base_version": proposal.change.base_version, "changes": list(proposal.change.changes),
        "reason": proposal.change.reason, "requested_by": proposal.requester, "requested_at": proposal.submitted_at,
        "requested": money(proposal.amount), "channels": list(proposal.channels),
        "policy_version": proposal.policy_version, "current_gate": current.id if current else None,
        "gates": [gate_view(g, now) for g in campaign.change_gates],
        "reservation": {"status": reservation.status, "amount": money(reservation.amount),
                        "reason_code": reservation.reason_code, "reason": reservation.reason, "at": reservation.at},
    }


def _change_summary(proposal: BriefVersion, outcomes: dict[str, ChangeOutcome]) -> dict[str, Any]:
    assert proposal.change is not None
    outcome = outcomes.get(proposal.change.change_id)
    return {"change_id": proposal.change.change_id, "brief_version": proposal.version,
            "changes": list(proposal.change.changes), "gates": list(proposal.change.gates),
            "outcome": outcome.outcome.value if outcome else "pending",
            "decided_by": outcome.decided_by if outcome else None, "decided_at": outcome.decided_at if outcome else None,
            "reason": outcome.reason if outcome else None}


def queue_view(item: QueueItem, now: dt.datetime) -> dict[str, Any]:
    brief = item.campaign.brief
    return {"campaign_id": brief.campaign_id, "title": brief.title, "team": brief.team,
            "brief_version": brief.version, "requested": money(brief.amount), "gate_id": item.gate.id,
            "gate_name": item.gate.definition.name, "actionable_at": item.gate.actionable_at,
            "due_at": item.gate.due_at, "overdue": item.overdue, "via": item.via, "can_approve": item.can_approve,
            "approvals": item.gate.approvers, "approvals_required": item.gate.definition.approvals_required}


def readiness_view(campaign: Campaign, readiness: Readiness) -> dict[str, Any]:
    return {"campaign_id": campaign.campaign_id, "brief_version": campaign.brief.version,
            "ready": readiness.ready,
            "unmet": [{"code": u.code, "detail": u.detail} for u in readiness.unmet],
            "facts": readiness.snapshot.model_dump(mode="json"),
            "blocking_risk_score": campaign.policy.blocking_risk_score,
            "blocking_risks": list(readiness.blocking_risk_ids)}


def risk_view(risk: Risk, campaign: Campaign) -> dict[str, Any]:
    threshold = campaign.policy.blocking_risk_score
    return {"risk_id": str(risk.id), "campaign_id": risk.campaign_id, "description": risk.description,
            "owner": risk.owner, "probability": risk.probability, "impact": risk.impact, "score": risk.score,
            "mitigation": risk.mitigation, "status": risk.status.value,
            "blocking": risk.score >= threshold,
            "blocks_launch": blocks_launch(risk, threshold),
            "created_by": risk.created_by, "created_at": risk.created_at, "updated_at": risk.updated_at,
            "accepted": None if risk.accepted_by is None else {
                "by": risk.accepted_by, "at": risk.accepted_at, "reason": risk.acceptance_reason}}


def audit_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "campaign_id": row["campaign_id"], "action": row["action"], "actor": row["actor"],
            "at": row["at"], "reason": row["reason"], "policy_version": row["policy_version"],
            "details": row["details"]}
