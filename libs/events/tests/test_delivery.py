"""At-least-once delivery with outbox and inbox, against real PostgreSQL and Kafka.

Relays and consumers that must die mid-flight run in their own processes (harness.py)
and are killed with SIGKILL at the exact point under test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from marops_events import contracts as c
from marops_events import kafka, outbox
from marops_events.consumer import ConsumerRunner
from marops_events.envelope import Envelope
from marops_events.registry import new_event
from marops_service import db
from marops_testkit.kafka import read_topic, wait_for

HARNESS = Path(__file__).with_name("harness.py")
EFFECTS_SQL = "CREATE TABLE IF NOT EXISTS effects (n bigserial PRIMARY KEY, event_id uuid NOT NULL, subject text NOT NULL)"
SPEND_TOPIC = "marops.spend-recorded.v1"


def spend(campaign: str = "c-1", ref: str | None = None) -> Envelope:
    return new_event(
        c.SpendRecorded(
            campaign_id=campaign, source_system="test", source_reference=ref or uuid.uuid4().hex,
            amount=c.Money(amount=Decimal("12.34"), currency="EUR"), incurred_on=dt.date(2026, 5, 1),
        ),
        source="marops/test",
    )


@pytest.fixture
async def database(pg_dsn: str) -> str:
    await db.apply_migrations(pg_dsn, db.library_migrations())
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(EFFECTS_SQL)
    finally:
        await conn.close()
    return pg_dsn


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> str:
    await kafka.ensure_topics(kafka_bootstrap, kafka.all_topics(topic_prefix), partitions=3)
    return topic_prefix


class Proc:
    """A harness process whose stdout lines can be awaited."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, str(HARNESS), *args], stdout=subprocess.PIPE,
                                  text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def expect(self, line: str, timeout: float = 30.0) -> None:
        async def read() -> None:
            while True:
                got = await asyncio.to_thread(self.p.stdout.readline)
                if not got:
                    raise AssertionError(f"harness exited (rc={self.p.poll()}) before printing {line!r}")
                if got.strip() == line:
                    return

        await asyncio.wait_for(read(), timeout)

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


async def append(dsn: str, *events: Envelope) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for event in events:
                await outbox.add(conn, event)
    finally:
        await conn.close()


async def effects(dsn: str) -> dict[uuid.UUID, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id, count(*) AS n FROM effects GROUP BY event_id")
        return {r["event_id"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def test_outbox_add_refuses_to_run_outside_a_transaction(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await outbox.add(conn, spend())
    finally:
        await conn.close()


async def test_rolled_back_event_is_never_published(database: str, topics: str, kafka_bootstrap: str) -> None:
    rolled_back, committed = spend(ref="rolled-back"), spend(ref="committed")
    conn = await asyncpg.connect(database)
    try:
        with pytest.raises(ZeroDivisionError):
            async with conn.transaction():
                await outbox.add(conn, rolled_back)
                1 / 0  # the state change fails after the event was appended
    finally:
        await conn.close()
    await append(database, committed)

    relay = Proc("relay", database, kafka_bootstrap, topics)
    conn = await asyncpg.connect(database)
    try:
        async def relay_done() -> bool:
            return await conn.fetchval("SELECT bool_and(published_at IS NOT NULL) FROM outbox") is True

        await wait_for(relay_done, timeout=30)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        records = await read_topic(kafka_bootstrap, topics + SPEND_TOPIC, count=2, timeout=3)
    finally:
        relay.stop()
        await conn.close()
    ids = [Envelope.model_validate_json(r.value).id for r in records]
    assert ids == [committed.id]


async def test_relay_killed_between_publish_and_mark_sent_takes_effect_once(
    database: str, topics: str, kafka_bootstrap: str
) -> None:
    events = [spend(campaign=f"c-{i % 3}") for i in range(5)]
    await append(database, *events)

    # Hold the rows so the relay publishes them but blocks marking them published.
    blocker = await asyncpg.connect(database)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("SELECT id FROM outbox FOR UPDATE")

    first = Proc("relay", database, kafka_bootstrap, topics)
    try:
        published = await read_topic(kafka_bootstrap, topics + SPEND_TOPIC, count=5, timeout=30)
        assert len(published) == 5
        first.kill()
        # PostgreSQL does not notice a dead client while its statement waits on a lock;
        # end that orphaned UPDATE as the server would once the connection is found dead.
        await blocker.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
    finally:
        first.stop()
        await tx.rollback()
        await blocker.close()

    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 5
    finally:
        await conn.close()

    second = Proc("relay", database, kafka_bootstrap, topics)
    consumer = Proc("consumer", database, kafka_bootstrap, topics, topics + "g")
    try:
        republished = await read_topic(kafka_bootstrap, topics + SPEND_TOPIC, count=10, timeout=30)
        assert len(republished) == 10  # every event is on the topic twice

        async def all_applied() -> bool:
            return len(await effects(database)) == 5

        await wait_for(all_applied, timeout=30)
    finally:
        second.stop()
        consumer.stop()
    assert await effects(database) == {e.id: 1 for e in events}


async def produce(bootstrap: str, topic: str, values: list[bytes], key: bytes = b"same-key") -> None:
    producer = kafka.producer(bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def test_duplicates_and_poison_messages(database: str, topics: str, kafka_bootstrap: str) -> None:
    a, b, unprocessable = spend(), spend(), spend(campaign="unprocessable-1")
    invalid = spend().to_dict()
    invalid["data"]["amount"]["currency"] = "euro"
    values = [
        a.to_json(), a.to_json(),                      # duplicate delivery
        b"\x00not json at all",                        # undecodable
        json.dumps(invalid).encode(),                  # fails its contract
        unprocessable.to_json(),                       # the handler refuses it
        b.to_json(), a.to_json(),                      # later messages, another duplicate
    ]
    topic = topics + SPEND_TOPIC
    await produce(kafka_bootstrap, topic, values)

    consumer = Proc("consumer", database, kafka_bootstrap, topics, topics + "g")
    try:
        dead = await read_topic(kafka_bootstrap, topic + ".dlq", count=3, timeout=30)

        async def both_applied() -> bool:
            return len(await effects(database)) == 2

        await wait_for(both_applied, timeout=30)
    finally:
        consumer.stop()

    assert await effects(database) == {a.id: 1, b.id: 1}
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in dead]
    assert "value is not JSON" in reasons[0]
    assert "SpendRecorded failed validation: data.amount.currency" in reasons[1]
    assert reasons[2] == "campaign marked unprocessable by the test"
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlq.original.topic"].decode() == topic
        assert int(headers["dlq.original.offset"]) >= 0
        assert headers["dlq.consumer.group"].decode() == topics + "g"


async def test_consumer_killed_between_db_commit_and_offset_commit(
    database: str, topics: str, kafka_bootstrap: str
) -> None:
    events = [spend(campaign=f"c-{i}") for i in range(4)]
    await produce(kafka_bootstrap, topics + SPEND_TOPIC, [e.to_json() for e in events])

    doomed = Proc("consumer", database, kafka_bootstrap, topics, topics + "g", "--hang-before-offset-commit")
    try:
        await doomed.expect("committed-db")
        doomed.kill()
    finally:
        doomed.stop()
    applied_before = await effects(database)
    assert applied_before  # the database transaction did commit

    survivor = Proc("consumer", database, kafka_bootstrap, topics, topics + "g")
    try:
        async def all_applied() -> bool:
            return len(await effects(database)) == 4

        await wait_for(all_applied, timeout=40)

        async def offsets_committed() -> bool:
            # The doomed process never committed, so these commits are the survivor's,
            # made after it re-read (and skipped) the already-applied events.
            return await committed_total(kafka_bootstrap, topics + "g") == 4

        await wait_for(offsets_committed, timeout=40)
    finally:
        survivor.stop()
    assert await effects(database) == {e.id: 1 for e in events}


async def committed_total(bootstrap: str, group: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
    finally:
        await admin.close()


async def test_transient_failures_are_retried_and_a_failing_handler_is_isolated(
    database: str, topics: str, kafka_bootstrap: str
) -> None:
    flaky, broken, fine = spend(campaign="flaky"), spend(campaign="broken"), spend(campaign="fine")
    topic = topics + SPEND_TOPIC
    await produce(kafka_bootstrap, topic, [flaky.to_json(), broken.to_json(), fine.to_json()])
    failures = {"flaky": 2}

    async def handler(conn, event) -> None:
        campaign = event.data.campaign_id
        if failures.get(campaign, 0) > 0:
            failures[campaign] -= 1
            raise ConnectionResetError("database connection dropped")  # transient: retried
        if campaign == "broken":
            raise KeyError("a bug in the handler")  # never succeeds: isolated, then dead-lettered
        await conn.execute("INSERT INTO effects (event_id, subject) VALUES ($1, $2)", event.id, event.subject)

    pool = await db.create_pool(database)
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(kafka_bootstrap, g, *t),
                            producer=producer, group_id=topics + "g", handlers={"SpendRecorded": handler},
                            topic_prefix=topics, max_attempts=2, retry_backoff=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        dead = await read_topic(kafka_bootstrap, topic + ".dlq", count=1, timeout=30)

        async def applied() -> bool:
            return len(await effects(database)) == 2

        await wait_for(applied, timeout=30)
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()
    assert await effects(database) == {flaky.id: 1, fine.id: 1}
    assert failures["flaky"] == 0
    assert len(dead) == 1
    assert json.loads(dead[0].value)["id"] == str(broken.id)
    assert dict(dead[0].headers)["dlq.reason"].decode().startswith("handler failed after 2 attempts: KeyError")


async def test_event_topics_keep_their_history_forever(kafka_bootstrap: str, topic_prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    topic = topic_prefix + SPEND_TOPIC
    await kafka.ensure_topics(kafka_bootstrap, [topic], partitions=1)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    configs = {name: value for name, value, *_ in response.resources[0][4]}
    assert configs["retention.ms"] == "-1"
    assert configs["cleanup.policy"] == "delete"


async def test_the_relay_is_woken_by_the_commit_not_by_its_poll(database: str, topics: str,
                                                                 kafka_bootstrap: str) -> None:
    # outbox.add appends the row and notifies the relay in one statement; a relay that would
    # otherwise look again only in an hour publishes the committed row at once.
    stop = asyncio.Event()
    relay = outbox.OutboxRelay(database, lambda: kafka.producer(kafka_bootstrap), topic_prefix=topics,
                               poll_interval=3600)
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(lambda: relay.active, timeout=30)
        await asyncio.sleep(0.5)  # past its first (empty) batch: now it waits for a notification
        event = spend(ref="woken")
        await append(database, event)
        [record] = await read_topic(kafka_bootstrap, topics + SPEND_TOPIC, count=1, timeout=30)
        assert json.loads(record.value)["id"] == str(event.id)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
