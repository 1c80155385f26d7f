"""``create_service_app``: one FastAPI app per service, with everything a service needs.

The lifespan opens the pool, applies migrations (library tables, then the service's),
makes sure every topic exists, and runs the workers inside the process: the outbox relay
and one consumer runner. Shutdown (SIGTERM) stops the workers after their current batch.

A dependency that is down at start-up does not stop the service from starting: with
PostgreSQL unreachable, migrations are retried in the background and requests get 503
with ``Retry-After`` until they are applied; with Kafka unreachable, the service serves
HTTP (writes go to the outbox), readiness says ``degraded``, and topic creation, the
relay and the consumer start in the background once the broker answers.

With ``run_workers`` (the default, for a single-process install) the workers run inside
the process: the outbox relay, one consumer runner and the housekeeping. With
``<SERVICE>_RUN_WORKERS=false`` the process serves HTTP only and ``marops-worker <service>``
(``worker.py``) runs the workers from the same ``ServiceSpec``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marops_events import kafka
from marops_events.consumer import ConsumerRunner, Handler, group_id_for
from marops_events.outbox import OutboxRelay

from . import db, idempotency, logs, problems, responses, telemetry, whoami
from .auth import TokenVerifier
from .health import DependencyMonitor
from .idempotency import IdempotencyMiddleware
from .settings import ServiceSettings

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter("marops_http_requests", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("marops_http_request_duration_seconds", "HTTP request latency", ["service", "route"])


# What a browser on another origin may send and read (CORS_ALLOW_ORIGINS).
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Accept", "traceparent")
CORS_EXPOSED_HEADERS = ("Idempotent-Replayed", "Retry-After", "Location", "Allow", "Content-Disposition")

RETRY_AFTER_SECONDS = problems.RETRY_AFTER_SECONDS
DATABASE_UNREACHABLE = problems.DATABASE_UNREACHABLE


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
    monitor: DependencyMonitor | None = None
    database_ready: bool = False  # migrated and seeded: requests may use the database
    kafka_ready: bool = False  # topics exist and the producer is connected
    workers: tuple[Worker, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """What a service is made of, kept on ``app.state.spec`` so a worker process can run it too."""

    settings: ServiceSettings
    migrations: Path
    handlers: Mapping[str, Handler]
    on_started: Callable[[Runtime], Awaitable[None]] | None = None
    workers: Sequence[Worker] = ()


# A service's own background loop (e.g. governance's deadline timer and notification
# delivery), run beside the relay and the consumers, only where workers run; it returns once
# ``runtime.stop`` is set.
Worker = Callable[["Runtime"], Coroutine[Any, Any, None]]


# Dependencies are async: FastAPI runs a plain `def` dependency in a thread, a hop per request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_pool(request: Request) -> asyncpg.Pool:
    # A request with an Idempotency-Key gets the connection whose transaction records the key.
    return idempotency.request_pool(request.app.state.runtime.pool)


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
    workers: Sequence[Worker] = (),
) -> FastAPI:
    logs.configure(settings.service_name, settings.log_level, settings.log_json)
    telemetry.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, migrations, handlers or {}, on_started, workers)
        app.state.runtime = runtime
        freeze_heap()
        log.info("%s started", settings.service_name)
        try:
            yield
        finally:
            await stop_runtime(runtime)
            log.info("%s stopped", settings.service_name)

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  telemetry=telemetry.fastapi_telemetry(settings))
    app.state.settings = settings
    app.state.spec = ServiceSpec(settings, migrations, handlers or {}, on_started, tuple(workers))
    app.state.token_verifier = TokenVerifier(settings)
    problems.install(app)
    # Pure ASGI middleware, innermost first. The body limit is Starlette's RequestBodyLimitMiddleware
    # (it counts bodies as they stream; reading past the limit raises a 413 the problem handlers render);
    # DeclaredTooLarge, outside it, answers a too-large Content-Length before any byte is read, as
    # problem+json (Starlette's own answer to that case is plain text).
    app.add_middleware(IdempotencyMiddleware, ttl_seconds=settings.idempotency_ttl_seconds,
                       wait_seconds=settings.idempotency_wait_seconds)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=settings.max_body_size)
    app.add_middleware(problems.DeclaredTooLarge, max_body_size=settings.max_body_size)
    app.add_middleware(DatabaseGate)
    app.add_middleware(HttpMetrics, service=settings.service_name)
    if not telemetry.exporting(settings):
        app.add_middleware(telemetry.TraceContext)
    if origins := settings.cors_origins():
        # outermost: a browser's preflight is answered before authentication or body checks
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=list(CORS_METHODS),
                           allow_headers=list(CORS_REQUEST_HEADERS), expose_headers=list(CORS_EXPOSED_HEADERS),
                           max_age=settings.cors_max_age_seconds)
    app.include_router(_operations_router())
    app.include_router(whoami.router)
    for router in routers:
        app.include_router(router)
    responses.install(app)
    return app


def freeze_heap() -> None:
    """Once started: move every object alive now (modules, the app, its routes and models,
    pydantic's validators; most of a process's heap) out of the garbage collector's reach
    (``gc.freeze``). They live as long as the process, yet the full collections that the
    allocations of serving requests set off scanned them every time: pauses of tens of
    milliseconds in the middle of requests. Collections then scan what was made since."""
    gc.collect()
    gc.freeze()


async def start_runtime(settings: ServiceSettings, migrations: Path, handlers: Mapping[str, Handler],
                        on_started: Callable[[Runtime], Awaitable[None]] | None = None,
                        workers: Sequence[Worker] = ()) -> Runtime:
    """Migrate, connect, run ``on_started`` (e.g. seed data), then start the workers.

    Each step that needs an unreachable dependency is retried in the background instead
    of failing the start (see the module docstring)."""
    pool = await _create_pool(settings)
    producer = kafka.producer(settings.kafka_connection(), client_id=settings.service_name)
    runtime = Runtime(settings=settings, pool=pool, producer=producer, workers=tuple(workers))
    runtime.monitor = DependencyMonitor({"database": lambda: _ping_database(runtime),
                                         "kafka": lambda: _ping_kafka(runtime)},
                                        interval=settings.readiness_check_interval)
    if settings.run_workers and handlers:
        runtime.consumer = ConsumerRunner(
            pool=pool,
            consumer_factory=kafka.consumer_factory(settings.kafka_connection(), client_id=settings.service_name),
            producer=producer,
            group_id=group_id_for(settings.service_name, settings.topic_prefix),
            handlers=handlers,
            topic_prefix=settings.topic_prefix,
            max_records=settings.consumer_max_records,
            inbox_retention_days=settings.inbox_retention_days,
        )
    migration_sets = [*db.library_migrations(), db.MigrationSet(settings.service_name, migrations)]

    async def prepare_database() -> None:
        await prepare_schema(settings, migration_sets)
        if on_started is not None:
            await on_started(runtime)
        runtime.database_ready = True

    async def prepare_kafka() -> None:
        await kafka.ensure_topics(settings.kafka_connection(), kafka.all_topics(settings.topic_prefix),
                                  partitions=settings.topic_partitions,
                                  replication_factor=settings.topic_replication_factor,
                                  min_insync_replicas=settings.topic_min_insync_replicas)
        await kafka.start_client(producer, settings.kafka_connection())
        runtime.kafka_ready = True

    # First attempts inline, so a healthy start is complete when the lifespan yields.
    database = await _attempt("database", prepare_database, DATABASE_UNREACHABLE)
    broker = await _attempt("kafka", prepare_kafka, (KafkaError, OSError))
    await runtime.monitor.refresh()
    runtime.tasks.append(asyncio.create_task(runtime.monitor.run(runtime.stop), name="dependency-monitor"))
    if database and broker:
        _start_workers(runtime)
    else:
        runtime.tasks.append(asyncio.create_task(
            _finish_start(runtime, None if database else prepare_database, None if broker else prepare_kafka),
            name="start-up"))
    return runtime


async def _create_pool(settings: ServiceSettings) -> asyncpg.Pool:
    try:
        return await db.create_pool(settings.database_url, min_size=settings.db_pool_min_size,
                                    max_size=settings.db_pool_max_size)
    except DATABASE_UNREACHABLE as exc:
        # A pool without idle connections opens them on first use, once the database is back.
        log.warning("database unreachable at start-up (%s); serving 503 until it answers", exc)
        return await db.create_pool(settings.database_url, min_size=0, max_size=settings.db_pool_max_size)


async def _attempt(name: str, step: Callable[[], Awaitable[None]],
                   unreachable: tuple[type[BaseException], ...]) -> bool:
    try:
        await step()
        return True
    except unreachable as exc:
        log.warning("%s unreachable at start-up (%s: %s); retrying in the background",
                    name, type(exc).__name__, exc)
        return False


async def _finish_start(runtime: Runtime, prepare_database: Callable[[], Awaitable[None]] | None,
                        prepare_kafka: Callable[[], Awaitable[None]] | None) -> None:
    steps = [(n, s) for n, s in (("database", prepare_database), ("kafka", prepare_kafka)) if s is not None]
    for name, step in steps:
        delay = 0.5
        while not runtime.stop.is_set():
            try:
                await step()
                log.info("%s reachable: start-up step done", name)
                break
            except Exception as exc:  # keep trying: the service must come up by itself
                log.info("%s still unreachable (%s: %s); retrying in %.0fs", name, type(exc).__name__, exc, delay)
                with suppress(TimeoutError):
                    await asyncio.wait_for(runtime.stop.wait(), timeout=delay)
                delay = min(delay * 2, 10.0)
    if not runtime.stop.is_set():
        _start_workers(runtime)


def _start_workers(runtime: Runtime) -> None:
    settings = runtime.settings
    if not settings.run_workers:
        return
    runtime.relay = OutboxRelay(
        settings.database_url,
        lambda: kafka.producer(settings.kafka_connection(), client_id=f"{settings.service_name}-relay"),
        topic_prefix=settings.topic_prefix, poll_interval=settings.outbox_poll_interval,
        retention_hours=settings.outbox_retention_hours, name=settings.service_name,
    )
    runtime.tasks.append(asyncio.create_task(runtime.relay.run(runtime.stop), name="outbox-relay"))
    runtime.tasks.append(asyncio.create_task(_housekeeping(runtime), name="housekeeping"))
    for worker in runtime.workers:
        runtime.tasks.append(asyncio.create_task(worker(runtime), name=getattr(worker, "__name__", "worker")))
    if runtime.consumer is not None:
        runtime.tasks.append(asyncio.create_task(_supervise(runtime.consumer, runtime.stop), name="consumer"))


async def _ping_database(runtime: Runtime) -> None:
    async with runtime.pool.acquire(timeout=2) as conn:
        await conn.fetchval("SELECT 1", timeout=2)


async def _ping_kafka(runtime: Runtime) -> None:
    if not runtime.kafka_ready:
        raise ConnectionError("not connected yet (start-up retries in the background)")
    # One request every few seconds in the background, never one per /readyz call; and for no
    # topic: the metadata of every topic on the cluster (thousands on a shared one) took a
    # quarter of a CPU second to decode, every interval, in every API process.
    client = runtime.producer.client
    for broker in client.cluster.brokers():
        try:
            await client.send(broker.nodeId, MetadataRequest([]))
            return
        except (KafkaError, OSError):
            continue
    raise ConnectionError("no broker answered")


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
    """Restart the consumer loop after unexpected failures; the runner reports them."""
    await consumer.supervise(stop)


async def _housekeeping(runtime: Runtime) -> None:
    """Delete expired Idempotency-Keys now and then (one process per deployment is enough: the workers)."""
    settings = runtime.settings
    while not runtime.stop.is_set():
        try:
            await idempotency.delete_expired(runtime.pool, settings.idempotency_ttl_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database being away is not a reason to stop; try again next time
            log.warning("expired idempotency keys not deleted this round", exc_info=True)
        with suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=settings.housekeeping_interval_seconds)


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

    @router.get("/readyz", summary="Readiness: database, Kafka and the consumer, as last checked in the background",
                responses={200: {"model": responses.Readiness}})
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        return readiness(runtime)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def readiness(runtime: Runtime) -> JSONResponse:
    """503 while the database is unreachable (nothing can be served); 200 ``degraded`` while
    Kafka is unreachable or the consumer is not consuming (reads are still served, writes
    wait in the outbox); 200 ``ready`` otherwise. Never a dependency round trip."""
    monitor = runtime.monitor
    assert monitor is not None
    checks = {name: state.summary for name, state in monitor.states.items()}
    if not runtime.database_ready and monitor.ok("database"):
        checks["database"] = "error: migrations not applied yet"
    body: dict[str, Any] = {"checks": checks}
    consumer_ok = True
    if runtime.consumer is not None:
        body["consumer"] = {"group": runtime.consumer.group_id, **runtime.consumer.health.as_dict()}
        consumer_ok = runtime.consumer.health.consuming
    if checks["database"] != "ok":
        problem = problems.problem_body(503, "Not ready", "the database is unreachable", slug="not-ready", **body)
        return problems.problem_response(problem, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    status = "ready" if checks["kafka"] == "ok" and consumer_ok else "degraded"
    return JSONResponse({"status": status, **body})


OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                        "/redoc"})


class DatabaseGate:
    """Until the database is migrated, only the operations endpoints answer; the rest 503 (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
            if runtime is not None and not runtime.database_ready:
                response = problems.problem_response(
                    problems.problem_body(503, "Service unavailable", "the database is unreachable; retry later",
                                          slug="unavailable"),
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HttpMetrics:
    """Request count and latency per route, as pure ASGI (no task or body buffering per request)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, route).observe(time.perf_counter() - started)
