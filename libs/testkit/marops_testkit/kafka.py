"""Kafka helpers for tests: create topics, read a topic from the beginning, poll a condition."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, overload

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

T = TypeVar("T")

__all__ = ["create_topics", "read_topic", "sweep_stale_test_topics", "wait_for"]

#: topics named with a `topic_prefix` ("t" + 10 hex + "."), as partition directories
_TEST_PARTITION_DIR = re.compile(r"^(t[0-9a-f]{10}\..+)-(\d+)$")


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


@overload
async def wait_for(predicate: Callable[[], Awaitable[T]], timeout: float = 30.0, interval: float = 0.1, *,
                   message: str | None = None) -> T: ...


@overload
async def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, *,
                   message: str | None = None) -> T: ...


async def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    interval: float = 0.1,
    *,
    message: str | None = None,
) ->Any:
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


async def sweep_stale_test_topics(bootstrap: str, data_dir: str | os.PathLike[str], *, max_age: float) -> list[str]:
    """Delete test topics (named with a `topic_prefix`) left behind by interrupted runs.

    Age is taken from the broker's partition directories in `data_dir` (native broker
    only), by the `partition.metadata` file the broker writes once when it creates the
    partition (directory times change on every broker restart): a topic is deleted when
    all its partitions are older than `max_age` seconds. Returns the deleted topic names.
    """
    now = time.time()
    newest: dict[str, float] = {}
    try:
        entries = list(os.scandir(data_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        m = _TEST_PARTITION_DIR.match(entry.name)
        if m and entry.is_dir():
            try:
                mtime = os.stat(os.path.join(entry.path, "partition.metadata")).st_mtime
            except FileNotFoundError:
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
            newest[m[1]] = max(newest.get(m[1], 0.0), mtime)
    stale = sorted(t for t, mtime in newest.items() if now - mtime > max_age)
    if not stale:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=60000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in stale if t in existing]
        for i in range(0, len(doomed), 200):
            await admin.delete_topics(doomed[i : i + 200], timeout_ms=60000)
    finally:
        await admin.close()
    return doomed
