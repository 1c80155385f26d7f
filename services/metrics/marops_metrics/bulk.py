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

The rows travel in PostgreSQL's COPY text format, written where the events are decoded
(``copy_text``): a large replay's worker processes send back one ``bytes`` per table
instead of row tuples, which cost almost as much to pickle and unpickle as to decode,
and the loading process only passes the bytes on. Each value is written as the text of
what asyncpg's binary encoding would send for it, so the stored rows are the same.

Nothing here derives: the rebuild derives every campaign once after the merge.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord

from marops_events import registry
from marops_events.consumer import decode_records
from marops_events.envelope import Envelope
from marops_service.db import RawJson

from . import projection
from .outcome_facts import InTwoHalves
from .projection import EVENT_LOG_COLUMNS, REBUILD_SCHEMA, WRITERS, Writer, by_type, event_log_rows

STAGING_SCHEMA = "readmodel_staging"
# Sorting a whole table's facts by natural key and time: let it sort in memory.
MERGE_WORK_MEM = "256MB"


def _staged() -> list[tuple[tuple[type, ...], Writer]]:
    return [(types, writer) for types, writer in WRITERS if isinstance(writer, Writer)]


# --- COPY text format ------------------------------------------------------------------


def _text(value: str) -> str:
    # The COPY text format's escapes (a backslash, and the row and column separators).
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return value


def _timestamp(value: dt.datetime) -> str:
    # As asyncpg sends a timestamptz: the instant in UTC (a naive one read in local time),
    # and its infinities.
    if value.tzinfo is None and value in (dt.datetime.max, dt.datetime.min):
        return "infinity" if value == dt.datetime.max else "-infinity"
    return value.astimezone(dt.UTC).isoformat()


def _date(value: dt.date) -> str:
    if value in (dt.date.max, dt.date.min):  # asyncpg's infinities of a date
        return "infinity" if value == dt.date.max else "-infinity"
    return value.isoformat()


_FORMATS: dict[type, Callable[[Any], str]] = {
    str: _text,
    RawJson: lambda v: _text(str.__str__(v)),
    bool: lambda v: "t" if v else "f",
    int: str,
    float: repr,  # the shortest text that reads back as the same double
    Decimal: str,
    uuid.UUID: str,
    dt.datetime: _timestamp,
    dt.date: _date,
    type(None): lambda _: "\\N",
}


def _field(value: Any) -> str:
    format_ = _FORMATS.get(type(value))
    if format_ is None:
        if isinstance(value, str):  # a str subclass: its characters, as asyncpg sends them
            return _text(str.__str__(value))
        # Refused like a value the database refuses: the rebuild replays the slow way.
        raise ValueError(f"no COPY text format for a {type(value).__name__}")
    return format_(value)


def copy_text(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """``rows`` in COPY's text format (``copy_to_table(..., format="text")``)."""
    lines = ["\t".join([_field(v) for v in row]) for row in rows]
    return ("\n".join(lines) + "\n").encode() if lines else b""


# --- decoded batches ------------------------------------------------------------------


# What decoding needs of a fetched record (topic, value, headers): a ``ConsumerRecord``
# costs ten times as much to pickle across to a worker process.
Fetched = tuple[str, bytes | None, Any]


def fetched(records: Sequence[ConsumerRecord]) -> list[Fetched]:
    return [(r.topic, r.value, r.headers) for r in records]


@dataclass
class Rows:
    """A batch of records decoded into what the bulk load writes (``rows_of``), as COPY
    text: picklable, and cheap to send back from a worker process."""

    events: int = 0  # records that decoded into events
    event_log: bytes = b""
    staged: dict[str, bytes] = field(default_factory=dict)  # staging table -> its inputs
    others: list[int] = field(default_factory=list)  # records of the other writers' events, by index
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (index, reason): skipped
    # The rows of the writers in two halves (``outcome_facts.InTwoHalves``), by their place in ``WRITERS``.
    halves: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)


_TOPIC_TYPES: dict[str, dict[str, str]] = {}


def rows_of(batch: Sequence[Fetched], group_id: str, prefix: str) -> Rows:
    """Decode a batch (``fetched``) as the live consumer does and turn it into bulk-load
    rows (in a worker process: nothing here touches a connection)."""
    topic_types = _TOPIC_TYPES.get(prefix)
    if topic_types is None:
        topic_types = _TOPIC_TYPES[prefix] = registry.topic_types(prefix)
    records = [ConsumerRecord(topic, -1, i, -1, -1, None, value, None, -1, -1, headers)
               for i, (topic, value, headers) in enumerate(batch)]
    decoded, invalid = decode_records(records, group_id=group_id, topic_types=topic_types)
    out = Rows(events=len(decoded), invalid=[(r.offset, reason) for r, reason in invalid])
    out.event_log, out.staged, others = _encoded([e for _, e in decoded])
    others = _halved(others, out.halves)
    positions = {id(e): r.offset for r, e in decoded}
    out.others = sorted({positions[id(e)] for e in others})
    return out


def _halved(events: Sequence[Envelope], halves: dict[int, list[tuple[Any, ...]]]) -> list[Envelope]:
    """The rows of the writers in two halves into ``halves``; the events that other writers
    still need (a type may have writers of both kinds)."""
    grouped = by_type(events)
    needed: set[type] = set()
    for n, (types, writer) in enumerate(WRITERS):
        if isinstance(writer, Writer):
            continue
        mine = [e for t in types for e in grouped.get(t, ())]
        if not mine:
            continue
        if isinstance(writer, InTwoHalves):
            halves[n] = writer.rows(mine)
        else:
            needed.update(types)
    return [e for e in events if type(e.data) in needed]


def _encoded(events: Sequence[Envelope]) -> tuple[bytes, dict[str, bytes], list[Envelope]]:
    """The ``event_log`` rows and the staged writers' inputs of ``events`` as COPY text, and
    the events of the other writers."""
    event_log = copy_text(event_log_rows(events, RawJson))
    staged: dict[str, bytes] = {}
    others: list[Envelope] = []
    grouped = by_type(events)
    for types, writer in WRITERS:
        mine = [e for t in types for e in grouped.get(t, ())]
        if not mine:
            continue
        if isinstance(writer, Writer):
            staged[writer.fact.table] = staged.get(writer.fact.table, b"") + copy_text(writer.row(e) for e in mine)
        else:
            others.extend(mine)
    return event_log, staged, others


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
        await self._copy(conn, rows.event_log, rows.staged, others, rows.halves)

    async def load(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        """One batch of decoded events, inside the caller's transaction."""
        if events:
            await self._copy(conn, *_encoded(events))

    async def _copy(self, conn: asyncpg.Connection, event_log: bytes, staged: dict[str, bytes],
                    others: Sequence[Envelope], halves: dict[int, list[tuple[Any, ...]]] | None = None) -> None:
        if event_log:
            # The payload's JSON text as the live path stores it (there through a text cast).
            await conn.copy_to_table("event_log", schema_name=REBUILD_SCHEMA, columns=list(EVENT_LOG_COLUMNS),
                                     source=memoryview(event_log), format="text")
        for _, staged_writer in _staged():
            data = staged.get(staged_writer.fact.table)
            if data:
                await conn.copy_to_table(staged_writer.fact.table, schema_name=STAGING_SCHEMA,
                                         columns=[c for c, _ in staged_writer.fact.inputs], source=memoryview(data),
                                         format="text")
        grouped = by_type(others)
        for n, (types, writer) in enumerate(WRITERS):
            if isinstance(writer, Writer):
                continue
            if halves is not None and isinstance(writer, InTwoHalves):
                if n in halves:
                    await writer.write(conn, projection.checked(REBUILD_SCHEMA), halves[n])
                continue
            mine = [e for t in types for e in grouped.get(t, ())]
            if mine:
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
