"""A set-based handler gets a fetched batch in one call, and a refused event is still
isolated and dead-lettered alone (real PostgreSQL and Kafka, the runner in-process)."""

from __future__ import annotations

import asyncio

import asyncpg

from marops_events import kafka
from marops_events.consumer import BatchHandler, ConsumerRunner, Unprocessable
from marops_events.envelope import Envelope
from marops_service import db
from marops_testkit.kafka import read_topic, wait_for

from .test_delivery import EFFECTS_SQL, SPEND_TOPIC, effects, produce, spend


async def test_a_batch_handler_applies_a_batch_at_once_and_isolates_a_refusal(
        pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    await db.apply_migrations(pg_dsn, db.library_migrations())
    await kafka.ensure_topics(kafka_bootstrap, kafka.all_topics(topic_prefix), partitions=1)
    good = [spend() for _ in range(6)]
    refused = spend(campaign="unprocessable-1")
    values = [e.to_json() for e in good[:3]] + [refused.to_json(), good[0].to_json()] + \
             [e.to_json() for e in good[3:]]
    topic = topic_prefix + SPEND_TOPIC
    await produce(kafka_bootstrap, topic, values)

    calls: list[int] = []

    async def apply(conn: asyncpg.Connection, events: list[Envelope]) -> None:
        calls.append(len(events))
        if any(e.data.campaign_id.startswith("unprocessable") for e in events):
            raise Unprocessable("campaign marked unprocessable by the test")
        await conn.executemany("INSERT INTO effects (event_id, subject) VALUES ($1, $2)",
                               [(e.id, e.subject) for e in events])

    pool = await db.create_pool(pg_dsn)
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    stop = asyncio.Event()
    try:
        async with pool.acquire() as conn:
            await conn.execute(EFFECTS_SQL)
        runner = ConsumerRunner(pool=pool, producer=producer, group_id=topic_prefix + "batch",
                                consumer_factory=lambda g, *t: kafka.consumer(kafka_bootstrap, g, *t),
                                handlers={"SpendRecorded": BatchHandler(apply)}, topic_prefix=topic_prefix)
        task = asyncio.create_task(runner.run(stop))
        dead = await read_topic(kafka_bootstrap, topic + ".dlq", count=1, timeout=30)

        async def all_applied() -> bool:
            return len(await effects(pg_dsn)) == len(good)

        await wait_for(all_applied, timeout=30)
        stop.set()
        await asyncio.wait_for(task, 30)
    finally:
        stop.set()
        await producer.stop()
        await pool.close()

    assert await effects(pg_dsn) == {e.id: 1 for e in good}  # each once, the duplicate absorbed
    assert dict(dead[0].headers)["dlq.reason"].decode() == "campaign marked unprocessable by the test"
    assert max(calls) > 1  # whole batches reached the handler in one call
    assert 1 in calls  # and the refusal was isolated event by event
