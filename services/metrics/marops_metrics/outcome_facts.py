"""Outcome and review facts -> rows (migration 008): brief KPIs, results reports, risks, SLA breaches.

Written set-based like every other fact (one statement per table per batch) and with the
same convergence rules, so any interleaving and any duplicates leave the same rows:
a brief version's KPIs and a results report are kept once per natural key, the earliest
(business time, event id) winning; a risk's row is its latest change. ``schema`` is already checked by ``projection.apply_batch``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from marops_events import contracts as c
from marops_events.envelope import Envelope, as_utc

# A completion's results are the report of this source system (no Identifier is empty).
COMPLETION_SOURCE = ""


def _earliest(events: Sequence[Envelope], key: Callable[[Envelope], Hashable]) -> list[Envelope]:
    best: dict[Hashable, Envelope] = {}
    for e in events:
        k = key(e)
        if k not in best or (e.time, e.id) < (best[k].time, best[k].id):
            best[k] = e
    return list(best.values())


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[r[i] for r in rows] for i in range(width)]


def kpis_json(kpis: Sequence[c.Kpi]) -> str:
    return json.dumps([{"metric": k.metric, "target": str(k.target),
                        "baseline": None if k.baseline is None else str(k.baseline), "unit": k.unit,
                        "direction": (k.direction or c.KpiDirection.increase).value,
                        "kind": k.kind.value if k.kind else None} for k in kpis])


@dataclass(frozen=True)
class InTwoHalves:
    """A writer in two halves: the rows of a batch's events, and the statement that writes
    them. A rebuild's worker process computes the rows (plain tuples, cheap to send back)
    and the loading process only runs the statement, instead of decoding the events again."""

    rows: Callable[[list[Envelope]], list[tuple[Any, ...]]]
    write: Callable[[asyncpg.Connection, str, list[tuple[Any, ...]]], Awaitable[None]]

    async def __call__(self, conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
        await self.write(conn, s, self.rows(events))


def _brief_kpi_rows(events: list[Envelope]) -> list[tuple[Any, ...]]:
    return [(e.data.campaign_id, e.data.version, e.time, e.id, kpis_json(e.data.kpis), e.data.flight_start,
             e.data.flight_end)
            for e in _earliest(events, lambda e: (e.data.campaign_id, e.data.version))]


async def _write_brief_kpis(conn: asyncpg.Connection, s: str, rows: list[tuple[Any, ...]]) -> None:
    await conn.execute(
        f"""
        INSERT INTO {s}.brief_kpis AS t (campaign_id, version, submitted_at, event_id, kpis, flight_start, flight_end)
        SELECT campaign_id, version, submitted_at, event_id, kpis::jsonb, flight_start, flight_end
        FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::uuid[], $5::text[], $6::date[], $7::date[])
             AS x(campaign_id, version, submitted_at, event_id, kpis, flight_start, flight_end)
        ON CONFLICT (campaign_id, version) DO UPDATE SET
            submitted_at = EXCLUDED.submitted_at, event_id = EXCLUDED.event_id, kpis = EXCLUDED.kpis,
            flight_start = EXCLUDED.flight_start, flight_end = EXCLUDED.flight_end
        WHERE (EXCLUDED.submitted_at, EXCLUDED.event_id) < (t.submitted_at, t.event_id)
        """,
        *_columns(rows, 7))


# Every brief has its KPIs: the writer a rebuild would otherwise decode each brief again for.
brief_kpis = InTwoHalves(_brief_kpi_rows, _write_brief_kpis)


def _report_key(e: Envelope) -> tuple[str, str]:
    if isinstance(e.data, c.CampaignCompleted):
        return COMPLETION_SOURCE, e.data.campaign_id
    return e.data.source_system, e.data.source_reference


def _report_row(e: Envelope) -> tuple[Any, ...]:
    d = e.data
    system, reference = _report_key(e)
    as_of = as_utc(e.time).date() if isinstance(d, c.CampaignCompleted) else d.as_of
    results = json.dumps([{"metric": r.metric, "actual": str(r.actual)} for r in d.results])
    return system, reference, e.id, d.campaign_id, as_of, e.time, results


async def kpi_reports(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    rows = [_report_row(e) for e in _earliest(events, _report_key)]
    await conn.execute(
        f"""
        INSERT INTO {s}.kpi_reports AS t (source_system, source_reference, event_id, campaign_id, as_of,
            reported_at, results)
        SELECT source_system, source_reference, event_id, campaign_id, as_of, reported_at, results::jsonb
        FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::date[], $6::timestamptz[], $7::text[])
             AS x(source_system, source_reference, event_id, campaign_id, as_of, reported_at, results)
        ON CONFLICT (source_system, source_reference) DO UPDATE SET
            event_id = EXCLUDED.event_id, campaign_id = EXCLUDED.campaign_id, as_of = EXCLUDED.as_of,
            reported_at = EXCLUDED.reported_at, results = EXCLUDED.results
        WHERE (EXCLUDED.reported_at, EXCLUDED.event_id) < (t.reported_at, t.event_id)
        """,
        *_columns(rows, 7))


async def risks(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    # The latest (time, revision, event id) is the risk as it is now.
    best: dict[str, Envelope] = {}
    for e in events:
        k = e.data.risk_id
        if k not in best or (e.time, e.data.revision, e.id) > (best[k].time, best[k].data.revision, best[k].id):
            best[k] = e
    rows = [(d.risk_id, d.campaign_id, d.revision, e.time, e.id, d.description, d.owner, d.score, d.status.value,
             d.blocks_launch) for e, d in ((e, e.data) for e in best.values())]
    await conn.execute(
        f"""
        INSERT INTO {s}.risks AS t (risk_id, campaign_id, revision, changed_at, event_id, description, owner, score,
            status, blocks_launch)
        SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::timestamptz[], $5::uuid[], $6::text[],
                             $7::text[], $8::integer[], $9::text[], $10::boolean[])
        ON CONFLICT (risk_id) DO UPDATE SET
            campaign_id = EXCLUDED.campaign_id, revision = EXCLUDED.revision, changed_at = EXCLUDED.changed_at,
            event_id = EXCLUDED.event_id, description = EXCLUDED.description, owner = EXCLUDED.owner,
            score = EXCLUDED.score, status = EXCLUDED.status, blocks_launch = EXCLUDED.blocks_launch
        WHERE (EXCLUDED.changed_at, EXCLUDED.revision, EXCLUDED.event_id) > (t.changed_at, t.revision, t.event_id)
        """,
        *_columns(rows, 10))


async def sla_breaches(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    key = (lambda e: (e.data.campaign_id, e.data.brief_version, e.data.gate_id))
    rows = [(d.campaign_id, d.brief_version, d.gate_id, d.gate_name, d.actionable_at, d.sla_hours, d.due_at, e.id)
            for e, d in ((e, e.data) for e in _earliest(events, key))]
    await conn.execute(
        f"""
        INSERT INTO {s}.sla_breaches AS t (campaign_id, brief_version, gate_id, gate_name, actionable_at, sla_hours,
            due_at, event_id)
        SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::timestamptz[], $6::integer[],
                             $7::timestamptz[], $8::uuid[])
        ON CONFLICT (campaign_id, brief_version, gate_id) DO UPDATE SET
            gate_name = EXCLUDED.gate_name, actionable_at = EXCLUDED.actionable_at, sla_hours = EXCLUDED.sla_hours,
            due_at = EXCLUDED.due_at, event_id = EXCLUDED.event_id
        WHERE (EXCLUDED.due_at, EXCLUDED.event_id) < (t.due_at, t.event_id)
        """,
        *_columns(rows, 8))


WRITERS: tuple[tuple[tuple[type, ...], Callable[..., Any]], ...] = (
    ((c.BriefSubmitted,), brief_kpis),
    ((c.KpiResultsRecorded, c.CampaignCompleted), kpi_reports),
    ((c.RiskChanged,), risks),
    ((c.SlaBreached,), sla_breaches),
)
