"""Kafka helpers for tests: create topics, read a topic from the beginning, poll a condition."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

T = TypeVar("T")

__all__ = ["create_topics", "read_topic", "wait_for"]


async def create_topics(
    bootstrap: str, topics: Iterable[str], *, partitions: int = 3, replication_factor: int = 1
) -> None:
    """Create topics (the native broker does not auto-create them); existing ones are kept.

    Returns once the broker reports every topic in its metadata.
    """
    names = list(dict.fromkeys(topics))
    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        try:
            await admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in names]
            )
        except TopicAlreadyExistsError:
            pass
        deadline = time.monotonic() + 30
        while True:
            missing = set(names) - set(await admin.list_topics())
            if not missing:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"topics not visible in broker metadata after 30s: {sorted(missing)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    timeout: float = 30.0,
    isolation_level: str = "read_committed",
) -> list[ConsumerRecord]:
    """Read `topic` from the beginning of every partition until `count` records arrived.

    Uses a consumer without a group (all partitions assigned, nothing committed), so it
    never disturbs the consumer groups under test. On timeout returns what it has (fewer
    than `count`); the caller asserts. A topic that does not exist yet is waited for.
    Records come in arrival order; order is guaranteed only within a partition.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
        metadata_max_age_ms=1000,
    )
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    await consumer.start()
    try:
        while len(records) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def wait_for(
    predicate: Callable[[], Awaitable[T] | T],
    timeout: float = 30.0,
    interval: float = 0.1,
    *,
    message: str | None = None,
) -> T:
    """Call `predicate` (async or sync) until it returns something truthy; return that.

    An exception raised by the predicate also counts as "not yet" (so predicates may use
    plain asserts, or query a table another process has not created yet). On timeout
    raises AssertionError naming the condition and the last result, chained to the last
    exception if the predicate raised one.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        error: Exception | None = None
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last = result
        except Exception as exc:
            last = error = exc
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"condition not met within {timeout}s: {what} (last: {last!r})") from error
        await asyncio.sleep(interval)
