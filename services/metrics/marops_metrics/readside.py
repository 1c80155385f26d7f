"""The reports of SPEC section 4, aggregated in PostgreSQL over the derived rows.

Each report reads the per-campaign rows (``campaigns``, ``campaign_money``) and the
per-decision rows (``gate_decisions``) in one read-only snapshot, and aggregates them in
SQL: counts, ``avg``, ``percentile_cont`` (linear interpolation between closest ranks,
as SPEC section 4 asks), sums per currency. Grouping is a lateral ``unnest`` of a
campaign's group keys with a NULL key for "overall", so one statement gives the overall
figure and every group's, and a campaign counts under each of its channels.

Python only shapes the bodies, with the helpers of ``aggregates`` (rates, money,
variance percentages), so a body is the one the pure computation over the same
campaigns gives (``aggregates``). Text ordering of groups and rows is Python's (code
point order), never the database collation's.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg

from marops_service import access
from marops_service.auth import Principal

from .aggregates import (
    ALL,
    CAMPAIGN_COLUMNS,
    STATS_COLUMNS,
    VARIANCE_COLUMNS,
    Filters,
    GroupBy,
    Report,
    Variance,
    _flatten,
    _gate_rows,
    _sla_rows,
    money,
)
from .domain import UNKNOWN, QuarterBasis, rate
from .projection import LIVE_SCHEMA

S = LIVE_SCHEMA


@dataclass(frozen=True)
class Scope:
    """The campaigns a report covers: the filters, and what the caller may read (SPEC
    section 5; no principal means everything, for internal use)."""

    filters: Filters
    principal: Principal | None = None

    @property
    def filtered(self) -> bool:
        return self.principal is not None and access.is_filtered(self.principal)

    def where(self, basis: QuarterBasis, params: list[Any]) -> str:
        """The campaigns a report covers, as a condition on ``c``; appends to ``params``."""
        f = self.filters

        def p(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        conds = []
        if f.team is not None:
            conds.append(f"c.team = {p(f.team)}::text")
        if f.channel is not None:
            conds.append(f"{p(f.channel)}::text = ANY(c.channels)")
        if f.submitted_from is not None:
            conds.append(f"c.submitted_on >= {p(f.submitted_from)}::date")
        if f.submitted_to is not None:
            conds.append(f"c.submitted_on <= {p(f.submitted_to)}::date")
        if f.launched_from is not None:
            conds.append(f"c.launched_on >= {p(f.launched_from)}::date")
        if f.launched_to is not None:
            conds.append(f"c.launched_on <= {p(f.launched_to)}::date")
        if f.quarter is not None:
            column = "c.launch_quarter" if basis is QuarterBasis.launch else "c.submission_quarter"
            conds.append(f"{column} = {p(f.quarter)}::text")
        if self.principal is not None:
            readable = access.readable_sql(self.principal, first=len(params) + 1, team="c.team", owner="c.owner",
                                           authors="c.authors")
            if readable.sql != "TRUE":
                conds.append(readable.sql)
                params.extend(readable.params)
        return " AND ".join(conds) or "TRUE"

    def echo(self) -> dict[str, Any]:
        return {"filters": self.filters.echo(), "filtered": self.filtered}


def _keys(group_by: GroupBy | None, basis: QuarterBasis) -> str:
    """A campaign's group keys as a text[]: NULL (overall) first, then its groups."""
    if group_by is None:
        return "ARRAY[NULL::text]"
    if group_by is GroupBy.team:
        return f"ARRAY[NULL::text, coalesce(c.team, '{UNKNOWN}')]"
    if group_by is GroupBy.channel:
        return (f"ARRAY[NULL::text] || CASE WHEN cardinality(c.channels) > 0 THEN c.channels "
                f"ELSE ARRAY['{UNKNOWN}'] END")
    quarter = "c.launch_quarter" if basis is QuarterBasis.launch else "c.submission_quarter"
    return f"ARRAY[NULL::text] || CASE WHEN {quarter} IS NULL THEN '{{}}'::text[] ELSE ARRAY[{quarter}] END"


def _from(scope: Scope, group_by: GroupBy | None, basis: QuarterBasis, params: list[Any], join: str = "") -> str:
    """The selected campaigns ``c`` times their group keys ``g``, optionally joined to more."""
    return (f"FROM {S}.campaigns c CROSS JOIN LATERAL unnest({_keys(group_by, basis)}) AS g(key) {join} "
            f"WHERE {scope.where(basis, params)}")


# The connection of the snapshot a report runs in, when ``_answered`` opened it.
_SNAPSHOT: ContextVar[asyncpg.Connection | None] = ContextVar("metrics_report_snapshot", default=None)
CACHE_ENTRIES = 256  # reports kept per process
CACHE_MAX_ROWS = 2000  # larger reports (a whole campaign table) are recomputed each time
_CACHE: OrderedDict[tuple[Any, ...], Report] = OrderedDict()
# Sorts for percentiles and group keys stay in memory at 100k campaigns.
_BEGIN = f"SELECT set_config('work_mem', '64MB', true), (SELECT token FROM {S}.revision)"

R = TypeVar("R", bound=Callable[..., Awaitable[Report]])


def _answered(report: R) -> R:
    """Run ``report`` in one read-only snapshot; answer from memory when the same report
    (same arguments: filters, caller, grouping, page) was computed under the snapshot's
    revision token. A token changes with every write (``projection.bump_revision``), so a
    remembered report is exactly what computing it again would give. Reports are shared:
    callers only read them."""

    @functools.wraps(report)
    async def answer(pool: asyncpg.Pool, *args: Any, **kwargs: Any) -> Report:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            token = (await conn.fetchrow(_BEGIN))[1]
            key = (report.__name__, token, args, tuple(sorted(kwargs.items())))
            if token is not None and (hit := _CACHE.get(key)) is not None:
                _CACHE.move_to_end(key)
                return hit
            bound = _SNAPSHOT.set(conn)
            try:
                result = await report(pool, *args, **kwargs)
            finally:
                _SNAPSHOT.reset(bound)
        if token is not None and len(result.rows) <= CACHE_MAX_ROWS:
            _CACHE[key] = result
            while len(_CACHE) > CACHE_ENTRIES:
                _CACHE.popitem(last=False)
        return result

    return answer  # type: ignore[return-value]


def forget() -> None:
    """Drop every remembered report (a benchmark measuring the computation itself)."""
    _CACHE.clear()


async def _snapshot(pool: asyncpg.Pool, work: Any) -> Any:
    conn = _SNAPSHOT.get()
    if conn is not None:
        return await work(conn)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await work(conn)


def _stats_sql(x: str, only: str = "", prefix: str = "") -> str:
    """count, mean and both percentiles of ``x`` (one sort for the two percentiles),
    of the rows meeting ``only`` when given."""
    f = f" FILTER (WHERE {only})" if only else ""
    return (f"count({x}){f} AS {prefix}n, avg({x}){f} AS {prefix}mean, "
            f"percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {x}){f} AS {prefix}pct")


def _stats(row: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    if row is None or not row[f"{prefix}n"]:
        return {"count": 0, "mean_hours": None, "p50_hours": None, "p90_hours": None}
    p50, p90 = row[f"{prefix}pct"]
    return {"count": row[f"{prefix}n"], "mean_hours": row[f"{prefix}mean"], "p50_hours": p50, "p90_hours": p90}


# --- campaign-level measures ---------------------------------------------------------

_CAMPAIGN_MEASURES = f"""
    count(*) FILTER (WHERE c.submitted) AS submitted,
    count(*) FILTER (WHERE c.submitted AND c.rejections > 0) AS reworked,
    coalesce(sum(c.revisions) FILTER (WHERE c.submitted), 0) AS revisions,
    count(c.on_time) AS launched_known, count(*) FILTER (WHERE c.on_time) AS on_time,
    count(c.data_complete) AS launched_complete_known, count(*) FILTER (WHERE c.data_complete) AS complete,
    count(c.launched_at) AS launched, count(c.cancelled_at) AS cancelled, count(c.completed_at) AS completed,
    {_stats_sql("c.cycle_time_hours")}
"""


def _single_key(group_by: GroupBy, basis: QuarterBasis) -> str:
    """The one group key of a campaign grouped by team or quarter (NULL: in no group)."""
    if group_by is GroupBy.team:
        return f"coalesce(c.team, '{UNKNOWN}')"
    return "c.launch_quarter" if basis is QuarterBasis.launch else "c.submission_quarter"


async def _campaign_measures(conn: asyncpg.Connection, scope: Scope, group_by: GroupBy | None,
                             basis: QuarterBasis) -> dict[str | None, Any]:
    if group_by is not None and _unselected(scope):
        return await _campaign_measures_from_totals(conn, group_by, basis)
    params: list[Any] = []
    if group_by is GroupBy.channel:  # a campaign counts under each of its channels
        rows = await conn.fetch(f"SELECT g.key, {_CAMPAIGN_MEASURES} {_from(scope, group_by, basis, params)} "
                                f"GROUP BY g.key", *params)
        return {r["key"]: r for r in rows}
    # One key per campaign: one pass for the overall figure and every group (grouping sets),
    # instead of reading each campaign once per key.
    where = scope.where(basis, params)
    if group_by is None:
        rows = await conn.fetch(f"SELECT NULL::text AS key, {_CAMPAIGN_MEASURES} FROM {S}.campaigns c "
                                f"WHERE {where}", *params)
        return {r["key"]: r for r in rows}
    rows = await conn.fetch(
        f"SELECT {_single_key(group_by, basis)} AS key, grouping({_single_key(group_by, basis)}) = 1 AS overall, "
        f"{_CAMPAIGN_MEASURES} FROM {S}.campaigns c WHERE {where} "
        f"GROUP BY GROUPING SETS ((), ({_single_key(group_by, basis)}))", *params)
    return {None if r["overall"] else r["key"]: r for r in rows if r["overall"] or r["key"] is not None}


def rework_body(r: asyncpg.Record | None) -> dict[str, Any]:
    submitted = r["submitted"] if r else 0
    reworked = r["reworked"] if r else 0
    revisions = int(r["revisions"]) if r else 0
    return {"submitted": submitted, "reworked": reworked, "rework_rate": rate(reworked, submitted),
            "revisions": revisions, "revisions_per_brief": revisions / submitted if submitted else None}


def on_time_body(r: asyncpg.Record | None) -> dict[str, Any]:
    launched = r["launched_known"] if r else 0
    on_time = r["on_time"] if r else 0
    return {"launched": launched, "on_time": on_time, "late": launched - on_time,
            "on_time_rate": rate(on_time, launched)}


def completeness_body(r: asyncpg.Record | None) -> dict[str, Any]:
    launched = r["launched_complete_known"] if r else 0
    complete = r["complete"] if r else 0
    return {"launched": launched, "complete": complete, "incomplete": launched - complete,
            "data_completeness": rate(complete, launched)}


def _groups(keys: Any) -> list[str]:
    return sorted(k for k in keys if k is not None)


def _head(name: str, scope: Scope, group_by: GroupBy | None, basis: QuarterBasis, **extra: Any) -> dict[str, Any]:
    return {"metric": name, **extra, "quarter_basis": basis.value, **scope.echo(),
            "group_by": group_by.value if group_by else None}


@_answered
async def campaign_report(pool: asyncpg.Pool, name: str, scope: Scope, group_by: GroupBy | None) -> Report:
    """cycle_time, rework, on_time_launch or data_completeness, overall and per group."""
    basis, shape, columns, extra = _CAMPAIGN_REPORTS[name]
    rows = await _snapshot(pool, lambda conn: _campaign_measures(conn, scope, group_by, basis))
    overall = shape(rows.get(None))
    body = {**_head(name, scope, group_by, basis, **extra), "overall": overall}
    flat = [{"group": ALL, **overall}]
    if group_by is not None:
        body["groups"] = []
        for key in _groups(rows):
            result = shape(rows[key])
            body["groups"].append({"group": key, **result})
            flat.append({"group": key, **result})
    return Report(body, ["group", *columns], flat)


_CAMPAIGN_REPORTS: dict[str, tuple[QuarterBasis, Any, list[str], dict[str, Any]]] = {
    "cycle_time": (QuarterBasis.launch, _stats, STATS_COLUMNS, {"unit": "hours"}),
    "rework": (QuarterBasis.submission, rework_body,
               ["submitted", "reworked", "rework_rate", "revisions", "revisions_per_brief"], {}),
    "on_time_launch": (QuarterBasis.submission, on_time_body, ["launched", "on_time", "late", "on_time_rate"], {}),
    "data_completeness": (QuarterBasis.submission, completeness_body,
                          ["launched", "complete", "incomplete", "data_completeness"], {}),
}


# --- decision-level measures ---------------------------------------------------------


def _decisions(scope: Scope, group_by: GroupBy | None, params: list[Any]) -> str:
    """The decisions ``d`` of the selected campaigns times their group keys ``g``. Every
    decision's campaign has its derived row, so with nothing to select on, the decisions
    alone are read (no join with 100k campaigns for the overall figures)."""
    if group_by is None and scope.where(QuarterBasis.submission, []) == "TRUE":
        return f"FROM {S}.gate_decisions d CROSS JOIN (VALUES (NULL::text)) AS g(key) WHERE TRUE"
    return _from(scope, group_by, QuarterBasis.submission, params,
                 f"JOIN {S}.gate_decisions d ON d.campaign_id = c.campaign_id")


async def _gate_measures(conn: asyncpg.Connection, scope: Scope, group_by: GroupBy | None,
                         approvals_only: bool) -> dict[str | None, list[dict[str, Any]]]:
    """Per group and gate: its policy position and latest name, and the decisions' numbers."""
    return (await _gate_passes(conn, scope, group_by, (approvals_only,)))[0]


async def _gate_passes(conn: asyncpg.Connection, scope: Scope, group_by: GroupBy | None,
                       variants: tuple[bool, ...]) -> list[dict[str | None, list[dict[str, Any]]]]:
    """``_gate_measures`` for each variant (approvals only, or every decision), all from one
    pass over the decisions (the summary needs both)."""
    params: list[Any] = []
    source = _decisions(scope, group_by, params)
    if variants == (True,):
        source += " AND d.outcome = 'approved'"
    columns = []
    for approvals in variants:
        v = "a_" if approvals else "d_"
        only = "d.outcome = 'approved'" if approvals and len(variants) > 1 else ""
        f = f" FILTER (WHERE {only})" if only else ""
        columns.append(f"min(d.gate_position){f} AS {v}position, max(d.decided_at){f} AS {v}last_at, "
                       f"count(*) FILTER (WHERE d.breached_sla{' AND ' + only if only else ''}) AS {v}breaches, "
                       f"{_stats_sql('d.hours_in_gate', only, v)}")
    rows = await conn.fetch(f"SELECT g.key, d.gate_id, {', '.join(columns)} {source} GROUP BY g.key, d.gate_id",
                            *params)
    out: list[dict[str | None, list[dict[str, Any]]]] = []
    for approvals in variants:
        v = "a_" if approvals else "d_"
        gates: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if r[f"{v}n"]:
                gates[r["key"]].append({"key": r["key"], "gate_id": r["gate_id"], "position": r[f"{v}position"],
                                        "last_at": r[f"{v}last_at"], "breaches": r[f"{v}breaches"],
                                        "n": r[f"{v}n"], "mean": r[f"{v}mean"], "pct": r[f"{v}pct"]})
        await _name_gates(conn, scope, group_by, approvals, [g for per in gates.values() for g in per])
        for per in gates.values():
            per.sort(key=lambda g: (g["position"], g["gate_id"]))
        out.append(gates)
    return out


async def _name_gates(conn: asyncpg.Connection, scope: Scope, group_by: GroupBy | None, approvals: bool,
                      gates: list[dict[str, Any]]) -> None:
    """Each (group, gate)'s latest name: of its latest decision, the greatest name in
    code-point order among the group's decisions at that very time. Read from the few
    decisions at that time (the index by gate and decision time), then checked against
    the group, instead of sorting or rescanning every decision."""
    if not gates:
        return
    params: list[Any] = [[g["gate_id"] for g in gates], [g["last_at"] for g in gates],
                         [g["key"] for g in gates]]
    outcome = "AND d.outcome = 'approved'" if approvals else ""
    where = scope.where(QuarterBasis.submission, params)
    rows = await conn.fetch(
        f"""
        SELECT w.n, max(d.gate_name COLLATE "C") AS gate_name
        FROM unnest($1::text[], $2::timestamptz[], $3::text[]) WITH ORDINALITY AS w(gate_id, last_at, key, n)
        JOIN {S}.gate_decisions d ON d.gate_id = w.gate_id AND d.decided_at = w.last_at {outcome}
        JOIN {S}.campaigns c ON c.campaign_id = d.campaign_id
        WHERE {where} AND (w.key IS NULL OR w.key = ANY({_keys(group_by, QuarterBasis.submission)}))
        GROUP BY w.n
        """, *params)
    names = {r["n"]: r["gate_name"] for r in rows}
    for n, g in enumerate(gates, start=1):
        g["gate_name"] = names.get(n)


async def _group_keys(conn: asyncpg.Connection, scope: Scope, group_by: GroupBy | None,
                      basis: QuarterBasis) -> list[str]:
    if group_by is None:
        return []
    params: list[Any] = []
    rows = await conn.fetch(f"SELECT DISTINCT g.key {_from(scope, group_by, basis, params)}", *params)
    return _groups(r["key"] for r in rows)


def gate_times_body(gates: list[dict[str, Any]]) -> dict[str, Any]:
    out = [{"gate_id": g["gate_id"], "gate_name": g["gate_name"], **_stats(g), "bottleneck": False} for g in gates]
    bottleneck = None
    if out:
        # Highest p90; a tie goes to the earlier gate in policy order.
        top = max(out, key=lambda g: g["p90_hours"])
        top["bottleneck"] = True
        bottleneck = {"gate_id": top["gate_id"], "gate_name": top["gate_name"], "p90_hours": top["p90_hours"]}
    return {"gates": out, "bottleneck": bottleneck}


def sla_body(gates: list[dict[str, Any]]) -> dict[str, Any]:
    out = [{"gate_id": g["gate_id"], "gate_name": g["gate_name"], "decisions": g["n"], "breaches": g["breaches"],
            "breach_rate": rate(g["breaches"], g["n"])} for g in gates]
    decisions = sum(g["n"] for g in gates)
    breaches = sum(g["breaches"] for g in gates)
    return {"decisions": decisions, "breaches": breaches, "breach_rate": rate(breaches, decisions), "gates": out}


@_answered
async def gate_report(pool: asyncpg.Pool, name: str, scope: Scope, group_by: GroupBy | None) -> Report:
    """time_in_gate (approvals) or sla_breaches (every decision), overall and per group."""
    approvals = name == "time_in_gate"
    shape = gate_times_body if approvals else sla_body
    basis = QuarterBasis.submission

    async def work(conn: asyncpg.Connection) -> tuple[Any, list[str]]:
        if group_by is not None and _unselected(scope):
            return ((await _gate_passes_from_totals(conn, group_by, (approvals,)))[0],
                    await _group_keys_from_totals(conn, group_by, basis))
        return (await _gate_measures(conn, scope, group_by, approvals),
                await _group_keys(conn, scope, group_by, basis))

    gates, keys = await _snapshot(pool, work)
    rows_of = _gate_rows if approvals else _sla_rows
    overall = shape(gates.get(None, []))
    body = {**_head(name, scope, group_by, basis, **({"unit": "hours"} if approvals else {})), "overall": overall}
    flat = rows_of(ALL, overall)
    if group_by is not None:
        body["groups"] = []
        for key in keys:
            result = shape(gates.get(key, []))
            body["groups"].append({"group": key, **result})
            flat += rows_of(key, result)
    columns = (["gate_id", "gate_name", *STATS_COLUMNS, "bottleneck"] if approvals
               else ["gate_id", "gate_name", "decisions", "breaches", "breach_rate"])
    return Report(body, ["group", *columns], flat)


# --- money ---------------------------------------------------------------------------


def _totals(sums: dict[str, Variance]) -> list[dict[str, Any]]:
    return [{"currency": cur, **sums[cur].body(cur)} for cur in sorted(sums)]


async def _currency_totals(conn: asyncpg.Connection, scope: Scope) -> dict[str, Variance]:
    params: list[Any] = []
    where = scope.where(QuarterBasis.submission, params)
    # Every money row's campaign has its row: with nothing to select on, no join.
    source = (f"FROM {S}.campaign_money m" if where == "TRUE" else
              f"FROM {S}.campaigns c JOIN {S}.campaign_money m ON m.campaign_id = c.campaign_id WHERE {where}")
    rows = await conn.fetch(
        f"SELECT m.currency, sum(m.committed) AS committed, sum(m.actual) AS actual, "
        f"sum(m.unreconciled) AS unreconciled {source} GROUP BY m.currency", *params)
    return {r["currency"]: _variance(r) for r in rows}


def _variance(r: asyncpg.Record) -> Variance:
    return Variance(committed=r["committed"], actual=r["actual"], unreconciled=r["unreconciled"])


@_answered
async def variance_by_campaign(pool: asyncpg.Pool, scope: Scope, group_by: GroupBy | None) -> Report:
    basis = QuarterBasis.submission

    money_join = f"JOIN {S}.campaign_money m ON m.campaign_id = c.campaign_id"

    async def work(conn: asyncpg.Connection) -> tuple[Any, Any]:
        if group_by is not None and _unselected(scope):
            return await _money_totals(conn), await _group_money_from_totals(conn, group_by)
        totals = await _currency_totals(conn, scope)
        params: list[Any] = []
        if group_by is None:
            rows = await conn.fetch(
                f"SELECT c.campaign_id, c.title, c.team, c.budget_line_id, m.currency, m.committed, m.actual, "
                f"m.unreconciled "
                f"FROM {S}.campaigns c JOIN {S}.campaign_money m ON m.campaign_id = c.campaign_id "
                f"WHERE {scope.where(basis, params)}", *params)
        else:
            rows = await conn.fetch(
                f"SELECT g.key, m.currency, sum(m.committed) AS committed, sum(m.actual) AS actual, "
                f"sum(m.unreconciled) AS unreconciled "
                f"{_from(scope, group_by, basis, params, money_join)} "
                f"AND g.key IS NOT NULL GROUP BY g.key, m.currency", *params)
        return totals, rows

    totals, rows = await _snapshot(pool, work)
    body: dict[str, Any] = {"metric": "budget_variance", "by": "campaign", "quarter_basis": basis.value,
                            **scope.echo(), "group_by": group_by.value if group_by else None,
                            "totals": _totals(totals)}
    if group_by is None:
        out = [{"campaign_id": r["campaign_id"], "title": r["title"], "team": r["team"],
                "budget_line_id": r["budget_line_id"], "currency": r["currency"],
                **_variance(r).body(r["currency"])}
               for r in sorted(rows, key=lambda r: (r["campaign_id"], r["currency"]))]
        columns = ["campaign_id", "title", "team", "budget_line_id", *VARIANCE_COLUMNS]
    else:
        out = [{"group": r["key"], "currency": r["currency"],
                **_variance(r).body(r["currency"])}
               for r in sorted(rows, key=lambda r: (r["key"], r["currency"]))]
        columns = ["group", *VARIANCE_COLUMNS]
    body["rows"] = out
    return Report(body, columns, out)


@_answered
async def variance_by_line(pool: asyncpg.Pool, scope: Scope) -> Report:
    basis = QuarterBasis.submission

    async def work(conn: asyncpg.Connection) -> tuple[Any, Any]:
        params: list[Any] = []
        committed = await conn.fetch(
            f"SELECT c.committed_line_id AS line, c.committed_currency AS currency, sum(c.committed) AS amount "
            f"FROM {S}.campaigns c WHERE c.committed_currency IS NOT NULL AND {scope.where(basis, params)} "
            f"GROUP BY 1, 2", *params)
        params = []
        # A spend counts on its own line, else the campaign's committed line, else its brief's.
        actual = await conn.fetch(
            f"SELECT coalesce(nullif(s.budget_line_id, ''), nullif(c.default_spend_line, ''), '{UNKNOWN}') AS line, "
            f"s.currency, sum(s.amount) AS amount, "
            f"coalesce(sum(s.amount) FILTER (WHERE r.status = 'unreconciled'), 0) AS unreconciled "
            f"FROM {S}.campaigns c JOIN {S}.spends s ON s.campaign_id = c.campaign_id "
            f"LEFT JOIN {S}.spend_reconciliations r USING (source_system, source_reference) "
            f"WHERE {scope.where(basis, params)} GROUP BY 1, 2", *params)
        return committed, actual

    committed, actual = await _snapshot(pool, work)
    lines: dict[tuple[str, str], Variance] = defaultdict(Variance)
    for r in committed:
        lines[(r["line"], r["currency"])].committed += r["amount"]
    for r in actual:
        lines[(r["line"], r["currency"])].actual += r["amount"]
        lines[(r["line"], r["currency"])].unreconciled += r["unreconciled"]
    totals: dict[str, Variance] = defaultdict(Variance)
    for (_, cur), v in lines.items():
        totals[cur].add(v)
    rows = [{"budget_line_id": line, "currency": cur, **v.body(cur)} for (line, cur), v in sorted(lines.items())]
    body = {"metric": "budget_variance", "by": "budget_line", "quarter_basis": basis.value, **scope.echo(),
            "totals": _totals(totals), "rows": rows}
    return Report(body, ["budget_line_id", *VARIANCE_COLUMNS], rows)


@_answered
async def spend_by_month(pool: asyncpg.Pool, scope: Scope, group_by: GroupBy | None) -> Report:
    """Actual spend per calendar month of the spend's incurred date, per currency."""
    basis = QuarterBasis.submission
    params: list[Any] = []
    source = _from(scope, group_by, basis, params, f"JOIN {S}.spends s ON s.campaign_id = c.campaign_id")
    # Overall rows without grouping; group rows only with it.
    keep = "g.key IS NULL" if group_by is None else "g.key IS NOT NULL"
    rows = await _snapshot(pool, lambda conn: conn.fetch(
        f"SELECT g.key, to_char(s.incurred_on, 'YYYY-MM') AS month, s.currency, sum(s.amount) AS actual "
        f"{source} AND {keep} GROUP BY 1, 2, 3", *params))
    out = [{"group": r["key"] if r["key"] is not None else ALL, "month": r["month"], "currency": r["currency"],
            "actual": money(r["actual"], r["currency"])}
           for r in sorted(rows, key=lambda r: (r["key"] or ALL, r["month"], r["currency"]))]
    body = {"metric": "actual_spend", "by": "month", "quarter_basis": basis.value, **scope.echo(),
            "group_by": group_by.value if group_by else None, "rows": out}
    return Report(body, ["group", "month", "currency", "actual"], out)


# --- the campaign table and the summary ----------------------------------------------


def encode_cursor(campaign_id: str) -> str:
    return base64.urlsafe_b64encode(campaign_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def campaign_row(r: asyncpg.Record, spend: list[asyncpg.Record]) -> dict[str, Any]:
    return {
        "campaign_id": r["campaign_id"], "title": r["title"], "team": r["team"], "owner": r["owner"],
        "channels": list(r["channels"]), "status": r["status"], "latest_version": r["latest_version"],
        "revisions": r["revisions"], "rejections": r["rejections"], "first_submitted_at": r["first_submitted_at"],
        "target_launch_date": r["target_launch_date"], "launched_at": r["launched_at"], "on_time": r["on_time"],
        "cycle_time_hours": r["cycle_time_hours"], "data_complete": r["data_complete"],
        "cancelled_at": r["cancelled_at"], "completed_at": r["completed_at"], "budget_line_id": r["budget_line_id"],
        "committed": money(r["committed"], r["committed_currency"]) if r["committed"] is not None else None,
        "committed_currency": r["committed_currency"],
        "actual_spend": [{"currency": m["currency"], "amount": money(m["actual"], m["currency"])}
                         for m in sorted(spend, key=lambda m: m["currency"])],
    }


@_answered
async def campaign_table(pool: asyncpg.Pool, scope: Scope, *, limit: int, after: str | None = None) -> Report:
    """A page of the campaign table in campaign id order, ``limit`` rows after
    the campaign id ``after``; ``next_cursor`` continues it."""

    async def work(conn: asyncpg.Connection) -> tuple[Any, Any]:
        params: list[Any] = []
        where = scope.where(QuarterBasis.submission, params)
        # Keyset pagination on the primary key (in the database's collation, which the
        # cursor comparison uses too); a separate statement per case keeps the index usable.
        if after is not None:
            params.append(after)
            where += f" AND c.campaign_id > ${len(params)}::text"
        # The limit written into the statement, not a parameter: a generic plan with an
        # unknown limit expects a tenth of the table and sorts it instead of reading the
        # key's index (100 ms instead of 1 at 100k campaigns).
        rows = await conn.fetch(
            f"SELECT c.* FROM {S}.campaigns c WHERE {where} ORDER BY c.campaign_id LIMIT {int(limit) + 1}", *params)
        money_rows = await conn.fetch(
            f"SELECT campaign_id, currency, actual FROM {S}.campaign_money "
            f"WHERE has_spend AND campaign_id = ANY($1::text[])", [r["campaign_id"] for r in rows[:limit]])
        return rows, money_rows

    rows, money_rows = await _snapshot(pool, work)
    spend: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for m in money_rows:
        spend[m["campaign_id"]].append(m)
    page = [campaign_row(r, spend[r["campaign_id"]]) for r in rows[:limit]]
    next_cursor = encode_cursor(page[-1]["campaign_id"]) if len(rows) > limit else None
    body = {**scope.echo(), "count": len(page), "limit": limit, "next_cursor": next_cursor, "campaigns": page}
    return Report(body, CAMPAIGN_COLUMNS, page)


# --- the summary from the totals (migrations/010_summary_rows.sql) ----------------------


def _ranks(n: int) -> list[tuple[float, int]]:
    """(rank, lower index) of p50 and p90 over ``n`` sorted values, computed as
    ``percentile_cont`` does (so the summary's floats are the grouped reports' to the bit)."""
    out = []
    for p in (0.5, 0.9):
        rank = p * (n - 1)
        out.append((rank, math.floor(rank)))
    return out


def _interpolated(n: int, rank: float, lo: int, pair: list[float]) -> float:
    """``percentile_cont``'s interpolation, from the values at ``lo`` and ``lo + 1``."""
    hi_value = pair[1] if lo + 1 <= n - 1 else pair[0]
    return pair[0] + (rank - lo) * (hi_value - pair[0])


async def _percentiles(conn: asyncpg.Connection, measures: list[tuple[str, int]]) -> dict[str, list[float]]:
    """p50 and p90 of each (measure, count) over all campaigns: the bucket holding each rank
    from the running bucket counts, then the value and its successor from the counts of
    exact values inside it (``_pairs``)."""
    wanted = [(m, n, rank, lo) for m, n in measures if n for rank, lo in _ranks(n)]
    if not wanted:
        return {}
    located = await conn.fetch(
        f"""
        SELECT w.i, x.bucket, x.upto, w.k - x.before AS skip
        FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS w(measure, k, i)
        CROSS JOIN LATERAL (
            SELECT c.bucket, coalesce(c.next, c.bucket) + 1 AS upto, c.running - c.n AS before
            FROM (SELECT b.bucket, b.n, sum(b.n) OVER (ORDER BY b.bucket) AS running,
                         lead(b.bucket) OVER (ORDER BY b.bucket) AS next
                  FROM {S}.summary_buckets b WHERE b.measure = w.measure) c
            WHERE c.running > w.k ORDER BY c.bucket LIMIT 1) x
        ORDER BY w.i
        """, [m for m, _, _, _ in wanted], [lo for _, _, _, lo in wanted])
    pairs = await _pairs(conn, [(r["i"], "", wanted[r["i"] - 1][0], r["bucket"], r["upto"], r["skip"])
                                for r in located])
    out: dict[str, list[float]] = {}
    for i, (m, n, rank, lo) in enumerate(wanted, start=1):
        out.setdefault(m, []).append(_interpolated(n, rank, lo, pairs[i]))
    return out


async def _pairs(conn: asyncpg.Connection, located: list[tuple[int, str, str, int, int, int]]
                 ) -> dict[int, list[float]]:
    """For each (i, group, measure, bucket, upto, skip): the value at ``skip`` among the
    group's values from ``bucket`` (below ``upto``) and the one after it, read from the
    counts of exact values (``value_counts``; group '' is every campaign)."""
    if not located:
        return {}
    rows = await conn.fetch(
        f"""
        SELECT w.i, x.v1, x.v2
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
             AS w(i, grp, measure, bucket, upto, skip)
        CROSS JOIN LATERAL (
            SELECT min(v.value) FILTER (WHERE v.running > w.skip) AS v1,
                   min(v.value) FILTER (WHERE v.running > w.skip + 1) AS v2
            FROM (SELECT c.value, sum(c.n) OVER (ORDER BY c.value) AS running FROM {S}.value_counts c
                  WHERE c.grp = w.grp AND c.measure = w.measure AND c.value >= w.bucket AND c.value < w.upto) v) x
        """, *(list(column) for column in zip(*located, strict=True)))
    return {r["i"]: [r["v1"]] + ([r["v2"]] if r["v2"] is not None else []) for r in rows}


def _mean_of_micros(micros: Decimal, n: int) -> float | None:
    return float(micros / (Decimal(n) * 3_600_000_000)) if n else None


async def summary_from_totals(conn: asyncpg.Connection) -> tuple[Any, ...]:
    """What ``summary``'s scans give with nothing selected, from the totals the derivation
    keeps: the same records, so the body is built by the same code."""
    c = await conn.fetchrow(f"SELECT * FROM {S}.summary_campaigns")
    approvals, decisions, pct = await _summary_gates(conn, [("cycle", c["cycle_n"] if c else 0)])
    money = await conn.fetch(f"SELECT * FROM {S}.summary_money WHERE money_rows > 0")
    sub: dict[str, Any] | None = None
    if c is not None:
        sub = {"submitted": c["submitted"], "reworked": c["reworked"], "revisions": c["revisions"],
               "launched_known": c["launched_known"], "on_time": c["on_time"],
               "launched_complete_known": c["complete_known"], "complete": c["complete"],
               "launched": c["launched"], "cancelled": c["cancelled"], "completed": c["completed"],
               "n": c["cycle_n"], "mean": _mean_of_micros(c["cycle_micros"], c["cycle_n"]), "pct": pct.get("cycle")}
    totals = {r["currency"]: Variance(committed=r["committed"], actual=r["actual"], unreconciled=r["unreconciled"])
              for r in money}
    return sub, sub, {None: approvals} if approvals else {}, {None: decisions} if decisions else {}, totals


async def _summary_gates(conn: asyncpg.Connection, measures: list[tuple[str, int]] | None = None
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[float]]]:
    """Every gate's figures over all campaigns from the totals: the approvals' (time in
    gate) and every decision's (SLA), and the percentiles of ``measures`` beside the gates'."""
    gates = await conn.fetch(
        f"""
        SELECT g.gate_id, g.outcome, g.decisions, g.breaches, g.micros,
               (SELECT min(d.gate_position) FROM {S}.derived_decisions d
                WHERE d.gate_id = g.gate_id AND d.outcome = g.outcome) AS position,
               (SELECT max(d.decided_at) FROM {S}.derived_decisions d
                WHERE d.gate_id = g.gate_id AND d.outcome = g.outcome) AS last_at
        FROM {S}.summary_gates g WHERE g.decisions > 0
        """)
    approved = {g["gate_id"]: g for g in gates if g["outcome"] == "approved"}
    pct = await _percentiles(conn, [*(measures or []), *((f"gate:{g}", r["decisions"]) for g, r in approved.items())])
    approvals = [{"key": None, "gate_id": g, "position": r["position"], "last_at": r["last_at"],
                  "breaches": r["breaches"], "n": r["decisions"], "mean": _mean_of_micros(r["micros"], r["decisions"]),
                  "pct": pct[f"gate:{g}"]} for g, r in approved.items()]
    every: dict[str, dict[str, Any]] = {}
    for r in gates:
        d = every.setdefault(r["gate_id"], {"key": None, "gate_id": r["gate_id"], "position": r["position"],
                                            "last_at": r["last_at"], "breaches": 0, "n": 0})
        d["position"] = min(d["position"], r["position"])
        d["last_at"] = max(d["last_at"], r["last_at"])
        d["breaches"] += r["breaches"]
        d["n"] += r["decisions"]
    decisions = list(every.values())
    await _name_gates_from_totals(conn, approvals, ["approved"])
    await _name_gates_from_totals(conn, decisions, ["approved", "rejected"])
    for per in (approvals, decisions):
        per.sort(key=lambda g: (g["position"], g["gate_id"]))
    return approvals, decisions, pct


async def _name_gates_from_totals(conn: asyncpg.Connection, gates: list[dict[str, Any]], outcomes: list[str]) -> None:
    if not gates:
        return
    rows = await conn.fetch(
        f"""
        SELECT w.n, (SELECT max(d.gate_name COLLATE "C") FROM {S}.derived_decisions d
                     WHERE d.gate_id = w.gate_id AND d.outcome = ANY($3::text[]) AND d.decided_at = w.last_at)
                    AS gate_name
        FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS w(gate_id, last_at, n)
        """, [g["gate_id"] for g in gates], [g["last_at"] for g in gates], outcomes)
    names = {r["n"]: r["gate_name"] for r in rows}
    for n, g in enumerate(gates, start=1):
        g["gate_name"] = names.get(n)


async def summary_by_scan(conn: asyncpg.Connection, scope: Scope) -> tuple[Any, ...]:
    """The summary's figures aggregated over the selected campaigns' rows."""
    by_submission = await _campaign_measures(conn, scope, None, QuarterBasis.submission)
    by_launch = (by_submission if scope.filters.quarter is None
                 else await _campaign_measures(conn, scope, None, QuarterBasis.launch))
    approvals, decisions = await _gate_passes(conn, scope, None, (True, False))
    return by_submission.get(None), by_launch.get(None), approvals, decisions, await _currency_totals(conn, scope)


def summary_body(scope: Scope, figures: tuple[Any, ...]) -> dict[str, Any]:
    sub, launch, approvals, decisions, totals = figures
    return {
        **scope.echo(),
        "campaigns": {
            "submitted": sub["submitted"] if sub else 0,
            "launched": sub["launched"] if sub else 0,
            "cancelled": sub["cancelled"] if sub else 0,
            "completed": sub["completed"] if sub else 0,
        },
        "cycle_time": _stats(launch),
        "time_in_gate": gate_times_body(approvals.get(None, [])),
        "rework": rework_body(sub),
        "on_time": on_time_body(sub),
        "sla": sla_body(decisions.get(None, [])),
        "data_completeness": completeness_body(sub),
        "budget_variance": _totals(totals),
    }


@_answered
async def summary(pool: asyncpg.Pool, scope: Scope) -> Report:
    """Every headline number at once, under the same filters, from one snapshot. With
    nothing selected (no filter, a caller who reads everything), from the totals."""

    async def work(conn: asyncpg.Connection) -> tuple[Any, ...]:
        if _unselected(scope):
            return await summary_from_totals(conn)
        return await summary_by_scan(conn, scope)

    body = summary_body(scope, await _snapshot(pool, work))
    rows = [{"metric": k, "value": v} for k, v in _flatten(body)]
    return Report(body, ["metric", "value"], rows)


# --- grouped reports from the group totals (migrations/012_group_totals.sql) ------------


_FROM_TOTALS: ContextVar[bool] = ContextVar("metrics_reports_from_totals", default=True)


@contextmanager
def scanning() -> Iterator[None]:
    """Compute reports by aggregating the rows even where totals could answer (tests hold
    the two ways to each other); nothing remembered is answered meanwhile."""
    token = _FROM_TOTALS.set(False)
    forget()
    try:
        yield
    finally:
        _FROM_TOTALS.reset(token)
        forget()


def _unselected(scope: Scope) -> bool:
    """Nothing selected: no filter, and a caller who reads everything (the totals cover
    every campaign, so they answer only such a report)."""
    return _FROM_TOTALS.get() and scope.where(QuarterBasis.submission, []) == "TRUE"


def _prefix(group_by: GroupBy, basis: QuarterBasis) -> str:
    """The totals' group names of a grouping (metrics_groups: 't:team', 'c:channel', ...)."""
    if group_by is GroupBy.team:
        return "t:"
    if group_by is GroupBy.channel:
        return "c:"
    return "lq:" if basis is QuarterBasis.launch else "sq:"


async def _group_percentiles(conn: asyncpg.Connection, wanted: list[tuple[str, str, int]]
                             ) -> dict[tuple[str, str], list[float]]:
    """p50 and p90 of each (group, measure, count), as ``_percentiles`` does overall: the
    group's bucket holding each rank from its running bucket counts, then the value and
    its successor from the group's counts of exact values from that bucket up to the
    group's next non-empty bucket."""
    ranks = [(grp, m, n, rank, lo) for grp, m, n in wanted if n for rank, lo in _ranks(n)]
    if not ranks:
        return {}
    located = await conn.fetch(
        f"""
        SELECT w.i, x.bucket, x.upto, w.k - x.before AS skip
        FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS w(grp, measure, k, i)
        CROSS JOIN LATERAL (
            SELECT c.bucket, coalesce(c.next, c.bucket) + 1 AS upto, c.running - c.n AS before
            FROM (SELECT b.bucket, b.n, sum(b.n) OVER (ORDER BY b.bucket) AS running,
                         lead(b.bucket) OVER (ORDER BY b.bucket) AS next
                  FROM {S}.group_buckets b WHERE b.grp = w.grp AND b.measure = w.measure) c
            WHERE c.running > w.k ORDER BY c.bucket LIMIT 1) x
        ORDER BY w.i
        """, [r[0] for r in ranks], [r[1] for r in ranks], [r[4] for r in ranks])
    pairs = await _pairs(conn, [(r["i"], ranks[r["i"] - 1][0], ranks[r["i"] - 1][1], r["bucket"], r["upto"],
                                 r["skip"]) for r in located])
    out: dict[tuple[str, str], list[float]] = {}
    for i, (grp, m, n, rank, lo) in enumerate(ranks, start=1):
        out.setdefault((grp, m), []).append(_interpolated(n, rank, lo, pairs[i]))
    return out


def _measures_of(c: Mapping[str, Any] | None, pct: list[float] | None) -> dict[str, Any] | None:
    """A totals row as the record the campaign measures' scan gives."""
    if c is None:
        return None
    return {"submitted": c["submitted"], "reworked": c["reworked"], "revisions": c["revisions"],
            "launched_known": c["launched_known"], "on_time": c["on_time"],
            "launched_complete_known": c["complete_known"], "complete": c["complete"],
            "launched": c["launched"], "cancelled": c["cancelled"], "completed": c["completed"],
            "n": c["cycle_n"], "mean": _mean_of_micros(c["cycle_micros"], c["cycle_n"]), "pct": pct}


async def _campaign_measures_from_totals(conn: asyncpg.Connection, group_by: GroupBy,
                                         basis: QuarterBasis) -> dict[str | None, dict[str, Any] | None]:
    """``_campaign_measures`` with nothing selected, from the totals: overall and per group."""
    prefix = _prefix(group_by, basis)
    overall = await conn.fetchrow(f"SELECT * FROM {S}.summary_campaigns")
    groups = await conn.fetch(f"SELECT * FROM {S}.group_campaigns WHERE starts_with(grp, $1) AND campaigns > 0",
                              prefix)
    pct = await _percentiles(conn, [("cycle", overall["cycle_n"] if overall else 0)])
    # Cycle times are bucketed by the groups the cycle-time report has (launch quarters);
    # the other reports of submission quarters give no percentile.
    group_pct = (await _group_percentiles(conn, [(g["grp"], "cycle", g["cycle_n"]) for g in groups])
                 if prefix != "sq:" else {})
    out: dict[str | None, dict[str, Any] | None] = {}
    if overall is not None:
        out[None] = _measures_of(overall, pct.get("cycle"))
    for g in groups:
        out[g["grp"].removeprefix(prefix)] = _measures_of(g, group_pct.get((g["grp"], "cycle")))
    return out


async def _group_keys_from_totals(conn: asyncpg.Connection, group_by: GroupBy, basis: QuarterBasis) -> list[str]:
    prefix = _prefix(group_by, basis)
    rows = await conn.fetch(f"SELECT grp FROM {S}.group_campaigns WHERE starts_with(grp, $1) AND campaigns > 0",
                            prefix)
    return _groups(r["grp"].removeprefix(prefix) for r in rows)


async def _gate_passes_from_totals(conn: asyncpg.Connection, group_by: GroupBy, variants: tuple[bool, ...]
                                   ) -> list[dict[str | None, list[dict[str, Any]]]]:
    """``_gate_passes`` with nothing selected, grouped, from the totals: per group and gate,
    the decisions' numbers; its policy position, latest decision time and latest name read
    from the first of the group's decisions in the indexes' order."""
    prefix = _prefix(group_by, QuarterBasis.submission)
    approvals_overall, decisions_overall, _ = await _summary_gates(conn)
    overall = {True: approvals_overall, False: decisions_overall}
    totals = await conn.fetch(f"SELECT * FROM {S}.group_gates WHERE starts_with(grp, $1) AND decisions > 0", prefix)
    if not totals:
        return [{None: overall[v]} if overall[v] else {} for v in variants]
    ends = await conn.fetch(
        f"""
        SELECT w.i,
               (SELECT d.gate_position FROM {S}.derived_decisions d
                WHERE d.gate_id = w.gate_id AND d.outcome = w.outcome AND w.grp = ANY(d.groups)
                ORDER BY d.gate_position LIMIT 1) AS position,
               (SELECT d.decided_at FROM {S}.derived_decisions d
                WHERE d.gate_id = w.gate_id AND d.outcome = w.outcome AND w.grp = ANY(d.groups)
                ORDER BY d.decided_at DESC LIMIT 1) AS last_at
        FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS w(grp, gate_id, outcome, i)
        """, [t["grp"] for t in totals], [t["gate_id"] for t in totals], [t["outcome"] for t in totals])
    end = {r["i"]: r for r in ends}
    pct = await _group_percentiles(conn, [(t["grp"], f"gate:{t['gate_id']}", t["decisions"])
                                          for t in totals if t["outcome"] == "approved"])
    out: list[dict[str | None, list[dict[str, Any]]]] = []
    for approvals in variants:
        per: dict[tuple[str, str], dict[str, Any]] = {}
        for i, t in enumerate(totals, start=1):
            if approvals and t["outcome"] != "approved":
                continue
            key = t["grp"].removeprefix(prefix)
            g = per.get((key, t["gate_id"]))
            if g is None:
                per[(key, t["gate_id"])] = {
                    "key": key, "gate_id": t["gate_id"], "position": end[i]["position"],
                    "last_at": end[i]["last_at"], "breaches": t["breaches"], "n": t["decisions"],
                    "mean": _mean_of_micros(t["micros"], t["decisions"]) if approvals else None,
                    "pct": pct.get((t["grp"], f"gate:{t['gate_id']}")) if approvals else None}
            else:  # the other outcome of the same gate (every decision)
                g["position"] = min(g["position"], end[i]["position"])
                g["last_at"] = max(g["last_at"], end[i]["last_at"])
                g["breaches"] += t["breaches"]
                g["n"] += t["decisions"]
        gates: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for g in per.values():
            gates[g["key"]].append(g)
        await _name_group_gates(conn, prefix, [g for each in gates.values() for g in each],
                                ["approved"] if approvals else ["approved", "rejected"])
        for each in gates.values():
            each.sort(key=lambda g: (g["position"], g["gate_id"]))
        if overall[approvals]:
            gates[None] = overall[approvals]
        out.append(gates)
    return out


async def _name_group_gates(conn: asyncpg.Connection, prefix: str, gates: list[dict[str, Any]],
                            outcomes: list[str]) -> None:
    """Each (group, gate)'s latest name: the greatest in code-point order among the group's
    decisions at its latest decision time."""
    if not gates:
        return
    rows = await conn.fetch(
        f"""
        SELECT w.n, (SELECT max(d.gate_name COLLATE "C") FROM {S}.derived_decisions d
                     WHERE d.gate_id = w.gate_id AND d.outcome = ANY($4::text[]) AND d.decided_at = w.last_at
                       AND w.grp = ANY(d.groups)) AS gate_name
        FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS w(grp, gate_id, last_at, n)
        """, [prefix + g["key"] for g in gates], [g["gate_id"] for g in gates], [g["last_at"] for g in gates],
        outcomes)
    names = {r["n"]: r["gate_name"] for r in rows}
    for n, g in enumerate(gates, start=1):
        g["gate_name"] = names.get(n)


async def _money_totals(conn: asyncpg.Connection) -> dict[str, Variance]:
    rows = await conn.fetch(f"SELECT * FROM {S}.summary_money WHERE money_rows > 0")
    return {r["currency"]: _variance(r) for r in rows}


async def _group_money_from_totals(conn: asyncpg.Connection, group_by: GroupBy) -> list[dict[str, Any]]:
    """Per group and currency: the sums ``variance_by_campaign`` gives grouped."""
    prefix = _prefix(group_by, QuarterBasis.submission)
    rows = await conn.fetch(f"SELECT * FROM {S}.group_money WHERE starts_with(grp, $1) AND money_rows > 0", prefix)
    return [{"key": r["grp"].removeprefix(prefix), "currency": r["currency"], "committed": r["committed"],
             "actual": r["actual"], "unreconciled": r["unreconciled"]} for r in rows]
