"""Outcome metrics (SPEC section 4 "Outcome metrics") through real Kafka, checked number by
number against values computed by hand below; delivery shuffled across topics and
duplicated (the same event again, and the same report re-sent under a new event id).

  id  team    channels            Q of v1  KPIs (position: key kind direction target unit)
  O1  growth  email, paid_search  Q1       1 leads outcome inc 400 leads; 2 revenue outcome inc 50000 EUR;
                                           3 unsubscribes activity dec 2 percent
  O2  growth  paid_social         Q1       1 impressions activity inc 1000000; 2 pipeline outcome inc 100000 USD
  O3  brand   video, email        Q2       1 awareness (free text, no kind) 10 points
  O4  brand   print               Q2       1 cpa outcome dec 50 EUR
  O5  product email               Q2       1 leads outcome inc 100

  O1 results: analytics/w1 as of 02-15 (leads 200, revenue 20000); analytics/w2 as of 03-01
     (leads 450, revenue 60000, unsubscribes 1.6), re-sent later under a new event id with leads 999
     (the earliest copy counts); crm/x also as of 03-01 but recorded later (leads 300: the tie goes
     to the earliest); completion 03-31 with leads 480 (as of 03-31: current).
     current: leads 480 -> 1.2, revenue 60000 -> 1.2, unsubscribes 2/1.6 = 1.25: met.
     spend 4500 EUR: cost per result 4500/480 = 9.375; return on spend (60000-4500)/4500 = 12.3333...
  O2 results as of 03-10: impressions 800000 -> 0.8, pipeline 50000 -> 0.5: not met. Completed without
     results of its own. Spend 2000 EUR: cost per result 2000/50000 = 0.04; no return (pipeline is USD).
  O3 result awareness 12 -> 1.2: met (and a result for "reach", not one of its KPIs: ignored).
     Spend 1000 EUR, no outcome KPI: no cost per result, no return. Not completed.
  O4 completion results cpa 0: attainment none (divisor 0), not met; cost per result none (actual 0);
     spend 500 EUR, return (0-500)/500 = -1.
  O5 completed, no results, no spend. A report for campaign O9 (no brief) counts nowhere.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import pytest_asyncio
from pytest import approx

from marops_events import contracts as c
from marops_testkit.apps import auth
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def kpi(metric: str, target: int | str, unit: str, kind: str | None = "outcome",
        direction: str = "increase") -> c.Kpi:
    return c.Kpi(metric=metric, target=Decimal(target), unit=unit, timeframe="90 days",
                 kind=c.KpiKind(kind) if kind else None, direction=c.KpiDirection(direction))


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def outcome_story(s):
    s.campaign("O1", team="growth", channels=["email", "paid_search"], target=date(2026, 2, 10), line="L-G")
    s.submit("O1", 1, at(1, 5, 9), 5000, kpis=[kpi("leads", 400, "leads"), kpi("revenue", 50000, "EUR"),
                                                kpi("unsubscribes", 2, "percent", "activity", "decrease")])
    s.spend("O1", "inv-o1-1", "3000.00", date(2026, 2, 15))
    s.spend("O1", "inv-o1-2", "1500.00", date(2026, 3, 2))
    s.results("O1", "analytics", "w1", date(2026, 2, 15), {"leads": "200", "revenue": "20000"}, at(2, 16))
    s.results("O1", "analytics", "w2", date(2026, 3, 1), {"leads": "450", "revenue": "60000", "unsubscribes": "1.6"},
              at(3, 2))
    s.results("O1", "analytics", "w2", date(2026, 3, 1), {"leads": "999"}, at(3, 5))  # re-sent: ignored
    s.results("O1", "crm", "x", date(2026, 3, 1), {"leads": "300"}, at(3, 3))  # same as-of, later: loses
    s.complete("O1", at(3, 31, 12), {"leads": "480"})

    s.campaign("O2", team="growth", channels=["paid_social"], target=date(2026, 2, 20), line="L-G")
    s.submit("O2", 1, at(1, 20, 9), 8000, kpis=[kpi("impressions", 1_000_000, "impressions", "activity"),
                                                 kpi("pipeline", 100_000, "USD")])
    s.spend("O2", "meta-o2", "2000.00", date(2026, 3, 1), system="meta-ads")
    s.results("O2", "analytics", "o2-march", date(2026, 3, 10), {"impressions": "800000", "pipeline": "50000"},
              at(3, 11))
    s.complete("O2", at(4, 2, 12))

    s.campaign("O3", team="brand", channels=["video", "email"], target=date(2026, 5, 1), line="L-B")
    s.submit("O3", 1, at(4, 1, 9), 3000, kpis=[kpi("awareness", 10, "points", None)])
    s.spend("O3", "yt-o3", "1000.00", date(2026, 4, 20), system="youtube")
    s.results("O3", "survey", "s1", date(2026, 5, 1), {"awareness": "12", "reach": "5"}, at(5, 2))

    s.campaign("O4", team="brand", channels=["print"], target=date(2026, 5, 1), line="L-B")
    s.submit("O4", 1, at(4, 10, 9), 1000, kpis=[kpi("cpa", 50, "EUR", direction="decrease")])
    s.spend("O4", "print-o4", "500.00", date(2026, 4, 25), system="printco")
    s.complete("O4", at(5, 20, 12), {"cpa": "0"})

    s.campaign("O5", team="product", channels=["email"], target=date(2026, 6, 1), line="L-P")
    s.submit("O5", 1, at(5, 4, 9), 1000, kpis=[kpi("leads", 100, "leads")])
    s.complete("O5", at(6, 1, 12))

    s.campaign("O9", team="product", channels=["email"], target=date(2026, 6, 1), line="L-P")
    s.results("O9", "analytics", "orphan", date(2026, 5, 1), {"leads": "7"}, at(5, 2))
    return s


@pytest.fixture(scope="module")
def story_o(story):
    return outcome_story(story())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def loaded(metrics, story_o):
    events = list(story_o.events)
    random.Random(17).shuffle(events)  # interleaves the topics; one key's events of one type keep their order
    redelivered = events[:8]
    await metrics.publish([*events, *redelivered])
    await metrics.wait_applied(len(events))
    await metrics.wait_caught_up()
    return metrics


async def get(app, path: str, who: tuple[str, str] = ("vera", "viewer"), team: str | None = None) -> dict:
    headers = auth(app.settings, who[0], who[1], team=team)
    response = await app.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def by(items: list[dict], key: str) -> dict[str, dict]:
    return {item[key]: item for item in items}


async def test_each_campaigns_kpis_results_and_money(loaded) -> None:
    body = await get(loaded, "/outcomes/campaigns")
    campaigns = by(body["campaigns"], "campaign_id")
    assert sorted(campaigns) == ["O1", "O2", "O3", "O4", "O5"]  # O9 has no brief
    o1 = campaigns["O1"]
    kpis = by(o1["kpis"], "metric")
    assert [k["metric"] for k in o1["kpis"]] == ["leads", "revenue", "unsubscribes"]
    assert (kpis["leads"]["actual"], kpis["leads"]["as_of"], kpis["leads"]["attainment"]) == \
        ("480", "2026-03-31", approx(1.2))
    assert (kpis["revenue"]["actual"], kpis["revenue"]["as_of"], kpis["revenue"]["attainment"]) == \
        ("60000", "2026-03-01", approx(1.2))
    assert (kpis["unsubscribes"]["direction"], kpis["unsubscribes"]["kind"], kpis["unsubscribes"]["attainment"]) == \
        ("decrease", "activity", approx(1.25))
    assert (o1["has_results"], o1["met_targets"], o1["completed"]) == (True, True, True)
    assert o1["money"] == [{"currency": "EUR", "actual_spend": "4500.00", "cost_per_result": "9.3750",
                            "return_on_spend": "12.3333"}]  # 55 500 / 4 500, half-even

    o2 = campaigns["O2"]
    assert [k["attainment"] for k in o2["kpis"]] == [approx(0.8), approx(0.5)]
    assert (o2["met_targets"], o2["money"][0]["cost_per_result"], o2["money"][0]["return_on_spend"]) == \
        (False, "0.0400", None)

    o3 = campaigns["O3"]
    assert [(k["metric"], k["kind"], k["attainment"]) for k in o3["kpis"]] == [("awareness", None, approx(1.2))]
    assert (o3["met_targets"], o3["money"][0]["cost_per_result"], o3["money"][0]["return_on_spend"]) == \
        (True, None, None)

    o4 = campaigns["O4"]
    assert (o4["kpis"][0]["actual"], o4["kpis"][0]["attainment"], o4["met_targets"]) == ("0", None, False)
    assert (o4["money"][0]["cost_per_result"], o4["money"][0]["return_on_spend"]) == (None, "-1.0000")

    o5 = campaigns["O5"]
    assert (o5["has_results"], o5["met_targets"], o5["money"], o5["kpis"][0]["actual"]) == (False, None, [], None)


def numbers(body: dict) -> tuple:
    return (body["campaigns"], body["completed"], body["completed_with_results"], body["with_results"],
            body["met_targets"], body["results_reported_rate"], body["target_met_rate"])


def dist(body: dict) -> tuple:
    return body["count"], body["mean"], body["p50"], body["p90"]


async def test_aggregates_overall_and_by_group(loaded) -> None:
    overall = (await get(loaded, "/aggregates/outcomes"))["overall"]
    # completed O1 O2 O4 O5; with a result O1 O2 O3 O4; completed with one O1 O2 O4; met O1 O3
    assert numbers(overall) == (5, 4, 3, 4, 2, approx(0.75), approx(0.5))
    # attainments 0.5 0.8 1.2 1.2 1.2 1.25: mean 6.15/6 = 1.025; p50 h=2.5 -> 1.2; p90 h=4.5 -> 1.2+.5*.05
    assert dist(overall["attainment"]) == (6, approx(1.025), approx(1.2), approx(1.225))
    # cost per result EUR: 0.04, 9.375: mean 4.7075; p90 0.04 + .9*9.335 = 8.4415
    assert overall["cost_per_result"] == [{"currency": "EUR", "count": 2, "mean": approx(4.7075),
                                           "p50": approx(4.7075), "p90": approx(8.4415)}]
    # return on spend EUR: -1, 12.3333 (as each campaign states it): mean 5.66665; p90 -1 + .9*13.3333
    ros = 12.3333
    assert overall["return_on_spend"] == [{"currency": "EUR", "count": 2, "mean": approx((ros - 1) / 2),
                                           "p50": approx((ros - 1) / 2), "p90": approx(-1 + 0.9 * (ros + 1))}]

    teams = by((await get(loaded, "/aggregates/outcomes?group_by=team"))["groups"], "group")
    assert numbers(teams["growth"]) == (2, 2, 2, 2, 1, approx(1.0), approx(0.5))
    assert numbers(teams["brand"]) == (2, 1, 1, 2, 1, approx(1.0), approx(0.5))
    assert numbers(teams["product"]) == (1, 1, 0, 0, 0, approx(0.0), None)

    quarters = by((await get(loaded, "/aggregates/outcomes?group_by=quarter"))["groups"], "group")
    assert set(quarters) == {"2026-Q1", "2026-Q2"}
    assert numbers(quarters["2026-Q1"]) == (2, 2, 2, 2, 1, approx(1.0), approx(0.5))
    assert numbers(quarters["2026-Q2"]) == (3, 2, 1, 2, 1, approx(0.5), approx(0.5))

    channels = by((await get(loaded, "/aggregates/outcomes?group_by=channel"))["groups"], "group")
    # email: O1 O3 O5 (a campaign counts under each of its channels)
    assert numbers(channels["email"]) == (3, 2, 1, 2, 2, approx(0.5), approx(1.0))
    assert dist(channels["email"]["attainment"]) == (4, approx(4.85 / 4), approx(1.2), approx(1.235))


async def test_csv_and_access(loaded) -> None:
    response = await loaded.client.get("/aggregates/outcomes?group_by=team&format=csv",
                                       headers=auth(loaded.settings, "vera", "viewer"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("group,campaigns,completed,completed_with_results,with_results,met_targets")
    assert any(line.startswith("growth,2,2,2,2,1,") for line in lines)
    rows = (await loaded.client.get("/outcomes/campaigns?format=csv",
                                    headers=auth(loaded.settings, "vera", "viewer"))).text.strip().splitlines()
    assert len(rows) == 1 + 3 + 2 + 1 + 1 + 1  # a header and one row per campaign and KPI

    mine = await get(loaded, "/outcomes/campaigns", ("rita", "requester"), team="growth")
    assert mine["filtered"] is True and [c["campaign_id"] for c in mine["campaigns"]] == ["O1", "O2"]
    agg = await get(loaded, "/aggregates/outcomes", ("rita", "requester"), team="growth")
    assert agg["filtered"] is True and numbers(agg["overall"]) == (2, 2, 2, 2, 1, approx(1.0), approx(0.5))

    page = await get(loaded, "/outcomes/campaigns?limit=2")
    assert [c["campaign_id"] for c in page["campaigns"]] == ["O1", "O2"] and page["next_cursor"] == "O2"
    rest = await get(loaded, f"/outcomes/campaigns?limit=2&cursor={page['next_cursor']}")
    assert [c["campaign_id"] for c in rest["campaigns"]] == ["O3", "O4"]


async def test_rebuild_equals_incremental(loaded, dump_read_model) -> None:
    before = {path: await get(loaded, path) for path in ("/outcomes/campaigns", "/aggregates/outcomes?group_by=team")}
    tables = await dump_read_model(loaded.settings.database_url)
    admin = {**auth(loaded.settings, "ada", "ops_admin"), "Idempotency-Key": str(uuid.uuid4())}
    started = await loaded.client.post("/admin/rebuild", headers=admin)
    assert started.status_code == 202, started.text

    async def finished() -> dict | None:
        run = (await loaded.client.get(started.json()["href"], headers=admin)).json()
        assert run["status"] != "failed", run
        return run if run["status"] == "succeeded" else None

    await wait_for(finished, timeout=60, interval=0.2, message="rebuild succeeded")
    assert await dump_read_model(loaded.settings.database_url) == tables
    for path, body in before.items():
        assert await get(loaded, path) == body


async def test_a_malformed_report_from_an_analytics_system_is_dead_lettered_with_its_reason(loaded) -> None:
    from aiokafka import AIOKafkaProducer

    from marops_testkit.events import Recorder

    recorder = Recorder(loaded.settings.kafka_bootstrap_servers, loaded.prefix, (), ("KpiResultsRecorded",))
    await recorder.start()
    topic = f"{loaded.prefix}marops.kpi-results-recorded.v1"
    bad = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "analytics/x", "type": "KpiResultsRecorded",
           "time": "2026-05-01T00:00:00Z", "subject": "O1", "datacontenttype": "application/json",
           "data": {"campaign_id": "O1", "source_system": "x", "source_reference": "bad-1", "as_of": "2026-05-01",
                    "results": []}}
    producer = AIOKafkaProducer(bootstrap_servers=loaded.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=b"O1", value=json.dumps(bad).encode(),
                                     headers=[("ce_type", b"KpiResultsRecorded")])
    finally:
        await producer.stop()
    try:
        async def lettered() -> list | None:
            return recorder.dead_letters("KpiResultsRecorded") or None
        [letter] = await wait_for(lettered, timeout=60, interval=0.3, message="the report dead-lettered")
        reason = dict(letter.headers)["dlq.reason"].decode()
        assert "results" in reason and "KpiResultsRecorded failed validation" in reason
    finally:
        await recorder.stop()
    # ... and the numbers are untouched
    body = await get(loaded, "/outcomes/campaigns")
    assert {c["campaign_id"] for c in body["campaigns"]} == {"O1", "O2", "O3", "O4", "O5"}
