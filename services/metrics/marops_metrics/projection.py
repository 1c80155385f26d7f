"""Events -> fact rows in a read-model schema (the live one, or a rebuild's fresh copy).

A batch of events is applied set-based: one statement per table, whatever the batch
size. Every write is an upsert under the fact's natural key that keeps the earliest
(business time, event id), or an insert-if-absent keyed by event id. Both are
commutative and idempotent, so applying any interleaving of the topics, in any batch
sizes, with any duplicates, leaves the same rows: order independence holds by
construction, not by reasoning about which event "should" arrive first.

``ON CONFLICT DO UPDATE`` may touch a row only once per statement, so copies of one
fact inside a batch are reduced to the earliest first, by the very rule the statement
applies against the stored row; both are written once, in ``EarliestWins``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from marops_events import contracts as c
from marops_events.envelope import Envelope

from . import outcome_facts
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


@dataclass
class Touched:
    """The campaigns whose derived rows a batch's facts may have changed: ``campaigns``
    (every derived row: a brief, a decision, a launch, a commitment...), ``money`` (only
    their money rows, and a campaign row where there is none yet: a spend or a
    reconciliation changes nothing else)."""

    campaigns: set[str] = field(default_factory=set)
    money: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.campaigns or self.money)

    def add(self, event_type: type, campaign_ids: Iterable[str]) -> None:
        effect = DERIVED_EFFECT.get(event_type, CAMPAIGN)
        if effect == CAMPAIGN:
            self.campaigns.update(campaign_ids)
        elif effect == MONEY:
            self.money.update(campaign_ids)

    def update(self, other: Touched) -> None:
        self.campaigns |= other.campaigns
        self.money |= other.money


CAMPAIGN, MONEY, NOTHING = "campaign", "money", "nothing"
# What an event type's facts can change among the derived rows (``derive``); a type not
# listed may change any of them. Spends and reconciliations only feed ``campaign_money``
# (and a spend makes its campaign exist); the rest are read by their own reports only.
DERIVED_EFFECT: dict[type, str] = {
    c.SpendRecorded: MONEY, c.SpendReconciliationChanged: MONEY,
    c.RetrospectiveRecorded: NOTHING, c.KpiResultsRecorded: NOTHING, c.RiskChanged: NOTHING,
    c.SlaBreached: NOTHING, c.ChangeRequested: NOTHING, c.ChangeDecided: NOTHING,
    c.CampaignPaused: NOTHING, c.CampaignResumed: NOTHING,
}


async def apply(conn: asyncpg.Connection, event: Envelope, schema: str = LIVE_SCHEMA) -> Touched:
    """Record one event's facts in ``schema``. Safe to call any number of times."""
    return await apply_batch(conn, [event], schema)


def by_type(events: Iterable[Envelope]) -> dict[type, list[Envelope]]:
    grouped: dict[type, list[Envelope]] = {}
    for e in events:
        grouped.setdefault(type(e.data), []).append(e)
    return grouped


async def apply_batch(conn: asyncpg.Connection, events: Sequence[Envelope], schema: str = LIVE_SCHEMA) -> Touched:
    """Record the facts of ``events`` in ``schema`` with one statement per table touched.

    Returns the campaigns whose derived rows may be stale.
    """
    s = checked(schema)
    touched = Touched()
    if not events:
        return touched
    await _event_log(conn, s, events)
    grouped = by_type(events)
    for writer_types, writer in WRITERS:
        mine = [e for t in writer_types for e in grouped.get(t, ())]
        if mine:
            await writer(conn, s, mine)
    for event_type, mine in grouped.items():
        if event_type in _WRITTEN:
            touched.add(event_type, (e.data.campaign_id for e in mine))
    return touched


@dataclass(frozen=True)
class EarliestWins:
    """A fact stored once per natural key, the earliest (business time, event id) of its
    copies winning: the one rule, in Python for copies inside a batch (``ON CONFLICT`` may
    touch a row once per statement) and in SQL against the stored row."""

    table: str
    key: tuple[str, ...]  # the natural key's columns
    time: str  # the business-time column; with event_id it orders the copies
    inputs: tuple[tuple[str, str], ...]  # (column, SQL type) of each row value, passed as arrays
    stored: Mapping[str, str] = field(default_factory=dict)  # column -> SQL expression of the inputs
    derived: tuple[tuple[str, str], ...] = ()  # (column, SQL expression of the inputs) not passed

    def statement(self, schema: str) -> str:
        names = [c for c, _ in self.inputs]
        columns = [*names, *(c for c, _ in self.derived)]
        values = [self.stored.get(c, c) for c in names] + [e for _, e in self.derived]
        arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(self.inputs, start=1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in self.key)
        return (f"INSERT INTO {checked(schema)}.{self.table} AS t ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM unnest({arrays}) AS x({', '.join(names)}) "
                f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates} "
                f"WHERE (EXCLUDED.{self.time}, EXCLUDED.event_id) < (t.{self.time}, t.event_id)")

    async def merge(self, conn: asyncpg.Connection, schema: str, events: Iterable[Envelope],
                    key: Callable[[Envelope], Hashable], row: Callable[[Envelope], tuple[Any, ...]]) -> None:
        """Merge the earliest copy per ``key`` of ``events``, as ``row`` gives its inputs."""
        best: dict[Hashable, Envelope] = {}
        for e in events:
            k = key(e)
            kept = best.get(k)
            if kept is None or (e.time, e.id) < (kept.time, kept.id):
                best[k] = e
        rows = [row(e) for e in best.values()]
        await conn.execute(self.statement(schema), *_columns(rows, len(self.inputs)))

    def staging_table(self, staging: str) -> str:
        """An unlogged table of the inputs, for a bulk load (``bulk``)."""
        return (f"CREATE UNLOGGED TABLE {staging}.{self.table} "
                f"({', '.join(f'{c} {t}' for c, t in self.inputs)})")

    def merge_staged(self, schema: str, staging: str) -> str:
        """The same merge from a staging table of inputs: the earliest copy per key first
        (``DISTINCT ON`` in (time, event id) order), then the same upsert."""
        names = [c for c, _ in self.inputs]
        columns = [*names, *(c for c, _ in self.derived)]
        values = [self.stored.get(c, c) for c in names] + [e for _, e in self.derived]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in self.key)
        key = ", ".join(self.key)
        return (f"INSERT INTO {checked(schema)}.{self.table} AS t ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM (SELECT DISTINCT ON ({key}) * FROM {staging}.{self.table} "
                f"ORDER BY {key}, {self.time}, event_id) AS x "
                f"ON CONFLICT ({key}) DO UPDATE SET {updates} "
                f"WHERE (EXCLUDED.{self.time}, EXCLUDED.event_id) < (t.{self.time}, t.event_id)")


@dataclass(frozen=True)
class Writer:
    """An ``EarliestWins`` fact with how its events give the key and the inputs: a writer of
    ``WRITERS`` that a bulk load can also stage (``bulk``)."""

    fact: EarliestWins
    key: Callable[[Envelope], Hashable]
    row: Callable[[Envelope], tuple[Any, ...]]

    async def __call__(self, conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
        await self.fact.merge(conn, s, events, self.key, self.row)


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[r[i] for r in rows] for i in range(width)] if rows else [[] for _ in range(width)]


EVENT_LOG_COLUMNS = ("event_id", "event_type", "campaign_id", "subject", "occurred_at", "source", "data")


def event_log_rows(events: Iterable[Envelope], data: Callable[[str], Any] = str) -> list[tuple[Any, ...]]:
    """``event_log`` rows of ``events``: the payload's JSON text, as ``data`` wraps it."""
    return [(e.id, e.type, _campaign_of(e), e.subject, e.time, e.source, data(e.data.model_dump_json()))
            for e in events]


async def _event_log(conn: asyncpg.Connection, s: str, events: Sequence[Envelope]) -> None:
    rows = event_log_rows(events)
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


_BRIEFS = EarliestWins(
    "brief_versions", key=("campaign_id", "version"), time="submitted_at",
    inputs=(("campaign_id", "text"), ("version", "integer"), ("submitted_at", "timestamptz"), ("event_id", "uuid"),
            ("title", "text"), ("team", "text"), ("owner", "text"), ("requester", "text"), ("channels", "text"),
            ("target_launch_date", "date"), ("requested_amount", "numeric"), ("requested_currency", "text"),
            ("budget_line_id", "text"), ("authors", "text")),
    # Channels are identifiers of an enum ([a-z_]+): joined with commas to pass a text[] per
    # row through unnest, which would flatten an array of arrays; authors by the unit separator.
    stored={"channels": "string_to_array(channels, ',')", "authors": "string_to_array(authors, E'\\x1f')"})


def _brief_row(e: Envelope) -> tuple[Any, ...]:
    d: c.BriefSubmitted = e.data
    authors = sorted({*(getattr(d, "authors", None) or ()), d.requester})
    return (d.campaign_id, d.version, e.time, e.id, d.title, d.team, d.owner, d.requester,
            ",".join(ch.value for ch in d.channels), d.target_launch_date, d.budget_request.amount.amount,
            d.budget_request.amount.currency, d.budget_request.budget_line_id, _UNIT.join(authors))


_briefs = Writer(_BRIEFS, lambda e: (e.data.campaign_id, e.data.version), _brief_row)


_GATE_DECISIONS = EarliestWins(
    "gate_decisions", key=("campaign_id", "brief_version", "gate_id", "outcome"), time="decided_at",
    inputs=(("campaign_id", "text"), ("brief_version", "integer"), ("gate_id", "text"), ("outcome", "text"),
            ("decided_at", "timestamptz"), ("event_id", "uuid"), ("gate_name", "text"), ("gate_kind", "text"),
            ("gate_position", "integer"), ("is_last_gate", "boolean"), ("actionable_at", "timestamptz"),
            ("sla_hours", "integer"), ("decided_by", "text"), ("policy_version", "integer"),
            ("rejection_kind", "text"), ("hours_in_gate", "float8")),
    derived=(("breached_sla", "decided_at > actionable_at + make_interval(hours => sla_hours)"),))


def _decision_row(e: Envelope) -> tuple[Any, ...]:
    d: c.GateApproved | c.GateRejected = e.data
    return (d.campaign_id, d.brief_version, d.gate_id, "approved" if isinstance(d, c.GateApproved) else "rejected",
            e.time, e.id, d.gate_name, d.gate_kind.value, d.gate_position, d.is_last_gate, d.actionable_at,
            d.sla_hours, d.decided_by, d.policy_version, d.kind.value if isinstance(d, c.GateRejected) else None,
            # Derived here, in Python, so SQL aggregates see the very floats the domain computes.
            hours(e.time - d.actionable_at))


_gate_decisions = Writer(
    _GATE_DECISIONS,
    lambda e: (e.data.campaign_id, e.data.brief_version, e.data.gate_id, isinstance(e.data, c.GateApproved)),
    _decision_row)


_LAUNCHES = EarliestWins(
    "launches", key=("campaign_id",), time="launched_at",
    inputs=(("campaign_id", "text"), ("launched_at", "timestamptz"), ("event_id", "uuid"),
            ("brief_version", "integer"), ("launched_by", "text"), ("all_gates_approved", "boolean"),
            ("kpis_with_targets", "boolean"), ("tracking_plan_defined", "boolean"), ("budget_committed", "boolean")))


def _launch_row(e: Envelope) -> tuple[Any, ...]:
    d: c.CampaignLaunched = e.data
    r = d.readiness
    return (d.campaign_id, e.time, e.id, d.brief_version, d.launched_by, r.all_gates_approved, r.kpis_with_targets,
            r.tracking_plan_defined, r.budget_committed)


_launches = Writer(_LAUNCHES, lambda e: e.data.campaign_id, _launch_row)


def _first_occurrence(table: str, time_column: str) -> Writer:
    fact = EarliestWins(table, key=("campaign_id",), time=time_column,
                        inputs=(("campaign_id", "text"), (time_column, "timestamptz"), ("event_id", "uuid")))
    return Writer(fact, lambda e: e.data.campaign_id, lambda e: (e.data.campaign_id, e.time, e.id))


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


_SPENDS = EarliestWins(
    "spends", key=("source_system", "source_reference"), time="recorded_at",
    inputs=(("source_system", "text"), ("source_reference", "text"), ("event_id", "uuid"), ("campaign_id", "text"),
            ("amount", "numeric"), ("currency", "text"), ("incurred_on", "date"), ("budget_line_id", "text"),
            ("corrects_reference", "text"), ("recorded_at", "timestamptz")))


def _spend_row(e: Envelope) -> tuple[Any, ...]:
    d: c.SpendRecorded = e.data
    return (d.source_system, d.source_reference, e.id, d.campaign_id, d.amount.amount, d.amount.currency,
            d.incurred_on, d.budget_line_id, d.corrects_reference, e.time)


_spends = Writer(_SPENDS, lambda e: (e.data.source_system, e.data.source_reference), _spend_row)


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


async def _retrospectives(conn: asyncpg.Connection, s: str, events: list[Envelope]) -> None:
    # The highest (revision, event id) is the current retrospective, whatever the arrival order.
    best: dict[str, Envelope] = {}
    for e in events:
        k = e.data.campaign_id
        if k not in best or (e.data.revision, e.id) > (best[k].data.revision, best[k].id):
            best[k] = e
    rows = [(e.data.campaign_id, e.data.revision, e.id, e.time, e.data.recorded_by, len(e.data.lessons),
             len(e.data.actions)) for e in best.values()]
    await conn.execute(
        f"""
        INSERT INTO {s}.retrospectives AS t (campaign_id, revision, event_id, recorded_at, recorded_by, lessons,
            actions)
        SELECT * FROM unnest($1::text[], $2::integer[], $3::uuid[], $4::timestamptz[], $5::text[], $6::integer[],
                             $7::integer[])
        ON CONFLICT (campaign_id) DO UPDATE SET
            revision = EXCLUDED.revision, event_id = EXCLUDED.event_id, recorded_at = EXCLUDED.recorded_at,
            recorded_by = EXCLUDED.recorded_by, lessons = EXCLUDED.lessons, actions = EXCLUDED.actions
        WHERE (EXCLUDED.revision, EXCLUDED.event_id) > (t.revision, t.event_id)
        """,
        *_columns(rows, 7),
    )


_CHANGE_REQUESTS = EarliestWins(
    "change_requests", key=("change_id",), time="requested_at",
    inputs=(("change_id", "text"), ("campaign_id", "text"), ("brief_version", "integer"), ("changes", "text"),
            ("requested_at", "timestamptz"), ("event_id", "uuid")),
    stored={"changes": "string_to_array(changes, ',')"})
_CHANGE_DECISIONS = EarliestWins(
    "change_decisions", key=("change_id",), time="decided_at",
    inputs=(("change_id", "text"), ("campaign_id", "text"), ("outcome", "text"), ("decided_at", "timestamptz"),
            ("event_id", "uuid")))
_PAUSE_STARTS = EarliestWins(
    "pause_starts", key=("campaign_id", "pause"), time="paused_at",
    inputs=(("campaign_id", "text"), ("pause", "integer"), ("paused_at", "timestamptz"), ("event_id", "uuid")))
_PAUSE_ENDS = EarliestWins(
    "pause_ends", key=("campaign_id", "pause"), time="resumed_at",
    inputs=(("campaign_id", "text"), ("pause", "integer"), ("resumed_at", "timestamptz"), ("event_id", "uuid")))


# Changed fields are enum values ([a-z]+): joined with commas to pass through unnest.
_change_requests = Writer(_CHANGE_REQUESTS, key=lambda e: e.data.change_id, row=lambda e: (
    e.data.change_id, e.data.campaign_id, e.data.brief.version, ",".join(ch.value for ch in e.data.changes),
    e.time, e.id))
_change_decisions = Writer(_CHANGE_DECISIONS, key=lambda e: e.data.change_id, row=lambda e: (
    e.data.change_id, e.data.campaign_id, e.data.outcome.value, e.time, e.id))
_pause_starts = Writer(_PAUSE_STARTS, key=lambda e: (e.data.campaign_id, e.data.pause),
                       row=lambda e: (e.data.campaign_id, e.data.pause, e.time, e.id))
_pause_ends = Writer(_PAUSE_ENDS, key=lambda e: (e.data.campaign_id, e.data.pause),
                     row=lambda e: (e.data.campaign_id, e.data.pause, e.time, e.id))


# Events without a writer (reservations, reallocations, thresholds) live in event_log only:
# they show on timelines and count for freshness, but no metric is defined on them.
WRITERS: tuple[tuple[tuple[type, ...], Callable[..., Any]], ...] = (
    ((c.BriefSubmitted,), _briefs),
    ((c.GateApproved, c.GateRejected), _gate_decisions),
    ((c.CampaignLaunched,), _launches),
    ((c.CampaignCancelled,), _first_occurrence("cancellations", "cancelled_at")),
    ((c.CampaignCompleted,), _first_occurrence("completions", "completed_at")),
    ((c.BudgetCommitted,), _commitments),
    ((c.BudgetReleased,), _releases),
    ((c.SpendRecorded,), _spends),
    ((c.SpendReconciliationChanged,), _reconciliations),
    ((c.RetrospectiveRecorded,), _retrospectives),
    *outcome_facts.WRITERS,
    ((c.ChangeRequested,), _change_requests),
    ((c.ChangeDecided,), _change_decisions),
    ((c.CampaignPaused,), _pause_starts),
    ((c.CampaignResumed,), _pause_ends),
)
_WRITTEN = frozenset(t for types, _ in WRITERS for t in types)
