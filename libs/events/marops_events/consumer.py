"""The idempotent consumer runner shared by every service.

One loop per consumer group:

1. fetch a batch; decode and validate every record (invalid ones become dead letters;
   the decoder never raises anything else);
2. apply the valid events in ONE database transaction: each event id is claimed in the
   ``inbox`` table (a duplicate is a no-op) and its handler runs; when a handler refuses
   an event the batch is redone with a savepoint per event and the refused event's claim
   is withdrawn with its effects;
3. publish dead letters to ``<topic>.dlq`` with the reason and original coordinates and
   wait for the broker's acknowledgement (a copy too large for the producer is stored
   truncated, with a marker);
4. record the dead-lettered events in the inbox (status ``dead_lettered``);
5. only then commit the Kafka offsets explicitly, ``{partition: last offset + 1}``.

A crash anywhere before step 5 redelivers the batch: the inbox absorbs what step 2
already committed, and a refused event, having no inbox row until step 4, is refused
and dead-lettered again, so no dead letter is ever lost (at worst it is on the DLQ
twice). A ``dead_lettered`` inbox row does not count as processed: a re-driven copy of
the event (``marops dlq replay``) is claimed and applied once; a re-driven record whose
``dlq.replay.group`` header names another group is skipped.

Transient failures (connection loss, serialization conflicts) are retried with backoff
for as long as the database is unreachable; a "transient" error while the database
answers is a bug and counts like any other handler failure. A handler that keeps failing
on one event has that event dead-lettered so its partition keeps moving.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord

from . import inbox, registry, tracing
from .envelope import Envelope
from .registry import DLQ_SUFFIX, InvalidEvent
from .telemetry import (
    CONSUMER_LAG,
    CONSUMER_RESTARTS,
    CONSUMER_SECONDS_SINCE_BATCH,
    EVENTS_APPLIED,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    LAST_EVENT_TIME,
)

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]


class BatchHandler:
    """A handler that applies many events with a few statements (a set-based projection).

    The runner hands it every newly claimed event of a batch at once, in fetch order, in
    the batch's transaction. When an event is refused (``Unprocessable``, a value the
    database rejects), the batch is redone one event at a time, each in its savepoint,
    so only that event is dead-lettered: then it is called with one event per call.
    """

    def __init__(self, apply: Callable[[asyncpg.Connection, list[Envelope[Any]]], Awaitable[None]]) -> None:
        self.apply = apply

    async def __call__(self, conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await self.apply(conn, [event])

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


def group_id_for(service_name: str, topic_prefix: str = "") -> str:
    """The consumer group of a service (the DLQ tooling finds its letters by it)."""
    return f"{topic_prefix}marops-{service_name}"


# Serialization failures and deadlocks happen while the database answers; retried always.
CONFLICTS: tuple[type[BaseException], ...] = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


class Unprocessable(Exception):
    """Raised by a handler for an event it can never apply; the event is dead-lettered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BatchAbandoned(Exception):
    """The runner stopped while a batch was failing; its offsets were not committed."""


class _IsolationNeeded(Exception):
    """A handler refused an event in a batch applied without savepoints."""


# Records decoded between two chances for a batch being applied to send its next statement.
DECODE_SLICE = 100
# While a batch is applied, how long one look for the next batch's records waits (ms).
AHEAD_POLL_MS = 5
# A dead-letter copy whose value the producer refuses keeps this much of it.
TRUNCATED_VALUE_BYTES = 64 * 1024
TRUNCATED_KEY_BYTES = 1024
# Header a re-driven record carries: only that consumer group applies it.
REPLAY_GROUP_HEADER = "dlq.replay.group"


@dataclass
class DeadLetter:
    record: ConsumerRecord
    reason: str
    kind: str = "invalid"  # invalid | refused | database-refused | handler-failed
    event: Envelope[Any] | None = None  # set when the record decoded (its id goes to the inbox)


@dataclass
class ConsumerHealth:
    """What a consumer is doing, for /readyz and /status: never "caught up" unless consuming.

    ``state``: ``starting`` (joining its group), ``consuming`` (its loop runs and the last
    batch succeeded), ``retrying`` (a batch keeps failing on infrastructure; it is retried),
    ``restarting`` (the loop crashed and is being restarted), ``stopped``.
    """

    state: str = "starting"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    restarts: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_batch_at: datetime | None = None  # the end of the last fetch-and-process cycle that succeeded

    @property
    def consuming(self) -> bool:
        return self.state == "consuming"

    def enter(self, state: str) -> None:
        if state != self.state:
            self.state, self.since = state, datetime.now(UTC)

    def failed(self, state: str, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        self.last_error_at = datetime.now(UTC)
        self.enter(state)

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state, "since": self.since.isoformat(), "restarts": self.restarts,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "last_batch_at": self.last_batch_at.isoformat() if self.last_batch_at else None,
        }


@dataclass
class _Batch:
    records: list[ConsumerRecord]
    events: list[tuple[ConsumerRecord, Envelope[Any]]] = field(default_factory=list)
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
        inbox_retention_days: int | None = None,
        housekeeping_interval: float = 3600.0,
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
        self._inbox_retention_days = inbox_retention_days
        self._housekeeping_interval = housekeeping_interval
        self._cleaned_at: float | None = None
        self._topic_types = registry.topic_types(topic_prefix, self._handlers)
        self.consumer: AIOKafkaConsumer | None = None
        self.last_event_time: dict[str, datetime] = {}
        self.lag: dict[tuple[str, int], int] = {}
        self.health = ConsumerHealth()
        CONSUMER_SECONDS_SINCE_BATCH.labels(group_id).set_function(self._seconds_since_batch)

    @property
    def topics(self) -> list[str]:
        return sorted(self._topic_types)

    async def supervise(self, stop: asyncio.Event, restart_delay: float = 2.0) -> None:
        """Run until ``stop``, restarting the loop after a crash (broker restarts, rebalances).
        The crash is not hidden: health says ``restarting``, with the error and the count."""
        while not stop.is_set():
            try:
                await self.run(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("consumer %s crashed; restarting", self.group_id)
                self.health.restarts += 1
                self.health.failed("restarting", exc)
                CONSUMER_RESTARTS.labels(self.group_id).inc()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=restart_delay)
        self.health.enter("stopped")

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer = self._consumer_factory(self.group_id, *self.topics)
        self.lag.clear()  # what a dead loop measured is no longer true
        # While a batch is applied (the database works in its own process), the next one is
        # fetched and decoded, a slice at a time so the applying batch keeps its statements
        # going. Batches are still applied and committed one after another, in fetch order:
        # a next batch fetched before a failure is dropped uncommitted and redelivered.
        # A batch's offsets are committed while the next batch is applied (its database
        # work is done; the offsets only say so to Kafka): commits still go one at a time,
        # in order, and a failed commit stops the loop before another one is sent.
        ahead: _Batch | None = None
        committing: asyncio.Future[None] | None = None
        try:
            await self.consumer.start()
            while not stop.is_set():
                batch = ahead if ahead is not None else await self._fetch(yielding=False)
                ahead = None
                if batch is not None:
                    applying = asyncio.ensure_future(self._settle(batch, stop))
                    try:
                        ahead = await self._fetch_while(applying)
                    finally:
                        await applying
                    if committing is not None:
                        await committing
                    committing = asyncio.ensure_future(self.commit(batch.records))
                await self._record_lag()
                self.health.last_batch_at = datetime.now(UTC)
                self.health.enter("consuming")
                await self._housekeeping()
        except BatchAbandoned as exc:
            log.info("consumer %s: %s", self.group_id, exc)
        finally:
            try:
                if committing is not None:
                    await committing
            finally:
                self.lag.clear()
                await self.consumer.stop()

    async def _fetch(self, *, yielding: bool, timeout_ms: int = 500, max_records: int | None = None) -> _Batch | None:
        """The next fetched batch, decoded (``yielding``: a slice of records at a time, letting
        other tasks run between slices); None when nothing arrived within ``timeout_ms``."""
        assert self.consumer is not None
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records or self._max_records)
        records = [r for tp in sorted(fetched, key=lambda t: (t.topic, t.partition)) for r in fetched[tp]]
        if not records:
            return None
        if not yielding:
            return self._decode(records)
        batch = _Batch(records)
        for i in range(0, len(records), DECODE_SLICE):
            part = self._decode(records[i:i + DECODE_SLICE])
            batch.events += part.events
            batch.dead += part.dead
            await asyncio.sleep(0)
        return batch

    async def _fetch_while(self, applying: asyncio.Future[None]) -> _Batch | None:
        """The next batch, gathered while ``applying`` runs: whatever the fetcher holds,
        again and again until the batch is applied (or the next one is full).

        Taking records as they arrive matters for latency, not only for throughput: the
        client sends no new fetch for a partition whose fetched records wait unconsumed,
        so records taken only once the batch is applied would leave everything that
        arrived meanwhile on the broker for another round trip (and another batch)."""
        batch = _Batch([])
        while len(batch.records) < self._max_records:
            part = await self._fetch(yielding=True, timeout_ms=0 if applying.done() else AHEAD_POLL_MS,
                                     max_records=self._max_records - len(batch.records))
            if part is not None:
                batch.records += part.records
                batch.events += part.events
                batch.dead += part.dead
            if applying.done():
                break
        return batch if batch.records else None

    async def process(self, records: list[ConsumerRecord], stop: asyncio.Event | None = None) -> None:
        """Apply one fetched batch, dead-letter the rest, then commit offsets."""
        await self._finish(self._decode(records), stop)

    async def _finish(self, batch: _Batch, stop: asyncio.Event | None = None) -> None:
        await self._settle(batch, stop)
        await self.commit(batch.records)

    async def _settle(self, batch: _Batch, stop: asyncio.Event | None = None) -> None:
        """Steps 2-4: everything before the batch's offsets may be committed."""
        await self._apply_with_retries(batch, stop)
        await self._send_dead_letters(batch.dead, stop)
        await self._record_dead_letters(batch.dead, stop)

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
        batch.events, invalid = decode_records(records, group_id=self.group_id, topic_types=self._topic_types)
        batch.dead = [DeadLetter(record, reason) for record, reason in invalid]
        return batch

    async def _apply_with_retries(self, batch: _Batch, stop: asyncio.Event | None) -> None:
        if not batch.events:
            return
        attempt = failures = 0
        while True:
            attempt += 1
            try:
                batch.dead.extend(await self._apply(batch.events))
                return
            except Exception as exc:
                error = exc
                if await self._is_transient(exc, attempt):
                    # Infrastructure trouble: never dead-letter for it, keep retrying.
                    log.warning("transient failure applying batch (attempt %d): %s", attempt, exc)
                else:
                    failures += 1
                    log.warning("batch failed (attempt %d/%d): %r", failures, self._max_attempts, exc)
                    if failures >= self._max_attempts:
                        break
            await self._backoff_unless_stopping(attempt, stop, error)
        # One event is failing the whole batch: apply them one by one to isolate it.
        for item in batch.events:
            batch.dead.extend(await self._apply_single(item, stop))

    async def _apply_single(self, item: tuple[ConsumerRecord, Envelope[Any]],
                            stop: asyncio.Event | None) -> list[DeadLetter]:
        attempt = failures = 0
        while True:
            attempt += 1
            try:
                return await self._apply([item])
            except Exception as exc:
                error = exc
                if await self._is_transient(exc, attempt):
                    log.warning("transient failure applying %s (attempt %d): %s", item[1].id, attempt, exc)
                else:
                    failures += 1
                    if failures >= self._max_attempts:
                        log.error("dead-lettering %s after %d attempts: %r", item[1].id, failures, exc)
                        reason = f"handler failed after {failures} attempts: {exc!r}"[:1000]
                        return [DeadLetter(item[0], reason, "handler-failed", item[1])]
            await self._backoff_unless_stopping(attempt, stop, error)

    async def _is_transient(self, exc: Exception, attempt: int) -> bool:
        """Infrastructure errors are retried without limit, but only while the database is
        really unreachable: the same error class with the database answering is a bug."""
        if not isinstance(exc, TRANSIENT_ERRORS):
            return False
        if attempt < self._max_attempts or isinstance(exc, CONFLICTS):
            return True  # a conflict with a concurrent transaction is never the event's fault
        try:
            async with self._pool.acquire(timeout=5) as conn:
                await conn.fetchval("SELECT 1", timeout=5)
        except Exception:
            return True
        return False

    async def _apply(self, items: list[tuple[ConsumerRecord, Envelope[Any]]]) -> list[DeadLetter]:
        """One transaction for the batch. Handlers run without savepoints (a round trip each)
        unless one refuses an event: then the batch is redone with a savepoint per event."""
        try:
            dead, applied = await self._apply_in_transaction(items, isolate=False)
        except _IsolationNeeded:
            dead, applied = await self._apply_in_transaction(items, isolate=True)
        latest: dict[str, tuple[int, datetime]] = {}  # per type: events applied, the newest time
        for event in applied:
            count, newest = latest.get(event.type, (0, event.time))
            latest[event.type] = (count + 1, max(newest, event.time))
        for event_type, (count, newest) in latest.items():
            EVENTS_APPLIED.labels(self.group_id, event_type).inc(count)
            topic = registry.spec_for(event_type).topic(self._prefix)
            if newest > self.last_event_time.get(topic, datetime.min.replace(tzinfo=UTC)):
                self.last_event_time[topic] = newest
                LAST_EVENT_TIME.labels(self.group_id, topic).set(newest.timestamp())
        return dead

    async def _apply_in_transaction(
        self, items: list[tuple[ConsumerRecord, Envelope[Any]]], *, isolate: bool
    ) -> tuple[list[DeadLetter], list[Envelope[Any]]]:
        dead: list[DeadLetter] = []
        applied: list[Envelope[Any]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await inbox.claim_batch(conn, self.group_id, items)
            batched: dict[int, tuple[BatchHandler, list[Envelope[Any]]]] = {}
            spans = tracing.recording()
            for record, event in items:
                handler = self._handlers[event.type]
                in_batch = handler if isinstance(handler, BatchHandler) and not isolate else None
                # Unrecorded, an event applied in a batch needs no trace context of its own.
                consumed: AbstractContextManager[object] = nullcontext() if in_batch is not None and not spans else (
                    tracing.consume_span(record.topic, record.partition, record.offset,
                                         tracing.headers_from_record(record.headers)))
                with consumed:
                    if event.id not in claimed:
                        EVENTS_DUPLICATE.labels(self.group_id, event.type).inc()
                        continue
                    claimed.discard(event.id)  # a second copy in the same batch is a duplicate
                    if in_batch is not None:
                        batched.setdefault(id(in_batch), (in_batch, []))[1].append(event)
                        applied.append(event)
                        continue
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
                        if isinstance(exc, Unprocessable):
                            reason, kind = exc.reason, "refused"
                        else:
                            reason, kind = f"database refused a value: {exc}", "database-refused"
                        # No inbox row until the DLQ has the copy (see the module docstring).
                        await inbox.withdraw(conn, self.group_id, event.id)
                        dead.append(DeadLetter(record, reason[:1000], kind, event))
                        continue
                    applied.append(event)
            for handler, events in batched.values():
                try:
                    with tracing.handle_span(f"batch of {len(events)}", str(events[0].id)):
                        await handler.apply(conn, events)
                except (Unprocessable, asyncpg.DataError) as exc:
                    raise _IsolationNeeded from exc
        return dead, applied

    async def _send_dead_letters(self, dead: list[DeadLetter], stop: asyncio.Event | None = None) -> None:
        """Publish every dead letter and wait for the broker to have it (acks=all)."""
        for letter in dead:
            r = letter.record
            log.warning("dead-lettering %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
            headers = self._dead_letter_headers(letter)
            await self._publish(r.topic + DLQ_SUFFIX, r.key, r.value, headers, stop)
            EVENTS_DEAD_LETTERED.labels(self.group_id, r.topic, letter.kind).inc()

    def _dead_letter_headers(self, letter: DeadLetter) -> list[tuple[str, bytes]]:
        r = letter.record
        kept = [(k, v if v is not None else b"") for k, v in (r.headers or ()) if not k.startswith("dlq.")]
        return kept + [
            ("dlq.reason", letter.reason.encode("utf-8", errors="backslashreplace")),
            ("dlq.reason.kind", letter.kind.encode()),
            ("dlq.original.topic", r.topic.encode()),
            ("dlq.original.partition", str(r.partition).encode()),
            ("dlq.original.offset", str(r.offset).encode()),
            ("dlq.consumer.group", self.group_id.encode()),
            ("dlq.failed.at", datetime.now(UTC).isoformat().encode()),
        ]

    async def _publish(self, topic: str, key: bytes | None, value: bytes | None,
                       headers: list[tuple[str, bytes]], stop: asyncio.Event | None) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    await (await self._producer.send(topic, value=value, key=key, headers=headers))
                except MessageSizeTooLargeError:
                    # Too large for the producer or the broker: keep the head of the value,
                    # the dlq.* headers (original coordinates) and a marker; never loop on it.
                    size = len(value or b"")
                    slim = [(k, v) for k, v in headers if k.startswith("dlq.")] + [
                        ("dlq.truncated", b"true"), ("dlq.original.size", str(size).encode())]
                    await (await self._producer.send(
                        topic, value=(value or b"")[:TRUNCATED_VALUE_BYTES],
                        key=None if key is None else key[:TRUNCATED_KEY_BYTES], headers=slim))
                return
            except KafkaError as exc:
                error = exc
                log.warning("dead letter to %s not published (attempt %d), retrying: %r", topic, attempt, exc)
            await self._backoff_unless_stopping(attempt, stop, error)

    async def _record_dead_letters(self, dead: list[DeadLetter], stop: asyncio.Event | None = None) -> None:
        items = [(letter.record, letter.event) for letter in dead if letter.event is not None]
        if not items:
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._pool.acquire() as conn:
                    await inbox.record_dead_letters(conn, self.group_id, items)
                return
            except TRANSIENT_ERRORS as exc:
                error = exc
                log.warning("dead letters not recorded in the inbox (attempt %d): %s", attempt, exc)
            await self._backoff_unless_stopping(attempt, stop, error)

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

    async def _housekeeping(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._inbox_retention_days is None or (
                self._cleaned_at is not None and now - self._cleaned_at < self._housekeeping_interval):
            return
        self._cleaned_at = now
        try:
            deleted = await self.clean_inbox()
        except Exception as exc:  # housekeeping never stops consumption; next round retries
            log.warning("inbox clean-up of %s failed: %r", self.group_id, exc)
            return
        if deleted:
            log.info("inbox clean-up of %s: %d rows past %d days", self.group_id, deleted,
                     self._inbox_retention_days)

    async def clean_inbox(self) -> int:
        """Delete inbox rows past the retention that Kafka will not redeliver: below the
        committed offsets of the partitions this consumer owns right now."""
        if self.consumer is None or self._inbox_retention_days is None:
            return 0
        committed: dict[tuple[str, int], int] = {}
        for tp in self.consumer.assignment():
            offset = await self.consumer.committed(tp)
            if offset is not None and offset > 0:
                committed[(tp.topic, tp.partition)] = offset
        async with self._pool.acquire() as conn:
            return await inbox.clean(conn, self.group_id, committed, self._inbox_retention_days)

    def _seconds_since_batch(self) -> float:
        last = self.health.last_batch_at
        return (datetime.now(UTC) - last).total_seconds() if last else float("nan")

    async def _backoff_unless_stopping(self, attempt: int, stop: asyncio.Event | None,
                                       error: BaseException | None = None) -> None:
        if error is not None:
            self.health.failed("retrying", error)
        if stop is not None and stop.is_set():
            # Shutting down: leave the batch uncommitted; the next owner of the partition gets it.
            raise BatchAbandoned("stopping with an unapplied batch; it will be redelivered")
        await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return min(self._retry_backoff * 2.0 ** (attempt - 1), 10.0) * (0.5 + random.random() / 2)


def decode_records(records: list[ConsumerRecord], *, group_id: str, topic_types: Mapping[str, str]
                   ) -> tuple[list[tuple[ConsumerRecord, Envelope[Any]]], list[tuple[ConsumerRecord, str]]]:
    """Decode fetched records as a consumer group does: (records that decoded, with their
    events; records that did not, with the reason a dead letter carries). A dead letter
    re-driven for another group is in neither. ``topic_types`` gives each topic's event
    type. Shared by the runner and by replays that must see the records exactly as it does
    (metrics' rebuild)."""
    events: list[tuple[ConsumerRecord, Envelope[Any]]] = []
    invalid: list[tuple[ConsumerRecord, str]] = []
    group = group_id.encode()
    for record in records:
        headers = _header_map(record.headers)
        replay_for = headers.get(REPLAY_GROUP_HEADER)
        if replay_for is not None and replay_for != group:
            continue  # a dead letter re-driven for another consumer group
        try:
            event = registry.decode(record.value, headers, expected_type=topic_types.get(record.topic, "?"))
        except Exception as exc:  # decode promises InvalidEvent; anything else is still the record's fault
            reason = str(exc) if isinstance(exc, InvalidEvent) else f"undecodable record: {exc!r}"
            invalid.append((record, reason[:1000]))
            continue
        events.append((record, event))
    return events, invalid


def _header_map(headers: object) -> dict[str, bytes | None]:
    try:
        mapped: dict[str, bytes | None] = dict(headers or ())  # type: ignore[call-overload]
        return mapped
    except (TypeError, ValueError):
        return {}
