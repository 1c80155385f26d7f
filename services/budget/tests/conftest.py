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

sys.path.insert(0, str(Path(__file__).parent))

from budget_harness import Harness, Recorder  # noqa: E402

from marops_budget.main import create_app  # noqa: E402
from marops_budget.settings import Settings  # noqa: E402
from marops_events import kafka  # noqa: E402
from marops_testkit.apps import running, service_settings  # noqa: E402
from marops_testkit.fixtures import Infra  # noqa: E402

# -- fixtures -------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def budget_dsn(infra: Infra) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}_budget"
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield infra.dsn(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
def budget_settings(budget_dsn: str, kafka_bootstrap: str) -> Settings:
    return service_settings(Settings, pg_dsn=budget_dsn, kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=f"t{uuid.uuid4().hex[:10]}.")


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
