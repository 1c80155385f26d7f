"""Transactional outbox: ``add`` inside the caller's transaction, ``OutboxRelay`` publishes.

The relay publishes unpublished rows in id order with an idempotent producer (acks=all)
and marks them published afterwards. A crash between the two republishes the rows,
which consumers absorb through their inbox: at-least-once, never lost. Exactly one relay
per database is active, guarded by a session-level advisory lock; others stand by, so
rows of one campaign are never reordered by two relays racing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from . import registry, tracing
from .envelope import Envelope
from .registry import CONTENT_TYPE
from .telemetry import OUTBOX_PENDING, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "marops_outbox"
RELAY_LOCK_KEY = 0x6D61726F7073  # "marops"; one lock per database, so a constant suffices


def record_headers(event_type: str, event_id: str, trace: Mapping[str, str] | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers of an event's record (AsyncAPI document: the message headers)."""
    headers = {"content-type": CONTENT_TYPE, "ce_type": event_type, "ce_id": event_id, **(trace or {})}
    return [(k, v.encode()) for k, v in headers.items()]


async def add(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    """Append an event to the outbox in the caller's open transaction."""
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.add must run inside the transaction that changes state")
    # One round trip: the row and the relay's wake-up (a data-modifying WITH always runs).
    # The notification is delivered at commit, so the relay wakes only for committed rows.
    await conn.execute(
        """
        WITH added AS (
            INSERT INTO outbox (event_id, event_type, partition_key, payload, trace_headers)
            VALUES ($1, $2, $3, $4, $5::text::jsonb)
            ON CONFLICT (event_id) DO NOTHING
        )
        SELECT pg_notify($6, '')
        """,
        event.id,
        event.type,
        registry.partition_key(event),
        event.to_json().decode(),
        json.dumps(tracing.capture()),
        NOTIFY_CHANNEL,
    )


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        producer_factory: Callable[[], AIOKafkaProducer],
        *,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention_hours: int = 168,
        name: str = "outbox",
    ) -> None:
        self._dsn = dsn
        self._producer_factory = producer_factory
        self._prefix = topic_prefix
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention_hours = retention_hours
        self._name = name
        self._wakeup = asyncio.Event()
        self.active = False

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; reconnects and retries on failure."""
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._run_once(stop)
                backoff = 0.5
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError) as exc:
                log.warning("outbox relay error, retrying in %.1fs: %s", backoff, exc)
                await _sleep_unless(stop, backoff)
                backoff = min(backoff * 2, 15.0)
            except Exception:
                log.exception("outbox relay failed, retrying")
                await _sleep_unless(stop, backoff)
                backoff = min(backoff * 2, 15.0)

    async def _run_once(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self._dsn)
        producer = None
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                if await _sleep_unless(stop, self._poll_interval):
                    return
            self.active = True
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            producer = self._producer_factory()
            await producer.start()
            cleaned = 0.0
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                # Cleared before the rows are read: a row committed after this read wakes the
                # wait below (its notification comes after its commit), so a batch smaller
                # than a full one needs no second read to know the outbox was drained.
                self._wakeup.clear()
                published = await self.publish_batch(conn, producer)
                if published >= self._batch_size:
                    continue
                if loop.time() - cleaned > 3600:
                    await self._clean(conn)
                    cleaned = loop.time()
                waiter = asyncio.ensure_future(self._wakeup.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=self._poll_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
        finally:
            self.active = False
            if producer is not None:
                await producer.stop()
            await conn.close(timeout=5)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        rows = await conn.fetch(
            """
            SELECT id, event_id, event_type, partition_key, payload, trace_headers::text AS trace_headers
            FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1
            """,
            self._batch_size,
        )
        OUTBOX_PENDING.labels(self._name).set(len(rows))
        if not rows:
            return 0
        deliveries = []
        for row in rows:
            topic = registry.spec_for(row["event_type"]).topic(self._prefix)
            parent = json.loads(row["trace_headers"])
            with tracing.publish_span(topic, row["event_type"], parent):
                # send() only enqueues; the idempotent producer keeps per-partition order.
                deliveries.append(await producer.send(
                    topic,
                    value=row["payload"].encode(),
                    key=row["partition_key"].encode(),
                    headers=record_headers(row["event_type"], str(row["event_id"]), tracing.capture()),
                ))
        await asyncio.gather(*deliveries)
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows],
        )
        OUTBOX_PUBLISHED.labels(self._name).inc(len(rows))
        return len(rows)

    async def _clean(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => $1)",
            self._retention_hours,
        )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when stopped meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
        return True
    except TimeoutError:
        return False
