"""Structured JSON logs (structlog) carrying the current trace and span ids.

Standard-library loggers (uvicorn, aiokafka, asyncpg, our own) are routed through the
same renderer, so every line a service prints is one JSON object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace
from structlog.typing import Processor


def _add_trace_ids(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


# aiokafka logs a partition without a (known) leader at WARNING/ERROR and retries it by
# itself; right after topics are created, or while a broker fails over, that is expected.
# Logged at INFO, so a fresh `make run` does not look like failure; the consumer's health
# (/readyz) says when consumption really stops.
_RETRIED_BY_AIOKAFKA = ("NotLeaderForPartitionError", "LeaderNotAvailableError", "UnknownTopicOrPartitionError")


def _retried_noise_as_info(record: logging.LogRecord) -> bool:
    if record.name.startswith("aiokafka") and record.levelno > logging.INFO:
        message = record.getMessage()
        if any(name in message for name in _RETRIED_BY_AIOKAFKA):
            record.levelno, record.levelname = logging.INFO, "INFO"
    return True


def configure(service: str, level: str = "INFO", json: bool = True, access_log: bool = False) -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        lambda _, __, event: {**event, "service": service},
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    ))
    handler.addFilter(_retried_noise_as_info)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # Rendering a JSON line per request costs more than many handlers; off unless asked for.
    logging.getLogger("uvicorn.access").disabled = not access_log
