"""Use cases: load facts -> derive campaigns -> compute; freshness; starting a rebuild."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from marops_events.registry import EVENTS
from marops_events.telemetry import LAST_EVENT_TIME
from marops_service.app import Runtime
from marops_service.problems import Conflict, NotFound

from . import aggregates, repository
from .aggregates import Filters, GroupBy, Report
from .domain import Campaign, build_campaigns
from .rebuild import Rebuild, RebuildRunning
from .settings import Settings
from .timeline import LoggedEvent, build_timeline


async def campaigns(pool: asyncpg.Pool, campaign_id: str | None = None) -> list[Campaign]:
    return build_campaigns(await repository.load_facts(pool, campaign_id))


GroupedReport = Callable[[list[Campaign], Filters, GroupBy | None], Report]


async def grouped_report(pool: asyncpg.Pool, build: GroupedReport, filters: Filters,
                         group_by: GroupBy | None) -> Report:
    return build(await campaigns(pool), filters, group_by)


async def campaign_table(pool: asyncpg.Pool, filters: Filters) -> Report:
    return aggregates.campaign_table(await campaigns(pool), filters)


async def variance_by_line(pool: asyncpg.Pool, filters: Filters) -> Report:
    return aggregates.variance_by_line(await campaigns(pool), filters)


async def summary(pool: asyncpg.Pool, filters: Filters) -> Report:
    return aggregates.summary(await campaigns(pool), filters)


async def timeline(pool: asyncpg.Pool, campaign_id: str) -> dict[str, Any]:
    rows = await repository.campaign_events(pool, campaign_id)
    if not rows:
        raise NotFound(f"no events for campaign {campaign_id!r}")
    found = await campaigns(pool, campaign_id)
    events = [LoggedEvent(event_id=str(r["event_id"]), event_type=r["event_type"], occurred_at=r["occurred_at"],
                          source=r["source"], data=json.loads(r["data"]), counted=r["counted"]) for r in rows]
    return build_timeline(campaign_id, found[0] if found else None, events)


# --- freshness -----------------------------------------------------------------------


async def freshness(runtime: Runtime) -> dict[str, Any]:
    """Per topic: consumer lag (records behind the high watermark) and the business time
    of the latest event the read model holds."""
    consumer = runtime.consumer
    prefix = runtime.settings.topic_prefix
    applied = await repository.applied_per_type(runtime.pool)
    topics = []
    for spec in EVENTS.values():
        topic = spec.topic(prefix)
        partition_lag = {str(p): lag for (t, p), lag in sorted((consumer.lag if consumer else {}).items())
                         if t == topic}
        count, latest = applied.get(spec.type, (0, None))
        topics.append({
            "topic": topic, "event_type": spec.type,
            "lag": sum(partition_lag.values()) if partition_lag else None, "partition_lag": partition_lag,
            "last_event_time": latest, "events_applied": count,
        })
    known = [t["lag"] for t in topics if t["lag"] is not None]
    run = await repository.latest_run(runtime.pool)
    # A consumer that is restarting or retrying is not consuming, whatever its last lag said.
    consuming = consumer is not None and consumer.health.consuming
    return {
        "consumer_group": consumer.group_id if consumer else None,
        "consuming": consuming,
        "consumer": consumer.health.as_dict() if consumer else None,
        "total_lag": sum(known) if known else None,
        "caught_up": consuming and bool(known) and len(known) == len(topics) and sum(known) == 0,
        "last_event_time": max((t["last_event_time"] for t in topics if t["last_event_time"]), default=None),
        "topics": topics,
        "last_rebuild": run_body(run) if run else None,
    }


async def seed_freshness(runtime: Runtime) -> None:
    """After a restart, report the last event time the read model already holds rather than
    nothing until the next event arrives."""
    consumer = runtime.consumer
    if consumer is None:
        return
    applied = await repository.applied_per_type(runtime.pool)
    for event_type, (_, latest) in applied.items():
        if event_type not in EVENTS or latest is None:
            continue
        topic = EVENTS[event_type].topic(runtime.settings.topic_prefix)
        if latest > consumer.last_event_time.get(topic, datetime.min.replace(tzinfo=UTC)):
            consumer.last_event_time[topic] = latest
            LAST_EVENT_TIME.labels(consumer.group_id, topic).set(latest.timestamp())


# --- rebuild -------------------------------------------------------------------------


async def start_rebuild(runtime: Runtime, requested_by: str) -> dict[str, Any]:
    """Start a rebuild in the background; its progress is a rebuild run."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    try:
        run = await Rebuild.begin(settings, runtime.pool, trigger="api", requested_by=requested_by)
    except RebuildRunning as exc:
        raise Conflict(str(exc), slug="rebuild-running") from None
    task = asyncio.create_task(_quietly(run.execute(runtime.stop)), name=f"rebuild-{run.run_id}")
    runtime.tasks.append(task)
    task.add_done_callback(lambda t: t in runtime.tasks and runtime.tasks.remove(t))
    return {"run_id": str(run.run_id), "status": "running", "href": f"/admin/rebuilds/{run.run_id}"}


async def _quietly(work: Any) -> None:
    # The outcome is recorded in rebuild_runs (and logged); nobody awaits this task.
    try:
        await work
    except Exception:
        pass


async def rebuild_run(pool: asyncpg.Pool, run_id: uuid.UUID) -> dict[str, Any]:
    row = await repository.get_run(pool, run_id)
    if row is None:
        raise NotFound(f"rebuild run {run_id} does not exist")
    return run_body(row)


def run_body(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "run_id": str(row["id"]), "trigger": row["trigger"], "requested_by": row["requested_by"],
        "status": row["status"], "started_at": row["started_at"], "finished_at": row["finished_at"],
        "events_applied": row["events_applied"], "records_skipped": row["records_skipped"],
        "high_watermarks": json.loads(row["watermarks"]) if row["watermarks"] else None, "error": row["error"],
    }
