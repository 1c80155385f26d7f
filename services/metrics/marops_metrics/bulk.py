"""The rebuild's bulk load: a whole replay's facts COPYd, merged once at the end.

A rebuild fills an empty schema, so the per-batch upserts of the live path (an index
probe and a conflict check per row, for every batch) are not needed while it replays:

- every event's ``event_log`` row is COPYd straight into the rebuild's ``event_log``, whose
  primary key is dropped for the load; copies of one event id (redeliveries) are removed
  afterwards and the key put back under its own name;
- the inputs of every ``projection.Writer`` fact (briefs, decisions, launches, spends...)
  are COPYd into an unlogged staging table of the same columns, and merged into the fact
  table by one statement per table at the end: the earliest (business time, event id)
  copy per natural key (``DISTINCT ON`` in that order), through the very upsert of the
  live path (``EarliestWins.merge_staged``), so the rule is the same;
- the other writers (commitments, releases, reconciliations, outcome facts: few rows)
  are applied per batch exactly as the live path applies them.

Nothing here derives: the rebuild derives every campaign once after the merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord

from marops_events import registry
from marops_events.consumer import decode_records
from marops_events.envelope import Envelope
from marops_service.db import RawJson

from . import projection
from .projection import EVENT_LOG_COLUMNS, REBUILD_SCHEMA, WRITERS, Writer, by_type, event_log_rows

STAGING_SCHEMA = "readmodel_staging"
# Sorting a whole table's facts by natural key and time: let it sort in memory.
MERGE_WORK_MEM = "256MB"


def _staged() -> list[tuple[tuple[type, ...], Writer]]:
    return [(types, writer) for types, writer in WRITERS if isinstance(writer, Writer)]


@dataclass
class Rows:
    """A batch of records decoded into what the bulk load writes (``rows_of``): picklable,
    so a worker process can decode while this one loads."""

    events: int = 0  # records that decoded into events
    event_log: list[tuple[Any, ...]] = field(default_factory=list)
    staged: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # staging table -> inputs
    others: list[int] = field(default_factory=list)  # records of the other writers' events, by index
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (index, reason): skipped


_TOPIC_TYPES: dict[str, dict[str, str]] = {}


def rows_of(records: Sequence[ConsumerRecord], group_id: str, prefix: str) -> Rows:
    """Decode ``records`` as the live consumer does and turn them into bulk-load rows (in a
    worker process: nothing here touches a connection)."""
    topic_types = _TOPIC_TYPES.get(prefix)
    if topic_types is None:
        topic_types = _TOPIC_TYPES[prefix] = registry.topic_types(prefix)
    index = {id(r): i for i, r in enumerate(records)}
    decoded, invalid = decode_records(list(records), group_id=group_id, topic_types=topic_types)
    out = Rows(events=len(decoded), invalid=[(index[id(r)], reason) for r, reason in invalid])
    events = [e for _, e in decoded]
    out.event_log = event_log_rows(events, RawJson)
    grouped = by_type(events)
    positions = {id(e): index[id(r)] for r, e in decoded}
    for types, writer in WRITERS:
        mine = [e for t in types for e in grouped.get(t, ())]
        if not mine:
            continue
        if isinstance(writer, Writer):
            out.staged.setdefault(writer.fact.table, []).extend(writer.row(e) for e in mine)
        else:
            out.others.extend(positions[id(e)] for e in mine)
    out.others = sorted(set(out.others))
    return out


class BulkLoad:
    """One bulk load into ``readmodel_rebuild`` (empty, from ``rebuild.prepare_schema``)."""

    def __init__(self) -> None:
        self.event_log_key: tuple[str, str] | None = None  # (name, definition)

    async def prepare(self, conn: asyncpg.Connection) -> None:
        """Staging tables, and the rebuild's ``event_log`` without its primary key."""
        async with conn.transaction():
            await conn.execute(f"DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE")
            await conn.execute(f"CREATE SCHEMA {STAGING_SCHEMA}")
            for _, writer in _staged():
                await conn.execute(writer.fact.staging_table(STAGING_SCHEMA))
            key = await conn.fetchrow(
                """
                SELECT con.conname, pg_get_constraintdef(con.oid) AS def FROM pg_constraint con
                WHERE con.conrelid = $1::regclass AND con.contype = 'p'
                """, f"{REBUILD_SCHEMA}.event_log")
            if key is not None:
                self.event_log_key = (key["conname"], key["def"])
                await conn.execute(f'ALTER TABLE {REBUILD_SCHEMA}.event_log DROP CONSTRAINT "{key["conname"]}"')

    async def load_rows(self, conn: asyncpg.Connection, rows: Rows, others: Sequence[Envelope]) -> None:
        """A batch decoded by ``rows_of`` (``others``: the events of ``rows.others``, decoded
        again here), inside the caller's transaction."""
        if rows.event_log:
            await conn.copy_records_to_table("event_log", schema_name=REBUILD_SCHEMA,
                                             columns=list(EVENT_LOG_COLUMNS), records=rows.event_log)
        for _, staged_writer in _staged():
            staged = rows.staged.get(staged_writer.fact.table)
            if staged:
                await conn.copy_records_to_table(staged_writer.fact.table, schema_name=STAGING_SCHEMA,
                                                 columns=[c for c, _ in staged_writer.fact.inputs], records=staged)
        grouped = by_type(others)
        for types, writer in WRITERS:
            mine = [e for t in types for e in grouped.get(t, ())]
            if mine and not isinstance(writer, Writer):
                await writer(conn, projection.checked(REBUILD_SCHEMA), mine)

    async def load(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        """One batch of decoded events, inside the caller's transaction."""
        if not events:
            return
        # The payload's JSON text as the live path stores it (there through a text cast).
        await conn.copy_records_to_table("event_log", schema_name=REBUILD_SCHEMA, columns=list(EVENT_LOG_COLUMNS),
                                         records=event_log_rows(events, RawJson))
        grouped = by_type(events)
        for types, writer in WRITERS:
            mine = [e for t in types for e in grouped.get(t, ())]
            if not mine:
                continue
            if isinstance(writer, Writer):
                await conn.copy_records_to_table(
                    writer.fact.table, schema_name=STAGING_SCHEMA, columns=[c for c, _ in writer.fact.inputs],
                    records=[writer.row(e) for e in mine])
            else:
                await writer(conn, projection.checked(REBUILD_SCHEMA), mine)

    async def finish(self, conn: asyncpg.Connection) -> dict[str, Any]:
        """Merge the staged facts, de-duplicate ``event_log`` and give it its key back; drop
        the staging tables. Returns the rows merged per table."""
        merged: dict[str, Any] = {}
        async with conn.transaction():
            await conn.execute("SELECT set_config('work_mem', $1, true)", MERGE_WORK_MEM)
            for _, writer in _staged():
                status = await conn.execute(writer.fact.merge_staged(REBUILD_SCHEMA, STAGING_SCHEMA))
                merged[writer.fact.table] = int(status.split()[-1])
            # Redelivered records: one row per event id (the copies are the same event).
            await conn.execute(
                f"""
                DELETE FROM {REBUILD_SCHEMA}.event_log e WHERE e.ctid = ANY(ARRAY(
                    SELECT x.ctid FROM (
                        SELECT ctid, row_number() OVER (PARTITION BY event_id ORDER BY ctid) AS n
                        FROM {REBUILD_SCHEMA}.event_log) x
                    WHERE x.n > 1))
                """)
            if self.event_log_key is not None:
                name, definition = self.event_log_key
                await conn.execute(f'ALTER TABLE {REBUILD_SCHEMA}.event_log ADD CONSTRAINT "{name}" {definition}')
            await conn.execute(f"DROP SCHEMA {STAGING_SCHEMA} CASCADE")
        return merged

    async def abandon(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE")
