"""`marops dlq`: list a service's dead letters, show one, replay it after the fix; the
replayed event is applied exactly once. Real Kafka and PostgreSQL, a real consumer runner."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from decimal import Decimal

import asyncpg
import pytest

from marops_events import contracts as c
from marops_events import kafka
from marops_events.consumer import ConsumerRunner, Unprocessable, group_id_for
from marops_events.registry import CONTENT_TYPE, new_event
from marops_import.cli import main
from marops_service import db
from marops_testkit.kafka import read_topic, wait_for

TOPIC = "marops.spend-recorded.v1"


def spend(campaign: str):
    return new_event(c.SpendRecorded(campaign_id=campaign, source_system="erp", source_reference=uuid.uuid4().hex,
                                     amount=c.Money(amount=Decimal("5.00"), currency="EUR"),
                                     incurred_on=dt.date(2026, 5, 1)), source="erp/test")


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_dead_letter_is_listed_shown_and_replayed_once_after_the_fix(
    pg_dsn: str, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAROPS_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("MAROPS_TOPIC_PREFIX", topic_prefix)
    await db.apply_migrations(pg_dsn, db.library_migrations())
    await kafka.ensure_topics(kafka_bootstrap, kafka.all_topics(topic_prefix), partitions=2)
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute("CREATE TABLE effects (event_id uuid NOT NULL)")
    fixed = asyncio.Event()

    async def handler(conn, event) -> None:
        if event.data.campaign_id == "needs-a-fix" and not fixed.is_set():
            raise Unprocessable("budget line unknown (until finance creates it)")
        await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", event.id)

    pool = await db.create_pool(pg_dsn)
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    group = group_id_for("budget", topic_prefix)
    runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(kafka_bootstrap, g, *t),
                            producer=producer, group_id=group, handlers={"SpendRecorded": handler},
                            topic_prefix=topic_prefix)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.supervise(stop))

    async def publish(*events) -> None:
        for event in events:
            await producer.send_and_wait(topic_prefix + TOPIC, value=event.to_json(), key=b"one-partition",
                                         headers=[("content-type", CONTENT_TYPE.encode())])

    async def applied(event) -> int:
        return await conn.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event.id)

    try:
        poison, good = spend("needs-a-fix"), spend("fine")
        await publish(poison, good)
        await read_topic(kafka_bootstrap, topic_prefix + TOPIC + ".dlq", count=1, timeout=30)

        code, out, _ = await cli(capsys, "dlq", "list", "--service", "budget")
        assert code == 0
        [line] = out.splitlines()
        letter_id, origin, _, kind, reason = line.split("\t")
        assert letter_id.startswith(topic_prefix + TOPIC + ".dlq:")
        assert origin.startswith(topic_prefix + TOPIC + "[")
        assert (kind, reason) == ("refused", "budget line unknown (until finance creates it)")
        code, out, _ = await cli(capsys, "dlq", "list", "--service", "metrics")
        assert (code, out) == (0, "")  # another service's letters are not budget's

        code, out, _ = await cli(capsys, "dlq", "show", "--service", "budget", letter_id)
        assert code == 0
        assert "header dlq.reason: budget line unknown" in out
        assert json.loads(out.splitlines()[-1])["id"] == str(poison.id)

        fixed.set()  # finance created the line
        code, out, _ = await cli(capsys, "dlq", "replay", "--service", "budget", letter_id)
        assert code == 0, out
        assert f"{letter_id} replayed as {topic_prefix + TOPIC}:" in out

        async def poison_applied() -> bool:
            return await applied(poison) == 1

        await wait_for(poison_applied, timeout=30)
        status = await conn.fetchval("SELECT status FROM inbox WHERE event_id = $1", poison.id)
        assert status == "processed"

        # a second replay, and the original redelivered, change nothing
        code, _, _ = await cli(capsys, "dlq", "replay", "--service", "budget", letter_id)
        assert code == 0
        sentinel = spend("sentinel")
        await publish(sentinel)

        async def sentinel_applied() -> bool:
            return await applied(sentinel) == 1

        await wait_for(sentinel_applied, timeout=30)
        assert await applied(poison) == 1 and await applied(good) == 1

        code, _, err = await cli(capsys, "dlq", "replay", "--service", "budget", "no-such-topic.dlq:0:0")
        assert code == 2 and "no dead letter" in err
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()
        await conn.close()
