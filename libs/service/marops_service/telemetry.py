"""OpenTelemetry for FastAPI, asyncpg and Kafka; the exporter is off unless configured.

A tracer provider is always installed, so trace ids exist for logs and propagate through
the outbox and Kafka even when nothing is exported: each request gets one server span from
FastAPI's own telemetry (``fastapi_telemetry``), the only HTTP wrapper (OpenTelemetry's
ASGI instrumentation on top of it would create a second span and one per ASGI message).
The per-query asyncpg spans and aiokafka's client spans are only worth their cost when
someone looks at them, so they are instrumented only with an exporter.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

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
    if settings.otel_exporter != "none" and not _instrumented:
        from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
        AIOKafkaInstrumentor().instrument()
        _instrumented = True


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's native telemetry: one server span per request (probes excluded; no second span
    per operation); HTTP metrics are Prometheus' (``HttpMetrics``) and logs go through
    structlog, so those two stay off."""
    return {"tracing": True, "metrics": False, "logs": False, "operation_spans": False, "exclude": _untraced}
