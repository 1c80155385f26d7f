"""Turn validated history rows into historical events (pure; no I/O).

Every event keeps the row's business time and has ``source = marops/import``, which tells
consumers it is history: governance and budget do not act on it, metrics projects it.
Event ids are derived from the fact's natural key, so importing the same history again
(even a re-exported spreadsheet) yields the same ids and changes nothing downstream.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from marops_events import contracts as c
from marops_events.envelope import HISTORICAL_SOURCE_PREFIX, Envelope
from marops_events.registry import new_event

from .rows import Row

SOURCE = HISTORICAL_SOURCE_PREFIX
ID_NAMESPACE = uuid.UUID("5b0f3a55-8d1e-4c1a-9a43-2f0d8a6e7c11")
DEFAULT_SLA_HOURS = 48


def event_id(*natural_key: object) -> uuid.UUID:
    return uuid.uuid5(ID_NAMESPACE, "|".join(str(part) for part in natural_key))


def to_events(rows: Iterable[Row]) -> list[Envelope[Any]]:
    by_campaign: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_campaign[row.campaign_id].append(row)
    events: list[Envelope[Any]] = []
    for campaign_id in sorted(by_campaign):
        events.extend(_campaign_events(campaign_id, sorted(by_campaign[campaign_id], key=lambda r: (r.at, r.line))))
    return events


def _campaign_events(campaign_id: str, rows: list[Row]) -> list[Envelope[Any]]:
    events: list[Envelope[Any]] = []
    briefs: dict[int, c.BriefSubmitted] = {}
    gate_state: dict[int, tuple[int, object]] = {}  # version -> (gates approved so far, actionable since)
    last_approval = {
        row.get("version"): row.line for row in rows if row.event == "approved"
    }
    committed: c.Money | None = None
    change_ids: dict[int, str] = {}  # proposed version -> its change id
    proposals: dict[int, c.BriefSubmitted] = {}
    current = 0  # the version describing the campaign: the last submission or approved change
    pauses = 0

    def emit(data: BaseModel, row: Row, *key: object) -> None:
        events.append(new_event(data, source=SOURCE, time=row.at, correlation_id=campaign_id,
                                event_id=event_id(campaign_id, row.event, *key)))

    for row in rows:
        version = row.get("version")
        if row.event == "submitted":
            brief = _brief(campaign_id, row)
            briefs[version] = brief
            current = version
            gate_state[version] = (0, row.at)
            emit(brief, row, version)
        elif row.event == "change_requested":
            base = briefs[current]
            change_ids[version] = f"{campaign_id}-change-v{version}"
            proposal = _proposal(base, row)
            proposals[version] = proposal
            gate_state[version] = (0, row.at)
            emit(c.ChangeRequested(
                campaign_id=campaign_id, change_id=change_ids[version], base_version=base.version,
                changes=row.get("changes"), reason=row.get("reason"), requested_by=row.get("requested_by"),
                brief=proposal, base_amount=base.budget_request.amount, base_channels=base.channels), row, version)
        elif row.event == "change_decided":
            outcome = row.get("outcome")
            emit(c.ChangeDecided(
                campaign_id=campaign_id, change_id=change_ids[version], brief_version=version, outcome=outcome,
                decided_by=row.get("decided_by"), reason=row.get("reason"), policy_version=1), row, version)
            if outcome is c.ChangeOutcome.approved:
                briefs[version] = proposals[version]
                current = version
        elif row.event == "paused":
            pauses += 1
            emit(c.CampaignPaused(campaign_id=campaign_id, pause=pauses, paused_by=row.get("paused_by"),
                                  reason=row.get("reason")), row, pauses)
        elif row.event == "resumed":
            emit(c.CampaignResumed(campaign_id=campaign_id, pause=pauses, resumed_by=row.get("resumed_by"),
                                   reason=row.get("reason")), row, pauses)
        elif row.event in ("approved", "rejected"):
            approved_so_far, actionable_at = gate_state[version]
            gate = row.get("gate")
            common = dict(
                campaign_id=campaign_id, brief_version=version, policy_version=1, gate_id=gate,
                gate_name=gate.replace("_", " ").capitalize(),
                gate_kind=row.get("gate_kind") or (c.GateKind.budget if "budget" in gate else c.GateKind.review),
                gate_position=approved_so_far + 1, actionable_at=actionable_at,
                sla_hours=row.get("sla_hours") or DEFAULT_SLA_HOURS, decided_by=row.get("decided_by"),
                amount=(proposals.get(version) or briefs[version]).budget_request.amount,
                change_id=change_ids.get(version),
            )
            if row.event == "approved":
                emit(c.GateApproved(**common, is_last_gate=last_approval.get(version) == row.line,
                                    approvers=[row.get("decided_by")]), row, version, gate)
                gate_state[version] = (approved_so_far + 1, row.at)
            else:
                emit(c.GateRejected(**common, is_last_gate=False, reason=row.get("reason"),
                                    kind=row.get("rejection_kind") or c.RejectionKind.changes_requested),
                     row, version, gate)
        elif row.event == "committed":
            committed = c.Money(amount=row.get("amount"), currency=row.get("currency"))
            emit(c.BudgetCommitted(campaign_id=campaign_id, brief_version=version,
                                   budget_line_id=row.get("budget_line_id"), amount=committed), row, version)
        elif row.event == "launched":
            latest = briefs[current]
            kpis = row.get("kpis_defined")
            tracking = row.get("tracking_plan")
            emit(c.CampaignLaunched(
                campaign_id=campaign_id, brief_version=latest.version, launched_by=row.get("launched_by"),
                readiness=c.ReadinessSnapshot(
                    all_gates_approved=True,
                    kpis_with_targets=bool(latest.kpis) if kpis is None else kpis,
                    tracking_plan_defined=latest.tracking_plan is not None if tracking is None else tracking,
                    budget_committed=committed is not None, committed=committed, policy_version=1,
                ),
            ), row)
        elif row.event == "spend":
            emit(c.SpendRecorded(
                campaign_id=campaign_id, source_system=row.get("source_system"),
                source_reference=row.get("source_reference"),
                amount=c.Money(amount=row.get("amount"), currency=row.get("currency")),
                incurred_on=row.get("incurred_on"), budget_line_id=row.get("budget_line_id"),
                corrects_reference=row.get("corrects_reference"), description=row.get("description"),
            ), row, row.get("source_system"), row.get("source_reference"))
        elif row.event == "cancelled":
            emit(c.CampaignCancelled(campaign_id=campaign_id, cancelled_by=row.get("cancelled_by"),
                                     reason=row.get("reason")), row)
        elif row.event == "completed":
            emit(c.CampaignCompleted(campaign_id=campaign_id, completed_by=row.get("completed_by")), row)
    return events


def _proposal(base: c.BriefSubmitted, row: Row) -> c.BriefSubmitted:
    """The base version with what a change_requested row changes."""
    updates: dict[str, Any] = {"version": row.get("version"), "requester": row.get("requested_by")}
    if row.get("amount") is not None:
        updates["budget_request"] = base.budget_request.model_copy(
            update={"amount": c.Money(amount=row.get("amount"), currency=row.get("currency"))})
    for field in ("channels", "target_launch_date", "flight_start", "flight_end"):
        if row.get(field) is not None:
            updates[field] = row.get(field)
    return c.BriefSubmitted.model_validate({**base.model_dump(), **updates})


def _brief(campaign_id: str, row: Row) -> c.BriefSubmitted:
    kpis = [c.Kpi(metric=m, target=t, unit=u, timeframe="campaign flight") for m, t, u in row.get("kpis", [])]
    tracking = c.TrackingPlan(campaign_code=campaign_id) if row.get("tracking_plan") else None
    return c.BriefSubmitted(
        campaign_id=campaign_id, version=row.get("version"), title=row.get("title"), team=row.get("team"),
        owner=row.get("owner"), requester=row.get("requester"),
        objective=row.get("objective") or "Imported from history", channels=row.get("channels"),
        target_launch_date=row.get("target_launch_date"), flight_start=row.get("flight_start"),
        flight_end=row.get("flight_end"), kpis=kpis, tracking_plan=tracking,
        budget_request=c.BudgetRequest(amount=c.Money(amount=row.get("amount"), currency=row.get("currency")),
                                       budget_line_id=row.get("budget_line_id")),
    )
