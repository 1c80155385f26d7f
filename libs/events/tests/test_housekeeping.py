"""Retention clean-ups delete only what can never be needed again."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from aiokafka import TopicPartition

from marops_events import kafka
from marops_events.consumer import ConsumerRunner
from marops_events.outbox import OutboxRelay
from marops_service import db
from marops_testkit.kafka import wait_for

from .test_delivery import SPEND_TOPIC, append, database, effects, produce, spend, topics  # noqa: F401


async def record(conn, event) -> None:
    await conn.execute("INSERT INTO effects (event_id, subject) VALUES ($1, $2)", event.id, event.subject)


async def test_inbox_rows_go_only_when_old_and_below_the_committed_offset(
    database: str, topics: str, kafka_bootstrap: str  # noqa: F811
) -> None:
    events = [spend(campaign=f"c-{i}") for i in range(4)]
    topic = topics + SPEND_TOPIC
    await produce(kafka_bootstrap, topic, [e.to_json() for e in events])
    pool = await db.create_pool(database)
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(kafka_bootstrap, g, *t),
                            producer=producer, group_id=topics + "g", handlers={"SpendRecorded": record},
                            topic_prefix=topics, inbox_retention_days=30, housekeeping_interval=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    conn = await asyncpg.connect(database)
    try:
        async def applied() -> bool:
            return len(await effects(database)) == 4

        await wait_for(applied, timeout=30)
        [partition] = {r["kafka_partition"] for r in await conn.fetch("SELECT kafka_partition FROM inbox")}

        async def committed() -> bool:
            return await runner.consumer.committed(TopicPartition(topic, partition)) == 4

        await wait_for(committed, timeout=30)
        # Three of the four are past the retention; one of those is at an offset the group
        # has not committed (as if its batch were still in flight): it must stay.
        old = [e.id for e in events[:3]]
        await conn.execute("UPDATE inbox SET processed_at = now() - interval '31 days' WHERE event_id = ANY($1)", old)
        in_flight = uuid.uuid4()
        await conn.execute(
            "INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset, "
            "processed_at) VALUES ($1, $2, 'SpendRecorded', $3, $4, 4, now() - interval '31 days')",
            topics + "g", in_flight, topic, partition)
        other_group = uuid.uuid4()
        await conn.execute(
            "INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset, "
            "processed_at) VALUES ('another-group', $1, 'SpendRecorded', $2, $3, 0, now() - interval '31 days')",
            other_group, topic, partition)

        assert await runner.clean_inbox() == 3
        left = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
        assert left == {events[3].id, in_flight, other_group}
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()
        await conn.close()


async def test_the_relay_deletes_published_outbox_rows_past_their_retention_only(
    database: str, topics: str, kafka_bootstrap: str  # noqa: F811
) -> None:
    published_long_ago, published_recently, unpublished = spend(), spend(), spend()
    await append(database, published_long_ago, published_recently, unpublished)
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("UPDATE outbox SET published_at = now() - interval '8 days' WHERE event_id = $1",
                           published_long_ago.id)
        await conn.execute("UPDATE outbox SET published_at = now() WHERE event_id = $1", published_recently.id)
        relay = OutboxRelay(database, lambda: kafka.producer(kafka_bootstrap), topic_prefix=topics,
                            retention_hours=168)
        await relay._clean(conn)
        left = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox")}
    finally:
        await conn.close()
    assert left == {published_recently.id, unpublished.id}
