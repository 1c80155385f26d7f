"""Per-campaign derived rows (``campaigns``, ``campaign_money``), recomputed from facts.

After a batch merged its facts, the campaigns it touched are derived again with the
domain's own functions (``build_campaigns``), so a row holds exactly the numbers the
pure computation gives, and reports can aggregate them in SQL.

Two consumers (replicas, or the live consumer and a rebuild's catch-up) may touch one
campaign at once, each having merged a different fact. Each takes a per-campaign
transaction lock *after* merging and *before* reading the facts back: whoever derives
last waits for the other's commit and sees both facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import asyncpg

from . import repository
from .aggregates import campaign_variance
from .domain import Campaign, QuarterBasis, build_campaigns, utc_date
from .projection import bump_revision, checked

CAMPAIGN_LOCK_SPACE = 0x6D65  # first key of the two-key advisory locks on campaigns
CHUNK = 2000  # campaigns derived per round when deriving everything

_CAMPAIGN_COLUMNS = (
    "campaign_id", "title", "team", "owner", "authors", "channels", "status", "submitted", "latest_version",
    "revisions", "rejections", "first_submitted_at", "submitted_on", "submission_quarter", "target_launch_date",
    "launched_at", "launched_on", "launch_quarter", "on_time", "cycle_time_hours", "data_complete",
    "cancelled_at", "completed_at", "budget_line_id", "default_spend_line", "committed_line_id", "committed",
    "committed_currency",
)
_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "boolean", "integer", "integer", "integer",
    "timestamptz", "date", "text", "date", "timestamptz", "date", "text", "boolean", "float8", "boolean",
    "timestamptz", "timestamptz", "text", "text", "text", "numeric", "text",
)
_SEP = "\x1f"  # joins a row's text[] values (user ids, channels) to pass them through unnest


def campaign_values(c: Campaign) -> tuple[Any, ...]:
    latest = c.latest
    commitment = c.commitment
    brief_line = latest.budget_line_id if latest else None
    return (
        c.campaign_id, latest.title if latest else None, c.team, latest.owner if latest else None,
        _SEP.join(sorted(c.authors)), _SEP.join(c.channels), c.status.value, c.submitted, c.latest_version,
        c.revisions, c.rejections, c.first_submitted_at,
        utc_date(c.first_submitted_at) if c.first_submitted_at else None, c.quarter(QuarterBasis.submission),
        c.target_launch_date, c.launched_at, utc_date(c.launched_at) if c.launched_at else None,
        c.quarter(QuarterBasis.launch), c.on_time, c.cycle_time_hours, c.data_complete, c.cancelled_at,
        c.completed_at, c.committed_line or brief_line,
        commitment.budget_line_id if commitment is not None else brief_line,
        commitment.budget_line_id if commitment is not None else None,
        c.committed if commitment is not None else None, c.committed_currency,
    )


def money_values(c: Campaign) -> list[tuple[str, str, Decimal, Decimal, Decimal, bool]]:
    spent = {s.currency for s in c.spends}
    return [(c.campaign_id, cur, v.committed, v.actual, v.unreconciled, cur in spent)
            for cur, v in campaign_variance(c).items()]


async def refresh(conn: asyncpg.Connection, schema: str, campaign_ids: Iterable[str]) -> None:
    """Derive ``campaign_ids`` again from their facts (inside the caller's transaction)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return
    s = checked(schema)
    # In id order, so two transactions locking overlapping sets cannot deadlock.
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(id)) FROM (SELECT unnest($2::text[]) AS id ORDER BY 1) ids",
        CAMPAIGN_LOCK_SPACE, ids)
    campaigns = build_campaigns(await repository.fetch_facts(conn, s, ids))
    await write(conn, s, ids, campaigns)


async def write(conn: asyncpg.Connection, schema: str, ids: list[str], campaigns: list[Campaign]) -> None:
    s = checked(schema)
    await conn.execute(f"DELETE FROM {s}.campaigns WHERE campaign_id = ANY($1::text[])", ids)
    await conn.execute(f"DELETE FROM {s}.campaign_money WHERE campaign_id = ANY($1::text[])", ids)
    rows = [campaign_values(c) for c in campaigns]
    if rows:
        unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))
        select = ", ".join(
            f"string_to_array({col}, E'\\x1f')" if col in ("authors", "channels") else col
            for col in _CAMPAIGN_COLUMNS)
        await conn.execute(
            f"INSERT INTO {s}.campaigns ({', '.join(_CAMPAIGN_COLUMNS)}) SELECT {select} "
            f"FROM unnest({unnest}) AS x({', '.join(_CAMPAIGN_COLUMNS)})",
            *([r[i] for r in rows] for i in range(len(_CAMPAIGN_COLUMNS))))
    money = [m for c in campaigns for m in money_values(c)]
    if money:
        await conn.execute(
            f"INSERT INTO {s}.campaign_money (campaign_id, currency, committed, actual, unreconciled, has_spend) "
            f"SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], "
            f"$6::boolean[])",
            *([m[i] for m in money] for i in range(6)))


async def refresh_all(pool: asyncpg.Pool, schema: str) -> int:
    """Derive every campaign of ``schema`` (a rebuild, before its swap), a chunk at a time
    so memory stays bounded whatever the history's size. Returns the campaigns derived."""
    s = checked(schema)
    async with pool.acquire() as conn:
        ids = [r[0] for r in await conn.fetch(_ALL_CAMPAIGNS.format(s=s))]
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        async with pool.acquire() as conn, conn.transaction():
            await write(conn, s, chunk, build_campaigns(await repository.fetch_facts(conn, s, chunk)))
    return len(ids)


async def refresh_missing(pool: asyncpg.Pool, schema: str) -> int:
    """Derive campaigns that have facts but no derived row (facts stored before the derived
    rows existed). Cheap when there are none; run at start-up."""
    s = checked(schema)
    async with pool.acquire() as conn:
        ids = [r[0] for r in await conn.fetch(
            f"SELECT id FROM ({_ALL_CAMPAIGNS.format(s=s)}) f(id) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {s}.campaigns c WHERE c.campaign_id = f.id)")]
    for i in range(0, len(ids), CHUNK):
        async with pool.acquire() as conn, conn.transaction():
            await refresh(conn, s, ids[i:i + CHUNK])
            await bump_revision(conn, s)
    return len(ids)


_ALL_CAMPAIGNS = """
    SELECT campaign_id FROM {s}.brief_versions UNION SELECT campaign_id FROM {s}.gate_decisions
    UNION SELECT campaign_id FROM {s}.launches UNION SELECT campaign_id FROM {s}.cancellations
    UNION SELECT campaign_id FROM {s}.completions UNION SELECT campaign_id FROM {s}.commitments
    UNION SELECT campaign_id FROM {s}.releases UNION SELECT campaign_id FROM {s}.spends
    ORDER BY 1
"""
