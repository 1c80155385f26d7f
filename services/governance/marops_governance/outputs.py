"""The response bodies of the governance API, precise enough to generate a typed client.

The views in ``schemas`` build plain dicts; FastAPI validates them against these models
(``response_model``), so the document and the answers cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from marops_events import contracts as c
from marops_service.auth import Role

from .domain import CampaignStatus, GateStatus
from .policy import PolicyDocument
from .risks import RiskStatus


class _Out(BaseModel):
    pass


# --- policy ------------------------------------------------------------------------------


class PolicyOut(PolicyDocument):
    """One policy version: the document and when, by whom and why it was published."""

    version: int
    effective_from: dt.datetime
    created_by: str
    created_at: dt.datetime
    reason: str | None


class PolicyList(_Out):
    items: list[PolicyOut]


class AuditEntryOut(_Out):
    id: int
    campaign_id: str | None
    action: str = Field(examples=["gate_approved"])
    actor: str
    at: dt.datetime
    reason: str | None
    policy_version: int | None
    details: dict[str, Any] = Field(description="What changed, per action")


class AuditList(_Out):
    items: list[AuditEntryOut]


# --- gates -------------------------------------------------------------------------------


class ApprovalOut(_Out):
    by: str
    at: dt.datetime
    comment: str | None


class RejectionOut(_Out):
    by: str
    at: dt.datetime
    kind: c.RejectionKind | None
    reason: str | None


class DeciderOut(_Out):
    role: Role | None = None
    user: str | None = None
    amount_limit: c.Money | None = None


class GateOut(_Out):
    gate_id: str
    name: str
    kind: c.GateKind
    position: int
    is_last: bool
    status: GateStatus
    actionable_at: dt.datetime | None
    due_at: dt.datetime | None
    overdue: bool
    escalated_to: Role | None
    sla_hours: int
    approvals_required: int
    approvals: list[ApprovalOut]
    approved_at: dt.datetime | None
    rejection: RejectionOut | None
    deciders: list[DeciderOut]
    escalation_role: Role


class ReservationOut(_Out):
    status: Literal["reserved", "rejected", "pending"]
    amount: c.Money | None
    reason_code: str | None
    reason: str | None
    at: dt.datetime | None


class CampaignBudgetOut(_Out):
    budget_line_id: str | None
    reservation: ReservationOut
    committed: c.Money | None


class CancelledOut(_Out):
    by: str
    at: dt.datetime
    reason: str | None


class LaunchedOut(_Out):
    by: str
    at: dt.datetime
    brief_version: int


class VersionOut(_Out):
    version: int
    submitted_at: dt.datetime
    requester: str
    policy_version: int


class PendingChangeOut(_Out):
    change_id: str
    brief_version: int = Field(description="the version the change proposes: name it in decisions on its gates")
    base_version: int
    changes: list[str] = Field(description="budget, dates, channels, kpis")
    reason: str
    requested_by: str
    requested_at: dt.datetime
    requested: c.Money | None
    channels: list[c.Channel]
    policy_version: int
    current_gate: str | None
    gates: list[GateOut] = Field(description="the gates the policy's change rules named for it")
    reservation: ReservationOut


class ChangeSummaryOut(_Out):
    change_id: str
    brief_version: int
    changes: list[str]
    gates: list[str]
    outcome: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None


class CampaignOut(_Out):
    campaign_id: str
    title: str
    team: str
    owner: str
    status: CampaignStatus
    brief_version: int
    policy_version: int
    submitted_at: dt.datetime
    requested: c.Money | None
    channels: list[c.Channel]
    current_gate: str | None
    gates: list[GateOut]
    budget: CampaignBudgetOut
    cancelled: CancelledOut | None
    launched: LaunchedOut | None
    versions: list[VersionOut]
    paused: bool = Field(False, description="a pause is in force: no launch until resumed")
    pending_change: PendingChangeOut | None = None
    changes: list[ChangeSummaryOut] = Field(default_factory=list, description="every change request, oldest first")


class GateList(_Out):
    campaign_id: str
    brief_version: int
    policy_version: int
    items: list[GateOut]


class DecisionOut(_Out):
    decision_id: uuid.UUID
    decision: Literal["approve", "reject"]
    gate_id: str
    brief_version: int
    decided_by: str
    decided_at: dt.datetime
    published: Literal["GateApproved", "GateRejected"] | None = Field(
        description="The event the decision published, if it completed the gate")
    gate: GateOut
    campaign: CampaignOut


class QueueItemOut(_Out):
    campaign_id: str
    title: str
    team: str
    brief_version: int
    requested: c.Money | None
    gate_id: str
    gate_name: str
    actionable_at: dt.datetime | None
    due_at: dt.datetime | None
    overdue: bool
    via: Literal["decider", "escalation"]
    can_approve: bool
    approvals: list[str]
    approvals_required: int


class QueueOut(_Out):
    as_of: dt.datetime
    items: list[QueueItemOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


# --- readiness and launch ----------------------------------------------------------------


class UnmetOut(_Out):
    code: str = Field(examples=["gates_not_approved"])
    detail: str


class ReadinessOut(_Out):
    campaign_id: str
    brief_version: int
    ready: bool
    unmet: list[UnmetOut]
    facts: c.ReadinessSnapshot
    blocking_risk_score: int
    blocking_risks: list[str]


class LaunchOut(c.CampaignLaunched):
    """The CampaignLaunched payload that was published."""


# --- RACI and risks ------------------------------------------------------------------------


class RaciOut(_Out):
    campaign_id: str
    raci: c.Raci
    source: Literal["brief", "edited"]
    brief_version: int | None = None
    updated_by: str
    updated_at: dt.datetime
    reason: str | None = None


class AcceptedOut(_Out):
    by: str
    at: dt.datetime | None
    reason: str | None


class RiskOut(_Out):
    risk_id: uuid.UUID
    campaign_id: str
    description: str
    owner: str
    probability: int
    impact: int
    score: int
    mitigation: str | None
    status: RiskStatus
    blocking: bool
    blocks_launch: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    accepted: AcceptedOut | None


class RiskList(_Out):
    campaign_id: str
    blocking_risk_score: int
    items: list[RiskOut]


class CampaignAudit(_Out):
    campaign_id: str
    items: list[AuditEntryOut]
    policy_changes: list[AuditEntryOut]


# --- metric catalogue --------------------------------------------------------------------


class KpiDefinitionOut(_Out):
    key: str
    name: str
    unit: str
    direction: str
    kind: str
    description: str | None = None


class CatalogueOut(_Out):
    """One metric catalogue version: every KPI definition, and when, by whom and why it was published."""

    version: int
    definitions: list[KpiDefinitionOut]
    created_by: str
    created_at: dt.datetime
    reason: str


class CatalogueList(_Out):
    items: list[CatalogueOut]
