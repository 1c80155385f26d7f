"""Reports answered from memory are never stale: a report is remembered under the read
model's revision token, and every write (a projected batch, derived rows, a rebuild's swap)
changes the token, so the next request computes the report again. The outcome reports and
the review pack are remembered the same way (the pack's overdue gates still follow the clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from marops_events import contracts as c
from marops_metrics import derive, handlers, outcomes, readside, reviews
from marops_metrics.aggregates import Filters, GroupBy
from marops_metrics.projection import LIVE_SCHEMA
from marops_metrics.readside import Scope
from marops_metrics.settings import MIGRATIONS_DIR
from marops_service import db


async def _scenario(dsn: str, story) -> None:
    await db.apply_migrations(dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)])
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        first, second = story(), story()
        for s, cid, team in ((first, "M-1", "growth"), (second, "M-2", "brand")):
            s.campaign(cid, team=team, channels=["email"], target=date(2026, 6, 1), line="L-1")
            s.submit(cid, 1, datetime(2026, 3, 2, 9, tzinfo=UTC), 1000)
        scope = Scope(Filters())

        async def project(events) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await handlers.project_batch(conn, list(events))

        await project(first.events)
        before = await readside.summary(pool, scope)
        assert before.body["campaigns"]["submitted"] == 1
        assert await readside.summary(pool, scope) is before  # the same revision: answered from memory
        by_team = await readside.campaign_report(pool, "rework", scope, GroupBy.team)
        assert [g["group"] for g in by_team.body["groups"]] == ["growth"]

        await project(second.events)  # a batch changes the revision
        after = await readside.summary(pool, scope)
        assert after.body["campaigns"]["submitted"] == 2
        assert [g["group"] for g in (await readside.campaign_report(
            pool, "rework", scope, GroupBy.team)).body["groups"]] == ["brand", "growth"]

        # Derived rows written outside a batch (missing rows derived at start-up) change it too.
        async with pool.acquire() as conn:
            await conn.execute(f"DELETE FROM {LIVE_SCHEMA}.campaigns WHERE campaign_id = 'M-2'")
            await conn.execute(f"DELETE FROM {LIVE_SCHEMA}.revision")  # as an upgrade finds it: no token
        assert (await readside.summary(pool, scope)).body["campaigns"]["submitted"] == 1
        assert await derive.refresh_missing(pool, LIVE_SCHEMA) == 1
        assert (await readside.summary(pool, scope)).body["campaigns"]["submitted"] == 2
    finally:
        await pool.close()


def test_a_remembered_report_is_recomputed_after_every_write(pg_dsn: str, story) -> None:
    asyncio.run(_scenario(pg_dsn, story))


async def _outcomes_and_reviews(dsn: str, story) -> None:
    await db.apply_migrations(dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)])
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        s = story()
        s.campaign("O-1", team="growth", channels=["email"], target=date(2026, 3, 10), line="L-1")
        s.submit("O-1", 1, datetime(2026, 2, 2, 9, tzinfo=UTC), 1000)
        s.launch("O-1", 1, datetime(2026, 3, 10, 9, tzinfo=UTC))
        s.campaign("O-2", team="growth", channels=["email"], target=date(2026, 4, 1), line="L-1")
        s.submit("O-2", 1, datetime(2026, 3, 9, 9, tzinfo=UTC), 1000)
        s._add(c.SlaBreached(campaign_id="O-2", brief_version=1, policy_version=1, gate_id="brief-review",
                             gate_name="Brief review", gate_kind=c.GateKind.review, gate_position=1,
                             actionable_at=datetime(2026, 3, 9, 9, tzinfo=UTC), sla_hours=24,
                             due_at=datetime(2026, 3, 10, 9, tzinfo=UTC)), datetime(2026, 3, 10, 9, tzinfo=UTC), "O-2")
        scope = Scope(Filters())
        week = reviews.window(reviews.Period.week, date(2026, 3, 10))

        async def project(events) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await handlers.project_batch(conn, list(events))

        await project(s.events)
        totals = await outcomes.aggregate_report(pool, scope, None)
        page = await outcomes.campaign_report(pool, scope, limit=10, cursor=None)
        read = await reviews.remembered_read(pool, scope, reviews.Period.week, week)
        assert totals.body["overall"]["with_results"] == 0
        assert [k["actual"] for k in page.body["campaigns"][0]["kpis"]] == [None]
        # the same revision: all three answered from memory
        assert await outcomes.aggregate_report(pool, scope, None) is totals
        assert await outcomes.campaign_report(pool, scope, limit=10, cursor=None) is page
        assert await reviews.remembered_read(pool, scope, reviews.Period.week, week) is read
        # a remembered pack still follows the clock: the gate is overdue from its due time on
        before, after = (reviews.finish(read, datetime(2026, 3, 10, h, tzinfo=UTC)) for h in (8, 21))
        assert before["gates_overdue"] == [] and before["spend"] == []
        assert [(g["campaign_id"], g["hours_overdue"]) for g in after["gates_overdue"]] == [("O-2", 12.0)]
        assert after["as_of"] == datetime(2026, 3, 10, 21, tzinfo=UTC)

        # a new batch (results and spend) changes the revision: each is computed again
        await project([s.results("O-1", "analytics", "wk-11", date(2026, 3, 12), {"leads": "80"},
                                 datetime(2026, 3, 12, 9, tzinfo=UTC)),
                       s.spend("O-1", "s-1", "250.00", date(2026, 3, 11))])
        totals = await outcomes.aggregate_report(pool, scope, None)
        assert (totals.body["overall"]["with_results"], totals.body["overall"]["attainment"]["mean"]) == (1, 0.8)
        page = await outcomes.campaign_report(pool, scope, limit=10, cursor=None)
        assert [k["actual"] for k in page.body["campaigns"][0]["kpis"]] == ["80"]
        again = reviews.finish(await reviews.remembered_read(pool, scope, reviews.Period.week, week),
                               datetime(2026, 3, 16, tzinfo=UTC))
        assert again["spend"] == [{"currency": "EUR", "amount": "250.00"}]
    finally:
        await pool.close()


def test_outcome_reports_and_the_review_pack_are_remembered_until_the_next_write(pg_dsn: str, story) -> None:
    asyncio.run(_outcomes_and_reviews(pg_dsn, story))
