"""Property: any interleaving of the topics that keeps each topic's own order, with random
duplicates and random batch boundaries, produces identical read models.

Events go through the live handler (``handlers.project``) against real PostgreSQL, a batch
per transaction as the consumer runner does, but without the inbox: the projection itself
must absorb redeliveries. The reference is the scenario applied once, in story order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marops_events.envelope import Envelope
from marops_metrics import aggregates, handlers, repository
from marops_metrics.aggregates import Filters
from marops_metrics.domain import build_campaigns
from marops_metrics.projection import LIVE_SCHEMA
from marops_metrics.settings import MIGRATIONS_DIR
from marops_service import db


async def _migrate(dsn: str) -> None:
    await db.apply_migrations(dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)])


async def read_model(pool: asyncpg.Pool, dsn: str, dump: Callable[[str], Any]) -> dict[str, Any]:
    """Every read-model table, plus the summary computed from them."""
    summary = aggregates.summary(build_campaigns(await repository.load_facts(pool)), Filters()).body
    return {"tables": await dump(dsn), "summary": json.loads(json.dumps(summary, default=str))}


async def apply_in_batches(dsn: str, dump: Callable[[str], Any], events: list[Envelope],
                           batch_sizes: list[int]) -> dict[str, Any]:
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", LIVE_SCHEMA)
            await conn.execute("TRUNCATE " + ", ".join(f"{LIVE_SCHEMA}.{r['tablename']}" for r in tables))
            position, sizes = 0, iter(batch_sizes)
            while position < len(events):
                batch = events[position:position + next(sizes, len(events))]
                async with conn.transaction():
                    for event in batch:
                        async with conn.transaction():  # a savepoint per event, as the runner does
                            await handlers.project(conn, event)
                position += len(batch)
        return await read_model(pool, dsn, dump)
    finally:
        await pool.close()


@st.composite
def deliveries(draw: st.DrawFn, by_topic: dict[str, list[Envelope]]) -> tuple[list[Envelope], list[int]]:
    """An interleaving that keeps each topic's order, with duplicates inserted anywhere."""
    labels = draw(st.permutations([topic for topic, events in by_topic.items() for _ in events]))
    cursor = {topic: 0 for topic in by_topic}
    order: list[Envelope] = []
    for topic in labels:
        order.append(by_topic[topic][cursor[topic]])
        cursor[topic] += 1
    redelivered = draw(st.lists(st.tuples(st.integers(0, len(order)), st.integers(0, len(order) - 1)),
                                max_size=20))
    for at, which in sorted(redelivered, reverse=True):
        order.insert(at, order[which])
    sizes = draw(st.lists(st.integers(1, 60), min_size=1, max_size=10))
    return order, sizes


def test_any_interleaving_with_duplicates_gives_identical_read_models(pg_dsn: str, dozen, dump_read_model) -> None:
    asyncio.run(_migrate(pg_dsn))
    reference = asyncio.run(apply_in_batches(pg_dsn, dump_read_model, dozen.events, [len(dozen.events)]))
    assert reference["summary"]["campaigns"]["submitted"] == 12  # the scenario really is in there

    @settings(max_examples=25, deadline=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(delivery=deliveries(dozen.by_topic()))
    def check(delivery: tuple[list[Envelope], list[int]]) -> None:
        order, sizes = delivery
        assert asyncio.run(apply_in_batches(pg_dsn, dump_read_model, order, sizes)) == reference

    check()


def test_the_read_model_depends_on_every_event(pg_dsn: str, dozen, dump_read_model) -> None:
    """Guards the property above against a vacuous pass: the read model does see what is
    applied (dropping one event changes it)."""
    asyncio.run(_migrate(pg_dsn))
    everything = asyncio.run(apply_in_batches(pg_dsn, dump_read_model, dozen.events, [10]))
    launch = next(e for e in dozen.events if e.type == "CampaignLaunched")
    others = [e for e in dozen.events if e is not launch]
    without_a_launch = asyncio.run(apply_in_batches(pg_dsn, dump_read_model, others, [10]))
    assert without_a_launch != everything
    assert without_a_launch["summary"]["campaigns"]["launched"] == everything["summary"]["campaigns"]["launched"] - 1


def test_a_retrospective_recorded_again_keeps_its_highest_revision_in_any_order(pg_dsn: str, dump_read_model,
                                                                                     fresh_dozen) -> None:
    story = fresh_dozen()
    story.retrospective("C01", 1, datetime(2026, 4, 2, 10, tzinfo=UTC), lessons=1)
    story.retrospective("C01", 2, datetime(2026, 4, 3, 10, tzinfo=UTC), lessons=2, actions=1)
    asyncio.run(_migrate(pg_dsn))
    retros = [e for e in story.events if e.type == "RetrospectiveRecorded"]
    others = [e for e in story.events if e.type != "RetrospectiveRecorded"]
    reference = asyncio.run(apply_in_batches(pg_dsn, dump_read_model, story.events, [len(story.events)]))
    [kept] = [json.loads(r) for r in reference["tables"]["retrospectives"]]
    assert (kept["campaign_id"], kept["revision"], kept["lessons"], kept["actions"]) == ("C01", 2, 2, 1)
    # the later revision first, the earlier one redelivered after it, in batches of every size
    for order, sizes in (([*reversed(retros), *others, retros[0]], [1]), ([retros[1], *others, *retros], [7, 3])):
        assert asyncio.run(apply_in_batches(pg_dsn, dump_read_model, order, sizes)) == reference
