"""Issue 11 items 1, 2 and 4 in governance, written as the attacks they close."""

from __future__ import annotations

import pytest

from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"
REQUESTER, OWNER, APPROVER = "rita", "olga", "alex"


def reads(cid: str) -> list[str]:
    return [f"/campaigns/{cid}", f"/campaigns/{cid}/gates", f"/campaigns/{cid}/readiness",
            f"/campaigns/{cid}/raci", f"/campaigns/{cid}/risks", f"/campaigns/{cid}/audit"]


async def submitted(gov, **update) -> str:
    cid = gov.new_id()
    await gov.publish(gov.brief(cid).model_copy(update=update), source="marops/intake")
    await gov.wait_campaign(cid)
    return cid


async def test_a_requester_of_another_team_reads_nothing_of_a_campaign(gov) -> None:
    cid = await submitted(gov)
    outsider = gov.as_("otto", "requester", team="brand")
    for path in reads(cid):
        response = await gov.client.get(path, headers=outsider)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    risk = await gov.client.post(f"/campaigns/{cid}/risks", headers=outsider, json={
        "description": "x", "owner": "otto", "probability": 1, "impact": 1})
    assert risk.status_code == 404, risk.text
    colleague = gov.as_("ravi", "requester", team="growth")
    for path in reads(cid):
        assert (await gov.client.get(path, headers=colleague)).status_code == 200, path


async def test_a_token_with_no_role_reads_nothing(gov) -> None:
    cid = await submitted(gov)
    nobody = auth(gov.settings, OWNER, team="growth")  # even the owner's subject, without a role
    for path in [*reads(cid), "/policy", "/policy/versions", "/policy/audit", "/queue", "/me"]:
        response = await gov.client.get(path, headers=nobody)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (await gov.client.get("/healthz")).status_code == 200


async def test_an_author_who_did_not_submit_cannot_decide_and_reads_from_another_team(gov) -> None:
    # edna wrote the brief, rita submitted it; edna also holds the approver role.
    cid = await submitted(gov, authors=["edna", REQUESTER])
    edna = gov.as_("edna", "approver", team="brand")
    for path in reads(cid):
        assert (await gov.client.get(path, headers=edna)).status_code == 200, path
    refused = await gov.client.post(f"/campaigns/{cid}/gates/brief_review/decisions",
                                    json={"decision": "approve", "brief_version": 1}, headers=edna)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/four-eyes"
    queue = (await gov.client.get("/queue", headers=edna)).json()["items"]
    assert cid not in [i["campaign_id"] for i in queue]
    # A second version submitted by someone else: authors of *any* version stay refused.
    await gov.publish(gov.brief(cid, 2, requester="ravi").model_copy(update={"authors": ["ravi"]}),
                      source="marops/intake")
    await gov.wait_campaign(cid, lambda v: v["brief_version"] == 2)
    again = await gov.client.post(f"/campaigns/{cid}/gates/brief_review/decisions",
                                  json={"decision": "approve", "brief_version": 2}, headers=edna)
    assert again.status_code == 403 and again.json()["type"] == "/problems/four-eyes", again.text
    approved = await gov.decide(cid, "brief_review", APPROVER, version=2)
    assert approved.status_code == 201, approved.text


async def test_the_campaigns_own_people_cannot_clear_a_blocking_risk(gov) -> None:
    cid = await submitted(gov, authors=["edna", REQUESTER])
    created = await gov.client.post(f"/campaigns/{cid}/risks", headers=gov.as_(REQUESTER), json={
        "description": "Pixel not approved", "owner": "lee", "probability": 4, "impact": 5})
    assert created.status_code == 201, created.text
    url = f"/campaigns/{cid}/risks/{created.json()['risk_id']}"
    assert created.json()["blocks_launch"] is True
    parties = {
        "the owner, also approver": gov.as_(OWNER, "requester", "approver"),
        "the submitter": gov.as_(REQUESTER),
        "an author, approver in another team": gov.as_("edna", "approver", team="brand"),
        "a requester of the team": gov.as_("ravi", "requester"),
        "a party who is ops_admin": gov.as_(REQUESTER, "ops_admin"),
        "finance, not an approver": gov.as_("finn", "finance"),
    }
    for change in ({"status": "mitigated"}, {"status": "closed"}, {"probability": 1}, {"impact": 2}):
        for name, headers in parties.items():
            response = await gov.client.patch(url, json={**change, "reason": "we are fine"}, headers=headers)
            assert response.status_code == 403, (change, name, response.text)
            assert response.headers["content-type"] == PROBLEM
    assert (await gov.client.get(url.rsplit("/", 1)[0], headers=gov.as_(APPROVER))).json()["items"][0][
        "blocks_launch"] is True
    # Raising the score, or rewording, stays open to the campaign's people.
    reworded = await gov.client.patch(url, json={"description": "Pixel not approved by legal"},
                                      headers=gov.as_(REQUESTER))
    assert reworded.status_code == 200, reworded.text
    # An approver who is no party closes it, with a reason that the audit trail keeps.
    closed = await gov.client.patch(url, json={"status": "closed", "reason": "Pixel removed from the page"},
                                    headers=gov.as_(APPROVER))
    assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
    audit = (await gov.get(f"/campaigns/{cid}/audit")).json()["items"]
    [closing] = [e for e in audit if e["action"] == "risk_updated" and "status" in e["details"]["changes"]]
    assert (closing["actor"], closing["reason"]) == (APPROVER, "Pixel removed from the page")


async def test_everyones_queue_agrees_with_deriving_every_campaign(gov) -> None:
    await gov.assert_queues_agree()
