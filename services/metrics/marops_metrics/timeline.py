"""A campaign's history: every event in business-time order with the time between steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marops_events.envelope import HISTORICAL_SOURCE_PREFIX

from .domain import Campaign, hours


@dataclass(frozen=True)
class LoggedEvent:
    event_id: str
    event_type: str
    occurred_at: datetime
    source: str
    data: dict[str, Any]
    counted: bool = True  # false for a spend repeating an earlier (source system, reference)


def _money(m: dict[str, Any] | None) -> str:
    return f"{m['amount']} {m['currency']}" if m else "?"


def describe(event_type: str, d: dict[str, Any]) -> str:
    """One human-readable line per event."""
    v = d.get("brief_version") or d.get("version")
    match event_type:
        case "BriefSubmitted":
            return f"brief v{v} submitted by {d.get('requester')}"
        case "GateApproved":
            return f"{d.get('gate_name')} approved (v{v})"
        case "GateRejected":
            return f"{d.get('gate_name')} rejected, {d.get('kind')} (v{v}): {d.get('reason')}"
        case "CampaignLaunched":
            return f"launched (v{v}) by {d.get('launched_by')}"
        case "ChangeRequested":
            return (f"change {d.get('change_id')} requested by {d.get('requested_by')} "
                    f"({', '.join(d.get('changes') or [])}; v{(d.get('brief') or {}).get('version')}): {d.get('reason')}")
        case "ChangeDecided":
            return f"change {d.get('change_id')} {d.get('outcome')} (v{v})"
        case "CampaignPaused":
            return f"paused by {d.get('paused_by')}: {d.get('reason')}"
        case "CampaignResumed":
            return f"resumed by {d.get('resumed_by')}: {d.get('reason')}"
        case "CampaignCancelled":
            return f"cancelled by {d.get('cancelled_by')}"
        case "CampaignCompleted":
            return f"completed by {d.get('completed_by')}"
        case "BudgetReserved":
            return f"{_money(d.get('amount'))} reserved on {d.get('budget_line_id')} (v{v})"
        case "BudgetReservationRejected":
            return f"reservation of {_money(d.get('requested'))} refused: {d.get('reason_code')}"
        case "BudgetCommitted":
            return f"{_money(d.get('amount'))} committed on {d.get('budget_line_id')} (v{v})"
        case "BudgetReleased":
            return f"{_money(d.get('amount'))} released ({d.get('reason')})"
        case "SpendRecorded":
            return (f"{_money(d.get('amount'))} spent, incurred {d.get('incurred_on')} "
                    f"({d.get('source_system')}/{d.get('source_reference')})")
        case "BudgetThresholdExceeded":
            return f"spend passed {d.get('threshold_percent')}% of the commitment"
        case "SlaBreached":
            return f"{d.get('gate_name')} passed its {d.get('sla_hours')}h SLA undecided (v{v})"
        case "GateEscalated":
            return f"{d.get('gate_name')} escalated to {d.get('escalation_role')} (v{v})"
        case "RetrospectiveRecorded":
            return (f"retrospective recorded by {d.get('recorded_by')} (revision {d.get('revision')}): "
                    f"{len(d.get('lessons') or [])} lesson(s), {len(d.get('actions') or [])} follow-up action(s)")
        case "SpendReconciliationChanged":
            ref = f"{d.get('source_system')}/{d.get('source_reference')}"
            if d.get("status") == "unreconciled":
                return f"{_money(d.get('amount'))} spend {ref} unreconciled: {d.get('reason_code')}"
            return f"{_money(d.get('amount'))} spend {ref} reconciled ({d.get('resolution')})"
        case "KpiResultsRecorded":
            figures = ", ".join(f"{r.get('metric')} {r.get('actual')}" for r in d.get("results") or [])
            return f"results as of {d.get('as_of')} ({d.get('source_system')}/{d.get('source_reference')}): {figures}"
        case "RiskChanged":
            blocking = ", blocks launch" if d.get("blocks_launch") else ""
            return f"risk {d.get('risk_id')} {d.get('status')}, score {d.get('score')}{blocking}: {d.get('description')}"
        case "BudgetLineRunOutForecast":
            return f"budget line {d.get('budget_line_id')} forecast to run out on {d.get('run_out_on') or 'no day'}"
    return event_type


def build_timeline(campaign_id: str, campaign: Campaign | None, events: list[LoggedEvent], *,
                   previous: datetime | None = None, first_event_at: datetime | None = None) -> dict[str, Any]:
    """``events`` may be one page of the history: ``previous`` is the time of the event just
    before it, ``first_event_at`` the time of the campaign's first event."""
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    start = campaign.version1_submitted_at if campaign and campaign.version1_submitted_at else (
        first_event_at or (ordered[0].occurred_at if ordered else None))
    steps = []
    for e in ordered:
        steps.append({
            "event_id": e.event_id, "type": e.event_type, "time": e.occurred_at, "source": e.source,
            "historical": e.source.startswith(HISTORICAL_SOURCE_PREFIX), "summary": describe(e.event_type, e.data),
            "counted": e.counted,
            "since_previous_hours": hours(e.occurred_at - previous) if previous else None,
            "since_start_hours": hours(e.occurred_at - start) if start else None,
            "data": e.data,
        })
        previous = e.occurred_at
    gates = [
        {"brief_version": d.brief_version, "gate_id": d.gate_id, "gate_name": d.gate_name,
         "outcome": "approved" if d.approved else "rejected", "actionable_at": d.actionable_at,
         "decided_at": d.decided_at, "hours_in_gate": d.hours_in_gate, "sla_hours": d.sla_hours,
         "breached_sla": d.breached_sla}
        for d in (campaign.decisions if campaign else ())
    ]
    return {
        "campaign_id": campaign_id,
        "status": campaign.status.value if campaign else None,
        "first_submitted_at": campaign.first_submitted_at if campaign else None,
        "launched_at": campaign.launched_at if campaign else None,
        "cycle_time_hours": campaign.cycle_time_hours if campaign else None,
        "gate_decisions": gates,
        "events": steps,
    }
