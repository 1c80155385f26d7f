"""A consumer that crashes and restarts says so: never "consuming" while it is not."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from marops_events import kafka
from marops_events.consumer import ConsumerRunner
from marops_service import db
from marops_testkit.kafka import wait_for

from .test_delivery import database, topics  # noqa: F401


async def test_a_crash_looping_consumer_reports_restarts_and_its_last_error_then_recovers(
    database: str, topics: str, kafka_bootstrap: str  # noqa: F811
) -> None:
    crashes = {"left": 3}

    def factory(group: str, *names: str):
        if crashes["left"] > 0:
            crashes["left"] -= 1
            raise RuntimeError("broker said no")  # the loop dies before it consumes anything
        return kafka.consumer(kafka_bootstrap, group, *names)

    async def handler(conn, event) -> None:
        pass

    pool = await db.create_pool(database)
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    group = topics + "health"
    runner = ConsumerRunner(pool=pool, consumer_factory=factory, producer=producer, group_id=group,
                            handlers={"SpendRecorded": handler}, topic_prefix=topics)
    assert runner.health.state == "starting" and not runner.health.consuming
    stop = asyncio.Event()
    task = asyncio.create_task(runner.supervise(stop, restart_delay=0.3))
    seen: list[dict] = []
    try:
        async def restarting() -> bool:
            seen.append(runner.health.as_dict())
            return runner.health.state == "restarting"

        await wait_for(restarting, timeout=10, interval=0.01)
        assert not runner.health.consuming
        assert runner.health.last_error == "RuntimeError: broker said no"

        async def consuming() -> bool:
            seen.append(runner.health.as_dict())
            return runner.health.consuming

        await wait_for(consuming, timeout=60)
    finally:
        stop.set()
        await task
        await producer.stop()
        await pool.close()
    assert runner.health.restarts == 3
    assert runner.health.state == "stopped"
    assert REGISTRY.get_sample_value("marops_consumer_restarts_total", {"group": group}) == 3
    assert REGISTRY.get_sample_value("marops_consumer_seconds_since_last_batch", {"group": group}) >= 0
    # while it was not consuming, nothing said it was
    assert all(s["state"] != "consuming" for s in seen[:-1])
