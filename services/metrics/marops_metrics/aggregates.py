"""The aggregates of SPEC section 4, computed from derived campaigns: filters, groups, reports.

Every report is a ``Report``: a JSON body for the API and flat rows (with fixed columns)
for CSV export, built from the same numbers. Durations are in hours (floats, unrounded),
money is a decimal string per currency, rates are fractions between 0 and 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from marops_events.money import format_amount

from .domain import (
    UNKNOWN,
    Campaign,
    GateDecision,
    QuarterBasis,
    Spend,
    Stats,
    month_of,
    percent_of,
    rate,
    utc_date,
)

ALL = "(all)"


class GroupBy(StrEnum):
    team = "team"
    channel = "channel"
    quarter = "quarter"


@dataclass(frozen=True)
class Filters:
    team: str | None = None
    channel: str | None = None
    submitted_from: date | None = None
    submitted_to: date | None = None
    launched_from: date | None = None
    launched_to: date | None = None
    quarter: str | None = None  # "2026-Q1"; of launch for cycle time, of first submission otherwise

    def admits(self, c: Campaign, basis: QuarterBasis) -> bool:
        if self.team is not None and c.team != self.team:
            return False
        if self.channel is not None and self.channel not in c.channels:
            return False
        if self.submitted_from or self.submitted_to:
            if c.first_submitted_at is None or not _within(utc_date(c.first_submitted_at), self.submitted_from,
                                                           self.submitted_to):
                return False
        if self.launched_from or self.launched_to:
            if c.launched_at is None or not _within(utc_date(c.launched_at), self.launched_from, self.launched_to):
                return False
        return self.quarter is None or c.quarter(basis) == self.quarter

    def echo(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if v is not None}


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def group_keys(c: Campaign, group_by: GroupBy, basis: QuarterBasis) -> list[str]:
    """The groups a campaign counts under: one team, each of its channels, one quarter
    (none when it has no date on the basis, e.g. not launched for cycle time)."""
    if group_by is GroupBy.team:
        return [c.team or UNKNOWN]
    if group_by is GroupBy.channel:
        return list(c.channels) or [UNKNOWN]
    quarter = c.quarter(basis)
    return [quarter] if quarter else []


def grouped(campaigns: Iterable[Campaign], group_by: GroupBy, basis: QuarterBasis) -> dict[str, list[Campaign]]:
    groups: dict[str, list[Campaign]] = defaultdict(list)
    for c in campaigns:
        for key in group_keys(c, group_by, basis):
            groups[key].append(c)
    return {k: groups[k] for k in sorted(groups)}


@dataclass(frozen=True)
class Report:
    body: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _select(campaigns: Sequence[Campaign], filters: Filters, basis: QuarterBasis) -> list[Campaign]:
    return [c for c in campaigns if filters.admits(c, basis)]


def _report(name: str, campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None,
            basis: QuarterBasis, measure: Callable[[list[Campaign]], dict[str, Any]],
            rows_of: Callable[[str, dict[str, Any]], list[dict[str, Any]]], columns: list[str],
            **extra: Any) -> Report:
    """One metric over the selected campaigns, overall and per group."""
    selected = _select(campaigns, filters, basis)
    overall = measure(selected)
    body: dict[str, Any] = {"metric": name, **extra, "quarter_basis": basis.value, "filters": filters.echo(),
                            "group_by": group_by.value if group_by else None, "overall": overall}
    rows = rows_of(ALL, overall)
    if group_by is not None:
        body["groups"] = []
        for key, members in grouped(selected, group_by, basis).items():
            result = measure(members)
            body["groups"].append({"group": key, **result})
            rows += rows_of(key, result)
    return Report(body, ["group", *columns], rows)


def _flat(group: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"group": group, **result}]


# --- durations -----------------------------------------------------------------------

STATS_COLUMNS = ["count", "mean_hours", "p50_hours", "p90_hours"]


def stats_body(stats: Stats) -> dict[str, Any]:
    return {"count": stats.count, "mean_hours": stats.mean, "p50_hours": stats.p50, "p90_hours": stats.p90}


def cycle_time_of(campaigns: Iterable[Campaign]) -> dict[str, Any]:
    return stats_body(Stats.of(c.cycle_time_hours for c in campaigns if c.cycle_time_hours is not None))


def cycle_time(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    return _report("cycle_time", campaigns, filters, group_by, QuarterBasis.launch, cycle_time_of, _flat,
                   STATS_COLUMNS, unit="hours")


def _gate_order(decisions: Iterable[GateDecision]) -> list[tuple[str, str]]:
    """(gate_id, gate_name) in policy order; the name of the latest decision names the gate."""
    position: dict[str, int] = {}
    latest: dict[str, GateDecision] = {}
    for d in decisions:
        position[d.gate_id] = min(position.get(d.gate_id, d.gate_position), d.gate_position)
        if d.gate_id not in latest or (d.decided_at, d.gate_name) > (latest[d.gate_id].decided_at,
                                                                      latest[d.gate_id].gate_name):
            latest[d.gate_id] = d
    return [(g, latest[g].gate_name) for g in sorted(position, key=lambda g: (position[g], g))]


def gate_times_of(campaigns: Iterable[Campaign]) -> dict[str, Any]:
    """time_in_gate per gate, one observation per approval (replaced versions included)."""
    approvals = [d for c in campaigns for d in c.decisions if d.approved]
    gates = []
    for gate_id, name in _gate_order(approvals):
        stats = Stats.of(d.hours_in_gate for d in approvals if d.gate_id == gate_id)
        gates.append({"gate_id": gate_id, "gate_name": name, **stats_body(stats), "bottleneck": False})
    bottleneck = None
    if gates:
        # Highest p90; a tie goes to the earlier gate in policy order.
        top = max(gates, key=lambda g: g["p90_hours"])
        top["bottleneck"] = True
        bottleneck = {"gate_id": top["gate_id"], "gate_name": top["gate_name"], "p90_hours": top["p90_hours"]}
    return {"gates": gates, "bottleneck": bottleneck}


def _gate_rows(group: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"group": group, **gate} for gate in result["gates"]]


def gate_times(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    return _report("time_in_gate", campaigns, filters, group_by, QuarterBasis.submission, gate_times_of,
                   _gate_rows, ["gate_id", "gate_name", *STATS_COLUMNS, "bottleneck"], unit="hours")


# --- SLA -----------------------------------------------------------------------------


def sla_of(campaigns: Iterable[Campaign]) -> dict[str, Any]:
    """Approvals and rejections decided strictly after their SLA; undecided gates do not count."""
    decisions = [d for c in campaigns for d in c.decisions]
    gates = []
    for gate_id, name in _gate_order(decisions):
        mine = [d for d in decisions if d.gate_id == gate_id]
        breaches = sum(d.breached_sla for d in mine)
        gates.append({"gate_id": gate_id, "gate_name": name, "decisions": len(mine), "breaches": breaches,
                      "breach_rate": rate(breaches, len(mine))})
    breaches = sum(d.breached_sla for d in decisions)
    return {"decisions": len(decisions), "breaches": breaches, "breach_rate": rate(breaches, len(decisions)),
            "gates": gates}


def _sla_rows(group: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    total = {"group": group, "gate_id": ALL, "gate_name": ALL,
             **{k: result[k] for k in ("decisions", "breaches", "breach_rate")}}
    return [total, *({"group": group, **gate} for gate in result["gates"])]


def sla_breaches(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    return _report("sla_breaches", campaigns, filters, group_by, QuarterBasis.submission, sla_of, _sla_rows,
                   ["gate_id", "gate_name", "decisions", "breaches", "breach_rate"])


# --- shares of campaigns -------------------------------------------------------------


def rework_of(campaigns: Iterable[Campaign]) -> dict[str, Any]:
    submitted = [c for c in campaigns if c.submitted]
    reworked = sum(c.reworked for c in submitted)
    revisions = sum(c.revisions for c in submitted)
    return {"submitted": len(submitted), "reworked": reworked, "rework_rate": rate(reworked, len(submitted)),
            "revisions": revisions, "revisions_per_brief": revisions / len(submitted) if submitted else None}


def rework(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    return _report("rework", campaigns, filters, group_by, QuarterBasis.submission, rework_of, _flat,
                   ["submitted", "reworked", "rework_rate", "revisions", "revisions_per_brief"])


def on_time_of(campaigns: Iterable[Campaign]) -> dict[str, Any]:
    launched = [c for c in campaigns if c.on_time is not None]
    on_time = sum(bool(c.on_time) for c in launched)
    return {"launched": len(launched), "on_time": on_time, "late": len(launched) - on_time,
            "on_time_rate": rate(on_time, len(launched))}


def on_time(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    return _report("on_time_launch", campaigns, filters, group_by, QuarterBasis.submission, on_time_of, _flat,
                   ["launched", "on_time", "late", "on_time_rate"])


def completeness_of(campaigns: Iterable[Campaign]) -> dict[str, Any]:
    launched = [c for c in campaigns if c.data_complete is not None]
    complete = sum(bool(c.data_complete) for c in launched)
    return {"launched": len(launched), "complete": complete, "incomplete": len(launched) - complete,
            "data_completeness": rate(complete, len(launched))}


def data_completeness(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    return _report("data_completeness", campaigns, filters, group_by, QuarterBasis.submission, completeness_of,
                   _flat, ["launched", "complete", "incomplete", "data_completeness"])


# --- money ---------------------------------------------------------------------------


def money(amount: Decimal, currency: str | None = None) -> str:
    """The platform's one money text (``marops_events.money``: the currency's minor units,
    never exponent, never rounded); without a currency, at least two decimals."""
    if currency is not None:
        return format_amount(amount, currency)
    exponent = amount.as_tuple().exponent  # 'n', 'N' or 'F' for a non-finite amount
    if isinstance(exponent, int) and exponent > -2:
        try:
            return str(amount.quantize(Decimal("0.01")))
        except InvalidOperation:  # more digits than the context holds: print it as it is
            pass
    return str(amount)


@dataclass
class Variance:
    committed: Decimal = Decimal(0)
    actual: Decimal = Decimal(0)
    unreconciled: Decimal = Decimal(0)  # the part of actual budget could not book against a line yet

    def add(self, other: Variance) -> None:
        self.committed += other.committed
        self.actual += other.actual
        self.unreconciled += other.unreconciled

    def add_spend(self, spend: Spend) -> None:
        self.actual += spend.amount
        if spend.unreconciled:
            self.unreconciled += spend.amount

    def body(self, currency: str | None = None) -> dict[str, Any]:
        variance = self.actual - self.committed
        pct = percent_of(variance, self.committed)
        return {"committed": money(self.committed, currency), "actual": money(self.actual, currency),
                "variance": money(variance, currency), "variance_pct": str(pct) if pct is not None else None,
                "unreconciled": money(self.unreconciled, currency)}


def campaign_variance(c: Campaign) -> dict[str, Variance]:
    """Per currency: committed (the latest commitment, 0 once released) and actual spend
    (all of it, SPEC section 4), with how much of it is still unreconciled in budget."""
    out: dict[str, Variance] = {}
    if c.commitment is not None:
        out[c.commitment.currency] = Variance(committed=c.committed)
    for s in c.spends:
        out.setdefault(s.currency, Variance()).add_spend(s)
    return dict(sorted(out.items()))


def line_variance(campaigns: Iterable[Campaign]) -> dict[tuple[str, str], Variance]:
    """Per (budget line, currency): commitments on the line and spends counted against it."""
    out: dict[tuple[str, str], Variance] = defaultdict(Variance)
    for c in campaigns:
        if c.commitment is not None:
            out[(c.commitment.budget_line_id, c.commitment.currency)].committed += c.committed
        for s in c.spends:
            out[(c.spend_line(s) or UNKNOWN, s.currency)].add_spend(s)
    return dict(sorted(out.items()))


def _totals(variances: Iterable[tuple[str, Variance]]) -> list[dict[str, Any]]:
    totals: dict[str, Variance] = defaultdict(Variance)
    for currency, v in variances:
        totals[currency].add(v)
    return [{"currency": cur, **totals[cur].body(cur)} for cur in sorted(totals)]


VARIANCE_COLUMNS = ["currency", "committed", "actual", "variance", "variance_pct", "unreconciled"]


def variance_by_campaign(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    basis = QuarterBasis.submission
    selected = _select(campaigns, filters, basis)
    per_campaign = [(c, cur, v) for c in selected for cur, v in campaign_variance(c).items()]
    body: dict[str, Any] = {"metric": "budget_variance", "by": "campaign", "quarter_basis": basis.value,
                            "filters": filters.echo(), "group_by": group_by.value if group_by else None,
                            "totals": _totals((cur, v) for _, cur, v in per_campaign)}
    if group_by is None:
        rows = [{"campaign_id": c.campaign_id, "title": c.latest.title if c.latest else None, "team": c.team,
                 "budget_line_id": c.committed_line or (c.latest.budget_line_id if c.latest else None),
                 "currency": cur, **v.body(cur)} for c, cur, v in per_campaign]
        columns = ["campaign_id", "title", "team", "budget_line_id", *VARIANCE_COLUMNS]
    else:
        sums: dict[tuple[str, str], Variance] = defaultdict(Variance)
        for c, cur, v in per_campaign:
            for key in group_keys(c, group_by, basis):
                sums[(key, cur)].add(v)
        rows = [{"group": key, "currency": cur, **v.body(cur)} for (key, cur), v in sorted(sums.items())]
        columns = ["group", *VARIANCE_COLUMNS]
    body["rows"] = rows
    return Report(body, columns, rows)


def variance_by_line(campaigns: Sequence[Campaign], filters: Filters) -> Report:
    basis = QuarterBasis.submission
    lines = line_variance(_select(campaigns, filters, basis))
    rows = [{"budget_line_id": line, "currency": cur, **v.body(cur)} for (line, cur), v in lines.items()]
    body = {"metric": "budget_variance", "by": "budget_line", "quarter_basis": basis.value,
            "filters": filters.echo(), "totals": _totals((cur, v) for (_, cur), v in lines.items()), "rows": rows}
    return Report(body, ["budget_line_id", *VARIANCE_COLUMNS], rows)


def spend_by_month(campaigns: Sequence[Campaign], filters: Filters, group_by: GroupBy | None) -> Report:
    """Actual spend per calendar month of the spend's incurred date, per currency."""
    basis = QuarterBasis.submission
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for c in _select(campaigns, filters, basis):
        keys = group_keys(c, group_by, basis) if group_by else [ALL]
        for s in c.spends:
            for key in keys:
                sums[(key, month_of(s.incurred_on), s.currency)] += s.amount
    rows = [{"group": key, "month": month, "currency": cur, "actual": money(amount, cur)}
            for (key, month, cur), amount in sorted(sums.items())]
    body = {"metric": "actual_spend", "by": "month", "quarter_basis": basis.value, "filters": filters.echo(),
            "group_by": group_by.value if group_by else None, "rows": rows}
    return Report(body, ["group", "month", "currency", "actual"], rows)


# --- the campaign table and the summary ----------------------------------------------

CAMPAIGN_COLUMNS = [
    "campaign_id", "title", "team", "owner", "channels", "status", "latest_version", "revisions", "rejections",
    "first_submitted_at", "target_launch_date", "launched_at", "on_time", "cycle_time_hours", "data_complete",
    "cancelled_at", "completed_at", "budget_line_id", "committed", "committed_currency", "actual_spend",
]


def campaign_row(c: Campaign) -> dict[str, Any]:
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for s in c.spends:
        spend[s.currency] += s.amount
    return {
        "campaign_id": c.campaign_id, "title": c.latest.title if c.latest else None, "team": c.team,
        "owner": c.latest.owner if c.latest else None, "channels": list(c.channels), "status": c.status.value,
        "latest_version": c.latest_version, "revisions": c.revisions, "rejections": c.rejections,
        "first_submitted_at": c.first_submitted_at, "target_launch_date": c.target_launch_date,
        "launched_at": c.launched_at, "on_time": c.on_time, "cycle_time_hours": c.cycle_time_hours,
        "data_complete": c.data_complete, "cancelled_at": c.cancelled_at, "completed_at": c.completed_at,
        "budget_line_id": c.committed_line or (c.latest.budget_line_id if c.latest else None),
        "committed": money(c.committed, c.commitment.currency) if c.commitment else None,
        "committed_currency": c.committed_currency,
        "actual_spend": [{"currency": cur, "amount": money(spend[cur], cur)} for cur in sorted(spend)],
    }


def campaign_table(campaigns: Sequence[Campaign], filters: Filters) -> Report:
    rows = [campaign_row(c) for c in _select(campaigns, filters, QuarterBasis.submission)]
    return Report({"filters": filters.echo(), "count": len(rows), "campaigns": rows}, CAMPAIGN_COLUMNS, rows)


def summary(campaigns: Sequence[Campaign], filters: Filters) -> Report:
    """Every headline number at once, under the same filters."""
    by_submission = _select(campaigns, filters, QuarterBasis.submission)
    by_launch = _select(campaigns, filters, QuarterBasis.launch)
    per_currency = ((cur, v) for c in by_submission for cur, v in campaign_variance(c).items())
    body = {
        "filters": filters.echo(),
        "campaigns": {
            "submitted": sum(c.submitted for c in by_submission),
            "launched": sum(c.launch is not None for c in by_submission),
            "cancelled": sum(c.cancelled_at is not None for c in by_submission),
            "completed": sum(c.completed_at is not None for c in by_submission),
        },
        "cycle_time": cycle_time_of(by_launch),
        "time_in_gate": gate_times_of(by_submission),
        "rework": rework_of(by_submission),
        "on_time": on_time_of(by_submission),
        "sla": sla_of(by_submission),
        "data_completeness": completeness_of(by_submission),
        "budget_variance": _totals(per_currency),
    }
    rows = [{"metric": k, "value": v} for k, v in _flatten(body)]
    return Report(body, ["metric", "value"], rows)


_ITEM_KEYS = ("gate_id", "currency")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested headline numbers as (dotted path, value); list items are named by their id."""
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            name = next((str(item[k]) for k in _ITEM_KEYS if isinstance(item, dict) and k in item), str(i))
            out += _flatten({k: v for k, v in item.items() if k not in _ITEM_KEYS} if isinstance(item, dict)
                            else item, f"{prefix}.{name}")
        return out
    return [(prefix, value)]
