"""Retrospectives of completed campaigns and the lessons searched across campaigns, against
the running service, real PostgreSQL (full-text search) and Kafka (RetrospectiveRecorded read
back from its topic)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


async def completed(intake, gov, who: dict[str, str], **brief) -> str:
    campaign = await intake.submitted(who, **brief)
    cid = campaign["id"]
    submitted = dt.datetime.fromisoformat(campaign["versions"][0]["submitted_at"])
    await intake.deliver(*(gov(t, cid, 1, gate=g, at=submitted + dt.timedelta(milliseconds=ms))
                           for t, g, ms in (("GateApproved", 1, 10), ("GateApproved", 2, 20),
                                            ("CampaignLaunched", 1, 30))))
    await intake.wait_status(cid, "launched", who)
    done = await intake.http.post(f"/campaigns/{cid}/complete", headers=who,
                                  json={"results": [{"metric": "qualified_leads", "actual": "1315"}]})
    assert done.status_code == 200, done.text
    return cid


RETRO = {
    "what_worked": ["Subject lines tested in week one"],
    "what_did_not_work": ["The landing page launched late"],
    "lessons": ["Book the landing pages together with the brief", "Holdout groups make the uplift credible"],
    "actions": [{"action": "Landing page template", "owner": "lena", "due_on": "2026-07-15"}],
}


async def test_the_owner_records_a_retrospective_after_completion_and_may_record_it_again(intake, gov) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    launched_only = await intake.submitted(rita)
    early = await intake.http.post(f"/campaigns/{launched_only['id']}/retrospective", json=RETRO, headers=rita)
    assert early.status_code == 409 and early.headers["content-type"] == "application/problem+json"

    cid = await completed(intake, gov, rita)
    assert (await intake.get(cid, rita))["retrospective"] is None
    colleague = await intake.http.post(f"/campaigns/{cid}/retrospective", json=RETRO,
                                       headers=intake.as_("ravi", "requester", team=growth))
    assert colleague.status_code == 403  # the owner writes it (or ops_admin), like completing
    empty = await intake.http.post(f"/campaigns/{cid}/retrospective", json={"what_worked": ["x"]}, headers=rita)
    assert empty.status_code == 422
    blank = await intake.http.post(f"/campaigns/{cid}/retrospective", json={"lessons": ["  "]}, headers=rita)
    assert blank.status_code == 422
    sneaky = await intake.http.post(f"/campaigns/{cid}/retrospective", json={**RETRO, "revision": 7}, headers=rita)
    assert sneaky.status_code == 422

    first = await intake.http.post(f"/campaigns/{cid}/retrospective", json=RETRO, headers=rita)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["revision"], body["recorded_by"], body["team"], body["lessons"]) == (
        1, "rita", growth, RETRO["lessons"])
    assert body["actions"] == [{"action": "Landing page template", "owner": "lena", "due_on": "2026-07-15"}]
    assert (await intake.get(cid, intake.as_("vera", "viewer")))["retrospective"] == body

    again = await intake.http.post(f"/campaigns/{cid}/retrospective", headers=intake.as_("ops", "ops_admin"),
                                   json={**RETRO, "lessons": ["Only one lesson now"]})
    assert again.status_code == 200 and again.json()["revision"] == 2
    assert (await intake.get(cid, rita))["retrospective"]["lessons"] == ["Only one lesson now"]

    events = await intake.published("RetrospectiveRecorded", cid, 2)
    assert [(e["data"]["revision"], e["data"]["recorded_by"]) for e in events] == [(1, "rita"), (2, "ops")]
    assert events[0]["data"] == {
        "campaign_id": cid, "revision": 1, "recorded_by": "rita", "team": growth,
        "channels": ["email", "paid_social"], **RETRO}
    assert events[1]["data"]["lessons"] == ["Only one lesson now"]


async def test_lessons_are_searched_across_campaigns_by_text_team_and_channel_as_the_reader_may(intake, gov) -> None:
    growth, brand = team(), team()
    rita, bo = intake.as_("rita", "requester", team=growth), intake.as_("bo", "requester", team=brand)
    email = await completed(intake, gov, rita, channels=["email"])
    social = await completed(intake, gov, bo, channels=["paid_social"])
    for cid, who, texts in ((email, rita, ["Landing pages launched late: book them with the brief"]),
                              (social, bo, ["Creative fatigue after two weeks", "A landing page per audience"])):
        response = await intake.http.post(f"/campaigns/{cid}/retrospective", json={"lessons": texts}, headers=who)
        assert response.status_code == 200, response.text

    async def lessons(who: dict[str, str], **query) -> dict:
        response = await intake.http.get("/lessons", params=query, headers=who)
        assert response.status_code == 200, response.text
        return response.json()

    vera = intake.as_("vera", "viewer")
    mine = {email, social}
    found = await lessons(vera, q="landing page")  # stemmed: "Landing pages" matches too
    assert sorted((i["campaign_id"], i["text"]) for i in found["items"] if i["campaign_id"] in mine) == sorted([
        (email, "Landing pages launched late: book them with the brief"), (social, "A landing page per audience")])
    assert [i["text"] for i in (await lessons(vera, q="fatigue", team=brand))["items"]] == [
        "Creative fatigue after two weeks"]
    assert (await lessons(vera, q="fatigue", team=growth))["items"] == []
    assert {i["campaign_id"] for i in (await lessons(vera, team=growth, channel="email"))["items"]} == {email}
    assert (await lessons(vera, team=growth, channel="paid_social"))["items"] == []
    # the access model: a requester reads the lessons of their own team's campaigns only
    seen_by_rita = await lessons(rita, q="landing page")
    assert {i["campaign_id"] for i in seen_by_rita["items"]} == {email} and seen_by_rita["filtered"] is True

    # pages: newest retrospective first, each retrospective's lessons in order, no repeats
    first = await lessons(vera, team=brand, limit=1)
    second = await lessons(vera, team=brand, limit=1, cursor=first["next_cursor"])
    assert [i["text"] for i in first["items"] + second["items"]] == [
        "Creative fatigue after two weeks", "A landing page per audience"]
    assert second["next_cursor"] is None
    bad = await intake.http.get("/lessons", params={"cursor": "nonsense"}, headers=vera)
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
