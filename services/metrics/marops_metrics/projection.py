"""Events -> fact rows in a read-model schema (the live one, or a rebuild's fresh copy).

A batch of events is applied set-based: one statement per table, whatever the batch
size. Every write is an upsert under the fact's natural key that keeps the earliest
(business time, event id), or an insert-if-absent keyed by event id. Both are
commutative and idempotent, so applying any interleaving of the topics, in any batch
sizes, with any duplicates, leaves the same rows: order independence holds by
construction, not by reasoning about which event "should" arrive first.

``ON CONFLICT DO UPDATE`` may touch a row only once per statement, so copies of one
fact inside a batch are reduced to the earliest first (``_earliest``), by the very rule
the statement applies against the stored row.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import asyncpg

from marops_events import contracts as c
from marops_events.envelope import Envelope

from .domain import hours

LIVE_SCHEMA = "readmodel"
REBUILD_SCHEMA = "readmodel_rebuild"
RETIRED_SCHEMA = "readmodel_retired"
_SCHEMAS = frozenset({LIVE_SCHEMA, REBUILD_SCHEMA})
# Tables of a read-model schema that hold no facts or measures (compare read models without them).
BOOKKEEPING_TABLES = ["revision"]
# Authors are user ids, which may hold commas: they travel joined by the unit separator.
_UNIT = "\x1f"


def checked(schema: str) -> str:
    if schema not in _SCHEMAS:  # the name is spliced into SQL: only our own schemas
        raise ValueError(f"unknown read-model schema {schema!r}")
    return schema


async def bump_revision(conn: asyncpg.Connection, schema: str = LIVE_SCHEMA) -> None:
    """Mark ``schema`` changed (a new revision token). Taken last in a transaction: the row
    lock it holds until commit is then never held while waiting for a campaign lock."""
    await conn.execute(
        f"INSERT INTO {checked(schema)}.revision AS r (singleton, token) VALUES (true, gen_random_uuid()) "
        f"ON CONFLICT (singleton) DO UPDATE SET token = EXCLUDED.token")


def _campaign_of(event: Envelope) -> str | None:
    return getattr(event.data, "campaign_id", None)


async def apply(conn: asyncpg.Connection, event: Envelope, schema: str = LIVE_SCHEMA) -> set[str]:
    """Record one event's facts in ``schema``. Safe to call any number of times."""
    return await apply_batch(conn, [event], schema)


async def apply_batch(conn: asyncpg.Connection, events: Sequence[Envelope], schema: str = LIVE_SCHEMA) -> set[str]:
    """Record the facts of ``events`` in ``schema`` with one statement per table touched.

    Returns the campaigns whose facts may have changed (their derived rows are stale).
    """
    s = checked(schema)
    if not events:
        return set()
    await _event_log(conn, s, events)
    by_type: dict[type, list[Envelope]] = {}
    for e in events:
        by_type.setdefault(type(e.data), []).append(e)
    touched: set[str] = set()
    for writer_types, writer in _WRITERS:
        mine = [e for t in writer_types for e in by_type.get(t, ())]
        if mine:
            await writer(conn, s, mine)
            touched.update(e.data.campaign_id for e in mine)
    return touched


def _earliest(events: Iterable[Envelope], key: Callable[[Envelope], Hashable]) -> list[Envelope]:
    """One event per natural key: the earliest (business time, event id)."""
    best: dict[Hashable, Envelope] = {}
    for e in events:
        k = key(e)
        kept = best.get(k)
        if kept is None or (e.time, e.id) < (kept.time, kept.id):
            best[k] = e
    return list(best.values())


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[r[i] for r in rows] for i in range(width)] if rows else [[] for _ in range(width)]


async def _event_log(conn: asyncpg.Connection, s: str, events: Sequence[Envelope]) -> None:
    rows = [(e.id, e.type, _campaign_of(e), e.subject, e.time, e.source, e.data.model_dump_json())
            for e in events]
    await conn.execute(
        f"""
        INSERT INTO {s}.event_log (event_id, event_type, campaign_id, subject, occurred_at, source, data)
        SELECT id, type, campaign, subject, occurred_at, source, data::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
             AS x(id, type, campaign, subject, occurred_at, source, data)
        ON CONFLICT (event_id) DO NOTHING
        """,
        *_columns(rows, 7),
    )


async def _briefs(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    rows = []
    for e in _earliest(events, lambda e: (e.data.campaign_id, e.data.version)):
        d: c.BriefSubmitted = e.data
        authors = sorted({*(getattr(d, "authors", None) or ()), d.requester})
        # Channels are identifiers of an enum ([a-z_]+): joined with commas to pass a text[]
        # per row through unnest, which would flatten an array of arrays.
        rows.append((d.campaign_id, d.version, e.time, e.id, d.title, d.team, d.owner, d.requester,
                     ",".join(ch.value for ch in d.channels), d.target_launch_date, d.budget_request.amount.amount,
                     d.budget_request.amount.currency, d.budget_request.budget_line_id, _UNIT.join(authors)))
    await conn.execute(
        f"""
        INSERT INTO {s}.brief_versions AS t (campaign_id, version, submitted_at, event_id, title, team, owner,
            requester, channels, target_launch_date, requested_amount, requested_currency, budget_line_id, authors)
        SELECT campaign_id, version, submitted_at, event_id, title, team, owner, requester,
               string_to_array(channels, ','), target_launch_date, requested_amount, requested_currency,
               budget_line_id, string_to_array(authors, E'\\x1f')
        FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::date[], $11::numeric[], $12::text[], $13::text[], $14::text[])
             AS x(campaign_id, version, submitted_at, event_id, title, team, owner, requester, channels,
                  target_launch_date, requested_amount, requested_currency, budget_line_id, authors)
        ON CONFLICT (campaign_id, version) DO UPDATE SET
            submitted_at = EXCLUDED.submitted_at, event_id = EXCLUDED.event_id, title = EXCLUDED.title,
            team = EXCLUDED.team, owner = EXCLUDED.owner, requester = EXCLUDED.requester,
            channels = EXCLUDED.channels, target_launch_date = EXCLUDED.target_launch_date,
            requested_amount = EXCLUDED.requested_amount, requested_currency = EXCLUDED.requested_currency,
            budget_line_id = EXCLUDED.budget_line_id, authors = EXCLUDED.authors
        WHERE (EXCLUDED.submitted_at, EXCLUDED.event_id) < (t.submitted_at, t.event_id)
        """,
        *_columns(rows, 14),
    )


async def _gate_decisions(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    def key(e: Envelope) -> Hashable:
        return (e.data.campaign_id, e.data.brief_version, e.data.gate_id, isinstance(e.data, c.GateApproved))

    rows = []
    for e in _earliest(events, key):
        d: c.GateApproved | c.GateRejected = e.data
        rows.append((
            d.campaign_id, d.brief_version, d.gate_id, "approved" if isinstance(d, c.GateApproved) else "rejected",
            e.time, e.id, d.gate_name, d.gate_kind.value, d.gate_position, d.is_last_gate, d.actionable_at,
            d.sla_hours, d.decided_by, d.policy_version, d.kind.value if isinstance(d, c.GateRejected) else None,
            # Derived here, in Python, so SQL aggregates see the very floats the domain computes.
            hours(e.time - d.actionable_at),
        ))
    await conn.execute(
        f"""
        INSERT INTO {s}.gate_decisions AS t (campaign_id, brief_version, gate_id, outcome, decided_at, event_id,
            gate_name, gate_kind, gate_position, is_last_gate, actionable_at, sla_hours, decided_by,
            policy_version, rejection_kind, hours_in_gate, breached_sla)
        SELECT *, decided_at > actionable_at + make_interval(hours => sla_hours)
        FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::timestamptz[], $6::uuid[], $7::text[],
                    $8::text[], $9::integer[], $10::boolean[], $11::timestamptz[], $12::integer[], $13::text[],
                    $14::integer[], $15::text[], $16::float8[])
             AS x(campaign_id, brief_version, gate_id, outcome, decided_at, event_id, gate_name, gate_kind,
                  gate_position, is_last_gate, actionable_at, sla_hours, decided_by, policy_version,
                  rejection_kind, hours_in_gate)
        ON CONFLICT (campaign_id, brief_version, gate_id, outcome) DO UPDATE SET
            decided_at = EXCLUDED.decided_at, event_id = EXCLUDED.event_id, gate_name = EXCLUDED.gate_name,
            gate_kind = EXCLUDED.gate_kind, gate_position = EXCLUDED.gate_position,
            is_last_gate = EXCLUDED.is_last_gate, actionable_at = EXCLUDED.actionable_at,
            sla_hours = EXCLUDED.sla_hours, decided_by = EXCLUDED.decided_by,
            policy_version = EXCLUDED.policy_version, rejection_kind = EXCLUDED.rejection_kind,
            hours_in_gate = EXCLUDED.hours_in_gate, breached_sla = EXCLUDED.breached_sla
        WHERE (EXCLUDED.decided_at, EXCLUDED.event_id) < (t.decided_at, t.event_id)
        """,
        *_columns(rows, 16),
    )


async def _launches(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    rows = []
    for e in _earliest(events, lambda e: e.data.campaign_id):
        d: c.CampaignLaunched = e.data
        r = d.readiness
        rows.append((d.campaign_id, e.time, e.id, d.brief_version, d.launched_by, r.all_gates_approved,
                     r.kpis_with_targets, r.tracking_plan_defined, r.budget_committed))
    await conn.execute(
        f"""
        INSERT INTO {s}.launches AS t (campaign_id, launched_at, event_id, brief_version, launched_by,
            all_gates_approved, kpis_with_targets, tracking_plan_defined, budget_committed)
        SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::uuid[], $4::integer[], $5::text[], $6::boolean[],
                             $7::boolean[], $8::boolean[], $9::boolean[])
        ON CONFLICT (campaign_id) DO UPDATE SET
            launched_at = EXCLUDED.launched_at, event_id = EXCLUDED.event_id,
            brief_version = EXCLUDED.brief_version, launched_by = EXCLUDED.launched_by,
            all_gates_approved = EXCLUDED.all_gates_approved, kpis_with_targets = EXCLUDED.kpis_with_targets,
            tracking_plan_defined = EXCLUDED.tracking_plan_defined, budget_committed = EXCLUDED.budget_committed
        WHERE (EXCLUDED.launched_at, EXCLUDED.event_id) < (t.launched_at, t.event_id)
        """,
        *_columns(rows, 9),
    )


def _first_occurrence(table: str, time_column: str) -> Callable[..., Any]:
    async def write(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
        rows = [(e.data.campaign_id, e.time, e.id) for e in _earliest(events, lambda e: e.data.campaign_id)]
        await conn.execute(
            f"""
            INSERT INTO {s}.{table} AS t (campaign_id, {time_column}, event_id)
            SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::uuid[])
            ON CONFLICT (campaign_id) DO UPDATE SET {time_column} = EXCLUDED.{time_column},
                event_id = EXCLUDED.event_id
            WHERE (EXCLUDED.{time_column}, EXCLUDED.event_id) < (t.{time_column}, t.event_id)
            """,
            *_columns(rows, 3),
        )

    return write


async def _commitments(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    rows = [(e.id, e.data.campaign_id, e.data.brief_version, e.data.budget_line_id, e.data.amount.amount,
             e.data.amount.currency, e.time) for e in events]
    await conn.execute(
        f"""
        INSERT INTO {s}.commitments (event_id, campaign_id, brief_version, budget_line_id, amount, currency,
            committed_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[], $5::numeric[], $6::text[],
                             $7::timestamptz[])
        ON CONFLICT (event_id) DO NOTHING
        """,
        *_columns(rows, 7),
    )


async def _releases(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    rows = [(e.id, e.data.campaign_id, e.data.budget_line_id, e.data.amount.amount, e.data.amount.currency,
             e.data.reason.value, e.time, e.data.brief_version) for e in events]
    await conn.execute(
        f"""
        INSERT INTO {s}.releases (event_id, campaign_id, budget_line_id, amount, currency, reason, released_at,
            brief_version)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[],
                             $7::timestamptz[], $8::integer[])
        ON CONFLICT (event_id) DO NOTHING
        """,
        *_columns(rows, 8),
    )


async def _spends(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    rows = []
    for e in _earliest(events, lambda e: (e.data.source_system, e.data.source_reference)):
        d: c.SpendRecorded = e.data
        rows.append((d.source_system, d.source_reference, e.id, d.campaign_id, d.amount.amount, d.amount.currency,
                     d.incurred_on, d.budget_line_id, d.corrects_reference, e.time))
    await conn.execute(
        f"""
        INSERT INTO {s}.spends AS t (source_system, source_reference, event_id, campaign_id, amount, currency,
            incurred_on, budget_line_id, corrects_reference, recorded_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::numeric[], $6::text[],
                             $7::date[], $8::text[], $9::text[], $10::timestamptz[])
        ON CONFLICT (source_system, source_reference) DO UPDATE SET
            event_id = EXCLUDED.event_id, campaign_id = EXCLUDED.campaign_id, amount = EXCLUDED.amount,
            currency = EXCLUDED.currency, incurred_on = EXCLUDED.incurred_on,
            budget_line_id = EXCLUDED.budget_line_id, corrects_reference = EXCLUDED.corrects_reference,
            recorded_at = EXCLUDED.recorded_at
        WHERE (EXCLUDED.recorded_at, EXCLUDED.event_id) < (t.recorded_at, t.event_id)
        """,
        *_columns(rows, 10),
    )


async def _reconciliations(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    # The highest (revision, event id) is the current state, whatever order the changes arrive in.
    best: dict[Hashable, Envelope] = {}
    for e in events:
        k = (e.data.source_system, e.data.source_reference)
        if k not in best or (e.data.revision, e.id) > (best[k].data.revision, best[k].id):
            best[k] = e
    rows = []
    for e in best.values():
        d: c.SpendReconciliationChanged = e.data
        rows.append((d.source_system, d.source_reference, d.revision, e.id, d.campaign_id, d.status.value,
                     d.reason_code.value if d.reason_code else None, d.resolution.value if d.resolution else None,
                     d.budget_line_id, e.time))
    await conn.execute(
        f"""
        INSERT INTO {s}.spend_reconciliations AS t (source_system, source_reference, revision, event_id,
            campaign_id, status, reason_code, resolution, budget_line_id, changed_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::uuid[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::text[], $10::timestamptz[])
        ON CONFLICT (source_system, source_reference) DO UPDATE SET
            revision = EXCLUDED.revision, event_id = EXCLUDED.event_id, campaign_id = EXCLUDED.campaign_id,
            status = EXCLUDED.status, reason_code = EXCLUDED.reason_code, resolution = EXCLUDED.resolution,
            budget_line_id = EXCLUDED.budget_line_id, changed_at = EXCLUDED.changed_at
        WHERE (EXCLUDED.revision, EXCLUDED.event_id) > (t.revision, t.event_id)
        """,
        *_columns(rows, 10),
    )


# Events without a writer (reservations, reallocations, thresholds) live in event_log only:
# they show on timelines and count for freshness, but no metric is defined on them.
_WRITERS: tuple[tuple[tuple[type, ...], Callable[..., Any]], ...] = (
    ((c.BriefSubmitted,), _briefs),
    ((c.GateApproved, c.GateRejected), _gate_decisions),
    ((c.CampaignLaunched,), _launches),
    ((c.CampaignCancelled,), _first_occurrence("cancellations", "cancelled_at")),
    ((c.CampaignCompleted,), _first_occurrence("completions", "completed_at")),
    ((c.BudgetCommitted,), _commitments),
    ((c.BudgetReleased,), _releases),
    ((c.SpendRecorded,), _spends),
    ((c.SpendReconciliationChanged,), _reconciliations),
)
