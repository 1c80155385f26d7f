"""Kafka clients configured for this system, and topic creation.

aiokafka's defaults (acks=1, no idempotence, auto-commit, auto_offset_reset=latest) are
wrong here, so every client is built through these functions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from . import registry
from .registry import DLQ_SUFFIX

log = logging.getLogger(__name__)


# The topics are the system's event log: metrics rebuilds its read models by replaying
# them from the beginning, so nothing may expire. Compaction would drop history too.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def producer(bootstrap_servers: str, *, client_id: str = "marops", **overrides: object) -> AIOKafkaProducer:
    options: dict[str, object] = dict(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=30_000,
    )
    options.update(overrides)
    return AIOKafkaProducer(**options)


def consumer(bootstrap_servers: str, group_id: str, *topics: str, client_id: str = "marops",
             **overrides: object) -> AIOKafkaConsumer:
    options: dict[str, object] = dict(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_interval_ms=300_000,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def all_topics(prefix: str = "", *, with_dlq: bool = True) -> list[str]:
    names = registry.topics(prefix)
    return names + [t + DLQ_SUFFIX for t in names] if with_dlq else names


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 6,
    replication_factor: int = 1,
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="marops-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                await admin.create_topics([
                    NewTopic(t, num_partitions=partitions, replication_factor=replication_factor,
                             topic_configs=TOPIC_CONFIG)
                    for t in missing
                ])
            except TopicAlreadyExistsError:
                # Another service created them between our list and create.
                pass
            log.info("created topics %s", missing)
            await _wait_for_leaders(admin, missing)
        return missing
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 15.0) -> None:
    """Creation returns before partitions have leaders; producing earlier only logs errors."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        described = await admin.describe_topics(topics)
        if all(t.get("error_code", 0) == 0 and t.get("partitions")
               and all(p.get("leader", -1) >= 0 for p in t["partitions"]) for t in described):
            return
        await asyncio.sleep(0.1)
    log.warning("partitions of %s still without leaders after %.0fs", topics, timeout)
