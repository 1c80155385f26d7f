"""W3C trace context in and out of Kafka headers, and the spans around delivery.

The context is captured when an event is appended to the outbox (so the publish span
is a child of the HTTP request or handler that caused it), travels in Kafka headers,
and is extracted by the consumer, which opens its own consume and handle spans: the
aiokafka instrumentation's consume span ends before our handler runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind

tracer = trace.get_tracer("marops_events")

TRACE_HEADERS = ("traceparent", "tracestate")


def capture() -> dict[str, str]:
    """The current trace context as a plain dict (stored in the outbox row)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str]) -> context.Context:
    return propagate.extract(dict(carrier))


def headers_from_record(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (headers or ()) if v is not None}


def publish_span(topic: str, event_type: str, parent: Mapping[str, str]) -> AbstractContextManager[trace.Span]:
    return tracer.start_as_current_span(
        f"publish {topic}",
        context=context_from(parent),
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                    "cloudevents.event_type": event_type},
    )


def consume_span(topic: str, partition: int, offset: int, parent: Mapping[str, str]) -> AbstractContextManager[trace.Span]:
    return tracer.start_as_current_span(
        f"consume {topic}",
        context=context_from(parent),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.source.name": topic,
                    "messaging.kafka.partition": partition, "messaging.kafka.offset": offset},
    )


def handle_span(event_type: str, event_id: str) -> AbstractContextManager[trace.Span]:
    return tracer.start_as_current_span(
        f"handle {event_type}",
        attributes={"cloudevents.event_type": event_type, "cloudevents.event_id": event_id},
    )
