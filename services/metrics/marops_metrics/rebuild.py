"""Rebuild the read model from the topics: ``python -m marops_metrics.rebuild``.

A fresh schema (``readmodel_rebuild``, tables copied from the live ones) is filled by
replaying every topic from the beginning with a group-less consumer (manual partition
assignment), up to the high watermarks captured at the start. Then, holding the swap
lock exclusively (so the live consumer is between batches), it applies what arrived
meanwhile and swaps the schemas by renaming them, all in one transaction. The live
consumer's next batch lands in the new schema; events it applies again are absorbed,
because every projection write is idempotent.

One rebuild at a time (a session advisory lock); runs are recorded in ``rebuild_runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import multiprocessing
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from marops_events import kafka, registry
from marops_events.consumer import decode_records, group_id_for
from marops_events.envelope import Envelope
from marops_service import db, logs

from . import bulk, derive, projection, repository
from .handlers import CONSUMED_TYPES, SWAP_LOCK_KEY
from .projection import LIVE_SCHEMA, REBUILD_SCHEMA, RETIRED_SCHEMA
from .settings import MIGRATIONS_DIR, Settings

log = logging.getLogger(__name__)

REBUILD_LOCK_KEY = 0x7265627569  # "rebui"
STALL_SECONDS = 60.0  # no progress towards the watermarks for this long: give up


class RebuildRunning(Exception):
    """Another rebuild holds the lock."""


class RebuildInterrupted(Exception):
    """The service is stopping; the live read model was left untouched."""


class _BulkRefused(Exception):
    """The database refused a value during the bulk load (the cause says which)."""


MAX_LISTED_SKIPS = 10_000  # coordinates kept in the run record; the count is always exact
REPLAY_BATCH = 10_000  # records per replay transaction (the live consumer's batches are smaller)


@dataclass
class RebuildResult:
    run_id: uuid.UUID
    applied: int = 0
    skipped: int = 0
    high_watermarks: dict[str, int] = field(default_factory=dict)
    skipped_records: list[dict[str, Any]] = field(default_factory=list)
    campaigns_derived: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def skip(self, record: ConsumerRecord, reason: str) -> None:
        """Count a record the live consumer dead-letters too, and note where it is."""
        self.skipped += 1
        if len(self.skipped_records) < MAX_LISTED_SKIPS:
            self.skipped_records.append({"topic": record.topic, "partition": record.partition,
                                         "offset": record.offset, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": str(self.run_id), "status": "succeeded", "events_applied": self.applied,
                "records_skipped": self.skipped, "skipped_records": self.skipped_records,
                "campaigns_derived": self.campaigns_derived,
                "phase_seconds": {k: round(v, 3) for k, v in self.phase_seconds.items()},
                "partitions": len(self.high_watermarks),
                "high_watermarks_total": sum(self.high_watermarks.values())}


class Rebuild:
    """One rebuild run; it holds the rebuild lock from ``begin`` until ``execute`` returns."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, lock_conn: asyncpg.Connection,
                 run_id: uuid.UUID) -> None:
        self.settings = settings
        self.pool = pool
        self.run_id = run_id
        self._lock_conn = lock_conn
        self._result = RebuildResult(run_id)
        self._topic_types: dict[str, str] | None = None
        self._bulk: bulk.BulkLoad | None = None
        self._decoders: ProcessPoolExecutor | None = None

    @classmethod
    async def begin(cls, settings: Settings, pool: asyncpg.Pool, *, trigger: str,
                    requested_by: str | None = None) -> Rebuild:
        conn = await asyncpg.connect(settings.database_url)
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK_KEY):
                raise RebuildRunning("a rebuild of the read model is already running")
            run_id = uuid.uuid4()
            await repository.start_run(conn, run_id, trigger, requested_by)
        except BaseException:
            await conn.close()
            raise
        return cls(settings, pool, conn, run_id)

    async def execute(self, stop: asyncio.Event | None = None) -> RebuildResult:
        consumer: AIOKafkaConsumer | None = None
        error: str | None = None
        try:
            await self._prepare_schema()
            consumer = self._consumer()
            await consumer.start()
            partitions = await self._assign_all(consumer)
            end = await consumer.end_offsets(partitions)
            self._result.high_watermarks = {f"{tp.topic}:{tp.partition}": off for tp, off in sorted(end.items())}
            log.info("rebuild %s: replaying %d records from %d partitions", self.run_id, sum(end.values()),
                     len(partitions))
            phases = self._result.phase_seconds
            started = time.monotonic()
            try:
                await self._bulk_replay(consumer, end, stop)
            except _BulkRefused as exc:
                # A value the database refuses somewhere in the log: replay again the slow
                # way, which isolates and skips such events as the live consumer does.
                log.warning("rebuild %s: bulk load refused (%s); replaying batch by batch", self.run_id,
                            exc.__cause__)
                self._result = RebuildResult(self.run_id, high_watermarks=self._result.high_watermarks,
                                             phase_seconds=self._result.phase_seconds)
                await self._prepare_schema()
                await consumer.seek_to_beginning(*partitions)
                await self._replay(consumer, end, stop)
            phases["replay"] = time.monotonic() - started - phases.get("merge", 0.0)
            started = time.monotonic()
            await create_indexes(self.pool, derived=False)
            phases["index"] = time.monotonic() - started
            # Facts first, derived rows once at the end: each campaign is derived once, not
            # once per batch that touched it (the catch-up below derives what it touches).
            # The derived tables' own indexes are built over their rows afterwards.
            started = time.monotonic()
            self._result.campaigns_derived = await derive.refresh_all(self.pool, REBUILD_SCHEMA)
            await create_indexes(self.pool, derived=True)
            phases["derive"] = time.monotonic() - started
            started = time.monotonic()
            await self._catch_up_and_swap(consumer, partitions, stop)
            phases["catch_up_and_swap"] = time.monotonic() - started
            log.info("rebuild %s: swapped in (%d events applied, %d records skipped; %s)", self.run_id,
                     self._result.applied, self._result.skipped,
                     ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
            return self._result
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("rebuild %s failed: %s", self.run_id, error)
            raise
        finally:
            if consumer is not None:
                with suppress(Exception):
                    await consumer.stop()
            with suppress(Exception):
                await repository.finish_run(self._lock_conn, self.run_id, applied=self._result.applied,
                                            skipped=self._result.skipped,
                                            high_watermarks=self._result.high_watermarks,
                                            skipped_records=self._result.skipped_records, error=error)
            with suppress(Exception):
                await self._lock_conn.execute("SELECT pg_advisory_unlock($1)", REBUILD_LOCK_KEY)
            await self._lock_conn.close()

    # -- steps ------------------------------------------------------------------------

    async def _prepare_schema(self) -> None:
        await prepare_schema(self.pool, indexes=False)
        async with self.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {bulk.STAGING_SCHEMA} CASCADE")

    def _consumer(self) -> AIOKafkaConsumer:
        make = kafka.consumer_factory(self.settings.kafka_connection(),
                                      client_id=f"{self.settings.service_name}-rebuild")
        return make(None)  # no group: nothing committed, the live consumer group is untouched

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of every event topic that exists (the consumer's own metadata cache
        knows only topics it was asked about, so ask the cluster)."""
        admin = kafka.admin(self.settings.kafka_connection(), client_id=f"{self.settings.service_name}-rebuild")
        await admin.start()
        try:
            described = await admin.describe_topics(registry.topics(self.settings.topic_prefix, CONSUMED_TYPES))
        finally:
            await admin.close()
        partitions = sorted(
            (TopicPartition(t["topic"], p["partition"]) for t in described if t["error_code"] == 0
             for p in t["partitions"]),
            key=lambda tp: (tp.topic, tp.partition))
        consumer.assign(partitions)
        if partitions:
            await consumer.seek_to_beginning(*partitions)
        return partitions

    async def _bulk_replay(self, consumer: AIOKafkaConsumer, end: dict[TopicPartition, int],
                           stop: asyncio.Event | None) -> None:
        """Every record up to ``end`` through the bulk load (``bulk``), then its merge."""
        self._bulk = bulk.BulkLoad()
        async with self.pool.acquire() as conn:
            await self._bulk.prepare(conn)
        workers = self.settings.rebuild_decoders
        if workers > 0 and sum(end.values()) >= self.settings.rebuild_parallel_from:
            # Decoding (JSON, validation, rows) is most of the replay's CPU: worker processes
            # do it while this one fetches and COPYs.
            self._decoders = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            await self._replay(consumer, end, stop)
            started = time.monotonic()
            async with self.pool.acquire() as conn:
                await self._bulk.finish(conn)
            self._result.phase_seconds["merge"] = time.monotonic() - started
        except (asyncpg.DataError, ValueError, OverflowError) as exc:
            async with self.pool.acquire() as conn:
                await self._bulk.abandon(conn)
            raise _BulkRefused() from exc
        finally:
            self._bulk = None
            if self._decoders is not None:
                self._decoders.shutdown(wait=False, cancel_futures=True)
                self._decoders = None

    async def _replay(self, consumer: AIOKafkaConsumer, end: dict[TopicPartition, int],
                      stop: asyncio.Event | None, conn: asyncpg.Connection | None = None) -> None:
        """Apply records until every partition reached ``end``: a transaction per batch (COPYd
        during a bulk load), or all inside ``conn``'s open transaction when given."""
        pending = [tp for tp in end if await consumer.position(tp) < end[tp]]
        last_progress = time.monotonic()
        # Without ``conn``, a batch's statements run while the next batch is fetched and
        # decoded (the database works in its own process): one batch in flight at a time.
        in_flight: asyncio.Task[None] | None = None
        decoding: deque[tuple[list[ConsumerRecord], asyncio.Future[bulk.Rows]]] = deque()
        loop = asyncio.get_running_loop()
        try:
            while pending:
                if stop is not None and stop.is_set():
                    raise RebuildInterrupted("the service is stopping")
                fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=REPLAY_BATCH)
                records = [r for tp in sorted(fetched, key=lambda t: (t.topic, t.partition)) for r in fetched[tp]]
                if records and self._decoders is not None and conn is None:
                    last_progress = time.monotonic()
                    decoding.append((records, loop.run_in_executor(
                        self._decoders, bulk.rows_of, bulk.fetched(records), self._group_id(),
                        self.settings.topic_prefix)))
                    while len(decoding) > self.settings.rebuild_decoders:
                        await self._load_decoded(*decoding.popleft())
                elif records:
                    last_progress = time.monotonic()
                    items = self._decode(records)
                    if conn is None:
                        if in_flight is not None:
                            await in_flight
                        in_flight = asyncio.create_task(self._apply_in_own_transaction(items))
                    else:
                        await self._apply(conn, items, derive_touched=True)
                elif time.monotonic() - last_progress > STALL_SECONDS:
                    raise RuntimeError(f"no progress towards the high watermarks for {STALL_SECONDS:.0f}s")
                pending = [tp for tp in pending if await consumer.position(tp) < end[tp]]
            while decoding:
                await self._load_decoded(*decoding.popleft())
            if in_flight is not None:
                await in_flight
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await in_flight
            for _, future in decoding:
                future.cancel()

    def _group_id(self) -> str:
        return group_id_for(self.settings.service_name, self.settings.topic_prefix)

    async def _load_decoded(self, records: list[ConsumerRecord], decoded: asyncio.Future[bulk.Rows]) -> None:
        """Load a batch a worker decoded; the few events of writers that are not staged are
        decoded again here (their rows need the events themselves)."""
        assert self._bulk is not None
        rows = await decoded
        for i, reason in rows.invalid:
            self._result.skip(records[i], reason)
        others = [e for _, e in self._decode([records[i] for i in rows.others])] if rows.others else []
        async with self.pool.acquire() as own, own.transaction():
            await own.execute("SET LOCAL synchronous_commit = off")
            await self._bulk.load_rows(own, rows, others)
        self._result.applied += rows.events

    async def _apply_in_own_transaction(self, items: list[tuple[ConsumerRecord, Envelope]]) -> None:
        async with self.pool.acquire() as own:
            if self._bulk is None:
                await self._apply(own, items, derive_touched=False)
            elif items:
                async with own.transaction():
                    # Not waiting for each batch's WAL flush: the swap commits synchronously,
                    # which flushes everything written before it; a crash before the swap
                    # leaves the live read model as it was.
                    await own.execute("SET LOCAL synchronous_commit = off")
                    await self._bulk.load(own, [e for _, e in items])
                self._result.applied += len(items)

    def _decode(self, records: Sequence[ConsumerRecord]) -> list[tuple[ConsumerRecord, Envelope]]:
        """The live consumer's decoder, record for record: what it dead-letters is skipped, a
        dead letter re-driven for another consumer group is ignored as it ignores it."""
        prefix = self.settings.topic_prefix
        if self._topic_types is None:
            self._topic_types = registry.topic_types(prefix, CONSUMED_TYPES)
        events, invalid = decode_records(list(records), group_id=group_id_for(self.settings.service_name, prefix),
                                         topic_types=self._topic_types)
        for record, reason in invalid:
            self._result.skip(record, reason)
        return events

    async def _apply(self, conn: asyncpg.Connection, items: list[tuple[ConsumerRecord, Envelope]], *,
                     derive_touched: bool) -> None:
        """One transaction (a savepoint inside an open one) for the batch, set-based; when the
        database refuses a value, the batch is redone one event per savepoint and the refused
        ones are skipped, as the live consumer dead-letters them."""
        if not items:
            return
        try:
            async with conn.transaction():
                touched = await projection.apply_batch(conn, [e for _, e in items], REBUILD_SCHEMA)
                if derive_touched:
                    await derive.refresh(conn, REBUILD_SCHEMA, touched)
            self._result.applied += len(items)
            return
        except asyncpg.DataError:
            pass
        async with conn.transaction():
            for record, event in items:
                try:
                    async with conn.transaction():
                        touched = await projection.apply(conn, event, REBUILD_SCHEMA)
                        if derive_touched:
                            await derive.refresh(conn, REBUILD_SCHEMA, touched)
                except asyncpg.DataError as exc:
                    self._result.skip(record, f"database refused a value: {exc}")
                    continue
                self._result.applied += 1

    async def _catch_up_and_swap(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition],
                                 stop: asyncio.Event | None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # Waits for the live consumer's open batch; blocks its next one until commit.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SWAP_LOCK_KEY)
            # Everything the live read model holds is below these offsets now.
            if partitions:
                await self._replay(consumer, await consumer.end_offsets(partitions), stop, conn)
            await conn.execute(f"ALTER SCHEMA {LIVE_SCHEMA} RENAME TO {RETIRED_SCHEMA}")
            await conn.execute(f"ALTER SCHEMA {REBUILD_SCHEMA} RENAME TO {LIVE_SCHEMA}")
            await conn.execute(f"DROP SCHEMA {RETIRED_SCHEMA} CASCADE")
            await projection.bump_revision(conn, LIVE_SCHEMA)  # reports cached before the swap are stale


async def prepare_schema(pool: asyncpg.Pool, *, indexes: bool = True) -> None:
    """A fresh, empty copy of every live table (columns, constraints, index names). Without
    ``indexes``, only the keys (which the merges' ``ON CONFLICT`` needs): the other indexes
    are built once over the loaded rows by ``create_indexes``, cheaper than maintaining
    them row by row during the replay."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {REBUILD_SCHEMA} CASCADE")
        await conn.execute(f"DROP SCHEMA IF EXISTS {RETIRED_SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {REBUILD_SCHEMA}")
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
                                  LIVE_SCHEMA)
        for t in (r["tablename"] for r in tables):
            await conn.execute(f"CREATE TABLE {REBUILD_SCHEMA}.{t} "
                               f"(LIKE {LIVE_SCHEMA}.{t} INCLUDING ALL EXCLUDING INDEXES)")
        # Recreate keys and indexes under their own names, so later migrations can name them.
        constraints = await conn.fetch(
            """
            SELECT rel.relname AS tablename, con.conname, pg_get_constraintdef(con.oid) AS def
            FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
            JOIN pg_namespace ns ON ns.oid = rel.relnamespace
            WHERE ns.nspname = $1 AND con.contype IN ('p', 'u', 'x')
            ORDER BY rel.relname, con.conname
            """, LIVE_SCHEMA)
        for c in constraints:
            await conn.execute(f'ALTER TABLE {REBUILD_SCHEMA}.{c["tablename"]} '
                               f'ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
        # The triggers that keep the totals of the derived rows (migrations/010_summary_rows.sql).
        triggers = await conn.fetch(
            """
            SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t
            JOIN pg_class rel ON rel.oid = t.tgrelid JOIN pg_namespace ns ON ns.oid = rel.relnamespace
            WHERE ns.nspname = $1 AND NOT t.tgisinternal ORDER BY t.tgname
            """, LIVE_SCHEMA)
        for t in triggers:
            await conn.execute(t["def"].replace(f" ON {LIVE_SCHEMA}.", f" ON {REBUILD_SCHEMA}.", 1))
        if indexes:
            await _create_indexes(conn)


async def create_indexes(pool: asyncpg.Pool, *, derived: bool | None = None) -> None:
    """The live schema's other indexes, on the rebuild's tables (only those of the derived
    tables, or only the others, when ``derived`` says so), then their statistics."""
    async with pool.acquire() as conn, conn.transaction():
        # A sort per index over the whole table: let it sort in memory.
        await conn.execute("SELECT set_config('maintenance_work_mem', '256MB', true)")
        await _create_indexes(conn, derived)
        # Statistics of the loaded tables, so deriving plans for their sizes, not for empty ones.
        for t in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", REBUILD_SCHEMA):
            if derived is None or (t["tablename"] in derive.DERIVED_TABLES) == derived:
                await conn.execute(f"ANALYZE {REBUILD_SCHEMA}.{t['tablename']}")


async def _create_indexes(conn: asyncpg.Connection, derived: bool | None = None) -> None:
    indexes = await conn.fetch(
        """
        SELECT tablename, indexdef FROM pg_indexes i
        WHERE schemaname = $1 AND NOT EXISTS (
            SELECT 1 FROM pg_constraint con WHERE con.conname = i.indexname
              AND con.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1))
        ORDER BY indexname
        """, LIVE_SCHEMA)
    for i in indexes:
        if derived is None or (i["tablename"] in derive.DERIVED_TABLES) == derived:
            await conn.execute(i["indexdef"].replace(f" ON {LIVE_SCHEMA}.", f" ON {REBUILD_SCHEMA}.", 1))


# --- command line --------------------------------------------------------------------


async def run_cli(settings: Settings) -> int:
    await db.apply_migrations(settings.database_url,
                              [*db.library_migrations(), db.MigrationSet(settings.service_name, MIGRATIONS_DIR)])
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        try:
            run = await Rebuild.begin(settings, pool, trigger="cli", requested_by=_user())
        except RebuildRunning as exc:
            print(f"rebuild: {exc}", file=sys.stderr)
            return 2
        try:
            result = await run.execute(stop)
        except RebuildInterrupted:
            print("rebuild: interrupted; the live read model is unchanged", file=sys.stderr)
            return 130
        print(json.dumps(result.as_dict()))
        return 0
    finally:
        await pool.close()


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m marops_metrics.rebuild",
        description="Replay every topic from the beginning into a fresh read model and swap it in atomically. "
                    "Configured like the service (METRICS_DATABASE_URL, MAROPS_KAFKA_BOOTSTRAP_SERVERS, "
                    "MAROPS_TOPIC_PREFIX, ...).")
    parser.parse_args(argv)
    settings = Settings()
    logs.configure(settings.service_name, settings.log_level, settings.log_json)
    return asyncio.run(run_cli(settings))


if __name__ == "__main__":
    sys.exit(main())
