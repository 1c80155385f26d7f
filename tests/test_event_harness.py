"""The test harness sends what the outbox relay sends, and reads back what a service
published: every suite's consumer under test sees production's records (real
PostgreSQL, real Kafka, the real relay)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from marops_events import contracts as c
from marops_events import kafka, outbox
from marops_events.outbox import OutboxRelay
from marops_events.registry import new_event
from marops_service import db
from marops_testkit import events as harness
from marops_testkit import wait_for


def spend(reference: str) -> c.SpendRecorded:
    return c.SpendRecorded(campaign_id="cmp-h", source_system="ads", source_reference=reference,
                           amount=c.Money(amount=Decimal("5.00"), currency="EUR"), incurred_on="2026-01-05")


async def test_the_harness_publishes_records_shaped_like_the_relay_s_and_reads_them_back(
        pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    await db.apply_migrations(pg_dsn, db.library_migrations())
    await kafka.ensure_topics(kafka_bootstrap, kafka.all_topics(topic_prefix), partitions=1)
    relayed = new_event(spend("r-relay"), source="marops/budget")
    pool = await db.create_pool(pg_dsn)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, relayed)
    await pool.close()
    stop = asyncio.Event()
    relay = OutboxRelay(pg_dsn, lambda: kafka.producer(kafka_bootstrap), topic_prefix=topic_prefix, poll_interval=0.1)
    task = asyncio.create_task(relay.run(stop))
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    try:
        await wait_for(lambda: harness.published(kafka_bootstrap, topic_prefix, "SpendRecorded", "cmp-h", 1))
        sent = new_event(spend("r-harness"), source="marops/test")
        await harness.publish(producer, topic_prefix, [sent])
        found = await harness.published(kafka_bootstrap, topic_prefix, "SpendRecorded", "cmp-h", 2)
        records = await harness.read_to_end(kafka_bootstrap, topic_prefix + "marops.spend-recorded.v1")
    finally:
        stop.set()
        await task
        await producer.stop()

    assert [e["id"] for e in found] == [str(relayed.id), str(sent.id)]
    by_id = {dict(r.headers)["ce_id"].decode(): r for r in records}
    from_relay, from_harness = by_id[str(relayed.id)], by_id[str(sent.id)]
    trace = {"traceparent", "tracestate"}
    assert {k for k, _ in from_harness.headers} == {k for k, _ in from_relay.headers} - trace
    assert [(k, v) for k, v in from_harness.headers if k != "ce_id"] == \
           [(k, v) for k, v in from_relay.headers if k not in trace | {"ce_id"}]
    assert from_harness.key == from_relay.key == b"cmp-h"
