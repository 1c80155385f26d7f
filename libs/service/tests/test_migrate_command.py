"""`marops-migrate`: migrations as a release step, services that do not migrate, TLS to PostgreSQL.

The bug report: every replica of every service migrated its database at start-up, so a
rolling upgrade ran schema changes from whichever pod started first, while old pods
still served. Now a Job runs `marops-migrate <service>` and the pods start with
`<SERVICE>_MIGRATE_ON_START=false`; such a pod refuses a database that is behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from marops_intake.main import create_app
from marops_intake.settings import Settings as IntakeSettings
from marops_service import db
from marops_service.migrate_cli import service_migration_sets
from marops_testkit.apps import running, service_settings

MIGRATE = Path(sys.executable).with_name("marops-migrate")


def run_migrate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert MIGRATE.is_file(), f"{MIGRATE} is missing: `make install` installs the marops-migrate command"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MAROPS_DATABASE", "INTAKE_"))}
    return subprocess.run([str(MIGRATE), *args], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)


async def applied_rows(dsn: str) -> list[tuple[str, str, object]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT component, version, applied_at FROM schema_migrations ORDER BY 1, 2")
    finally:
        await conn.close()
    return [tuple(r) for r in rows]


async def test_a_service_told_not_to_migrate_refuses_an_unmigrated_database(
        pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    settings = service_settings(IntakeSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=topic_prefix, migrate_on_start=False)
    with pytest.raises(RuntimeError, match=r"not applied .*run `marops-migrate intake` first"):
        async with running(create_app(settings)):
            pass
    conn = await asyncpg.connect(pg_dsn)
    try:  # and it changed nothing
        assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await conn.close()


async def test_marops_migrate_applies_once_then_the_service_starts_without_migrating(
        pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    first = run_migrate("intake", INTAKE_DATABASE_URL=pg_dsn)
    assert first.returncode == 0, first.stderr
    assert "applied marops_events/" in first.stdout and "intake/001_campaigns.sql" in first.stdout
    assert await db.pending_migrations(pg_dsn, service_migration_sets("intake")) == []
    before = await applied_rows(pg_dsn)

    again = run_migrate("intake", INTAKE_DATABASE_URL=pg_dsn)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "marops-migrate: intake: up to date"

    settings = service_settings(IntakeSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=topic_prefix, migrate_on_start=False)
    async with running(create_app(settings)) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert await applied_rows(pg_dsn) == before


def test_marops_migrate_failure_is_one_clear_line_and_a_non_zero_exit() -> None:
    result = run_migrate("intake", INTAKE_DATABASE_URL="postgresql://marops@127.0.0.1:1/intake")
    assert result.returncode == 1
    assert result.stderr.startswith("marops-migrate: intake: "), result.stderr
    assert "Traceback" not in result.stderr
    unknown = run_migrate("billing")
    assert unknown.returncode == 2 and "invalid choice: 'billing'" in unknown.stderr


def test_database_tls_settings_go_into_the_url_every_connection_uses() -> None:
    settings = IntakeSettings(database_url="postgresql://marops@db.internal:5432/intake?application_name=x",
                              database_sslmode="verify-full", database_sslrootcert="/etc/marops/pg-ca.pem",
                              database_sslcert="/etc/marops/pg.crt", database_sslkey="/etc/marops/pg.key")
    assert settings.database_url == (
        "postgresql://marops@db.internal:5432/intake?sslmode=verify-full&sslrootcert=%2Fetc%2Fmarops%2Fpg-ca.pem"
        "&sslcert=%2Fetc%2Fmarops%2Fpg.crt&sslkey=%2Fetc%2Fmarops%2Fpg.key&application_name=x")
    # a value written in the URL itself is kept
    explicit = IntakeSettings(database_url="postgresql://h/intake?sslmode=disable", database_sslmode="require")
    assert explicit.database_url == "postgresql://h/intake?sslmode=disable"
    assert IntakeSettings(database_url="postgresql://h/intake").database_url == "postgresql://h/intake"


async def test_sslmode_require_reaches_the_connection(pg_dsn: str) -> None:
    """The native test server has no TLS: `require` must make the connection fail, which
    shows the setting is what asyncpg connects with (and `disable` still connects)."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SHOW ssl") == "off", "this test needs the native server without TLS"
    finally:
        await conn.close()
    required = IntakeSettings(database_url=pg_dsn, database_sslmode="require")
    with pytest.raises(ConnectionError, match="SSL"):
        await db.apply_migrations(required.database_url, service_migration_sets("intake"))
    disabled = IntakeSettings(database_url=pg_dsn, database_sslmode="disable")
    assert await db.apply_migrations(disabled.database_url, service_migration_sets("intake"))

    result = run_migrate("intake", INTAKE_DATABASE_URL=pg_dsn, MAROPS_DATABASE_SSLMODE="require")
    assert result.returncode == 1 and "SSL" in result.stderr, result.stderr
