"""The rebuild skips and counts exactly what the live consumer dead-letters, never aborts
on it, and its run record lists the skipped coordinates (real Kafka and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from marops_events import kafka
from marops_events.registry import DLQ_SUFFIX
from marops_testkit.apps import auth
from marops_testkit.kafka import read_topic, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def poison(prefix: str, valid_spend: bytes) -> list[tuple[str, bytes | None]]:
    """Records other systems could publish, each one the decoder refuses."""
    year_one = json.loads(valid_spend)
    year_one["time"] = "0001-01-01T00:30:00+01:00"  # astimezone overflows on it
    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        (f"{prefix}marops.brief-submitted.v1", b"\x00not json at all"),
        (f"{prefix}marops.gate-approved.v1", valid_spend),  # the wrong event type for the topic
        (f"{prefix}marops.spend-recorded.v1", json.dumps(year_one).encode()),
        (f"{prefix}marops.spend-recorded.v1", deep),
        (f"{prefix}marops.campaign-launched.v1", None),  # a tombstone
    ]


async def test_rebuild_skips_what_live_dead_letters_and_lists_where(metrics, dozen, dump_read_model) -> None:
    app = metrics
    spend = next(e for e in dozen.events if e.type == "SpendRecorded")
    bad = poison(app.prefix, spend.to_json())
    half = len(dozen.events) // 2
    await app.publish(dozen.events[:half])
    producer = kafka.producer(app.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for topic, value in bad:
            await producer.send_and_wait(topic, value=value, key=b"C01")
    finally:
        await producer.stop()
    await app.publish(dozen.events[half:])
    await app.wait_applied(len(dozen.events))
    await app.wait_caught_up()

    dead = []
    for topic in sorted({t for t, _ in bad}):
        dead += await read_topic(app.settings.kafka_bootstrap_servers, topic + DLQ_SUFFIX,
                                 count=sum(1 for t, _ in bad if t == topic))
    dead_at = {(h["dlq.original.topic"].decode(), int(h["dlq.original.partition"]), int(h["dlq.original.offset"]))
               for h in (dict(r.headers) for r in dead)}
    assert len(dead_at) == len(bad)
    live = await dump_read_model(app.settings.database_url)

    admin = {**auth(app.settings, "ada", "ops_admin"), "Idempotency-Key": "rebuild-skips"}
    started = await app.client.post("/admin/rebuild", headers=admin)
    assert started.status_code == 202, started.text

    async def finished() -> dict | None:
        run = (await app.client.get(started.json()["href"], headers=admin)).json()
        assert run["status"] != "failed", run  # never aborts on a bad record
        return run if run["status"] == "succeeded" else None

    run = await wait_for(finished, timeout=90, interval=0.2, message="rebuild succeeded")
    assert run["records_skipped"] == len(bad)
    assert run["events_applied"] == len(dozen.events)
    assert {(s["topic"], s["partition"], s["offset"]) for s in run["skipped_records"]} == dead_at
    assert all(s["reason"] for s in run["skipped_records"])
    assert await dump_read_model(app.settings.database_url) == live


async def test_decoder_worker_processes_skip_the_same_bad_records(metrics, dump_read_model) -> None:
    """The records the test before left on the topics, decoded by the rebuild's worker
    processes (forced for a small log): skipped and counted like in-process, never aborting."""
    app = metrics
    live = await dump_read_model(app.settings.database_url)
    outcomes = []
    for parallel_from in ("1000000", "0"):  # in this process, then in workers
        code, out, err = await app.rebuild_cli(METRICS_REBUILD_PARALLEL_FROM=parallel_from,
                                               METRICS_REBUILD_DECODERS="2")
        assert code == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
        assert await dump_read_model(app.settings.database_url) == live
    serial, parallel = outcomes
    assert serial["records_skipped"] == len(poison(app.prefix, b"{}"))
    assert (parallel["events_applied"], parallel["records_skipped"]) == (
        serial["events_applied"], serial["records_skipped"])
