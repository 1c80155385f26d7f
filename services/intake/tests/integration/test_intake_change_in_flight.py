"""Change in flight at intake: pause and resume with reasons, change requests of approved
or launched campaigns, and governance's decision on them (order, duplicates) — against the
running service, real PostgreSQL and Kafka; published events are read back from the topics."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from marops_events import contracts as c
from marops_events import registry

pytestmark = pytest.mark.asyncio(loop_scope="module")


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


def later(campaign: dict, ms: int) -> dt.datetime:
    return dt.datetime.fromisoformat(campaign["versions"][-1]["submitted_at"]) + dt.timedelta(milliseconds=ms)


def decided(campaign_id: str, change_id: str, version: int, outcome: str, at: dt.datetime) -> registry.Envelope:
    return registry.new_event(c.ChangeDecided(campaign_id=campaign_id, change_id=change_id, brief_version=version,
                                              outcome=outcome, decided_by="fiona", gates=["budget_approval"],
                                              policy_version=1, reason=None if outcome == "approved" else "no"),
                              source="marops/governance", time=at)


async def approved_campaign(intake, gov, owner: dict, *, launch: bool = False) -> dict:
    campaign = await intake.submitted(owner)
    cid = campaign["id"]
    events = [gov("GateApproved", cid, 1, gate=1, gates=1, at=later(campaign, 10))]
    if launch:
        events.append(gov("CampaignLaunched", cid, 1, at=later(campaign, 20)))
    await intake.deliver(*events)
    return await intake.wait_status(cid, "launched" if launch else "approved", owner)


async def test_pause_and_resume_with_reasons_by_the_owner_only(intake, gov) -> None:
    squad = team()
    rita = intake.as_("rita", "requester", team=squad)
    colleague = intake.as_("ron", "requester", team=squad)
    draft = await intake.submitted(rita)
    refused = await intake.http.post(f"/campaigns/{draft['id']}/pause", json={"reason": "stock"}, headers=rita)
    assert refused.status_code == 409, refused.text  # submitted, not yet in flight

    campaign = await approved_campaign(intake, gov, rita)
    cid = campaign["id"]
    path = f"/campaigns/{cid}"
    assert (await intake.http.post(f"{path}/pause", json={"reason": "stock"}, headers=colleague)).status_code == 403
    assert (await intake.http.post(f"{path}/pause", json={"reason": " "}, headers=rita)).status_code == 422
    assert (await intake.http.post(f"{path}/resume", json={"reason": "go"}, headers=rita)).status_code == 409

    paused = await intake.http.post(f"{path}/pause", json={"reason": "Stock shortage"}, headers=rita)
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert body["paused"] is True and body["status"] == "approved"  # a pause is no status change
    assert [(p["pause"], p["reason"], p["resumed_at"]) for p in body["pauses"]] == [(1, "Stock shortage", None)]
    again = await intake.http.post(f"{path}/pause", json={"reason": "twice"}, headers=rita)
    assert again.status_code == 409

    admin = intake.as_("olga", "ops_admin")
    resumed = await intake.http.post(f"{path}/resume", json={"reason": "Stock is back"}, headers=admin)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    assert (await intake.http.post(f"{path}/pause", json={"reason": "Again"}, headers=rita)).status_code == 200

    # Cancelling a paused campaign ends its pause first, so every pause has an end.
    cancelled = await intake.http.post(f"{path}/cancel", json={"reason": "Market changed"}, headers=rita)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["paused"] is False

    pauses = await intake.published("CampaignPaused", cid, 2)
    resumes = await intake.published("CampaignResumed", cid, 2)
    assert [(e["data"]["pause"], e["data"]["reason"], e["data"]["paused_by"]) for e in pauses] == [
        (1, "Stock shortage", "rita"), (2, "Again", "rita")]
    assert [(e["data"]["pause"], e["data"]["reason"], e["data"]["resumed_by"]) for e in resumes] == [
        (1, "Stock is back", "olga"), (2, "cancelled: Market changed", "rita")]
    cancel = (await intake.published("CampaignCancelled", cid, 1))[0]
    assert resumes[-1]["time"] <= cancel["time"]


async def test_change_requests_become_versions_only_when_approved(intake, gov) -> None:
    squad = team()
    rita = intake.as_("rita", "requester", team=squad)
    campaign = await approved_campaign(intake, gov, rita, launch=True)
    cid = campaign["id"]
    path = f"/campaigns/{cid}/changes"

    nothing = await intake.http.post(path, json={"reason": "same", "channels": ["paid_social", "email"]},
                                     headers=rita)
    assert nothing.status_code == 422, nothing.text  # the same channels: no change
    other = intake.as_("ron", "requester", team=squad)
    assert (await intake.http.post(path, json={"reason": "x", "channels": ["email"]}, headers=other)).status_code == 403

    asked = await intake.http.post(path, headers=rita, json={
        "reason": "Strong start: more money and display",
        "budget_amount": {"amount": "30000.00", "currency": "EUR"},
        "channels": ["email", "paid_social", "display"]})
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert (body["status"], body["current_version"]) == ("launched", 1)
    [change] = body["change_requests"]
    assert (change["status"], change["version"], change["changes"]) == ("pending", 2, ["budget", "channels"])
    busy = await intake.http.post(path, json={"reason": "more", "kpis": [
        {"metric": "leads", "target": "10", "unit": "leads", "timeframe": "1 month"}]}, headers=rita)
    assert busy.status_code == 409, busy.text  # one change at a time

    [event] = await intake.published("ChangeRequested", cid, 1)
    data = event["data"]
    assert (data["change_id"], data["base_version"], data["changes"]) == (change["change_id"], 1,
                                                                         ["budget", "channels"])
    assert data["brief"]["version"] == 2 and data["brief"]["budget_request"]["amount"] == {
        "amount": "30000.00", "currency": "EUR"}
    assert data["brief"]["channels"] == ["email", "paid_social", "display"]

    # Governance's gate decision on the change, then its approval: delivered backwards and twice.
    gate = gov("GateApproved", cid, 2, gate=2, gates=2, at=later(campaign, 500))
    approval = decided(cid, change["change_id"], 2, "approved", later(campaign, 600))
    await intake.deliver(approval, gate, approval, gate)
    await intake.caught_up()
    shown = await intake.get(cid, rita)
    assert (shown["status"], shown["current_version"]) == ("launched", 2)  # launched stays launched
    assert shown["versions"][-1]["change_id"] == change["change_id"]
    assert shown["channels"] == ["email", "paid_social", "display"]
    assert shown["change_requests"][0]["status"] == "approved"
    assert [d["type"] for d in shown["change_requests"][0]["decisions"]] == ["GateApproved"]

    # A rejected change leaves the campaign on its version; its number is never reused.
    second = await intake.http.post(path, json={"reason": "later", "flight_end": (
        dt.date.fromisoformat(shown["brief"]["flight_end"]) + dt.timedelta(days=14)).isoformat()}, headers=rita)
    assert second.status_code == 200, second.text
    pending = second.json()["change_requests"][-1]
    assert (pending["version"], pending["changes"]) == (3, ["dates"])
    await intake.deliver(decided(cid, pending["change_id"], 3, "rejected", later(campaign, 900)))
    await intake.caught_up()
    shown = await intake.get(cid, rita)
    assert (shown["status"], shown["current_version"]) == ("launched", 2)
    assert [r["status"] for r in shown["change_requests"]] == ["approved", "rejected"]
    third = await intake.http.post(path, json={"reason": "retry", "channels": ["email"]}, headers=rita)
    assert third.status_code == 200, third.text
    assert third.json()["change_requests"][-1]["version"] == 4


async def test_an_approved_change_of_an_approved_campaign_keeps_it_approved(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await approved_campaign(intake, gov, rita)
    cid = campaign["id"]
    asked = await intake.http.post(f"/campaigns/{cid}/changes", headers=rita, json={
        "reason": "Trim", "budget_amount": {"amount": "20000.00", "currency": "EUR"}})
    assert asked.status_code == 200, asked.text
    change = asked.json()["change_requests"][0]
    # No gate was needed (a decrease): governance approved it at once.
    await intake.deliver(decided(cid, change["change_id"], 2, "approved", later(campaign, 300)))
    await intake.caught_up()
    shown = await intake.get(cid, rita)
    assert (shown["status"], shown["current_version"]) == ("approved", 2)
    assert shown["brief"]["budget_request"]["amount"]["amount"] == "20000.00"
