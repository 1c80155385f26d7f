"""A relay or a consumer in its own process, so tests can kill it for real.

    python harness.py relay    DSN BOOTSTRAP PREFIX
    python harness.py consumer DSN BOOTSTRAP PREFIX GROUP [--hang-before-offset-commit|--hang-before-dead-letters]

The consumer's handler appends a row to ``effects`` per application (no unique
constraint), so an event applied twice shows up as two rows. With
``--hang-before-offset-commit`` the process writes ``committed-db`` to stdout after its
database transaction and then waits to be killed instead of committing offsets; with
``--hang-before-dead-letters`` it writes ``isolated`` once a poison batch's transaction
committed and waits to be killed instead of publishing the dead letters.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from marops_events import kafka
from marops_events.consumer import ConsumerRunner
from marops_events.outbox import OutboxRelay
from marops_service import db

EFFECTS_SQL = "CREATE TABLE IF NOT EXISTS effects (n bigserial PRIMARY KEY, event_id uuid NOT NULL, subject text NOT NULL)"


async def record_effect(conn, event) -> None:
    if event.data.campaign_id.startswith("unprocessable"):
        from marops_events.consumer import Unprocessable

        raise Unprocessable("campaign marked unprocessable by the test")
    await conn.execute("INSERT INTO effects (event_id, subject) VALUES ($1, $2)", event.id, event.subject)


class HangingRunner(ConsumerRunner):
    async def commit(self, records) -> None:  # the process is killed here
        print("committed-db", flush=True)
        await asyncio.Event().wait()


class DyingIsolator(ConsumerRunner):
    async def _send_dead_letters(self, dead, stop=None) -> None:  # the process is killed here
        if dead:
            print("isolated", flush=True)
            await asyncio.Event().wait()
        await super()._send_dead_letters(dead, stop)


async def main(argv: list[str]) -> None:
    mode, dsn, bootstrap, prefix = argv[:4]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if mode == "relay":
        relay = OutboxRelay(dsn, lambda: kafka.producer(bootstrap), topic_prefix=prefix, poll_interval=0.1)
        print("relay-started", flush=True)
        await relay.run(stop)
        return
    group = argv[4]
    runner_cls = (HangingRunner if "--hang-before-offset-commit" in argv
                  else DyingIsolator if "--hang-before-dead-letters" in argv else ConsumerRunner)
    pool = await db.create_pool(dsn)
    async with pool.acquire() as conn:
        await conn.execute(EFFECTS_SQL)
    producer = kafka.producer(bootstrap)
    await producer.start()
    runner = runner_cls(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(
                            bootstrap, g, *t, session_timeout_ms=6000, heartbeat_interval_ms=1000),
                        producer=producer, group_id=group, handlers={"SpendRecorded": record_effect},
                        topic_prefix=prefix)
    print("consumer-started", flush=True)
    try:
        await runner.run(stop)
    finally:
        await producer.stop()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
