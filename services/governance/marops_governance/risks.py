"""The risk register: risks scored probability x impact, and when one blocks launch.

An open risk scoring at or above the policy's blocking score blocks launch until it is
mitigated, closed or explicitly accepted. Accepting is a decision, so it names who
accepted and why, and the people behind the campaign cannot accept its risks (four-eyes).
Closing, mitigating or down-scoring a blocking risk is the same kind of decision: only an
approver who is no party to the campaign may do it, with a reason. (Risks are never
deleted: the register keeps every one.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from marops_service.auth import Principal, Role

from .domain import Campaign, Refusal, RefusalCode


class RiskStatus(StrEnum):
    open = "open"
    mitigated = "mitigated"
    accepted = "accepted"
    closed = "closed"


@dataclass(frozen=True)
class Risk:
    id: uuid.UUID
    campaign_id: str
    description: str
    owner: str
    probability: int
    impact: int
    mitigation: str | None
    status: RiskStatus
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    accepted_by: str | None = None
    accepted_at: dt.datetime | None = None
    acceptance_reason: str | None = None

    @property
    def score(self) -> int:
        return self.probability * self.impact


def blocks_launch(risk: Risk, blocking_score: int) -> bool:
    return risk.status is RiskStatus.open and risk.score >= blocking_score


def blocking(risks: list[Risk], blocking_score: int) -> list[tuple[str, int]]:
    return [(str(r.id), r.score) for r in risks if blocks_launch(r, blocking_score)]


def may_edit(campaign: Campaign, actor: Principal) -> None:
    """Requesters work on their own team's campaigns only; other roles are checked by the API."""
    if actor.roles - {Role.requester, Role.viewer}:
        return
    if actor.team != campaign.brief.team:
        raise Refusal(RefusalCode.team_forbidden,
                      f"campaign {campaign.campaign_id} belongs to team {campaign.brief.team}")


def new_risk(campaign: Campaign, actor: Principal, now: dt.datetime, *, description: str, owner: str,
             probability: int, impact: int, mitigation: str | None) -> Risk:
    may_edit(campaign, actor)
    return Risk(id=uuid.uuid4(), campaign_id=campaign.campaign_id, description=description, owner=owner,
                probability=probability, impact=impact, mitigation=mitigation, status=RiskStatus.open,
                created_by=actor.subject, created_at=now, updated_at=now)


EDITABLE = ("description", "owner", "probability", "impact", "mitigation", "status")


def update_risk(risk: Risk, campaign: Campaign, actor: Principal, now: dt.datetime,
                changes: dict[str, Any], reason: str | None = None) -> tuple[Risk, dict[str, dict[str, Any]]]:
    """Apply ``changes``; return the new risk and ``{field: {from, to}}`` for the audit trail."""
    may_edit(campaign, actor)
    if changes.get("status") == RiskStatus.accepted:
        raise Refusal(RefusalCode.risk_status, "accepting a risk is a decision: POST .../accept with a reason")
    updated = replace(risk, **{k: v for k, v in changes.items() if k in EDITABLE}, updated_at=now)
    if "status" in changes:
        updated = replace(updated, status=RiskStatus(changes["status"]))
    if blocks_launch(risk, campaign.policy.blocking_risk_score) and relaxes(risk, updated):
        may_relax_blocking(campaign, actor, reason)
    # An acceptance covered the risk as it was scored; re-scoring it needs a new decision.
    rescored = updated.score != risk.score
    if risk.status is RiskStatus.accepted and (rescored or updated.status is not RiskStatus.accepted):
        updated = replace(updated, status=updated.status if "status" in changes else RiskStatus.open,
                          accepted_by=None, accepted_at=None, acceptance_reason=None)
    diff = {f: {"from": _plain(getattr(risk, f)), "to": _plain(getattr(updated, f))}
            for f in EDITABLE if getattr(risk, f) != getattr(updated, f)}
    return updated, diff


def relaxes(before: Risk, after: Risk) -> bool:
    """Closing, mitigating or down-scoring: what would stop an open risk from blocking."""
    return after.status is not before.status or after.score < before.score


def may_relax_blocking(campaign: Campaign, actor: Principal, reason: str | None) -> None:
    """A risk that blocks launch is relaxed only by an approver (or ops_admin) who is no party
    to the campaign, with a reason; otherwise its people could clear their own way to launch."""
    if not actor.has(Role.approver, Role.ops_admin):
        raise Refusal(RefusalCode.four_eyes,
                      "this risk blocks launch: only an approver who is no party to the campaign may close, "
                      "mitigate or down-score it")
    if campaign.is_party(actor):
        raise Refusal(RefusalCode.four_eyes,
                      f"{actor.subject} wrote, submitted or owns campaign {campaign.campaign_id} "
                      "and cannot relax its blocking risks")
    if not reason:
        raise Refusal(RefusalCode.reason_required,
                      "relaxing a risk that blocks launch is a decision: send a `reason` (kept in the audit trail)")


def accept_risk(risk: Risk, campaign: Campaign, actor: Principal, now: dt.datetime, reason: str) -> Risk:
    if campaign.is_party(actor):
        raise Refusal(RefusalCode.four_eyes,
                      f"{actor.subject} wrote, submitted or owns campaign {campaign.campaign_id} "
                      "and cannot accept its risks")
    if risk.status not in (RiskStatus.open, RiskStatus.mitigated):
        raise Refusal(RefusalCode.risk_status, f"a {risk.status.value} risk cannot be accepted")
    return replace(risk, status=RiskStatus.accepted, accepted_by=actor.subject, accepted_at=now,
                   acceptance_reason=reason, updated_at=now)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value
