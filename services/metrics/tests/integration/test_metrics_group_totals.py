"""The totals per group (``group_*``): kept incrementally by the derivation, they equal the
totals recomputed from the derived rows at the end, and every grouped report read from them
equals the same report computed by aggregating the rows (which answers every filtered
report), number for number. The dozen-campaign scenario is applied in small batches in two
delivery orders with redeliveries (real PostgreSQL); the property test holds the same
reports to the pure computation on random histories."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import asyncpg

from marops_metrics import derive, handlers, readside
from marops_metrics.aggregates import Filters, GroupBy
from marops_metrics.projection import LIVE_SCHEMA
from marops_metrics.readside import Scope
from marops_metrics.settings import MIGRATIONS_DIR
from marops_service import db
from marops_testkit.compare import same

TOTALS = ["derived_decisions", "campaign_money", "group_campaigns", "group_money", "group_gates", "group_buckets",
          "value_counts"]


async def _totals(conn: asyncpg.Connection) -> dict[str, list[str]]:
    return {t: sorted(json.dumps(dict(r), default=str, sort_keys=True)
                      for r in await conn.fetch(f"SELECT * FROM {LIVE_SCHEMA}.{t}")) for t in TOTALS}


async def _grouped(pool: asyncpg.Pool) -> dict[str, Any]:
    scope = Scope(Filters())
    out: dict[str, Any] = {}
    for group_by in GroupBy:
        for name in ("cycle_time", "rework", "on_time_launch", "data_completeness"):
            out[f"{name}/{group_by}"] = (await readside.campaign_report(pool, name, scope, group_by)).body
        for name in ("time_in_gate", "sla_breaches"):
            out[f"{name}/{group_by}"] = (await readside.gate_report(pool, name, scope, group_by)).body
        out[f"variance/{group_by}"] = (await readside.variance_by_campaign(pool, scope, group_by)).body
    return json.loads(json.dumps(out, default=str))


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
        assert kept["group_campaigns"] and kept["group_gates"] and kept["group_money"] and kept["group_buckets"]
        readside.forget()
        from_totals = await _grouped(pool)
        with readside.scanning():
            by_scan = await _grouped(pool)
        same(from_totals, by_scan)
        assert from_totals["time_in_gate/channel"]["groups"] and from_totals["cycle_time/team"]["groups"]
        assert from_totals["variance/quarter"]["rows"]
    finally:
        await pool.close()


def test_group_totals_equal_the_totals_of_the_rows_and_answer_as_the_rows_do(pg_dsn: str, dozen) -> None:
    asyncio.run(db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)]))
    rng = random.Random(17)
    for _ in range(2):
        events = list(dozen.events) + rng.sample(list(dozen.events), 10)  # with redeliveries
        rng.shuffle(events)
        asyncio.run(_check(pg_dsn, events))
