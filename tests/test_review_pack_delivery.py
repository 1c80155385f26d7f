"""The weekly review pack goes out: metrics publishes ReviewPackPublished once per ended week
(two replicas' timers racing included), governance consumes it over the real broker and sends
it, by e-mail to a real local SMTP server process and by signed webhook to a local receiver
that checks the signature itself, to the directory's users whose roles read every campaign;
a requester (who may not read every campaign) is not told.

History (UTC): the week under review is Monday 2026-03-09 to Sunday 03-15, the one before it
03-02 to 03-08; the timers run on Monday 03-16 10:00.
  P1 growth email  submitted 02-02, target 03-12, launched 03-10: on time; 300.00 EUR spent 03-12.
  P2 brand  video  submitted 02-09, target 03-11, launched 03-13: two days late.
  P3 growth email  submitted 02-16, target 03-05, launched 03-03 (the week before): on time.
So: launches 2 (previous 1), on-time rate 0.5 (previous 1), one late launch, spend 300.00 EUR
(previous 0).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from marops_events import contracts as c
from marops_events import kafka, registry
from marops_events.envelope import Envelope
from marops_governance.main import create_app as governance_app
from marops_governance.settings import Settings as GovernanceSettings
from marops_metrics import review_packs
from marops_metrics.main import create_app as metrics_app
from marops_metrics.settings import Settings as MetricsSettings
from marops_service import db
from marops_testkit import events as harness
from marops_testkit.apps import auth, running, service_settings
from marops_testkit.deliveries import SmtpServer, WebhookReceiver, smtp_server, webhook_receiver
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio

SECRET = "whsec-review-pack-0123456789"
MONDAY = dt.datetime(2026, 3, 16, 10, tzinfo=dt.UTC)
PACK = "week-2026-03-09"


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


def history() -> list[Envelope]:
    events: list[Envelope] = []

    def add(data: Any, time: dt.datetime) -> None:
        events.append(registry.new_event(data, source="marops/test", time=time))

    for cid, team, channel, submitted, target, launched in (
            ("P1", "growth", "email", at(2, 2), dt.date(2026, 3, 12), at(3, 10)),
            ("P2", "brand", "video", at(2, 9), dt.date(2026, 3, 11), at(3, 13)),
            ("P3", "growth", "email", at(2, 16), dt.date(2026, 3, 5), at(3, 3))):
        add(c.BriefSubmitted(
            campaign_id=cid, version=1, title=f"Campaign {cid}", team=team, owner=f"owner-{cid}",
            requester=f"req-{cid}", objective="grow", channels=[c.Channel(channel)], target_launch_date=target,
            flight_start=target, flight_end=target + dt.timedelta(days=30),
            kpis=[c.Kpi(metric="leads", target=Decimal(100), unit="leads", timeframe="90 days")],
            tracking_plan=c.TrackingPlan(campaign_code=cid),
            budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal(1000), currency="EUR"),
                                           budget_line_id="L-1")), submitted)
        add(c.CampaignLaunched(campaign_id=cid, brief_version=1, launched_by=f"owner-{cid}",
                               readiness=c.ReadinessSnapshot(all_gates_approved=True, kpis_with_targets=True,
                                                             tracking_plan_defined=True, budget_committed=True,
                                                             policy_version=1)), launched)
    add(c.SpendRecorded(campaign_id="P1", source_system="google-ads", source_reference="p1-1",
                        amount=c.Money(amount=Decimal("300.00"), currency="EUR"), incurred_on=dt.date(2026, 3, 12)),
        at(3, 12, 12))
    return events


@pytest.fixture
def smtp(tmp_path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver(SECRET) as receiver:
        yield receiver


@pytest_asyncio.fixture
async def apps(make_pg_dsn: Callable[[str], str], kafka_bootstrap: str, topic_prefix: str,
               smtp: SmtpServer) -> AsyncIterator[tuple[Any, Any, MetricsSettings]]:
    common = dict(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    metrics_settings = service_settings(MetricsSettings, pg_dsn=make_pg_dsn("metrics"), **common)
    gov_settings = service_settings(
        GovernanceSettings, pg_dsn=make_pg_dsn("governance"), **common, smtp_host=smtp.host, smtp_port=smtp.port,
        smtp_security="none", smtp_from="marops@example.com", notify_poll_interval=0.05,
        deadline_check_interval=3600.0)
    async with running(metrics_app(metrics_settings)) as metrics, running(governance_app(gov_settings)) as gov:
        yield metrics, gov, metrics_settings


async def project_history(metrics, settings, kafka_bootstrap: str, topic_prefix: str,
                          client_id: str) -> dict[str, Any]:
    """Publish the seeded history as its producers would; the week of 2026-03-09's pack once
    metrics has projected it."""
    producer = kafka.producer(kafka_bootstrap, client_id=client_id)
    await producer.start()
    try:
        await harness.publish(producer, topic_prefix, history())
    finally:
        await producer.stop()
    viewer = auth(settings, "vic", "viewer")

    async def projected() -> dict[str, Any] | None:
        body = (await metrics.get("/reviews?period=week&start=2026-03-09", headers=viewer)).json()
        return body if body["launches"]["count"] == 2 and body["spend"] else None
    pack: dict[str, Any] = await wait_for(projected, timeout=60, interval=0.2, message="the history in metrics")
    return pack


async def test_the_weekly_pack_is_published_once_and_reaches_the_read_everything_roles(
        apps, kafka_bootstrap: str, topic_prefix: str, smtp: SmtpServer, hooks: WebhookReceiver) -> None:
    metrics, gov, settings = apps
    ops = auth(settings, "ada", "ops_admin")
    for subject, body in (("ada", {"email": "ada@example.com", "roles": ["ops_admin"]}),
                          ("vic", {"email": "vic@example.com", "roles": ["viewer"],
                                   "webhook": {"url": hooks.url, "secret": SECRET}}),
                          ("rita", {"email": "rita@example.com", "roles": ["requester"]})):
        assert (await gov.put(f"/directory/users/{subject}", json=body, headers=ops)).status_code == 200

    pack = await project_history(metrics, settings, kafka_bootstrap, topic_prefix, "review-pack-test")

    # two replicas' timers at once, then one more pass (a restart): one publication
    pools = [await db.create_pool(settings.database_url, min_size=1, max_size=2) for _ in range(2)]
    try:
        raced = await asyncio.gather(*(review_packs.publish_due(p, lambda: MONDAY) for p in pools))
        assert sorted(raced) == [[], [PACK]]
        assert await review_packs.publish_due(pools[0], lambda: MONDAY + dt.timedelta(days=3)) == []
        async with pools[0].acquire() as conn:
            outbox: list[asyncpg.Record] = await conn.fetch(
                "SELECT partition_key FROM outbox WHERE event_type = 'ReviewPackPublished' AND partition_key = $1",
                PACK)
    finally:
        for p in pools:
            await p.close()
    assert len(outbox) == 1

    [event] = await harness.published(kafka_bootstrap, topic_prefix, "ReviewPackPublished", PACK, 1)
    data = event["data"]
    assert (data["period"], data["start"], data["end"], data["path"]) == (
        "week", "2026-03-09", "2026-03-15", "/reviews?period=week&start=2026-03-09")
    figures = {f["metric"]: (f.get("current"), f.get("previous")) for f in data["headline"]}  # none: left out
    assert figures["launches"] == ("2", "1")
    assert figures["on_time_rate"] == ("0.5", "1.0")
    assert figures["spend_EUR"] == ("300.00", "0")
    assert figures["completed"] == ("0", "0") and figures["results_reported_rate"] == (None, None)
    # the same numbers as GET /reviews gives for the week
    assert set(figures) == {h["metric"] for h in pack["headline"]}
    assert data["sections"] == {"gates_overdue": 0, "sla_breaches": 0, "launches": 2, "late_launches": 1,
                                "off_pace": 0, "blocking_risks": 0, "completed_without_results": 0,
                                "completed_without_retrospective": 0, "rejections": 0}

    async def sent() -> list[dict[str, Any]] | None:
        log = (await gov.get("/notifications", params={"kind": "review_pack", "limit": "100"}, headers=ops)).json()
        mine = [d for d in log["items"] if d["payload"]["notification"] == f"review-pack:{PACK}"]
        return mine if len(mine) == 3 and all(d["status"] == "sent" for d in mine) else None
    deliveries = await wait_for(sent, timeout=60, interval=0.2, message="the pack's deliveries sent")
    assert sorted((d["recipient"], d["channel"]) for d in deliveries) == [
        ("ada", "email"), ("vic", "email"), ("vic", "webhook")]  # not rita: a requester

    subject = "[marops] Review pack: week 2026-03-09 to 2026-03-15"

    async def mails() -> list[Any] | None:
        found = [m for m in smtp.messages() if m["Subject"].strip() == subject]
        return found if len(found) == 2 else None
    received = await wait_for(mails, timeout=30, interval=0.2, message="two e-mails of the pack")
    assert sorted(email.utils.parseaddr(m["To"])[1] for m in received) == ["ada@example.com", "vic@example.com"]
    text = received[0].get_content()
    assert "launches: 2 (previous period: 1)" in text and "late launches: 1" in text
    assert "GET /reviews?period=week&start=2026-03-09" in text
    assert not [m for m in smtp.messages() if email.utils.parseaddr(m["To"])[1] == "rita@example.com"]

    [call] = [r for r in hooks.all() if r.json()["notification"] == f"review-pack:{PACK}"]
    assert call.signature_valid and call.json()["kind"] == "review_pack"
    hooked = call.json()["data"]
    assert hooked["pack_id"] == PACK and hooked["sections"] == data["sections"]
    assert [{k: v for k, v in f.items() if v is not None} for f in hooked["headline"]] == data["headline"]


async def test_weeks_the_worker_missed_are_published_oldest_first_once_each(
        apps, kafka_bootstrap: str, topic_prefix: str) -> None:
    metrics, _gov, settings = apps
    await project_history(metrics, settings, kafka_bootstrap, topic_prefix, "review-pack-catch-up")

    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        # the last pack went out three weeks ago (the week of 2026-02-16, sent on 2026-02-23);
        # the worker was down since
        assert await review_packs.publish(pool, review_packs.Period.week,
                                          review_packs.window(review_packs.Period.week, dt.date(2026, 2, 16)),
                                          at(2, 23)) is True
        due = ["week-2026-02-23", "week-2026-03-02", PACK]
        assert await review_packs.publish_due(pool, lambda: MONDAY) == due
        assert await review_packs.publish_due(pool, lambda: MONDAY + dt.timedelta(hours=1)) == []
        async with pool.acquire() as conn:
            keys = [r["partition_key"] for r in await conn.fetch(
                "SELECT partition_key FROM outbox WHERE event_type = 'ReviewPackPublished'"
                " AND partition_key LIKE 'week-2026-0%' ORDER BY id")]  # not the timer's own, this week's
    finally:
        await pool.close()
    assert keys == ["week-2026-02-16", *due]
    events = [await harness.published(kafka_bootstrap, topic_prefix, "ReviewPackPublished", key, 1) for key in due]
    assert [e["data"]["start"] for [e] in events] == ["2026-02-23", "2026-03-02", "2026-03-09"]


async def test_catching_up_is_bounded_by_eight_weeks_and_the_first_event() -> None:
    last = review_packs.window(review_packs.Period.week, dt.date(2026, 3, 9))
    first = dt.date

    def due(published: dt.date | None, first_event: dt.date | None) -> list[dt.date]:
        return [w.first for w in review_packs.due_weeks(last, published, first_event)]
    assert due(None, None) == [first(2026, 3, 9)]  # nothing sent yet: only the last ended week
    assert due(first(2026, 3, 9), first(2026, 1, 1)) == []
    assert due(first(2026, 2, 23), first(2026, 1, 1)) == [first(2026, 3, 2), first(2026, 3, 9)]
    # down for months: the last eight weeks only
    assert due(first(2025, 10, 6), first(2025, 1, 1))[0] == first(2026, 1, 19)
    assert len(due(first(2025, 10, 6), first(2025, 1, 1))) == 8
    # never a week before the first event the read model holds (its week is the first)
    assert due(first(2025, 10, 6), first(2026, 2, 25)) == [first(2026, 2, 23), first(2026, 3, 2), first(2026, 3, 9)]
