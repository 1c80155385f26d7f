"""The open gates, indexed: what the approval queue and the deadline timer read instead of
deriving every campaign in review on each request and pass.

Gate state is derived from the facts in Python (the policy decides which gates apply), so
the index cannot be a view. Triggers on the fact tables that gates depend on mark a
campaign stale in the same transaction as the fact (migration 006); whoever reads the
index first re-derives the stale campaigns (``refresh``), so a reader never sees a gate
older than the facts committed before it started. The index only narrows the search and
orders it: the page it finds is loaded and judged by the domain (``approval_queue``) as
before, so rights, four-eyes and the access model are decided in one place. A row left
over (a gate decided, a campaign cancelled) costs a look but is never shown; a gate
missing from the index would be, which is why every fact that opens one marks.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

import asyncpg

from marops_service.access import can_read_campaign
from marops_service.auth import Principal
from marops_service.transactions import in_transaction, snapshot

from . import domain, repository
from .domain import Campaign, GateStatus, QueueItem, decision_views

REFRESH_BATCH = 1_000


@dataclass(frozen=True)
class IndexedGate:
    campaign_id: str
    brief_version: int
    gate_id: str
    in_queue: bool  # the gate the approval queue offers: a pending change's, else the version's current one
    actionable_at: dt.datetime
    due_at: dt.datetime
    decider_roles: tuple[str, ...]
    decider_users: tuple[str, ...]
    escalation_role: str


def entries(campaign: Campaign) -> list[IndexedGate]:
    """The campaign's open gates as the index holds them."""
    views = decision_views(campaign)
    queued = views[-1].current_gate if views else None  # the change's view comes last
    found = []
    for view in views:
        for gate in view.gates:
            if gate.status is not GateStatus.open or gate.actionable_at is None or gate.due_at is None:
                continue
            d = gate.definition
            found.append(IndexedGate(
                view.campaign_id, view.brief.version, gate.id, view is views[-1] and gate is queued,
                gate.actionable_at, gate.due_at, tuple(sorted({r.role.value for r in d.deciders if r.role})),
                tuple(sorted({r.user for r in d.deciders if r.user})), d.escalation_role.value))
    return found


async def refresh(pool: asyncpg.Pool) -> int:
    """Re-derive the campaigns marked stale; how many.

    Each batch holds its marks' row locks while it derives, so a fact written meanwhile
    marks its campaign again once the batch commits. A mark locked by someone else is
    skipped (``SKIP LOCKED``): a writer's fact not committed yet, or another refresh at
    work; waiting for either could deadlock with a consumer's batch marking several
    campaigns in its own order."""
    async with pool.acquire() as conn:  # the usual case, nothing stale: one round trip, no transaction
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM gate_index_stale)"):
            return 0
    total = 0
    while True:
        done = await in_transaction(pool, _refresh_batch)
        total += done
        if done < REFRESH_BATCH:
            return total


async def _refresh_batch(conn: asyncpg.Connection) -> int:
    ids = [r["campaign_id"] for r in await conn.fetch(
        "SELECT campaign_id FROM gate_index_stale ORDER BY campaign_id LIMIT $1 FOR UPDATE SKIP LOCKED", REFRESH_BATCH)]
    if not ids:
        return 0
    campaigns = await repository.load_campaigns(conn, ids)
    rows = [e for campaign in campaigns.values() for e in entries(campaign)]
    await conn.execute("DELETE FROM open_gates WHERE campaign_id = ANY($1::text[])", ids)
    await conn.executemany(
        """
        INSERT INTO open_gates (campaign_id, brief_version, gate_id, in_queue, actionable_at, due_at,
                                decider_roles, decider_users, escalation_role)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        [(e.campaign_id, e.brief_version, e.gate_id, e.in_queue, e.actionable_at, e.due_at, list(e.decider_roles),
          list(e.decider_users), e.escalation_role) for e in rows])
    await conn.execute("DELETE FROM gate_index_stale WHERE campaign_id = ANY($1::text[])", ids)
    return len(ids)


# --- the approval queue ------------------------------------------------------------------


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class QueueCursor:
    """Where a page of the queue ended; later pages judge "overdue" as of the first page."""

    as_of: dt.datetime
    due_at: dt.datetime
    campaign_id: str

    def encode(self) -> str:
        raw = json.dumps([self.as_of.isoformat(), self.due_at.isoformat(), self.campaign_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> QueueCursor:
        try:
            as_of, due_at, campaign_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(dt.datetime.fromisoformat(as_of), dt.datetime.fromisoformat(due_at), str(campaign_id))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InvalidCursor(f"not a cursor of this queue: {text[:40]!r}") from exc
        if cursor.as_of.tzinfo is None or cursor.due_at.tzinfo is None:
            raise InvalidCursor("not a cursor of this queue: times without a zone")
        return cursor


@dataclass(frozen=True)
class QueuePage:
    as_of: dt.datetime
    items: list[QueueItem]
    next_cursor: str | None


async def queue(pool: asyncpg.Pool, actor: Principal, now: dt.datetime, *, limit: int,
                after: QueueCursor | None = None) -> QueuePage:
    """The first ``limit`` gates of the actor's queue after ``after``: overdue first, then by
    due time. The index proposes every gate the actor's roles or name could reach; the
    domain keeps those the actor may decide and may read."""
    await refresh(pool)
    as_of = after.as_of if after else now
    items: list[QueueItem] = []
    position = (after.due_at, after.campaign_id) if after else None
    async with snapshot(pool) as conn:
        while len(items) <= limit:
            candidates = await _candidates(conn, actor, as_of, position, limit + 1)
            if not candidates:
                break
            position = candidates[-1]
            campaigns = await repository.load_campaigns(conn, [cid for _, cid in candidates])
            readable = [campaigns[cid] for _, cid in candidates
                        if cid in campaigns and can_read_campaign(actor, campaigns[cid].parties)]
            items += domain.approval_queue(readable, actor, as_of)
            if len(candidates) <= limit:
                break
    page = items[:limit]
    more = len(items) > limit
    last = page[-1] if page else None
    cursor = None
    if more and last is not None and last.gate.due_at is not None:
        cursor = QueueCursor(as_of, last.gate.due_at, last.campaign.campaign_id).encode()
    return QueuePage(as_of, page, cursor)


async def _candidates(conn: asyncpg.Connection, actor: Principal, as_of: dt.datetime,
                      after: tuple[dt.datetime, str] | None, limit: int) -> list[tuple[dt.datetime, str]]:
    # (not overdue, due_at, campaign_id) is the queue's order; overdue means as_of > due_at
    rows = await conn.fetch(
        """
        SELECT due_at, campaign_id FROM open_gates
        WHERE in_queue
          AND (decider_roles && $1::text[] OR $2 = ANY(decider_users)
               OR (escalation_role = ANY($1::text[]) AND due_at < $3))
          AND ($4::timestamptz IS NULL OR (due_at >= $3, due_at, campaign_id) > ($4 >= $3, $4, $5))
        ORDER BY due_at >= $3, due_at, campaign_id
        LIMIT $6
        """,
        sorted(r.value for r in actor.roles), actor.subject, as_of,
        after[0] if after else None, after[1] if after else None, limit)
    return [(r["due_at"], r["campaign_id"]) for r in rows]


# --- the deadline timer ------------------------------------------------------------------


async def due_for_sweep(pool: asyncpg.Pool, now: dt.datetime, warning: dt.timedelta) -> list[str]:
    """Campaigns with an open gate past its reminder time whose breach is not announced yet."""
    await refresh(pool)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT DISTINCT g.campaign_id FROM open_gates g
            WHERE g.due_at - LEAST($2::interval, (g.due_at - g.actionable_at) / 2) <= $1
              AND NOT EXISTS (SELECT 1 FROM sla_breaches b WHERE b.campaign_id = g.campaign_id
                              AND b.brief_version = g.brief_version AND b.gate_id = g.gate_id)
            ORDER BY 1
            """,
            now, warning)
    return [r["campaign_id"] for r in rows]
