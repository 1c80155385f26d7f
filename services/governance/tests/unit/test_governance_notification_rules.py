"""The dispatch rules of notifications, as pure functions over a campaign and the directory."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal

from marops_events import contracts as c
from marops_governance.domain import BriefVersion, ChangeInfo, Decision, Launch, build_campaign
from marops_governance.notifications import (
    DeliveryChannel,
    Kind,
    Recipient,
    campaign_notices,
    deliveries,
    escalation_notice,
    overdue_gates,
    review_pack_notice,
    warning_at,
)
from marops_governance.policy import DEFAULT_POLICY
from marops_service.auth import Role

T0 = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
WARNING = dt.timedelta(hours=4)
DIRECTORY = [
    Recipient("alex", email="alex@example.com", roles=frozenset({Role.approver}), webhook_url="https://h.example/x"),
    Recipient("amy", email="amy@example.com", roles=frozenset({Role.approver}), kinds=frozenset({Kind.sla_warning})),
    Recipient("rita", email="rita@example.com", roles=frozenset({Role.approver, Role.requester})),  # the requester
    Recipient("olga", email="olga@example.com", roles=frozenset({Role.requester})),
    Recipient("finn", email="finn@example.com", roles=frozenset({Role.finance})),
    Recipient("ada", email="ada@example.com", roles=frozenset({Role.ops_admin})),
]


def brief() -> BriefVersion:
    return BriefVersion(
        campaign_id="c-1", version=1, submitted_at=T0, requester="rita", owner="olga", team="growth", title="Spring",
        channels=(c.Channel.email,), amount=c.Money(amount=Decimal("25000"), currency="EUR"), budget_line_id="l-1",
        kpis=(), tracking_plan=None, raci=c.Raci(), target_launch_date=dt.date(2027, 3, 1), policy_version=1,
        event_id=uuid.uuid4(), correlation_id="c-1")


def campaign(*decisions: Decision):
    return build_campaign([brief()], {1: DEFAULT_POLICY}, decisions)


def keys(notices) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.key, n.recipients) for n in notices]


def test_the_approvers_of_the_open_gate_are_told_but_never_a_party_of_the_campaign() -> None:
    # rita holds the approver role but wrote the brief: four-eyes keeps her out
    assert keys(campaign_notices(campaign(), DIRECTORY, T0)) == [
        ("gate-actionable:c-1:v1:brief_review", ("alex", "amy"))]


def test_a_decision_tells_owner_and_requester_and_opens_the_next_gate_for_its_deciders() -> None:
    approved = campaign(Decision("c-1", 1, "brief_review", 1, True, "alex", T0 + dt.timedelta(hours=3)))
    assert keys(campaign_notices(approved, DIRECTORY, T0 + dt.timedelta(hours=3))) == [
        ("gate-decided:c-1:v1:brief_review:approved", ("olga", "rita")),
        ("gate-actionable:c-1:v1:budget_approval", ("ada", "finn"))]


def test_reminders_come_before_the_sla_runs_out_and_the_escalation_after_it() -> None:
    found = campaign()
    gate = found.gates[0]
    assert warning_at(gate, WARNING) == T0 + dt.timedelta(hours=44)  # 48h SLA, 4h before
    assert [n.kind for n in campaign_notices(found, DIRECTORY, T0 + dt.timedelta(hours=43), warning=WARNING)] == [
        Kind.gate_actionable]
    at_44 = campaign_notices(found, DIRECTORY, T0 + dt.timedelta(hours=44), warning=WARNING)
    assert keys(at_44)[1] == ("sla-warning:c-1:v1:brief_review", ("alex", "amy"))
    assert overdue_gates(found, T0 + dt.timedelta(hours=48)) == []
    [(view, late)] = overdue_gates(found, T0 + dt.timedelta(hours=48, seconds=1))
    notice = escalation_notice(view, late, DIRECTORY)
    assert notice is not None and (notice.key, notice.recipients) == ("escalation:c-1:v1:brief_review", ("ada",))
    assert notice.data["change_id"] is None and "change request" not in notice.text


def test_the_gate_of_a_running_campaigns_change_escalates_on_the_proposal_and_names_the_change() -> None:
    approvals = [Decision("c-1", 1, gate, 1, True, who, T0 + dt.timedelta(hours=n))
                 for n, (gate, who) in enumerate([("brief_review", "alex"), ("budget_approval", "finn")], start=1)]
    readiness = c.ReadinessSnapshot(all_gates_approved=True, kpis_with_targets=True, tracking_plan_defined=True,
                                    budget_committed=True, policy_version=1)
    launch = Launch(1, "olga", T0 + dt.timedelta(days=3), readiness)
    asked = T0 + dt.timedelta(days=10)
    proposal = replace(brief(), version=2, submitted_at=asked, event_id=uuid.uuid4(),
                       change=ChangeInfo("chg-1", 1, ("dates",), "Later start", ("brief_review",)))
    found = build_campaign([brief(), proposal], {1: DEFAULT_POLICY}, approvals, launch=launch)
    assert found is not None and found.launch is not None and found.pending_change is not None
    [gate] = found.change_gates
    assert gate.due_at == asked + dt.timedelta(hours=48)
    assert overdue_gates(found, gate.due_at) == []
    [(view, late)] = overdue_gates(found, gate.due_at + dt.timedelta(seconds=1))
    assert (view.brief.version, late.id) == (2, "brief_review")
    notice = escalation_notice(view, late, DIRECTORY)
    assert notice is not None and (notice.key, notice.recipients) == ("escalation:c-1:v2:brief_review", ("ada",))
    assert notice.data["change_id"] == "chg-1" and "brief version 2, change request chg-1" in notice.text


def test_each_recipient_gets_the_channels_they_have_and_the_kinds_they_want() -> None:
    found = deliveries(campaign_notices(campaign(), DIRECTORY, T0), DIRECTORY)
    assert [(d.dedupe_key, d.channel, d.target) for d in found] == [
        ("gate-actionable:c-1:v1:brief_review:alex:email", DeliveryChannel.email, "alex@example.com"),
        ("gate-actionable:c-1:v1:brief_review:alex:webhook", DeliveryChannel.webhook, "https://h.example/x")]
    # amy wants reminders only


def test_the_review_pack_goes_to_the_roles_that_read_every_campaign() -> None:
    pack = c.ReviewPackPublished(
        pack_id="week-2027-01-04", period=c.ReviewPeriod.week, start=dt.date(2027, 1, 4), end=dt.date(2027, 1, 10),
        as_of=T0, path="/reviews?period=week&start=2027-01-04",
        headline=[c.ReviewFigure(metric="launches", current=Decimal(3), previous=None)],
        sections=c.ReviewSections(gates_overdue=1, sla_breaches=0, launches=3, late_launches=1, off_pace=0,
                                  blocking_risks=0, completed_without_results=0, completed_without_retrospective=0,
                                  rejections=0))
    notice = review_pack_notice(pack, DIRECTORY)
    assert notice is not None and notice.kind is Kind.review_pack
    # approvers, finance and ops_admin read everything; olga, only a requester, does not (rita holds approver)
    assert (notice.key, notice.recipients) == ("review-pack:week-2027-01-04", ("ada", "alex", "amy", "finn", "rita"))
    assert "launches: 3 (previous period: -)" in notice.text and "gates overdue: 1" in notice.text
    # amy wants reminders only
    assert sorted(d.recipient for d in deliveries([notice], DIRECTORY)) == ["ada", "alex", "alex", "finn", "rita"]
    assert review_pack_notice(pack, [r for r in DIRECTORY if r.subject == "olga"]) is None
