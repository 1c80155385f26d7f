"""Reading the read model: facts for the aggregates, timelines, freshness, rebuild runs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from .domain import BriefVersion, Commitment, Facts, GateDecision, Launch, Milestone, Release, Spend
from .projection import LIVE_SCHEMA, checked

S = LIVE_SCHEMA


async def load_facts(pool: asyncpg.Pool, campaign_id: str | None = None) -> Facts:
    """All facts (or one campaign's), read from one snapshot so the aggregates agree."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await fetch_facts(conn, S, None if campaign_id is None else [campaign_id])


async def fetch_facts(conn: asyncpg.Connection, schema: str, campaign_ids: list[str] | None) -> Facts:
    """The facts of ``campaign_ids`` (every campaign when None) in ``schema``."""
    s = checked(schema)
    # Two distinct statements, not "$1 IS NULL OR ...": a generic plan of the latter never
    # uses the campaign indexes.
    only = "WHERE campaign_id = ANY($1::text[])" if campaign_ids is not None else "WHERE $1::text[] IS NULL"
    ids = campaign_ids
    briefs = await conn.fetch(f"SELECT * FROM {s}.brief_versions {only}", ids)
    decisions = await conn.fetch(f"SELECT * FROM {s}.gate_decisions {only}", ids)
    launches = await conn.fetch(f"SELECT * FROM {s}.launches {only}", ids)
    cancellations = await conn.fetch(f"SELECT campaign_id, cancelled_at FROM {s}.cancellations {only}", ids)
    completions = await conn.fetch(f"SELECT campaign_id, completed_at FROM {s}.completions {only}", ids)
    commitments = await conn.fetch(f"SELECT * FROM {s}.commitments {only}", ids)
    releases = await conn.fetch(f"SELECT campaign_id, released_at, brief_version FROM {s}.releases {only}", ids)
    spends = await conn.fetch(
        f"""
        SELECT s.*, coalesce(r.status = 'unreconciled', false) AS unreconciled
        FROM {s}.spends s LEFT JOIN {s}.spend_reconciliations r USING (source_system, source_reference)
        {only.replace("campaign_id", "s.campaign_id")}
        """, ids)
    return Facts(
        briefs=tuple(
            BriefVersion(
                campaign_id=r["campaign_id"], version=r["version"], submitted_at=r["submitted_at"],
                title=r["title"], team=r["team"], owner=r["owner"], channels=tuple(r["channels"]),
                target_launch_date=r["target_launch_date"], requested_amount=r["requested_amount"],
                requested_currency=r["requested_currency"], budget_line_id=r["budget_line_id"],
                authors=tuple(r["authors"]),
            ) for r in briefs),
        decisions=tuple(
            GateDecision(
                campaign_id=r["campaign_id"], brief_version=r["brief_version"], gate_id=r["gate_id"],
                gate_name=r["gate_name"], gate_position=r["gate_position"], is_last_gate=r["is_last_gate"],
                approved=r["outcome"] == "approved", decided_at=r["decided_at"], actionable_at=r["actionable_at"],
                sla_hours=r["sla_hours"], rejection_kind=r["rejection_kind"],
            ) for r in decisions),
        launches=tuple(
            Launch(campaign_id=r["campaign_id"], launched_at=r["launched_at"], brief_version=r["brief_version"],
                   kpis_with_targets=r["kpis_with_targets"], tracking_plan_defined=r["tracking_plan_defined"])
            for r in launches),
        cancellations=tuple(Milestone(r["campaign_id"], r["cancelled_at"]) for r in cancellations),
        completions=tuple(Milestone(r["campaign_id"], r["completed_at"]) for r in completions),
        commitments=tuple(
            Commitment(campaign_id=r["campaign_id"], brief_version=r["brief_version"],
                       budget_line_id=r["budget_line_id"], amount=r["amount"], currency=r["currency"],
                       committed_at=r["committed_at"], event_id=str(r["event_id"]))
            for r in commitments),
        releases=tuple(Release(r["campaign_id"], r["released_at"], r["brief_version"]) for r in releases),
        spends=tuple(
            Spend(campaign_id=r["campaign_id"], source_system=r["source_system"],
                  source_reference=r["source_reference"], amount=r["amount"], currency=r["currency"],
                  incurred_on=r["incurred_on"], budget_line_id=r["budget_line_id"], recorded_at=r["recorded_at"],
                  unreconciled=r["unreconciled"])
            for r in spends),
    )


async def campaign_events(pool: asyncpg.Pool, campaign_id: str, *, limit: int,
                          after: tuple[datetime, uuid.UUID] | None = None) -> list[asyncpg.Record]:
    """A page of a campaign's events in business-time order, after the (time, event id)
    ``after``; ``counted`` is false for a spend that repeats an earlier one (same source
    system and reference)."""
    page = "AND (e.occurred_at, e.event_id) > ($3, $4)" if after is not None else "AND $3::timestamptz IS NULL"
    return await pool.fetch(
        f"""
        SELECT e.event_id, e.event_type, e.occurred_at, e.source, e.data::text AS data,
               (e.event_type <> 'SpendRecorded' OR s.event_id IS NOT NULL) AS counted
        FROM {S}.event_log e
        LEFT JOIN {S}.spends s ON s.event_id = e.event_id
        WHERE e.campaign_id = $1 {page}
        ORDER BY e.occurred_at, e.event_id
        LIMIT $2
        """,
        campaign_id, limit, *(after if after is not None else (None,)),
    )


async def first_event_time(pool: asyncpg.Pool, campaign_id: str) -> datetime | None:
    return await pool.fetchval(f"SELECT min(occurred_at) FROM {S}.event_log WHERE campaign_id = $1", campaign_id)


async def applied_per_type(pool: asyncpg.Pool) -> dict[str, tuple[int, Any]]:
    """Per event type: how many events the read model holds, and the latest business time."""
    rows = await pool.fetch(f"SELECT event_type, count(*) AS n, max(occurred_at) AS latest "
                            f"FROM {S}.event_log GROUP BY event_type")
    return {r["event_type"]: (r["n"], r["latest"]) for r in rows}


# --- rebuild runs --------------------------------------------------------------------


async def start_run(conn: asyncpg.Connection, run_id: uuid.UUID, trigger: str, requested_by: str | None) -> None:
    # Whoever holds the rebuild lock is the only rebuild: older "running" rows were abandoned.
    await conn.execute(
        "UPDATE rebuild_runs SET status = 'failed', finished_at = now(), "
        "error = 'abandoned: its process stopped before finishing' WHERE status = 'running'")
    await conn.execute(
        "INSERT INTO rebuild_runs (id, trigger, requested_by, status) VALUES ($1, $2, $3, 'running')",
        run_id, trigger, requested_by)


async def finish_run(conn: asyncpg.Connection, run_id: uuid.UUID, *, applied: int, skipped: int,
                     high_watermarks: dict[str, int], skipped_records: list[dict[str, Any]] | None = None,
                     error: str | None = None) -> None:
    await conn.execute(
        """
        UPDATE rebuild_runs SET status = $2, finished_at = now(), events_applied = $3, records_skipped = $4,
            high_watermarks = $5::text::jsonb, error = $6, skipped_records = $7::text::jsonb
        WHERE id = $1
        """,
        run_id, "failed" if error else "succeeded", applied, skipped, json.dumps(high_watermarks), error,
        json.dumps(skipped_records or []))


async def get_run(pool: asyncpg.Pool, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT *, high_watermarks::text AS watermarks, skipped_records::text AS skips "
                               "FROM rebuild_runs WHERE id = $1",
                               run_id)


async def latest_run(pool: asyncpg.Pool) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT *, high_watermarks::text AS watermarks, skipped_records::text AS skips "
                               "FROM rebuild_runs ORDER BY started_at DESC LIMIT 1")
