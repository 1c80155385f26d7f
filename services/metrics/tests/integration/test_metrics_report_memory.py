"""Reports answered from memory are never stale: a report is remembered under the read
model's revision token, and every write (a projected batch, derived rows, a rebuild's swap)
changes the token, so the next request computes the report again."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from marops_metrics import derive, handlers, readside
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
