"""The weekly review pack (GET /reviews) for a seeded history, checked number by number.

The week is Monday 2026-03-09 to Sunday 03-15 (the previous one 03-02 to 03-08); "now" is
2026-03-16 10:00 UTC. Gates: brief-review 24h SLA, budget 48h (conftest.GATES).

  R1 growth  email        v1 02-02 09:00; launched 03-10 09:00, target 03-12: on time, cycle 36 d = 864h.
                          Commits 5000 EUR; flight 03-12..04-11 (31 days), 4 elapsed by 03-15: expected
                          5000*4/31 = 645.16; spent 300 (03-12): pace 0.465, under.
  R2 brand   video        v1 02-09 09:00; launched 03-13 09:00, target 03-11: 2 days late, cycle 32 d = 768h.
                          Commits 4000; flight 03-11..04-10, 5 days: expected 645.16; spent 700: on pace.
  R3 growth  paid_search  v1 03-02 09:00, brief-review rejected 03-04 09:00 (48h > 24h: a breach last week);
                          v2 03-10 09:00 (a resubmission this week), approved 03-12 09:00 (48h: a breach this
                          week, 24h over); budget v2 due 03-14 09:00 undecided (SlaBreached): overdue 49h now.
  R4 product email        launched 03-03 09:00 (on time, cycle 57 d = 1368h), spent 1000 on 03-04,
                          completed 03-11 with results (leads 120), no retrospective.
  R5 brand   print        launched 02-02, completed 03-13 without results of its KPIs (a "reach" figure is
                          not one), retrospective recorded.
  R6 growth  email        submitted 03-09; a risk scoring 20 open and blocking; another closed since.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
import pytest_asyncio
from pytest import approx

from marops_events import contracts as c
from marops_testkit.apps import auth
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
NOW = datetime(2026, 3, 16, 10, tzinfo=UTC)


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def launched(s, cid: str, submitted: datetime, launch: datetime, amount: int) -> None:
    s.submit(cid, 1, submitted, amount)
    s.approve(cid, 1, "brief-review", submitted, submitted.replace(hour=submitted.hour + 1))
    s.approve(cid, 1, "budget", submitted.replace(hour=submitted.hour + 1), submitted.replace(hour=submitted.hour + 2))
    s.commit(cid, 1, submitted.replace(hour=submitted.hour + 3))
    s.launch(cid, 1, launch)


def history(s):
    s.campaign("R1", team="growth", channels=["email"], target=date(2026, 3, 12), line="L-G")
    launched(s, "R1", at(2, 2, 9), at(3, 10, 9), 5000)
    s.spend("R1", "r1-1", "300.00", date(2026, 3, 12))

    s.campaign("R2", team="brand", channels=["video"], target=date(2026, 3, 11), line="L-B")
    launched(s, "R2", at(2, 9, 9), at(3, 13, 9), 4000)
    s.spend("R2", "r2-1", "700.00", date(2026, 3, 12), system="youtube")

    s.campaign("R3", team="growth", channels=["paid_search"], target=date(2026, 4, 20), line="L-G")
    s.submit("R3", 1, at(3, 2, 9), 3000)
    s.reject("R3", 1, "brief-review", at(3, 2, 9), at(3, 4, 9))
    s.submit("R3", 2, at(3, 10, 9), 3000)
    s.approve("R3", 2, "brief-review", at(3, 10, 9), at(3, 12, 9))
    s._add(c.SlaBreached(campaign_id="R3", brief_version=2, policy_version=1, gate_id="budget",
                         gate_name="Budget approval", gate_kind=c.GateKind.budget, gate_position=2,
                         actionable_at=at(3, 12, 9), sla_hours=48, due_at=at(3, 14, 9)), at(3, 14, 9), "R3")

    s.campaign("R4", team="product", channels=["email"], target=date(2026, 3, 5), line="L-P")
    launched(s, "R4", at(1, 5, 9), at(3, 3, 9), 2000)
    s.spend("R4", "r4-1", "1000.00", date(2026, 3, 4))
    s.complete("R4", at(3, 11, 12), {"leads": "120"})

    s.campaign("R5", team="brand", channels=["print"], target=date(2026, 2, 5), line="L-B")
    launched(s, "R5", at(1, 12, 9), at(2, 2, 9), 1000)
    s.complete("R5", at(3, 13, 12))
    s.results("R5", "analytics", "r5-reach", date(2026, 3, 13), {"reach": "5000"}, at(3, 13, 13))
    s._add(c.RetrospectiveRecorded(campaign_id="R5", revision=1, recorded_by="owner-r5", team="brand",
                                   channels=[c.Channel.print], lessons=["print proofs take a week"]),
           at(3, 14, 9), "R5")

    s.campaign("R6", team="growth", channels=["email"], target=date(2026, 4, 30), line="L-G")
    s.submit("R6", 1, at(3, 9, 9), 1000)
    for risk, revision, status, blocks, time in (("risk-a", 1, "open", True, at(3, 10, 9)),
                                                 ("risk-b", 1, "open", True, at(3, 10, 10)),
                                                 ("risk-b", 2, "closed", False, at(3, 11, 10))):
        s._add(c.RiskChanged(campaign_id="R6", risk_id=risk, revision=revision, description=f"{risk} description",
                             owner="lee", probability=4, impact=5, score=20, status=c.RiskStatus(status),
                             blocks_launch=blocks, blocking_score=15, changed_by="rita"), time, "R6")
    return s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def loaded(metrics, story):
    events = list(history(story()).events)
    random.Random(9).shuffle(events)
    await metrics.publish([*events, *events[:6]])
    await metrics.wait_applied(len(events))
    await metrics.wait_caught_up()
    metrics.app.state.clock = lambda: NOW
    return metrics


async def get(app, path: str, *who: str, team: str | None = None) -> dict:
    response = await app.client.get(path, headers=auth(app.settings, *(who or ("vera", "viewer")), team=team))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_weekly_pack_number_by_number(loaded) -> None:
    pack = await get(loaded, "/reviews?period=week&start=2026-03-11")
    assert (pack["start"], pack["end"], pack["previous"]) == \
        ("2026-03-09", "2026-03-15", {"start": "2026-03-02", "end": "2026-03-08"})
    assert pack["filtered"] is False
    [overdue] = pack["gates_overdue"]
    assert (overdue["campaign_id"], overdue["gate_id"], overdue["brief_version"], overdue["hours_overdue"]) == \
        ("R3", "budget", 2, approx(49.0))
    [breach] = pack["sla_breaches"]
    assert (breach["campaign_id"], breach["gate_id"], breach["outcome"], breach["hours_over"]) == \
        ("R3", "brief-review", "approved", approx(24.0))
    assert (pack["launches"]["count"], pack["launches"]["on_time"]) == (2, 1)
    assert [(r["campaign_id"], r["days_late"]) for r in pack["launches"]["late"]] == [("R2", 2)]
    assert pack["spend"] == [{"currency": "EUR", "amount": "1000.00"}]
    [off] = pack["off_pace"]
    assert (off["campaign_id"], off["committed"], off["expected"], off["spent"], off["direction"]) == \
        ("R1", "5000.00", "645.16", "300.00", "under")
    assert off["pace"] == approx(300 / (5000 * 4 / 31))
    assert [(r["campaign_id"], r["risk_id"], r["score"]) for r in pack["blocking_risks"]] == [("R6", "risk-a", 20)]
    assert [r["campaign_id"] for r in pack["completed_without_results"]] == ["R5"]
    assert [r["campaign_id"] for r in pack["completed_without_retrospective"]] == ["R4"]
    assert (pack["rework"]["rejections"], pack["rework"]["resubmissions"]) == (0, 1)

    headline = {h["metric"]: (h["current"], h["previous"], h["change"]) for h in pack["headline"]}
    assert headline["launches"] == (2, 1, 1)
    assert headline["on_time_rate"] == (approx(0.5), approx(1.0), approx(-0.5))
    assert headline["cycle_time_p50_hours"] == (approx(816.0), approx(1368.0), approx(-552.0))
    assert headline["sla_breaches"] == (1, 1, 0)
    assert headline["rejections"] == (0, 1, -1)
    assert headline["resubmissions"] == (1, 0, 1)
    assert headline["completed"] == (2, 0, 2)
    assert headline["results_reported_rate"] == (approx(0.5), None, None)
    assert headline["spend_EUR"] == ("1000.00", "1000.00", "0.00")


async def test_the_pack_follows_the_access_model_and_exports_csv(loaded) -> None:
    mine = await get(loaded, "/reviews?period=week&start=2026-03-09", "rita", "requester", team="growth")
    assert mine["filtered"] is True
    assert [r["campaign_id"] for r in mine["gates_overdue"]] == ["R3"]
    assert (mine["launches"]["count"], mine["launches"]["late"]) == (1, [])
    assert mine["spend"] == [{"currency": "EUR", "amount": "300.00"}]
    assert [r["campaign_id"] for r in mine["blocking_risks"]] == ["R6"]
    assert mine["completed_without_results"] == mine["completed_without_retrospective"] == []

    month = await get(loaded, "/reviews?period=month&start=2026-03-31")
    assert (month["start"], month["end"], month["launches"]["count"]) == ("2026-03-01", "2026-03-31", 3)
    assert month["spend"] == [{"currency": "EUR", "amount": "2000.00"}]

    csv = await loaded.client.get("/reviews?period=week&start=2026-03-09&format=csv",
                                  headers=auth(loaded.settings, "vera", "viewer"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == "section,campaign_id,title,detail,value,previous"
    assert "late_launch,R2,Campaign R2,target 2026-03-11,2," in lines
    assert "headline,,,launches,2,1" in lines
    assert sum(1 for line in lines if line.startswith("headline,")) == 9
    # refused: an unknown period
    bad = await loaded.client.get("/reviews?period=year", headers=auth(loaded.settings, "vera", "viewer"))
    assert bad.status_code == 422


async def test_rebuild_gives_the_same_pack(loaded, dump_read_model) -> None:
    before = await get(loaded, "/reviews?period=week&start=2026-03-09")
    tables = await dump_read_model(loaded.settings.database_url)
    admin = {**auth(loaded.settings, "ada", "ops_admin"), "Idempotency-Key": "reviews-rebuild"}
    started = await loaded.client.post("/admin/rebuild", headers=admin)
    assert started.status_code == 202, started.text

    async def finished() -> dict | None:
        run = (await loaded.client.get(started.json()["href"], headers=admin)).json()
        assert run["status"] != "failed", run
        return run if run["status"] == "succeeded" else None

    await wait_for(finished, timeout=60, interval=0.2, message="rebuild succeeded")
    assert await dump_read_model(loaded.settings.database_url) == tables
    assert await get(loaded, "/reviews?period=week&start=2026-03-09") == before
