"""Use cases: load facts -> derive campaigns -> compute; freshness; starting a rebuild."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from marops_events.registry import EVENTS
from marops_events.telemetry import LAST_EVENT_TIME
from marops_service import access
from marops_service.app import Runtime
from marops_service.auth import Principal
from marops_service.refusals import Refusal

from . import derive, readside, repository
from .aggregates import GroupBy, Report
from .domain import Campaign, build_campaigns
from .handlers import CONSUMED_TYPES
from .projection import LIVE_SCHEMA
from .readside import Scope
from .rebuild import Rebuild, RebuildRunning
from .refusals import MetricsRefusal
from .settings import Settings
from .timeline import LoggedEvent, build_timeline


async def campaigns(pool: asyncpg.Pool, campaign_id: str | None = None) -> list[Campaign]:
    """Campaigns derived by the domain from their facts (a timeline's one campaign)."""
    return build_campaigns(await repository.load_facts(pool, campaign_id))


GroupedReport = Callable[[asyncpg.Pool, Scope, GroupBy | None], Awaitable[Report]]


def _campaign_report(name: str) -> GroupedReport:
    return lambda pool, scope, group_by: readside.campaign_report(pool, name, scope, group_by)


def _gate_report(name: str) -> GroupedReport:
    return lambda pool, scope, group_by: readside.gate_report(pool, name, scope, group_by)


# The grouped reports, by the last part of their path.
GROUPED: dict[str, GroupedReport] = {
    "cycle-time": _campaign_report("cycle_time"),
    "gate-times": _gate_report("time_in_gate"),
    "sla-breaches": _gate_report("sla_breaches"),
    "rework": _campaign_report("rework"),
    "on-time": _campaign_report("on_time_launch"),
    "data-completeness": _campaign_report("data_completeness"),
    "variance/campaigns": readside.variance_by_campaign,
    "variance/months": readside.spend_by_month,
}


async def campaign_table(pool: asyncpg.Pool, scope: Scope, *, limit: int, cursor: str | None) -> Report:
    after = None
    if cursor is not None:
        after = readside.decode_cursor(cursor)
        if after is None:
            raise invalid_cursor()
    return await readside.campaign_table(pool, scope, limit=limit, after=after)


async def timeline(pool: asyncpg.Pool, campaign_id: str, principal: Principal, *, limit: int,
                   cursor: str | None = None) -> dict[str, Any]:
    """A page of a campaign's history; a campaign the caller may not read does not exist."""
    after = _timeline_cursor(cursor) if cursor is not None else None
    found = await campaigns(pool, campaign_id)
    campaign = found[0] if found else None
    parties = (access.CampaignParties.of(campaign.team, campaign.latest.owner if campaign.latest else None,
                                         campaign.authors)
               if campaign else access.CampaignParties(team=None, owner=None))
    rows = await repository.campaign_events(pool, campaign_id, limit=limit + 1, after=after)
    if (not rows and after is None) or not access.can_read_campaign(principal, parties):
        raise Refusal(MetricsRefusal.not_found, f"no events for campaign {campaign_id!r}")
    events = [LoggedEvent(event_id=str(r["event_id"]), event_type=r["event_type"], occurred_at=r["occurred_at"],
                          source=r["source"], data=json.loads(r["data"]), counted=r["counted"]) for r in rows[:limit]]
    first = None
    if after is not None and not (campaign and campaign.version1_submitted_at):
        first = await repository.first_event_time(pool, campaign_id)
    body = build_timeline(campaign_id, campaign, events, previous=after[0] if after else None, first_event_at=first)
    last = rows[limit - 1] if len(rows) > limit else None
    body["limit"] = limit
    body["next_cursor"] = readside.encode_cursor(f"{last['occurred_at'].isoformat()}|{last['event_id']}") \
        if last is not None else None
    return body


def _timeline_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    text = readside.decode_cursor(cursor)
    try:
        moment, event_id = (text or "").split("|")
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(event_id)
    except ValueError:
        raise invalid_cursor() from None


def invalid_cursor() -> Refusal:
    return Refusal(MetricsRefusal.invalid_cursor, "the cursor is not one this service gave out",
                   errors=[{"path": "query.cursor", "message": "invalid cursor", "type": "value_error"}])


# --- freshness -----------------------------------------------------------------------


async def freshness(runtime: Runtime) -> dict[str, Any]:
    """Per topic: consumer lag (records behind the high watermark) and the business time
    of the latest event the read model holds."""
    consumer = runtime.consumer
    prefix = runtime.settings.topic_prefix
    applied = await repository.applied_per_type(runtime.pool)
    topics = []
    for spec in (EVENTS[t] for t in CONSUMED_TYPES):
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


async def on_started(runtime: Runtime) -> None:
    # Facts stored before the derived rows existed (an upgrade) get theirs before serving.
    await derive.refresh_missing(runtime.pool, LIVE_SCHEMA)
    await seed_freshness(runtime)


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
        raise Refusal(MetricsRefusal.rebuild_running, str(exc)) from None
    task = asyncio.create_task(_quietly(run.execute(runtime.stop)), name=f"rebuild-{run.run_id}")
    runtime.tasks.append(task)

    def forget(done: asyncio.Task[Any]) -> None:
        if done in runtime.tasks:
            runtime.tasks.remove(done)

    task.add_done_callback(forget)
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
        raise Refusal(MetricsRefusal.not_found, f"rebuild run {run_id} does not exist")
    return run_body(row)


def run_body(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "run_id": str(row["id"]), "trigger": row["trigger"], "requested_by": row["requested_by"],
        "status": row["status"], "started_at": row["started_at"], "finished_at": row["finished_at"],
        "events_applied": row["events_applied"], "records_skipped": row["records_skipped"],
        "high_watermarks": json.loads(row["watermarks"]) if row["watermarks"] else None,
        "skipped_records": json.loads(row["skips"]), "error": row["error"],
    }
