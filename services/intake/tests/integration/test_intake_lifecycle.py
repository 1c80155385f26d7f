"""Revisions, requester-facing status from governance events, cancel and complete — against
the running service, real PostgreSQL and Kafka; published events are read back from the topics."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from marops_intake import service
from marops_service import db

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


def at(campaign: dict, version: int, ms: int) -> dt.datetime:
    """A business time `ms` milliseconds after the given version was submitted.

    Facts about a version that is later revised must fall between its submission and the
    next one, which the test makes a moment later: hence milliseconds."""
    submitted = dt.datetime.fromisoformat(campaign["versions"][version - 1]["submitted_at"])
    return submitted + dt.timedelta(milliseconds=ms)


async def test_governance_events_out_of_order_and_twice_give_the_right_status(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.submitted(rita)
    cid = campaign["id"]

    # Version 1: gate 2 rejects (asking for changes) after gate 1 approved; delivered
    # rejection first, every event twice, and the approval once more under another event id.
    approved_1 = gov("GateApproved", cid, 1, gate=1, at=at(campaign, 1, 60))
    rejected_1 = gov("GateRejected", cid, 1, gate=2, at=at(campaign, 1, 120), reason="Add a holdout group")
    approved_1_again = gov("GateApproved", cid, 1, gate=1, at=at(campaign, 1, 60))
    await intake.deliver(rejected_1, rejected_1, approved_1, approved_1, approved_1_again)
    campaign = await intake.wait_status(cid, "changes_requested", rita)
    assert "Add a holdout group" in campaign["status_reason"]
    assert "budget approval" in campaign["status_reason"]

    # The requester revises and resubmits: version 2.
    edit = await intake.http.patch(f"/campaigns/{cid}/brief", json={"notes": "Holdout: 10% of the list"},
                                   headers=rita)
    assert edit.status_code == 200, edit.text
    resubmit = await intake.http.post(f"/campaigns/{cid}/submit", headers=rita)
    assert resubmit.status_code == 200, resubmit.text
    campaign = resubmit.json()
    assert (campaign["status"], campaign["current_version"]) == ("submitted", 2)

    # Late and repeated facts about version 1 must not move version 2.
    late_launch_v1 = gov("CampaignLaunched", cid, 1, at=at(campaign, 2, 1))
    await intake.deliver(rejected_1, approved_1, gov("GateRejected", cid, 1, gate=2, at=at(campaign, 1, 120)),
                         late_launch_v1)
    await intake.caught_up()
    assert (await intake.get(cid, rita))["status"] == "submitted"

    # Version 2 goes through, delivered backwards and twice: launch, last gate, first gate.
    launched = gov("CampaignLaunched", cid, 2, at=at(campaign, 2, 300))
    last_gate = gov("GateApproved", cid, 2, gate=2, at=at(campaign, 2, 200))
    first_gate = gov("GateApproved", cid, 2, gate=1, at=at(campaign, 2, 100))
    await intake.deliver(launched, last_gate, launched, first_gate, last_gate, first_gate)
    await intake.wait_status(cid, "launched", rita)
    await intake.caught_up()
    campaign = await intake.get(cid, rita)
    assert campaign["status"] == "launched"
    # The history is replayed in business time, so it reads as it happened, not as it arrived.
    assert [(h["status"], h["version"]) for h in campaign["status_history"]] == [
        ("draft", None), ("submitted", 1), ("in_review", 1), ("changes_requested", 1),
        ("submitted", 2), ("in_review", 2), ("approved", 2), ("launched", 2),
    ]
    assert campaign["status_since"] == campaign["status_history"][-1]["at"]
    assert dt.datetime.fromisoformat(campaign["status_since"]) == launched.time
    # Each business fact is kept once, whatever the number of deliveries.
    assert sorted((d["type"], d["brief_version"], d["gate_position"]) for d in campaign["decisions"]) == [
        ("CampaignLaunched", 1, None), ("CampaignLaunched", 2, None), ("GateApproved", 1, 1),
        ("GateApproved", 2, 1), ("GateApproved", 2, 2), ("GateRejected", 1, 2),
    ]


async def test_the_last_gate_arriving_before_the_first_still_means_approved(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.submitted(rita)
    cid = campaign["id"]
    await intake.deliver(gov("GateApproved", cid, 1, gate=2, at=at(campaign, 1, 30)))
    await intake.wait_status(cid, "approved", rita)
    await intake.deliver(gov("GateApproved", cid, 1, gate=1, at=at(campaign, 1, 10)))
    await intake.caught_up()
    campaign = await intake.get(cid, rita)
    assert campaign["status"] == "approved"
    assert [h["status"] for h in campaign["status_history"]] == ["draft", "submitted", "in_review", "approved"]


async def test_an_outright_rejection_is_final(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.submitted(rita)
    cid = campaign["id"]
    await intake.deliver(gov("GateRejected", cid, 1, gate=1, kind="rejected", reason="Off-brand",
                             at=at(campaign, 1, 5)))
    campaign = await intake.wait_status(cid, "rejected", rita)
    assert "rejected" in campaign["status_reason"] and "Off-brand" in campaign["status_reason"]
    assert (await intake.http.patch(f"/campaigns/{cid}/brief", json={"title": "again"}, headers=rita)).status_code == 409
    assert (await intake.http.post(f"/campaigns/{cid}/submit", headers=rita)).status_code == 409
    assert (await intake.http.post(f"/campaigns/{cid}/cancel", headers=rita)).status_code == 409


async def test_imported_history_is_ignored(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.submitted(rita)
    cid = campaign["id"]
    imported = gov("GateRejected", cid, 1, gate=1, at=at(campaign, 1, 5))
    imported = imported.model_copy(update={"source": "marops/import/history.csv"})
    assert imported.is_historical
    await intake.deliver(imported, gov("GateApproved", cid, 1, gate=1, at=at(campaign, 1, 10)))
    campaign = await intake.wait_status(cid, "in_review", rita)
    await intake.caught_up()
    campaign = await intake.get(cid, rita)
    assert campaign["status"] == "in_review"
    assert [d["type"] for d in campaign["decisions"]] == ["GateApproved"]


async def test_revisions_keep_every_version_with_what_changed(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.submitted(rita)
    cid = campaign["id"]
    rejection = gov("GateRejected", cid, 1, gate=1, at=at(campaign, 1, 30), reason="Budget too high")
    await intake.deliver(rejection)
    await intake.wait_status(cid, "changes_requested", rita)

    changes = {"budget_request": {"amount": {"amount": "18000.00", "currency": "EUR"}, "budget_line_id": "line-growth"},
               "channels": ["email"],
               "kpis": [{"metric": "qualified_leads", "target": "900", "unit": "leads", "timeframe": "90 days after launch"},
                        {"metric": "webinar_attendance", "target": "400", "unit": "people", "timeframe": "launch month"}]}
    edited = (await intake.http.patch(f"/campaigns/{cid}/brief", json=changes, headers=rita)).json()
    assert edited["status"] == "changes_requested"  # editing does not resubmit
    assert {c["path"] for c in edited["unsubmitted_changes"]} == {
        "budget_request.amount.amount", "channels", "kpis.0.target", "kpis.1"}
    resubmitted = (await intake.http.post(f"/campaigns/{cid}/submit", headers=rita)).json()
    assert resubmitted["unsubmitted_changes"] == []

    v1, v2 = sorted((await intake.published("BriefSubmitted", cid, 2)), key=lambda e: e["data"]["version"])
    assert (v1["data"]["version"], v2["data"]["version"]) == (1, 2)
    assert v1["data"]["budget_request"]["amount"]["amount"] == "25000.00"
    assert v2["data"]["budget_request"]["amount"]["amount"] == "18000.00"
    assert v2["causationid"] == str(rejection.id)  # the resubmission answers the rejection
    assert v1["correlationid"] == v2["correlationid"] == cid

    versions = (await intake.http.get(f"/campaigns/{cid}/versions", headers=rita)).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["changes"] == []
    assert {"path": "budget_request.amount.amount", "change": "changed", "before": "25000.00",
            "after": "18000.00"} in versions[1]["changes"]
    assert {"path": "channels", "change": "changed", "before": ["email", "paid_social"],
            "after": ["email"]} in versions[1]["changes"]
    assert any(c["path"] == "kpis.1" and c["change"] == "added" for c in versions[1]["changes"])

    first = (await intake.http.get(f"/campaigns/{cid}/versions/1", headers=rita)).json()
    assert first["brief"]["budget_request"]["amount"]["amount"] == "25000.00"  # kept as submitted
    diff = (await intake.http.get(f"/campaigns/{cid}/versions/2/diff", headers=rita)).json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert diff["changes"] == versions[1]["changes"]
    from_empty = (await intake.http.get(f"/campaigns/{cid}/versions/1/diff?from=0", headers=rita)).json()
    assert {c["change"] for c in from_empty["changes"]} == {"added"}
    assert (await intake.http.get(f"/campaigns/{cid}/versions/3", headers=rita)).status_code == 404
    assert (await intake.http.get(f"/campaigns/{cid}/versions/2/diff?from=5", headers=rita)).status_code == 404


async def test_cancel_publishes_campaign_cancelled_and_is_final(intake, gov) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    campaign = await intake.submitted(rita)
    cid = campaign["id"]

    colleague = await intake.http.post(f"/campaigns/{cid}/cancel", json={"reason": "mine now"},
                                       headers=intake.as_("ravi", "requester", team=growth))
    assert colleague.status_code == 403  # only the owner (or ops_admin) cancels
    assert colleague.headers["content-type"] == PROBLEM

    cancelled = await intake.http.post(f"/campaigns/{cid}/cancel", json={"reason": "Product launch moved"},
                                       headers=rita)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["cancellation"]["by"] == "rita" and body["cancellation"]["reason"] == "Product launch moved"
    [event] = await intake.published("CampaignCancelled", cid, 1)
    assert event["data"] == {"campaign_id": cid, "cancelled_by": "rita", "reason": "Product launch moved"}
    assert event["source"] == "marops/intake"

    # A governance decision still in flight changes nothing; nor can anything else be done.
    await intake.deliver(gov("GateApproved", cid, 1, gate=2, at=at(campaign, 1, 600)),
                         gov("CampaignLaunched", cid, 1, at=at(campaign, 1, 700)))
    await intake.caught_up()
    assert (await intake.get(cid, rita))["status"] == "cancelled"
    assert (await intake.http.post(f"/campaigns/{cid}/cancel", headers=rita)).status_code == 409
    assert (await intake.http.post(f"/campaigns/{cid}/submit", headers=rita)).status_code == 409


async def test_cancelling_a_draft_never_submitted_announces_nothing(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    draft = await intake.create(rita, title="Never mind")
    response = await intake.http.post(f"/campaigns/{draft['id']}/cancel", headers=rita)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    # The relay publishes in commit order: once a later cancellation is on the topic,
    # the draft's would be too if there were one.
    later = await intake.submitted(rita)
    await intake.http.post(f"/campaigns/{later['id']}/cancel", headers=rita)
    await intake.published("CampaignCancelled", later["id"], 1)
    assert await intake.published("CampaignCancelled", draft["id"], 0) == []


async def test_complete_a_launched_campaign_with_results_per_kpi(intake, gov) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    campaign = await intake.submitted(rita, kpis=[
        {"metric": "qualified_leads", "target": "1200", "unit": "leads", "timeframe": "90 days"},
        {"metric": "cost_per_lead", "target": "20.5", "unit": "EUR", "timeframe": "90 days"}])
    cid = campaign["id"]
    results = {"results": [{"metric": "qualified_leads", "actual": "1315"}, {"metric": "cost_per_lead", "actual": 18.75}]}

    early = await intake.http.post(f"/campaigns/{cid}/complete", json=results, headers=rita)
    assert early.status_code == 409  # not launched yet

    await intake.deliver(gov("GateApproved", cid, 1, gate=1, at=at(campaign, 1, 10)),
                         gov("GateApproved", cid, 1, gate=2, at=at(campaign, 1, 20)),
                         gov("CampaignLaunched", cid, 1, at=at(campaign, 1, 30)))
    await intake.wait_status(cid, "launched", rita)

    partial = await intake.http.post(f"/campaigns/{cid}/complete", headers=rita, json={
        "results": [{"metric": "qualified_leads", "actual": "1"}, {"metric": "reach", "actual": "5"},
                    {"metric": "qualified_leads", "actual": "2"}]})
    assert partial.status_code == 422
    assert {(e["path"], e["type"]) for e in partial.json()["errors"]} == {
        ("results.1.metric", "invalid"), ("results.2.metric", "invalid"), ("results", "missing")}
    outsider = await intake.http.post(f"/campaigns/{cid}/complete", json=results,
                                      headers=intake.as_("ravi", "requester", team=growth))
    assert outsider.status_code == 403
    sneaky = await intake.http.post(f"/campaigns/{cid}/complete", json={**results, "completed_by": "mallory"},
                                    headers=rita)
    assert sneaky.status_code == 422

    done = await intake.http.post(f"/campaigns/{cid}/complete", json=results, headers=rita)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    [event] = await intake.published("CampaignCompleted", cid, 1)
    assert event["data"]["completed_by"] == "rita"
    assert event["data"]["results"] == [
        {"metric": "qualified_leads", "target": "1200", "actual": "1315", "unit": "leads"},
        {"metric": "cost_per_lead", "target": "20.5", "actual": "18.75", "unit": "EUR"},
    ]
    again = await intake.http.post(f"/campaigns/{cid}/complete", json=results, headers=rita)
    assert again.status_code == 409


async def test_every_post_honours_idempotency_key(intake, gov) -> None:
    rita = intake.as_("rita", "requester", team=team())
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    brief = intake.complete_brief()
    first = await intake.http.post("/campaigns", json=brief, headers={**rita, **key})
    again = await intake.http.post("/campaigns", json=brief, headers={**rita, **key})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await intake.http.post("/campaigns", json={**brief, "title": "Other"}, headers={**rita, **key})
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    cid = first.json()["id"]

    check_key = {"Idempotency-Key": f"check-{uuid.uuid4()}"}
    check = await intake.http.post("/briefs/check", json={"title": "x"}, headers={**rita, **check_key})
    assert (await intake.http.post("/briefs/check", json={"title": "x"}, headers={**rita, **check_key})).json() \
        == check.json()
    assert (await intake.http.post("/briefs/check", json={"title": "y"}, headers={**rita, **check_key})).status_code \
        == 409

    submit_key = {"Idempotency-Key": f"submit-{uuid.uuid4()}"}
    submits = [await intake.http.post(f"/campaigns/{cid}/submit", headers={**rita, **submit_key}) for _ in range(3)]
    assert {s.status_code for s in submits} == {200}
    assert {s.json()["current_version"] for s in submits} == {1}
    # The key is bound to its request: the same key on another endpoint is refused.
    assert (await intake.http.post(f"/campaigns/{cid}/cancel", headers={**rita, **submit_key})).status_code == 409

    await intake.deliver(gov("GateApproved", cid, 1, gate=2, at=at(submits[0].json(), 1, 10)),
                         gov("CampaignLaunched", cid, 1, at=at(submits[0].json(), 1, 20)))
    await intake.wait_status(cid, "launched", rita)
    complete_key = {"Idempotency-Key": f"complete-{uuid.uuid4()}"}
    results = {"results": [{"metric": "qualified_leads", "actual": "1000"}]}
    completes = [await intake.http.post(f"/campaigns/{cid}/complete", json=results, headers={**rita, **complete_key})
                 for _ in range(2)]
    assert [c.status_code for c in completes] == [200, 200]
    changed = await intake.http.post(f"/campaigns/{cid}/complete", json={"results": [
        {"metric": "qualified_leads", "actual": "1001"}]}, headers={**rita, **complete_key})
    assert changed.status_code == 409

    cancel_campaign = await intake.submitted(rita)
    cancel_key = {"Idempotency-Key": f"cancel-{uuid.uuid4()}"}
    cancels = [await intake.http.post(f"/campaigns/{cancel_campaign['id']}/cancel", json={"reason": "x"},
                                      headers={**rita, **cancel_key}) for _ in range(2)]
    assert [c.status_code for c in cancels] == [200, 200]
    assert cancels[1].headers["idempotent-replayed"] == "true"

    # Replays did not repeat the effects: one version, one completion, one cancellation.
    assert len(await intake.published("BriefSubmitted", cid, 1)) == 1
    assert len(await intake.published("CampaignCompleted", cid, 1)) == 1
    assert len(await intake.published("CampaignCancelled", cancel_campaign["id"], 1)) == 1


async def test_a_batch_of_governance_facts_is_recorded_at_once_as_one_at_a_time_would(intake, gov) -> None:
    # The consumer hands intake a fetched batch whole (a few statements for all of it): two
    # campaigns, one fact twice under two times (the earliest is kept, whichever came first)
    # and once more as an exact copy.
    rita = intake.as_("rita", "requester", team=team())
    first, second = await intake.submitted(rita), await intake.submitted(rita)
    approved = gov("GateApproved", first["id"], 1, gate=1, at=at(first, 1, 50))
    approved_later = gov("GateApproved", first["id"], 1, gate=1, at=at(first, 1, 90))
    rejected = gov("GateRejected", second["id"], 1, gate=1, at=at(second, 1, 30), kind="rejected",
                   reason="Not this year")
    pool = await db.create_pool(intake.settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await service.record_governance_facts(conn, [approved_later, approved, rejected, approved])
    finally:
        await pool.close()

    one = await intake.get(first["id"], rita)
    assert (one["status"], [(d["type"], dt.datetime.fromisoformat(d["at"])) for d in one["decisions"]]) == (
        "in_review", [("GateApproved", approved.time)])
    assert one["status_since"] == one["status_history"][-1]["at"]
    two = await intake.get(second["id"], rita)
    assert (two["status"], [d["type"] for d in two["decisions"]]) == ("rejected", ["GateRejected"])
    assert "Not this year" in two["status_reason"]
