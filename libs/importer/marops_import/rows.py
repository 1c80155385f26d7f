"""Parse and validate a history CSV, row by row, without I/O beyond reading text.

One row is one fact of a past campaign; the ``event`` column says which. Unused columns
stay empty. Every problem is reported with its row number and column, and a file with
any problem is refused whole. The format is documented in docs/history-import.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marops_events.contracts import ChangeField, ChangeOutcome, Channel, GateKind, RejectionKind

EVENTS = ("submitted", "approved", "rejected", "committed", "launched", "spend", "cancelled", "completed",
          "change_requested", "change_decided", "paused", "resumed")

REQUIRED: dict[str, tuple[str, ...]] = {
    "submitted": ("version", "title", "team", "owner", "requester", "channels", "target_launch_date",
                  "flight_start", "flight_end", "amount", "currency", "budget_line_id"),
    "approved": ("version", "gate", "decided_by"),
    "rejected": ("version", "gate", "decided_by", "reason"),
    "committed": ("version", "amount", "currency", "budget_line_id"),
    "launched": ("launched_by",),
    "spend": ("amount", "currency", "source_system", "source_reference", "incurred_on"),
    "cancelled": ("cancelled_by",),
    "completed": ("completed_by",),
    "change_requested": ("version", "changes", "requested_by", "reason"),
    "change_decided": ("version", "outcome", "decided_by"),
    "paused": ("paused_by", "reason"),
    "resumed": ("resumed_by", "reason"),
}

COLUMNS = ("campaign_id", "event", "at") + tuple(sorted({c for cols in REQUIRED.values() for c in cols} | {
    "objective", "kpis", "tracking_plan", "gate_kind", "sla_hours", "rejection_kind", "budget_line_id",
    "kpis_defined", "reason", "description", "corrects_reference", "amount", "currency", "channels",
    "target_launch_date", "flight_start", "flight_end"}))


class HistoryError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the history file")
        self.problems = problems


@dataclass(frozen=True)
class Row:
    line: int
    campaign_id: str
    event: str
    at: dt.datetime
    values: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def parse(text: str) -> list[Row]:
    """Rows sorted by (campaign, time, file order); raises HistoryError listing every problem."""
    reader = csv.DictReader(io.StringIO(text))
    problems: list[str] = []
    unknown = set(reader.fieldnames or ()) - set(COLUMNS)
    missing_columns = {"campaign_id", "event", "at"} - set(reader.fieldnames or ())
    if missing_columns:
        raise HistoryError([f"header: missing column(s) {', '.join(sorted(missing_columns))}"])
    if unknown:
        problems.append(f"header: unknown column(s) {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    for line, raw in enumerate(reader, start=2):
        row_problems: list[str] = []
        row = _parse_row(line, {k: (v or "").strip() for k, v in raw.items() if k is not None}, row_problems)
        problems.extend(row_problems)
        if row is not None and not row_problems:
            rows.append(row)
    if not rows and not problems:
        problems.append("the file has no rows")
    problems.extend(_check_campaigns(rows))
    if problems:
        raise HistoryError(problems)
    return sorted(rows, key=lambda r: (r.campaign_id, r.at, r.line))


def _parse_row(line: int, raw: dict[str, str], problems: list[str]) -> Row | None:
    def problem(column: str, message: str) -> None:
        problems.append(f"row {line}, column {column}: {message}")

    campaign_id, event = raw.get("campaign_id", ""), raw.get("event", "")
    if not campaign_id:
        problem("campaign_id", "is required")
    if event not in EVENTS:
        problem("event", f"{event!r} is not one of {', '.join(EVENTS)}")
        return None
    at = _datetime(raw.get("at", ""))
    if at is None:
        problem("at", f"{raw.get('at')!r} is not an ISO 8601 date or date-time (e.g. 2026-03-02T09:30:00Z)")
    for column in REQUIRED[event]:
        if not raw.get(column):
            problem(column, f"is required for a '{event}' row")
    values: dict[str, Any] = {k: v for k, v in raw.items() if v and k not in ("campaign_id", "event", "at")}

    converters = {
        "version": _positive_int, "sla_hours": _positive_int, "amount": _decimal, "target_launch_date": _date,
        "flight_start": _date, "flight_end": _date, "incurred_on": _date, "channels": _channels,
        "currency": _currency, "gate_kind": lambda v: GateKind(v), "rejection_kind": lambda v: RejectionKind(v),
        "kpis": _kpis, "kpis_defined": _bool, "tracking_plan": _bool, "changes": _changes,
        "outcome": ChangeOutcome,
    }
    for column, convert in converters.items():
        if column in values:
            try:
                values[column] = convert(values[column])
            except ValueError as exc:
                problem(column, f"{raw[column]!r}: {exc}")
    if event == "submitted" and not problems:
        if values["flight_start"] > values["flight_end"]:
            problem("flight_end", "is before flight_start")
        if values["amount"] < 0:
            problem("amount", "a requested amount cannot be negative")
    if event == "change_requested" and not problems and "amount" in values and "currency" not in values:
        problem("currency", "a change of the amount names its currency")
    if event == "spend" and not problems and values["amount"] < 0 and not values.get("corrects_reference"):
        problem("corrects_reference", "a negative spend (refund or correction) must name the reference it corrects")
    if problems or at is None:
        return None
    return Row(line=line, campaign_id=campaign_id, event=event, at=at, values=values)


def _check_campaigns(rows: list[Row]) -> list[str]:
    problems: list[str] = []
    by_campaign: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_campaign[row.campaign_id].append(row)
    for campaign, items in by_campaign.items():
        items.sort(key=lambda r: (r.at, r.line))
        submitted: dict[int, Row] = {}
        changes: dict[int, Row] = {}  # proposed version -> its change_requested row
        decided: set[int] = set()
        paused = False
        for row in items:
            if row.event == "submitted":
                version = row.get("version")
                if version in submitted:
                    problems.append(f"row {row.line}: campaign {campaign} version {version} submitted twice")
                elif version != len(submitted) + 1 or changes:
                    problems.append(f"row {row.line}: campaign {campaign} version {version} submitted before "
                                    f"version {len(submitted) + 1}" if not changes else
                                    f"row {row.line}: campaign {campaign} is submitted again after a change request")
                submitted[version] = row
            elif row.event in ("approved", "rejected", "committed"):
                if row.get("version") not in submitted and row.get("version") not in changes:
                    problems.append(f"row {row.line}: campaign {campaign} has no earlier 'submitted' row for "
                                    f"version {row.get('version')}")
            elif row.event in ("launched", "cancelled", "completed", "paused", "change_requested") and not submitted:
                problems.append(f"row {row.line}: campaign {campaign} has no earlier 'submitted' row")
            if row.event == "change_requested" and submitted:
                version, highest = row.get("version"), max([*submitted, *changes])
                if version != highest + 1:
                    problems.append(f"row {row.line}: campaign {campaign} change request proposes version {version}; "
                                    f"the next version is {highest + 1}")
                elif any(v not in decided for v in changes):
                    problems.append(f"row {row.line}: campaign {campaign} has a change request still undecided")
                changes[version] = row
            elif row.event == "change_decided":
                if row.get("version") not in changes or row.get("version") in decided:
                    problems.append(f"row {row.line}: campaign {campaign} has no undecided 'change_requested' row "
                                    f"for version {row.get('version')}")
                decided.add(row.get("version"))
            elif row.event == "paused":
                if paused:
                    problems.append(f"row {row.line}: campaign {campaign} is already paused")
                paused = True
            elif row.event == "resumed":
                if not paused:
                    problems.append(f"row {row.line}: campaign {campaign} is not paused")
                paused = False
        for event in ("launched", "cancelled", "completed"):
            if sum(r.event == event for r in items) > 1:
                problems.append(f"campaign {campaign}: more than one '{event}' row")
    return problems


def _datetime(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        except ValueError:
            return None
    # Spreadsheets rarely carry offsets: a time without one is UTC.
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a positive whole number")
    return number


def _decimal(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("is not a decimal number") from None
    if not number.is_finite():
        raise ValueError("must be a finite decimal number")
    return number


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise ValueError("must be an ISO 4217 code such as EUR")
    return value


def _channels(value: str) -> list[Channel]:
    channels = [Channel(v.strip()) for v in value.split(";") if v.strip()]
    if not channels:
        raise ValueError("at least one channel is required")
    return channels


def _changes(value: str) -> list[ChangeField]:
    changes = [ChangeField(v.strip()) for v in value.split(";") if v.strip()]
    if not changes:
        raise ValueError("name what changes: budget, dates, channels or kpis (;-separated)")
    return changes


def _kpis(value: str) -> list[tuple[str, Decimal, str]]:
    """``metric=target unit; ...`` e.g. ``qualified_leads=500 leads``."""
    kpis = []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        metric, _, rest = part.partition("=")
        target, _, unit = rest.strip().partition(" ")
        if not metric.strip() or not unit.strip():
            raise ValueError("KPIs are written 'metric=target unit; ...'")
        kpis.append((metric.strip(), _decimal(target), unit.strip()))
    return kpis


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("yes", "true", "y", "1"):
        return True
    if lowered in ("no", "false", "n", "0"):
        return False
    raise ValueError("must be yes or no")
