"""The completeness check: what blocks a brief from being submitted, field by field.

Most campaign failures start with a brief that was never complete (SPEC section 1), so
submission requires everything governance, budget and measurement will rely on: SMART
KPIs, a tracking plan, a budget request on a named line, a consistent flight and a RACI.
The same list is served by the check endpoint and returned with the 422 on submit.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Literal, TypeVar
from urllib.parse import urlparse

from marops_events.money import CURRENCIES

from .brief import Brief, Catalogue

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    path: str  # dotted path inside the brief, list items by index: "kpis.0.target"
    type: Literal["missing", "invalid"]
    reason: str

    def to_json(self) -> dict[str, str]:
        # `message` is what every problem's errors[] item carries (the shared FieldError);
        # `reason`, the same text, is what the completeness check has always answered.
        return {**asdict(self), "message": self.reason}


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []

    def missing(self, path: str, reason: str) -> None:
        self.items.append(Finding(path, "missing", reason))

    def invalid(self, path: str, reason: str) -> None:
        self.items.append(Finding(path, "invalid", reason))


def check(brief: Brief, *, today: dt.date) -> list[Finding]:
    """Every missing or invalid field of ``brief``; empty when it may be submitted."""
    found = _Findings()

    for name, reason in (
        ("title", "a title is required"),
        ("team", "the owning team is required"),
        ("owner", "an owner (the user accountable for the outcome) is required"),
        ("objective", "an objective is required: what the campaign must achieve"),
        ("target_audience", "a target audience is required"),
    ):
        if _blank(getattr(brief, name)):
            found.missing(name, reason)

    if not brief.channels:
        found.missing("channels", "at least one channel is required")
    else:
        for i, channel in _repeats(brief.channels):
            found.invalid(f"channels.{i}", f"channel {channel.value!r} is listed more than once")

    _check_dates(brief, today, found)
    _check_kpis(brief, found)
    _check_tracking(brief, found)
    _check_budget(brief, found)
    _check_raci(brief, found)

    for i, link in enumerate(brief.links or []):
        if not _is_web_url(link):
            found.invalid(f"links.{i}", "a link must be an absolute http(s) URL")
    return found.items


def against_catalogue(brief: Brief, catalogue: Catalogue | None) -> list[Finding]:
    """A KPI naming a catalogue key must agree with its definition (unit, direction)."""
    found = _Findings()
    for i, kpi in enumerate(brief.kpis or []):
        definition = catalogue.find(kpi.metric) if catalogue else None
        if definition is None:
            continue
        if not _blank(kpi.unit) and (kpi.unit or "").strip() != definition.unit:
            found.invalid(f"kpis.{i}.unit", f"the metric catalogue measures {definition.key!r} in "
                                            f"{definition.unit!r}, not {(kpi.unit or '').strip()!r}")
        if kpi.direction is not None and kpi.direction is not definition.direction:
            found.invalid(f"kpis.{i}.direction", f"the metric catalogue defines {definition.key!r} with direction "
                                                 f"{definition.direction.value!r}")
    return found.items


def _check_dates(brief: Brief, today: dt.date, found: _Findings) -> None:
    launch, start, end = brief.target_launch_date, brief.flight_start, brief.flight_end
    if launch is None:
        found.missing("target_launch_date", "a target launch date is required")
    elif launch < today:
        found.invalid("target_launch_date", f"the target launch date {launch} is in the past")
    if start is None:
        found.missing("flight_start", "the flight start date is required")
    elif launch is not None and start < launch:
        found.invalid("flight_start", f"the flight cannot start before the target launch date {launch}")
    if end is None:
        found.missing("flight_end", "the flight end date is required")
    elif start is not None and end < start:
        found.invalid("flight_end", f"the flight cannot end before it starts ({start})")


def _check_kpis(brief: Brief, found: _Findings) -> None:
    if not brief.kpis:
        found.missing("kpis", "at least one KPI with a metric, numeric target, unit and timeframe is required")
        return
    for i, kpi in enumerate(brief.kpis):
        if _blank(kpi.metric):
            found.missing(f"kpis.{i}.metric", "the KPI needs a metric")
        if kpi.target is None:
            found.missing(f"kpis.{i}.target", "the KPI needs a numeric target")
        if _blank(kpi.unit):
            found.missing(f"kpis.{i}.unit", "the KPI needs a unit")
        if _blank(kpi.timeframe):
            found.missing(f"kpis.{i}.timeframe", "the KPI needs a timeframe (when the target must be reached)")
    metrics = [(kpi.metric or "").strip().lower() for kpi in brief.kpis]
    for i, metric in _repeats(metrics):
        if metric:
            found.invalid(f"kpis.{i}.metric", f"the metric {metric!r} has more than one KPI; results are matched by metric")


def _check_tracking(brief: Brief, found: _Findings) -> None:
    plan = brief.tracking_plan
    if plan is None:
        found.missing("tracking_plan", "a tracking plan (campaign code, conversion events, reporting destination) is required")
        return
    if _blank(plan.campaign_code):
        found.missing("tracking_plan.campaign_code", "a campaign code (the UTM campaign value) is required")
    if not plan.conversion_events:
        found.missing("tracking_plan.conversion_events", "at least one conversion event or pixel is required")
    else:
        for i, name in enumerate(plan.conversion_events):
            if _blank(name):
                found.invalid(f"tracking_plan.conversion_events.{i}", "a conversion event must not be blank")
    if _blank(plan.reporting_destination):
        found.missing("tracking_plan.reporting_destination", "where results will be reported is required")


def _check_budget(brief: Brief, found: _Findings) -> None:
    request = brief.budget_request
    if request is None:
        found.missing("budget_request", "a budget request (amount, currency, budget line) is required")
        return
    money = request.amount
    if money is None or money.amount is None:
        found.missing("budget_request.amount.amount", "the requested amount is required")
    elif money.amount <= 0:
        found.invalid("budget_request.amount.amount", "the requested amount must be greater than zero")
    if money is None or _blank(money.currency):
        found.missing("budget_request.amount.currency", "the currency (ISO 4217, e.g. EUR) is required")
    elif money.currency not in CURRENCIES:
        found.invalid("budget_request.amount.currency", "the currency must be an ISO 4217 code, e.g. EUR")
    if _blank(request.budget_line_id):
        found.missing("budget_request.budget_line_id", "the budget line to fund the campaign from is required")


def _check_raci(brief: Brief, found: _Findings) -> None:
    raci = brief.raci
    if raci is None or not raci.responsible:
        found.missing("raci.responsible", "at least one responsible person is required")
    if raci is None:
        return
    for role in ("responsible", "consulted", "informed"):
        for i, user in enumerate(getattr(raci, role) or []):
            if _blank(user):
                found.invalid(f"raci.{role}.{i}", "a user id must not be blank")
    if raci.accountable is not None:
        if _blank(raci.accountable):
            found.invalid("raci.accountable", "a user id must not be blank (leave it out to default to the owner)")
        elif not _blank(brief.owner) and raci.accountable.strip() != (brief.owner or "").strip():
            found.invalid("raci.accountable", "the accountable person must be the owner of the campaign")


def _is_web_url(text: str) -> bool:
    try:
        parsed = urlparse(text.strip())
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _repeats(items: list[T]) -> list[tuple[int, T]]:
    """(index, item) of every occurrence after the first of an item."""
    seen: Counter[T] = Counter()
    out = []
    for i, item in enumerate(items):
        if seen[item]:
            out.append((i, item))
        seen[item] += 1
    return out
