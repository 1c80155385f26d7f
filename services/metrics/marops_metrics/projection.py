"""Events -> fact rows in a read-model schema (the live one, or a rebuild's fresh copy).

Every write is an upsert under the fact's natural key that keeps the earliest
(business time, event id), or an insert-if-absent keyed by event id. Both are
commutative and idempotent, so applying any interleaving of the topics, with any
duplicates, leaves the same rows: order independence holds by construction, not by
reasoning about which event "should" arrive first.
"""

from __future__ import annotations

import json

import asyncpg

from marops_events import contracts as c
from marops_events.envelope import Envelope

LIVE_SCHEMA = "readmodel"
REBUILD_SCHEMA = "readmodel_rebuild"
RETIRED_SCHEMA = "readmodel_retired"
_SCHEMAS = frozenset({LIVE_SCHEMA, REBUILD_SCHEMA})


def _campaign_of(event: Envelope) -> str | None:
    return getattr(event.data, "campaign_id", None)


async def apply(conn: asyncpg.Connection, event: Envelope, schema: str = LIVE_SCHEMA) -> None:
    """Record one event's facts in ``schema``. Safe to call any number of times."""
    if schema not in _SCHEMAS:  # the name is spliced into SQL: only our own schemas
        raise ValueError(f"unknown read-model schema {schema!r}")
    await conn.execute(
        f"""
        INSERT INTO {schema}.event_log (event_id, event_type, campaign_id, subject, occurred_at, source, data)
        VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)
        ON CONFLICT (event_id) DO NOTHING
        """,
        event.id, event.type, _campaign_of(event), event.subject, event.time, event.source,
        json.dumps(event.data.model_dump(mode="json")),
    )
    writer = _WRITERS.get(type(event.data))
    if writer is not None:
        await writer(conn, schema, event)


async def _brief_submitted(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.BriefSubmitted = event.data
    await conn.execute(
        f"""
        INSERT INTO {schema}.brief_versions AS t (campaign_id, version, submitted_at, event_id, title, team, owner,
            requester, channels, target_launch_date, requested_amount, requested_currency, budget_line_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (campaign_id, version) DO UPDATE SET
            submitted_at = EXCLUDED.submitted_at, event_id = EXCLUDED.event_id, title = EXCLUDED.title,
            team = EXCLUDED.team, owner = EXCLUDED.owner, requester = EXCLUDED.requester,
            channels = EXCLUDED.channels, target_launch_date = EXCLUDED.target_launch_date,
            requested_amount = EXCLUDED.requested_amount, requested_currency = EXCLUDED.requested_currency,
            budget_line_id = EXCLUDED.budget_line_id
        WHERE (EXCLUDED.submitted_at, EXCLUDED.event_id) < (t.submitted_at, t.event_id)
        """,
        d.campaign_id, d.version, event.time, event.id, d.title, d.team, d.owner, d.requester,
        [ch.value for ch in d.channels], d.target_launch_date, d.budget_request.amount.amount,
        d.budget_request.amount.currency, d.budget_request.budget_line_id,
    )


async def _gate_decided(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.GateApproved | c.GateRejected = event.data
    outcome = "approved" if isinstance(d, c.GateApproved) else "rejected"
    kind = d.kind.value if isinstance(d, c.GateRejected) else None
    await conn.execute(
        f"""
        INSERT INTO {schema}.gate_decisions AS t (campaign_id, brief_version, gate_id, outcome, decided_at, event_id,
            gate_name, gate_kind, gate_position, is_last_gate, actionable_at, sla_hours, decided_by,
            policy_version, rejection_kind)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (campaign_id, brief_version, gate_id, outcome) DO UPDATE SET
            decided_at = EXCLUDED.decided_at, event_id = EXCLUDED.event_id, gate_name = EXCLUDED.gate_name,
            gate_kind = EXCLUDED.gate_kind, gate_position = EXCLUDED.gate_position,
            is_last_gate = EXCLUDED.is_last_gate, actionable_at = EXCLUDED.actionable_at,
            sla_hours = EXCLUDED.sla_hours, decided_by = EXCLUDED.decided_by,
            policy_version = EXCLUDED.policy_version, rejection_kind = EXCLUDED.rejection_kind
        WHERE (EXCLUDED.decided_at, EXCLUDED.event_id) < (t.decided_at, t.event_id)
        """,
        d.campaign_id, d.brief_version, d.gate_id, outcome, event.time, event.id, d.gate_name, d.gate_kind.value,
        d.gate_position, d.is_last_gate, d.actionable_at, d.sla_hours, d.decided_by, d.policy_version, kind,
    )


async def _launched(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.CampaignLaunched = event.data
    r = d.readiness
    await conn.execute(
        f"""
        INSERT INTO {schema}.launches AS t (campaign_id, launched_at, event_id, brief_version, launched_by,
            all_gates_approved, kpis_with_targets, tracking_plan_defined, budget_committed)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (campaign_id) DO UPDATE SET
            launched_at = EXCLUDED.launched_at, event_id = EXCLUDED.event_id,
            brief_version = EXCLUDED.brief_version, launched_by = EXCLUDED.launched_by,
            all_gates_approved = EXCLUDED.all_gates_approved, kpis_with_targets = EXCLUDED.kpis_with_targets,
            tracking_plan_defined = EXCLUDED.tracking_plan_defined, budget_committed = EXCLUDED.budget_committed
        WHERE (EXCLUDED.launched_at, EXCLUDED.event_id) < (t.launched_at, t.event_id)
        """,
        d.campaign_id, event.time, event.id, d.brief_version, d.launched_by, r.all_gates_approved,
        r.kpis_with_targets, r.tracking_plan_defined, r.budget_committed,
    )


async def _cancelled(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    await _first_occurrence(conn, f"{schema}.cancellations", "cancelled_at", event)


async def _completed(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    await _first_occurrence(conn, f"{schema}.completions", "completed_at", event)


async def _first_occurrence(conn: asyncpg.Connection, table: str, time_column: str, event: Envelope) -> None:
    await conn.execute(
        f"""
        INSERT INTO {table} AS t (campaign_id, {time_column}, event_id) VALUES ($1, $2, $3)
        ON CONFLICT (campaign_id) DO UPDATE SET {time_column} = EXCLUDED.{time_column}, event_id = EXCLUDED.event_id
        WHERE (EXCLUDED.{time_column}, EXCLUDED.event_id) < (t.{time_column}, t.event_id)
        """,
        event.data.campaign_id, event.time, event.id,
    )


async def _committed(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.BudgetCommitted = event.data
    await conn.execute(
        f"""
        INSERT INTO {schema}.commitments (event_id, campaign_id, brief_version, budget_line_id, amount, currency,
            committed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING
        """,
        event.id, d.campaign_id, d.brief_version, d.budget_line_id, d.amount.amount, d.amount.currency, event.time,
    )


async def _released(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.BudgetReleased = event.data
    await conn.execute(
        f"""
        INSERT INTO {schema}.releases (event_id, campaign_id, budget_line_id, amount, currency, reason, released_at,
            brief_version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING
        """,
        event.id, d.campaign_id, d.budget_line_id, d.amount.amount, d.amount.currency, d.reason.value, event.time,
        d.brief_version,
    )


async def _spent(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.SpendRecorded = event.data
    await conn.execute(
        f"""
        INSERT INTO {schema}.spends AS t (source_system, source_reference, event_id, campaign_id, amount, currency,
            incurred_on, budget_line_id, corrects_reference, recorded_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (source_system, source_reference) DO UPDATE SET
            event_id = EXCLUDED.event_id, campaign_id = EXCLUDED.campaign_id, amount = EXCLUDED.amount,
            currency = EXCLUDED.currency, incurred_on = EXCLUDED.incurred_on,
            budget_line_id = EXCLUDED.budget_line_id, corrects_reference = EXCLUDED.corrects_reference,
            recorded_at = EXCLUDED.recorded_at
        WHERE (EXCLUDED.recorded_at, EXCLUDED.event_id) < (t.recorded_at, t.event_id)
        """,
        d.source_system, d.source_reference, event.id, d.campaign_id, d.amount.amount, d.amount.currency,
        d.incurred_on, d.budget_line_id, d.corrects_reference, event.time,
    )


async def _reconciliation(conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
    d: c.SpendReconciliationChanged = event.data
    # The highest revision is the current state, whatever order the changes arrive in.
    await conn.execute(
        f"""
        INSERT INTO {schema}.spend_reconciliations AS t (source_system, source_reference, revision, event_id,
            campaign_id, status, reason_code, resolution, budget_line_id, changed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (source_system, source_reference) DO UPDATE SET
            revision = EXCLUDED.revision, event_id = EXCLUDED.event_id, campaign_id = EXCLUDED.campaign_id,
            status = EXCLUDED.status, reason_code = EXCLUDED.reason_code, resolution = EXCLUDED.resolution,
            budget_line_id = EXCLUDED.budget_line_id, changed_at = EXCLUDED.changed_at
        WHERE (EXCLUDED.revision, EXCLUDED.event_id) > (t.revision, t.event_id)
        """,
        d.source_system, d.source_reference, d.revision, event.id, d.campaign_id, d.status.value,
        d.reason_code.value if d.reason_code else None, d.resolution.value if d.resolution else None,
        d.budget_line_id, event.time,
    )


# Events without a writer (reservations, reallocations, thresholds) live in event_log only:
# they show on timelines and count for freshness, but no metric is defined on them.
_WRITERS = {
    c.BriefSubmitted: _brief_submitted,
    c.GateApproved: _gate_decided,
    c.GateRejected: _gate_decided,
    c.CampaignLaunched: _launched,
    c.CampaignCancelled: _cancelled,
    c.CampaignCompleted: _completed,
    c.BudgetCommitted: _committed,
    c.BudgetReleased: _released,
    c.SpendRecorded: _spent,
    c.SpendReconciliationChanged: _reconciliation,
}
