"""The brief as a requester writes it.

Every field is optional so a half-written draft can be saved; JSON types, enums and sizes
are enforced on every save (a date must be a date, a channel one of the fixed set), while
presence and business rules are left to the completeness check, which blocks submission.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_serializer

from marops_events import contracts as c
from marops_events.contracts import Channel, InputAmount, IsoDate
from marops_events.money import format_amount

__all__ = ["Brief", "BudgetRequestDraft", "Channel", "KpiDraft", "MoneyDraft", "RaciDraft", "TrackingPlanDraft",
           "to_submission"]


def storable(text: str) -> str:
    """Refuse text PostgreSQL cannot store (NUL, lone surrogates) as a validation error, not a 500."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(storable)]
ShortText = Annotated[Text, Field(max_length=200)]
LongText = Annotated[Text, Field(max_length=5000)]
UserRef = Annotated[Text, Field(max_length=200)]
# A KPI figure: a JSON number (clients have always sent 18.75) or a plain decimal string,
# bounded so that no input can overflow a consumer's numeric column or blow up arithmetic.
NUMBER_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,6})?$"
_NUMBER = re.compile(NUMBER_PATTERN)


def _plain_number(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number or a decimal string, not a boolean")
    if isinstance(value, str) and not _NUMBER.match(value):
        raise ValueError("a decimal string has ASCII digits, an optional leading - and at most 18 digits before "
                         "and 6 after the point (no exponent, no spaces)")
    if isinstance(value, float) and math.isfinite(value):
        # Kept in plain notation: a large float (4.9e16) would otherwise be stored as
        # Decimal("4.9E+16"), whose written form the string rule above refuses on the next read.
        return Decimal(format(Decimal(repr(value)), "f"))
    return value


Number = Annotated[
    Decimal, Field(max_digits=24, decimal_places=6, allow_inf_nan=False), BeforeValidator(_plain_number),
    # A JSON number with more than 6 decimal places is refused too; JSON Schema cannot say
    # that of a binary float (multipleOf 0.000001 fails on 0.3), so the text says it.
    WithJsonSchema({"anyOf": [
        {"type": "number", "exclusiveMinimum": -1e18, "exclusiveMaximum": 1e18,
         "description": "at most 6 decimal places"},
        {"type": "string", "pattern": NUMBER_PATTERN},
    ], "examples": ["1200"]}),
]
EFFORT_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,2})?$"
_EFFORT = re.compile(EFFORT_PATTERN)


def _plain_effort(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number or a decimal string, not a boolean")
    if isinstance(value, str) and not _EFFORT.match(value):
        raise ValueError("an effort is a non-negative decimal string with at most 9 digits before and 2 after "
                         "the point")
    return value


# An effort estimate in the team's capacity unit (hours or points): small, never negative.
Effort = Annotated[
    Decimal, Field(ge=0, max_digits=11, decimal_places=2, allow_inf_nan=False), BeforeValidator(_plain_effort),
    WithJsonSchema({"anyOf": [
        {"type": "number", "minimum": 0, "exclusiveMaximum": 1e9, "description": "at most 2 decimal places"},
        {"type": "string", "pattern": EFFORT_PATTERN},
    ], "examples": ["120"]}),
]
MoneyAmount = InputAmount  # bounded like every client amount: below 10^15, at most 4 places


class _Part(BaseModel):
    # Unknown keys are refused rather than dropped: a typo ("chanels") must not vanish silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class KpiDraft(_Part):
    metric: ShortText | None = Field(default=None, examples=["qualified_leads"])
    target: Number | None = Field(default=None, description="Numeric target", examples=["1200"])
    unit: ShortText | None = Field(default=None, examples=["leads"])
    timeframe: ShortText | None = Field(default=None, examples=["90 days after launch"])
    baseline: Number | None = Field(default=None, description="The value before the campaign", examples=["800"])
    direction: c.KpiDirection | None = Field(
        default=None, description="Which way is better (default increase); a catalogue KPI takes the catalogue's")


class TrackingPlanDraft(_Part):
    campaign_code: ShortText | None = Field(default=None, description="Campaign code / UTM campaign value")
    utm_convention: ShortText | None = None
    conversion_events: list[ShortText] | None = Field(default=None, max_length=50,
                                                      description="Conversion events or pixels")
    reporting_destination: ShortText | None = Field(default=None, description="Where results are reported")


class MoneyDraft(_Part):
    amount: MoneyAmount | None = Field(default=None, description="Decimal string, e.g. \"25000.00\"")
    # Free text in a draft (like every field): the completeness check names a currency
    # outside ISO 4217, and a brief with one cannot be submitted.
    currency: Annotated[Text, Field(max_length=10)] | None = Field(default=None, examples=["EUR"])

    @field_serializer("amount")
    def _canonical(self, amount: Decimal | None) -> str | None:
        return None if amount is None else format_amount(amount, self.currency or "")


class BudgetRequestDraft(_Part):
    amount: MoneyDraft | None = None
    budget_line_id: ShortText | None = None


class RaciDraft(_Part):
    responsible: list[UserRef] | None = Field(default=None, max_length=50)
    accountable: UserRef | None = None
    consulted: list[UserRef] | None = Field(default=None, max_length=50)
    informed: list[UserRef] | None = Field(default=None, max_length=50)


class Brief(_Part):
    """A campaign brief; drafts may leave anything out, submitted versions are complete."""

    title: ShortText | None = None
    team: ShortText | None = Field(default=None, description="Owning team; a requester's own team")
    owner: UserRef | None = Field(default=None, description="Accountable user who owns the outcome")
    objective: LongText | None = None
    target_audience: LongText | None = None
    channels: list[Channel] | None = Field(default=None, max_length=len(Channel))
    target_launch_date: IsoDate | None = None
    flight_start: IsoDate | None = None
    flight_end: IsoDate | None = None
    kpis: list[KpiDraft] | None = Field(default=None, max_length=20)
    tracking_plan: TrackingPlanDraft | None = None
    budget_request: BudgetRequestDraft | None = None
    raci: RaciDraft | None = None
    links: list[Annotated[Text, Field(max_length=2000)]] | None = Field(default=None, max_length=20)
    notes: Annotated[Text, Field(max_length=10000)] | None = None
    effort: Effort | None = Field(default=None, description="Estimated production effort in the team's capacity "
                                                            "unit (hours or points); optional")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def with_defaults(self) -> Brief:
        """What is submitted: the owner is the RACI accountable unless the brief says otherwise."""
        if self.owner and (self.raci is None or self.raci.accountable is None):
            raci = (self.raci or RaciDraft()).model_copy(update={"accountable": self.owner})
            return self.model_copy(update={"raci": raci})
        return self


@dataclass(frozen=True)
class Catalogue:
    """The metric catalogue as governance last published it."""

    version: int
    definitions: dict[str, c.KpiDefinition]

    def find(self, metric: str | None) -> c.KpiDefinition | None:
        return self.definitions.get((metric or "").strip())


def to_kpi(k: KpiDraft, catalogue: Catalogue | None) -> c.Kpi:
    """A draft KPI as published: one naming a catalogue key carries its definition's unit,
    direction and kind (so no consumer needs the catalogue); a free-text one has no kind."""
    definition = catalogue.find(k.metric) if catalogue else None
    if definition is None:
        return c.Kpi(metric=_clean(k.metric), target=k.target, unit=_clean(k.unit), timeframe=_clean(k.timeframe),
                     baseline=k.baseline, direction=k.direction)
    assert catalogue is not None
    return c.Kpi(metric=definition.key, target=k.target, unit=definition.unit, timeframe=_clean(k.timeframe),
                 baseline=k.baseline, direction=definition.direction, kind=definition.kind,
                 catalogue_version=catalogue.version)


def to_submission(brief: Brief, *, campaign_id: str, version: int, requester: str,
                  authors: list[str] | None = None, catalogue: Catalogue | None = None) -> c.BriefSubmitted:
    """The published snapshot of a complete brief (the completeness check must have passed)."""
    b = brief.with_defaults()
    assert b.budget_request and b.budget_request.amount and b.tracking_plan and b.raci
    return c.BriefSubmitted(
        campaign_id=campaign_id,
        version=version,
        title=_clean(b.title),
        team=_clean(b.team),
        owner=_clean(b.owner),
        requester=requester,
        authors=authors or [requester],
        objective=_clean(b.objective),
        target_audience=_clean(b.target_audience),
        channels=list(b.channels or []),
        target_launch_date=b.target_launch_date,
        flight_start=b.flight_start,
        flight_end=b.flight_end,
        kpis=[to_kpi(k, catalogue) for k in b.kpis or []],
        tracking_plan=c.TrackingPlan(
            campaign_code=_clean(b.tracking_plan.campaign_code),
            utm_convention=b.tracking_plan.utm_convention,
            conversion_events=[_clean(e) for e in b.tracking_plan.conversion_events or []],
            reporting_destination=b.tracking_plan.reporting_destination,
        ),
        budget_request=c.BudgetRequest(
            amount=c.Money(amount=b.budget_request.amount.amount, currency=b.budget_request.amount.currency),
            budget_line_id=_clean(b.budget_request.budget_line_id),
        ),
        raci=c.Raci(
            responsible=[_clean(u) for u in b.raci.responsible or []],
            accountable=_clean(b.raci.accountable),
            consulted=[_clean(u) for u in b.raci.consulted or []],
            informed=[_clean(u) for u in b.raci.informed or []],
        ),
        effort=b.effort,
    )


def _clean(value: str | None) -> str:
    return (value or "").strip()
