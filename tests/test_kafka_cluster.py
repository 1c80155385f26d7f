"""Three brokers (infra/kafka-cluster.sh), one killed with SIGKILL mid-flight under load:
nothing lost, nothing applied twice, with RF=3, acks=all and min.insync.replicas=2.

The bug report: topics were created with replication factor 1, so losing the one broker
holding a partition lost its events. Here the topics are created by `marops-topics` with
RF=3 and min.insync.replicas=2; the outbox relay (idempotent producer, acks=all) and a
consumer runner (inbox + effect in one transaction) keep going while events are being
written; the broker leading the most partitions is SIGKILLed halfway through. Every
event must be applied exactly once and be in the log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from contextlib import suppress
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from marops_events import contracts as c
from marops_events import kafka, outbox
from marops_events.consumer import ConsumerRunner
from marops_events.registry import new_event, spec_for
from marops_service import db

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "infra" / "kafka-cluster.sh"
EVENTS = 600
BATCH = 20
EFFECTS_SQL = "CREATE TABLE effects (n bigserial PRIMARY KEY, event_id uuid NOT NULL)"


def cluster(*args: str, timeout: float = 400) -> str:
    result = subprocess.run(["bash", str(CLUSTER), *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"infra/kafka-cluster.sh {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def bootstrap(infra) -> str:  # infra: the single broker's jars are resolved by then
    cluster("reset")
    try:
        cluster("start")
    except AssertionError as exc:
        pytest.fail(f"the three-broker cluster did not start: {exc}")
    try:
        yield cluster("bootstrap")
    finally:
        cluster("stop")


async def leaders(target: str, topic: str) -> Counter[int]:
    admin = kafka.admin(target)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return Counter(p["leader"] for p in described["partitions"])


async def topic_config(target: str, topic: str) -> tuple[int, str]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = kafka.admin(target)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}
    return len(described["partitions"][0]["replicas"]), configs["min.insync.replicas"]


def spend() -> c.SpendRecorded:
    return c.SpendRecorded(campaign_id=f"c-{uuid.uuid4().hex[:6]}", source_system="cluster-test",
                           source_reference=uuid.uuid4().hex, amount=c.Money(amount=Decimal("3.50"), currency="EUR"),
                           incurred_on=dt.date(2026, 5, 1))


async def test_a_broker_killed_mid_flight_loses_and_duplicates_nothing(bootstrap: str, pg_dsn: str,
                                                                       topic_prefix: str) -> None:
    topic = spec_for("SpendRecorded").topic(topic_prefix)
    created = subprocess.run(
        [str(Path(sys.executable).with_name("marops-topics")), "--partitions", "3", "--replication-factor", "3",
         "--min-insync-replicas", "2", "--topic-prefix", topic_prefix],
        env={**os.environ, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": bootstrap}, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    assert await topic_config(bootstrap, topic) == (3, "2")

    await db.apply_migrations(pg_dsn, db.library_migrations())
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(EFFECTS_SQL)
    finally:
        await conn.close()

    async def apply(conn: asyncpg.Connection, event) -> None:
        await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", event.id)

    stop = asyncio.Event()
    pool = await db.create_pool(pg_dsn)
    producer = kafka.producer(bootstrap, client_id="cluster-test-dlq")
    await producer.start()
    relay = OutboxRelayTask(pg_dsn, bootstrap, topic_prefix, stop)
    runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(bootstrap, g, *t),
                            producer=producer, group_id=f"{topic_prefix}cluster", handlers={"SpendRecorded": apply},
                            topic_prefix=topic_prefix)
    consuming = asyncio.create_task(supervised(runner, stop))
    written: list[uuid.UUID] = []
    killed: int | None = None
    try:
        for i in range(0, EVENTS, BATCH):
            events = [new_event(spend(), source="marops/cluster-test") for _ in range(BATCH)]
            conn = await asyncpg.connect(pg_dsn)
            try:
                async with conn.transaction():
                    for event in events:
                        await outbox.add(conn, event)
            finally:
                await conn.close()
            written += [e.id for e in events]
            if killed is None and i >= EVENTS // 2:
                # halfway, with events in flight: the broker leading the most partitions goes
                node, _ = (await leaders(bootstrap, topic)).most_common(1)[0]
                os.kill(int(cluster("pid", str(node))), signal.SIGKILL)
                killed = node
            await asyncio.sleep(0.05)
        assert killed is not None

        counts: dict[uuid.UUID, int] = {}
        for _ in range(600):  # up to 5 minutes on a loaded machine; done as soon as all are in
            counts = await effect_counts(pg_dsn)
            if len(counts) >= EVENTS:
                break
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await relay.stop()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(consuming, 60)
        await producer.stop()
        await pool.close()

    assert set(counts) == set(written), f"lost {len(set(written) - set(counts))} of {EVENTS} events"
    assert [n for n in counts.values() if n != 1] == [], "an event was applied more than once"
    in_log = await read_ids(bootstrap, topic)
    assert set(written) <= in_log, "an acknowledged event is missing from the log"
    remaining = await leaders(bootstrap, topic)
    assert killed not in remaining, "the killed broker still leads a partition"


class OutboxRelayTask:
    """The service's outbox relay, publishing to the cluster with an idempotent, acks=all producer."""

    def __init__(self, dsn: str, bootstrap: str, prefix: str, stop: asyncio.Event) -> None:
        self.relay = outbox.OutboxRelay(dsn, lambda: kafka.producer(bootstrap, client_id="cluster-test-relay"),
                                        topic_prefix=prefix, poll_interval=0.1, name="cluster-test")
        self.task = asyncio.create_task(self.relay.run(stop))

    async def stop(self) -> None:
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 60)


async def supervised(runner: ConsumerRunner, stop: asyncio.Event) -> None:
    """As the services run it: restarted after a failure (a coordinator that died)."""
    while not stop.is_set():
        try:
            await runner.run(stop)
        except Exception:
            await asyncio.sleep(1)


async def effect_counts(dsn: str) -> dict[uuid.UUID, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["event_id"]: r["n"] for r in await conn.fetch(
            "SELECT event_id, count(*) AS n FROM effects GROUP BY event_id")}
    finally:
        await conn.close()


async def read_ids(bootstrap: str, topic: str) -> set[uuid.UUID]:
    from marops_events.registry import decode

    consumer = kafka.consumer(bootstrap, None, topic)
    await consumer.start()
    ids: set[uuid.UUID] = set()
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            records = [r for rs in batch.values() for r in rs]
            if not records and ids:
                break
            ids |= {decode(r.value, dict(r.headers)).id for r in records}
    finally:
        await consumer.stop()
    return ids
