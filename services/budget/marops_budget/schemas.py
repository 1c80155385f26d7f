"""Request and response bodies of the budget API. Money is always {amount, currency}."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from marops_events.contracts import (
    Channel,
    Identifier,
    IsoDate,
    JsonInt,
    Money,
    NonNegativeMoneyInput,
    NonZeroMoneyInput,
    PositiveMoneyInput,
)
from marops_events.money import format_amount

LineId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
                              description="Letters, digits and . _ : - (up to 100)",
                              examples=["fy26-q1-growth-search"])]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class Request(BaseModel):
    # Unknown fields are refused, so a client never believes it set something it did not.
    model_config = ConfigDict(extra="forbid")


class NewBudgetLine(Request):
    id: LineId | None = Field(default=None, description="Chosen by finance; generated when omitted")
    name: str | None = Field(default=None, max_length=200)
    fiscal_year: JsonInt = Field(ge=2000, le=2200)
    quarter: JsonInt = Field(ge=1, le=4)
    team: Identifier
    channel: Channel
    amount: NonNegativeMoneyInput


class LineAdjustment(Request):
    amount: NonNegativeMoneyInput = Field(description="The line's new amount (not a delta)")
    reason: Reason


class NewReallocation(Request):
    from_line_id: Identifier
    to_line_id: Identifier
    amount: PositiveMoneyInput
    reason: Reason


class NewSpend(Request):
    """The same fields as the SpendRecorded event's data."""

    campaign_id: Identifier
    source_system: Identifier = Field(examples=["finance-manual"])
    source_reference: Identifier = Field(examples=["invoice-2026-0042"])
    amount: NonZeroMoneyInput = Field(
        description="Negative for a refund or correction (then corrects_reference is required); never zero")
    incurred_on: IsoDate
    budget_line_id: Identifier | None = Field(default=None, description="Defaults to the campaign's line")
    corrects_reference: Identifier | None = None
    description: str | None = Field(default=None, max_length=2000)


class BudgetLineOut(BaseModel):
    id: str
    name: str | None
    fiscal_year: int
    quarter: int
    team: str
    channel: str
    currency: str
    amount: Money
    reserved: Money
    committed: Money
    spent: Money
    available: Money = Field(description="amount - (per campaign, the larger of what it holds and what it spent)")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class LineChangeOut(BaseModel):
    kind: Literal["created", "adjusted", "reallocated_out", "reallocated_in"]
    delta: Money
    amount_after: Money
    reason: str | None
    actor: str
    reallocation_id: uuid.UUID | None
    changed_at: dt.datetime


class ReallocationOut(BaseModel):
    id: uuid.UUID
    from_line_id: str
    to_line_id: str
    amount: Money
    reason: str
    reallocated_by: str
    reallocated_at: dt.datetime


class SpendOut(BaseModel):
    id: int
    campaign_id: str
    source_system: str
    source_reference: str
    amount: Money
    incurred_on: dt.date
    budget_line_id: str | None = Field(description="The line the spend named, if any")
    counted_on_line_id: str | None = Field(description="The line it counts against, once known")
    attribution: Literal["attributed", "unattributed", "currency_mismatch", "excluded"]
    reconciliation: Literal["reconciled", "unreconciled", "historical"] = Field(
        description="unreconciled: budget cannot book it against a line and finance has not resolved it; "
                    "historical: imported history budget cannot book (nobody waits for it)")
    unreconciled_reason: Literal["unknown_campaign", "unknown_line", "currency_mismatch"] | None
    resolution: Literal["booked", "excluded"] | None = Field(description="Finance's resolution, if any")
    resolved_by: str | None
    resolution_note: str | None
    corrects_reference: str | None
    description: str | None
    origin: Literal["api", "kafka"]
    historical: bool
    event_id: uuid.UUID = Field(description="Event of the kept copy: the earliest (time, id) of the pair")
    occurred_at: dt.datetime = Field(description="Business time of the kept copy")
    recorded_by: str | None
    recorded_at: dt.datetime


class SpendResolution(Request):
    """Finance's resolution of an unreconciled spend."""

    resolution: Literal["booked", "excluded"] = Field(
        description="booked: count it against budget_line_id (a line in the spend's currency); "
                    "excluded: it counts against no line")
    budget_line_id: Identifier | None = None
    reason: Reason


class ResolutionOut(BaseModel):
    resolution: str
    budget_line_id: str | None
    reason: str
    resolved_by: str
    resolved_at: dt.datetime


class SupersededCopyOut(BaseModel):
    event_id: uuid.UUID
    occurred_at: dt.datetime
    campaign_id: str
    amount: Money
    incurred_on: dt.date
    budget_line_id: str | None
    corrects_reference: str | None
    replaced_by_event: uuid.UUID
    replaced_at: dt.datetime


class SpendDetailOut(SpendOut):
    resolutions: list[ResolutionOut] = Field(description="Finance's resolutions, oldest first (the audit trail)")
    superseded: list[SupersededCopyOut] = Field(
        description="Copies booked before an earlier copy with other content replaced them")


class SpendRecordedOut(SpendOut):
    already_recorded: bool = Field(description="True when this (source_system, source_reference) was known")


class CurrencyTotal(BaseModel):
    currency: str
    total: Decimal = Field(description="Money amount in this currency (the plain decimal format of every amount)")
    entries: int

    @field_serializer("total")
    def _canonical(self, total: Decimal) -> str:
        return format_amount(total, self.currency)


class LedgerPage(BaseModel):
    items: list[SpendOut]
    next_cursor: str | None
    totals: list[CurrencyTotal] = Field(description="Over every entry matching the filters, not just this page")
    filtered: bool = Field(False, description="true: entries of campaigns you may not read are left out, "
                                              "of the page and of the totals")


class DecisionOut(BaseModel):
    brief_version: int
    budget_line_id: str
    requested: Money
    outcome: Literal["reserved", "rejected"]
    reason_code: str | None
    reason: str | None
    decided_at: dt.datetime


class PacingOut(BaseModel):
    as_of: dt.date
    flight_start: dt.date
    flight_end: dt.date
    spent_to_date: Money = Field(description="Spend incurred on or before as_of")
    elapsed_share: Decimal = Field(description="Share of the flight's days elapsed by as_of (inclusive)")
    spend_share: Decimal | None
    expected_spend_to_date: Money
    pacing_index: Decimal | None = Field(description="spend_share / elapsed_share; 1 is exactly on pace")
    status: str


class UnattributedOut(BaseModel):
    attribution: str
    total: Money
    entries: int


class CampaignBudgetOut(BaseModel):
    campaign_id: str
    brief_version: int | None
    budget_line_id: str | None
    status: Literal["none", "reserved", "committed", "released"]
    release_reason: str | None
    currency: str | None
    reserved: Money | None
    committed: Money | None
    spent: Money | None
    remaining: Money | None = Field(description="committed - spent")
    variance: Money | None = Field(description="spent - committed")
    variance_percent: Decimal | None
    pacing: PacingOut | None
    not_counted: list[UnattributedOut] = Field(description="Spend not (yet) counted against a line")
    unreconciled: list[Money] = Field(
        description="Per currency, spend budget cannot book against a line that finance has not resolved")
    reservations: list[DecisionOut]
    thresholds_alerted: list[int]


class MonthOut(BaseModel):
    month: str = Field(examples=["2026-03"])
    budget_line_id: str
    spent: Money
    entries: int
    cumulative_spent: Money
    line_amount: Money
    filtered: bool = Field(False, description="true: spend of campaigns you may not read is left out of the sums")


# ------------------------------------------------------------------- annual plans

PlanId = LineId
MonthText = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]


class NewPlan(Request):
    id: PlanId | None = Field(default=None, description="Chosen by finance; generated when omitted")
    name: str | None = Field(default=None, max_length=200)
    fiscal_year: JsonInt = Field(ge=2000, le=2200)
    team: Identifier
    channel: Channel | None = Field(default=None, description="One channel's plan; omitted: the whole team's")
    amount: NonNegativeMoneyInput


class PlanAdjustment(Request):
    amount: NonNegativeMoneyInput = Field(description="The plan's new amount (not a delta)")
    reason: Reason


class Totals(BaseModel):
    """Plan vs allocated vs committed vs spent at one level. ``allocated`` is what this level
    handed down: a plan's and a quarter's to their lines, a line's to its campaigns (held)."""

    plan: Money | None = Field(description="A plan's or a line's amount, a campaign's requested amount; "
                                           "none for a quarter (plans are annual)")
    allocated: Money
    reserved: Money
    committed: Money
    spent: Money


class PlanOut(BaseModel):
    id: str
    name: str | None
    fiscal_year: int
    team: str
    channel: str | None
    currency: str
    totals: Totals
    unallocated: Money = Field(description="plan - allocated: what may still go to new or larger lines")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PlanCampaignOut(BaseModel):
    campaign_id: str
    title: str | None
    hold_status: Literal["reserved", "committed", "none"]
    totals: Totals


class PlanLineOut(BaseModel):
    id: str
    name: str | None
    quarter: int
    channel: str
    totals: Totals
    available: Money
    campaigns: list[PlanCampaignOut]


class PlanQuarterOut(BaseModel):
    quarter: int
    totals: Totals
    lines: list[PlanLineOut]


class PlanReport(PlanOut):
    quarters: list[PlanQuarterOut]
    filtered: bool = Field(description="Campaign rows the caller may not read are left out (totals count them)")
    hidden_campaign_rows: int


class PhasingMonth(Request):
    month: MonthText
    amount: NonNegativeMoneyInput


class Phasing(Request):
    months: list[PhasingMonth] = Field(max_length=3, description="Months of the line's quarter; replaces the phasing")


class PhasingMonthOut(BaseModel):
    month: str
    planned: Money
    spent: Money
    cumulative_planned: Money
    cumulative_spent: Money


class PhasingOut(BaseModel):
    budget_line_id: str
    amount: Money
    phased: Money
    unphased: Money = Field(description="amount - phased")
    months: list[PhasingMonthOut]


class CampaignForecastOut(BaseModel):
    campaign_id: str
    committed: Money
    spent: Money
    flight_start: dt.date
    flight_end: dt.date
    daily_pace: Money
    remaining_days: int
    forecast_spend: Money


class AnnouncementOut(BaseModel):
    revision: int
    run_out_on: dt.date | None
    within_horizon: bool


class ForecastOut(BaseModel):
    budget_line_id: str
    as_of: dt.date
    run_out_on: dt.date | None
    within_horizon: bool
    horizon_days: int
    amount: Money
    committed: Money
    spent: Money
    forecast_spend: Money
    campaigns: list[CampaignForecastOut] = Field(description="The campaigns the caller may read")
    filtered: bool
    last_announcement: AnnouncementOut | None


class ImportRowOut(BaseModel):
    row: int = Field(description="1-based line number in the file (the header is row 1)")
    kind: Literal["plan", "line"]
    id: str
    outcome: Literal["created", "updated", "unchanged"]


class PlanImportOut(BaseModel):
    dry_run: bool
    rows: list[ImportRowOut]
    created: int
    updated: int
    unchanged: int
