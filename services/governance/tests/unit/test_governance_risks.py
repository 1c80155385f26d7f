"""Risk scoring, blocking, updates and acceptance (pure)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marops_events import contracts as c
from marops_governance import risks
from marops_governance.domain import BriefVersion, Refusal, RefusalCode, build_campaign
from marops_governance.policy import DEFAULT_POLICY
from marops_governance.risks import Risk, RiskStatus
from marops_service.auth import Principal, Role

T0 = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
CAMPAIGN = build_campaign([BriefVersion(
    campaign_id="c-1", version=1, submitted_at=T0, requester="rita", owner="olga", team="growth", title="t",
    channels=(c.Channel.email,), amount=c.Money(amount=Decimal("1"), currency="EUR"), budget_line_id="l", kpis=(),
    tracking_plan=None, raci=c.Raci(), target_launch_date=dt.date(2027, 2, 1), policy_version=1,
    event_id=uuid.uuid4(), correlation_id="x")], {1: DEFAULT_POLICY})
ALEX = Principal("alex", frozenset({Role.approver}), None)


def risk(p: int = 3, i: int = 5, status: RiskStatus = RiskStatus.open) -> Risk:
    return Risk(uuid.uuid4(), "c-1", "pixel", "lee", p, i, None, status, "rita", T0, T0)


@given(st.integers(1, 5), st.integers(1, 5), st.sampled_from(list(RiskStatus)), st.integers(1, 25))
def test_only_open_risks_at_or_above_the_score_block(p, i, status, threshold) -> None:
    r = risk(p, i, status)
    assert r.score == p * i
    assert risks.blocks_launch(r, threshold) is (status is RiskStatus.open and p * i >= threshold)


def test_accepting_is_a_decision_with_four_eyes() -> None:
    r = risk()
    accepted = risks.accept_risk(r, CAMPAIGN, ALEX, T0, "signed off")
    assert (accepted.status, accepted.accepted_by, accepted.acceptance_reason) == (
        RiskStatus.accepted, "alex", "signed off")
    assert not risks.blocks_launch(accepted, 15)
    for party in ("rita", "olga"):
        with pytest.raises(Refusal) as caught:
            risks.accept_risk(r, CAMPAIGN, Principal(party, frozenset({Role.ops_admin}), None), T0, "mine")
        assert caught.value.code is RefusalCode.four_eyes
    with pytest.raises(Refusal):
        risks.accept_risk(risk(status=RiskStatus.closed), CAMPAIGN, ALEX, T0, "closed")


def test_rescoring_an_accepted_risk_reopens_it_and_status_accepted_needs_the_decision() -> None:
    accepted = risks.accept_risk(risk(), CAMPAIGN, ALEX, T0, "ok")
    reworded, diff = risks.update_risk(accepted, CAMPAIGN, ALEX, T0, {"description": "pixel v2"})
    assert reworded.status is RiskStatus.accepted and diff == {"description": {"from": "pixel", "to": "pixel v2"}}
    rescored, diff = risks.update_risk(accepted, CAMPAIGN, ALEX, T0, {"impact": 4})
    assert rescored.status is RiskStatus.open and rescored.accepted_by is None
    assert diff["status"] == {"from": "accepted", "to": "open"}
    with pytest.raises(Refusal) as caught:
        risks.update_risk(risk(), CAMPAIGN, ALEX, T0, {"status": RiskStatus.accepted})
    assert caught.value.code is RefusalCode.risk_status


def test_requesters_edit_only_their_own_teams_risks() -> None:
    mine = Principal("ravi", frozenset({Role.requester}), "growth")
    theirs = Principal("rob", frozenset({Role.requester}), "brand")
    assert risks.new_risk(CAMPAIGN, mine, T0, description="d", owner="o", probability=1, impact=1,
                          mitigation=None).created_by == "ravi"
    with pytest.raises(Refusal) as caught:
        risks.new_risk(CAMPAIGN, theirs, T0, description="d", owner="o", probability=1, impact=1, mitigation=None)
    assert caught.value.code is RefusalCode.team_forbidden
