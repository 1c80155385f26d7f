"""Change in flight at governance: pauses block launch, a change request opens the gates its
policy rules name, decided with the same rights and four-eyes, and its outcome is
published as ChangeDecided; events in any order and twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from marops_events import contracts as c

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUESTER, OWNER, APPROVER, FINANCE, ADMIN = "rita", "olga", "alex", "finn", "ada"


async def approved_and_committed(gov) -> str:
    cid = gov.new_id()
    await gov.submit(cid)
    await gov.wait_campaign(cid)
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    await gov.reserve(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    assert (await gov.decide(cid, "budget_approval", FINANCE)).status_code == 201
    assert (await gov.decide(cid, "launch_readiness", APPROVER)).status_code == 201
    await gov.commit(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["committed"] is not None)
    return cid


def change(gov, cid: str, version: int, *, amount: str = "25000.00", channels: tuple[str, ...] = ("email",),
           changes: tuple[str, ...] = ("budget",), base_version: int = 1) -> c.ChangeRequested:
    proposal = gov.brief(cid, version, requester=OWNER, amount=amount, channels=channels)
    return c.ChangeRequested(
        campaign_id=cid, change_id=f"{cid}-chg-{version}", base_version=base_version,
        changes=[c.ChangeField(ch) for ch in changes], reason="Results are strong", requested_by=OWNER,
        brief=proposal, base_amount=c.Money(amount=Decimal("25000.00"), currency="EUR"),
        base_channels=[c.Channel.email])


async def test_pause_blocks_launch_until_resumed_in_any_order(gov) -> None:
    cid = await approved_and_committed(gov)
    t0 = gov.now()
    # pause 1 arrives resumed-first; pause 2 is in force
    await gov.publish(c.CampaignResumed(campaign_id=cid, pause=1, resumed_by=OWNER, reason="back"),
                      time=t0 + dt.timedelta(seconds=1), source="marops/intake")
    await gov.publish(c.CampaignPaused(campaign_id=cid, pause=1, paused_by=OWNER, reason="stock"), time=t0,
                      source="marops/intake")
    paused = c.CampaignPaused(campaign_id=cid, pause=2, paused_by=OWNER, reason="stock again")
    await gov.publish(paused, time=t0 + dt.timedelta(seconds=2), source="marops/intake")
    await gov.publish(paused, time=t0 + dt.timedelta(seconds=2), source="marops/intake")
    await gov.wait_campaign(cid, lambda v: v["paused"] is True)
    refused = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert refused.status_code == 409, refused.text
    assert [u["code"] for u in refused.json()["unmet"]] == ["paused"]
    await gov.publish(c.CampaignResumed(campaign_id=cid, pause=2, resumed_by=OWNER, reason="ok"),
                      time=t0 + dt.timedelta(seconds=3), source="marops/intake")
    await gov.wait_campaign(cid, lambda v: v["paused"] is False)
    launched = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert launched.status_code == 201, launched.text


async def test_a_change_of_a_launched_campaign_passes_the_gates_its_rules_name(gov) -> None:
    cid = await approved_and_committed(gov)
    assert (await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))).status_code == 201
    request = change(gov, cid, 2, amount="30000.00", channels=("email", "display"), changes=("budget", "channels"))
    event = await gov.publish(request, source="marops/intake")
    await gov.send(event)  # a duplicate changes nothing
    view = await gov.wait_campaign(cid, lambda v: v["pending_change"] is not None)
    pending = view["pending_change"]
    assert (view["status"], view["brief_version"]) == ("launched", 1)
    # more money -> budget gate; a new public-facing channel -> brand and legal
    assert [g["gate_id"] for g in pending["gates"]] == ["budget_approval", "brand_legal_review"]
    assert (pending["brief_version"], pending["current_gate"]) == (2, "budget_approval")

    own = await gov.decide(cid, "budget_approval", OWNER, version=2, headers=gov.as_(OWNER, "finance"))
    assert own.status_code == 403 and own.json()["type"] == "/problems/four-eyes"
    unreserved = await gov.decide(cid, "budget_approval", FINANCE, version=2)
    assert unreserved.status_code == 409, unreserved.text  # budget has not reserved the top-up yet
    await gov.reserve(cid, 2, amount="30000.00")
    await gov.wait_campaign(cid, lambda v: v["pending_change"]["reservation"]["status"] == "reserved")
    assert (await gov.decide(cid, "budget_approval", FINANCE, version=2)).status_code == 201
    [approved] = [e for e in await gov.published("GateApproved", cid, 4) if e["data"]["brief_version"] == 2]
    assert approved["data"]["change_id"] == request.change_id
    assert approved["data"]["gate_id"] == "budget_approval" and approved["data"]["is_last_gate"] is False

    done = await gov.decide(cid, "brand_legal_review", APPROVER, version=2)
    assert done.status_code == 201, done.text
    [decided] = await gov.published("ChangeDecided", cid, 1)
    assert decided["data"] | {"policy_version": 1} == {
        "campaign_id": cid, "change_id": request.change_id, "brief_version": 2, "outcome": "approved",
        "decided_by": APPROVER, "gates": ["budget_approval", "brand_legal_review"],
        "policy_version": 1}
    view = await gov.campaign(cid)
    assert (view["status"], view["brief_version"], view["pending_change"]) == ("launched", 2, None)
    assert view["channels"] == ["email", "display"]
    assert [(ch["change_id"], ch["outcome"]) for ch in view["changes"]] == [(request.change_id, "approved")]


async def test_changes_needing_no_gate_pass_at_once_and_a_rejection_rejects_the_change(gov) -> None:
    cid = await approved_and_committed(gov)
    await gov.publish(change(gov, cid, 2, amount="20000.00"), source="marops/intake")
    [decided] = await gov.published("ChangeDecided", cid, 1)
    assert (decided["data"]["outcome"], decided["data"]["decided_by"], decided["data"]["gates"]) == (
        "approved", "governance", [])
    view = await gov.wait_campaign(cid, lambda v: v["brief_version"] == 2)
    assert view["status"] == "approved"  # all of the change's (no) gates approved; launch still possible
    await gov.commit(cid, 2, amount="20000.00")
    await gov.wait_campaign(cid, lambda v: (v["budget"]["committed"] or {}).get("amount") == "20000.00")

    await gov.publish(change(gov, cid, 3, changes=("dates",), base_version=2), source="marops/intake")
    view = await gov.wait_campaign(cid, lambda v: v["pending_change"] is not None)
    assert [g["gate_id"] for g in view["pending_change"]["gates"]] == ["brief_review"]
    queue = (await gov.get("/queue", APPROVER)).json()["items"]
    assert any(i["campaign_id"] == cid and i["brief_version"] == 3 for i in queue)
    rejected = await gov.decide(cid, "brief_review", APPROVER, version=3, reject="Not this quarter")
    assert rejected.status_code == 201, rejected.text
    decisions = await gov.published("ChangeDecided", cid, 2)
    assert [(d["data"]["brief_version"], d["data"]["outcome"], d["data"]["reason"]) for d in decisions] == [
        (2, "approved", "no change rule of the policy names a gate for this change"),
        (3, "rejected", "Not this quarter")]
    view = await gov.campaign(cid)
    assert (view["brief_version"], view["status"], view["pending_change"]) == (2, "approved", None)
    launched = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_(OWNER))
    assert launched.status_code == 201, launched.text
    assert launched.json()["brief_version"] == 2


async def test_a_change_request_before_its_campaigns_brief_waits_for_it(gov) -> None:
    cid = gov.new_id()
    await gov.publish(change(gov, cid, 2, amount="40000.00"), source="marops/intake")
    await gov.submit(cid)
    view = await gov.wait_campaign(cid, lambda v: v["pending_change"] is not None)
    assert view["brief_version"] == 1 and view["pending_change"]["gates"][0]["gate_id"] == "budget_approval"


async def test_everyones_queue_agrees_with_deriving_every_campaign(gov) -> None:
    await gov.assert_queues_agree()
