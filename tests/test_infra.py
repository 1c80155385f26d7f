"""The test kit gives real PostgreSQL and real Kafka, isolated per test."""

from __future__ import annotations

import base64

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from marops_testkit import Infra, create_topics, read_topic, wait_for


async def test_pg_dsn_is_a_real_postgresql_database(pg_dsn: str) -> None:
    writer = await asyncpg.connect(pg_dsn)
    reader = await asyncpg.connect(pg_dsn)
    try:
        version = await writer.fetchval("SELECT version()")
        assert "PostgreSQL" in version
        # fresh and empty
        assert await writer.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ) == 0
        async with writer.transaction():
            await writer.execute("CREATE TABLE greeting (id int PRIMARY KEY, body text NOT NULL)")
            await writer.execute("INSERT INTO greeting VALUES (1, 'hello'), (2, 'world')")
        rows = await reader.fetch("SELECT id, body FROM greeting ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "hello"), (2, "world")]
        # real constraints, real transactions
        with pytest.raises(asyncpg.UniqueViolationError):
            await reader.execute("INSERT INTO greeting VALUES (1, 'again')")
    finally:
        await writer.close()
        await reader.close()


async def test_each_test_gets_its_own_database(pg_dsn: str, make_pg_dsn, infra: Infra) -> None:
    other = make_pg_dsn("intake")
    assert other != pg_dsn and other.rsplit("/", 1)[1].endswith("_intake")
    admin = await asyncpg.connect(infra.pg_admin_dsn)
    try:
        names = {r["datname"] for r in await admin.fetch("SELECT datname FROM pg_database")}
        assert {pg_dsn.rsplit("/", 1)[1], other.rsplit("/", 1)[1]} <= names
        assert await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await admin.close()


async def test_kafka_is_real(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        await wait_for(lambda: _has_topic(admin, topic), timeout=30, message=f"topic {topic} listed")
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, key=f"k{i % 4}".encode(), value=f"v{i}".encode())
    finally:
        await producer.stop()

    records = await read_topic(kafka_bootstrap, topic, count=10, timeout=30)
    assert sorted(r.value for r in records) == sorted(f"v{i}".encode() for i in range(10))
    assert {r.partition for r in records} <= {0, 1, 2}
    # same key, same partition, order kept
    by_key: dict[bytes, list[tuple[int, int]]] = {}
    for r in records:
        by_key.setdefault(r.key, []).append((r.partition, r.offset))
    for positions in by_key.values():
        assert len({p for p, _ in positions}) == 1
        assert positions == sorted(positions)


async def _has_topic(admin: AIOKafkaAdminClient, topic: str) -> bool:
    return topic in await admin.list_topics()


async def test_read_topic_returns_what_it_has_on_timeout(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}partial"
    await create_topics(kafka_bootstrap, [topic], partitions=1)
    await create_topics(kafka_bootstrap, [topic], partitions=1)  # idempotent
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"only-one")
    finally:
        await producer.stop()
    records = await read_topic(kafka_bootstrap, topic, count=5, timeout=2)
    assert [r.value for r in records] == [b"only-one"]


def test_topic_prefixes_are_unique(topic_prefix: str) -> None:
    assert topic_prefix.startswith("t") and topic_prefix.endswith(".") and len(topic_prefix) == 12


async def test_wait_for_returns_the_truthy_value_and_fails_with_a_message() -> None:
    calls = []

    async def eventually() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else None

    assert await wait_for(eventually, timeout=5, interval=0.01) == 3

    def never() -> bool:
        assert False, "still nothing"

    with pytest.raises(AssertionError, match="condition not met within 0.1s: nothing ever.*still nothing"):
        await wait_for(never, timeout=0.1, interval=0.01, message="nothing ever")


async def test_wait_for_retries_through_exceptions_and_chains_the_last_one() -> None:
    attempts = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise LookupError("not there yet")
        return "there"

    assert await wait_for(flaky, timeout=5, interval=0.01) == "there"

    async def broken() -> None:
        raise LookupError("never there")

    with pytest.raises(AssertionError, match="never there") as info:
        await wait_for(broken, timeout=0.1, interval=0.01)
    assert isinstance(info.value.__cause__, LookupError)


@pytest.fixture
async def leftover_check(kafka_bootstrap: str):
    """Runs its teardown after topic_prefix's (it is set up first): sees the cleanup."""
    holder: dict[str, str] = {}
    yield holder
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        prefix = holder["prefix"]
        await wait_for(
            lambda: _no_topic_with(admin, prefix), timeout=30, message=f"topics {prefix}* deleted"
        )
    finally:
        await admin.close()


async def _no_topic_with(admin: AIOKafkaAdminClient, prefix: str) -> bool:
    return not [t for t in await admin.list_topics() if t.startswith(prefix)]


async def test_topic_prefix_topics_are_deleted_after_the_test(
    leftover_check: dict[str, str], kafka_bootstrap: str, topic_prefix: str
) -> None:
    leftover_check["prefix"] = topic_prefix
    await create_topics(kafka_bootstrap, [f"{topic_prefix}a", f"{topic_prefix}b"], partitions=1)


def test_a_test_brokers_cluster_id_is_a_kafka_uuid_the_storage_tool_can_read() -> None:
    from marops_testkit.brokers import new_cluster_id

    ids = [new_cluster_id() for _ in range(5000)]  # one random id in 64 would start with '-'
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22} and len(set(ids)) == len(ids)
    assert {len(base64.urlsafe_b64decode(i + "==")) for i in ids} == {16}
