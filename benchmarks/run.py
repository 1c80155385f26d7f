"""``make bench``: throughput of the delivery plumbing on the native infrastructure.

Prints figures; asserts nothing. Each run uses a fresh database and its own topics.

- decode: registry.decode (JSON -> validated envelope), events/s, CPU only
- outbox relay: rows appended in one transaction -> published to Kafka and marked, events/s
- consumer: records on Kafka -> applied in batches with the inbox, events/s
- metrics at scale (metrics_scale.py): live projection and rebuild beside a bare aiokafka
  consumer, lag, rebuild RSS, query p95 — each with its target
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
import uuid
from decimal import Decimal

import asyncpg

from marops_events import contracts as c
from marops_events import kafka, outbox, registry
from marops_events.consumer import ConsumerRunner
from marops_events.outbox import OutboxRelay
from marops_service import db

N = int(os.environ.get("BENCH_EVENTS", "5000"))
PG = f"postgresql://marops@127.0.0.1:{os.environ.get('MAROPS_PG_PORT', '15432')}"
BOOTSTRAP = f"127.0.0.1:{os.environ.get('MAROPS_KAFKA_PORT', '19092')}"


def spend(i: int):
    return registry.new_event(c.SpendRecorded(
        campaign_id=f"c-{i % 50}", source_system="bench", source_reference=f"r-{i}",
        amount=c.Money(amount=Decimal("10.25"), currency="EUR"), incurred_on=dt.date(2026, 1, 1),
    ), source="marops/bench")


def report(name: str, count: int, seconds: float) -> None:
    print(f"{name:<28} {count:>7} events {seconds:>8.2f} s {count / seconds:>10.0f} events/s")


def bench_decode() -> None:
    payloads = [spend(i).to_json() for i in range(N)]
    started = time.perf_counter()
    for payload in payloads:
        registry.decode(payload)
    report("decode + validate", N, time.perf_counter() - started)


async def bench_outbox_and_consumer() -> None:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    prefix = f"{name}."
    admin = await asyncpg.connect(f"{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{PG}/{name}"
    try:
        await db.apply_migrations(dsn, db.library_migrations())
        await kafka.ensure_topics(BOOTSTRAP, kafka.all_topics(prefix), partitions=6)
        conn = await asyncpg.connect(dsn)
        async with conn.transaction():
            for i in range(N):
                await outbox.add(conn, spend(i))

        stop = asyncio.Event()
        relay = OutboxRelay(dsn, lambda: kafka.producer(BOOTSTRAP), topic_prefix=prefix, poll_interval=0.05)
        started = time.perf_counter()
        task = asyncio.create_task(relay.run(stop))
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            await asyncio.sleep(0.02)
        report("outbox relay -> kafka", N, time.perf_counter() - started)
        stop.set()
        await task

        await conn.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, amount numeric NOT NULL)")
        pool = await db.create_pool(dsn, max_size=4)
        producer = kafka.producer(BOOTSTRAP)
        await producer.start()

        async def apply(c_, event) -> None:
            await c_.execute("INSERT INTO effects VALUES ($1, $2)", event.id, event.data.amount.amount)

        runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(BOOTSTRAP, g, *t),
                                producer=producer, group_id=f"{prefix}bench", handlers={"SpendRecorded": apply},
                                topic_prefix=prefix)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        # Joining the group takes seconds and says nothing about throughput: start the clock
        # once partitions are assigned.
        while runner.consumer is None or not runner.consumer.assignment():
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while await conn.fetchval("SELECT count(*) FROM effects") < N:
            await asyncio.sleep(0.02)
        report("kafka -> consumer (inbox)", N, time.perf_counter() - started)
        stop.set()
        await task
        await producer.stop()
        await pool.close()
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    print(f"marops benchmarks ({N} events; python {sys.version.split()[0]}; {os.cpu_count()} cores)")
    bench_decode()
    asyncio.run(bench_outbox_and_consumer())
    import metrics_scale  # beside this file; BENCH_SCALE=small|full

    asyncio.run(metrics_scale.main())


if __name__ == "__main__":
    main()
