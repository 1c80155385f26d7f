"""asyncpg pool and the plain-SQL migrations runner.

Migrations are ``NNN_name.sql`` files applied in order, each in its own transaction,
and recorded in ``schema_migrations`` per component (the events library, the chassis,
the service). An applied file whose content changed is an error: write a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 0x6D6967726174  # "migrat"


@dataclass(frozen=True)
class MigrationSet:
    component: str
    directory: Path


class RawJson(str):
    """JSON text already written (an event's payload as it is stored): a ``json``/``jsonb``
    parameter or COPYd value of this type is sent as it is, not serialised again."""


def _encode_json(value: object) -> bytes:
    return value.encode() if isinstance(value, RawJson) else json.dumps(value).encode()


def _encode_jsonb(value: object) -> bytes:
    return JSONB_VERSION + (value.encode() if isinstance(value, RawJson) else json.dumps(value).encode())


def _decode_jsonb(data: bytes) -> object:
    return json.loads(data[1:])


# jsonb's binary form is a version byte and the JSON text; json's is the text itself.
JSONB_VERSION = b"\x01"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary, not text: asyncpg decodes a composite value (a table's row type, as in
    # ``ARRAY(SELECT t FROM t ...)``, several tables' rows in one round trip) only when
    # every column's codec is binary.
    await conn.set_type_codec("json", encoder=_encode_json, decoder=json.loads, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog",
                              format="binary")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released pool connection gets instead of asyncpg's reset query.

    asyncpg rolls back a transaction left open before calling this either way; its default
    reset then sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` -- one
    more round trip on every request. Pooled connections never take session state: locks are
    ``pg_advisory_xact_lock``, settings ``SET LOCAL``, both ended by COMMIT/ROLLBACK; the
    relay's session lock and LISTEN and the migrations' lock are on connections of their own.
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection,
                                     reset=_keep_session)


async def apply_migrations(dsn: str, sets: list[MigrationSet]) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run concurrently."""
    applied: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                component  text NOT NULL,
                version    text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        for mset in sets:
            done = {
                r["version"]: r["checksum"]
                for r in await conn.fetch("SELECT version, checksum FROM schema_migrations WHERE component = $1",
                                          mset.component)
            }
            for path in sorted(mset.directory.glob("*.sql")):
                sql = path.read_text()
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if path.stem in done:
                    if done[path.stem] != checksum:
                        raise RuntimeError(f"migration {mset.component}/{path.name} changed after it was applied")
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, checksum) VALUES ($1, $2, $3)",
                        mset.component, path.stem, checksum,
                    )
                applied.append(f"{mset.component}/{path.name}")
                log.info("applied migration %s/%s", mset.component, path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        await conn.close()
    return applied


async def pending_migrations(dsn: str, sets: list[MigrationSet]) -> list[str]:
    """The migrations not applied yet (``component/file``): a service told not to migrate
    checks this at start-up and refuses to run against an older schema."""
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = set()
        if exists:
            done = {(r["component"], r["version"])
                    for r in await conn.fetch("SELECT component, version FROM schema_migrations")}
    finally:
        await conn.close()
    return [f"{mset.component}/{path.name}" for mset in sets for path in sorted(mset.directory.glob("*.sql"))
            if (mset.component, path.stem) not in done]


def library_migrations() -> list[MigrationSet]:
    """The tables every service has: outbox, inbox, idempotency keys."""
    import marops_events

    return [
        MigrationSet("marops_events", Path(marops_events.__file__).parent / "migrations"),
        MigrationSet("marops_service", Path(__file__).parent / "migrations"),
    ]
