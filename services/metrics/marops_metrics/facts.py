"""Events -> ``Facts`` in memory: the projection's rules as a pure function.

The same rules as the SQL merges of ``projection``: one fact per natural key, the
earliest (business time, event id) wins; commitments and releases once per event id.
Used to check the database side against an independent computation, and by anyone who
wants the numbers of a history without a database.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from marops_events import contracts as c
from marops_events.envelope import Envelope

from .domain import BriefVersion, Commitment, Facts, GateDecision, Launch, Milestone, Release, Spend


def facts_of(events: Iterable[Envelope]) -> Facts:
    kept: dict[tuple[str, Hashable], Envelope] = {}

    def keep(kind: str, key: Hashable, e: Envelope) -> None:
        old = kept.get((kind, key))
        if old is None or (e.time, e.id) < (old.time, old.id):
            kept[(kind, key)] = e

    for e in events:
        d = e.data
        if isinstance(d, c.BriefSubmitted):
            keep("brief", (d.campaign_id, d.version), e)
        elif isinstance(d, c.GateApproved | c.GateRejected):
            keep("decision", (d.campaign_id, d.brief_version, d.gate_id, isinstance(d, c.GateApproved)), e)
        elif isinstance(d, c.CampaignLaunched):
            keep("launch", d.campaign_id, e)
        elif isinstance(d, c.CampaignCancelled):
            keep("cancel", d.campaign_id, e)
        elif isinstance(d, c.CampaignCompleted):
            keep("complete", d.campaign_id, e)
        elif isinstance(d, c.BudgetCommitted):
            kept.setdefault(("commit", e.id), e)
        elif isinstance(d, c.BudgetReleased):
            kept.setdefault(("release", e.id), e)
        elif isinstance(d, c.SpendRecorded):
            keep("spend", (d.source_system, d.source_reference), e)
        elif isinstance(d, c.SpendReconciliationChanged):  # the highest (revision, event id) is current
            k = ("reconciliation", (d.source_system, d.source_reference))
            old = kept.get(k)
            if old is None or (d.revision, e.id) > (old.data.revision, old.id):
                kept[k] = e

    def of(kind: str) -> list[Envelope]:
        return [e for (k, _), e in kept.items() if k == kind]

    unreconciled = {(e.data.source_system, e.data.source_reference) for e in of("reconciliation")
                    if e.data.status == c.ReconciliationStatus.unreconciled}
    return Facts(
        briefs=tuple(BriefVersion(
            campaign_id=e.data.campaign_id, version=e.data.version, submitted_at=e.time, title=e.data.title,
            team=e.data.team, owner=e.data.owner, channels=tuple(ch.value for ch in e.data.channels),
            target_launch_date=e.data.target_launch_date, requested_amount=e.data.budget_request.amount.amount,
            requested_currency=e.data.budget_request.amount.currency,
            budget_line_id=e.data.budget_request.budget_line_id,
            authors=tuple(sorted({*(getattr(e.data, "authors", None) or ()), e.data.requester})),
        ) for e in of("brief")),
        decisions=tuple(GateDecision(
            campaign_id=e.data.campaign_id, brief_version=e.data.brief_version, gate_id=e.data.gate_id,
            gate_name=e.data.gate_name, gate_position=e.data.gate_position, is_last_gate=e.data.is_last_gate,
            approved=isinstance(e.data, c.GateApproved), decided_at=e.time, actionable_at=e.data.actionable_at,
            sla_hours=e.data.sla_hours,
            rejection_kind=e.data.kind.value if isinstance(e.data, c.GateRejected) else None,
        ) for e in of("decision")),
        launches=tuple(Launch(
            campaign_id=e.data.campaign_id, launched_at=e.time, brief_version=e.data.brief_version,
            kpis_with_targets=e.data.readiness.kpis_with_targets,
            tracking_plan_defined=e.data.readiness.tracking_plan_defined,
        ) for e in of("launch")),
        cancellations=tuple(Milestone(e.data.campaign_id, e.time) for e in of("cancel")),
        completions=tuple(Milestone(e.data.campaign_id, e.time) for e in of("complete")),
        commitments=tuple(Commitment(
            campaign_id=e.data.campaign_id, brief_version=e.data.brief_version,
            budget_line_id=e.data.budget_line_id, amount=e.data.amount.amount, currency=e.data.amount.currency,
            committed_at=e.time, event_id=str(e.id),
        ) for e in of("commit")),
        releases=tuple(Release(e.data.campaign_id, e.time, e.data.brief_version) for e in of("release")),
        spends=tuple(Spend(
            campaign_id=e.data.campaign_id, source_system=e.data.source_system,
            source_reference=e.data.source_reference, amount=e.data.amount.amount, currency=e.data.amount.currency,
            incurred_on=e.data.incurred_on, budget_line_id=e.data.budget_line_id, recorded_at=e.time,
            unreconciled=(e.data.source_system, e.data.source_reference) in unreconciled,
        ) for e in of("spend")),
    )
