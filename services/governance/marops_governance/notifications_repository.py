"""The SQL of notifications: the directory, announced SLA breaches and the delivery log."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from marops_service.auth import Role

from .notifications import Delivery, Kind, Recipient

DIRECTORY_COLUMNS = "subject, name, email, roles, webhook_url, webhook_secret IS NOT NULL AS has_secret, kinds, " \
                    "updated_at, updated_by"
DELIVERY_COLUMNS = """
    id, dedupe_key, kind, campaign_id, recipient, channel, target, subject, body, payload, status, attempts,
    next_attempt_at, last_error, created_at, sent_at, replay_of
"""


def recipient_of(row: asyncpg.Record) -> Recipient:
    return Recipient(subject=row["subject"], email=row["email"], name=row["name"],
                     roles=frozenset(Role(r) for r in row["roles"] if r in Role.__members__),
                     webhook_url=row["webhook_url"],
                     kinds=frozenset(Kind(k) for k in row["kinds"] if k in Kind.__members__))


# --- directory -----------------------------------------------------------------------


async def directory(conn: asyncpg.Connection) -> list[Recipient]:
    """Everyone who can be told anything (a small table: one row per person or system)."""
    return [recipient_of(r) for r in await conn.fetch(f"SELECT {DIRECTORY_COLUMNS} FROM directory_users")]


async def directory_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {DIRECTORY_COLUMNS} FROM directory_users ORDER BY subject")


async def directory_row(conn: asyncpg.Connection, subject: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {DIRECTORY_COLUMNS} FROM directory_users WHERE subject = $1", subject)


async def put_directory_user(conn: asyncpg.Connection, subject: str, *, name: str | None, email: str | None,
                             roles: Sequence[str], webhook_url: str | None, webhook_secret: str | None,
                             kinds: Sequence[str], by: str, at: dt.datetime) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""
        INSERT INTO directory_users (subject, name, email, roles, webhook_url, webhook_secret, kinds, updated_at,
                                     updated_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (subject) DO UPDATE SET
            name = EXCLUDED.name, email = EXCLUDED.email, roles = EXCLUDED.roles, webhook_url = EXCLUDED.webhook_url,
            webhook_secret = EXCLUDED.webhook_secret, kinds = EXCLUDED.kinds, updated_at = EXCLUDED.updated_at,
            updated_by = EXCLUDED.updated_by
        RETURNING {DIRECTORY_COLUMNS}
        """,
        subject, name, email, list(roles), webhook_url, webhook_secret, list(kinds), at, by,
    )


async def delete_directory_user(conn: asyncpg.Connection, subject: str) -> None:
    await conn.execute("DELETE FROM directory_users WHERE subject = $1", subject)


async def webhook_secret(conn: asyncpg.Connection, subject: str) -> str | None:
    """The recipient's current secret: a rotated secret signs the retries too."""
    secret: str | None = await conn.fetchval("SELECT webhook_secret FROM directory_users WHERE subject = $1",
                                             subject)
    return secret


# --- SLA breaches --------------------------------------------------------------------


async def mark_breach(conn: asyncpg.Connection, campaign_id: str, brief_version: int, gate_id: str,
                      due_at: dt.datetime, noticed_at: dt.datetime) -> bool:
    """True for the one transaction that records the breach first (it publishes the events)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO sla_breaches (campaign_id, brief_version, gate_id, due_at, noticed_at)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true
        """,
        campaign_id, brief_version, gate_id, due_at, noticed_at,
    )
    return bool(inserted)


# --- deliveries ------------------------------------------------------------------------


def _payload(d: Delivery, delivery_id: uuid.UUID, at: dt.datetime) -> dict[str, Any]:
    n = d.notice
    return {"id": str(delivery_id), "kind": n.kind.value, "notification": n.key, "recipient": d.recipient,
            "campaign_id": n.campaign_id, "subject": n.subject, "text": n.text, "data": n.data,
            "created_at": at.isoformat()}


async def queue(conn: asyncpg.Connection, found: Sequence[Delivery], at: dt.datetime) -> int:
    """Queue the deliveries not queued before (by dedupe key); how many were new. A new delivery
    is due at once (``-infinity``), whichever clock queued it; retries are due by the sender's."""
    if not found:
        return 0
    ids = [uuid.uuid4() for _ in found]
    status: str = await conn.execute(
        """
        INSERT INTO notification_deliveries (id, dedupe_key, kind, campaign_id, recipient, channel, target, subject,
                                             body, payload, status, next_attempt_at, created_at)
        SELECT id, key, kind, campaign, recipient, channel, target, subject, body, payload::jsonb, 'pending',
               '-infinity', $12
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                    $9::text[], $10::text[], $11::int[])
             AS x(id, key, kind, campaign, recipient, channel, target, subject, body, payload, n)
        ORDER BY n
        ON CONFLICT (dedupe_key) DO NOTHING
        """,
        ids, [d.dedupe_key for d in found], [d.notice.kind.value for d in found],
        [d.notice.campaign_id for d in found], [d.recipient for d in found], [d.channel.value for d in found],
        [d.target for d in found], [d.notice.subject for d in found], [d.notice.text for d in found],
        [json.dumps(_payload(d, i, at)) for d, i in zip(found, ids, strict=True)], list(range(len(found))), at,
    )
    return int(status.rsplit(" ", 1)[-1])


async def claim_due(conn: asyncpg.Connection, now: dt.datetime, limit: int) -> list[asyncpg.Record]:
    """Pending deliveries due by ``now``, locked for this transaction; others' locked ones skipped
    (two workers never send the same delivery at once)."""
    return await conn.fetch(
        f"""
        SELECT {DELIVERY_COLUMNS} FROM notification_deliveries
        WHERE status = 'pending' AND next_attempt_at <= $1
        ORDER BY next_attempt_at, id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        now, limit,
    )


async def record_attempt(conn: asyncpg.Connection, delivery_id: uuid.UUID, attempt: int, at: dt.datetime, *,
                         error: str | None, status: str, next_attempt_at: dt.datetime | None) -> None:
    await conn.execute(
        "INSERT INTO notification_attempts (delivery_id, attempt, at, ok, error) VALUES ($1, $2, $3, $4, $5)",
        delivery_id, attempt, at, error is None, error,
    )
    await conn.execute(
        """
        UPDATE notification_deliveries
        SET attempts = $2, status = $3, next_attempt_at = $4, last_error = coalesce($5, last_error),
            sent_at = CASE WHEN $3 = 'sent' THEN $6 ELSE sent_at END
        WHERE id = $1
        """,
        delivery_id, attempt, status, next_attempt_at, error, at,
    )


async def deliveries(conn: asyncpg.Connection, *, status: str | None, recipient: str | None,
                     campaign_id: str | None, kind: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {DELIVERY_COLUMNS} FROM notification_deliveries
        WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR recipient = $2)
          AND ($3::text IS NULL OR campaign_id = $3) AND ($4::text IS NULL OR kind = $4)
        ORDER BY created_at DESC, id
        LIMIT $5
        """,
        status, recipient, campaign_id, kind, limit,
    )


async def delivery(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE id = $1", delivery_id)


async def attempts(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT attempt, at, ok, error FROM notification_attempts WHERE delivery_id = $1 "
                            "ORDER BY attempt", delivery_id)


async def replay(conn: asyncpg.Connection, original: asyncpg.Record, by: str, at: dt.datetime) -> uuid.UUID:
    """A new delivery of the same notification to the same target, due now; the original and
    its attempts stay as they were (the log only grows)."""
    new_id = uuid.uuid4()
    payload = {**original["payload"], "id": str(new_id), "replay_of": str(original["id"])}
    await conn.execute(
        """
        INSERT INTO notification_deliveries (id, dedupe_key, kind, campaign_id, recipient, channel, target, subject,
                                             body, payload, status, next_attempt_at, created_at, replay_of)
        SELECT $1::uuid, dedupe_key || ':replay:' || $1::uuid::text || ':' || $2::text, kind, campaign_id, recipient, channel, target,
               subject, body, $4::jsonb, 'pending', '-infinity', $3, id
        FROM notification_deliveries WHERE id = $5
        """,
        new_id, by, at, payload, original["id"],
    )
    return new_id
