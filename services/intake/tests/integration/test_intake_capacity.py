"""Team capacity, demand per week and the warnings a brief gets at intake (overload,
deadline realism), through the API and the launch events intake consumes, against the real
PostgreSQL and Kafka. The app's clock is fixed; every figure is computed by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from marops_intake.main import create_app
from marops_intake.settings import Settings
from marops_testkit.apps import running

pytestmark = pytest.mark.asyncio(loop_scope="module")

MONDAY = dt.datetime(2031, 3, 3, 9, tzinfo=dt.UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(intake_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """This module's app (the ``intake`` fixture talks to it) runs at a fixed moment."""
    app = create_app(intake_settings)
    app.state.clock = lambda: MONDAY
    async with running(app) as http:
        yield http


@pytest.fixture
def fixed(intake: Any) -> Any:
    return intake


def brief(target: dt.date, **fields: Any) -> dict[str, Any]:
    launch = {"target_launch_date": target.isoformat(), "flight_start": target.isoformat(),
              "flight_end": (target + dt.timedelta(days=30)).isoformat()}
    base = {"title": "Spring webinar series", "objective": "Qualified leads", "target_audience": "Data leads",
            "channels": ["email", "paid_social"],
            "kpis": [{"metric": "qualified_leads", "target": "1200", "unit": "leads", "timeframe": "90 days"}],
            "tracking_plan": {"campaign_code": "spring", "conversion_events": ["signup"],
                              "reporting_destination": "Looker"},
            "budget_request": {"amount": {"amount": "25000.00", "currency": "EUR"}, "budget_line_id": "line-growth"},
            "raci": {"responsible": ["rita"]}}
    return {**base, **launch, **fields}


async def _submitted(intake: Any, who: dict[str, str], target: dt.date, **fields: Any) -> dict[str, Any]:
    created = await intake.create(who, **brief(target, **fields))
    r = await intake.http.post(f"/campaigns/{created['id']}/submit", headers=who)
    assert r.status_code == 200, r.text
    return r.json()


def _team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


async def test_capacity_report_and_the_overload_warning(fixed: Any) -> None:
    team = _team()
    rita = fixed.as_("rita", "requester", team=team)
    body = {"unit": "hours", "weekly": 40, "weeks": [{"week": "2031-03-10", "capacity": "20"}]}
    assert (await fixed.http.put(f"/teams/{team}/capacity", json=body, headers=rita)).status_code == 403
    other_lead = fixed.as_("lena", "approver", team="brand")
    assert (await fixed.http.put(f"/teams/{team}/capacity", json=body, headers=other_lead)).status_code == 403
    lead = fixed.as_("leo", "approver", team=team)
    r = await fixed.http.put(f"/teams/{team}/capacity", json=body, headers=lead)
    assert r.status_code == 200, r.text
    bad = {**body, "weeks": [{"week": "2031-03-11", "capacity": "20"}]}  # a Tuesday
    assert (await fixed.http.put(f"/teams/{team}/capacity", json=bad,
                                 headers=fixed.as_("ada", "ops_admin"))).status_code == 422

    # A: 70 hours from 3 March (submission) to 16 March (target): 14 days, 5 a day, 35 in each week
    a = await _submitted(fixed, rita, dt.date(2031, 3, 16), effort="70")
    # ... which alone takes the week of 10 March (capacity 20) past its capacity: a warning, not a refusal
    (warning,) = a["warnings"]
    assert (warning["code"], warning["weeks"]) == ("capacity_overload", [
        {"week_start": "2031-03-10", "capacity": "20", "demand_without": "0.00", "demand_with": "35.00"}])
    assert a["status"] == "submitted"
    (event,) = await fixed.published("BriefSubmitted", a["id"], 1)
    assert event["data"]["effort"] == "70"

    r = await fixed.http.get(f"/teams/{team}/capacity", params={"from": "2031-03-05", "weeks": 3}, headers=rita)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["unit"], report["weekly_capacity"], report["filtered"]) == ("hours", "40", False)
    assert [(w["week_start"], w["capacity"], w["demand"], w["overloaded"]) for w in report["weeks"]] == [
        ("2031-03-03", "40", "35.00", False), ("2031-03-10", "20", "35.00", True), ("2031-03-17", "40", "0.00", False)]
    assert report["overloaded_weeks"] == ["2031-03-10"]
    assert report["weeks"][0]["campaigns"] == [{"campaign_id": a["id"], "title": a["title"], "demand": "35.00"}]

    # B, a draft: 14 hours from today (3 March) to 9 March, 2 a day: 35 + 14 = 49 > 40 that week
    r = await fixed.http.post("/campaigns", json=brief(dt.date(2031, 3, 9), effort=14), headers=rita)
    assert r.status_code == 201, r.text
    (warning,) = r.json()["warnings"]
    assert warning["code"] == "capacity_overload"
    assert warning["weeks"] == [{"week_start": "2031-03-03", "capacity": "40", "demand_without": "35.00",
                                 "demand_with": "49.00"}]
    # a draft adds no demand; without an estimate there is nothing to warn of
    r = await fixed.http.patch(f"/campaigns/{r.json()['id']}/brief", json={"effort": None}, headers=rita)
    assert r.status_code == 200 and r.json()["warnings"] == []
    assert (await fixed.http.get(f"/teams/{team}/capacity", params={"from": "2031-03-03", "weeks": 1},
                                 headers=rita)).json()["weeks"][0]["demand"] == "35.00"

    # a requester of another team reads none of these campaigns: their demand is left out, and said so
    bob = fixed.as_("bob", "requester", team="brand")
    hidden = (await fixed.http.get(f"/teams/{team}/capacity", params={"from": "2031-03-03", "weeks": 2},
                                   headers=bob)).json()
    assert [w["demand"] for w in hidden["weeks"]] == ["0.00", "0.00"] and hidden["filtered"] is True


async def test_deadline_realism_from_the_launches_intake_consumed(fixed: Any, gov: Any) -> None:
    team = _team()
    rita = fixed.as_("rita", "requester", team=team)
    launched = []
    for days in (10, 30, 20):  # cycle times of three launched campaigns: median 20 days
        campaign = await _submitted(fixed, rita, dt.date(2031, 4, 30), channels=["video"])
        launched.append(gov("CampaignLaunched", campaign["id"], 1,
                                         at=MONDAY + dt.timedelta(days=days)))
    # two launches only: too few to judge by
    await fixed.deliver(*launched[:2])
    await fixed.caught_up()
    r = await fixed.http.post("/campaigns", json=brief(dt.date(2031, 3, 13), channels=["video"]), headers=rita)
    assert r.json()["warnings"] == []
    await fixed.deliver(launched[2], launched[0])  # the third, and one again
    await fixed.caught_up()

    # 3 March 09:00 + 20 days = 23 March: a target of 13 March is too soon, 23 March is not
    r = await fixed.http.post("/campaigns", json=brief(dt.date(2031, 3, 13), channels=["video"]), headers=rita)
    (warning,) = r.json()["warnings"]
    assert {k: warning[k] for k in ("code", "median_cycle_days", "basis", "realistic_from")} == {
        "code": "deadline_unrealistic", "median_cycle_days": "20.00", "basis": "team",
        "realistic_from": "2031-03-23"}
    r = await fixed.http.post("/campaigns", json=brief(dt.date(2031, 3, 23), channels=["video"]), headers=rita)
    assert r.json()["warnings"] == []

    # a team with no launches of its own is judged by its channel's median (the same three)
    newcomer = fixed.as_("nina", "requester", team=_team())
    r = await fixed.http.post("/campaigns", json=brief(dt.date(2031, 3, 20), channels=["email", "video"]),
                              headers=newcomer)
    (warning,) = r.json()["warnings"]
    assert (warning["basis"], warning["realistic_from"]) == ("channel:video", "2031-03-23")


async def test_capacity_inputs_are_checked(fixed: Any) -> None:
    ada = fixed.as_("ada", "ops_admin")
    for body in ({"unit": "days", "weekly": 1}, {"unit": "hours", "weekly": -1},
                 {"unit": "hours", "weekly": "1.234"}, {"unit": "hours", "weekly": 1, "extra": True}):
        assert (await fixed.http.put("/teams/x/capacity", json=body, headers=ada)).status_code == 422, body
    r = await fixed.http.post("/campaigns", json={"title": "x", "effort": -3},
                              headers=fixed.as_("rita", "requester", team="growth"))
    assert r.status_code == 422
    # a team with no capacity set has a report with no capacity and nothing overloaded
    r = await fixed.http.get("/teams/nobody/capacity", headers=fixed.as_("vic", "viewer"))
    assert r.status_code == 200 and r.json()["unit"] is None and r.json()["overloaded_weeks"] == []
