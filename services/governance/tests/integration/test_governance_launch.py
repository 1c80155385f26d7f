"""Launch readiness, the launch itself, and the risk register that can block it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUESTER, OWNER, APPROVER, FINANCE, ADMIN, VIEWER = "rita", "olga", "alex", "finn", "ada", "vic"
ALL_UNMET = ["gates_not_approved", "kpis_missing", "tracking_plan_missing", "budget_not_committed",
             "blocking_risks_open"]


async def approved_and_committed(gov, **brief) -> str:
    """A campaign (email only: three gates) with every gate approved and budget committed."""
    cid = gov.new_id()
    await gov.submit(cid, **brief)
    await gov.wait_campaign(cid)
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    await gov.reserve(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    assert (await gov.decide(cid, "budget_approval", FINANCE)).status_code == 201
    assert (await gov.decide(cid, "launch_readiness", APPROVER)).status_code == 201
    await gov.commit(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["committed"] is not None)
    return cid


async def add_risk(gov, cid: str, probability: int, impact: int, who: str = REQUESTER, **extra) -> dict:
    response = await gov.client.post(f"/campaigns/{cid}/risks", headers=gov.as_(who), json={
        "description": "Tracking pixel not approved by legal", "owner": "lee", "probability": probability,
        "impact": impact, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def readiness(gov, cid: str) -> dict:
    response = await gov.get(f"/campaigns/{cid}/readiness")
    assert response.status_code == 200, response.text
    return response.json()


async def test_readiness_lists_every_unmet_condition_and_launch_refuses_with_them(gov) -> None:
    cid = gov.new_id()
    await gov.submit(cid, kpis=False, tracking=False)
    await gov.wait_campaign(cid)
    await add_risk(gov, cid, 4, 4)                     # 16 >= 15: blocks launch
    await add_risk(gov, cid, 2, 3)                     # 6: does not
    ready = await readiness(gov, cid)
    assert ready["ready"] is False
    assert [u["code"] for u in ready["unmet"]] == ALL_UNMET
    assert "brief_review (open)" in ready["unmet"][0]["detail"]
    assert ready["facts"] == {"all_gates_approved": False, "kpis_with_targets": False,
                              "tracking_plan_defined": False, "budget_committed": False, "committed": None,
                              "open_blocking_risks": 1, "policy_version": 1}

    outbox_before = await gov.fetch("SELECT count(*) AS n FROM outbox")
    refused = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/not-ready"
    assert [u["code"] for u in refused.json()["unmet"]] == ALL_UNMET
    assert await gov.fetch("SELECT count(*) AS n FROM outbox") == outbox_before
    assert (await gov.campaign(cid))["launched"] is None


async def test_accepting_a_blocking_risk_is_a_decision_then_the_owner_launches(gov) -> None:
    cid = await approved_and_committed(gov)
    assert (await readiness(gov, cid))["ready"] is True
    risk = await add_risk(gov, cid, 5, 3)               # 15: blocking
    assert risk["score"] == 15 and risk["blocking"] is True and risk["blocks_launch"] is True
    ready = await readiness(gov, cid)
    assert [u["code"] for u in ready["unmet"]] == ["blocking_risks_open"]
    assert ready["blocking_risks"] == [risk["risk_id"]]

    accept = f"/campaigns/{cid}/risks/{risk['risk_id']}/accept"
    for who, roles, status in ((OWNER, ("requester", "approver"), 403), (REQUESTER, ("approver",), 403),
                               (VIEWER, ("viewer",), 403), (FINANCE, ("finance",), 403)):
        response = await gov.client.post(accept, json={"reason": "fine"}, headers=gov.as_(who, *roles))
        assert response.status_code == status, (who, response.text)
    assert (await gov.client.post(accept, json={}, headers=gov.as_(APPROVER))).status_code == 422
    accepted = await gov.client.post(accept, json={"reason": "Legal signed off the pixel by email"},
                                     headers=gov.as_(APPROVER))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["accepted"]["by"] == APPROVER
    again = await gov.client.post(accept, json={"reason": "twice"}, headers=gov.as_(APPROVER))
    assert again.status_code == 409 and again.json()["type"] == "/problems/risk-status"
    assert (await readiness(gov, cid))["ready"] is True

    stale = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER), json={"brief_version": 2})
    assert stale.status_code == 409 and stale.json()["type"] == "/problems/stale-brief-version"
    not_owner = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(APPROVER))
    assert not_owner.status_code == 403 and not_owner.json()["type"] == "/problems/launch-forbidden"
    launched = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert launched.status_code == 201, launched.text
    assert launched.json()["readiness"]["open_blocking_risks"] == 0
    twice = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert twice.status_code == 409
    assert [u["code"] for u in twice.json()["unmet"]] == ["already_launched"]
    [event] = await gov.published("CampaignLaunched", cid, count=1)
    assert event["data"]["readiness"]["budget_committed"] is True

    audit = (await gov.get(f"/campaigns/{cid}/audit")).json()["items"]
    [acceptance] = [e for e in audit if e["action"] == "risk_accepted"]
    assert acceptance["actor"] == APPROVER and acceptance["reason"] == "Legal signed off the pixel by email"
    assert acceptance["policy_version"] == 1 and acceptance["details"]["blocking"] is True
    assert acceptance["details"]["score"] == 15


async def test_risk_register_scores_statuses_and_rights(gov) -> None:
    cid = gov.new_id()
    await gov.submit(cid)
    await gov.wait_campaign(cid)
    risk = await add_risk(gov, cid, 2, 2, mitigation="Ask legal early")
    assert (risk["score"], risk["status"], risk["blocking"]) == (4, "open", False)
    url = f"/campaigns/{cid}/risks/{risk['risk_id']}"

    raised = await gov.client.patch(url, json={"probability": 4, "impact": 5, "reason": "Legal is on holiday"},
                                    headers=gov.as_(APPROVER))
    assert raised.status_code == 200, raised.text
    assert (raised.json()["score"], raised.json()["blocks_launch"]) == (20, True)
    # A blocking risk is relaxed only by an approver who is no party, with a reason (issue 11 item 2).
    by_requester = await gov.client.patch(url, json={"status": "mitigated", "reason": "done"},
                                          headers=gov.as_(REQUESTER))
    assert by_requester.status_code == 403 and by_requester.json()["type"] == "/problems/four-eyes"
    no_reason = await gov.client.patch(url, json={"status": "mitigated"}, headers=gov.as_(APPROVER))
    assert no_reason.status_code == 422 and no_reason.json()["type"] == "/problems/reason-required"
    mitigated = await gov.client.patch(url, json={"status": "mitigated", "reason": "Legal reviewed the pixel"},
                                       headers=gov.as_(APPROVER))
    assert mitigated.json()["status"] == "mitigated" and mitigated.json()["blocks_launch"] is False
    sneaky = await gov.client.patch(url, json={"status": "accepted"}, headers=gov.as_(ADMIN))
    assert sneaky.status_code == 409 and sneaky.json()["type"] == "/problems/risk-status"

    accepted = await gov.client.post(f"{url}/accept", json={"reason": "Acceptable"}, headers=gov.as_(ADMIN))
    assert accepted.json()["status"] == "accepted"
    # Re-scoring an accepted risk needs a new decision: it is open again.
    rescored = await gov.client.patch(url, json={"impact": 4}, headers=gov.as_(APPROVER))
    assert (rescored.json()["status"], rescored.json()["score"], rescored.json()["accepted"]) == ("open", 16, None)
    closed = await gov.client.patch(url, json={"status": "closed", "reason": "Pixel removed"},
                                    headers=gov.as_(APPROVER))
    assert closed.json()["status"] == "closed"

    for body in ({"probability": 6}, {"impact": 0}, {"status": "ignored"}, {"description": None},
                 {"probability": "high"}, {"score": 3}):
        response = await gov.client.patch(url, json=body, headers=gov.as_(APPROVER))
        assert response.status_code == 422, (body, response.text)
    other_team = await gov.client.post(f"/campaigns/{cid}/risks", headers=gov.as_("rob", "requester", team="brand"),
                                       json={"description": "x", "owner": "rob", "probability": 1, "impact": 1})
    assert other_team.status_code == 404  # another team's campaign is not disclosed (issue 11 item 1)
    viewer = await gov.client.patch(url, json={"impact": 1}, headers=gov.as_(VIEWER))
    assert viewer.status_code == 403
    missing = await gov.client.patch(f"/campaigns/{cid}/risks/00000000-0000-0000-0000-000000000000",
                                     json={"impact": 1}, headers=gov.as_(APPROVER))
    assert missing.status_code == 404

    listed = (await gov.get(f"/campaigns/{cid}/risks")).json()
    assert listed["blocking_risk_score"] == 15
    assert [(r["score"], r["status"]) for r in listed["items"]] == [(16, "closed")]
    audit = [e for e in (await gov.get(f"/campaigns/{cid}/audit")).json()["items"] if e["action"].startswith("risk")]
    assert [e["action"] for e in audit] == ["risk_created", "risk_updated", "risk_updated", "risk_accepted",
                                            "risk_updated", "risk_updated"]
    assert audit[1]["reason"] == "Legal is on holiday"
    assert audit[1]["details"]["changes"] == {"probability": {"from": 2, "to": 4}, "impact": {"from": 2, "to": 5}}
    assert audit[4]["details"]["changes"]["status"] == {"from": "accepted", "to": "open"}
