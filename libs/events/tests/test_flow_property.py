"""Property: no record stops the flow.

Arbitrary bytes and adversarial envelopes, interleaved with valid events, duplicates,
events the handler refuses and events of the wrong type for the topic, are published to
the real topics of one running consumer (real Kafka, real PostgreSQL). Whatever hypothesis
draws: every valid event is applied exactly once, every other record is on the DLQ once
with a reason and its original coordinates, the consumer never restarts, and its health
says "consuming" with no lag once it has caught up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marops_events import contracts as c
from marops_events import dlq, kafka, registry
from marops_events.consumer import ConsumerRunner, Unprocessable
from marops_events.registry import CONTENT_TYPE, InvalidEvent
from marops_service import db
from marops_testkit.kafka import wait_for

from .test_decode_hostile import adversarial_envelopes

T = TypeVar("T")
# The consumer's retry jitter draws from `random` in its own thread while hypothesis
# generates; that does not make the examples less reproducible (they are derandomized).
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
HANDLED = ("SpendRecorded", "CampaignCancelled")


def spend(campaign: str) -> registry.Envelope:
    return registry.new_event(c.SpendRecorded(
        campaign_id=campaign, source_system="erp", source_reference=uuid.uuid4().hex,
        amount=c.Money(amount=Decimal("7.50"), currency="EUR"), incurred_on=dt.date(2026, 5, 1)), source="erp/x")


def cancelled(campaign: str) -> registry.Envelope:
    return registry.new_event(c.CampaignCancelled(campaign_id=campaign, cancelled_by="ops"), source="marops/x")


valid = st.builds(lambda make, n: make(f"c-{n}"), st.sampled_from([spend, cancelled]), st.integers(0, 5))
refused = st.builds(lambda make, n: make(f"unprocessable-{n}"), st.sampled_from([spend, cancelled]), st.integers())
# A record: (event type whose topic it goes to, value, headers); None for "a duplicate of an earlier valid one".
records = st.one_of(
    st.tuples(st.sampled_from(HANDLED), valid.map(lambda e: e.to_json()), st.just([])),
    st.tuples(st.sampled_from(HANDLED), refused.map(lambda e: e.to_json()), st.just([])),
    st.tuples(st.sampled_from(HANDLED), st.binary(max_size=400) | adversarial_envelopes(), st.just([])),
    st.tuples(st.sampled_from(HANDLED), valid.map(lambda e: e.to_json()),   # a header that lies, or is junk
              st.lists(st.tuples(st.sampled_from(["ce_type", "traceparent", "x"]),
                                 st.sampled_from([b"BudgetReserved", b"\xff\xfe", b"", b"00-zz"])), max_size=2)),
    st.just(None),
)


class Loop:
    """An event loop in a thread: hypothesis drives a sync test; the consumer runs throughout."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Flow:
    def __init__(self, dsn: str, bootstrap: str, prefix: str) -> None:
        self.dsn, self.bootstrap, self.prefix = dsn, bootstrap, prefix
        self.stop = asyncio.Event()

    async def start(self) -> None:
        await db.apply_migrations(self.dsn, db.library_migrations())
        await kafka.ensure_topics(self.bootstrap, kafka.all_topics(self.prefix), partitions=2)
        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.execute("CREATE TABLE effects (event_id uuid NOT NULL)")
        self.pool = await db.create_pool(self.dsn)
        self.producer = kafka.producer(self.bootstrap)
        await self.producer.start()
        self.runner = ConsumerRunner(
            pool=self.pool, consumer_factory=lambda g, *t: kafka.consumer(self.bootstrap, g, *t),
            producer=self.producer, group_id=self.prefix + "flow", topic_prefix=self.prefix,
            handlers={t: self.handle for t in HANDLED}, max_records=50, max_attempts=2, retry_backoff=0.01)
        self.task = asyncio.create_task(self.runner.supervise(self.stop))
        self.applied: set[uuid.UUID] = set()  # what the oracle expects applied so far
        self.dead: set[tuple[str, int, int]] = set()  # (topic, partition, offset) expected on the DLQs
        self.valid_sent: list[tuple[str, bytes]] = []
        self.ends: dict[tuple[str, int], int] = {}  # per partition: the offset after the last record sent

    async def handle(self, conn: asyncpg.Connection, event: registry.Envelope) -> None:
        if event.data.campaign_id.startswith("unprocessable"):
            raise Unprocessable("refused by the test handler")
        await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", event.id)

    async def publish(self, drawn: list[tuple[str, bytes, list[tuple[str, bytes]]] | None]) -> None:
        for item in drawn:
            if item is None:
                if not self.valid_sent:
                    continue
                event_type, value = self.valid_sent[len(self.valid_sent) // 2]
                headers: list[tuple[str, bytes]] = []
            else:
                event_type, value, headers = item
            topic = registry.spec_for(event_type).topic(self.prefix)
            meta = await self.producer.send_and_wait(
                topic, value=value, key=b"k" if len(value) % 2 else None,
                headers=[("content-type", CONTENT_TYPE.encode()), *headers])
            self.ends[(topic, meta.partition)] = max(self.ends.get((topic, meta.partition), 0), meta.offset + 1)
            # The oracle: what the flow must have done with this record.
            try:
                event = registry.decode(value, dict(headers), expected_type=event_type)
            except InvalidEvent:
                self.dead.add((topic, meta.partition, meta.offset))
                continue
            if event.id in self.applied:
                continue  # a duplicate: absorbed by the inbox
            if event.data.campaign_id.startswith("unprocessable"):
                self.dead.add((topic, meta.partition, meta.offset))
                continue
            self.applied.add(event.id)
            self.valid_sent.append((event_type, value))

    async def settled(self) -> None:
        from aiokafka import TopicPartition

        async def everything_committed() -> bool:
            # Offsets are committed only after the batch's effects and dead letters are durable.
            consumer = self.runner.consumer
            assert consumer is not None
            for (topic, partition), end in self.ends.items():
                committed = await consumer.committed(TopicPartition(topic, partition))
                assert committed is not None and committed >= end, f"{topic}[{partition}] at {committed} of {end}"
            return True

        await wait_for(everything_committed, timeout=120)
        dlqs = [registry.spec_for(t).topic(self.prefix) + ".dlq" for t in HANDLED]
        self.letters = [letter.record for letter in await dlq.read_letters(self.bootstrap, dlqs, None)]

        async def caught_up() -> bool:
            assert self.runner.health.consuming and self.runner.lag and sum(self.runner.lag.values()) == 0
            return True

        await wait_for(caught_up, timeout=60)

    async def close(self) -> None:
        self.stop.set()
        await self.task
        await self.producer.stop()
        await self.pool.close()
        await self.conn.close()


@pytest.fixture
def flow(pg_dsn: str, kafka_bootstrap: str, topic_prefix: str):
    loop = Loop()
    running = Flow(pg_dsn, kafka_bootstrap, topic_prefix)
    loop.run(running.start())
    try:
        yield loop, running
    finally:
        loop.run(running.close())
        loop.close()


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(drawn=st.lists(records, min_size=1, max_size=25))
def test_no_record_stops_the_flow(flow: tuple[Loop, Flow], drawn: list) -> None:
    loop, running = flow
    loop.run(running.publish(drawn))
    loop.run(running.settled())

    counts = loop.run(running.conn.fetch("SELECT event_id, count(*) AS n FROM effects GROUP BY event_id"))
    assert {r["event_id"]: r["n"] for r in counts} == {event_id: 1 for event_id in running.applied}
    on_dlq = []
    for letter in running.letters:
        headers = dict(letter.headers)
        assert headers["dlq.reason"], "every dead letter says why"
        on_dlq.append((headers["dlq.original.topic"].decode(), int(headers["dlq.original.partition"]),
                       int(headers["dlq.original.offset"])))
    assert sorted(on_dlq) == sorted(running.dead)  # each invalid record once, none lost, nothing else
    health = running.runner.health
    assert health.restarts == 0 and health.state == "consuming", health.as_dict()
    assert json.dumps(health.as_dict())  # what /readyz and /status serve
