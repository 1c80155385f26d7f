"""The dozen-campaign scenario (conftest.dozen_campaigns) through real Kafka into the running
service, checked number by number against values computed by hand below.

Facts the arithmetic uses (times UTC, 2026; hours between the listed instants):

  id  team     channels              target  launched        v1 submitted  cycle (h)  on time  snapshot
  C01 growth   email, paid_search    02-10   02-09 09:00     01-05 09:00   35d=840    yes      complete
  C02 growth   paid_social           02-20   02-23 10:00     01-08 10:00   46d=1104   late     complete
  C03 brand    video, display        03-15   03-16 09:00     01-15 09:00   60d=1440   late     no tracking
  C04 brand    print                 04-10   04-10 20:00     02-02 09:00   67d11h=1619 yes     complete
  C05 product  content, email        03-01   -               02-03 09:00   rejected outright
  C06 product  events                03-20   -               02-09 09:00   cancelled
  C07 growth   paid_search           04-05   04-01 09:00     03-02 09:00   30d=720    yes      complete
  C08 brand    organic_social        03-31   03-31 23:00     03-10 09:00   21d14h=518 yes      no KPIs
  C09 product  sms, email            04-30   04-28 09:00     04-01 09:00   27d=648    yes      complete
  C10 growth   display               05-01   -               04-06 09:00   brand-legal undecided
  C11 brand    video                 05-20   05-25 09:00     04-13 09:00   42d=1008   late     complete
  C12 product  affiliate             06-15   -               05-04 09:00   nothing decided

Percentiles interpolate like numpy 'linear': rank h = (n-1)*p, value = x[floor h] + frac(h)*(next - x[floor h]).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from pytest import approx

from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")



@pytest.fixture(scope="module")
def viewer(dozen_loaded) -> dict[str, str]:
    return auth(dozen_loaded.settings, "vera", "viewer")


@pytest.fixture(scope="module")
def client(dozen_loaded):
    return dozen_loaded.client


async def get(client, viewer, path: str) -> dict:
    response = await client.get(path, headers=viewer)
    assert response.status_code == 200, response.text
    return response.json()


def by(items: list[dict], key: str) -> dict[str, dict]:
    return {item[key]: item for item in items}


def stats(body: dict) -> tuple:
    return body["count"], body["mean_hours"], body["p50_hours"], body["p90_hours"]


D = Decimal


def money_row(row: dict) -> tuple:
    pct = D(row["variance_pct"]) if row["variance_pct"] is not None else None
    return D(row["committed"]), D(row["actual"]), D(row["variance"]), pct


async def test_cycle_time(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/cycle-time")
    # sorted: 518 648 720 840 1008 1104 1440 1619; sum 7897
    # mean 7897/8 = 987.125; p50 h=3.5 -> 840 + .5*(1008-840) = 924; p90 h=6.3 -> 1440 + .3*(1619-1440) = 1493.7
    assert stats(body["overall"]) == (8, approx(987.125), approx(924.0), approx(1493.7))

    teams = by((await get(client, viewer, "/aggregates/cycle-time?group_by=team"))["groups"], "group")
    # brand 518 1008 1440 1619: mean 4585/4 = 1146.25; p50 h=1.5 -> 1008+.5*432 = 1224; p90 h=2.7 -> 1440+.7*179
    assert stats(teams["brand"]) == (4, approx(1146.25), approx(1224.0), approx(1565.3))
    # growth 720 840 1104: mean 2664/3 = 888; p50 840; p90 h=1.8 -> 840 + .8*264 = 1051.2
    assert stats(teams["growth"]) == (3, approx(888.0), approx(840.0), approx(1051.2))
    # product: C09 only (C05, C06, C12 never launched)
    assert stats(teams["product"]) == (1, approx(648.0), approx(648.0), approx(648.0))

    quarters = by((await get(client, viewer, "/aggregates/cycle-time?group_by=quarter"))["groups"], "group")
    # by quarter of LAUNCH: Q1 = C01 840, C02 1104, C03 1440, C08 518 (03-31 23:00 UTC)
    #   sorted 518 840 1104 1440: mean 3902/4 = 975.5; p50 840+.5*264 = 972; p90 1104+.7*336 = 1339.2
    # Q2 = C04 1619, C07 720 (launched 04-01 though submitted in Q1), C09 648, C11 1008
    #   sorted 648 720 1008 1619: mean 3995/4 = 998.75; p50 720+.5*288 = 864; p90 1008+.7*611 = 1435.7
    assert set(quarters) == {"2026-Q1", "2026-Q2"}
    assert stats(quarters["2026-Q1"]) == (4, approx(975.5), approx(972.0), approx(1339.2))
    assert stats(quarters["2026-Q2"]) == (4, approx(998.75), approx(864.0), approx(1435.7))

    channels = by((await get(client, viewer, "/aggregates/cycle-time?group_by=channel"))["groups"], "group")
    # a campaign counts under each of its channels
    # email: C01 840, C09 648 -> mean 744, p50 744, p90 648 + .9*192 = 820.8
    assert stats(channels["email"]) == (2, approx(744.0), approx(744.0), approx(820.8))
    # paid_search: C01 840, C07 720 -> mean 780, p90 720 + .9*120 = 828
    assert stats(channels["paid_search"]) == (2, approx(780.0), approx(780.0), approx(828.0))
    # video: C03 1440, C11 1008 -> mean 1224, p90 1008 + .9*432 = 1396.8
    assert stats(channels["video"]) == (2, approx(1224.0), approx(1224.0), approx(1396.8))
    # display: C03 only (C10 has not launched)
    assert stats(channels["display"]) == (1, approx(1440.0), approx(1440.0), approx(1440.0))
    assert channels["affiliate"]["count"] == 0  # C12 submitted, not launched


async def test_cycle_time_filters(client, viewer) -> None:
    q2 = await get(client, viewer, "/aggregates/cycle-time?quarter=2026-Q2")
    assert stats(q2["overall"]) == (4, approx(998.75), approx(864.0), approx(1435.7))
    # first submitted on or after 03-01: C07 720, C08 518, C09 648, C11 1008 (the launched ones)
    #   sorted 518 648 720 1008: mean 2894/4 = 723.5; p50 648+.5*72 = 684; p90 720+.7*288 = 921.6
    march_on = await get(client, viewer, "/aggregates/cycle-time?submitted_from=2026-03-01")
    assert stats(march_on["overall"]) == (4, approx(723.5), approx(684.0), approx(921.6))
    # growth launched by 02-28: C01 840, C02 1104 -> mean 972; p90 840 + .9*264 = 1077.6
    early = await get(client, viewer, "/aggregates/cycle-time?team=growth&launched_to=2026-02-28")
    assert stats(early["overall"]) == (2, approx(972.0), approx(972.0), approx(1077.6))
    assert early["filters"] == {"team": "growth", "launched_to": "2026-02-28"}


async def test_time_in_gate_and_bottleneck(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/gate-times")
    gates = by(body["overall"]["gates"], "gate_id")
    assert [g["gate_id"] for g in body["overall"]["gates"]] == ["brief-review", "budget", "brand-legal"]
    # brief-review approvals (replaced versions too): C01 10, C02v2 10, C03v1 24, C03v2 6, C04 4, C06 12,
    #   C07v3 2, C08 1, C09 24, C10 8, C11v2 3, C11v3 3
    #   sorted 1 2 3 3 4 6 8 10 10 12 24 24 (n=12, sum 107): mean 8.9167; p50 h=5.5 -> 6+.5*2 = 7;
    #   p90 h=9.9 -> 12 + .9*12 = 22.8
    assert stats(gates["brief-review"]) == (12, approx(107 / 12), approx(7.0), approx(22.8))
    # budget approvals: C01 28, C02v2 36, C03v1 24, C03v2 24, C04 72, C06 36, C07v3 24, C08 73, C09 24, C10 48,
    #   C11v3 24 (C11v2 was rejected) -> sorted 24 24 24 24 24 28 36 36 48 72 73 (n=11, sum 413)
    #   mean 37.545; p50 x[5] = 28; p90 h=9 -> x[9] = 72
    assert stats(gates["budget"]) == (11, approx(413 / 11), approx(28.0), approx(72.0))
    # brand-legal approvals: C03v2 72, C06 24 -> mean 48, p50 48, p90 24 + .9*48 = 67.2
    assert stats(gates["brand-legal"]) == (2, approx(48.0), approx(48.0), approx(67.2))
    # highest p90: budget 72 > brand-legal 67.2 > brief-review 22.8
    assert body["overall"]["bottleneck"] == {"gate_id": "budget", "gate_name": "Budget approval",
                                             "p90_hours": approx(72.0)}
    assert [g["bottleneck"] for g in body["overall"]["gates"]] == [False, True, False]

    video = await get(client, viewer, "/aggregates/gate-times?channel=video")
    gates = by(video["overall"]["gates"], "gate_id")
    # C03 and C11 only. brief-review: 24, 6, 3, 3 -> sorted 3 3 6 24: mean 9, p50 4.5, p90 6 + .7*18 = 18.6
    assert stats(gates["brief-review"]) == (4, approx(9.0), approx(4.5), approx(18.6))
    # budget: C03v1 24, C03v2 24, C11v3 24; brand-legal: C03v2 72 -> the bottleneck here is brand-legal
    assert stats(gates["budget"]) == (3, approx(24.0), approx(24.0), approx(24.0))
    assert stats(gates["brand-legal"]) == (1, approx(72.0), approx(72.0), approx(72.0))
    assert video["overall"]["bottleneck"]["gate_id"] == "brand-legal"

    teams = by((await get(client, viewer, "/aggregates/gate-times?group_by=team"))["groups"], "group")
    # brand budget: C03 24, 24, C04 72, C08 73, C11v3 24 -> sorted 24 24 24 72 73 (sum 217),
    #   p50 24, p90 h=3.6 -> 72 + .6*1 = 72.6
    brand = by(teams["brand"]["gates"], "gate_id")
    assert stats(brand["budget"]) == (5, approx(217 / 5), approx(24.0), approx(72.6))
    assert teams["brand"]["bottleneck"]["gate_id"] == "budget"


async def test_sla_breaches(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/sla-breaches")
    # approvals and rejections, strictly later than the SLA; C10's open brand-legal gate is not counted
    # brief-review (24h): 17 decisions; late: C02v1 30h, C07v2 30h, C11v1 48h (C03v1, C05, C07v1, C09 took
    #   exactly 24h: not late)
    # budget (48h): 12 decisions (11 approvals + C11v2 rejection); late: C04 72h, C08 73h (C10 exactly 48h)
    # brand-legal (72h): C03v1 rejection 96h (late), C03v2 72h, C06 24h -> 3 decisions, 1 late
    # total 17 + 12 + 3 = 32 decisions, 3 + 2 + 1 = 6 breaches, 6/32 = 0.1875
    overall = body["overall"]
    assert (overall["decisions"], overall["breaches"], overall["breach_rate"]) == (32, 6, approx(0.1875))
    gates = by(overall["gates"], "gate_id")
    assert (gates["brief-review"]["decisions"], gates["brief-review"]["breaches"]) == (17, 3)
    assert (gates["budget"]["decisions"], gates["budget"]["breaches"]) == (12, 2)
    assert (gates["brand-legal"]["decisions"], gates["brand-legal"]["breaches"]) == (3, 1)
    assert gates["brand-legal"]["breach_rate"] == approx(1 / 3)

    teams = by((await get(client, viewer, "/aggregates/sla-breaches?group_by=team"))["groups"], "group")
    # growth: C01 2, C02 3, C07 4, C10 2 decisions = 11; late C02v1, C07v2 = 2
    # brand: C03 6, C04 2, C08 2, C11 5 = 15; late C03 brand-legal, C04, C08, C11v1 = 4
    # product: C05 1, C06 3, C09 2 = 6; none late
    assert {k: (v["decisions"], v["breaches"]) for k, v in teams.items()} == {
        "growth": (11, 2), "brand": (15, 4), "product": (6, 0)}


async def test_rework_and_revisions(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/rework")
    # rejected at least once: C02, C03, C05 (outright), C07, C11 -> 5 of 12 submitted
    # revisions = highest version - 1: C02 1, C03 1, C07 2, C11 2 -> 6; 6/12 = 0.5 per brief
    assert body["overall"] == {"submitted": 12, "reworked": 5, "rework_rate": approx(5 / 12), "revisions": 6,
                               "revisions_per_brief": approx(0.5)}
    teams = by((await get(client, viewer, "/aggregates/rework?group_by=team"))["groups"], "group")
    assert teams["growth"] == {"group": "growth", "submitted": 4, "reworked": 2, "rework_rate": approx(0.5),
                               "revisions": 3, "revisions_per_brief": approx(0.75)}     # C02 1 + C07 2
    assert teams["product"] == {"group": "product", "submitted": 4, "reworked": 1, "rework_rate": approx(0.25),
                                "revisions": 0, "revisions_per_brief": approx(0.0)}     # C05, no revision
    quarters = by((await get(client, viewer, "/aggregates/rework?group_by=quarter"))["groups"], "group")
    # by quarter of FIRST SUBMISSION: Q1 = C01..C08 (8; rejected C02 C03 C05 C07; revisions 1+1+2 = 4)
    # Q2 = C09..C12 (4; rejected C11; revisions 2)
    q1, q2 = quarters["2026-Q1"], quarters["2026-Q2"]
    assert (q1["submitted"], q1["reworked"], q1["revisions"], q1["revisions_per_brief"]) == (8, 4, 4, approx(0.5))
    assert (q2["submitted"], q2["reworked"], q2["revisions"], q2["revisions_per_brief"]) == (4, 1, 2, approx(0.5))


async def test_on_time_launch(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/on-time")
    # on time by UTC date: C01, C04 (20:00 UTC on its target date), C07, C08 (23:00 UTC on it), C09;
    # late: C02, C03, C11 -> 5/8
    assert body["overall"] == {"launched": 8, "on_time": 5, "late": 3, "on_time_rate": approx(0.625)}
    quarters = by((await get(client, viewer, "/aggregates/on-time?group_by=quarter"))["groups"], "group")
    # by quarter of first submission: Q1 launched C01 C02 C03 C04 C07 C08 -> on time C01 C04 C07 C08 = 4/6
    assert quarters["2026-Q1"] == {"group": "2026-Q1", "launched": 6, "on_time": 4, "late": 2,
                                   "on_time_rate": approx(4 / 6)}
    assert quarters["2026-Q2"] == {"group": "2026-Q2", "launched": 2, "on_time": 1, "late": 1,
                                   "on_time_rate": approx(0.5)}   # C09 on time, C11 late
    brand = await get(client, viewer, "/aggregates/on-time?team=brand")
    assert brand["overall"]["on_time_rate"] == approx(0.5)       # C04 C08 of C03 C04 C08 C11


async def test_data_completeness(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/data-completeness")
    # launch snapshots: C03 without tracking plan, C08 without KPIs -> 6 of 8 complete
    assert body["overall"] == {"launched": 8, "complete": 6, "incomplete": 2, "data_completeness": approx(0.75)}
    teams = by((await get(client, viewer, "/aggregates/data-completeness?group_by=team"))["groups"], "group")
    assert teams["brand"]["data_completeness"] == approx(0.5)   # C04 C11 of C03 C04 C08 C11
    assert teams["growth"]["data_completeness"] == approx(1.0)


async def test_budget_variance_per_campaign(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/variance/campaigns")
    rows = {(r["campaign_id"], r["currency"]): money_row(r) for r in body["rows"]}
    assert rows == {
        ("C01", "EUR"): (D(5000), D(4500), D(-500), D("-10.00")),        # 3000 + 1500
        # meta-77 counted once, at 9000 (the earlier recording), + meta-78 600 = 9600; +1600/8000
        ("C02", "EUR"): (D(8000), D(9600), D(1600), D("20.00")),
        ("C03", "EUR"): (D(18000), D(18000), D(0), D("0.00")),           # latest commitment (v2) 18 000
        ("C04", "USD"): (D(4000), D(4400), D(400), D("10.00")),
        ("C06", "EUR"): (D(0), D(2000), D(2000), None),                  # cancelled: committed 0, spend counts
        ("C07", "EUR"): (D(6000), D(5700), D(-300), D("-5.00")),         # 6500 - 800 refund
        ("C08", "EUR"): (D(2000), D(0), D(-2000), D("-100.00")),
        ("C09", "EUR"): (D(7000), D(7700), D(700), D("10.00")),
        ("C10", "EUR"): (D(15000), D(0), D(-15000), D("-100.00")),
        ("C11", "EUR"): (D(9000), D(10800), D(1800), D("20.00")),
    }  # C05 (reservation released, never committed) and C12 have neither commitment nor spend
    totals = {t["currency"]: money_row(t) for t in body["totals"]}
    # EUR committed 5000+8000+18000+0+6000+2000+7000+15000+9000 = 70 000
    #     actual 4500+9600+18000+2000+5700+0+7700+0+10800 = 58 300; -11 700 / 70 000 = -16.714% -> -16.71
    assert totals == {"EUR": (D(70000), D(58300), D(-11700), D("-16.71")),
                      "USD": (D(4000), D(4400), D(400), D("10.00"))}

    teams = await get(client, viewer, "/aggregates/variance/campaigns?group_by=team")
    grouped = {(r["group"], r["currency"]): money_row(r) for r in teams["rows"]}
    # growth: C01 C02 C07 C10 -> 34 000 committed, 4500+9600+5700 = 19 800 actual; -14 200/34 000 = -41.76%
    assert grouped[("growth", "EUR")] == (D(34000), D(19800), D(-14200), D("-41.76"))
    assert grouped[("brand", "USD")] == (D(4000), D(4400), D(400), D("10.00"))


async def test_budget_variance_per_line_and_month(client, viewer) -> None:
    body = await get(client, viewer, "/aggregates/variance/budget-lines")
    # spends without a line count against the campaign's committed line
    assert {(r["budget_line_id"], r["currency"]): money_row(r) for r in body["rows"]} == {
        ("L-BRAND", "EUR"): (D(29000), D(28800), D(-200), D("-0.69")),       # C03 C08 C11; -200/29000
        ("L-BRAND-US", "USD"): (D(4000), D(4400), D(400), D("10.00")),       # C04
        ("L-GROWTH", "EUR"): (D(34000), D(19800), D(-14200), D("-41.76")),   # -14200/34000 = -41.7647%
        ("L-PRODUCT", "EUR"): (D(7000), D(9700), D(2700), D("38.57")),       # C06 0 + C09 7000; 2000 + 7700
    }
    months = await get(client, viewer, "/aggregates/variance/months")
    assert {(r["month"], r["currency"]): D(r["actual"]) for r in months["rows"]} == {
        ("2026-02", "EUR"): D(14000),   # C01 3000 + C02 9000 + C06 2000
        ("2026-03", "EUR"): D(20100),   # C01 1500 + C02 600 + C03 18000
        ("2026-04", "EUR"): D(5700),    # C07 6500 - 800
        ("2026-04", "USD"): D(4400),    # C04
        ("2026-05", "EUR"): D(18500),   # C09 7700 + C11 10800
    }


async def test_campaign_table(client, viewer) -> None:
    body = await get(client, viewer, "/campaigns")
    rows = by(body["campaigns"], "campaign_id")
    assert {k: r["status"] for k, r in rows.items()} == {
        "C01": "completed", "C02": "launched", "C03": "launched", "C04": "launched", "C05": "rejected",
        "C06": "cancelled", "C07": "launched", "C08": "launched", "C09": "launched", "C10": "in_review",
        "C11": "launched", "C12": "in_review"}
    c11 = rows["C11"]
    assert (c11["latest_version"], c11["revisions"], c11["rejections"], c11["on_time"]) == (3, 2, 2, False)
    assert c11["cycle_time_hours"] == approx(1008.0)
    assert (c11["committed"], c11["committed_currency"]) == ("9000.00", "EUR")
    assert c11["actual_spend"] == [{"currency": "EUR", "amount": "10800.00"}]
    # described by its highest version: C03 v2 committed 18 000; its snapshot lacked a tracking plan
    assert rows["C03"]["committed"] == "18000.00" and rows["C03"]["data_complete"] is False
    growth = await get(client, viewer, "/campaigns?team=growth")
    assert [r["campaign_id"] for r in growth["campaigns"]] == ["C01", "C02", "C07", "C10"]


async def test_summary_has_every_headline_number(client, viewer) -> None:
    body = await get(client, viewer, "/summary")
    assert body["campaigns"] == {"submitted": 12, "launched": 8, "cancelled": 1, "completed": 1}
    assert stats(body["cycle_time"]) == (8, approx(987.125), approx(924.0), approx(1493.7))
    assert body["time_in_gate"]["bottleneck"]["gate_id"] == "budget"
    assert body["rework"]["rework_rate"] == approx(5 / 12)
    assert body["rework"]["revisions_per_brief"] == approx(0.5)
    assert body["on_time"]["on_time_rate"] == approx(0.625)
    assert (body["sla"]["decisions"], body["sla"]["breaches"]) == (32, 6)
    assert body["data_completeness"]["data_completeness"] == approx(0.75)
    assert {t["currency"]: money_row(t) for t in body["budget_variance"]} == {
        "EUR": (D(70000), D(58300), D(-11700), D("-16.71")), "USD": (D(4000), D(4400), D(400), D("10.00"))}
    # the same filters as everywhere: growth only
    growth = await get(client, viewer, "/summary?team=growth")
    assert growth["campaigns"] == {"submitted": 4, "launched": 3, "cancelled": 0, "completed": 1}
    assert stats(growth["cycle_time"]) == (3, approx(888.0), approx(840.0), approx(1051.2))


async def test_timeline_in_business_time_order(client, viewer) -> None:
    body = await get(client, viewer, "/campaigns/C02/timeline")
    events = body["events"]
    assert [e["type"] for e in events] == [
        "BriefSubmitted", "BudgetReserved", "GateRejected", "BriefSubmitted", "BudgetReserved", "GateApproved",
        "GateApproved", "BudgetCommitted", "CampaignLaunched", "SpendRecorded", "BudgetThresholdExceeded",
        "SpendRecorded", "SpendRecorded"]
    # between steps: rejection 01-09 16:00 -> resubmission 01-12 10:00 = 2 d 18 h = 66 h
    assert events[3]["since_previous_hours"] == approx(66.0)
    assert events[0]["since_previous_hours"] is None
    assert events[8]["since_start_hours"] == approx(1104.0)   # the launch, at the cycle time
    # the re-sent meta-77 (recorded 03-01, after the original of 02-28) does not count
    assert [e["counted"] for e in events if e["type"] == "SpendRecorded"] == [True, False, True]
    assert body["cycle_time_hours"] == approx(1104.0)
    assert [(g["gate_id"], g["outcome"], g["hours_in_gate"], g["breached_sla"]) for g in body["gate_decisions"]] \
        == [("brief-review", "rejected", approx(30.0), True), ("brief-review", "approved", approx(10.0), False),
            ("budget", "approved", approx(36.0), False)]
    imported = await get(client, viewer, "/campaigns/C03/timeline")
    assert imported["events"] and all(e["historical"] for e in imported["events"])
