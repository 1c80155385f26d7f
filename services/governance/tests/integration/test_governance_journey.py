"""The journey through the gates, asserted on what governance publishes to Kafka."""

from __future__ import annotations

import datetime as dt

import pytest

from marops_events import contracts as c

pytestmark = pytest.mark.asyncio(loop_scope="module")

# actors (their roles: conftest.ROLES)
OWNER, APPROVER, APPROVER_2, FINANCE, ADMIN = "olga", "alex", "amy", "finn", "ada"


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_full_approval_path_is_published_on_the_topics(gov) -> None:
    cid = gov.new_id()
    submitted_at = (gov.now() - dt.timedelta(hours=1)).replace(microsecond=0)
    submission = await gov.submit(cid, time=submitted_at, channels=("paid_social", "email"))
    view = await gov.wait_campaign(cid)
    assert view["status"] == "in_review"
    assert [g["gate_id"] for g in view["gates"]] == [
        "brief_review", "budget_approval", "brand_legal_review", "launch_readiness"]
    assert [g["status"] for g in view["gates"]] == ["open", "waiting", "waiting", "waiting"]
    assert ts(view["gates"][0]["actionable_at"]) == submitted_at

    decided_at: dict[str, dt.datetime] = {}
    first = await gov.decide(cid, "brief_review", APPROVER)
    assert first.status_code == 201, first.text
    assert first.json()["published"] == "GateApproved"
    decided_at["brief_review"] = ts(first.json()["decided_at"])

    await gov.reserve(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    for gate_id, who in (("budget_approval", FINANCE), ("brand_legal_review", APPROVER_2),
                         ("launch_readiness", APPROVER)):
        response = await gov.decide(cid, gate_id, who)
        assert response.status_code == 201, response.text
        decided_at[gate_id] = ts(response.json()["decided_at"])
    assert (await gov.campaign(cid))["status"] == "approved"

    # Everything is approved but budget has not committed yet: launch is refused with the list.
    refused = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [u["code"] for u in refused.json()["unmet"]] == ["budget_not_committed"]

    await gov.commit(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["committed"] == {"amount": "25000.00", "currency": "EUR"})
    launched = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER), json={"brief_version": 1})
    assert launched.status_code == 201, launched.text
    assert (await gov.campaign(cid))["status"] == "launched"

    approvals = await gov.published("GateApproved", cid, count=4)
    assert len(approvals) == 4
    expected_actionable = [submitted_at, decided_at["brief_review"], decided_at["budget_approval"],
                           decided_at["brand_legal_review"]]
    for position, (event, gate_id, who, actionable) in enumerate(zip(
            approvals, ["brief_review", "budget_approval", "brand_legal_review", "launch_readiness"],
            [APPROVER, FINANCE, APPROVER_2, APPROVER], expected_actionable, strict=True), start=1):
        data = event["data"]
        assert event["type"] == "GateApproved"
        assert event["source"] == "marops/governance"
        assert event["correlationid"] == submission.correlationid
        assert event["causationid"] == str(submission.id)
        assert ts(event["time"]) == decided_at[gate_id]
        assert data["gate_id"] == gate_id
        assert data["gate_position"] == position
        assert data["is_last_gate"] is (position == 4)
        assert data["gate_kind"] == ("budget" if gate_id == "budget_approval" else "review")
        assert ts(data["actionable_at"]) == actionable
        assert data["brief_version"] == 1 and data["policy_version"] == 1
        assert data["decided_by"] == who and data["approvers"] == [who]
        assert data["amount"] == {"amount": "25000.00", "currency": "EUR"}
        assert data["sla_hours"] == {"brief_review": 48, "budget_approval": 72, "brand_legal_review": 72,
                                     "launch_readiness": 24}[gate_id]

    [launch] = await gov.published("CampaignLaunched", cid, count=1)
    assert launch["data"] == {
        "campaign_id": cid, "brief_version": 1, "launched_by": OWNER,
        "readiness": {"all_gates_approved": True, "kpis_with_targets": True, "tracking_plan_defined": True,
                      "budget_committed": True, "committed": {"amount": "25000.00", "currency": "EUR"},
                      "open_blocking_risks": 0, "policy_version": 1},
    }
    actions = [e["action"] for e in (await gov.get(f"/campaigns/{cid}/audit")).json()["items"]]
    assert actions == ["gates_opened", "gate_approved", "budget_reserved", "gate_approved", "gate_approved",
                       "gate_approved", "budget_committed", "campaign_launched"]


async def test_rejection_then_resubmission_reopens_the_gates_from_the_first(gov) -> None:
    cid = gov.new_id()
    submitted_at = gov.now() - dt.timedelta(hours=2)
    await gov.submit(cid, time=submitted_at)
    await gov.wait_campaign(cid)
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    await gov.reserve(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    rejected = await gov.decide(cid, "budget_approval", FINANCE, reject="Halve the paid budget",
                                kind="changes_requested")
    assert rejected.status_code == 201, rejected.text
    assert rejected.json()["campaign"]["status"] == "changes_requested"
    approved_first = ts((await gov.campaign(cid))["gates"][0]["approved_at"])

    [event] = await gov.published("GateRejected", cid, count=1)
    data = event["data"]
    assert data["gate_id"] == "budget_approval" and data["gate_kind"] == "budget" and data["gate_position"] == 2
    assert data["kind"] == "changes_requested" and data["reason"] == "Halve the paid budget"
    assert data["decided_by"] == FINANCE and data["is_last_gate"] is False
    assert ts(data["actionable_at"]) == approved_first

    resubmitted_at = gov.now()
    await gov.submit(cid, version=2, time=resubmitted_at, amount="12000")  # no decimals: written "12000.00", never "1.2E+4"
    view = await gov.wait_campaign(cid, lambda v: v["brief_version"] == 2)
    assert view["status"] == "in_review"
    assert [g["status"] for g in view["gates"]] == ["open", "waiting", "waiting"]
    assert ts(view["gates"][0]["actionable_at"]) == resubmitted_at
    assert view["requested"] == {"amount": "12000.00", "currency": "EUR"}
    again = await gov.decide(cid, "brief_review", APPROVER, version=2)
    assert again.status_code == 201, again.text
    [v1, v2] = await gov.published("GateApproved", cid, count=2)
    assert (v1["data"]["brief_version"], v2["data"]["brief_version"]) == (1, 2)
    assert ts(v2["data"]["actionable_at"]) == resubmitted_at
    assert v2["data"]["amount"] == {"amount": "12000.00", "currency": "EUR"}


async def test_outright_rejection_and_cancellation_close_the_gates(gov) -> None:
    cid = gov.new_id()
    await gov.submit(cid)
    await gov.wait_campaign(cid)
    response = await gov.decide(cid, "brief_review", APPROVER, reject="Off strategy", kind="rejected")
    assert response.status_code == 201
    assert response.json()["campaign"]["status"] == "rejected"
    [event] = await gov.published("GateRejected", cid, count=1)
    assert event["data"]["kind"] == "rejected" and event["data"]["gate_position"] == 1

    other = gov.new_id()
    await gov.submit(other)
    await gov.wait_campaign(other)
    await gov.publish(c.CampaignCancelled(
        campaign_id=other, cancelled_by=OWNER, reason="Market changed"), source="marops/intake")
    view = await gov.wait_campaign(other, lambda v: v["status"] == "cancelled")
    assert [g["status"] for g in view["gates"]] == ["closed", "closed", "closed"]
    assert view["current_gate"] is None
    queue = (await gov.get("/queue", APPROVER)).json()["items"]
    assert other not in {i["campaign_id"] for i in queue}
    refused = await gov.decide(other, "brief_review", APPROVER)
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/campaign-cancelled"
    assert (await gov.client.post(f"/campaigns/{other}/launch", headers=gov.as_(ADMIN))).status_code == 409
