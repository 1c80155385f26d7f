"""``create_service_app``: one FastAPI app per service, with everything a service needs.

The lifespan opens the pool, applies migrations (library tables, then the service's),
makes sure every topic exists, and runs the workers inside the process: the outbox relay
and one consumer runner. Shutdown (SIGTERM) stops the workers after their current batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from marops_events import kafka
from marops_events.consumer import ConsumerRunner, Handler
from marops_events.outbox import OutboxRelay

from . import db, logs, problems, telemetry, whoami
from .auth import TokenVerifier
from .idempotency import IdempotencyMiddleware
from .settings import ServiceSettings

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter("marops_http_requests", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("marops_http_request_duration_seconds", "HTTP request latency", ["service", "route"])


@dataclass
class Runtime:
    """What a running service holds: reachable from requests as ``app.state.runtime``."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    relay: OutboxRelay | None = None
    consumer: ConsumerRunner | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    routers: list[APIRouter],
    migrations: Path,
    handlers: Mapping[str, Handler] | None = None,
    version: str = "0.1.0",
    on_started: Callable[[Runtime], Awaitable[None]] | None = None,
) -> FastAPI:
    logs.configure(settings.service_name, settings.log_level, settings.log_json)
    telemetry.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, migrations, handlers or {}, on_started)
        app.state.runtime = runtime
        log.info("%s started", settings.service_name)
        try:
            yield
        finally:
            await stop_runtime(runtime)
            log.info("%s stopped", settings.service_name)

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    problems.install(app)
    app.add_middleware(IdempotencyMiddleware)
    _install_http_metrics(app, settings.service_name)
    app.include_router(_operations_router())
    app.include_router(whoami.router)
    for router in routers:
        app.include_router(router)
    telemetry.instrument_app(app)
    return app


async def start_runtime(settings: ServiceSettings, migrations: Path, handlers: Mapping[str, Handler],
                        on_started: Callable[[Runtime], Awaitable[None]] | None = None) -> Runtime:
    """Migrate, connect, run ``on_started`` (e.g. seed data), then start the workers."""
    await prepare_schema(settings, [*db.library_migrations(), db.MigrationSet(settings.service_name, migrations)])
    await kafka.ensure_topics(settings.kafka_connection(), kafka.all_topics(settings.topic_prefix),
                              partitions=settings.topic_partitions,
                              replication_factor=settings.topic_replication_factor,
                              min_insync_replicas=settings.topic_min_insync_replicas)
    pool = await db.create_pool(settings.database_url, min_size=settings.db_pool_min_size,
                                max_size=settings.db_pool_max_size)
    producer = kafka.producer(settings.kafka_connection(), client_id=settings.service_name)
    await producer.start()
    runtime = Runtime(settings=settings, pool=pool, producer=producer)
    if on_started is not None:
        await on_started(runtime)
    if settings.run_workers:
        runtime.relay = OutboxRelay(
            settings.database_url,
            lambda: kafka.producer(settings.kafka_connection(), client_id=f"{settings.service_name}-relay"),
            topic_prefix=settings.topic_prefix, poll_interval=settings.outbox_poll_interval,
            name=settings.service_name,
        )
        runtime.tasks.append(asyncio.create_task(runtime.relay.run(runtime.stop), name="outbox-relay"))
        if handlers:
            runtime.consumer = ConsumerRunner(
                pool=pool,
                consumer_factory=lambda group, *topics: kafka.consumer(
                    settings.kafka_connection(), group, *topics, client_id=settings.service_name),
                producer=producer,
                group_id=f"{settings.topic_prefix}marops-{settings.service_name}",
                handlers=handlers,
                topic_prefix=settings.topic_prefix,
                max_records=settings.consumer_max_records,
            )
            runtime.tasks.append(asyncio.create_task(_supervise(runtime.consumer, runtime.stop), name="consumer"))
    return runtime


async def prepare_schema(settings: ServiceSettings, sets: list[db.MigrationSet]) -> None:
    """Migrate, or (``migrate_on_start=false``: `marops-migrate` ran as a release step) make
    sure nothing is pending: code must not run against a schema older than it expects."""
    if settings.migrate_on_start:
        await db.apply_migrations(settings.database_url, sets)
        return
    pending = await db.pending_migrations(settings.database_url, sets)
    if pending:
        raise RuntimeError(f"{settings.service_name}: {len(pending)} migration(s) not applied "
                           f"({', '.join(pending)}); run `marops-migrate {settings.service_name}` first")


async def _supervise(consumer: ConsumerRunner, stop: asyncio.Event) -> None:
    """Restart the consumer loop after unexpected failures (broker restarts, rebalances)."""
    while not stop.is_set():
        try:
            await consumer.run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer %s crashed; restarting", consumer.group_id)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)


async def stop_runtime(runtime: Runtime, timeout: float = 20.0) -> None:
    runtime.stop.set()
    if runtime.tasks:
        _, pending = await asyncio.wait(runtime.tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
    await runtime.producer.stop()
    await runtime.pool.close()


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database and Kafka reachable")
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            async with runtime.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
            checks["database"] = "ok"
        except Exception as exc:  # any failure means "not ready", with the reason
            checks["database"] = f"error: {exc}"
        try:
            await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), timeout=3)
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"error: {type(exc).__name__} {exc}"
        ready = all(v == "ok" for v in checks.values())
        if not ready:
            body = problems.problem_body(503, "Not ready", "a dependency is unreachable", slug="not-ready",
                                         checks=checks)
            return problems.problem_response(body)
        return JSONResponse({"status": "ready", "checks": checks})

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _install_http_metrics(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, route).observe(time.perf_counter() - started)
        return response
