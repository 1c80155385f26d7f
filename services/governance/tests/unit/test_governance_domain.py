"""Gate derivation, decisions, readiness and the queue as pure functions (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marops_events import contracts as c
from marops_governance import domain
from marops_governance.domain import (
    BriefVersion,
    BudgetFact,
    BudgetFactKind,
    BudgetRelease,
    Cancellation,
    Decision,
    DecisionRequest,
    GateStatus,
    Refusal,
    RefusalCode,
    build_campaign,
)
from marops_governance.policy import DEFAULT_POLICY, PolicyDocument
from marops_service.auth import Principal, Role

T0 = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
EUR = "EUR"


def money(amount: str, currency: str = EUR) -> c.Money:
    return c.Money(amount=Decimal(amount), currency=currency)


def brief(version: int = 1, *, amount: str = "25000", currency: str = EUR, channels=("email",), at=T0,
          kpis: bool = True, tracking: bool = True, policy_version: int = 1) -> BriefVersion:
    return BriefVersion(
        campaign_id="c-1", version=version, submitted_at=at, requester="rita", owner="olga", team="growth",
        title="Spring", channels=tuple(c.Channel(ch) for ch in channels), amount=money(amount, currency),
        budget_line_id="line-1",
        kpis=(c.Kpi(metric="leads", target=Decimal("10"), unit="leads", timeframe="90d"),) if kpis else (),
        tracking_plan=c.TrackingPlan(campaign_code="spring") if tracking else None, raci=c.Raci(),
        target_launch_date=dt.date(2027, 3, 1), policy_version=policy_version, event_id=uuid.uuid4(),
        correlation_id="corr-1",
    )


def who(subject: str, *roles: Role) -> Principal:
    return Principal(subject, frozenset(roles), "growth")


ALEX, AMY, FINN, ADA = (who("alex", Role.approver), who("amy", Role.approver), who("finn", Role.finance),
                        who("ada", Role.ops_admin))


def approval(gate_id: str, by: str, at: dt.datetime, version: int = 1) -> Decision:
    return Decision("c-1", version, gate_id, 1, True, by, at)


def campaign(versions=None, decisions=(), budget=(), releases=(), cancellation=None, policy=DEFAULT_POLICY):
    return build_campaign(versions or [brief()], {1: policy}, decisions, budget, releases, cancellation)


def reserved(version: int = 1, at: dt.datetime = T0) -> BudgetFact:
    return BudgetFact(version, BudgetFactKind.reserved, "line-1", money("25000"), at)


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


# --- which gates apply -----------------------------------------------------------------


def test_default_gates_depend_on_the_channels() -> None:
    assert [g.id for g in domain.applicable_gates(DEFAULT_POLICY, brief(channels=("email",)))] == [
        "brief_review", "budget_approval", "launch_readiness"]
    assert [g.id for g in domain.applicable_gates(DEFAULT_POLICY, brief(channels=("email", "video")))] == [
        "brief_review", "budget_approval", "brand_legal_review", "launch_readiness"]


def threshold_policy(threshold: str = "50000", currency: str = EUR) -> PolicyDocument:
    doc = DEFAULT_POLICY.model_dump(mode="json")
    doc["gates"].insert(2, {"id": "exec", "name": "Exec", "deciders": [{"user": "ceo"}], "sla_hours": 24,
                            "condition": {"type": "amount_at_least",
                                          "threshold": {"amount": threshold, "currency": currency}}})
    return PolicyDocument.model_validate(doc)


@pytest.mark.parametrize(("amount", "currency", "applies"), [
    ("49999.99", EUR, False), ("50000", EUR, True), ("50000.01", EUR, True), ("1", "USD", True)])
def test_amount_threshold_is_inclusive_and_fails_safe_across_currencies(amount, currency, applies) -> None:
    gate = threshold_policy().gate("exec")
    assert gate is not None
    assert domain.gate_applies(gate, brief(amount=amount, currency=currency)) is applies


# --- gate state ------------------------------------------------------------------------


def test_the_first_gate_is_actionable_at_submission_and_each_next_at_the_previous_approval() -> None:
    decisions = [approval("brief_review", "alex", T0 + hours(5)), approval("budget_approval", "finn", T0 + hours(9))]
    gates = campaign(decisions=decisions).gates
    assert [(g.id, g.status, g.actionable_at) for g in gates] == [
        ("brief_review", GateStatus.approved, T0),
        ("budget_approval", GateStatus.approved, T0 + hours(5)),
        ("launch_readiness", GateStatus.open, T0 + hours(9)),
    ]
    assert gates[2].due_at == T0 + hours(9 + 24)
    assert [g.position for g in gates] == [1, 2, 3] and [g.is_last for g in gates] == [False, False, True]


def test_a_new_version_reopens_every_gate_from_the_first() -> None:
    v2_at = T0 + hours(30)
    decisions = [approval("brief_review", "alex", T0 + hours(1))]
    state = campaign(versions=[brief(1), brief(2, at=v2_at)], decisions=decisions)
    assert state.brief.version == 2
    assert [g.status for g in state.gates] == [GateStatus.open, GateStatus.waiting, GateStatus.waiting]
    assert state.gates[0].actionable_at == v2_at


def test_rejection_stops_the_walk_and_cancellation_closes_open_gates() -> None:
    rejection = Decision("c-1", 1, "brief_review", 1, False, "alex", T0 + hours(2),
                         c.RejectionKind.changes_requested, "no KPIs")
    state = campaign(decisions=[rejection])
    assert [g.status for g in state.gates] == [GateStatus.rejected, GateStatus.waiting, GateStatus.waiting]
    assert state.status is domain.CampaignStatus.changes_requested and state.current_gate is None
    cancelled = campaign(cancellation=Cancellation(T0 + hours(1), "olga"))
    assert {g.status for g in cancelled.gates} == {GateStatus.closed}
    assert cancelled.status is domain.CampaignStatus.cancelled


@given(st.permutations(range(4)))
def test_gate_state_does_not_depend_on_the_order_decisions_are_loaded(order) -> None:
    decisions = [approval("brief_review", "alex", T0 + hours(1)), approval("budget_approval", "finn", T0 + hours(2)),
                 approval("launch_readiness", "amy", T0 + hours(3)),
                 approval("brief_review", "old", T0 + hours(0.5))]
    shuffled = [decisions[i] for i in order]
    assert campaign(decisions=shuffled).gates == campaign(decisions=sorted(decisions, key=lambda d: d.decided_at)).gates


@given(st.lists(st.tuples(st.sampled_from(list(BudgetFactKind)), st.integers(1, 3), st.integers(0, 100)),
                max_size=8), st.randoms())
def test_budget_answers_converge_whatever_their_order(facts, rnd) -> None:
    records = [BudgetFact(v, kind, "line-1", money("100"), T0 + hours(h),
                          "insufficient_funds" if kind is BudgetFactKind.reservation_rejected else None)
               for kind, v, h in facts]
    shuffled = list(records)
    rnd.shuffle(shuffled)
    versions = [brief(v) for v in (1, 2, 3)]
    a, b = campaign(versions=versions, budget=records), campaign(versions=versions, budget=shuffled)
    assert a.reservation() == b.reservation() and a.commitment == b.commitment


def test_the_latest_budget_answer_wins_and_a_release_undoes_a_commitment() -> None:
    rejected = BudgetFact(1, BudgetFactKind.reservation_rejected, "line-1", money("25000"), T0 + hours(1),
                          "insufficient_funds", "short by 4000")
    assert campaign(budget=[rejected]).reservation().status == "rejected"
    assert campaign(budget=[rejected, reserved(at=T0 + hours(2))]).reservation().status == "reserved"
    committed = BudgetFact(1, BudgetFactKind.committed, "line-1", money("25000"), T0 + hours(3))
    assert campaign(budget=[committed]).commitment == committed
    released = BudgetRelease(money("25000"), "cancelled", T0 + hours(4))
    assert campaign(budget=[committed], releases=[released]).commitment is None
    earlier_release = BudgetRelease(money("25000"), "rejected", T0 + hours(2))
    assert campaign(budget=[committed], releases=[earlier_release]).commitment == committed


# --- decisions -------------------------------------------------------------------------


def refusal(state, request: DecisionRequest, actor: Principal, now=T0 + hours(1)) -> RefusalCode:
    with pytest.raises(Refusal) as caught:
        domain.decide(state, request, actor, now)
    return caught.value.code


def approve(gate_id: str, version: int = 1) -> DecisionRequest:
    return DecisionRequest(gate_id, version, True)


def test_every_refusal_rule() -> None:
    fresh = campaign()
    assert refusal(fresh, approve("brief_review"), who("rita", Role.approver)) is RefusalCode.four_eyes
    assert refusal(fresh, approve("brief_review"), who("olga", Role.ops_admin)) is RefusalCode.four_eyes
    assert refusal(fresh, approve("brief_review"), FINN) is RefusalCode.no_decision_right
    assert refusal(fresh, approve("launch_readiness"), ALEX) is RefusalCode.not_current_gate
    assert refusal(fresh, approve("brand_legal_review"), ALEX) is RefusalCode.gate_not_applicable
    assert refusal(fresh, approve("nope"), ALEX) is RefusalCode.unknown_gate
    assert refusal(fresh, approve("brief_review", version=2), ALEX) is RefusalCode.stale_brief_version
    cancelled = campaign(cancellation=Cancellation(T0, "olga"))
    assert refusal(cancelled, approve("brief_review"), ALEX) is RefusalCode.campaign_cancelled

    at_budget = campaign(decisions=[approval("brief_review", "alex", T0 + hours(1))])
    assert refusal(at_budget, approve("budget_approval"), FINN) is RefusalCode.budget_not_reserved
    big = campaign(versions=[brief(amount="100000.01")], decisions=[approval("brief_review", "alex", T0)],
                   budget=[reserved()])
    assert refusal(big, approve("budget_approval"), FINN) is RefusalCode.amount_limit_exceeded
    at_limit = campaign(versions=[brief(amount="100000")], decisions=[approval("brief_review", "alex", T0)],
                        budget=[reserved()])
    assert domain.decide(at_limit, approve("budget_approval"), FINN, T0 + hours(1)).event is not None


def test_the_budget_refusal_explains_a_rejected_reservation() -> None:
    rejected = BudgetFact(1, BudgetFactKind.reservation_rejected, "line-1", money("25000"), T0,
                          "currency_mismatch", "line-1 is in USD")
    state = campaign(decisions=[approval("brief_review", "alex", T0)], budget=[rejected])
    with pytest.raises(Refusal) as caught:
        domain.decide(state, approve("budget_approval"), FINN, T0 + hours(1))
    assert caught.value.extra == {"reservation": {"status": "rejected", "reason_code": "currency_mismatch",
                                                  "reason": "line-1 is in USD"}}
    # Rejecting needs no reservation and no amount right.
    outcome = domain.decide(state, DecisionRequest("budget_approval", 1, False, c.RejectionKind.rejected, "no money"),
                            FINN, T0 + hours(1))
    assert isinstance(outcome.event, c.GateRejected) and outcome.event.gate_kind is c.GateKind.budget


def test_an_approval_publishes_the_facts_consumers_need() -> None:
    decided = T0 + hours(7)
    state = campaign(decisions=[approval("brief_review", "alex", T0 + hours(2))], budget=[reserved()])
    outcome = domain.decide(state, approve("budget_approval"), FINN, decided)
    event = outcome.event
    assert isinstance(event, c.GateApproved)
    assert (event.gate_id, event.gate_kind, event.gate_position, event.is_last_gate) == (
        "budget_approval", c.GateKind.budget, 2, False)
    assert event.actionable_at == T0 + hours(2) and event.sla_hours == 72
    assert event.amount == money("25000") and event.approvers == ["finn"] and event.decided_by == "finn"
    assert outcome.decision.decided_at == decided and outcome.gate.status is GateStatus.approved


def test_a_gate_needing_two_approvals_publishes_on_the_second() -> None:
    doc = DEFAULT_POLICY.model_dump(mode="json")
    doc["gates"][0]["approvals_required"] = 2
    policy = PolicyDocument.model_validate(doc)
    state = campaign(policy=policy)
    first = domain.decide(state, approve("brief_review"), ALEX, T0 + hours(1))
    assert first.event is None and first.gate.status is GateStatus.open and first.gate.approvers == ["alex"]
    state = campaign(policy=policy, decisions=[first.decision])
    assert refusal(state, approve("brief_review"), ALEX) is RefusalCode.already_approved
    # nor may the first approver turn that approval into a rejection (it was a 500: one decision per decider)
    changed_mind = DecisionRequest("brief_review", 1, False, c.RejectionKind.rejected, "changed my mind")
    assert refusal(state, changed_mind, ALEX) is RefusalCode.already_approved
    second = domain.decide(state, approve("brief_review"), AMY, T0 + hours(2))
    assert isinstance(second.event, c.GateApproved) and second.event.approvers == ["alex", "amy"]
    after = campaign(policy=policy, decisions=[first.decision, second.decision])
    assert after.gates[1].actionable_at == T0 + hours(2)


def test_past_its_sla_a_gate_can_be_decided_by_the_escalation_role() -> None:
    state = campaign()
    assert refusal(state, approve("brief_review"), ADA, now=T0 + hours(47)) is RefusalCode.no_decision_right
    outcome = domain.decide(state, approve("brief_review"), ADA, T0 + hours(48) + dt.timedelta(seconds=1))
    assert outcome.event is not None


# --- readiness and launch --------------------------------------------------------------


def ready_campaign(**kwargs) -> domain.Campaign:
    decisions = [approval("brief_review", "alex", T0 + hours(1)), approval("budget_approval", "finn", T0 + hours(2)),
                 approval("launch_readiness", "amy", T0 + hours(3))]
    committed = BudgetFact(1, BudgetFactKind.committed, "line-1", money("25000"), T0 + hours(2.5))
    return campaign(decisions=decisions, budget=[reserved(), committed], **kwargs)


def test_readiness_lists_every_unmet_condition() -> None:
    state = campaign(versions=[brief(kpis=False, tracking=False)])
    readiness = domain.assess_readiness(state, [("r-1", 20)])
    assert [u.code for u in readiness.unmet] == ["gates_not_approved", "kpis_missing", "tracking_plan_missing",
                                                 "budget_not_committed", "blocking_risks_open"]
    assert readiness.snapshot.open_blocking_risks == 1 and not readiness.ready


def test_the_owner_launches_a_ready_campaign_with_its_snapshot() -> None:
    state = ready_campaign()
    readiness = domain.assess_readiness(state, [])
    assert readiness.ready
    launched = domain.launch(state, readiness, who("olga", Role.requester))
    assert launched.readiness == c.ReadinessSnapshot(
        all_gates_approved=True, kpis_with_targets=True, tracking_plan_defined=True, budget_committed=True,
        committed=money("25000"), open_blocking_risks=0, policy_version=1)
    with pytest.raises(Refusal) as caught:
        domain.launch(state, readiness, ALEX)
    assert caught.value.code is RefusalCode.launch_forbidden
    with pytest.raises(Refusal) as caught:
        domain.launch(state, domain.assess_readiness(state, [("r", 25)]), who("olga"))
    assert caught.value.code is RefusalCode.not_ready
    assert caught.value.extra["unmet"][0]["code"] == "blocking_risks_open"


# --- queue -----------------------------------------------------------------------------


@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=8))
def test_queue_puts_overdue_first_then_orders_by_due_time(ages_in_hours) -> None:
    now = T0 + hours(300)
    campaigns = []
    for i, age in enumerate(ages_in_hours):
        b = brief(at=now - hours(age))
        campaigns.append(build_campaign([BriefVersion(**{**b.__dict__, "campaign_id": f"c-{i}"})], {1: DEFAULT_POLICY}))
    items = domain.approval_queue(campaigns, ALEX, now)
    assert len(items) == len(campaigns)
    overdue = [i.overdue for i in items]
    assert overdue == sorted(overdue, reverse=True)
    assert all(i.overdue == (now > i.gate.due_at) for i in items)
    for group in (True, False):
        dues = [i.gate.due_at for i in items if i.overdue is group]
        assert dues == sorted(dues)
    escalated = domain.approval_queue(campaigns, ADA, now)
    assert [i.campaign.campaign_id for i in escalated] == [i.campaign.campaign_id for i in items if i.overdue]
    assert all(i.via == "escalation" for i in escalated)
