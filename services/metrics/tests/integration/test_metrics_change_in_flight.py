"""Change in flight in metrics: change requests per campaign (approved, rejected, pending),
time paused (ended pauses in the period report, the pause in force up to now in the live
rows) and a cycle time that post-launch changes never move; events shuffled and twice,
each report as JSON and CSV, against the real PostgreSQL and Kafka."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marops_events import contracts as c
from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")



def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


NOW = at(6, 1, 12)
Story = Any  # the conftest's Story, handed in by the ``story`` fixture


def change(story: Story, cid: str, version: int, time, outcome: str | None) -> None:
    p = story.profiles[cid]
    brief = c.BriefSubmitted(
        campaign_id=cid, version=version, title=f"Campaign {cid}", team=p.team, owner=f"owner-{cid.lower()}",
        requester=f"owner-{cid.lower()}", objective="grow", channels=p.channels, target_launch_date=p.target,
        flight_start=p.target, flight_end=p.target + timedelta(days=30),
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal(9000), currency="EUR"), budget_line_id=p.line))
    change_id = f"{cid}-change-{version}"
    story._add(c.ChangeRequested(campaign_id=cid, change_id=change_id, base_version=1, changes=[c.ChangeField.budget],
                                 reason="more", requested_by=f"owner-{cid.lower()}", brief=brief), time, cid)
    if outcome:
        story._add(c.ChangeDecided(campaign_id=cid, change_id=change_id, brief_version=version, outcome=outcome,
                                   decided_by="fiona", policy_version=1), time + timedelta(hours=3), cid)


def pause(story: Story, cid: str, number: int, start, end=None) -> None:
    story._add(c.CampaignPaused(campaign_id=cid, pause=number, paused_by="olga", reason="stock"), start, cid)
    if end is not None:
        story._add(c.CampaignResumed(campaign_id=cid, pause=number, resumed_by="olga", reason="back"), end, cid)


def the_story(new_story: Any) -> Story:
    s = new_story()
    s.campaign("CHG-A", team="growth", channels=["email"], target=date(2026, 4, 1), line="L-1")
    s.campaign("CHG-B", team="brand", channels=["video"], target=date(2026, 4, 1), line="L-2")
    s.campaign("CHG-C", team="brand", channels=["video"], target=date(2026, 4, 1), line="L-2")
    for cid in ("CHG-A", "CHG-B", "CHG-C"):
        s.submit(cid, 1, at(3, 2, 9), 5000)
    s.launch("CHG-A", 1, at(3, 4, 9))  # cycle time 48 h
    change(s, "CHG-A", 2, at(3, 10), "approved")
    change(s, "CHG-A", 3, at(3, 20), "rejected")
    change(s, "CHG-A", 4, at(4, 1), None)
    pause(s, "CHG-A", 1, at(3, 5, 9), at(3, 5, 11))  # 2 h
    pause(s, "CHG-A", 2, at(6, 1, 6))  # in force: 6 h by NOW in the live rows only
    pause(s, "CHG-B", 1, at(3, 6, 0), at(3, 6, 4))  # 4 h
    return s


async def test_change_requests_and_time_paused_per_campaign_and_aggregated(metrics, story) -> None:
    story = the_story(story)
    events = story.events + story.events[::3]  # some twice
    random.Random(18).shuffle(events)
    await metrics.publish(events)
    await metrics.wait_applied(len(story.events))
    metrics.app.state.clock = lambda: NOW
    headers = auth(metrics.settings, "vic", "viewer")

    rows = (await metrics.client.get("/changes/campaigns", headers=headers)).json()["items"]
    by_id = {r["campaign_id"]: r for r in rows}
    assert set(by_id) == {"CHG-A", "CHG-B"}  # CHG-C has neither a change nor a pause
    a = by_id["CHG-A"]
    assert (a["change_requests"], a["changes_approved"], a["changes_rejected"], a["changes_pending"]) == (3, 1, 1, 1)
    assert (a["pauses"], a["time_paused_hours"], a["cycle_time_hours"]) == (2, 8.0, 48.0)
    assert a["paused_since"].startswith("2026-06-01T06:00")
    assert (by_id["CHG-B"]["time_paused_hours"], by_id["CHG-B"]["paused_since"]) == (4.0, None)

    report = (await metrics.client.get("/aggregates/change-in-flight", headers=headers,
                                       params={"group_by": "team"})).json()
    overall = report["overall"]
    assert {k: overall[k] for k in ("campaigns", "changed_campaigns", "change_requests", "approved", "rejected",
                                    "pending", "paused_campaigns")} == {
        "campaigns": 3, "changed_campaigns": 1, "change_requests": 3, "approved": 1, "rejected": 1, "pending": 1,
        "paused_campaigns": 2}
    assert overall["change_requests_per_campaign"] == 1.0
    # ended pauses only: A 2 h, B 4 h (A's pause in force never counts in a period report)
    assert overall["time_paused"] == {"count": 2, "mean_hours": 3.0, "p50_hours": 3.0, "p90_hours": 3.8}
    groups = {g["group"]: g for g in report["groups"]}
    assert (groups["growth"]["change_requests"], groups["brand"]["time_paused"]["count"]) == (3, 1)

    cycle = (await metrics.client.get("/aggregates/cycle-time", headers=headers)).json()["overall"]
    assert (cycle["count"], cycle["mean_hours"]) == (1, 48.0)  # the changes after launch start no cycle

    table = await metrics.client.get("/changes/campaigns", headers=headers, params={"format": "csv"})
    parsed = list(csv.DictReader(io.StringIO(table.text)))
    assert [(r["campaign_id"], r["change_requests"], r["time_paused_hours"]) for r in parsed] == [
        ("CHG-A", "3", "8.0"), ("CHG-B", "0", "4.0")]
    flat = await metrics.client.get("/aggregates/change-in-flight", headers=headers, params={"format": "csv"})
    [row] = list(csv.DictReader(io.StringIO(flat.text)))
    assert (row["change_requests"], row["time_paused_mean_hours"]) == ("3", "3.0")

    # the read rule of every report: a requester of brand reads brand's campaigns only
    brand = auth(metrics.settings, "bea", "requester", team="brand")
    mine = (await metrics.client.get("/changes/campaigns", headers=brand)).json()
    assert ([r["campaign_id"] for r in mine["items"]], mine["filtered"]) == (["CHG-B"], True)
    theirs = (await metrics.client.get("/aggregates/change-in-flight", headers=brand)).json()
    assert (theirs["overall"]["campaigns"], theirs["overall"]["change_requests"], theirs["filtered"]) == (2, 0, True)
