"""Random histories, number for number: the live path (set-based batches of random sizes
in a random delivery order, with redeliveries and duplicate business facts), the rebuild
path (other batch sizes, derived rows once at the end) and the domain's pure computation
over the same events give the same reports.

The rebuild path is the rebuild's own: a bulk load (facts COPYd into staging tables,
merged by natural key at the end), indexes built after, then every campaign derived once.

The database side aggregates in SQL; the pure side folds the events in memory
(``facts.facts_of``) and aggregates with ``aggregates``: two independent computations.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marops_events import contracts as c
from marops_events.envelope import Envelope
from marops_metrics import aggregates, derive, handlers, readside
from marops_metrics.aggregates import Filters, GroupBy
from marops_metrics.bulk import BulkLoad
from marops_metrics.domain import build_campaigns
from marops_metrics.facts import facts_of
from marops_metrics.projection import BOOKKEEPING_TABLES, LIVE_SCHEMA, REBUILD_SCHEMA
from marops_metrics.readside import Scope
from marops_metrics.rebuild import create_indexes, prepare_schema
from marops_metrics.settings import MIGRATIONS_DIR
from marops_service import db
from marops_testkit.compare import same

GATES = ["brief-review", "budget", "brand-legal"]  # the scenario's policy (conftest)
TEAMS = ["brand", "growth", "product"]
CHANNELS = ["email", "paid_search", "video", "display"]


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


@st.composite
def campaign_history(draw: st.DrawFn, story: Any, cid: str) -> None:
    """One campaign's life: versions, gate decisions, commitment, launch or cancellation,
    completion, spends (some recorded twice under other event ids, some in USD)."""
    day = draw(st.integers(1, 150))
    start = at(1, 1) + timedelta(days=day, hours=draw(st.integers(0, 23)))
    story.campaign(cid, team=draw(st.sampled_from(TEAMS)),
                   channels=draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=2, unique=True)),
                   target=(start + timedelta(days=draw(st.integers(5, 60)))).date(),
                   line=draw(st.sampled_from(["L-1", "L-2"])))
    now = start
    versions = draw(st.integers(1, 3))
    for v in range(1, versions + 1):
        story.submit(cid, v, now, draw(st.sampled_from([4000, 12000, "2500.50"])))
        actionable = now
        for gate in GATES[:story._gate_count(cid, v)]:
            now += timedelta(hours=draw(st.integers(1, 100)), minutes=draw(st.integers(0, 59)))
            if v < versions and draw(st.booleans()):
                story.reject(cid, v, gate, actionable, now,
                             kind=draw(st.sampled_from(list(c.RejectionKind))))
                break
            if draw(st.integers(0, 9)) == 0:
                return  # left undecided
            story.approve(cid, v, gate, actionable, now)
            actionable = now
        now += timedelta(hours=draw(st.integers(1, 48)))
    story.commit(cid, versions, now)
    if draw(st.booleans()):
        story.commit(cid, versions, now + timedelta(hours=1))  # a recommitment: the latest counts
    end = draw(st.sampled_from(["launch", "cancel", "release", "none"]))
    now += timedelta(days=draw(st.integers(0, 20)), hours=draw(st.integers(0, 23)))
    if end == "cancel":
        story.cancel(cid, now)
        return
    if end == "release":
        story.release(cid, 100, c.ReleaseReason.cancelled, now)
    if end in ("launch", "release"):
        story.launch(cid, versions, now, kpis=draw(st.booleans()), tracking=draw(st.booleans()))
    for n in range(draw(st.integers(0, 4))):
        incurred = (now + timedelta(days=draw(st.integers(0, 60)))).date()
        amount = draw(st.sampled_from(["100.00", "2500.25", "0.01", "999"]))
        currency = draw(st.sampled_from([None, None, "USD"]))
        story.spend(cid, f"{cid}-{n}", amount, incurred, currency=currency,
                    line=draw(st.sampled_from([None, None, "L-9"])))
        if draw(st.booleans()):  # the same business fact again, later, under another event id
            story.spend(cid, f"{cid}-{n}", amount, incurred, currency=currency,
                        time=at(6, 1) + timedelta(hours=n))
        if currency is None and draw(st.integers(0, 3)) == 0:  # budget could not book it (yet)
            story.reconciliation(cid, "google-ads", f"{cid}-{n}", amount, 1, now + timedelta(hours=2),
                                 unreconciled="unknown_line")
            if draw(st.booleans()):
                story.reconciliation(cid, "google-ads", f"{cid}-{n}", amount, 2, now + timedelta(hours=3),
                                     resolution="booked")
    if end == "launch" and draw(st.booleans()):
        story.complete(cid, now + timedelta(days=30))


@st.composite
def histories(draw: st.DrawFn, new_story: Callable[[], Any]) -> tuple[list[Envelope], list[int], list[int]]:
    story = new_story()
    for i in range(draw(st.integers(1, 8))):
        draw(campaign_history(story, f"P{i:02d}"))
    events = list(story.events)
    order = draw(st.permutations(events))
    redelivered = draw(st.lists(st.integers(0, len(order) - 1), max_size=10))
    delivered = list(order) + [order[i] for i in redelivered]
    live_sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=8))
    rebuild_sizes = draw(st.lists(st.integers(1, 200), min_size=1, max_size=3))
    return delivered, live_sizes, rebuild_sizes


def batches(events: list[Envelope], sizes: list[int]) -> list[list[Envelope]]:
    out, position, i = [], 0, 0
    while position < len(events):
        size = sizes[i] if i < len(sizes) else len(events)
        out.append(events[position:position + size])
        position += size
        i += 1
    return out


GROUPED = [
    ("cycle_time", GroupBy.quarter), ("cycle_time", GroupBy.channel), ("rework", GroupBy.team),
    ("on_time_launch", GroupBy.quarter), ("data_completeness", GroupBy.team),
]
PURE_GROUPED = {"cycle_time": aggregates.cycle_time, "rework": aggregates.rework,
                "on_time_launch": aggregates.on_time, "data_completeness": aggregates.data_completeness}


def plain(body: dict[str, Any]) -> Any:
    """JSON as the API would send it, without the keys only the database side has."""
    out = json.loads(json.dumps(body, default=str))
    for key in ("filtered", "limit", "next_cursor"):
        out.pop(key, None)
    return out


async def database_reports(pool: asyncpg.Pool) -> dict[str, Any]:
    scope = Scope(Filters())
    out = {
        "summary": (await readside.summary(pool, scope)).body,
        "campaigns": (await readside.campaign_table(pool, scope, limit=1000)).body,
        "gate_times": (await readside.gate_report(pool, "time_in_gate", scope, GroupBy.team)).body,
        "sla": (await readside.gate_report(pool, "sla_breaches", scope, GroupBy.channel)).body,
        "variance": (await readside.variance_by_campaign(pool, scope, None)).body,
        "variance_team": (await readside.variance_by_campaign(pool, scope, GroupBy.team)).body,
        "lines": (await readside.variance_by_line(pool, scope)).body,
        "months": (await readside.spend_by_month(pool, scope, GroupBy.channel)).body,
        "months_all": (await readside.spend_by_month(pool, scope, None)).body,
    }
    for name, group_by in GROUPED:
        out[f"{name}/{group_by}"] = (await readside.campaign_report(pool, name, scope, group_by)).body
    return {k: plain(v) for k, v in out.items()}


def pure_reports(events: list[Envelope]) -> dict[str, Any]:
    campaigns = build_campaigns(facts_of(events))
    f = Filters()
    out = {
        "summary": aggregates.summary(campaigns, f).body,
        "campaigns": aggregates.campaign_table(campaigns, f).body,
        "gate_times": aggregates.gate_times(campaigns, f, GroupBy.team).body,
        "sla": aggregates.sla_breaches(campaigns, f, GroupBy.channel).body,
        "variance": aggregates.variance_by_campaign(campaigns, f, None).body,
        "variance_team": aggregates.variance_by_campaign(campaigns, f, GroupBy.team).body,
        "lines": aggregates.variance_by_line(campaigns, f).body,
        "months": aggregates.spend_by_month(campaigns, f, GroupBy.channel).body,
        "months_all": aggregates.spend_by_month(campaigns, f, None).body,
    }
    for name, group_by in GROUPED:
        out[f"{name}/{group_by}"] = PURE_GROUPED[name](campaigns, f, group_by).body
    return {k: plain(v) for k, v in out.items()}


async def tables(conn: asyncpg.Connection, schema: str) -> dict[str, list[str]]:
    names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> ALL($2) ORDER BY 1", schema,
                             BOOKKEEPING_TABLES)
    return {r["tablename"]: sorted(json.dumps(dict(row), default=str, sort_keys=True)
                                   for row in await conn.fetch(f"SELECT * FROM {schema}.{r['tablename']}"))
            for r in names}


async def live_and_rebuild(dsn: str, events: list[Envelope], live_sizes: list[int],
                           rebuild_sizes: list[int]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    pool = await db.create_pool(dsn, min_size=1, max_size=3)
    try:
        async with pool.acquire() as conn:
            names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", LIVE_SCHEMA)
            await conn.execute("TRUNCATE " + ", ".join(f"{LIVE_SCHEMA}.{r['tablename']}" for r in names))
            for batch in batches(events, live_sizes):  # the live consumer's path
                async with conn.transaction():
                    await handlers.project_batch(conn, batch)
        await prepare_schema(pool, indexes=False)  # the rebuild's path: a bulk load, merged at the end
        load = BulkLoad()
        async with pool.acquire() as conn:
            await load.prepare(conn)
            for batch in batches(list(reversed(events)), rebuild_sizes):
                async with conn.transaction():
                    await load.load(conn, batch)
            await load.finish(conn)
        await create_indexes(pool, derived=False)
        await derive.refresh_all(pool, REBUILD_SCHEMA)
        await create_indexes(pool, derived=True)
        async with pool.acquire() as conn:
            live, rebuilt = await tables(conn, LIVE_SCHEMA), await tables(conn, REBUILD_SCHEMA)
        return live, rebuilt, await database_reports(pool)
    finally:
        await pool.close()


def test_live_rebuild_and_pure_computation_agree_on_random_histories(pg_dsn: str, story) -> None:
    asyncio.run(db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)]))

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])
    @given(history=histories(story))
    def check(history: tuple[list[Envelope], list[int], list[int]]) -> None:
        events, live_sizes, rebuild_sizes = history
        live, rebuilt, reports = asyncio.run(live_and_rebuild(pg_dsn, events, live_sizes, rebuild_sizes))
        assert live == rebuilt  # every table, derived rows included, row for row
        same(reports, pure_reports(events))

    check()


def test_the_comparison_sees_a_missing_event(pg_dsn: str, story) -> None:
    """Guards the property against a vacuous pass: one spend fewer on the pure side is seen."""
    asyncio.run(db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)]))
    s = story()
    s.campaign("Q1", team="brand", channels=["email"], target=at(3, 1).date(), line="L-1")
    s.submit("Q1", 1, at(1, 5), 4000)
    s.commit("Q1", 1, at(1, 9))
    s.spend("Q1", "r-1", "100.00", at(2, 1).date())
    s.spend("Q1", "r-2", "50.00", at(2, 2).date())
    _, _, reports = asyncio.run(live_and_rebuild(pg_dsn, s.events, [2], [5]))
    same(reports, pure_reports(s.events))
    try:
        same(reports, pure_reports(s.events[:-1]))
    except AssertionError:
        return
    raise AssertionError("the comparison did not notice a missing spend")

