"""Every refused gate decision: the right problem+json status, and nothing changed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from marops_events import contracts as c
from marops_testkit import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

# actors (their roles: conftest.ROLES)
REQUESTER, OWNER, APPROVER, APPROVER_2, FINANCE = "rita", "olga", "alex", "amy", "finn"
PROBLEM = "application/problem+json"


async def refused(gov, cid: str, response, status: int, slug: str, before: dict) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status and body["detail"]
    assert await gov.snapshot(cid) == before, "a refused decision changed state"
    return body


async def submitted(gov, **kwargs) -> str:
    cid = gov.new_id()
    await gov.submit(cid, **kwargs)
    await gov.wait_campaign(cid)
    return cid


async def test_four_eyes_the_submitter_and_the_owner_cannot_decide(gov) -> None:
    cid = await submitted(gov)
    before = await gov.snapshot(cid)
    # Both also hold the approver role: the refusal is four-eyes, not a missing right.
    for who in (REQUESTER, OWNER):
        response = await gov.client.post(f"/campaigns/{cid}/gates/brief_review/decisions",
                                         json={"decision": "approve", "brief_version": 1},
                                         headers=gov.as_(who, "approver", "ops_admin"))
        await refused(gov, cid, response, 403, "four-eyes", before)
    response = await gov.client.post(f"/campaigns/{cid}/gates/brief_review/decisions",
                                     json={"decision": "reject", "brief_version": 1, "kind": "rejected",
                                           "reason": "I changed my mind"},
                                     headers=gov.as_(REQUESTER, "approver"))
    await refused(gov, cid, response, 403, "four-eyes", before)


async def test_a_decider_without_the_right_is_refused(gov) -> None:
    cid = await submitted(gov)
    before = await gov.snapshot(cid)
    body = await refused(gov, cid, await gov.decide(cid, "brief_review", FINANCE), 403, "no-decision-right", before)
    assert body["deciders"] == [{"role": "approver"}]
    await refused(gov, cid, await gov.decide(cid, "brief_review", "vic"), 403, "no-decision-right", before)


async def test_an_amount_above_the_deciders_limit_is_refused(gov) -> None:
    cid = await submitted(gov, amount="250000.00")
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    await gov.reserve(cid, amount="250000.00")
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    before = await gov.snapshot(cid)
    body = await refused(gov, cid, await gov.decide(cid, "budget_approval", FINANCE), 403,
                         "amount-limit-exceeded", before)
    assert body["requested"] == {"amount": "250000.00", "currency": "EUR"}
    # ops_admin has no limit on the default budget gate.
    assert (await gov.decide(cid, "budget_approval", "ada")).status_code == 201

    # A limit in EUR/USD/GBP does not cover a request in CHF.
    chf = await submitted(gov, amount="10.00", currency="CHF")
    assert (await gov.decide(chf, "brief_review", APPROVER)).status_code == 201
    await gov.publish(c.BudgetReserved(campaign_id=chf, brief_version=1, budget_line_id="line-ch",
                                       amount=c.Money(amount=Decimal("10.00"), currency="CHF")))
    await gov.wait_campaign(chf, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    before = await gov.snapshot(chf)
    await refused(gov, chf, await gov.decide(chf, "budget_approval", FINANCE), 403, "amount-limit-exceeded", before)


async def test_only_the_gate_currently_open_can_be_decided(gov) -> None:
    cid = await submitted(gov)
    before = await gov.snapshot(cid)
    body = await refused(gov, cid, await gov.decide(cid, "launch_readiness", APPROVER), 409, "not-current-gate",
                         before)
    assert body["current_gate"] == "brief_review"
    await refused(gov, cid, await gov.decide(cid, "launch_readiness", APPROVER, reject="too early"), 409,
                  "not-current-gate", before)
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    before = await gov.snapshot(cid)
    # Already approved: no second decision on it.
    await refused(gov, cid, await gov.decide(cid, "brief_review", APPROVER_2), 409, "not-current-gate", before)
    # A gate the policy has but that does not apply (email only: no brand/legal review).
    await refused(gov, cid, await gov.decide(cid, "brand_legal_review", APPROVER), 409, "gate-not-applicable",
                  before)
    await refused(gov, cid, await gov.decide(cid, "no_such_gate", APPROVER), 404, "unknown-gate", before)


async def test_a_decision_on_a_replaced_brief_version_is_409(gov) -> None:
    cid = await submitted(gov)
    await gov.submit(cid, version=2)
    await gov.wait_campaign(cid, lambda v: v["brief_version"] == 2)
    before = await gov.snapshot(cid)
    body = await refused(gov, cid, await gov.decide(cid, "brief_review", APPROVER, version=1), 409,
                         "stale-brief-version", before)
    assert body["current_brief_version"] == 2
    await refused(gov, cid, await gov.decide(cid, "brief_review", APPROVER, version=1, reject="old"), 409,
                  "stale-brief-version", before)
    await refused(gov, cid, await gov.decide(cid, "brief_review", APPROVER, version=3), 409,
                  "stale-brief-version", before)
    assert (await gov.decide(cid, "brief_review", APPROVER, version=2)).status_code == 201


async def test_the_budget_gate_needs_a_reservation_for_that_version(gov) -> None:
    cid = await submitted(gov)
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    before = await gov.snapshot(cid)
    body = await refused(gov, cid, await gov.decide(cid, "budget_approval", FINANCE), 409, "budget-not-reserved",
                         before)
    assert body["reservation"] == {"status": "pending"}

    await gov.publish(c.BudgetReservationRejected(
        campaign_id=cid, brief_version=1, budget_line_id="line-growth-q1",
        requested=c.Money(amount=Decimal("25000.00"), currency="EUR"), reason_code="insufficient_funds",
        reason="line-growth-q1 has 4000.00 EUR available"), source="marops/budget")
    view = await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "rejected")
    assert view["budget"]["reservation"]["reason"] == "line-growth-q1 has 4000.00 EUR available"
    before = await gov.snapshot(cid)
    body = await refused(gov, cid, await gov.decide(cid, "budget_approval", FINANCE), 409, "budget-not-reserved",
                         before)
    assert body["reservation"] == {"status": "rejected", "reason_code": "insufficient_funds",
                                   "reason": "line-growth-q1 has 4000.00 EUR available"}
    assert "4000.00 EUR available" in body["detail"]

    # A reservation of another version does not count.
    other = await submitted(gov)
    await gov.reserve(other, version=2)
    assert (await gov.decide(other, "brief_review", APPROVER)).status_code == 201

    async def stored() -> bool:
        rows = await gov.fetch("SELECT brief_version FROM budget_facts WHERE campaign_id = $1", other)
        return [r["brief_version"] for r in rows] == [2]

    await wait_for(stored)
    before = await gov.snapshot(other)
    body = await refused(gov, other, await gov.decide(other, "budget_approval", FINANCE), 409,
                         "budget-not-reserved", before)
    assert body["reservation"] == {"status": "pending"}

    # Rejecting the budget gate needs no reservation (it is often why it is rejected).
    rejected = await gov.decide(cid, "budget_approval", FINANCE, reject="No funds on the line")
    assert rejected.status_code == 201, rejected.text


async def test_a_rejection_needs_a_reason_and_a_kind(gov) -> None:
    cid = await submitted(gov)
    before = await gov.snapshot(cid)
    url = f"/campaigns/{cid}/gates/brief_review/decisions"
    for body in ({"decision": "reject", "brief_version": 1, "kind": "rejected"},
                 {"decision": "reject", "brief_version": 1, "kind": "rejected", "reason": "   "},
                 {"decision": "reject", "brief_version": 1, "reason": "no kind"},
                 {"decision": "reject", "brief_version": 1, "kind": "maybe", "reason": "bad kind"},
                 {"decision": "perhaps", "brief_version": 1},
                 {"decision": "approve"},
                 {"decision": "approve", "brief_version": 0},
                 {"decision": "approve", "brief_version": 10**30},
                 {"decision": "approve", "brief_version": 1, "status": "approved"}):
        response = await gov.client.post(url, json=body, headers=gov.as_(APPROVER))
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"]
    assert await gov.snapshot(cid) == before


async def test_a_rejected_version_stays_closed_until_resubmitted(gov) -> None:
    cid = await submitted(gov)
    assert (await gov.decide(cid, "brief_review", APPROVER, reject="Needs KPIs")).status_code == 201
    before = await gov.snapshot(cid)
    await refused(gov, cid, await gov.decide(cid, "brief_review", APPROVER_2), 409, "brief-version-rejected", before)


async def test_concurrent_approvals_of_one_gate_publish_once(gov) -> None:
    cid = await submitted(gov)
    approvers = [f"approver-{i}" for i in range(6)]
    responses = await asyncio.gather(*(
        gov.client.post(f"/campaigns/{cid}/gates/brief_review/decisions",
                        json={"decision": "approve", "brief_version": 1}, headers=gov.as_(who, "approver"))
        for who in approvers))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    assert {r.json()["type"] for r in responses if r.status_code == 409} == {"/problems/not-current-gate"}
    outbox = await gov.fetch("SELECT event_type FROM outbox WHERE partition_key = $1", cid)
    assert [r["event_type"] for r in outbox] == ["GateApproved"]
    decisions = await gov.fetch("SELECT count(*) AS n FROM gate_decisions WHERE campaign_id = $1", cid)
    assert decisions[0]["n"] == 1
