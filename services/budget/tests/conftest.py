"""One running budget service per test module, against the real PostgreSQL and Kafka.

Each module gets its own database and topic prefix; tests inside a module stay apart by
using their own campaign and line ids. Helpers live in ``budget_harness``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from budget_harness import CONSUMED, PUBLISHED, Harness

from marops_budget.main import create_app
from marops_budget.settings import Settings
from marops_events import kafka
from marops_testkit.apps import running, service_settings
from marops_testkit.events import Recorder

# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def budget_settings(module_pg_dsn: str, kafka_bootstrap: str, module_topic_prefix: str) -> Settings:
    return service_settings(Settings, pg_dsn=module_pg_dsn, kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=module_topic_prefix)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(budget_settings: Settings) -> AsyncIterator[Harness]:
    settings = budget_settings
    async with running(create_app(settings)) as client:
        db = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
        producer = kafka.producer(settings.kafka_bootstrap_servers, client_id="budget-tests")
        await producer.start()
        recorder = Recorder(settings.kafka_bootstrap_servers, settings.topic_prefix, PUBLISHED, CONSUMED)
        await recorder.start()
        try:
            yield Harness(settings, client, db, producer, recorder)
        finally:
            await recorder.stop()
            await producer.stop()
            await db.close()
