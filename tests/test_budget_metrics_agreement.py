"""Budget and metrics agree on every campaign's spend, commitment and unreconciled spend.

The bug report: budget kept the first-arriving copy of a spend while metrics kept the
earliest (time, id); a resubmission replaced a committed hold without a word, so metrics
went on counting the old commitment; a spend budget could not book was dead-lettered by
budget and counted by metrics. The same history then gave two different ledgers.

Here one history with conflicting duplicates (later copies that say something else, and
earlier copies that arrive after a later one was booked), resubmissions, refusals,
cancellations and spend budget cannot book is shuffled the way Kafka may deliver it (each
topic's own order per key kept, everything else interleaved; the copies of a campaign's
spends in any order) and fed to the real budget and metrics services over the real broker.
Both must agree per campaign, and both must equal the numbers worked out by hand.
The shuffle's seed is random and printed on failure; MAROPS_AGREEMENT_SEED replays one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import httpx
import pytest
import pytest_asyncio

from marops_budget.main import create_app as budget_app
from marops_budget.settings import Settings as BudgetSettings
from marops_events import contracts as c
from marops_events import kafka
from marops_events.envelope import Envelope
from marops_events.registry import CONTENT_TYPE, DLQ_SUFFIX, new_event, partition_key, spec_for
from marops_metrics.main import create_app as metrics_app
from marops_metrics.settings import Settings as MetricsSettings
from marops_testkit.apps import auth, running, service_settings
from marops_testkit.kafka import read_topic, wait_for

pytestmark = pytest.mark.asyncio

T0 = dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC)
SEED = int(os.environ.get("MAROPS_AGREEMENT_SEED") or random.SystemRandom().randrange(2**32))


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def money(amount: str, currency: str = "EUR") -> c.Money:
    return c.Money(amount=Decimal(amount), currency=currency)


# -- the history ------------------------------------------------------------------------


@dataclass
class History:
    lines: list[tuple[str, str, str]]  # (id, amount, currency) created through budget's API
    events: list[Envelope]  # in story order
    expected_spend: dict[str, dict[str, Decimal]]  # campaign -> currency -> amount
    expected_committed: dict[str, dict[str, Decimal]]
    expected_unreconciled: dict[str, dict[str, Decimal]]


def build_history(run: str) -> History:
    big, small, usd = f"{run}-eur-big", f"{run}-eur-small", f"{run}-usd"
    ghost = f"{run}-no-such-line"
    events: list[Envelope] = []
    spend_copies: list[Envelope] = []

    def cid(name: str) -> str:
        return f"{run}-{name}"

    def brief(name: str, version: int, amount: str, line: str, hour: float) -> None:
        d = c.BriefSubmitted(
            campaign_id=cid(name), version=version, title=f"Campaign {name}", team="growth", owner="olga",
            requester="rita", objective="More qualified leads", channels=[c.Channel.paid_search],
            target_launch_date=dt.date(2026, 5, 1), flight_start=dt.date(2026, 5, 1),
            flight_end=dt.date(2026, 5, 31),
            kpis=[c.Kpi(metric="leads", target=Decimal(100), unit="leads", timeframe="90 days")],
            tracking_plan=c.TrackingPlan(campaign_code=name),
            budget_request=c.BudgetRequest(amount=money(amount), budget_line_id=line))
        events.append(new_event(d, source="marops/intake", time=at(hour)))

    def decision(name: str, version: int, hour: float, *, reject: bool = False) -> None:
        fields = dict(campaign_id=cid(name), brief_version=version, policy_version=1, gate_id="budget_approval",
                      gate_name="Budget approval", gate_kind=c.GateKind.budget, gate_position=2, is_last_gate=False,
                      actionable_at=at(hour - 1), sla_hours=48, decided_by="finn")
        data = (c.GateRejected(**fields, kind=c.RejectionKind.rejected, reason="not this year") if reject
                else c.GateApproved(**fields, approvers=["finn"]))
        events.append(new_event(data, source="marops/governance", time=at(hour)))

    def cancel(name: str, hour: float) -> None:
        events.append(new_event(c.CampaignCancelled(campaign_id=cid(name), cancelled_by="olga", reason="plans"),
                                source="marops/intake", time=at(hour)))

    def spend(name: str, reference: str, amount: str, hour: float, currency: str = "EUR",
              line: str | None = None, incurred: dt.date = dt.date(2026, 5, 3)) -> Envelope:
        event = new_event(c.SpendRecorded(
            campaign_id=cid(name), source_system="erp", source_reference=f"{run}-{reference}",
            amount=money(amount, currency), incurred_on=incurred, budget_line_id=line),
            source="erp/exporter", time=at(hour))
        spend_copies.append(event)
        return event

    # A: committed 1000; a spend re-sent as is, and one whose earlier copy says 400 and later 500.
    brief("A", 1, "1000.00", big, 0)
    decision("A", 1, 2)
    spend("A", "a-1", "300.00", 30)
    spend("A", "a-1", "300.00", 31)  # the same fact under another event id
    spend("A", "a-2", "400.00", 40)
    spend("A", "a-2", "500.00", 41)  # a later copy that contradicts the first: refused by budget
    spend("A", "a-2", "400.0", 42)  # the same number, later: a plain duplicate
    # B: committed 1000, resubmitted at 1200 and approved again: 1200; a spend in USD waits.
    brief("B", 1, "1000.00", big, 0)
    decision("B", 1, 2)
    brief("B", 2, "1200.00", big, 10)
    decision("B", 2, 12)
    spend("B", "b-1", "250.00", 30)
    spend("B", "b-usd", "50.00", 31, currency="USD")
    # C: committed 800; the resubmission at 5000 does not fit its line: 800 stays committed.
    brief("C", 1, "800.00", small, 0)
    decision("C", 1, 2)
    brief("C", 2, "5000.00", small, 10)
    spend("C", "c-1", "100.00", 30)
    # D: committed, then cancelled: 0 committed, its spend still counts. It also gets the
    # earliest copy of a spend that a later copy books on A.
    brief("D", 1, "600.00", big, 0)
    decision("D", 1, 2)
    cancel("D", 20)
    spend("D", "d-1", "200.00", 15)
    spend("D", "moved", "70.00", 33)
    spend("A", "moved", "70.00", 34)  # later, and names another campaign: refused by budget
    # E: reserved, never approved; one spend names a line that does not exist.
    brief("E", 1, "300.00", big, 0)
    spend("E", "e-ghost", "15.00", 30, line=ghost)
    spend("E", "e-1", "20.00", 31)
    # F: spend for a campaign budget never hears of.
    spend("F", "f-1", "35.00", 30)
    # H: committed, resubmitted, the new version not approved yet: nothing committed.
    brief("H", 1, "500.00", big, 0)
    decision("H", 1, 2)
    brief("H", 2, "450.00", big, 10)
    spend("H", "h-1", "60.00", 30, incurred=dt.date(2026, 6, 1))
    # I: committed, then rejected outright: released.
    brief("I", 1, "700.00", big, 0)
    decision("I", 1, 2)
    decision("I", 1, 5, reject=True)
    spend("I", "i-1", "10.00", 30)
    # An earlier copy that arrives after the later one wherever the shuffle puts it: the
    # later copy is sent first on purpose, then the earlier copy at the very end.
    late_first = spend("I", "i-2", "99.00", 50)
    early_last = spend("I", "i-2", "90.00", 45)
    spend_copies.remove(late_first)
    spend_copies.remove(early_last)

    # What the hand says: per pair, the earliest (time, id) copy.
    kept: dict[tuple[str, str], Envelope] = {}
    for e in [*spend_copies, late_first, early_last]:
        pair = (e.data.source_system, e.data.source_reference)
        if pair not in kept or (e.time, e.id) < (kept[pair].time, kept[pair].id):
            kept[pair] = e
    expected_spend: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in kept.values():
        expected_spend[e.data.campaign_id][e.data.amount.currency] += e.data.amount.amount
    committed = {cid("A"): {"EUR": Decimal("1000")}, cid("B"): {"EUR": Decimal("1200")},
                 cid("C"): {"EUR": Decimal("800")}}
    unreconciled = {cid("B"): {"USD": Decimal("50")}, cid("E"): {"EUR": Decimal("15")},
                    cid("F"): {"EUR": Decimal("35")}}
    return History(lines=[(big, "100000.00", "EUR"), (small, "1500.00", "EUR"), (usd, "5000.00", "USD")],
                   events=[*events, *spend_copies, late_first, early_last],
                   expected_spend={k: dict(v) for k, v in expected_spend.items()},
                   expected_committed=committed, expected_unreconciled=unreconciled)


def kafka_shuffle(events: list[Envelope], rng: random.Random, *, last: list[Envelope]) -> list[Envelope]:
    """An order Kafka may deliver: each (topic, key) keeps its order (brief versions stay in
    sequence), except that the copies of spends (one ERP's re-sends) come in any order;
    the streams are interleaved at random; ``last`` comes after everything else."""
    streams: dict[tuple[str, str], list[Envelope]] = defaultdict(list)
    for e in events:
        if e not in last:
            streams[(e.type, partition_key(e))].append(e)
    for (event_type, _), stream in streams.items():
        if event_type == "SpendRecorded":
            rng.shuffle(stream)
    queues = [list(s) for s in streams.values()]
    out: list[Envelope] = []
    while queues:
        q = rng.choice(queues)
        out.append(q.pop(0))
        if not q:
            queues.remove(q)
    return [*out, *last]


# -- the services -----------------------------------------------------------------------


@dataclass
class Services:
    budget: httpx.AsyncClient
    metrics: httpx.AsyncClient
    budget_db: asyncpg.Pool
    metrics_db: asyncpg.Pool
    budget_settings: BudgetSettings
    metrics_settings: MetricsSettings


@pytest_asyncio.fixture
async def services(make_pg_dsn: Callable[[str], str], kafka_bootstrap: str,
                   topic_prefix: str) -> AsyncIterator[Services]:
    bs = service_settings(BudgetSettings, pg_dsn=make_pg_dsn("budget"), kafka_bootstrap=kafka_bootstrap,
                          topic_prefix=topic_prefix)
    ms = service_settings(MetricsSettings, pg_dsn=make_pg_dsn("metrics"), kafka_bootstrap=kafka_bootstrap,
                          topic_prefix=topic_prefix)
    async with running(budget_app(bs)) as budget, running(metrics_app(ms)) as metrics:
        bdb = await asyncpg.create_pool(bs.database_url, min_size=1, max_size=2)
        mdb = await asyncpg.create_pool(ms.database_url, min_size=1, max_size=2)
        try:
            yield Services(budget, metrics, bdb, mdb, bs, ms)
        finally:
            await bdb.close()
            await mdb.close()


async def publish(settings: BudgetSettings, events: list[Envelope]) -> None:
    producer = kafka.producer(settings.kafka_bootstrap_servers, client_id="agreement-test")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(
                spec_for(e.type).topic(settings.topic_prefix), value=e.to_json(), key=partition_key(e).encode(),
                headers=[("content-type", CONTENT_TYPE.encode()), ("ce_type", e.type.encode())])
    finally:
        await producer.stop()


def nonzero(amounts: dict[str, Decimal]) -> dict[str, Decimal]:
    return {cur: amount for cur, amount in amounts.items() if amount != 0}


async def budget_view(s: Services, campaign: str) -> dict[str, dict[str, Decimal]]:
    headers = auth(s.budget_settings, "vic", "viewer")
    ledger = await s.budget.get("/spend", params={"campaign_id": campaign, "limit": "1000"}, headers=headers)
    assert ledger.status_code == 200, ledger.text
    spend = {t["currency"]: Decimal(t["total"]) for t in ledger.json()["totals"]}
    view = await s.budget.get(f"/campaigns/{campaign}/budget", headers=headers)
    committed: dict[str, Decimal] = {}
    unreconciled: dict[str, Decimal] = {}
    if view.status_code == 200:
        body = view.json()
        if body["committed"] is not None:
            committed[body["committed"]["currency"]] = Decimal(body["committed"]["amount"])
        unreconciled = {m["currency"]: Decimal(m["amount"]) for m in body["unreconciled"]}
    else:
        assert view.status_code == 404, view.text
    return {"spend": nonzero(spend), "committed": nonzero(committed), "unreconciled": nonzero(unreconciled)}


async def metrics_views(s: Services) -> dict[str, dict[str, dict[str, Decimal]]]:
    response = await s.metrics.get("/aggregates/variance/campaigns", headers=auth(s.metrics_settings, "vic", "viewer"))
    assert response.status_code == 200, response.text
    out: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: {"spend": {}, "committed": {}, "unreconciled": {}})
    for row in response.json()["rows"]:
        view = out[row["campaign_id"]]
        for key, field in (("spend", "actual"), ("committed", "committed"), ("unreconciled", "unreconciled")):
            if Decimal(row[field]) != 0:
                view[key][row["currency"]] = Decimal(row[field])
    return out


async def test_budget_and_metrics_agree_on_a_shuffled_history_with_conflicting_duplicates(
        services: Services) -> None:
    s = services
    run = f"r{uuid.uuid4().hex[:6]}"
    history = build_history(run)
    finance = auth(s.budget_settings, "fiona", "finance")
    for line_id, amount, currency in history.lines:
        created = await s.budget.post("/budget-lines", headers=finance, json={
            "id": line_id, "fiscal_year": 2026, "quarter": 2, "team": "growth", "channel": "paid_search",
            "amount": {"amount": amount, "currency": currency}})
        assert created.status_code == 201, created.text
    last = history.events[-1:]  # the earliest copy of i-2, after its later copy was booked
    ordered = kafka_shuffle(history.events, random.Random(SEED), last=last)
    await publish(s.budget_settings, ordered)
    sent = [e.id for e in ordered]

    async def budget_done() -> bool:
        n = await s.budget_db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])", sent)
        pending = await s.budget_db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        assert (n, pending) == (len(sent), 0), f"budget took {n}/{len(sent)}, {pending} to publish"
        return True

    await wait_for(budget_done, timeout=120, message="budget consumed the history and published its decisions")
    published = [r["event_id"] for r in await s.budget_db.fetch("SELECT event_id FROM outbox")]

    async def metrics_done() -> bool:
        everything = [*sent, *published]
        n = await s.metrics_db.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])", everything)
        assert n == len(everything), f"metrics took {n}/{len(everything)}"
        return True

    await wait_for(metrics_done, timeout=120, message="metrics consumed the history and budget's events")

    context = f"(seed {SEED}; replay with MAROPS_AGREEMENT_SEED={SEED})"
    in_metrics = await metrics_views(s)
    campaigns = sorted({e.data.campaign_id for e in history.events})
    for campaign in campaigns:
        in_budget = await budget_view(s, campaign)
        expected = {"spend": history.expected_spend.get(campaign, {}),
                    "committed": history.expected_committed.get(campaign, {}),
                    "unreconciled": history.expected_unreconciled.get(campaign, {})}
        assert in_budget == expected, f"budget, {campaign} {context}"
        assert in_metrics[campaign] == expected, f"metrics, {campaign} {context}"

    # A copy later than the one kept when it arrived, saying something else, was refused
    # (dead-lettered with its reason); an earlier one replaced what was kept. Copies keyed by
    # one campaign arrive in the order published; the two copies of "moved" are keyed by two
    # campaigns (two partitions), so whether the later one is refused depends on which
    # partition budget read first: it may be, the earlier one never is.
    kept: dict[tuple[str, str], Envelope] = {}
    expected_refused = set()
    moved = sorted((e for e in ordered if e.type == "SpendRecorded" and e.data.source_reference.endswith("-moved")),
                   key=lambda e: (e.time, e.id))
    for e in ordered:
        if e.type != "SpendRecorded" or e in moved:
            continue
        pair, content = (e.data.source_system, e.data.source_reference), _content(e)
        if pair not in kept or (e.time, e.id) < (kept[pair].time, kept[pair].id):
            kept[pair] = e
        elif content != _content(kept[pair]):
            expected_refused.add(e.id)
    refused = {r["event_id"] for r in await s.budget_db.fetch(
        "SELECT event_id FROM inbox WHERE status = 'dead_lettered' AND event_id = ANY($1::uuid[])", sent)}
    if refused - {moved[1].id} != expected_refused:
        topic = spec_for("SpendRecorded").topic(s.budget_settings.topic_prefix) + DLQ_SUFFIX
        letters = await read_topic(s.budget_settings.kafka_bootstrap_servers, topic, count=len(refused), timeout=5)
        reasons = [(json.loads(r.value)["id"], dict(r.headers).get("dlq.reason")) for r in letters]
        raise AssertionError(f"refused {sorted(map(str, refused))}, expected {sorted(map(str, expected_refused))}; "
                             f"dead letters: {reasons} {context}")


def _content(e: Envelope) -> tuple[object, ...]:
    d = e.data
    return (d.campaign_id, d.amount.amount, d.amount.currency, d.incurred_on, d.budget_line_id, d.corrects_reference)
