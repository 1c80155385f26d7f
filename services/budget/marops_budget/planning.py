"""Planning horizons as pure rules: annual plans over lines, a line's monthly phasing, and the
run-out forecast of a line. No I/O (the use cases in ``service`` load and save).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from marops_events.money import parse_bounded_amount

from .domain import RuleViolation, require_amount

# A forecast looks no further than this past the day it is made (flights are months, not decades).
MAX_FORECAST_DAYS = 3 * 366


# ------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanScope:
    """What a plan covers: a fiscal year and team, and one channel or (None) all of them."""

    fiscal_year: int
    team: str
    channel: str | None

    def covers(self, fiscal_year: int, team: str, channel: str) -> bool:
        return (self.fiscal_year == fiscal_year and self.team == team
                and (self.channel is None or self.channel == channel))


@dataclass(frozen=True)
class PlanState:
    """A plan under its scope lock: its amount and what its lines were given."""

    id: str
    amount: Decimal
    currency: str
    allocated: Decimal  # the sum of the amounts of the lines that roll up into it


def check_new_plan(scope: PlanScope, amount: Decimal, currency: str, others: Iterable[PlanScope],
                   lines: Iterable[tuple[Decimal, str]]) -> None:
    """A plan may not share its year and team with a plan of the other kind (team-wide vs per
    channel) or of the same channel, and must hold the lines already in its scope."""
    require_amount(amount, non_negative=True)
    for other in others:
        if other.channel is None or scope.channel is None or other.channel == scope.channel:
            what = "the whole team" if other.channel is None else f"channel {other.channel}"
            raise RuleViolation(f"fiscal year {scope.fiscal_year} of team {scope.team!r} already has a plan for "
                                f"{what}: a team's year is planned either as a whole or per channel", conflict=True)
    allocated = Decimal(0)
    for line_amount, line_currency in lines:
        if line_currency != currency:
            raise RuleViolation(f"the plan is in {currency} but a budget line in its scope is in {line_currency}")
        allocated += line_amount
    if allocated > amount:
        raise RuleViolation(f"the budget lines in this plan's scope already hold {allocated} {currency}, more "
                            f"than {amount} {currency}", conflict=True)


def check_plan_amount(plan: PlanState, new_amount: Decimal, currency: str) -> None:
    require_amount(new_amount, non_negative=True)
    if currency != plan.currency:
        raise RuleViolation(f"plan {plan.id!r} is in {plan.currency}, not {currency}")
    if new_amount < plan.allocated:
        raise RuleViolation(f"plan {plan.id!r} cannot go below {plan.allocated} {plan.currency} (what its budget "
                            "lines were given)", conflict=True)


def check_allocation(plan: PlanState | None, line_currency: str, delta: Decimal) -> None:
    """A line created in, raised in or moved into a plan's scope never takes the plan's lines
    past its amount. Lines outside every plan are not limited (plans are optional)."""
    if plan is None or delta <= 0:
        return
    if line_currency != plan.currency:
        raise RuleViolation(f"plan {plan.id!r} is in {plan.currency}, not {line_currency}")
    if plan.allocated + delta > plan.amount:
        raise RuleViolation(
            f"plan {plan.id!r} has {plan.amount - plan.allocated} {plan.currency} unallocated; giving its lines "
            f"{delta} more would take them past the plan's {plan.amount}", conflict=True)


# ------------------------------------------------------------------- phasing


def quarter_months(fiscal_year: int, quarter: int) -> list[dt.date]:
    """The calendar months of a quarter (fiscal years are calendar years)."""
    return [dt.date(fiscal_year, 3 * (quarter - 1) + m, 1) for m in (1, 2, 3)]


def check_phasing(fiscal_year: int, quarter: int, amount: Decimal, currency: str,
                  months: Mapping[dt.date, tuple[Decimal, str]]) -> None:
    """A line is phased over the months of its own quarter, in its currency, never by more than its amount."""
    allowed = quarter_months(fiscal_year, quarter)
    total = Decimal(0)
    for month, (value, value_currency) in sorted(months.items()):
        if month not in allowed:
            raise RuleViolation(f"month {month:%Y-%m} is not one of Q{quarter} {fiscal_year}")
        if value_currency != currency:
            raise RuleViolation(f"the line is in {currency}, not {value_currency}")
        require_amount(value, what=f"the amount of {month:%Y-%m}", non_negative=True)
        total += value
    if total > amount:
        raise RuleViolation(f"the phasing adds up to {total} {currency}, more than the line's {amount}")


# ------------------------------------------------------------------- run-out forecast


@dataclass(frozen=True)
class CampaignRun:
    """A campaign holding a commitment on the line, as the forecast sees it."""

    campaign_id: str
    committed: Decimal
    spent: Decimal  # its spend that counts against the line
    flight_start: dt.date
    flight_end: dt.date

    @property
    def flight_days(self) -> int:
        return max((self.flight_end - self.flight_start).days + 1, 1)

    def elapsed_days(self, as_of: dt.date) -> int:
        return min(max((as_of - self.flight_start).days + 1, 0), self.flight_days)

    def daily_pace(self, as_of: dt.date) -> Fraction:
        """Its observed pace (spend over the elapsed days of its flight); before it has spent
        anything, its commitment spread evenly over its flight (the planned pace)."""
        elapsed = self.elapsed_days(as_of)
        if elapsed > 0 and self.spent > 0:
            return Fraction(self.spent) / elapsed
        return Fraction(self.committed) / self.flight_days

    def remaining_days(self, as_of: dt.date) -> int:
        """Days of its flight after ``as_of``."""
        return self.flight_days - self.elapsed_days(as_of)


@dataclass(frozen=True)
class CampaignForecast:
    run: CampaignRun
    daily_pace: Decimal
    remaining_days: int
    forecast_spend: Decimal  # spent plus pace x remaining days


@dataclass(frozen=True)
class Forecast:
    as_of: dt.date
    amount: Decimal
    spent: Decimal  # everything spent on the line so far, committed campaigns or not
    committed: Decimal
    forecast_spend: Decimal  # spent plus every campaign's forecast up to the end of its flight
    run_out_on: dt.date | None
    campaigns: tuple[CampaignForecast, ...]

    def within(self, horizon_days: int) -> bool:
        return self.run_out_on is not None and (self.run_out_on - self.as_of).days <= horizon_days


def _cents(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def forecast(amount: Decimal, spent: Decimal, runs: Iterable[CampaignRun], as_of: dt.date) -> Forecast:
    """The line's cumulative forecast spend F(d) = spent + sum over campaigns of pace x the days
    of its flight in (as_of, d]; it runs out on the first day d with F(d) >= amount (as_of
    itself when spend already reached it). A line nothing was committed or spent on has no
    run-out day. Exact fractions throughout; only what is shown is rounded to cents."""
    runs = sorted(runs, key=lambda r: r.campaign_id)
    paces = [(r, r.daily_pace(as_of)) for r in runs]
    committed = sum((r.committed for r in runs), Decimal(0))
    total = Fraction(spent)
    run_out: dt.date | None = None
    if spent >= amount and (spent > 0 or committed > 0):
        run_out = as_of
    last_day = max((r.flight_end for r in runs), default=as_of)
    horizon = min((last_day - as_of).days, MAX_FORECAST_DAYS)
    for offset in range(1, horizon + 1):
        day = as_of + dt.timedelta(days=offset)
        total += sum((pace for r, pace in paces if max(r.flight_start, as_of + dt.timedelta(days=1)) <= day
                      <= r.flight_end), Fraction(0))
        if run_out is None and total >= amount:
            run_out = day
    campaigns = tuple(
        CampaignForecast(run=r, daily_pace=_cents(pace), remaining_days=r.remaining_days(as_of),
                         forecast_spend=_cents(Fraction(r.spent) + pace * r.remaining_days(as_of)))
        for r, pace in paces)
    return Forecast(as_of=as_of, amount=amount, spent=spent, committed=committed, forecast_spend=_cents(total),
                    run_out_on=run_out, campaigns=campaigns)


@dataclass(frozen=True)
class Announcement:
    """What budget last announced of a line's forecast."""

    revision: int
    run_out_on: dt.date | None
    within_horizon: bool


def should_announce(now: Forecast, last: Announcement | None, horizon_days: int, material_days: int) -> bool:
    """Announce when the run-out day comes inside the horizon, leaves it, or moves inside it by
    at least ``material_days``; nothing else (not every spend)."""
    within = now.within(horizon_days)
    if last is None or not last.within_horizon:
        return within
    if not within:
        return True
    assert now.run_out_on is not None and last.run_out_on is not None
    return abs((now.run_out_on - last.run_out_on).days) >= material_days


# ------------------------------------------------------------------- plan files (CSV)

# month_1..month_3: a line's phasing, the amount planned for each month of its quarter (optional;
# a line row with none of them leaves its phasing as it is, an empty cell beside a filled one
# plans nothing for that month).
MONTH_COLUMNS = ("month_1", "month_2", "month_3")
CSV_COLUMNS = ("fiscal_year", "team", "channel", "quarter", "id", "name", "amount", "currency", *MONTH_COLUMNS)
REQUIRED_COLUMNS = ("fiscal_year", "team", "quarter", "id", "amount", "currency")
MAX_CSV_ROWS = 5000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    message: str

    def as_problem_item(self) -> dict[str, object]:
        path = f"body.rows.{self.row}" + (f".{self.column}" if self.column else "")
        return {"row": self.row, "column": self.column, "message": self.message, "path": path, "type": "plan_file"}


@dataclass(frozen=True)
class PlanRow:
    """One row of a plan file: an annual plan (no quarter) or a quarterly budget line."""

    row: int
    id: str
    name: str | None
    fiscal_year: int
    team: str
    channel: str | None
    quarter: int | None
    amount: Decimal
    currency: str
    phasing: dict[dt.date, Decimal] | None = None  # a line's months, when the row gives them

    @property
    def is_plan(self) -> bool:
        return self.quarter is None


def parse_plan_file(text: str, channels: frozenset[str], currencies: frozenset[str]) -> tuple[list[PlanRow],
                                                                                              list[RowError]]:
    """Every row of a plan CSV, or every error of every row (row numbers count the header as 1)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[RowError] = []
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        return [], [RowError(1, None, f"not CSV: {exc}")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        message = "; ".join(filter(None, [
            f"missing column(s) {', '.join(missing)}" if missing else "",
            f"unknown column(s) {', '.join(unknown)}" if unknown else "",
            "a column appears twice" if len(set(header)) != len(header) else ""]))
        return [], [RowError(1, None, f"{message} (columns: {', '.join(CSV_COLUMNS)})")]
    rows: list[PlanRow] = []
    seen: dict[str, int] = {}
    number = 1
    try:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if number > MAX_CSV_ROWS + 1:
                errors.append(RowError(number, None, f"a plan file has at most {MAX_CSV_ROWS} rows"))
                break
            if len(values) != len(header):
                errors.append(RowError(number, None, f"{len(values)} fields, the header has {len(header)}"))
                continue
            cells = {h: v.strip() for h, v in zip(header, values, strict=True)}
            row, row_errors = _plan_row(number, cells, channels, currencies)
            errors.extend(row_errors)
            if row is not None:
                if row.id in seen:
                    errors.append(RowError(number, "id", f"{row.id!r} is also on row {seen[row.id]}"))
                    continue
                seen[row.id] = number
                rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(number + 1, None, f"not CSV: {exc}"))
    if not rows and not errors:
        errors.append(RowError(1, None, "the file has no rows"))
    return rows, errors


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


def _plan_row(number: int, cells: Mapping[str, str], channels: frozenset[str],
              currencies: frozenset[str]) -> tuple[PlanRow | None, list[RowError]]:
    errors: list[RowError] = []

    def fail(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    year = quarter = None
    text = cells.get("fiscal_year", "")
    if not text.isascii() or not text.isdigit() or not 2000 <= int(text) <= 2200:
        fail("fiscal_year", "a year from 2000 to 2200")
    else:
        year = int(text)
    text = cells.get("quarter", "")
    if text:
        if text not in ("1", "2", "3", "4"):
            fail("quarter", "1, 2, 3 or 4 (empty for the annual plan)")
        else:
            quarter = int(text)
    team = cells.get("team", "")
    if not 1 <= len(team) <= 200:
        fail("team", "a team of 1 to 200 characters")
    channel = cells.get("channel", "") or None
    if channel is not None and channel not in channels:
        fail("channel", f"{channel!r} is not a channel")
    if text and channel is None:
        fail("channel", "a budget line (a row with a quarter) needs its channel")
    row_id = cells.get("id", "")
    if not _ID.match(row_id):
        fail("id", "letters, digits and . _ : - (up to 100), starting with a letter or digit")
    currency = cells.get("currency", "")
    if currency not in currencies:
        fail("currency", f"{currency!r} is not an ISO 4217 currency")
    amount = None
    try:
        amount = parse_bounded_amount(cells.get("amount", ""), signed=False, nonzero=False)
    except ValueError as exc:
        fail("amount", str(exc))
    name = cells.get("name") or None
    if name is not None and len(name) > 200:
        fail("name", "at most 200 characters")
    months: dict[int, Decimal] = {}
    for i, column in enumerate(MONTH_COLUMNS, start=1):
        if cells.get(column):
            try:
                months[i] = parse_bounded_amount(cells[column], signed=False, nonzero=False)
            except ValueError as exc:
                fail(column, str(exc))
    if months and not text:
        fail(MONTH_COLUMNS[min(months) - 1], "phasing is for budget lines (rows with a quarter), not plans")
    elif amount is not None and sum(months.values(), Decimal(0)) > amount:
        fail(MONTH_COLUMNS[max(months) - 1],
             f"the phasing adds up to {sum(months.values(), Decimal(0))}, more than the line's {amount}")
    if errors or year is None or amount is None:
        return None, errors
    phasing = None
    if quarter is not None and any(cells.get(column) for column in MONTH_COLUMNS):
        first = quarter_months(year, quarter)
        phasing = {first[i - 1]: value for i, value in months.items()}
    return PlanRow(row=number, id=row_id, name=name, fiscal_year=year, team=team, channel=channel,
                   quarter=quarter, amount=amount, currency=currency, phasing=phasing), []
