"""The v1 event payloads (the ``data`` of the envelope), one frozen model per event.

Rules every model follows (and ``tests/test_contracts.py`` guards):
- money is ``Money``: a ``Decimal`` amount and a currency code, written by
  ``money.format_amount`` (a plain decimal string with the currency's minor-unit places,
  never a float, never exponent notation); APIs take ``MoneyInput``, which accepts only
  ``money.AMOUNT_PATTERN`` strings and ISO 4217 currencies;
- times are timezone-aware and normalised to UTC; dates are ISO calendar dates;
- enums are strict: an unknown value is invalid;
- unknown extra fields are ignored on read, so producers may add optional fields
  without breaking consumers. Removing or renaming a field, changing its type or removing
  an enum value is a breaking change and needs a new event version (a new topic).

Events carry the facts their consumers need, so no consumer has to know another
service's rules (SPEC section 3): a gate decision says when the gate became actionable,
its SLA and the brief version it decides; a launch carries its readiness snapshot.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_validator,
)

from .envelope import as_utc
from .money import (
    CURRENCIES,
    EVENT_AMOUNT_PATTERN,
    MAX_AMOUNT_CHARS,
    MAX_INPUT_PLACES,
    MAX_WHOLE_DIGITS,
    check_currency,
    format_amount,
    input_pattern,
    parse_bounded_amount,
    parse_event_amount,
)

# Events keep the v1 shape of a currency (three capitals): the topics' history is read
# back as it was written. What enters through an API is checked against ISO 4217.
Currency = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code", examples=["EUR"])
]
IsoCurrency = Annotated[
    str,
    AfterValidator(check_currency),
    WithJsonSchema({"type": "string", "enum": list(CURRENCIES), "description": "ISO 4217 alphabetic code",
                    "examples": ["EUR"]}),
]
_AMOUNT_OUT = ("Plain decimal string with (at least) the currency's ISO 4217 minor-unit places, "
               'e.g. "20000.00"; never exponent notation')
EventAmount = Annotated[
    Decimal,
    BeforeValidator(parse_event_amount),
    WithJsonSchema({"type": "string", "pattern": EVENT_AMOUNT_PATTERN,
                    "description": _AMOUNT_OUT + " (records written before this rule may use exponent "
                                                 'notation such as "2E+4"; readers accept both)'}),
]


def _amount_parser(*, signed: bool, nonzero: bool) -> Callable[[object], object]:
    def parse(value: object) -> object:
        return value if isinstance(value, Decimal) else parse_bounded_amount(value, signed=signed, nonzero=nonzero)
    return parse


def _amount_schema(*, signed: bool, nonzero: bool) -> WithJsonSchema:
    """The schema of a client's amount: exactly the bounds ``parse_bounded_amount`` applies."""
    schema: dict[str, Any] = {
        "type": "string", "pattern": input_pattern(signed=signed), "maxLength": MAX_AMOUNT_CHARS,
        "examples": ["1250.00"],
        "description": (f"Decimal string of ASCII digits{', optional leading -' if signed else ''}: at most "
                        f"{MAX_WHOLE_DIGITS} digits before the point, {MAX_INPUT_PLACES} after; no exponent"
                        + ("; not zero" if nonzero else "")),
    }
    if nonzero:
        schema["not"] = {"pattern": r"^-?0+(\.0+)?$"}
    return WithJsonSchema(schema)


# What clients may send, within the bounds every service applies (``money.input_pattern``).
InputAmount = Annotated[Decimal, BeforeValidator(_amount_parser(signed=True, nonzero=False)),
                        _amount_schema(signed=True, nonzero=False)]
NonNegativeAmount = Annotated[Decimal, BeforeValidator(_amount_parser(signed=False, nonzero=False)),
                              _amount_schema(signed=False, nonzero=False)]
PositiveAmount = Annotated[Decimal, BeforeValidator(_amount_parser(signed=False, nonzero=True)),
                           _amount_schema(signed=False, nonzero=True)]
NonZeroAmount = Annotated[Decimal, BeforeValidator(_amount_parser(signed=True, nonzero=True)),
                          _amount_schema(signed=True, nonzero=True)]


def _iso_date(value: object) -> object:
    """Before-validator: a calendar date is an ISO ``YYYY-MM-DD`` string (or a ``date``).

    pydantic's lax mode would also take an integer as seconds since 1970 (``0`` becomes
    1970-01-01) and "2026-03-05T00:00" as a date; neither is what a sender means.
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("a date must be an ISO 8601 calendar date string, YYYY-MM-DD")
    return value


def json_int(value: object) -> object:
    """Before-validator: an integer is a JSON integer. Not a string ("5"), not a boolean;
    a number with a zero fraction (5.0) is one, as JSON Schema has it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer, not a string or a boolean")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    return int(value)


# Bounds go on the field (``x: JsonInt = Field(ge=1)``) or before the validator
# (``Annotated[int, Field(ge=1), BeforeValidator(json_int)]``): ``Annotated[JsonInt, Field(ge=1)]``
# is enforced but documented as "ge", which is not JSON Schema.
JsonInt = Annotated[int, BeforeValidator(json_int)]
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
UserId = Annotated[str, Field(min_length=1, max_length=200, description="User id (JWT subject)")]


class Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def refuse_float(value: object) -> object:
    """Before-validator for money amounts: a JSON number with a fraction reaches us as a
    binary float and would carry its drift into the ledger, so only strings/ints pass."""
    if isinstance(value, float):
        raise ValueError('money amount must be a decimal string (e.g. "1250.50"), not a float')
    return value


class Money(Contract):
    """An amount in a currency, as events and API responses carry it."""

    amount: EventAmount
    currency: Currency

    @field_serializer("amount")
    def _canonical(self, amount: Decimal) -> str:
        return format_amount(amount, self.currency)


class MoneyInput(Money):
    """Money as clients send it: ``AMOUNT_PATTERN`` strings only (below 10^15, at most 4
    decimal places), ISO 4217 currencies."""

    amount: InputAmount
    currency: IsoCurrency


class NonNegativeMoneyInput(MoneyInput):
    """``MoneyInput`` of a plan, limit or threshold: zero or more."""

    amount: NonNegativeAmount


class NonZeroMoneyInput(MoneyInput):
    """``MoneyInput`` of a spend: negative for a refund or correction, never zero."""

    amount: NonZeroAmount


class PositiveMoneyInput(MoneyInput):
    """``MoneyInput`` of a transfer: more than zero."""

    amount: PositiveAmount


class Channel(StrEnum):
    """The fixed set of marketing channels a campaign can run on."""

    email = "email"
    paid_search = "paid_search"
    paid_social = "paid_social"
    organic_social = "organic_social"
    display = "display"
    video = "video"
    content = "content"
    events = "events"
    affiliate = "affiliate"
    print = "print"
    out_of_home = "out_of_home"
    sms = "sms"
    direct_mail = "direct_mail"
    pr = "pr"


class GateKind(StrEnum):
    """What a gate decides. Budget consumes approvals of ``budget`` gates only."""

    review = "review"
    budget = "budget"


class RejectionKind(StrEnum):
    changes_requested = "changes_requested"
    rejected = "rejected"


class ReservationRejectionReason(StrEnum):
    unknown_line = "unknown_line"
    insufficient_funds = "insufficient_funds"
    currency_mismatch = "currency_mismatch"


class ReleaseReason(StrEnum):
    cancelled = "cancelled"
    rejected = "rejected"
    superseded = "superseded"  # a resubmitted brief version's reservation replaced it
    changed = "changed"  # an approved change lowered the amount: the difference is released


class ChangeField(StrEnum):
    """What a change request changes on an approved or launched campaign."""

    budget = "budget"  # the requested amount
    dates = "dates"  # target launch date or flight
    channels = "channels"
    kpis = "kpis"


class ChangeOutcome(StrEnum):
    approved = "approved"
    rejected = "rejected"


class ReconciliationStatus(StrEnum):
    unreconciled = "unreconciled"
    reconciled = "reconciled"


class UnreconciledReason(StrEnum):
    """Why budget cannot book a spend against a budget line (yet)."""

    unknown_campaign = "unknown_campaign"  # no brief (so no line) known for its campaign
    unknown_line = "unknown_line"  # the line it names, or its campaign's line, does not exist
    currency_mismatch = "currency_mismatch"  # its line is in another currency


class ReconciliationResolution(StrEnum):
    attributed = "attributed"  # budget booked it by itself once its line became known
    booked = "booked"  # finance booked it against a line they chose
    excluded = "excluded"  # finance confirmed it counts against no line


class KpiDirection(StrEnum):
    """Which way a KPI is better: ``increase`` (higher is better, the default) or ``decrease``."""

    increase = "increase"
    decrease = "decrease"


class KpiKind(StrEnum):
    """An ``outcome`` KPI is a commercial result (revenue, pipeline, leads); an ``activity``
    KPI measures the work (impressions, sends). Free-text KPIs have no kind."""

    outcome = "outcome"
    activity = "activity"


class RiskStatus(StrEnum):
    open = "open"
    mitigated = "mitigated"
    accepted = "accepted"
    closed = "closed"


# --- brief parts -------------------------------------------------------------------


class Kpi(Contract):
    metric: str = Field(min_length=1, examples=["qualified_leads"],
                        description="The KPI's key: a metric catalogue key, or free text")
    target: Decimal = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1, examples=["leads"],
                      description="Unit of target and results; an ISO 4217 code for a monetary KPI")
    timeframe: str = Field(min_length=1, examples=["90 days after launch"])
    baseline: Decimal | None = Field(default=None, allow_inf_nan=False, description="Value before the campaign")
    direction: KpiDirection | None = Field(
        default=None, description="Which way is better; absent means increase (and in events published before it)")
    kind: KpiKind | None = Field(
        default=None, description="outcome or activity, from the metric catalogue; absent for free-text KPIs")
    catalogue_version: int | None = Field(
        default=None, ge=1, description="The metric catalogue version the KPI's definition was taken from")


class TrackingPlan(Contract):
    campaign_code: str = Field(min_length=1, description="Campaign code / UTM campaign value")
    utm_convention: str | None = None
    conversion_events: list[str] = Field(default_factory=list, description="Conversion events or pixels")
    reporting_destination: str | None = Field(default=None, description="Where results are reported")


class Raci(Contract):
    responsible: list[UserId] = Field(default_factory=list)
    accountable: UserId | None = None
    consulted: list[UserId] = Field(default_factory=list)
    informed: list[UserId] = Field(default_factory=list)


class BudgetRequest(Contract):
    amount: Money
    budget_line_id: Identifier


class KpiResult(Contract):
    metric: str = Field(min_length=1)
    target: Decimal | None = Field(default=None, allow_inf_nan=False)
    actual: Decimal = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1)


class KpiActual(Contract):
    """One KPI's actual value in a results report."""

    metric: str = Field(min_length=1, max_length=200, description="The KPI's key, as in the brief")
    actual: Decimal = Field(allow_inf_nan=False)
    unit: str | None = Field(default=None, min_length=1, description="As the reporting system names it")


class KpiDefinition(Contract):
    """One entry of the metric catalogue."""

    key: str = Field(min_length=1, max_length=100, examples=["qualified_leads"])
    name: str = Field(min_length=1, examples=["Qualified leads"])
    unit: str = Field(min_length=1, examples=["leads"], description="An ISO 4217 code for a monetary KPI")
    direction: KpiDirection = KpiDirection.increase
    kind: KpiKind
    description: str | None = None


class ReadinessSnapshot(Contract):
    """The facts that made a campaign launchable, as governance saw them at launch."""

    all_gates_approved: bool
    kpis_with_targets: bool
    tracking_plan_defined: bool
    budget_committed: bool
    committed: Money | None = None
    open_blocking_risks: int = Field(ge=0, default=0)
    policy_version: int = Field(ge=1)


# --- intake --------------------------------------------------------------------------


class BriefSubmitted(Contract):
    """A complete brief version was submitted; version 1 starts the cycle time clock."""

    campaign_id: Identifier
    version: int = Field(ge=1)
    title: str = Field(min_length=1)
    team: Identifier
    owner: UserId = Field(description="Accountable user who owns the outcome")
    requester: UserId = Field(description="Who submitted this version")
    authors: list[UserId] = Field(
        default_factory=list,
        description="Everyone who wrote the brief up to this version (created it, edited a draft or submitted a "
                    "version); four-eyes keeps them from deciding its gates. Absent in events published before "
                    "it existed: then the requester is the only known author")
    objective: str = Field(min_length=1)
    target_audience: str | None = None
    channels: list[Channel] = Field(min_length=1)
    target_launch_date: IsoDate
    flight_start: IsoDate
    flight_end: IsoDate
    kpis: list[Kpi] = Field(default_factory=list)
    tracking_plan: TrackingPlan | None = None
    budget_request: BudgetRequest
    raci: Raci = Field(default_factory=Raci)
    effort: Decimal | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="Estimated production effort, in the capacity unit of the campaign's team (hours or points); "
                    "absent when the requester gave none")


class ChangeRequested(Contract):
    """The owner asked to change an approved or launched campaign; the proposal is the next brief version.

    ``brief`` is the whole proposed version (its ``version`` the next one, its ``requester``
    who filed the change), read like a submission; it becomes the campaign's current brief
    only when ``ChangeDecided`` approves it. A change starts no new cycle and re-opens only
    the gates governance's policy names for what it changes.
    """

    campaign_id: Identifier
    change_id: Identifier
    base_version: int = Field(ge=1, description="The brief version the change starts from")
    changes: list[ChangeField] = Field(min_length=1, description="What the change changes")
    reason: str = Field(min_length=1)
    requested_by: UserId
    brief: BriefSubmitted = Field(description="The proposed brief version, complete")
    base_amount: Money | None = Field(
        default=None, description="The requested amount of the base version, so consumers tell an increase from a "
                                  "decrease without having seen that version")
    base_channels: list[Channel] | None = Field(
        default=None, description="The channels of the base version (which channels the change adds or removes)")

    @model_validator(mode="after")
    def _consistent(self) -> ChangeRequested:
        if self.brief.campaign_id != self.campaign_id:
            raise ValueError("brief.campaign_id must be the change's campaign_id")
        if self.brief.version <= self.base_version:
            raise ValueError("brief.version must be later than base_version")
        return self


class CampaignPaused(Contract):
    """A running or approved campaign was paused, with a reason; ``pause`` numbers its pauses from 1."""

    campaign_id: Identifier
    pause: int = Field(ge=1, description="The campaign's n-th pause")
    paused_by: UserId
    reason: str = Field(min_length=1)


class CampaignResumed(Contract):
    """A paused campaign was resumed, with a reason; ``pause`` names the pause it ends."""

    campaign_id: Identifier
    pause: int = Field(ge=1, description="The pause this resumption ends")
    resumed_by: UserId
    reason: str = Field(min_length=1)


class CampaignCancelled(Contract):
    campaign_id: Identifier
    cancelled_by: UserId
    reason: str | None = None


class CampaignCompleted(Contract):
    campaign_id: Identifier
    completed_by: UserId
    results: list[KpiResult] = Field(default_factory=list)



class FollowUpAction(Contract):
    """A follow-up a retrospective assigns: what is to be done, by whom, by when."""

    action: str = Field(min_length=1)
    owner: UserId = Field(description="Who does it")
    due_on: IsoDate


class RetrospectiveRecorded(Contract):
    """The owner's retrospective of a completed campaign: what worked, what did not, lessons, follow-ups.

    A campaign has one retrospective; recording it again publishes the next ``revision``,
    which replaces the earlier ones (the highest revision is current, whatever the order of
    arrival). Team and channels are the campaign's (of its highest brief version), so
    consumers can group lessons without knowing briefs.
    """

    campaign_id: Identifier
    revision: int = Field(ge=1, description="Orders the recordings of one retrospective; the highest is current")
    recorded_by: UserId
    team: Identifier
    channels: list[Channel] = Field(default_factory=list)
    what_worked: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    what_did_not_work: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    lessons: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    actions: list[FollowUpAction] = Field(default_factory=list,
                                          description="Follow-up actions, each with an owner and a due date")


class KpiResultsRecorded(Contract):
    """Results of a campaign's KPIs as of a date, from intake's API or an analytics system.

    ``(source_system, source_reference)`` identifies the report: the same pair counts once
    whatever the event id (the earliest copy wins). For each KPI, the result with the latest
    ``as_of`` date is the current one.
    """

    campaign_id: Identifier
    source_system: Identifier = Field(examples=["analytics"])
    source_reference: Identifier = Field(examples=["weekly-2026-03-09"])
    as_of: IsoDate = Field(description="The date the results are measured up to")
    results: list[KpiActual] = Field(min_length=1, max_length=100)
    recorded_by: UserId | None = Field(default=None, description="Who reported them through the API")


# --- metrics -------------------------------------------------------------------------


class ReviewPeriod(StrEnum):
    """A review pack's period, in UTC: the ISO week (Monday to Sunday) or the calendar month."""

    week = "week"
    month = "month"


class ReviewFigure(Contract):
    """One headline number of a review pack beside the previous period's (none: not defined,
    e.g. a rate over no launches)."""

    metric: str = Field(min_length=1, max_length=100, examples=["launches", "on_time_rate", "spend_EUR"])
    current: Decimal | None = Field(default=None, allow_inf_nan=False)
    previous: Decimal | None = Field(default=None, allow_inf_nan=False)


class ReviewSections(Contract):
    """How many items each list of the review pack holds."""

    gates_overdue: int = Field(ge=0)
    sla_breaches: int = Field(ge=0)
    launches: int = Field(ge=0)
    late_launches: int = Field(ge=0)
    off_pace: int = Field(ge=0)
    blocking_risks: int = Field(ge=0)
    completed_without_results: int = Field(ge=0)
    completed_without_retrospective: int = Field(ge=0)
    rejections: int = Field(ge=0)


class ReviewPackPublished(Contract):
    """metrics published the review pack of a period that has ended (weekly: the ISO week before).

    Published once per period whatever the number of metrics replicas; ``pack_id``
    (``week-2026-03-02``: period and first day) is the record key. The figures are over every
    campaign; the whole pack is ``GET`` ``path`` on the metrics API, for callers whose
    role reads every campaign.
    """

    pack_id: Identifier = Field(examples=["week-2026-03-02"])
    period: ReviewPeriod
    start: IsoDate = Field(description="The period's first day (UTC)")
    end: IsoDate = Field(description="The period's last day (UTC)")
    as_of: AwareDatetime = Field(description="When the pack was computed")
    path: str = Field(min_length=1, max_length=500, examples=["/reviews?period=week&start=2026-03-02"],
                      description="The metrics API request giving the whole pack")
    headline: list[ReviewFigure] = Field(default_factory=list, max_length=100)
    sections: ReviewSections

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return as_utc(value)


# --- governance ----------------------------------------------------------------------


class _GateDecision(Contract):
    campaign_id: Identifier
    brief_version: int = Field(ge=1, description="The brief version this decision belongs to")
    policy_version: int = Field(ge=1)
    gate_id: Identifier
    gate_name: str = Field(min_length=1)
    gate_kind: GateKind
    gate_position: int = Field(ge=1, description="1-based position among the gates that apply")
    is_last_gate: bool
    actionable_at: AwareDatetime = Field(description="When this gate became actionable for this version")
    sla_hours: int = Field(ge=1)
    decided_by: UserId
    amount: Money | None = Field(default=None, description="Requested amount the decision covers")
    change_id: Identifier | None = Field(
        default=None, description="The change request this decision belongs to; absent for a submitted version")

    @field_validator("actionable_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return as_utc(value)


class GateApproved(_GateDecision):
    approvers: list[UserId] = Field(default_factory=list, description="Everyone who approved")


class GateRejected(_GateDecision):
    kind: RejectionKind
    reason: str = Field(min_length=1)


class MetricCatalogueChanged(Contract):
    """ops_admin published a new version of the metric catalogue (the KPI definitions briefs pick from).

    Every version carries the whole catalogue; the highest ``version`` is the one in force.
    """

    catalogue_id: Identifier = Field(default="metric-catalogue",
                                     description="There is one catalogue; its id is the record key")
    version: int = Field(ge=1)
    definitions: list[KpiDefinition] = Field(default_factory=list)
    published_by: UserId



class _GateDeadline(Contract):
    campaign_id: Identifier
    brief_version: int = Field(ge=1, description="The brief version whose gate it is")
    policy_version: int = Field(ge=1)
    gate_id: Identifier
    gate_name: str = Field(min_length=1)
    gate_kind: GateKind
    gate_position: int = Field(ge=1, description="1-based position among the gates that apply")
    actionable_at: AwareDatetime = Field(description="When this gate became actionable for this version")
    sla_hours: int = Field(ge=1)
    due_at: AwareDatetime = Field(description="actionable_at + sla_hours: when the SLA ran out")
    change_id: Identifier | None = Field(
        default=None, description="The change request whose gate it is (``brief_version`` is its proposed "
                                  "version); absent for a submitted version's gate")

    @field_validator("actionable_at", "due_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return as_utc(value)


class SlaBreached(_GateDeadline):
    """A gate was still undecided when its SLA ran out; once per gate and brief version.

    A change request's gates count too, a running campaign's included (``change_id`` set).

    The envelope ``time`` is ``due_at`` (when the breach happened), whenever governance
    noticed it. A decision made later still counts as an SLA breach in metrics (SPEC section 4).
    """


class GateEscalated(_GateDeadline):
    """An overdue gate was escalated: from ``due_at`` on, holders of ``escalation_role`` may decide it too.

    Published once per gate and brief version, with ``SlaBreached``; the envelope ``time`` is ``due_at``.
    """

    escalation_role: str = Field(min_length=1, examples=["ops_admin"],
                                 description="The role that may now decide the gate, beside its deciders")

class RiskChanged(Contract):
    """A risk of a campaign was raised, edited or accepted; the risk as it is now.

    Of several changes of one risk the latest envelope ``time`` is current (ties: the
    highest ``revision``). ``blocks_launch`` is judged by the blocking score of the policy
    governing the campaign when the risk changed.
    """

    campaign_id: Identifier
    risk_id: Identifier
    revision: int = Field(ge=1, description="Counts the changes of one risk")
    description: str = Field(min_length=1)
    owner: UserId
    probability: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    score: int = Field(ge=1, le=25)
    status: RiskStatus
    blocks_launch: bool
    blocking_score: int = Field(ge=1)
    changed_by: UserId


class CampaignLaunched(Contract):
    campaign_id: Identifier
    brief_version: int = Field(ge=1)
    launched_by: UserId
    readiness: ReadinessSnapshot


class ChangeDecided(Contract):
    """A change request was decided: every gate the policy named for it approved, or one rejected it.

    Approved, ``brief_version`` is the campaign's current brief from then on (status,
    history and cycle time unchanged); rejected, the campaign stays on the version before.
    """

    campaign_id: Identifier
    change_id: Identifier
    brief_version: int = Field(ge=1, description="The proposed brief version of the change")
    outcome: ChangeOutcome
    decided_by: UserId = Field(description="Who made the last decision (governance itself when no gate applied)")
    reason: str | None = None
    gates: list[Identifier] = Field(default_factory=list, description="The gates the change had to pass")
    policy_version: int = Field(ge=1)


# --- budget --------------------------------------------------------------------------


class BudgetReserved(Contract):
    campaign_id: Identifier
    brief_version: int = Field(ge=1)
    budget_line_id: Identifier
    amount: Money


class BudgetReservationRejected(Contract):
    campaign_id: Identifier
    brief_version: int = Field(ge=1)
    budget_line_id: Identifier
    requested: Money
    reason_code: ReservationRejectionReason
    reason: str = Field(min_length=1)


class BudgetCommitted(Contract):
    campaign_id: Identifier
    brief_version: int = Field(ge=1)
    budget_line_id: Identifier
    amount: Money


class BudgetReleased(Contract):
    campaign_id: Identifier
    budget_line_id: Identifier
    amount: Money
    reason: ReleaseReason
    brief_version: int | None = Field(
        default=None, ge=1,
        description="The brief version whose reservation or commitment was released (absent in older events)")


class SpendRecorded(Contract):
    """Money actually spent, from the budget API or straight from another system.

    ``(source_system, source_reference)`` identifies the business fact: the same pair
    counts once whatever the event id. Refunds and corrections are negative amounts that
    name the original in ``corrects_reference``.
    """

    campaign_id: Identifier
    source_system: Identifier = Field(examples=["google-ads"])
    source_reference: Identifier = Field(examples=["invoice-2026-0042"])
    amount: Money
    incurred_on: IsoDate
    budget_line_id: Identifier | None = None
    corrects_reference: Identifier | None = None
    description: str | None = None


class SpendReconciliationChanged(Contract):
    """Whether budget could book a recorded spend against a budget line changed.

    A spend budget cannot book (its campaign or line is unknown, or the line is in another
    currency) is unreconciled until its line becomes known or finance resolves it. Each
    change of one spend ``(source_system, source_reference)`` carries a higher
    ``revision``: the highest revision is the spend's current state, whatever the order of
    arrival. A spend with no such event was booked as soon as it was recorded.
    """

    campaign_id: Identifier
    source_system: Identifier
    source_reference: Identifier
    amount: Money
    revision: int = Field(ge=1, description="Orders the changes of one spend; the highest is current")
    status: ReconciliationStatus
    reason_code: UnreconciledReason | None = Field(default=None, description="Why it is unreconciled")
    reason: str | None = None
    resolution: ReconciliationResolution | None = Field(default=None, description="How it was reconciled")
    budget_line_id: Identifier | None = Field(default=None, description="The line it counts against, if any")
    resolved_by: UserId | None = Field(default=None, description="Finance user who resolved it")
    note: str | None = Field(default=None, description="Finance's reason for the resolution")


class BudgetReallocated(Contract):
    from_line_id: Identifier
    to_line_id: Identifier
    amount: Money
    reason: str = Field(min_length=1)
    reallocated_by: UserId


class BudgetThresholdExceeded(Contract):
    campaign_id: Identifier
    budget_line_id: Identifier
    threshold_percent: int = Field(ge=1)
    committed: Money
    spent: Money


class BudgetLineRunOutForecast(Contract):
    """The day a budget line is forecast to run out moved inside the horizon, moved again, or left it.

    The forecast (budget README, "Run-out forecast"): every campaign holding a commitment on the line
    keeps spending at its observed daily pace (its spend on the line over the elapsed days of its flight;
    before any spend, its commitment spread over the flight) on each remaining day of its flight;
    ``run_out_on`` is the first day the line's cumulative forecast spend reaches its amount. Each line's
    announcements carry a rising ``revision``: the highest is current, whatever the arrival order.
    """

    budget_line_id: Identifier
    revision: int = Field(ge=1, description="Orders the announcements of one line; the highest is current")
    as_of: IsoDate = Field(description="The day the forecast was made on (UTC)")
    run_out_on: IsoDate | None = Field(
        default=None, description="First day the cumulative forecast spend reaches the line's amount; absent when "
                                  "the forecast never reaches it")
    within_horizon: bool = Field(description="Whether run_out_on is at most horizon_days after as_of")
    horizon_days: int = Field(ge=1)
    previous_run_out_on: IsoDate | None = Field(
        default=None, description="The run-out day of the previous announcement of this line, if any")
    amount: Money = Field(description="The line's amount")
    committed: Money = Field(description="What campaigns have committed on the line")
    spent: Money = Field(description="What has been spent on the line so far")
    forecast_spend: Money = Field(description="Spent plus the forecast spend up to the end of the last flight")
