"""The weekly review pack, sent: ``ReviewPackPublished`` once per ended ISO week.

The worker's timer (``review_timer``) looks every ``review_pack_interval`` seconds for the
last week that has ended (the ISO week before the current one, UTC) and, unless it is
published already, computes its pack over every campaign (``reviews.pack``, no caller: the
pack goes to the read-everything roles) and publishes its headline through the outbox.
A row of ``review_pack_publications`` keyed by the pack id decides which transaction
publishes: with two replicas (or two timers) racing, the second insert finds the first's
row and publishes nothing. Weeks the worker was down across are caught up: each pass
publishes every ended week after the last one published, oldest first (``due_weeks``), at
most the last ``CATCH_UP_WEEKS`` and none before the week of the read model's first event.
With nothing published yet (a fresh install) only the last ended week goes out.

Governance consumes the event and sends it to its directory's users whose roles read every
campaign (e-mail and signed webhook), like any notice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import suppress
from decimal import Decimal
from typing import Any, cast

import asyncpg

from marops_events import contracts as c
from marops_events import outbox, registry
from marops_events.envelope import utcnow
from marops_service.app import Runtime
from marops_service.clock import Clock
from marops_service.transactions import in_transaction

from .aggregates import Filters
from .readside import Scope
from .reviews import Period, Window, pack, previous, window
from .settings import Settings

log = logging.getLogger(__name__)
SOURCE = "marops/metrics"


def pack_id(period: Period, w: Window) -> str:
    return f"{period.value}-{w.first.isoformat()}"


def last_ended(period: Period, now: dt.datetime) -> Window:
    """The last period of its kind that ended before ``now`` (UTC)."""
    return previous(period, window(period, now.astimezone(dt.UTC).date()))


def _number(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def announcement(body: dict[str, Any], period: Period, w: Window) -> c.ReviewPackPublished:
    """What the event says of a pack: its period, the headline numbers, how long each list is."""
    return c.ReviewPackPublished(
        pack_id=pack_id(period, w), period=c.ReviewPeriod(period.value), start=w.first, end=w.last,
        as_of=body["as_of"], path=f"/reviews?period={period.value}&start={w.first.isoformat()}",
        headline=[c.ReviewFigure(metric=h["metric"], current=_number(h["current"]), previous=_number(h["previous"]))
                  for h in body["headline"]],
        sections=c.ReviewSections(
            gates_overdue=len(body["gates_overdue"]), sla_breaches=len(body["sla_breaches"]),
            launches=body["launches"]["count"], late_launches=len(body["launches"]["late"]),
            off_pace=len(body["off_pace"]), blocking_risks=len(body["blocking_risks"]),
            completed_without_results=len(body["completed_without_results"]),
            completed_without_retrospective=len(body["completed_without_retrospective"]),
            rejections=body["rework"]["rejections"]),
    )


async def publish(pool: asyncpg.Pool, period: Period, w: Window, now: dt.datetime) -> bool:
    """Publish the pack of ``w`` unless it was published already; whether this call did."""
    key = pack_id(period, w)
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT true FROM review_pack_publications WHERE pack_id = $1", key):
            return False
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            body = await pack(conn, Scope(Filters()), period, w, now)
    event = registry.new_event(announcement(body, period, w), source=SOURCE, time=now)

    async def work(conn: asyncpg.Connection) -> bool:
        # the row decides: of two racing transactions the second waits for the first's
        # commit, then finds the key taken and publishes nothing
        inserted = await conn.fetchval(
            """
            INSERT INTO review_pack_publications (pack_id, period, start_on, end_on, event_id, published_at)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pack_id) DO NOTHING RETURNING true
            """, key, period.value, w.first, w.last, event.id, now)
        if inserted:
            await outbox.add(conn, event)
        return bool(inserted)

    return await in_transaction(pool, work)


CATCH_UP_WEEKS = 8


def due_weeks(last: Window, published: dt.date | None, first_event: dt.date | None) -> list[Window]:
    """The weeks to publish, oldest first, up to ``last`` (the last ended one): those after
    ``published`` (the first day of the last week published; none: only ``last``), at most
    ``CATCH_UP_WEEKS`` of them and none before the week holding ``first_event``."""
    if published is None:
        return [last]
    floor = last.first - dt.timedelta(weeks=CATCH_UP_WEEKS - 1)
    if first_event is not None:
        floor = max(floor, window(Period.week, first_event).first)
    weeks: list[Window] = []
    w = last
    while w.first > published and w.first >= floor:
        weeks.append(w)
        w = previous(Period.week, w)
    return weeks[::-1]


async def publish_due(pool: asyncpg.Pool, clock: Clock) -> list[str]:
    """One pass of the timer: the ids of the packs this pass published, oldest first."""
    now = clock()
    last = last_ended(Period.week, now)
    async with pool.acquire() as conn:
        published = await conn.fetchval(
            "SELECT max(start_on) FROM review_pack_publications WHERE period = 'week' AND start_on <= $1",
            last.first)
        if published is not None and published >= last.first:
            return []  # the usual pass: the last week is out, so no read of the event log's start
        first_event = await conn.fetchval("SELECT min(occurred_at) FROM readmodel.event_log")
    first_day = first_event.astimezone(dt.UTC).date() if first_event is not None else None
    done = []
    for w in due_weeks(last, published, first_day):
        if await publish(pool, Period.week, w, now):
            done.append(pack_id(Period.week, w))
    return done


async def review_timer(runtime: Runtime) -> None:
    """The worker's timer: ``publish_due`` every ``review_pack_interval`` seconds."""
    settings = cast(Settings, runtime.settings)
    while not runtime.stop.is_set():
        try:
            for published in await publish_due(runtime.pool, utcnow):
                log.info("review pack %s published", published)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database being away is no reason to stop: next round
            log.warning("review pack pass failed; next in %.0fs", settings.review_pack_interval, exc_info=True)
        with suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=settings.review_pack_interval)
