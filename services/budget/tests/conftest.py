"""One running budget service per test module, against the real PostgreSQL and Kafka.

Each module gets its own database and topic prefix; tests inside a module stay apart by
using their own campaign and line ids. Helpers live in ``budget_harness``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).parent))

from budget_harness import Harness, Recorder

from marops_budget.main import create_app
from marops_budget.settings import Settings
from marops_events import kafka
from marops_testkit.apps import running, service_settings
from marops_testkit.fixtures import Infra

# -- fixtures -------------------------------------------------------------------------


async def _admin(infra: Infra, sql: str) -> None:
    conn = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def budget_dsn(infra: Infra) -> AsyncIterator[str]:
    """A database of the module's own (the testkit's pg_dsn lives for one test only)."""
    name = f"t_{uuid.uuid4().hex[:12]}_budget"
    await _admin(infra, f'CREATE DATABASE "{name}"')
    yield infra.dsn(name)
    await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """Like the testkit's topic_prefix, for a module; its topics are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def budget_settings(budget_dsn: str, kafka_bootstrap: str, module_topic_prefix: str) -> Settings:
    return service_settings(Settings, pg_dsn=budget_dsn, kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=module_topic_prefix)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(budget_settings: Settings) -> AsyncIterator[Harness]:
    settings = budget_settings
    async with running(create_app(settings)) as client:
        db = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        producer = kafka.producer(settings.kafka_bootstrap_servers, client_id="budget-tests")
        await producer.start()
        recorder = Recorder(settings.kafka_bootstrap_servers, settings.topic_prefix)
        await recorder.start()
        try:
            yield Harness(settings, client, db, producer, recorder)
        finally:
            await recorder.stop()
            await producer.stop()
            await db.close()
