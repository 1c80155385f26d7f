"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from marops_events.contracts import Channel, IsoDate
from marops_service.text import NOT_BLANK

from .domain.brief import Brief, Effort, KpiDraft, MoneyDraft, Number, Text
from .domain.status import Status


def _read_only(value: object) -> object:
    raise PydanticCustomError("read_only", "this field is set by the service and cannot be set by a client")


# Accepted by no request: present in the body (even as null) it fails with a clear reason,
# instead of the generic "extra field" message, because clients do try to set these.
ReadOnly = SkipJsonSchema[Annotated[Any, AfterValidator(_read_only)]]


class BriefBody(Brief):
    """A brief to save as a draft. Every field is optional; status, versions, timestamps and
    the requester are the service's to set and are refused when sent."""

    id: ReadOnly = None
    campaign_id: ReadOnly = None
    status: ReadOnly = None
    status_reason: ReadOnly = None
    version: ReadOnly = None
    current_version: ReadOnly = None
    requester: ReadOnly = None
    created_by: ReadOnly = None
    created_at: ReadOnly = None
    updated_at: ReadOnly = None
    submitted_at: ReadOnly = None
    submitted_by: ReadOnly = None
    last_changed_at: ReadOnly = None
    versions: ReadOnly = None
    status_history: ReadOnly = None

    def brief_fields(self) -> dict[str, Any]:
        """The brief fields the client actually sent (null included: it clears a field)."""
        sent = self.model_fields_set & set(Brief.model_fields)
        return self.model_dump(mode="json", include=sent)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class ReasonBody(BaseModel):
    """Why the campaign is paused or resumed (kept with the pause, published in the event)."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Text, Field(min_length=1, max_length=2000, pattern=NOT_BLANK)]


class ChangeBody(BaseModel):
    """A change to an approved or launched campaign: the fields sent replace the current
    version's; at least one must differ. Governance decides it by the policy's change rules."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Text, Field(min_length=1, max_length=2000, pattern=NOT_BLANK)]
    budget_amount: MoneyDraft | None = Field(default=None, description="the new requested amount (same line)")
    target_launch_date: IsoDate | None = None
    flight_start: IsoDate | None = None
    flight_end: IsoDate | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=len(Channel))
    kpis: list[KpiDraft] | None = Field(default=None, min_length=1, max_length=20)

    def change_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"reason"}, exclude_none=True)


class OwnerTransferBody(BaseModel):
    """Hand the campaign to another accountable owner (the current owner or ops_admin)."""

    model_config = ConfigDict(extra="forbid")
    owner: Annotated[Text, Field(min_length=1, max_length=200, description="the new owner's user id")]
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class OwnershipTransferOut(BaseModel):
    at: dt.datetime
    from_owner: str | None
    to_owner: str
    by: str
    reason: str


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: Annotated[Text, Field(min_length=1, max_length=200)]
    actual: Number


class CompleteBody(BaseModel):
    """Actual results, one per KPI of the submitted brief (matched by metric)."""

    model_config = ConfigDict(extra="forbid")
    results: list[ResultIn] = Field(max_length=20)
    completed_by: ReadOnly = None
    completed_at: ReadOnly = None


# --- responses ------------------------------------------------------------------------


class FindingOut(BaseModel):
    path: str = Field(examples=["kpis.0.target"])
    type: str = Field(description="missing or invalid", examples=["missing"])
    reason: str = Field(examples=["the KPI needs a numeric target"])
    message: str = Field(description="The same text as reason: the field every problem's errors[] item has")


class CheckOut(BaseModel):
    complete: bool
    errors: list[FindingOut]


class ChangeOut(BaseModel):
    path: str
    change: str = Field(description="added, removed or changed")
    before: Any = None
    after: Any = None


class StatusChangeOut(BaseModel):
    status: Status
    at: dt.datetime
    reason: str | None = None
    cause: str = Field(description="the fact that changed the status, e.g. gate_rejected")
    version: int | None = None


class DecisionOut(BaseModel):
    type: str = Field(description="GateApproved, GateRejected or CampaignLaunched")
    brief_version: int
    at: dt.datetime
    by: str | None = None
    gate_name: str | None = None
    gate_position: int | None = None
    is_last_gate: bool | None = None
    kind: str | None = None
    reason: str | None = None


class VersionSummary(BaseModel):
    version: int
    change_id: str | None = Field(None, description="the approved change request this version came from")
    submitted_at: dt.datetime
    submitted_by: str
    event_id: uuid.UUID
    changes: list[ChangeOut] = Field(description="what changed since the previous version (empty for version 1)")


class VersionOut(VersionSummary):
    campaign_id: str
    brief: dict[str, Any]


class DiffOut(BaseModel):
    campaign_id: str
    from_version: int
    to_version: int
    changes: list[ChangeOut]


class CancellationOut(BaseModel):
    at: dt.datetime
    by: str
    reason: str | None = None


class ResultOut(BaseModel):
    metric: str
    target: Decimal | None = None
    actual: Decimal
    unit: str


class CompletionOut(BaseModel):
    at: dt.datetime
    by: str
    results: list[ResultOut]


class PauseOut(BaseModel):
    pause: int = Field(description="numbered from 1 per campaign")
    paused_at: dt.datetime
    paused_by: str
    reason: str
    resumed_at: dt.datetime | None = None
    resumed_by: str | None = None
    resume_reason: str | None = None


class ChangeRequestOut(BaseModel):
    change_id: str
    base_version: int
    version: int = Field(description="the brief version the change proposes (current once approved)")
    changes: list[str] = Field(description="budget, dates, channels, kpis")
    reason: str
    requested_by: str
    requested_at: dt.datetime
    status: str = Field(description="pending, approved or rejected")
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    proposed: dict[str, Any] = Field(description="the proposed brief")
    decisions: list[DecisionOut] = Field(description="governance's gate decisions on the change")


class CampaignSummary(BaseModel):
    id: str
    title: str | None
    team: str
    owner: str | None
    status: Status
    status_reason: str | None
    status_since: dt.datetime
    current_version: int
    target_launch_date: dt.date | None
    channels: list[str]
    created_by: str
    created_at: dt.datetime
    last_changed_at: dt.datetime


class CampaignDetail(CampaignSummary):
    brief: dict[str, Any] = Field(description="the working draft (equal to the last version until edited)")
    unsubmitted_changes: list[ChangeOut] = Field(description="draft edits since the last submitted version")
    versions: list[VersionSummary]
    status_history: list[StatusChangeOut]
    decisions: list[DecisionOut] = Field(description="gate decisions and launches received from governance")
    cancellation: CancellationOut | None = None
    completion: CompletionOut | None = None
    authors: list[str] = Field(default_factory=list,
                               description="everyone who created, edited or submitted the brief")
    ownership_transfers: list[OwnershipTransferOut] = Field(
        default_factory=list, description="explicit owner changes, oldest first (published with the next version)")
    retrospective: RetrospectiveOut | None = Field(
        default=None, description="the current retrospective of a completed campaign, once recorded")
    paused: bool = Field(False, description="a pause is in force")
    pauses: list[PauseOut] = Field(default_factory=list, description="every pause, oldest first")
    change_requests: list[ChangeRequestOut] = Field(default_factory=list, description="oldest first")


class OverloadedWeekOut(BaseModel):
    week_start: dt.date = Field(description="The Monday of the week")
    capacity: Decimal
    demand_without: Decimal = Field(description="the team's demand that week without this brief")
    demand_with: Decimal


class WarningOut(BaseModel):
    """A warning about the brief, never a refusal (see the README: capacity and deadline realism)."""

    code: Literal["capacity_overload", "deadline_unrealistic"]
    message: str
    weeks: list[OverloadedWeekOut] = Field(default_factory=list, description="capacity_overload: the weeks")
    median_cycle_days: Decimal | None = Field(default=None, description="deadline_unrealistic: the median used")
    basis: str | None = Field(default=None, description='"team", or "channel:<name>" when the team has too few '
                                                        "launches")
    realistic_from: dt.date | None = Field(default=None, description="the earliest launch date that median allows")


class CampaignWritten(CampaignDetail):
    warnings: list[WarningOut] = Field(default_factory=list,
                                       description="capacity and deadline warnings for the brief as saved")


class CampaignPage(BaseModel):
    items: list[CampaignSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    filtered: bool = Field(False, description="true: campaigns you may not read are left out")


# --- retrospectives -------------------------------------------------------------------


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text.strip()


Entry = Annotated[Text, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]
Entries = Annotated[list[Entry], Field(max_length=50)]


class FollowUpActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Entry
    owner: Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank),
                     Field(description="who does it (user id)")]
    due_on: IsoDate


class RetrospectiveBody(BaseModel):
    """What the campaign taught: recording it again replaces the previous revision."""

    model_config = ConfigDict(extra="forbid")
    what_worked: Entries = Field(default_factory=list)
    what_did_not_work: Entries = Field(default_factory=list)
    lessons: Annotated[list[Entry], Field(min_length=1, max_length=50,
                                          description="at least one; searchable across campaigns at GET /lessons")]
    actions: Annotated[list[FollowUpActionIn], Field(max_length=50)] = Field(default_factory=list)
    revision: ReadOnly = None
    recorded_by: ReadOnly = None
    recorded_at: ReadOnly = None


class FollowUpActionOut(BaseModel):
    action: str
    owner: str
    due_on: dt.date


class RetrospectiveOut(BaseModel):
    campaign_id: str
    revision: int = Field(description="1 for the first recording, one more for each re-recording")
    recorded_by: str
    recorded_at: dt.datetime
    team: str
    channels: list[str]
    what_worked: list[str]
    what_did_not_work: list[str]
    lessons: list[str]
    actions: list[FollowUpActionOut]


class LessonOut(BaseModel):
    campaign_id: str
    position: int = Field(description="1-based position among the retrospective's lessons")
    text: str
    recorded_at: dt.datetime = Field(description="when the retrospective holding it was recorded")
    title: str | None
    team: str
    channels: list[str]
    owner: str | None


class LessonPage(BaseModel):
    items: list[LessonOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    filtered: bool = Field(False, description="true: lessons of campaigns you may not read are left out")


CampaignDetail.model_rebuild()


# --- results (KpiResultsRecorded) -------------------------------------------------------

SourceName = Annotated[Text, Field(min_length=1, max_length=200)]


class ResultsBody(BaseModel):
    """Results of the campaign's KPIs as of a date; the report is named by its source system and reference."""

    model_config = ConfigDict(extra="forbid")
    source_system: SourceName = Field(default="intake", examples=["analytics"],
                                      description="Who measured them; a service token must name it in source_systems")
    source_reference: SourceName = Field(examples=["weekly-2026-03-09"],
                                         description="The report's own reference: a re-send counts once")
    as_of: IsoDate = Field(description="The date the results are measured up to")
    results: list[ResultIn] = Field(min_length=1, max_length=20)


class ReportedResult(BaseModel):
    metric: str
    actual: str = Field(description="Decimal string")
    unit: str | None = None


class ResultsReportOut(BaseModel):
    campaign_id: str
    source_system: str
    source_reference: str
    as_of: dt.date
    results: list[ReportedResult]
    recorded_by: str
    recorded_at: dt.datetime
    event_id: str
    already_recorded: bool = False


CampaignWritten.model_rebuild()


class CapacityWeekIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    week: IsoDate = Field(description="The Monday of the week")
    capacity: Effort


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: Literal["hours", "points"]
    weekly: Effort = Field(description="Capacity of every week without a figure of its own")
    weeks: list[CapacityWeekIn] = Field(default_factory=list, max_length=260)


class CampaignDemandOut(BaseModel):
    campaign_id: str
    title: str | None
    demand: Decimal


class CapacityWeekOut(BaseModel):
    week_start: dt.date
    capacity: Decimal | None = Field(description="none when the team has no capacity set")
    demand: Decimal
    overloaded: bool
    campaigns: list[CampaignDemandOut]


class CapacityReport(BaseModel):
    team: str
    unit: Literal["hours", "points"] | None
    weekly_capacity: Decimal | None
    weeks: list[CapacityWeekOut]
    overloaded_weeks: list[dt.date]
    filtered: bool = Field(description="true: demand counts only the campaigns you may read")
