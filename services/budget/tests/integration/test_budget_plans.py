"""Annual plans, phasing, the run-out forecast and plan files, through the API and events,
against the real PostgreSQL and Kafka. Every figure below is computed by hand in a comment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from budget_harness import CONSUMED, PUBLISHED, Harness, brief_submitted, gate_approved, uid

from marops_budget.main import create_app
from marops_budget.service import Rules, sweep_forecasts
from marops_budget.settings import Settings
from marops_events import kafka
from marops_testkit.apps import auth, running
from marops_testkit.events import Recorder

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Clock:
    """The app's clock (``app.state.clock``), set by each test to the moment it acts at."""

    def __init__(self) -> None:
        self.now = dt.datetime(2031, 4, 10, 12, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def h(budget_settings: Settings) -> AsyncIterator[tuple[Harness, Clock]]:
    app = create_app(budget_settings)
    clock = Clock()
    app.state.clock = clock
    async with running(app) as client:
        db = await asyncpg.create_pool(budget_settings.database_url, min_size=1, max_size=4)
        producer = kafka.producer(budget_settings.kafka_bootstrap_servers, client_id="budget-plan-tests")
        await producer.start()
        recorder = Recorder(budget_settings.kafka_bootstrap_servers, budget_settings.topic_prefix, PUBLISHED, CONSUMED)
        await recorder.start()
        try:
            yield Harness(budget_settings, client, db, producer, recorder), clock
        finally:
            await recorder.stop()
            await producer.stop()
            await db.close()


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


async def _plan(h: Harness, team: str, amount: str, **fields: Any) -> dict[str, Any]:
    r = await h.client.post("/plans", json={"id": uid("plan"), "fiscal_year": 2031, "team": team,
                                            "amount": eur(amount), **fields}, headers=h.finance)
    assert r.status_code == 201, r.text
    return r.json()


async def _line(h: Harness, team: str, quarter: int, amount: str, channel: str = "email") -> Any:
    return await h.client.post("/budget-lines", json={"id": uid("line"), "fiscal_year": 2031, "quarter": quarter,
                                                      "team": team, "channel": channel, "amount": eur(amount)},
                               headers=h.finance)


async def _commit(h: Harness, campaign_id: str, line_id: str, amount: str, flight: tuple[dt.date, dt.date],
                  *, approve: bool = True) -> None:
    events = [brief_submitted(campaign_id, line_id, amount, flight=flight)]
    if approve:
        events.append(gate_approved(campaign_id))
    await h.publish(*events)
    await h.processed(*events)


async def _spend(h: Harness, campaign_id: str, reference: str, amount: str, incurred_on: str) -> None:
    r = await h.client.post("/spend", json={"campaign_id": campaign_id, "source_system": "finance-manual",
                                            "source_reference": reference, "amount": eur(amount),
                                            "incurred_on": incurred_on}, headers=h.finance)
    assert r.status_code == 201, r.text


def _totals(t: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(t[k]["amount"] if t[k] else None for k in ("plan", "allocated", "reserved", "committed", "spent"))


async def test_a_plan_rolls_up_quarters_lines_and_campaigns(h: tuple[Harness, Clock]) -> None:
    harness, _ = h
    team = uid("team")
    plan = await _plan(harness, team, "100000.00")
    l1 = (await _line(harness, team, 1, "40000.00")).json()["id"]
    l2 = (await _line(harness, team, 2, "30000.00")).json()["id"]
    a, b = uid("cmp"), uid("cmp")
    q1 = (dt.date(2031, 2, 1), dt.date(2031, 3, 31))
    await _commit(harness, a, l1, "10000.00", q1)
    await _commit(harness, b, l1, "5000.00", q1, approve=False)  # reserved only
    await _spend(harness, a, uid("inv"), "2500.00", "2031-02-10")

    r = await harness.client.get(f"/plans/{plan['id']}", headers=harness.viewer)
    assert r.status_code == 200, r.text
    report = r.json()
    # plan 100000; lines given 40000 + 30000; reserved 5000 (b); committed 10000 (a); spent 2500
    assert _totals(report["totals"]) == ("100000.00", "70000.00", "5000.00", "10000.00", "2500.00")
    assert report["unallocated"]["amount"] == "30000.00"
    assert [(q["quarter"], _totals(q["totals"])) for q in report["quarters"]] == [
        (1, (None, "40000.00", "5000.00", "10000.00", "2500.00")),
        (2, (None, "30000.00", "0.00", "0.00", "0.00"))]
    (line1,) = report["quarters"][0]["lines"]
    # the line handed 15000 to campaigns (10000 committed + 5000 reserved); available 40000 - 15000
    assert line1["id"] == l1 and _totals(line1["totals"]) == ("40000.00", "15000.00", "5000.00", "10000.00",
                                                              "2500.00")
    assert line1["available"]["amount"] == "25000.00"
    assert {c["campaign_id"]: (c["hold_status"], _totals(c["totals"])) for c in line1["campaigns"]} == {
        a: ("committed", ("10000.00", "10000.00", "0.00", "10000.00", "2500.00")),
        b: ("reserved", ("5000.00", "5000.00", "5000.00", "0.00", "0.00"))}
    assert report["quarters"][1]["lines"][0]["id"] == l2

    # A requester of another team sees every total but no campaign row (SPEC 5).
    r = await harness.client.get(f"/plans/{plan['id']}", headers=_team_token(harness, "rob", "brand"))
    assert r.status_code == 200
    hidden = r.json()
    assert _totals(hidden["totals"]) == _totals(report["totals"])
    assert hidden["quarters"][0]["lines"][0]["campaigns"] == []
    assert hidden["filtered"] is True and hidden["hidden_campaign_rows"] == 2
    # ... while one of the campaigns' team (growth, as the briefs say) sees both.
    r = await harness.client.get(f"/plans/{plan['id']}", headers=_team_token(harness, "gina", "growth"))
    assert len(r.json()["quarters"][0]["lines"][0]["campaigns"]) == 2


def _team_token(h: Harness, subject: str, team: str) -> dict[str, str]:
    return auth(h.settings, subject, "requester", team=team)


async def test_lines_never_take_a_plan_past_its_amount(h: tuple[Harness, Clock]) -> None:
    harness, _ = h
    team = uid("team")
    plan = await _plan(harness, team, "30000.00", channel="email")
    # ten finance users create 5000 lines at once: 30000 / 5000 = 6 fit, 4 are refused
    results = await asyncio.gather(*(_line(harness, team, 1 + i % 4, "5000.00") for i in range(10)))
    assert sorted(r.status_code for r in results) == [201] * 6 + [409] * 4
    refused = next(r for r in results if r.status_code == 409)
    assert "unallocated" in refused.json()["detail"]
    r = await harness.client.get(f"/plans/{plan['id']}", headers=harness.viewer)
    assert r.json()["totals"]["allocated"]["amount"] == "30000.00"

    # a line on another channel is outside this channel plan; raising a line in it is refused
    assert (await _line(harness, team, 1, "999.00", channel="video")).status_code == 201
    created = [r.json()["id"] for r in results if r.status_code == 201]
    r = await harness.client.post(f"/budget-lines/{created[0]}/adjustments",
                                  json={"amount": eur("5000.01"), "reason": "more"}, headers=harness.finance)
    assert r.status_code == 409, r.text
    # the plan cannot shrink below what its lines were given ...
    r = await harness.client.post(f"/plans/{plan['id']}/adjustments", json={"amount": eur("29999.99"),
                                                                           "reason": "cut"}, headers=harness.finance)
    assert r.status_code == 409
    # ... not even while its lines are being lowered: the shrink waits its turn and is judged
    # on what is allocated when it gets it (27000 once all three lines are lowered by 1000)
    *lowered, shrink = await asyncio.gather(*(harness.client.post(
        f"/budget-lines/{line_id}/adjustments", json={"amount": eur("4000.00"), "reason": "cut"},
        headers=harness.finance) for line_id in created[:3]), harness.client.post(
        f"/plans/{plan['id']}/adjustments", json={"amount": eur("27000.00"), "reason": "cut"},
        headers=harness.finance))
    assert [r.status_code for r in lowered] == [200, 200, 200]
    assert shrink.status_code in (200, 409), shrink.text
    totals = (await harness.client.get(f"/plans/{plan['id']}", headers=harness.viewer)).json()["totals"]
    assert totals["allocated"]["amount"] == "27000.00"
    assert totals["plan"]["amount"] == ("27000.00" if shrink.status_code == 200 else "30000.00")
    # a team-wide plan beside the channel plan is refused
    r = await harness.client.post("/plans", json={"fiscal_year": 2031, "team": team, "amount": eur("1.00")},
                                  headers=harness.finance)
    assert r.status_code == 409
    # only finance (and ops admins) write plans
    r = await harness.client.post("/plans", json={"fiscal_year": 2031, "team": uid("t"), "amount": eur("1.00")},
                                  headers=harness.auth("alex", "approver"))
    assert r.status_code == 403


async def test_phasing_by_month_beside_spend(h: tuple[Harness, Clock]) -> None:
    harness, _ = h
    line = (await _line(harness, uid("team"), 2, "9000.00")).json()["id"]
    body = {"months": [{"month": "2031-04", "amount": eur("2000.00")}, {"month": "2031-05", "amount": eur("3000.00")},
                       {"month": "2031-06", "amount": eur("4000.00")}]}
    r = await harness.client.put(f"/budget-lines/{line}/phasing", json=body, headers=harness.finance)
    assert r.status_code == 200, r.text
    campaign = uid("cmp")
    await _commit(harness, campaign, line, "5000.00", (dt.date(2031, 4, 1), dt.date(2031, 6, 30)))
    await _spend(harness, campaign, uid("inv"), "1500.00", "2031-04-20")
    await _spend(harness, campaign, uid("inv"), "1000.00", "2031-05-02")
    out = (await harness.client.get(f"/budget-lines/{line}/phasing", headers=harness.viewer)).json()
    assert out["phased"]["amount"] == "9000.00" and out["unphased"]["amount"] == "0.00"
    assert [(m["month"], m["planned"]["amount"], m["spent"]["amount"], m["cumulative_planned"]["amount"],
             m["cumulative_spent"]["amount"]) for m in out["months"]] == [
        ("2031-04", "2000.00", "1500.00", "2000.00", "1500.00"),
        ("2031-05", "3000.00", "1000.00", "5000.00", "2500.00"),
        ("2031-06", "4000.00", "0.00", "9000.00", "2500.00")]
    for bad in ([{"month": "2031-07", "amount": eur("1.00")}],  # not a month of Q2
                [{"month": "2031-04", "amount": eur("9000.01")}]):  # more than the line
        r = await harness.client.put(f"/budget-lines/{line}/phasing", json={"months": bad}, headers=harness.finance)
        assert r.status_code == 422, r.text


async def test_run_out_forecast_and_its_announcements(h: tuple[Harness, Clock]) -> None:
    harness, clock = h
    line = (await _line(harness, uid("team"), 2, "10000.00")).json()["id"]
    a, b = uid("cmp"), uid("cmp")
    # a: 6000 over 30 days (April); b: 4000 over 40 days (April 1 - May 10)
    await _commit(harness, a, line, "6000.00", (dt.date(2031, 4, 1), dt.date(2031, 4, 30)))
    await _commit(harness, b, line, "4000.00", (dt.date(2031, 4, 1), dt.date(2031, 5, 10)))
    clock.now = dt.datetime(2031, 4, 10, 12, tzinfo=dt.UTC)
    await _spend(harness, a, uid("inv"), "3000.00", "2031-04-05")

    r = await harness.client.get(f"/budget-lines/{line}/forecast", params={"as_of": "2031-04-10"},
                                 headers=harness.viewer)
    assert r.status_code == 200, r.text
    f = r.json()
    # a: 3000 in 10 elapsed days = 300/day, 20 days left -> 9000; b: nothing spent, planned 4000/40 = 100/day,
    # 30 days left -> 3000. F(10 April + k) = 3000 + 400k reaches 10000 at k = 18: 28 April.
    assert [(c["campaign_id"], c["daily_pace"]["amount"], c["remaining_days"], c["forecast_spend"]["amount"])
            for c in f["campaigns"]] == sorted([(a, "300.00", 20, "9000.00"), (b, "100.00", 30, "3000.00")])
    assert (f["run_out_on"], f["within_horizon"], f["forecast_spend"]["amount"]) == ("2031-04-28", True, "12000.00")

    (first,) = await harness.published_exactly("BudgetLineRunOutForecast", line)
    assert first["subject"] == line
    assert {k: first["data"].get(k) for k in ("revision", "as_of", "run_out_on", "within_horizon", "previous_run_out_on")
            } == {"revision": 1, "as_of": "2031-04-10", "run_out_on": "2031-04-28", "within_horizon": True,
                  "previous_run_out_on": None}
    assert (first["data"]["committed"]["amount"], first["data"]["spent"]["amount"],
            first["data"]["forecast_spend"]["amount"]) == ("10000.00", "3000.00", "12000.00")

    # 11 April, a spends 300 more: 3300 / 11 days = 300/day still; F = 3300 + 400k reaches 10000 at k = 17:
    # 28 April again, so nothing is announced.
    clock.now = dt.datetime(2031, 4, 11, 12, tzinfo=dt.UTC)
    await _spend(harness, a, uid("inv"), "300.00", "2031-04-11")
    assert len(await harness.published_exactly("BudgetLineRunOutForecast", line)) == 1
    # b spends 2000: 2000/11 a day; F = 5300 + (300 + 2000/11)k reaches 10000 at k = 10 (9: 9636.36):
    # 21 April, 7 days earlier -- material (BUDGET_RUN_OUT_MATERIAL_DAYS 7). Forecast spend to the last
    # flight day: 5300 + 19 x 300 + 29 x 2000/11 = 16272.73.
    await _spend(harness, b, uid("inv"), "2000.00", "2031-04-11")
    second = (await harness.published_exactly("BudgetLineRunOutForecast", line))[1]["data"]
    assert {k: second.get(k) for k in ("revision", "as_of", "run_out_on", "previous_run_out_on")} == {
        "revision": 2, "as_of": "2031-04-11", "run_out_on": "2031-04-21", "previous_run_out_on": "2031-04-28"}
    assert second["forecast_spend"]["amount"] == "16272.73"
    # raising the line to 20000 takes the run-out day out of reach (16272.73 < 20000): announced once
    r = await harness.client.post(f"/budget-lines/{line}/adjustments", json={"amount": eur("20000.00"),
                                                                            "reason": "more"},
                                  headers=harness.finance)
    assert r.status_code == 200, r.text
    third = (await harness.published_exactly("BudgetLineRunOutForecast", line))[2]["data"]
    assert (third["revision"], third.get("run_out_on"), third["within_horizon"]) == (3, None, False)
    f = (await harness.client.get(f"/budget-lines/{line}/forecast", params={"as_of": "2031-04-11"},
                                  headers=harness.viewer)).json()
    assert f["last_announcement"] == {"revision": 3, "run_out_on": None, "within_horizon": False}
    # the campaign rows of the forecast follow the access rule
    f = (await harness.client.get(f"/budget-lines/{line}/forecast", headers=_team_token(harness, "rob", "brand"))
         ).json()
    assert f["campaigns"] == [] and f["filtered"] is True


PLAN_FILE = """fiscal_year,team,channel,quarter,id,name,amount,currency
2031,{team},,,{team}-2031,Plan 2031,50000.00,EUR
2031,{team},email,1,{team}-email-q1,Email Q1,20000.00,EUR
2031,{team},video,2,{team}-video-q2,Video Q2,25000.00,EUR
"""


async def _import(h: Harness, text: str, dry_run: bool) -> Any:
    return await h.client.post("/plan-imports", params={"dry_run": str(dry_run).lower()}, content=text.encode(),
                               headers=h.finance | {"Content-Type": "text/csv"})


async def test_a_plan_file_dry_run_then_all_or_nothing(h: tuple[Harness, Clock]) -> None:
    harness, _ = h
    team = uid("team")
    bad = PLAN_FILE.format(team=team) + (f"2031,{team},email,5,{team}-x,,1.00,EUR\n"  # row 5: quarter
                                         f"2031,{team},radio,1,{team}-y,,abc,EUR\n"  # row 6: channel, amount
                                         f"2031,{team},email,1,{team}-z,,6000.00,EUR\n")  # row 7: past the plan
    r = await _import(harness, bad, dry_run=True)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    errors = [(e["row"], e["column"]) for e in r.json()["errors"]]
    assert errors == [(5, "quarter"), (6, "amount"), (6, "channel")]
    # field errors come first; with them fixed, the rules are checked on every row too
    rules_only = PLAN_FILE.format(team=team) + f"2031,{team},email,1,{team}-z,,6000.00,EUR\n"
    r = await _import(harness, rules_only, dry_run=False)
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    # 20000 + 25000 + 6000 = 51000 > 50000
    assert (error["row"], error["column"]) == (5, "amount") and "unallocated" in error["message"]
    assert (await harness.client.get(f"/plans/{team}-2031", headers=harness.viewer)).status_code == 404

    good = PLAN_FILE.format(team=team)
    r = await _import(harness, good, dry_run=True)
    assert r.status_code == 200, r.text
    assert (r.json()["dry_run"], r.json()["created"]) == (True, 3)
    assert (await harness.client.get(f"/plans/{team}-2031", headers=harness.viewer)).status_code == 404
    r = await _import(harness, good, dry_run=False)
    assert (r.json()["created"], r.json()["unchanged"]) == (3, 0)
    plan = (await harness.client.get(f"/plans/{team}-2031", headers=harness.viewer)).json()
    assert _totals(plan["totals"])[:2] == ("50000.00", "45000.00")
    # applied again: nothing changes
    r = await _import(harness, good, dry_run=False)
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 3)
    # a file that shrinks the plan and a line together is judged on where it ends
    moved = good.replace("50000.00", "40000.00").replace("25000.00", "15000.00")
    r = await _import(harness, moved, dry_run=False)
    assert r.status_code == 200, r.text
    assert r.json()["updated"] == 2
    plan = (await harness.client.get(f"/plans/{team}-2031", headers=harness.viewer)).json()
    assert _totals(plan["totals"])[:2] == ("40000.00", "35000.00")
    assert Decimal(plan["unallocated"]["amount"]) == Decimal(5000)


async def test_time_passing_alone_brings_a_run_out_day_inside_the_horizon(h: tuple[Harness, Clock]) -> None:
    harness, _ = h
    line = (await _line(harness, uid("team"), 2, "3000.00")).json()["id"]
    # 3000 committed over June (30 days); 500 spent in its first days
    campaign = uid("cmp")
    await _commit(harness, campaign, line, "3000.00", (dt.date(2031, 6, 1), dt.date(2031, 6, 30)))
    await _spend(harness, campaign, uid("inv"), "500.00", "2031-06-03")  # today is 11 April: far off
    pool = harness.db
    rules = Rules.from_settings(harness.settings)
    # 20 May: the flight has not started, 100 a day planned: 500 + 100k reaches 3000 on 25 June, 36 days away
    at = dt.datetime(2031, 5, 20, 6, tzinfo=dt.UTC)
    await sweep_forecasts(pool, rules, lambda: at)
    assert await harness.outbox("BudgetLineRunOutForecast", line) == []
    # 5 June: 500 in 5 days, 100 a day observed, 25 days left: 3000 on 30 June, 25 days away: announced, once
    at = dt.datetime(2031, 6, 5, 6, tzinfo=dt.UTC)
    await sweep_forecasts(pool, rules, lambda: at)
    await sweep_forecasts(pool, rules, lambda: at)
    (announced,) = await harness.published_exactly("BudgetLineRunOutForecast", line)
    assert (announced["data"]["as_of"], announced["data"]["run_out_on"]) == ("2031-06-05", "2031-06-30")


async def test_a_plan_file_phases_its_lines_by_month(h: tuple[Harness, Clock]) -> None:
    harness, _ = h
    team = uid("team")
    head = "fiscal_year,team,channel,quarter,id,name,amount,currency,month_1,month_2,month_3\n"
    plan = f"2031,{team},,,{team}-2031,Plan 2031,50000.00,EUR,,,\n"
    bad = head + plan.replace(",,,\n", ",100.00,,\n") + (  # row 2: a plan has no phasing
        f"2031,{team},email,2,{team}-email-q2,,9000.00,EUR,4000.00,4000.00,2000.00\n"  # row 3: 10000 > 9000
        f"2031,{team},video,3,{team}-video-q3,,9000.00,EUR,-1,,\n")  # row 4: negative
    r = await _import(harness, bad, dry_run=True)
    assert r.status_code == 422, r.text
    assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(2, "month_1"), (3, "month_3"), (4, "month_1")]

    good = head + plan + (f"2031,{team},email,2,{team}-email-q2,,9000.00,EUR,4000.00,,3000.00\n"
                          f"2031,{team},video,3,{team}-video-q3,,9000.00,EUR,,,\n")
    r = await _import(harness, good, dry_run=False)
    assert (r.json()["created"], r.json()["unchanged"]) == (3, 0), r.text
    phased = (await harness.client.get(f"/budget-lines/{team}-email-q2/phasing", headers=harness.viewer)).json()
    # April and June planned, May left empty: 2000 of the line's 9000 not phased
    assert [(m["month"], m["planned"]["amount"]) for m in phased["months"]] == [
        ("2031-04", "4000.00"), ("2031-06", "3000.00")]
    assert phased["unphased"]["amount"] == "2000.00"
    unphased = (await harness.client.get(f"/budget-lines/{team}-video-q3/phasing", headers=harness.viewer)).json()
    assert unphased["months"] == [] and unphased["unphased"]["amount"] == "9000.00"
    # the same file again changes nothing; new months update the line's phasing only
    r = await _import(harness, good, dry_run=False)
    assert (r.json()["updated"], r.json()["unchanged"]) == (0, 3), r.text
    moved = good.replace("4000.00,,3000.00", "3000.00,3000.00,3000.00")
    r = await _import(harness, moved, dry_run=False)
    assert (r.json()["updated"], r.json()["unchanged"]) == (1, 2), r.text
    phased = (await harness.client.get(f"/budget-lines/{team}-email-q2/phasing", headers=harness.viewer)).json()
    assert [m["planned"]["amount"] for m in phased["months"]] == ["3000.00", "3000.00", "3000.00"]
    assert phased["unphased"]["amount"] == "0.00"
