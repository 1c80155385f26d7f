"""One trace from the request that appends an event to the consumer that handles it."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from marops_events import contracts as c
from marops_events import kafka, outbox, tracing
from marops_events.consumer import ConsumerRunner
from marops_events.outbox import OutboxRelay
from marops_events.registry import new_event
from marops_service import db
from marops_testkit.kafka import wait_for


def _exporter() -> InMemorySpanExporter:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def _request_to_handler(pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> tuple[int, list[int]]:
    """A request appends an event to the outbox; the relay publishes it; a consumer handles
    it. The request's trace id, and the trace ids the handler ran in."""
    await db.apply_migrations(pg_dsn, db.library_migrations())
    await kafka.ensure_topics(kafka_bootstrap, kafka.all_topics(topic_prefix), partitions=1)
    event = new_event(c.SpendRecorded(
        campaign_id="c-trace", source_system="t", source_reference="r-1",
        amount=c.Money(amount=Decimal("1.00"), currency="EUR"), incurred_on=dt.date(2026, 1, 1),
    ), source="marops/test")

    with trace.get_tracer("test").start_as_current_span("POST /spend") as request_span:
        conn = await asyncpg.connect(pg_dsn)
        try:
            async with conn.transaction():
                await outbox.add(conn, event)
        finally:
            await conn.close()
    trace_id = request_span.get_span_context().trace_id

    handled = asyncio.Event()
    seen_trace_ids: list[int] = []

    async def handler(_conn, _event) -> None:
        seen_trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        handled.set()

    stop = asyncio.Event()
    pool = await db.create_pool(pg_dsn)
    producer = kafka.producer(kafka_bootstrap)
    await producer.start()
    relay = OutboxRelay(pg_dsn, lambda: kafka.producer(kafka_bootstrap), topic_prefix=topic_prefix,
                        poll_interval=0.1)
    runner = ConsumerRunner(pool=pool, consumer_factory=lambda g, *t: kafka.consumer(kafka_bootstrap, g, *t),
                            producer=producer, group_id=topic_prefix + "trace", handlers={"SpendRecorded": handler},
                            topic_prefix=topic_prefix)
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(runner.run(stop))]
    try:
        await wait_for(handled.is_set, timeout=30)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await producer.stop()
        await pool.close()
    return trace_id, seen_trace_ids


async def test_trace_context_travels_through_outbox_and_kafka(pg_dsn: str, kafka_bootstrap: str,
                                                               topic_prefix: str, monkeypatch) -> None:
    monkeypatch.setattr(tracing, "_recording", True)  # spans are recorded (a service with an exporter)
    exporter = _exporter()
    trace_id, seen_trace_ids = await _request_to_handler(pg_dsn, kafka_bootstrap, topic_prefix)

    assert seen_trace_ids == [trace_id]  # the handler ran inside the request's trace
    spans = {s.name: s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id}
    topic = topic_prefix + "marops.spend-recorded.v1"
    assert {"POST /spend", f"publish {topic}", f"consume {topic}", "handle SpendRecorded"} <= set(spans)
    assert spans[f"publish {topic}"].parent.span_id == request_span_id(spans)
    assert spans["handle SpendRecorded"].parent.span_id == spans[f"consume {topic}"].context.span_id


async def test_without_recording_the_trace_travels_but_no_span_is_built(pg_dsn: str, kafka_bootstrap: str,
                                                                       topic_prefix: str, monkeypatch) -> None:
    # A service without an exporter: the relay and the consumer build no span per event, yet
    # the handler still runs in the request's trace (so what it publishes continues it).
    monkeypatch.setattr(tracing, "_recording", False)
    exporter = _exporter()
    trace_id, seen_trace_ids = await _request_to_handler(pg_dsn, kafka_bootstrap, topic_prefix)

    assert seen_trace_ids == [trace_id]
    names = {s.name for s in exporter.get_finished_spans() if s.context.trace_id == trace_id}
    assert names == {"POST /spend"}  # the test's own span; nothing of the relay's or the consumer's


def request_span_id(spans: dict) -> int:
    return spans["POST /spend"].context.span_id
