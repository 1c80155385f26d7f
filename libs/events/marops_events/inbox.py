"""Idempotent consumption: claim an event id in the transaction that applies it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord

from .envelope import Envelope


async def claim_batch(conn: asyncpg.Connection, group: str,
                      items: list[tuple[ConsumerRecord, Envelope[Any]]]) -> set[uuid.UUID]:
    """Claim a batch in one statement; returns the event ids this group has to apply.

    An id seen before is not returned, unless its row says ``dead_lettered``: that event
    was never applied, so a re-driven copy takes the row over and is applied once."""
    first: dict[uuid.UUID, tuple[ConsumerRecord, Envelope[Any]]] = {}
    for record, event in items:
        first.setdefault(event.id, (record, event))  # ON CONFLICT DO UPDATE touches a row once
    unique = list(first.values())
    rows = await conn.fetch(
        """
        INSERT INTO inbox AS i (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset)
        SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::integer[], $6::bigint[])
        ON CONFLICT (consumer_group, event_id) DO UPDATE
            SET status = 'processed', topic = EXCLUDED.topic, kafka_partition = EXCLUDED.kafka_partition,
                kafka_offset = EXCLUDED.kafka_offset, processed_at = now()
            WHERE i.status = 'dead_lettered'
        RETURNING event_id
        """,
        group,
        [e.id for _, e in unique], [e.type for _, e in unique], [r.topic for r, _ in unique],
        [r.partition for r, _ in unique], [r.offset for r, _ in unique],
    )
    return {row["event_id"] for row in rows}


async def withdraw(conn: asyncpg.Connection, group: str, event_id: uuid.UUID) -> None:
    """Undo this transaction's claim of an event that is being dead-lettered instead."""
    await conn.execute("DELETE FROM inbox WHERE consumer_group = $1 AND event_id = $2", group, event_id)


async def record_dead_letters(conn: asyncpg.Connection, group: str,
                              items: list[tuple[ConsumerRecord, Envelope[Any]]]) -> None:
    """After the DLQ acknowledged them: remember which events were dead-lettered (not applied)."""
    await conn.execute(
        """
        INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset, status)
        SELECT $1, *, 'dead_lettered' FROM unnest($2::uuid[], $3::text[], $4::text[], $5::integer[], $6::bigint[])
        ON CONFLICT (consumer_group, event_id) DO NOTHING
        """,
        group,
        [e.id for _, e in items], [e.type for _, e in items], [r.topic for r, _ in items],
        [r.partition for r, _ in items], [r.offset for r, _ in items],
    )


async def clean(conn: asyncpg.Connection, group: str, committed: dict[tuple[str, int], int],
                older_than_days: int) -> int:
    """Delete this group's rows that can never be needed again: older than the retention
    AND below the group's committed offset of their partition, so Kafka will not redeliver
    them (a partition this process does not own is left to its owner). Returns the count."""
    if not committed:
        return 0
    keys = list(committed.items())
    status = await conn.execute(
        """
        DELETE FROM inbox AS i
        USING unnest($2::text[], $3::integer[], $4::bigint[]) AS c(topic, kafka_partition, committed_offset)
        WHERE i.consumer_group = $1 AND i.topic = c.topic AND i.kafka_partition = c.kafka_partition
          AND i.kafka_offset < c.committed_offset
          AND i.processed_at < now() - make_interval(days => $5)
        """,
        group, [t for (t, _), _ in keys], [p for (_, p), _ in keys], [o for _, o in keys], older_than_days,
    )
    return int(status.split()[-1])
