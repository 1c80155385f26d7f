"""Idempotent consumption: claim an event id in the transaction that applies it."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka.structs import ConsumerRecord

from .envelope import Envelope


async def claim(conn: asyncpg.Connection, group: str, event: Envelope, record: ConsumerRecord,
                status: str = "processed") -> bool:
    """True when this group has not seen the event id before (the caller applies it)."""
    claimed = await conn.fetchval(
        """
        INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset, status)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (consumer_group, event_id) DO NOTHING
        RETURNING true
        """,
        group, event.id, event.type, record.topic, record.partition, record.offset, status,
    )
    return bool(claimed)


async def claim_batch(conn: asyncpg.Connection, group: str,
                      items: list[tuple[ConsumerRecord, Envelope]]) -> set[uuid.UUID]:
    """Claim a batch in one statement; returns the event ids this group had not seen."""
    rows = await conn.fetch(
        """
        INSERT INTO inbox (consumer_group, event_id, event_type, topic, kafka_partition, kafka_offset)
        SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::integer[], $6::bigint[])
        ON CONFLICT (consumer_group, event_id) DO NOTHING
        RETURNING event_id
        """,
        group,
        [e.id for _, e in items], [e.type for _, e in items], [r.topic for r, _ in items],
        [r.partition for r, _ in items], [r.offset for r, _ in items],
    )
    return {row["event_id"] for row in rows}


async def mark_dead_lettered(conn: asyncpg.Connection, group: str, event: Envelope) -> None:
    await conn.execute(
        "UPDATE inbox SET status = 'dead_lettered' WHERE consumer_group = $1 AND event_id = $2",
        group, event.id,
    )
