"""Reading the read model: facts for the aggregates, timelines, freshness, rebuild runs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from .domain import BriefVersion, Commitment, Facts, GateDecision, Launch, Milestone, Release, Spend
from .projection import LIVE_SCHEMA

S = LIVE_SCHEMA


async def load_facts(pool: asyncpg.Pool, campaign_id: str | None = None) -> Facts:
    """All facts (or one campaign's), read from one snapshot so the aggregates agree."""
    only = "WHERE $1::text IS NULL OR campaign_id = $1"
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        briefs = await conn.fetch(f"SELECT * FROM {S}.brief_versions {only}", campaign_id)
        decisions = await conn.fetch(f"SELECT * FROM {S}.gate_decisions {only}", campaign_id)
        launches = await conn.fetch(f"SELECT * FROM {S}.launches {only}", campaign_id)
        cancellations = await conn.fetch(f"SELECT campaign_id, cancelled_at FROM {S}.cancellations {only}",
                                         campaign_id)
        completions = await conn.fetch(f"SELECT campaign_id, completed_at FROM {S}.completions {only}", campaign_id)
        commitments = await conn.fetch(f"SELECT * FROM {S}.commitments {only}", campaign_id)
        releases = await conn.fetch(f"SELECT campaign_id, released_at, brief_version FROM {S}.releases {only}",
                                    campaign_id)
        spends = await conn.fetch(
            f"""
            SELECT s.*, coalesce(r.status = 'unreconciled', false) AS unreconciled
            FROM {S}.spends s LEFT JOIN {S}.spend_reconciliations r USING (source_system, source_reference)
            WHERE $1::text IS NULL OR s.campaign_id = $1
            """, campaign_id)
    return Facts(
        briefs=tuple(
            BriefVersion(
                campaign_id=r["campaign_id"], version=r["version"], submitted_at=r["submitted_at"],
                title=r["title"], team=r["team"], owner=r["owner"], channels=tuple(r["channels"]),
                target_launch_date=r["target_launch_date"], requested_amount=r["requested_amount"],
                requested_currency=r["requested_currency"], budget_line_id=r["budget_line_id"],
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


async def campaign_events(pool: asyncpg.Pool, campaign_id: str) -> list[asyncpg.Record]:
    """A campaign's events in business-time order; ``counted`` is false for a spend that
    repeats an earlier one (same source system and reference)."""
    return await pool.fetch(
        f"""
        SELECT e.event_id, e.event_type, e.occurred_at, e.source, e.data::text AS data,
               (e.event_type <> 'SpendRecorded' OR s.event_id IS NOT NULL) AS counted
        FROM {S}.event_log e
        LEFT JOIN {S}.spends s ON s.event_id = e.event_id
        WHERE e.campaign_id = $1
        ORDER BY e.occurred_at, e.event_id
        """,
        campaign_id,
    )


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
                     high_watermarks: dict[str, int], error: str | None = None) -> None:
    await conn.execute(
        """
        UPDATE rebuild_runs SET status = $2, finished_at = now(), events_applied = $3, records_skipped = $4,
            high_watermarks = $5::text::jsonb, error = $6
        WHERE id = $1
        """,
        run_id, "failed" if error else "succeeded", applied, skipped, json.dumps(high_watermarks), error)


async def get_run(pool: asyncpg.Pool, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT *, high_watermarks::text AS watermarks FROM rebuild_runs WHERE id = $1",
                               run_id)


async def latest_run(pool: asyncpg.Pool) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT *, high_watermarks::text AS watermarks FROM rebuild_runs "
                               "ORDER BY started_at DESC LIMIT 1")
