"""The idempotent consumer runner shared by every service.

One loop per consumer group:

1. fetch a batch; decode and validate every record (invalid ones are dead-lettered);
2. apply the valid events in ONE database transaction: each event id is claimed in the
   ``inbox`` table (a duplicate is a no-op) and its handler runs in a savepoint;
3. publish dead letters to ``<topic>.dlq`` with the reason and original coordinates;
4. only then commit the Kafka offsets explicitly, ``{partition: last offset + 1}``.

A crash anywhere before step 4 redelivers the batch, and the inbox absorbs what step 2
already committed. Transient failures (connection loss, serialization conflicts) are
retried with backoff; a handler that keeps failing on one event has that event
dead-lettered so its partition keeps moving.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from . import inbox, registry, tracing
from .envelope import Envelope
from .registry import DLQ_SUFFIX, InvalidEvent
from .telemetry import (
    CONSUMER_LAG,
    EVENTS_APPLIED,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    LAST_EVENT_TIME,
)

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class Unprocessable(Exception):
    """Raised by a handler for an event it can never apply; the event is dead-lettered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BatchAbandoned(Exception):
    """The runner stopped while a batch was failing; its offsets were not committed."""


class _IsolationNeeded(Exception):
    """A handler refused an event in a batch applied without savepoints."""


@dataclass
class DeadLetter:
    record: ConsumerRecord
    reason: str


@dataclass
class _Batch:
    records: list[ConsumerRecord]
    events: list[tuple[ConsumerRecord, Envelope]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


class ConsumerRunner:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        consumer_factory: Callable[..., AIOKafkaConsumer],
        producer: AIOKafkaProducer,
        group_id: str,
        handlers: Mapping[str, Handler],
        topic_prefix: str = "",
        max_records: int = 500,
        max_attempts: int = 5,
        retry_backoff: float = 0.2,
    ) -> None:
        self._pool = pool
        self._consumer_factory = consumer_factory
        self._producer = producer
        self.group_id = group_id
        self._handlers = dict(handlers)
        self._prefix = topic_prefix
        self._max_records = max_records
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._topic_types = {registry.spec_for(t).topic(topic_prefix): t for t in self._handlers}
        self.consumer: AIOKafkaConsumer | None = None
        self.last_event_time: dict[str, datetime] = {}
        self.lag: dict[tuple[str, int], int] = {}

    @property
    def topics(self) -> list[str]:
        return sorted(self._topic_types)

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer = self._consumer_factory(self.group_id, *self.topics)
        await self.consumer.start()
        try:
            while not stop.is_set():
                fetched = await self.consumer.getmany(timeout_ms=500, max_records=self._max_records)
                records = [r for tp in sorted(fetched, key=lambda t: (t.topic, t.partition)) for r in fetched[tp]]
                if records:
                    await self.process(records, stop)
                await self._record_lag()
        except BatchAbandoned as exc:
            log.info("consumer %s: %s", self.group_id, exc)
        finally:
            await self.consumer.stop()

    async def process(self, records: list[ConsumerRecord], stop: asyncio.Event | None = None) -> None:
        """Apply one fetched batch, dead-letter the rest, then commit offsets."""
        batch = self._decode(records)
        await self._apply_with_retries(batch, stop)
        await self._send_dead_letters(batch.dead)
        await self.commit(records)

    async def commit(self, records: list[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
        assert self.consumer is not None
        await self.consumer.commit(offsets)

    # -- steps ------------------------------------------------------------------------

    def _decode(self, records: list[ConsumerRecord]) -> _Batch:
        batch = _Batch(records)
        for record in records:
            try:
                event = registry.decode(record.value, dict(record.headers or ()),
                                        expected_type=self._topic_types.get(record.topic, "?"))
            except InvalidEvent as exc:
                batch.dead.append(DeadLetter(record, str(exc)))
                continue
            batch.events.append((record, event))
        return batch

    async def _apply_with_retries(self, batch: _Batch, stop: asyncio.Event | None) -> None:
        if not batch.events:
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                batch_dead = await self._apply(batch.events)
                batch.dead.extend(batch_dead)
                return
            except TRANSIENT_ERRORS as exc:
                # Infrastructure trouble: never dead-letter for it, keep retrying.
                log.warning("transient failure applying batch (attempt %d): %s", attempt, exc)
            except Exception as exc:
                log.warning("batch failed (attempt %d/%d): %r", attempt, self._max_attempts, exc)
                if attempt >= self._max_attempts:
                    break
            await self._backoff_unless_stopping(attempt, stop)
        # One event is failing the whole batch: apply them one by one to isolate it.
        for item in batch.events:
            batch.dead.extend(await self._apply_single(item, stop))

    async def _apply_single(self, item: tuple[ConsumerRecord, Envelope],
                            stop: asyncio.Event | None) -> list[DeadLetter]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._apply([item])
            except TRANSIENT_ERRORS as exc:
                log.warning("transient failure applying %s (attempt %d): %s", item[1].id, attempt, exc)
            except Exception as exc:
                if attempt >= self._max_attempts:
                    log.error("dead-lettering %s after %d attempts: %r", item[1].id, attempt, exc)
                    await self._claim_as_dead(item)
                    return [DeadLetter(item[0], f"handler failed after {attempt} attempts: {exc!r}")]
            await self._backoff_unless_stopping(attempt, stop)

    async def _apply(self, items: list[tuple[ConsumerRecord, Envelope]]) -> list[DeadLetter]:
        """One transaction for the batch. Handlers run without savepoints (a round trip each)
        unless one refuses an event: then the batch is redone with a savepoint per event."""
        try:
            dead, applied = await self._apply_in_transaction(items, isolate=False)
        except _IsolationNeeded:
            dead, applied = await self._apply_in_transaction(items, isolate=True)
        for event in applied:
            EVENTS_APPLIED.labels(self.group_id, event.type).inc()
            topic = registry.spec_for(event.type).topic(self._prefix)
            if event.time > self.last_event_time.get(topic, datetime.min.replace(tzinfo=UTC)):
                self.last_event_time[topic] = event.time
                LAST_EVENT_TIME.labels(self.group_id, topic).set(event.time.timestamp())
        return dead

    async def _apply_in_transaction(
        self, items: list[tuple[ConsumerRecord, Envelope]], *, isolate: bool
    ) -> tuple[list[DeadLetter], list[Envelope]]:
        dead: list[DeadLetter] = []
        applied: list[Envelope] = []
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await inbox.claim_batch(conn, self.group_id, items)
            for record, event in items:
                headers = tracing.headers_from_record(record.headers)
                with tracing.consume_span(record.topic, record.partition, record.offset, headers):
                    if event.id not in claimed:
                        EVENTS_DUPLICATE.labels(self.group_id, event.type).inc()
                        continue
                    claimed.discard(event.id)  # a second copy in the same batch is a duplicate
                    try:
                        with tracing.handle_span(event.type, str(event.id)):
                            if isolate:
                                async with conn.transaction():
                                    await self._handlers[event.type](conn, event)
                            else:
                                await self._handlers[event.type](conn, event)
                    except (Unprocessable, asyncpg.DataError) as exc:
                        if not isolate:
                            raise _IsolationNeeded from exc
                        # A value the database can never store is as final as a refusal.
                        reason = exc.reason if isinstance(exc, Unprocessable) else f"database refused a value: {exc}"
                        await inbox.mark_dead_lettered(conn, self.group_id, event)
                        dead.append(DeadLetter(record, reason))
                        continue
                    applied.append(event)
        return dead, applied

    async def _claim_as_dead(self, item: tuple[ConsumerRecord, Envelope]) -> None:
        record, event = item
        async with self._pool.acquire() as conn:
            await inbox.claim(conn, self.group_id, event, record, status="dead_lettered")

    async def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        deliveries = []
        for letter in dead:
            r = letter.record
            headers = list(r.headers or ()) + [
                ("dlq.reason", letter.reason.encode()),
                ("dlq.original.topic", r.topic.encode()),
                ("dlq.original.partition", str(r.partition).encode()),
                ("dlq.original.offset", str(r.offset).encode()),
                ("dlq.consumer.group", self.group_id.encode()),
                ("dlq.failed.at", datetime.now(UTC).isoformat().encode()),
            ]
            log.warning("dead-lettering %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
            deliveries.append(await self._producer.send(r.topic + DLQ_SUFFIX, value=r.value, key=r.key,
                                                        headers=headers))
            EVENTS_DEAD_LETTERED.labels(self.group_id, r.topic).inc()
        if deliveries:
            await asyncio.gather(*deliveries)

    async def _record_lag(self) -> None:
        if self.consumer is None:
            return
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            lag = max(highwater - await self.consumer.position(tp), 0)
            self.lag[(tp.topic, tp.partition)] = lag
            CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(lag)

    async def _backoff_unless_stopping(self, attempt: int, stop: asyncio.Event | None) -> None:
        if stop is not None and stop.is_set():
            # Shutting down: leave the batch uncommitted; the next owner of the partition gets it.
            raise BatchAbandoned("stopping with an unapplied batch; it will be redelivered")
        await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return min(self._retry_backoff * 2 ** (attempt - 1), 10.0) * (0.5 + random.random() / 2)
