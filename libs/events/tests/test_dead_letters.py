"""Dead letters are durable and never stop a partition, against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from marops_events import kafka
from marops_events.consumer import TRUNCATED_VALUE_BYTES, ConsumerRunner, Unprocessable
from marops_service import db
from marops_testkit.kafka import read_topic, wait_for

from .test_delivery import SPEND_TOPIC, Proc, database, effects, produce, spend, topics  # noqa: F401


async def inbox_status(dsn: str, event_id) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT status FROM inbox WHERE event_id = $1", event_id)
    finally:
        await conn.close()


async def test_consumer_killed_while_isolating_a_poison_batch_loses_no_dead_letter(
    database: str, topics: str, kafka_bootstrap: str  # noqa: F811
) -> None:
    good, poison, later = spend(campaign="c-1"), spend(campaign="unprocessable-1"), spend(campaign="c-2")
    topic = topics + SPEND_TOPIC
    await produce(kafka_bootstrap, topic, [good.to_json(), poison.to_json(), later.to_json()])

    doomed = Proc("consumer", database, kafka_bootstrap, topics, topics + "g", "--hang-before-dead-letters")
    try:
        await doomed.expect("isolated")  # the batch's transaction committed; no dead letter published yet
        doomed.kill()
    finally:
        doomed.stop()
    assert await effects(database) == {good.id: 1, later.id: 1}
    assert await inbox_status(database, poison.id) is None  # not "seen": redelivery must refuse it again

    survivor = Proc("consumer", database, kafka_bootstrap, topics, topics + "g")
    try:
        [dead] = await read_topic(kafka_bootstrap, topic + ".dlq", count=1, timeout=40)

        async def recorded() -> bool:
            return await inbox_status(database, poison.id) == "dead_lettered"

        await wait_for(recorded, timeout=30)
    finally:
        survivor.stop()
    assert json.loads(dead.value)["id"] == str(poison.id)
    assert dict(dead.headers)["dlq.reason"] == b"campaign marked unprocessable by the test"
    assert await effects(database) == {good.id: 1, later.id: 1}


async def run_consumer(dsn: str, bootstrap: str, prefix: str, handler, *, producer_options: dict | None = None,
                       **runner_options):
    pool = await db.create_pool(dsn)
    producer = kafka.producer(bootstrap, **(producer_options or {}))
    await producer.start()
    runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(bootstrap, g, *t),
                            producer=producer, group_id=prefix + "g", handlers={"SpendRecorded": handler},
                            topic_prefix=prefix, retry_backoff=0.01, **runner_options)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))

    async def close() -> None:
        stop.set()
        await task
        await producer.stop()
        await pool.close()

    return runner, close


async def record(conn, event) -> None:
    if event.data.campaign_id == "unprocessable":
        raise Unprocessable("refused by the test")
    await conn.execute("INSERT INTO effects (event_id, subject) VALUES ($1, $2)", event.id, event.subject)


async def test_a_dead_letter_too_large_for_the_producer_is_stored_truncated_with_its_coordinates(
    database: str, topics: str, kafka_bootstrap: str  # noqa: F811
) -> None:
    topic = topics + SPEND_TOPIC
    huge = b'{"type": "SpendRecorded", "padding": "' + b"x" * 700_000 + b'"}'
    good = spend()
    await produce(kafka_bootstrap, topic, [huge, good.to_json()])
    # The producer dead letters go through refuses anything above 200 kB.
    runner, close = await run_consumer(database, kafka_bootstrap, topics, record,
                                       producer_options={"max_request_size": 200_000})
    try:
        [dead] = await read_topic(kafka_bootstrap, topic + ".dlq", count=1, timeout=30)

        async def applied() -> bool:
            return len(await effects(database)) == 1

        await wait_for(applied, timeout=30)
    finally:
        await close()
    headers = dict(dead.headers)
    assert headers["dlq.truncated"] == b"true"
    assert int(headers["dlq.original.size"]) == len(huge)
    assert headers["dlq.original.topic"].decode() == topic
    assert int(headers["dlq.original.offset"]) == 0
    assert b"bytes; the limit is" in headers["dlq.reason"]
    assert dead.value == huge[:TRUNCATED_VALUE_BYTES]
    assert await effects(database) == {good.id: 1}


async def test_a_bug_raising_a_transient_looking_error_is_dead_lettered_not_retried_forever(
    database: str, topics: str, kafka_bootstrap: str  # noqa: F811
) -> None:
    buggy, fine = spend(campaign="buggy"), spend(campaign="fine")
    topic = topics + SPEND_TOPIC
    await produce(kafka_bootstrap, topic, [buggy.to_json(), fine.to_json()])

    async def handler(conn, event) -> None:
        if event.data.campaign_id == "buggy":
            raise FileNotFoundError("a handler bug, not the network")  # an OSError, like a lost connection
        await record(conn, event)

    _, close = await run_consumer(database, kafka_bootstrap, topics, handler, max_attempts=2)
    try:
        [dead] = await read_topic(kafka_bootstrap, topic + ".dlq", count=1, timeout=60)

        async def applied() -> bool:
            return len(await effects(database)) == 1

        await wait_for(applied, timeout=30)
    finally:
        await close()
    assert json.loads(dead.value)["id"] == str(buggy.id)
    assert b"FileNotFoundError" in dict(dead.headers)["dlq.reason"]
    assert await effects(database) == {fine.id: 1}
