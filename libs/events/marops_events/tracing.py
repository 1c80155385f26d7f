"""W3C trace context in and out of Kafka headers, and the spans around delivery.

The context is captured when an event is appended to the outbox (so the publish span
is a child of the HTTP request or handler that caused it), travels in Kafka headers,
and is extracted by the consumer, which opens its own consume and handle spans: the
aiokafka instrumentation's consume span ends before our handler runs.

Spans are built only while someone records them (``record_spans``: the service chassis
turns them off without an exporter). Unrecorded, a span is pure cost on every event
(ids, attributes, three context switches), so the publish and consume steps only make
their trace context current, the stored or received one or a new trace, as a
non-recording span: trace ids still reach the records, the outbox rows and the logs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import context, propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

tracer = trace.get_tracer("marops_events")
_recording = True


def record_spans(enabled: bool) -> None:
    """Whether publish, consume and handle spans are built (on until told otherwise, so a
    tracer provider installed by a test or an embedding application sees them)."""
    global _recording
    _recording = enabled


def recording() -> bool:
    return _recording


def untraced(parent: context.Context) -> context.Context:
    """``parent`` with a non-recording span current: the caller's trace when it has one, a
    new trace otherwise, so whatever runs in it carries a trace id without any span built."""
    caller = trace.get_current_span(parent).get_span_context()
    span = NonRecordingSpan(SpanContext(
        caller.trace_id if caller.is_valid else random.getrandbits(128) or 1,
        random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=caller.trace_flags if caller.is_valid else TraceFlags(TraceFlags.DEFAULT),
        trace_state=caller.trace_state if caller.is_valid else None,
    ))
    return trace.set_span_in_context(span, parent)


@contextmanager
def _within(carrier: Mapping[str, str]) -> Iterator[None]:
    token = context.attach(untraced(context_from(carrier)))
    try:
        yield
    finally:
        context.detach(token)

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


def publish_span(topic: str, event_type: str, parent: Mapping[str, str]) -> AbstractContextManager[object]:
    if not _recording:
        return _within(parent)
    return tracer.start_as_current_span(
        f"publish {topic}",
        context=context_from(parent),
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                    "cloudevents.event_type": event_type},
    )


def consume_span(topic: str, partition: int, offset: int, parent: Mapping[str, str]) -> AbstractContextManager[object]:
    if not _recording:
        return _within(parent)
    return tracer.start_as_current_span(
        f"consume {topic}",
        context=context_from(parent),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.source.name": topic,
                    "messaging.kafka.partition": partition, "messaging.kafka.offset": offset},
    )


def handle_span(event_type: str, event_id: str) -> AbstractContextManager[object]:
    if not _recording:
        return nullcontext()
    return tracer.start_as_current_span(
        f"handle {event_type}",
        attributes={"cloudevents.event_type": event_type, "cloudevents.event_id": event_id},
    )
