"""Outcome metrics (SPEC section 4 "Outcome metrics"): attainment per KPI, campaigns that met
their targets, cost per result, return on spend and the results-reported rate, per campaign
and by team / channel / quarter of first submission.

The rules are plain functions over a campaign's KPIs, its current results and its actual
spend per currency (``outcome_of``, ``summarise``); the read side picks those three out of
the read model in SQL (the current result per KPI with ``DISTINCT ON``) and hands them in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from marops_service.app import Pool

from .aggregates import GroupBy, Report
from .api import Filtered, Format, Reader, documented
from .domain import QuarterBasis, Stats
from .export import respond
from .projection import LIVE_SCHEMA as S
from .readside import Scope, _answered, _snapshot
from .schemas import _Body

router = APIRouter()
COST_PLACES = Decimal("0.0001")  # cost per result is money per unit: kept to 4 places, half-even
# Return on spend is a ratio of two amounts of money: exact to 4 places too, never a float.
RETURN_PLACES = Decimal("0.0001")


# --- the rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiSpec:
    position: int  # 1-based, in brief order
    metric: str
    target: Decimal | None
    unit: str
    direction: str = "increase"
    kind: str | None = None  # outcome | activity | None (free text)
    baseline: Decimal | None = None


@dataclass(frozen=True)
class Current:
    """The current result of one KPI: the latest as-of date (ties: earliest (time, event id))."""

    actual: Decimal
    as_of: dt.date


def attainment(kpi: KpiSpec, actual: Decimal) -> Decimal | None:
    """actual / target when higher is better, target / actual when lower is; none for a 0 divisor."""
    if kpi.target is None:
        return None
    numerator, divisor = (kpi.target, actual) if kpi.direction == "decrease" else (actual, kpi.target)
    return None if divisor == 0 else numerator / divisor


@dataclass(frozen=True)
class KpiOutcome:
    kpi: KpiSpec
    current: Current | None
    attainment: Decimal | None


@dataclass(frozen=True)
class MoneyOutcome:
    currency: str
    actual_spend: Decimal
    cost_per_result: Decimal | None
    return_on_spend: Decimal | None


@dataclass(frozen=True)
class CampaignOutcome:
    kpis: tuple[KpiOutcome, ...]
    money: tuple[MoneyOutcome, ...]

    @property
    def has_results(self) -> bool:
        return any(k.current is not None for k in self.kpis)

    @property
    def met_targets(self) -> bool:
        """Every KPI with a target has a current result attaining at least 1."""
        return all(k.attainment is not None and k.attainment >= 1 for k in self.kpis if k.kpi.target is not None)


def outcome_of(kpis: Sequence[KpiSpec], current: dict[str, Current], spend: dict[str, Decimal]) -> CampaignOutcome:
    """One campaign's outcome: ``kpis`` of its highest brief version, ``current`` results by KPI key
    (results of keys the brief does not name are not its KPIs' and count for nothing), actual spend
    per currency."""
    rows = tuple(KpiOutcome(k, current.get(k.metric),
                            attainment(k, current[k.metric].actual) if k.metric in current else None)
                 for k in sorted(kpis, key=lambda k: k.position))
    first_outcome = next((r for r in rows if r.kpi.kind == "outcome"), None)
    money = []
    for currency, spent in sorted(spend.items()):
        per_result = None
        if first_outcome is not None and first_outcome.current is not None and first_outcome.current.actual != 0:
            per_result = (spent / first_outcome.current.actual).quantize(COST_PLACES, ROUND_HALF_EVEN)
        monetary = next((r for r in rows if r.kpi.kind == "outcome" and r.kpi.unit == currency), None)
        returned = None
        if monetary is not None and monetary.current is not None and spent != 0:
            returned = ((monetary.current.actual - spent) / spent).quantize(RETURN_PLACES, ROUND_HALF_EVEN)
        money.append(MoneyOutcome(currency, spent, per_result, returned))
    return CampaignOutcome(rows, tuple(money))


@dataclass(frozen=True)
class Subject:
    """A campaign as the outcome report groups it."""

    campaign_id: str
    title: str | None
    team: str | None
    channels: tuple[str, ...]
    quarter: str | None  # of the first submission
    status: str
    completed: bool
    outcome: CampaignOutcome


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _stats(values: Iterable[Decimal]) -> dict[str, Any]:
    s = Stats.of(float(v) for v in values)
    return {"count": s.count, "mean": s.mean, "p50": s.p50, "p90": s.p90}


def summarise(subjects: Sequence[Subject]) -> dict[str, Any]:
    """The outcome numbers of a set of campaigns (SPEC section 4)."""
    completed = [s for s in subjects if s.completed]
    with_results = [s for s in subjects if s.outcome.has_results]
    met = [s for s in with_results if s.outcome.met_targets]
    currencies = sorted({m.currency for s in subjects for m in s.outcome.money})

    def money(name: str) -> list[dict[str, Any]]:
        return [{"currency": cur, **_stats(getattr(m, name) for s in subjects for m in s.outcome.money
                                           if m.currency == cur and getattr(m, name) is not None)}
                for cur in currencies]

    return {
        "campaigns": len(subjects), "completed": len(completed),
        "completed_with_results": sum(1 for s in completed if s.outcome.has_results),
        "with_results": len(with_results), "met_targets": len(met),
        "results_reported_rate": _ratio(sum(1 for s in completed if s.outcome.has_results), len(completed)),
        "target_met_rate": _ratio(len(met), len(with_results)),
        "attainment": _stats(k.attainment for s in subjects for k in s.outcome.kpis if k.attainment is not None),
        "cost_per_result": money("cost_per_result"),
        "return_on_spend": money("return_on_spend"),
    }


def group_keys(subject: Subject, group_by: GroupBy) -> list[str]:
    if group_by is GroupBy.team:
        return [subject.team] if subject.team else []
    if group_by is GroupBy.channel:
        return list(subject.channels)
    return [subject.quarter] if subject.quarter else []


# --- the read side --------------------------------------------------------------------


async def load(conn: asyncpg.Connection, scope: Scope, *, after: str | None = None,
               limit: int | None = None) -> list[Subject]:
    """The submitted campaigns ``scope`` covers, by campaign id, with their outcomes."""
    params: list[Any] = []
    where = scope.where(QuarterBasis.submission, params)
    if after is not None:
        params.append(after)
        where += f" AND c.campaign_id > ${len(params)}"
    page = f"LIMIT {int(limit)}" if limit is not None else ""
    campaigns = await conn.fetch(
        f"""
        SELECT c.campaign_id, c.title, c.team, c.channels, c.submission_quarter, c.status,
               c.completed_at IS NOT NULL AS completed, k.kpis
        FROM {S}.campaigns c
        JOIN LATERAL (SELECT kpis FROM {S}.brief_kpis b WHERE b.campaign_id = c.campaign_id
                      ORDER BY b.version DESC LIMIT 1) k ON true
        WHERE c.submitted AND {where}
        ORDER BY c.campaign_id {page}
        """, *params)
    ids = [r["campaign_id"] for r in campaigns]
    results = await conn.fetch(
        f"""
        SELECT DISTINCT ON (r.campaign_id, x.item->>'metric')
               r.campaign_id, x.item->>'metric' AS metric, x.item->>'actual' AS actual, r.as_of
        FROM {S}.kpi_reports r CROSS JOIN LATERAL jsonb_array_elements(r.results) WITH ORDINALITY AS x(item, n)
        WHERE r.campaign_id = ANY($1::text[])
        ORDER BY r.campaign_id, x.item->>'metric', r.as_of DESC, r.reported_at, r.event_id, x.n
        """, ids)
    spends = await conn.fetch(
        f"SELECT campaign_id, currency, actual FROM {S}.campaign_money "
        f"WHERE campaign_id = ANY($1::text[]) AND has_spend", ids)
    current: dict[str, dict[str, Current]] = {}
    for r in results:
        current.setdefault(r["campaign_id"], {})[r["metric"]] = Current(Decimal(r["actual"]), r["as_of"])
    spent: dict[str, dict[str, Decimal]] = {}
    for m in spends:
        spent.setdefault(m["campaign_id"], {})[m["currency"]] = m["actual"]
    return [Subject(
        campaign_id=r["campaign_id"], title=r["title"], team=r["team"], channels=tuple(r["channels"]),
        quarter=r["submission_quarter"], status=r["status"], completed=r["completed"],
        outcome=outcome_of(_kpis(r["kpis"]), current.get(r["campaign_id"], {}), spent.get(r["campaign_id"], {})),
    ) for r in campaigns]


def _kpis(raw: str | list[dict[str, Any]]) -> list[KpiSpec]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [KpiSpec(position=i, metric=k["metric"], target=_dec(k.get("target")), unit=k["unit"],
                    direction=k.get("direction") or "increase", kind=k.get("kind"), baseline=_dec(k.get("baseline")))
            for i, k in enumerate(items, start=1)]


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def campaign_body(s: Subject) -> dict[str, Any]:
    return {
        "campaign_id": s.campaign_id, "title": s.title, "team": s.team, "channels": list(s.channels),
        "quarter": s.quarter, "status": s.status, "completed": s.completed,
        "has_results": s.outcome.has_results, "met_targets": s.outcome.met_targets if s.outcome.has_results else None,
        "kpis": [{"position": k.kpi.position, "metric": k.kpi.metric, "unit": k.kpi.unit,
                  "direction": k.kpi.direction, "kind": k.kpi.kind, "target": _text(k.kpi.target),
                  "baseline": _text(k.kpi.baseline),
                  "actual": _text(k.current.actual) if k.current else None,
                  "as_of": k.current.as_of if k.current else None, "attainment": _num(k.attainment)}
                 for k in s.outcome.kpis],
        "money": [{"currency": m.currency, "actual_spend": _text(m.actual_spend),
                   "cost_per_result": _text(m.cost_per_result), "return_on_spend": _text(m.return_on_spend)}
                  for m in s.outcome.money],
    }


CAMPAIGN_COLUMNS = ["campaign_id", "title", "team", "status", "completed", "has_results", "met_targets", "position",
                    "metric", "kind", "direction", "unit", "target", "baseline", "actual", "as_of", "attainment"]
AGGREGATE_COLUMNS = ["group", "campaigns", "completed", "completed_with_results", "with_results", "met_targets",
                     "results_reported_rate", "target_met_rate", "attainment_count", "attainment_mean",
                     "attainment_p50", "attainment_p90", "currency", "cost_per_result_count", "cost_per_result_mean",
                     "cost_per_result_p50", "cost_per_result_p90", "return_on_spend_count", "return_on_spend_mean",
                     "return_on_spend_p50", "return_on_spend_p90"]


def aggregate_rows(group: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """CSV: one row per group and spend currency (one row with no currency when nothing was spent)."""
    base = {k: body[k] for k in ("campaigns", "completed", "completed_with_results", "with_results", "met_targets",
                                  "results_reported_rate", "target_met_rate")}
    base.update({f"attainment_{k}": body["attainment"][k] for k in ("count", "mean", "p50", "p90")})
    money = {m["currency"]: {f"cost_per_result_{k}": m[k] for k in ("count", "mean", "p50", "p90")}
             for m in body["cost_per_result"]}
    for m in body["return_on_spend"]:
        money[m["currency"]].update({f"return_on_spend_{k}": m[k] for k in ("count", "mean", "p50", "p90")})
    if not money:
        return [{"group": group, **base}]
    return [{"group": group, **base, "currency": cur, **values} for cur, values in money.items()]


# Both reports are remembered per read-model revision, like every report (readside._answered).


@_answered
async def campaign_report(pool: asyncpg.Pool, scope: Scope, *, limit: int, cursor: str | None) -> Report:
    subjects: list[Subject] = await _snapshot(pool, lambda conn: load(conn, scope, after=cursor, limit=limit + 1))
    page, more = subjects[:limit], len(subjects) > limit
    campaigns = [campaign_body(s) for s in page]
    rows = [{**{k: c[k] for k in ("campaign_id", "title", "team", "status", "completed", "has_results",
                                  "met_targets")}, **k} for c in campaigns for k in c["kpis"]]
    body = {**scope.echo(), "campaigns": campaigns, "next_cursor": page[-1].campaign_id if more else None}
    return Report(body, CAMPAIGN_COLUMNS, rows)


@_answered
async def aggregate_report(pool: asyncpg.Pool, scope: Scope, group_by: GroupBy | None) -> Report:
    subjects: list[Subject] = await _snapshot(pool, lambda conn: load(conn, scope))
    overall = summarise(subjects)
    body: dict[str, Any] = {"metric": "outcomes", "quarter_basis": QuarterBasis.submission.value, **scope.echo(),
                            "group_by": group_by.value if group_by else None, "overall": overall}
    rows = aggregate_rows("all", overall)
    if group_by is not None:
        groups: dict[str, list[Subject]] = {}
        for s in subjects:
            for key in group_keys(s, group_by):
                groups.setdefault(key, []).append(s)
        body["groups"] = [{"group": key, **summarise(members)} for key, members in sorted(groups.items())]
        rows += [r for g in body["groups"] for r in aggregate_rows(g["group"], g)]
    return Report(body, AGGREGATE_COLUMNS, rows)


# --- response models ------------------------------------------------------------------


class OutcomeKpi(_Body):
    position: int = Field(description="1-based position in the brief")
    metric: str = Field(description="the KPI's key")
    unit: str
    direction: str = Field(description="increase (higher is better) or decrease")
    kind: str | None = Field(description="outcome, activity, or none for a free-text KPI")
    target: str | None
    baseline: str | None
    actual: str | None = Field(description="the current result: the latest as-of date")
    as_of: dt.date | None
    attainment: float | None = Field(description="actual / target (increase), target / actual (decrease)")


class OutcomeMoney(_Body):
    currency: str
    actual_spend: str
    cost_per_result: str | None = Field(description="actual spend / actual of the first outcome KPI (4 places)")
    return_on_spend: str | None = Field(
        description="(actual of the outcome KPI in this currency - spend) / spend, a decimal (4 places)")


class CampaignOutcomeOut(_Body):
    campaign_id: str
    title: str | None
    team: str | None
    channels: list[str]
    quarter: str | None = Field(description="of the first submission")
    status: str
    completed: bool
    has_results: bool
    met_targets: bool | None = Field(description="every KPI with a target attained >= 1; none without results")
    kpis: list[OutcomeKpi]
    money: list[OutcomeMoney]


class OutcomeCampaigns(_Body):
    filters: dict[str, str]
    filtered: bool = Field(description="campaigns the caller may not read are left out")
    campaigns: list[CampaignOutcomeOut]
    next_cursor: str | None


class Distribution(_Body):
    count: int
    mean: float | None
    p50: float | None
    p90: float | None


class CurrencyDistribution(Distribution):
    currency: str


class OutcomeNumbers(_Body):
    campaigns: int
    completed: int
    completed_with_results: int
    with_results: int = Field(description="campaigns with at least one current result")
    met_targets: int
    results_reported_rate: float | None = Field(description="completed with a result / completed")
    target_met_rate: float | None = Field(description="met their targets / with a result")
    attainment: Distribution = Field(description="over every KPI's current attainment")
    cost_per_result: list[CurrencyDistribution]
    return_on_spend: list[CurrencyDistribution]


class OutcomeGroup(OutcomeNumbers):
    group: str


class OutcomeReport(_Body):
    metric: str
    quarter_basis: str
    filters: dict[str, str]
    filtered: bool = Field(description="computed over the campaigns the caller may read only")
    group_by: str | None
    overall: OutcomeNumbers
    groups: list[OutcomeGroup] | None = None


# --- routes ---------------------------------------------------------------------------


@router.get("/outcomes/campaigns", tags=["outcomes"], responses=documented(OutcomeCampaigns),
            summary="Per campaign: each KPI's current result and attainment, cost per result, return on spend")
async def outcome_campaigns(
    request: Request, pool: Pool, who: Reader, f: Filtered, fmt: Format = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="campaigns per page")] = 100,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200,
                                        description="next_cursor of the previous page")] = None,
) -> Response:
    return respond(request, await campaign_report(pool, Scope(f, who), limit=limit, cursor=cursor), fmt,
                   "outcomes-campaigns")


@router.get("/aggregates/outcomes", tags=["aggregates", "outcomes"], responses=documented(OutcomeReport),
            summary="Outcome metrics: results reported, targets met, attainment, cost per result, return on spend")
async def outcome_aggregates(
    request: Request, pool: Pool, who: Reader, f: Filtered, fmt: Format = None,
    group_by: Annotated[GroupBy | None, Query(description="team, channel (a campaign counts under each of its "
                                                          "channels) or quarter (of first submission)")] = None,
) -> Response:
    return respond(request, await aggregate_report(pool, Scope(f, who), group_by), fmt,
                   "outcomes" if group_by is None else f"outcomes-by-{group_by.value}")
