"""Drafts, the completeness check and submission, over HTTP against real PostgreSQL and Kafka."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


async def test_a_draft_may_be_incomplete_and_the_check_lists_every_gap(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    draft = await intake.create(rita, title="Half a brief", kpis=[{"metric": "leads", "unit": "leads"}],
                                tracking_plan={"campaign_code": "half"})
    assert draft["status"] == "draft"
    assert draft["current_version"] == 0
    assert draft["owner"] == "rita"  # defaults to the creator
    assert draft["brief"]["title"] == "Half a brief"

    check = await intake.http.get(f"/campaigns/{draft['id']}/completeness", headers=rita)
    assert check.status_code == 200, check.text
    body = check.json()
    assert body["complete"] is False
    found = {(e["path"], e["type"]) for e in body["errors"]}
    assert found == {
        ("objective", "missing"), ("target_audience", "missing"), ("channels", "missing"),
        ("target_launch_date", "missing"), ("flight_start", "missing"), ("flight_end", "missing"),
        ("kpis.0.target", "missing"), ("kpis.0.timeframe", "missing"),
        ("tracking_plan.conversion_events", "missing"), ("tracking_plan.reporting_destination", "missing"),
        ("budget_request", "missing"), ("raci.responsible", "missing"),
    }
    assert all(e["reason"] for e in body["errors"])

    # Submitting is refused with the same list, and nothing is submitted.
    submit = await intake.http.post(f"/campaigns/{draft['id']}/submit", headers=rita)
    assert submit.status_code == 422
    assert submit.headers["content-type"] == PROBLEM
    assert submit.json()["type"] == "/problems/brief-incomplete"
    assert submit.json()["errors"] == body["errors"]
    after = await intake.get(draft["id"], rita)
    assert (after["status"], after["current_version"], after["versions"]) == ("draft", 0, [])


async def test_invalid_values_are_reported_with_their_paths(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    brief = intake.complete_brief(
        target_launch_date=yesterday, flight_start=yesterday,
        flight_end=(dt.date.today() - dt.timedelta(days=5)).isoformat(),
        channels=["email", "email"],
        kpis=[{"metric": "leads", "target": "10", "unit": "leads", "timeframe": "Q3"},
              {"metric": "Leads", "target": "5", "unit": "leads", "timeframe": "Q4"}],
        budget_request={"amount": {"amount": "0", "currency": "euro"}, "budget_line_id": " "},
        raci={"responsible": ["rita", " "], "accountable": "someone-else"},
        links=["not a url"],
    )
    campaign = await intake.create(rita, **brief)
    check = (await intake.http.get(f"/campaigns/{campaign['id']}/completeness", headers=rita)).json()
    found = {(e["path"], e["type"]) for e in check["errors"]}
    assert found == {
        ("target_launch_date", "invalid"), ("flight_end", "invalid"), ("channels.1", "invalid"),
        ("kpis.1.metric", "invalid"), ("budget_request.amount.amount", "invalid"),
        ("budget_request.amount.currency", "invalid"), ("budget_request.budget_line_id", "missing"),
        ("raci.responsible.1", "invalid"), ("raci.accountable", "invalid"), ("links.0", "invalid"),
    }


async def test_check_a_brief_without_storing_it(intake) -> None:
    viewer = intake.as_("vic", "viewer")
    complete = await intake.http.post("/briefs/check", json=intake.complete_brief(team="growth", owner="rita"),
                                      headers=viewer)
    assert complete.status_code == 200, complete.text
    assert complete.json() == {"complete": True, "errors": []}
    partial = await intake.http.post("/briefs/check", json={"title": "x"}, headers=viewer)
    assert partial.json()["complete"] is False
    assert {"team", "owner", "objective"} <= {e["path"] for e in partial.json()["errors"]}


async def test_edit_then_submit_publishes_version_1_with_the_full_brief(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    draft = await intake.create(rita, title="Draft title")
    complete = intake.complete_brief()
    edited = await intake.http.patch(f"/campaigns/{draft['id']}/brief", json=complete, headers=rita)
    assert edited.status_code == 200, edited.text
    assert edited.json()["brief"]["title"] == complete["title"]
    # A colleague of the same team may edit too; null clears a field.
    ravi = intake.as_("ravi", "requester", team=growth)
    cleared = await intake.http.patch(f"/campaigns/{draft['id']}/brief", json={"notes": None}, headers=ravi)
    assert "notes" not in cleared.json()["brief"]
    assert cleared.json()["brief"]["objective"] == complete["objective"]

    submit = await intake.http.post(f"/campaigns/{draft['id']}/submit", headers=ravi)
    assert submit.status_code == 200, submit.text
    campaign = submit.json()
    assert (campaign["status"], campaign["current_version"]) == ("submitted", 1)
    assert [v["version"] for v in campaign["versions"]] == [1]
    assert campaign["versions"][0]["submitted_by"] == "ravi"

    [event] = await intake.published("BriefSubmitted", draft["id"], 1)
    assert event["type"] == "BriefSubmitted"
    assert event["source"] == "marops/intake"
    assert event["subject"] == draft["id"]
    assert event["id"] == campaign["versions"][0]["event_id"]
    data = event["data"]
    assert data["version"] == 1
    assert data["requester"] == "ravi"  # who submitted this version
    assert data["owner"] == "rita"  # accountable, unchanged
    assert data["team"] == growth
    assert data["channels"] == ["email", "paid_social"]
    assert data["kpis"] == [{"metric": "qualified_leads", "target": "1200", "unit": "leads",
                             "timeframe": "90 days after launch"}]
    assert data["budget_request"] == {"amount": {"amount": "25000.00", "currency": "EUR"},
                                      "budget_line_id": "line-growth"}
    assert data["tracking_plan"]["conversion_events"] == ["webinar_signup"]
    assert data["raci"]["accountable"] == "rita"  # the owner, by default
    assert data["target_launch_date"] == complete["target_launch_date"]

    # Submitted means frozen: no more edits, no second submission of the same version.
    again = await intake.http.post(f"/campaigns/{draft['id']}/submit", headers=ravi)
    assert again.status_code == 409
    edit = await intake.http.patch(f"/campaigns/{draft['id']}/brief", json={"title": "late"}, headers=ravi)
    assert edit.status_code == 409
    assert edit.headers["content-type"] == PROBLEM


async def test_fields_the_client_must_not_set_are_refused(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    sneaky = {"title": "x", "status": "approved", "version": 7, "requester": "mallory",
              "created_at": "2020-01-01T00:00:00Z", "current_version": 3}
    response = await intake.http.post("/campaigns", json=sneaky, headers=rita)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    paths = {e["path"]: e["message"] for e in response.json()["errors"]}
    assert set(paths) == {"body.status", "body.version", "body.requester", "body.created_at",
                          "body.current_version"}
    assert all("set by the service" in m for m in paths.values())

    campaign = await intake.create(rita, title="x")
    patch = await intake.http.patch(f"/campaigns/{campaign['id']}/brief", json={"status": "launched"},
                                    headers=rita)
    assert patch.status_code == 422
    unknown = await intake.http.patch(f"/campaigns/{campaign['id']}/brief", json={"chanels": ["email"]},
                                      headers=rita)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["path"] == "body.chanels"
    assert (await intake.get(campaign["id"], rita))["status"] == "draft"


@pytest.mark.parametrize("body", [
    {"channels": ["tiktok"]},
    {"channels": "email"},
    {"target_launch_date": "next tuesday"},
    {"target_launch_date": "99999-01-01"},
    {"budget_request": {"amount": {"amount": 1250.5, "currency": "EUR"}}},
    {"budget_request": {"amount": {"amount": "1e999999", "currency": "EUR"}}},
    {"budget_request": {"amount": {"amount": "NaN", "currency": "EUR"}}},
    b'{"kpis": [{"target": 1e400}]}',
    b'{"title": "x",',
    b'{"title": "nul \\u0000 inside"}',
    b'{"notes": "lone \\ud800 surrogate"}',
    b'{"raci": {"responsible": ["\\u0000"]}}',
    {"kpis": [{"target": 10 ** 40}]},
    {"kpis": "lots"},
    {"title": 42},
    {"title": "x" * 201},
    {"links": ["https://x.example"] * 21},
    [],
    "just a string",
])
async def test_wrong_types_are_422_problems_never_500(intake, body) -> None:
    rita = intake.as_("rita", "requester", team=team())
    if isinstance(body, bytes):
        response = await intake.http.post("/campaigns", content=body,
                                          headers={**rita, "content-type": "application/json"})
    else:
        response = await intake.http.post("/campaigns", json=body, headers=rita)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"]


async def test_junk_ids_and_parameters_are_problems_never_500(intake) -> None:
    viewer = intake.as_("vic", "viewer")
    for path in ("/campaigns/does-not-exist", f"/campaigns/{'x' * 190}", "/campaigns/1/versions/1",
                 "/campaigns/x/completeness", "/campaigns/%ED%A0%80"):
        response = await intake.http.get(path, headers=viewer)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    for path in (f"/campaigns/{'x' * 201}", "/campaigns/x/versions/0", "/campaigns/x/versions/99999999999999999999",
                 "/campaigns?limit=0", "/campaigns?limit=100000", "/campaigns?status=lost",
                 "/campaigns?channel=tiktok", "/campaigns?target_from=soon", "/campaigns?sort=random",
                 "/campaigns/%00", "/campaigns?q=%00", "/campaigns?team=a%00b"):
        response = await intake.http.get(path, headers=viewer)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    bad_cursor = await intake.http.get("/campaigns?cursor=not-a-cursor", headers=viewer)
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["type"] == "/problems/invalid-cursor"
    for path in ("/campaigns/nope/submit", "/campaigns/nope/cancel"):
        response = await intake.http.post(path, headers=intake.as_("ada", "ops_admin"))
        assert response.status_code == 404
