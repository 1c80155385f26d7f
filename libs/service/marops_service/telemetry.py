"""OpenTelemetry for FastAPI, asyncpg and Kafka; the exporter is off unless configured.

A tracer provider is always installed, so trace ids exist for logs and propagate through
the outbox and Kafka even when nothing is exported. With an exporter, each request gets
one server span from FastAPI's own telemetry (``fastapi_telemetry``), the only HTTP wrapper
(OpenTelemetry's ASGI instrumentation on top of it would create a second span and one per
ASGI message). Without one, a span nobody exports is pure cost on every request (FastAPI's
wrapper attaches three contexts, builds attributes, wraps send and receive): ``TraceContext``
only makes the request's trace context current, the caller's ``traceparent`` or a new trace
id, as a non-recording span, so logs and outbox rows still carry it. The per-query asyncpg
spans and aiokafka's client spans are only worth their cost when someone looks at them, so
they are instrumented only with an exporter.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from starlette.types import ASGIApp, Receive, Scope, Send

from marops_events import tracing

from .settings import ServiceSettings

UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/status"})

_instrumented = False


def configure(settings: ServiceSettings) -> None:
    global _instrumented
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        if settings.otel_exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        elif settings.otel_exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(provider)
    tracing.record_spans(exporting(settings))  # the relay's and the consumers' spans, like the requests'
    if settings.otel_exporter != "none" and not _instrumented:
        from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
        AIOKafkaInstrumentor().instrument()
        _instrumented = True


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def exporting(settings: ServiceSettings) -> bool:
    return settings.otel_exporter != "none"


def fastapi_telemetry(settings: ServiceSettings) -> TelemetryConfig:
    """FastAPI's native telemetry: with an exporter, one server span per request (probes
    excluded; no second span per operation); without one, off (``TraceContext`` instead).
    HTTP metrics are Prometheus' (``HttpMetrics``) and logs go through structlog, so those
    two stay off."""
    return {"tracing": exporting(settings), "metrics": False, "logs": False, "operation_spans": False,
            "exclude": _untraced}


_TRACEPARENT = b"traceparent"


class TraceContext:
    """Without an exporter: the request runs in its trace context (the caller's ``traceparent``,
    or a new trace), as a non-recording span: trace ids for logs and the outbox, no span
    built or ended (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _untraced(scope):
            await self.app(scope, receive, send)
            return
        parent = context.Context()
        if any(name == _TRACEPARENT for name, _ in scope["headers"]):
            headers: dict[str, str] = {}
            for name, value in scope["headers"]:
                if name in (b"traceparent", b"tracestate"):
                    headers[name.decode()] = value.decode("latin-1")
            parent = propagate.extract(headers)
        token = context.attach(tracing.untraced(parent))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)
