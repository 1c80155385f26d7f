"""Policy as data: the ordered gates a campaign passes, who may decide them, and their SLAs.

A policy document is validated here and stored as a new immutable version; each brief
version is governed by the policy version in force when it was submitted, so editing the
policy never changes the rules of a review already under way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from marops_events.contracts import Channel, GateKind, JsonInt, Money, MoneyInput, NonNegativeMoneyInput, UserId
from marops_service.auth import Role

_M = TypeVar("_M", bound=Money)

# Large enough for any real budget, small enough that PostgreSQL numeric and JSON stay sane.
MAX_AMOUNT = Decimal("1e15")

GateId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["brief_review"])]


def check_amount(money: _M, *, max_places: int | None = 4) -> _M:
    if money.amount < 0 or money.amount >= MAX_AMOUNT:
        raise ValueError(f"amount must be between 0 and {MAX_AMOUNT:,.0f}")
    if max_places is not None and money.amount.as_tuple().exponent < -max_places:  # type: ignore[operator]
        raise ValueError(f"amount has more than {max_places} decimal places")
    return money


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Always(_Strict):
    type: Literal["always"] = "always"


class AmountAtLeast(_Strict):
    """Applies when the requested amount is at or above the threshold.

    A request in another currency than the threshold's cannot be compared without an
    exchange rate, so the gate applies: a control is never skipped by changing currency.
    """

    type: Literal["amount_at_least"] = "amount_at_least"
    threshold: NonNegativeMoneyInput

    @field_validator("threshold")
    @classmethod
    def _bounded(cls, value: MoneyInput) -> MoneyInput:
        return check_amount(value)


class ChannelIn(_Strict):
    """Applies when the campaign runs on at least one of the channels."""

    type: Literal["channel_in"] = "channel_in"
    channels: list[Channel] = Field(min_length=1)


GateCondition = Annotated[Always | AmountAtLeast | ChannelIn, Field(discriminator="type")]


class DecisionRight(_Strict):
    """Who may decide a gate: one role or one named user, optionally up to an amount.

    ``amount_limit`` caps the requested amount this decider may approve; a request in a
    different currency is not covered by it. List the same role once per currency to
    grant limits in several currencies.
    """

    # The schema says what the validator below enforces: exactly one of role and user.
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["role"], "properties": {"role": {"not": {"type": "null"}}, "user": {"type": "null"}}},
        {"required": ["user"], "properties": {"user": {"not": {"type": "null"}}, "role": {"type": "null"}}},
    ]})

    role: Role | None = None
    user: UserId | None = None
    amount_limit: NonNegativeMoneyInput | None = None

    @field_validator("amount_limit")
    @classmethod
    def _bounded(cls, value: MoneyInput | None) -> MoneyInput | None:
        return None if value is None else check_amount(value)

    @model_validator(mode="after")
    def _exactly_one_holder(self) -> DecisionRight:
        if (self.role is None) == (self.user is None):
            raise ValueError("a decision right names exactly one of 'role' or 'user'")
        return self


class GateDefinition(_Strict):
    id: GateId
    name: str = Field(min_length=1, max_length=200)
    kind: GateKind = GateKind.review
    condition: GateCondition = Field(default_factory=Always)
    deciders: list[DecisionRight] = Field(min_length=1, max_length=50)
    approvals_required: JsonInt = Field(default=1, ge=1, le=10)
    sla_hours: JsonInt = Field(ge=1, le=24 * 365)
    escalation_role: Role = Role.ops_admin


ChangeKind = Literal["budget_increase", "budget_decrease", "channel_added", "channel_removed", "dates", "kpis"]


class ChangeRule(_Strict):
    """Which gates a change request of an approved or launched campaign must pass.

    A change that does ``when`` re-opens ``gates`` (those whose own condition applies to the
    proposed version), in policy order; a change matching no rule with a gate is approved
    at once. The decision rights, SLAs and four-eyes of those gates apply unchanged.
    """

    when: ChangeKind
    gates: list[GateId] = Field(default_factory=list, max_length=20)


DEFAULT_CHANGE_RULES = (
    ChangeRule(when="budget_increase", gates=["budget_approval"]),
    ChangeRule(when="budget_decrease", gates=[]),
    ChangeRule(when="channel_added", gates=["brand_legal_review"]),
    ChangeRule(when="channel_removed", gates=[]),
    ChangeRule(when="dates", gates=["brief_review"]),
    ChangeRule(when="kpis", gates=["brief_review"]),
)


class PolicyDocument(_Strict):
    """What ops_admin edits: the gates in order, the risk score that blocks launch and the
    gates a change in flight must pass."""

    blocking_risk_score: JsonInt = Field(default=15, ge=1, le=25,
                                     description="An open risk scoring at least this blocks launch")
    require_outcome_kpi: bool = Field(default=False, description="Launch needs at least one KPI of kind outcome "
                                                                 "(from the metric catalogue) with a target")
    gates: list[GateDefinition] = Field(min_length=1, max_length=20)
    change_rules: list[ChangeRule] | None = Field(
        default=None, max_length=20,
        description="Which gates a change request passes; absent (as in policies written before change rules "
                    "existed): the default rules, over the gates this policy has, with its budget gate for more money")

    @model_validator(mode="after")
    def _coherent(self) -> PolicyDocument:
        ids = [g.id for g in self.gates]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"gate ids must be unique; repeated: {', '.join(duplicates)}")
        budget = [g for g in self.gates if g.kind is GateKind.budget]
        # Launch needs BudgetCommitted and budget commits on the budget gate's approval:
        # without exactly one budget gate that always applies, some campaign could never launch
        # (or commit twice).
        if len(budget) != 1:
            raise ValueError("a policy has exactly one gate of kind 'budget'")
        if not isinstance(budget[0].condition, Always):
            raise ValueError("the budget gate must apply always (condition type 'always')")
        if self.change_rules is not None:
            unknown = sorted({g for r in self.change_rules for g in r.gates} - set(ids))
            if unknown:
                raise ValueError(f"change rules name gates the policy does not have: {', '.join(unknown)}")
            # More money is never committed without the budget gate's decision rights.
            if not any(r.when == "budget_increase" and budget[0].id in r.gates for r in self.change_rules):
                raise ValueError(f"a change rule for 'budget_increase' must name the budget gate {budget[0].id!r}")
        return self

    def rules(self) -> list[ChangeRule]:
        """The change rules in force: the document's, or the defaults fitted to its gates."""
        if self.change_rules is not None:
            return self.change_rules
        ids = {g.id for g in self.gates}
        budget = next(g.id for g in self.gates if g.kind is GateKind.budget)
        return [ChangeRule(when=r.when, gates=[budget] if r.when == "budget_increase"
                           else [g for g in r.gates if g in ids]) for r in DEFAULT_CHANGE_RULES]

    def gate(self, gate_id: str) -> GateDefinition | None:
        return next((g for g in self.gates if g.id == gate_id), None)


# Roles whose holders may decide gates (SPEC section 5): viewers only read, requesters are
# the campaign's own side of four-eyes, and service accounts are systems, not people.
DECIDING_ROLES = frozenset({Role.approver, Role.finance, Role.ops_admin})


def undecidable(document: PolicyDocument) -> list[str]:
    """Why some gate of ``document`` could never be decided (empty when every gate can).

    Checked when ops_admin publishes a version, not when a stored one is read: a gate that
    nobody may decide would block every campaign it governs.
    """
    reasons = []
    for position, gate in enumerate(document.gates):
        where = f"gates[{position}] ({gate.id})"
        for right in gate.deciders:
            if right.role is not None and right.role not in DECIDING_ROLES:
                reasons.append(f"{where}: role {right.role.value!r} may not decide gates "
                               f"(deciding roles: {', '.join(sorted(r.value for r in DECIDING_ROLES))}, "
                               "or a named user)")
        if gate.escalation_role not in DECIDING_ROLES:
            reasons.append(f"{where}: escalation role {gate.escalation_role.value!r} may not decide gates")
        roles = [r for r in gate.deciders if r.role in DECIDING_ROLES]
        users = {r.user for r in gate.deciders if r.user is not None}
        if not roles and not users:
            reasons.append(f"{where}: no role or user may decide this gate")
        elif not roles and len(users) < gate.approvals_required:
            reasons.append(f"{where}: needs {gate.approvals_required} approvals but only {len(users)} "
                           f"named user{'s' if len(users) != 1 else ''} may decide it")
    return reasons


def _limits(role: Role, amount: str) -> list[DecisionRight]:
    return [DecisionRight(role=role, amount_limit=NonNegativeMoneyInput(amount=Decimal(amount), currency=cur))
            for cur in ("EUR", "USD", "GBP")]


PUBLIC_FACING_CHANNELS = [Channel.paid_social, Channel.organic_social, Channel.display, Channel.video,
                          Channel.out_of_home, Channel.print, Channel.pr]

DEFAULT_POLICY = PolicyDocument(
    blocking_risk_score=15,
    change_rules=list(DEFAULT_CHANGE_RULES),
    gates=[
        GateDefinition(id="brief_review", name="Brief review", kind=GateKind.review,
                       deciders=[DecisionRight(role=Role.approver)], sla_hours=48),
        GateDefinition(id="budget_approval", name="Budget approval", kind=GateKind.budget,
                       deciders=[*_limits(Role.finance, "100000"), DecisionRight(role=Role.ops_admin)],
                       sla_hours=72),
        GateDefinition(id="brand_legal_review", name="Brand and legal review", kind=GateKind.review,
                       condition=ChannelIn(channels=PUBLIC_FACING_CHANNELS),
                       deciders=[DecisionRight(role=Role.approver)], sla_hours=72),
        GateDefinition(id="launch_readiness", name="Launch readiness", kind=GateKind.review,
                       deciders=[DecisionRight(role=Role.approver)], sla_hours=24),
    ],
)
