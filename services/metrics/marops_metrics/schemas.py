"""Response schemas of the metrics API, for the OpenAPI document (and its clients).

Reports are built as plain dicts (``readside``) and sent as JSON or CSV, so these
models describe the JSON bodies rather than produce them; a test validates real bodies
against them (``extra="forbid"``: a field added to a report but not here fails it).
Durations are hours (floats), money is a decimal string, rates are fractions 0-1.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Money = str  # a decimal string with at least two decimals, never a float


class Head(_Body):
    metric: str
    quarter_basis: str = Field(description="launch (cycle time) or submission (everything else)")
    filters: dict[str, str] = Field(description="The filters applied, as given")
    filtered: bool = Field(description="True when campaigns the caller may not read were left out")
    group_by: str | None = None


class Stats(_Body):
    count: int
    mean_hours: float | None
    p50_hours: float | None
    p90_hours: float | None


class GateStats(Stats):
    gate_id: str
    gate_name: str
    bottleneck: bool


class Bottleneck(_Body):
    gate_id: str
    gate_name: str
    p90_hours: float


class GateTimes(_Body):
    gates: list[GateStats]
    bottleneck: Bottleneck | None = Field(description="The gate with the highest p90 (ties: the earlier gate)")


class SlaGate(_Body):
    gate_id: str
    gate_name: str
    decisions: int
    breaches: int
    breach_rate: float | None


class Sla(_Body):
    decisions: int
    breaches: int
    breach_rate: float | None
    gates: list[SlaGate]


class Rework(_Body):
    submitted: int
    reworked: int
    rework_rate: float | None
    revisions: int
    revisions_per_brief: float | None


class OnTime(_Body):
    launched: int
    on_time: int
    late: int
    on_time_rate: float | None


class Completeness(_Body):
    launched: int
    complete: int
    incomplete: int
    data_completeness: float | None


def _grouped(name: str, result: type[_Body], **extra: Any) -> type[BaseModel]:
    """``{head, overall: result, groups: [result + group]}``; groups only with group_by."""
    group = create_model(f"{result.__name__}Group", __base__=result, group=(str, ...))
    return create_model(name, __base__=Head, overall=(result, ...), groups=(list[group] | None, None),
                        **extra)


CycleTimeReport = _grouped("CycleTimeReport", Stats, unit=(str, "hours"))
GateTimesReport = _grouped("GateTimesReport", GateTimes, unit=(str, "hours"))
SlaReport = _grouped("SlaReport", Sla)
ReworkReport = _grouped("ReworkReport", Rework)
OnTimeReport = _grouped("OnTimeReport", OnTime)
CompletenessReport = _grouped("CompletenessReport", Completeness)


class Variance(_Body):
    currency: str
    committed: Money
    actual: Money
    variance: Money
    variance_pct: str | None = Field(description="of committed, 2 decimals; none when committed is 0")
    unreconciled: Money = Field(description="the part of actual budget could not book against a line yet")


class CampaignVariance(Variance):
    campaign_id: str
    title: str | None
    team: str | None
    budget_line_id: str | None


class GroupVariance(Variance):
    group: str


class VarianceReport(_Body):
    metric: str
    by: str
    quarter_basis: str
    filters: dict[str, str]
    filtered: bool
    group_by: str | None = None
    totals: list[Variance]
    rows: list[CampaignVariance] | list[GroupVariance] = Field(
        description="per campaign and currency, or per group and currency with group_by")


class LineVariance(Variance):
    budget_line_id: str


class LineVarianceReport(_Body):
    metric: str
    by: str
    quarter_basis: str
    filters: dict[str, str]
    filtered: bool
    totals: list[Variance]
    rows: list[LineVariance]


class MonthSpend(_Body):
    group: str
    month: str = Field(examples=["2026-03"])
    currency: str
    actual: Money


class MonthReport(_Body):
    metric: str
    by: str
    quarter_basis: str
    filters: dict[str, str]
    filtered: bool
    group_by: str | None = None
    rows: list[MonthSpend]


class SpendAmount(_Body):
    currency: str
    amount: Money


class CampaignMeasures(_Body):
    """A campaign's derived row: what the campaign table and the overview both answer."""

    campaign_id: str
    title: str | None
    team: str | None
    owner: str | None
    channels: list[str]
    status: str
    latest_version: int
    revisions: int
    rejections: int
    first_submitted_at: datetime | None
    target_launch_date: date | None
    launched_at: datetime | None
    on_time: bool | None
    cycle_time_hours: float | None
    data_complete: bool | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    budget_line_id: str | None


class CampaignRow(CampaignMeasures):
    committed: Money | None
    committed_currency: str | None
    actual_spend: list[SpendAmount]


class CampaignTable(_Body):
    filters: dict[str, str]
    filtered: bool
    count: int = Field(description="rows on this page")
    limit: int
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; none on the last")
    campaigns: list[CampaignRow]


class SummaryCampaigns(_Body):
    submitted: int
    launched: int
    cancelled: int
    completed: int


class Summary(_Body):
    filters: dict[str, str]
    filtered: bool
    campaigns: SummaryCampaigns
    cycle_time: Stats
    time_in_gate: GateTimes
    rework: Rework
    on_time: OnTime
    sla: Sla
    data_completeness: Completeness
    budget_variance: list[Variance]


class Step(_Body):
    event_id: str
    type: str
    time: datetime
    source: str
    historical: bool
    summary: str
    counted: bool = Field(description="false for a spend repeating an earlier (source system, reference)")
    since_previous_hours: float | None
    since_start_hours: float | None
    data: dict[str, Any]


class TimelineDecision(_Body):
    brief_version: int
    gate_id: str
    gate_name: str
    outcome: str
    actionable_at: datetime
    decided_at: datetime
    hours_in_gate: float
    sla_hours: int
    breached_sla: bool


class Timeline(_Body):
    campaign_id: str
    status: str | None
    first_submitted_at: datetime | None
    launched_at: datetime | None
    cycle_time_hours: float | None
    gate_decisions: list[TimelineDecision]
    events: list[Step]
    limit: int
    next_cursor: str | None


class TopicFreshness(BaseModel):
    topic: str
    event_type: str
    lag: int | None
    partition_lag: dict[str, int]
    last_event_time: datetime | None
    events_applied: int


class RebuildRun(BaseModel):
    run_id: str
    trigger: str
    requested_by: str | None
    status: str = Field(description="running, succeeded or failed")
    started_at: datetime
    finished_at: datetime | None
    events_applied: int
    records_skipped: int = Field(description="records the live consumer dead-letters too")
    high_watermarks: dict[str, int] | None
    skipped_records: list[dict[str, Any]] = Field(description="topic, partition, offset, reason of each skip")
    error: str | None


class Freshness(BaseModel):
    """Freshness of the read model (more members may describe the consumer's health)."""

    model_config = ConfigDict(extra="allow")

    consumer_group: str | None
    consuming: bool
    total_lag: int | None
    caught_up: bool
    last_event_time: datetime | None
    topics: list[TopicFreshness]
    last_rebuild: RebuildRun | None


class RebuildStarted(_Body):
    run_id: str
    status: str
    href: str
