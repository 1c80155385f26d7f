"""Events in and out of a service under test, the way the platform sends them.

``publish`` produces envelopes as another service's outbox relay does (the same topic,
key, value and headers: ``marops_events.outbox.record_headers``), so a consumer under
test sees exactly what production sends it. ``published`` reads back what a service
published for one subject, checking each record is keyed as the relay keys it.
``caught_up`` waits until a service's consumer group has committed everything on the
topics of the events it consumes. ``Recorder`` keeps, in the background, every record of
the topics a service publishes to and of the dead-letter topics of what it consumes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from marops_events.consumer import group_id_for
from marops_events.envelope import Envelope
from marops_events.outbox import record_headers
from marops_events.registry import DLQ_SUFFIX, partition_key, spec_for

from .kafka import wait_for


async def publish(producer: AIOKafkaProducer, topic_prefix: str, events: Iterable[Envelope[Any]]) -> None:
    """Produce ``events`` in order (each partition keeps it) and wait for every acknowledgement."""
    sent = [await producer.send(spec_for(e.type).topic(topic_prefix), value=e.to_json(),
                                key=partition_key(e).encode(), headers=record_headers(e.type, str(e.id)))
            for e in events]
    await asyncio.gather(*sent)


async def published(bootstrap: str, topic_prefix: str, event_type: str, subject: str, count: int, *,
                    timeout: float = 30.0) -> list[dict[str, Any]]:
    """The envelopes (JSON) of ``event_type`` published for ``subject``, oldest business time
    first, once at least ``count`` are on the topic (all of them: a test sees extras)."""
    topic = spec_for(event_type).topic(topic_prefix)
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        records = await read_to_end(bootstrap, topic)
        found[:] = []
        for record in records:
            envelope = json.loads(record.value)
            if envelope["subject"] == subject:
                assert record.key == subject.encode(), f"{event_type} for {subject} keyed {record.key!r}"
                headers = dict(record.headers or ())
                assert headers.get("ce_type") == event_type.encode(), f"{event_type} record headers {headers}"
                found.append(envelope)
        return len(found) >= count

    await wait_for(enough, timeout=timeout, message=f"{count} {event_type} for {subject} on {topic}")
    return sorted(found, key=lambda e: e["time"])


async def read_to_end(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every committed record of ``topic`` up to its current end (no consumer group)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
        return records
    finally:
        await consumer.stop()


async def caught_up(bootstrap: str, topic_prefix: str, service_name: str, event_types: Iterable[str], *,
                    timeout: float = 30.0) -> None:
    """Wait until ``service_name``'s consumer group has committed every record now on the
    topics of ``event_types`` (applied or dead-lettered: nothing of it is still to come)."""
    group = group_id_for(service_name, topic_prefix)
    topics = [spec_for(t).topic(topic_prefix) for t in event_types]
    # Subscribed without a group, the consumer is assigned every partition at start.
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[Any, int] = await consumer.end_offsets(list(consumer.assignment()))
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async def committed_all() -> bool:
            done = await admin.list_consumer_group_offsets(group)
            return all(end == 0 or (tp in done and done[tp].offset >= end) for tp, end in ends.items())

        await wait_for(committed_all, timeout=timeout, message=f"{group} commits up to {ends}")
    finally:
        await admin.close()


class Recorder:
    """Reads ``published`` event types' topics and the DLQs of ``consumed`` ones from the
    start, in the background, so a test can look at everything a service sent."""

    def __init__(self, bootstrap: str, topic_prefix: str, published: Iterable[str], consumed: Iterable[str]) -> None:
        self.prefix = topic_prefix
        self.topics = [spec_for(t).topic(topic_prefix) for t in published]
        self.topics += [spec_for(t).topic(topic_prefix) + DLQ_SUFFIX for t in consumed]
        self.records: list[ConsumerRecord] = []
        self._consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=bootstrap, group_id=None,
                                          enable_auto_commit=False, auto_offset_reset="earliest",
                                          isolation_level="read_committed", metadata_max_age_ms=1000)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                self.records.extend(records)

    def events(self, event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
        """The envelopes (JSON) of ``event_type`` recorded so far, for ``subject`` if given."""
        topic = spec_for(event_type).topic(self.prefix)
        found = [json.loads(r.value) for r in self.records if r.topic == topic]
        return [e for e in found if subject is None or e["subject"] == subject]

    def dead_letters(self, event_type: str) -> list[ConsumerRecord]:
        topic = spec_for(event_type).topic(self.prefix) + DLQ_SUFFIX
        return [r for r in self.records if r.topic == topic]

    async def wait(self, event_type: str, subject: str, count: int = 1,
                   timeout: float = 30.0) -> list[dict[str, Any]]:
        """At least ``count`` envelopes of ``event_type`` for ``subject`` (all of them)."""
        def enough() -> list[dict[str, Any]]:
            found = self.events(event_type, subject)
            assert len(found) >= count, f"{len(found)} {event_type} for {subject}"
            return found

        return await wait_for(enough, timeout=timeout, message=f"{count} {event_type} for {subject}")
