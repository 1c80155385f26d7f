"""The totals behind the summary (``summary_*``, ``derived_decisions``): kept incrementally
by the derivation, they equal the totals recomputed from the derived rows at the end, and
the summary read from them equals the summary computed by scanning those rows (the scan
path answers every filtered summary), number for number. The dozen-campaign scenario is
applied in small batches in two delivery orders, with redeliveries (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import asyncpg

from marops_metrics import derive, handlers, readside
from marops_metrics.aggregates import Filters
from marops_metrics.projection import LIVE_SCHEMA
from marops_metrics.readside import Scope
from marops_metrics.settings import MIGRATIONS_DIR
from marops_service import db
from marops_testkit.compare import same

TOTALS = ["derived_decisions", "summary_campaigns", "summary_money", "summary_gates", "summary_buckets"]


async def _totals(conn: asyncpg.Connection) -> dict[str, list[str]]:
    return {t: sorted(json.dumps(dict(r), default=str, sort_keys=True)
                      for r in await conn.fetch(f"SELECT * FROM {LIVE_SCHEMA}.{t}")) for t in TOTALS}


async def _both(pool: asyncpg.Pool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary from the totals and by scanning the rows, in one snapshot."""
    scope = Scope(Filters())
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return (readside.summary_body(scope, await readside.summary_from_totals(conn)),
                readside.summary_body(scope, await readside.summary_by_scan(conn, scope)))


async def _check(dsn: str, events: list[Any]) -> None:
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", LIVE_SCHEMA)
            await conn.execute("TRUNCATE " + ", ".join(f"{LIVE_SCHEMA}.{r['tablename']}" for r in names))
            for i in range(0, len(events), 7):
                async with conn.transaction():
                    await handlers.project_batch(conn, events[i:i + 7])
            kept = await _totals(conn)
            async with conn.transaction():
                await derive.recompute_totals(conn, LIVE_SCHEMA)
            assert await _totals(conn) == kept
        assert kept["summary_campaigns"] and kept["summary_gates"] and kept["summary_buckets"]
        from_totals, by_scan = await _both(pool)
        same(from_totals, by_scan)
        assert from_totals["time_in_gate"]["gates"] and from_totals["cycle_time"]["count"]
    finally:
        await pool.close()


def test_totals_kept_by_the_derivation_equal_the_totals_of_the_rows(pg_dsn: str, dozen) -> None:
    asyncio.run(db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)]))
    rng = random.Random(12)
    for _ in range(2):
        events = list(dozen.events) + rng.sample(list(dozen.events), 10)  # with redeliveries
        rng.shuffle(events)
        asyncio.run(_check(pg_dsn, events))
