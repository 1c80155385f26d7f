"""Stage gates: which gates a brief version passes, where it stands, who may decide, readiness.

Everything here is a pure function of stored facts (brief versions, decisions, budget
facts, cancellation, launch, risks). State is derived, never stored, so it is the same
whatever order the events that carried those facts arrived in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from marops_events import contracts as c
from marops_service.access import CampaignParties
from marops_service.auth import Principal
from marops_service.refusals import Refusal

from .policy import AmountAtLeast, ChannelIn, GateDefinition, PolicyDocument


class RefusalCode(StrEnum):
    unknown_gate = "unknown-gate"
    gate_not_applicable = "gate-not-applicable"
    campaign_cancelled = "campaign-cancelled"
    campaign_launched = "campaign-launched"
    stale_brief_version = "stale-brief-version"
    version_rejected = "brief-version-rejected"
    not_current_gate = "not-current-gate"
    four_eyes = "four-eyes"
    no_decision_right = "no-decision-right"
    amount_limit_exceeded = "amount-limit-exceeded"
    budget_not_reserved = "budget-not-reserved"
    already_approved = "already-approved"
    launch_forbidden = "launch-forbidden"
    not_ready = "not-ready"
    risk_status = "risk-status"
    team_forbidden = "team-forbidden"
    reason_required = "reason-required"
    invalid_cursor = "invalid-cursor"


__all__ = ["Refusal", "RefusalCode"]  # raised as Refusal(RefusalCode.x, detail, **extra)


# --- facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefVersion:
    campaign_id: str
    version: int
    submitted_at: dt.datetime
    requester: str
    owner: str
    team: str
    title: str
    channels: tuple[c.Channel, ...]
    amount: c.Money
    budget_line_id: str
    kpis: tuple[c.Kpi, ...]
    tracking_plan: c.TrackingPlan | None
    raci: c.Raci
    target_launch_date: dt.date
    policy_version: int
    event_id: uuid.UUID
    correlation_id: str
    # who wrote the brief up to this version (BriefSubmitted.authors; the requester for
    # events published before the field existed)
    authors: tuple[str, ...] = ()
    change: ChangeInfo | None = None  # set on the proposed version of a change request


@dataclass(frozen=True)
class ChangeInfo:
    """What makes a brief version a change request's proposal (ChangeRequested)."""

    change_id: str
    base_version: int
    changes: tuple[str, ...]  # ChangeField values
    reason: str
    gates: tuple[str, ...]  # the gates the policy's change rules named, fixed when it was requested


@dataclass(frozen=True)
class ChangeOutcome:
    change_id: str
    brief_version: int
    outcome: c.ChangeOutcome
    decided_by: str
    decided_at: dt.datetime
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    campaign_id: str
    brief_version: int
    gate_id: str
    policy_version: int
    approve: bool
    decided_by: str
    decided_at: dt.datetime
    kind: c.RejectionKind | None = None
    reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


class BudgetFactKind(StrEnum):
    reserved = "reserved"
    reservation_rejected = "reservation_rejected"
    committed = "committed"


@dataclass(frozen=True)
class BudgetFact:
    brief_version: int
    kind: BudgetFactKind
    budget_line_id: str
    amount: c.Money
    occurred_at: dt.datetime
    reason_code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class BudgetRelease:
    amount: c.Money
    reason: str
    released_at: dt.datetime


@dataclass(frozen=True)
class Cancellation:
    cancelled_at: dt.datetime
    cancelled_by: str
    reason: str | None = None


@dataclass(frozen=True)
class Launch:
    brief_version: int
    launched_by: str
    launched_at: dt.datetime
    readiness: c.ReadinessSnapshot


# --- gates -----------------------------------------------------------------------------


def gate_applies(gate: GateDefinition, brief: BriefVersion) -> bool:
    condition = gate.condition
    if isinstance(condition, AmountAtLeast):
        if condition.threshold.currency != brief.amount.currency:
            return True  # not comparable without a rate: keep the control (see AmountAtLeast)
        return brief.amount.amount >= condition.threshold.amount
    if isinstance(condition, ChannelIn):
        return bool(set(condition.channels) & set(brief.channels))
    return True


def applicable_gates(policy: PolicyDocument, brief: BriefVersion) -> list[GateDefinition]:
    """The gates a version passes: every gate whose condition applies, or, for a change
    request's proposal, those its change rules named (fixed when it was requested)."""
    if brief.change is not None:
        return [g for g in policy.gates if g.id in brief.change.gates]
    return [g for g in policy.gates if gate_applies(g, brief)]


def change_kinds(changes: Sequence[str], base_amount: c.Money | None, amount: c.Money,
                 base_channels: Sequence[c.Channel] | None, channels: Sequence[c.Channel]) -> set[str]:
    """What a change does, in the terms of the policy's change rules. An amount in another
    currency than before cannot be compared: it counts as an increase (the control stays)."""
    kinds: set[str] = set()
    if "budget" in changes:
        if base_amount is None or base_amount.currency != amount.currency or amount.amount > base_amount.amount:
            kinds.add("budget_increase")
        elif amount.amount < base_amount.amount:
            kinds.add("budget_decrease")
    if "channels" in changes:
        before = set(base_channels) if base_channels is not None else set()
        if base_channels is None or set(channels) - before:
            kinds.add("channel_added")
        if base_channels is not None and before - set(channels):
            kinds.add("channel_removed")
    kinds.update(k for k in ("dates", "kpis") if k in changes)
    return kinds


def change_gates(policy: PolicyDocument, proposed: BriefVersion, kinds: set[str]) -> tuple[str, ...]:
    """The gates a change passes: those its rules name whose own condition applies to the
    proposed version, in policy order."""
    named = {g for rule in policy.rules() if rule.when in kinds for g in rule.gates}
    return tuple(g.id for g in policy.gates if g.id in named and gate_applies(g, proposed))


class GateStatus(StrEnum):
    open = "open"          # actionable now: every earlier gate is approved
    waiting = "waiting"    # an earlier gate is not approved yet
    approved = "approved"
    rejected = "rejected"
    closed = "closed"      # the campaign was cancelled before this gate was approved


@dataclass(frozen=True)
class GateState:
    definition: GateDefinition
    position: int
    is_last: bool
    status: GateStatus
    actionable_at: dt.datetime | None
    approvals: tuple[Decision, ...] = ()
    approved_at: dt.datetime | None = None
    rejection: Decision | None = None

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def due_at(self) -> dt.datetime | None:
        if self.actionable_at is None:
            return None
        return self.actionable_at + dt.timedelta(hours=self.definition.sla_hours)

    @property
    def approvers(self) -> list[str]:
        return [d.decided_by for d in self.approvals]

    def overdue(self, now: dt.datetime) -> bool:
        return self.status is GateStatus.open and self.due_at is not None and now > self.due_at


def derive_gates(policy: PolicyDocument, brief: BriefVersion, decisions: Iterable[Decision],
                 cancelled: bool) -> tuple[GateState, ...]:
    """The gates of one brief version, walked in policy order (SPEC section 4).

    The first gate becomes actionable when the version was submitted, each later one when
    the previous gate reached its required approvals. A rejection stops the walk: the
    version is dead until a new one is submitted.
    """
    own = sorted((d for d in decisions if d.brief_version == brief.version),
                 key=lambda d: (d.decided_at, str(d.id)))
    gates = applicable_gates(policy, brief)
    states: list[GateState] = []
    actionable_at: dt.datetime | None = brief.submitted_at
    for position, gate in enumerate(gates, start=1):
        is_last = position == len(gates)
        if actionable_at is None:
            states.append(GateState(gate, position, is_last,
                                    GateStatus.closed if cancelled else GateStatus.waiting, None))
            continue
        approvals = tuple(d for d in own if d.gate_id == gate.id and d.approve)
        rejection = next((d for d in own if d.gate_id == gate.id and not d.approve), None)
        if len(approvals) >= gate.approvals_required:
            counted = approvals[: gate.approvals_required]
            approved_at = counted[-1].decided_at
            states.append(GateState(gate, position, is_last, GateStatus.approved, actionable_at, counted,
                                    approved_at=approved_at))
            actionable_at = approved_at
            continue
        if rejection is not None:
            status = GateStatus.rejected
        else:
            status = GateStatus.closed if cancelled else GateStatus.open
        states.append(GateState(gate, position, is_last, status, actionable_at, approvals, rejection=rejection))
        actionable_at = None
    return tuple(states)


# --- the campaign as governance sees it ------------------------------------------------


class CampaignStatus(StrEnum):
    in_review = "in_review"
    changes_requested = "changes_requested"
    rejected = "rejected"
    approved = "approved"
    launched = "launched"
    cancelled = "cancelled"


@dataclass(frozen=True)
class Reservation:
    """Budget's answer to the reservation of one brief version."""

    status: Literal["reserved", "rejected", "pending"]
    amount: c.Money | None = None
    budget_line_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Campaign:
    versions: tuple[BriefVersion, ...]   # ascending; the last one is current
    policy_version: int
    policy: PolicyDocument               # governs the current version
    gates: tuple[GateState, ...]         # of the current version
    decisions: tuple[Decision, ...] = ()  # of every version
    budget_facts: tuple[BudgetFact, ...] = ()
    releases: tuple[BudgetRelease, ...] = ()
    cancellation: Cancellation | None = None
    launch: Launch | None = None
    # change in flight: the proposal being decided (with its gates), every change's
    # outcome, and whether a pause is in force
    pending_change: BriefVersion | None = None
    change_gates: tuple[GateState, ...] = ()
    changes: tuple[BriefVersion, ...] = ()  # every change request's proposal
    outcomes: tuple[ChangeOutcome, ...] = ()
    paused: bool = False
    policies: dict[int, PolicyDocument] = field(default_factory=dict)  # of every version

    @property
    def brief(self) -> BriefVersion:
        return self.versions[-1]

    @property
    def everyone(self) -> tuple[BriefVersion, ...]:
        """Every version, proposals of changes included (their requesters are parties too)."""
        return (*self.versions, *(v for v in self.changes if v not in self.versions))

    def change_view(self) -> Campaign:
        """The pending change as the campaign its gates are decided on: its proposal current,
        its gates the gates, not launched (a change of a running campaign is decided too)."""
        assert self.pending_change is not None
        version = self.pending_change.policy_version
        return replace(self, versions=(*self.versions, self.pending_change), gates=self.change_gates, launch=None,
                       policy_version=version, policy=self.policies.get(version, self.policy))

    @property
    def campaign_id(self) -> str:
        return self.brief.campaign_id

    @property
    def current_gate(self) -> GateState | None:
        return next((g for g in self.gates if g.status is GateStatus.open), None)

    @property
    def rejection(self) -> Decision | None:
        return next((g.rejection for g in self.gates if g.status is GateStatus.rejected), None)

    @property
    def all_gates_approved(self) -> bool:
        return all(g.status is GateStatus.approved for g in self.gates)

    @property
    def status(self) -> CampaignStatus:
        if self.cancellation is not None:
            return CampaignStatus.cancelled
        if self.launch is not None:
            return CampaignStatus.launched
        rejection = self.rejection
        if rejection is not None:
            return (CampaignStatus.changes_requested if rejection.kind is c.RejectionKind.changes_requested
                    else CampaignStatus.rejected)
        return CampaignStatus.approved if self.all_gates_approved else CampaignStatus.in_review

    def with_decision(self, decision: Decision, outcome: ChangeOutcome | None = None) -> Campaign:
        """This campaign once ``decision`` (and the change outcome it makes) is recorded: what
        reloading its facts would give."""
        rebuilt = build_campaign(self.everyone, self.policies, [*self.decisions, decision], self.budget_facts,
                                 self.releases, self.cancellation, self.launch,
                                 [*self.outcomes, *([outcome] if outcome else [])], self.paused)
        assert rebuilt is not None
        return rebuilt

    @property
    def parties(self) -> CampaignParties:
        """Who reads the campaign besides the read-everything roles: its team's requesters,
        its current owner and everyone who wrote any version."""
        return CampaignParties.of(self.brief.team, self.brief.owner,
                                  [who for v in self.everyone for who in (v.requester, *v.authors)])

    def is_party(self, actor: Principal) -> bool:
        """Owns or owned it, wrote or submitted any version: never a decider on it (four-eyes
        over gates, risk acceptance and relaxing a blocking risk). A colleague of the team who
        never touched the brief may decide, as a marketing lead approving their team's work."""
        return any(actor.subject in (v.requester, v.owner, *v.authors) for v in self.everyone)

    def reservation(self, version: int | None = None) -> Reservation:
        version = self.brief.version if version is None else version
        answers = sorted((f for f in self.budget_facts if f.brief_version == version
                          and f.kind in (BudgetFactKind.reserved, BudgetFactKind.reservation_rejected)),
                         key=lambda f: (f.occurred_at, f.kind == BudgetFactKind.reserved))
        if not answers:
            return Reservation("pending")
        last = answers[-1]
        return Reservation("reserved" if last.kind is BudgetFactKind.reserved else "rejected", last.amount,
                           last.budget_line_id, last.reason_code, last.reason, last.occurred_at)

    @property
    def commitment(self) -> BudgetFact | None:
        """BudgetCommitted for the current version, unless budget released it afterwards.
        A version from an approved change is committed as soon as budget commits it; until
        then the commitment of the version it changed stands (a release of the difference
        after a decrease is no release of the commitment)."""
        chain = [self.brief.version]
        i = len(self.versions) - 1
        while i > 0 and self.versions[i].change is not None:
            i -= 1
            chain.append(self.versions[i].version)
        for version in chain:
            commits = sorted((f for f in self.budget_facts
                              if f.kind is BudgetFactKind.committed and f.brief_version == version),
                             key=lambda f: f.occurred_at)
            if not commits:
                continue
            commit = commits[-1]
            if any(r.released_at >= commit.occurred_at and r.reason != c.ReleaseReason.changed.value
                   for r in self.releases):
                return None
            return commit
        return None


def decision_views(campaign: Campaign) -> list[Campaign]:
    """The campaign as each set of its open gates is decided on: its current version (while
    in review) and, last, the pending change's proposal (launched or not)."""
    if campaign.cancellation is not None:
        return []
    views = [] if campaign.launch is not None else [campaign]
    return views + ([campaign.change_view()] if campaign.pending_change is not None else [])


def build_campaign(versions: Sequence[BriefVersion], policies: dict[int, PolicyDocument],
                   decisions: Sequence[Decision] = (), budget_facts: Sequence[BudgetFact] = (),
                   releases: Sequence[BudgetRelease] = (), cancellation: Cancellation | None = None,
                   launch: Launch | None = None, outcomes: Sequence[ChangeOutcome] = (),
                   paused: bool = False) -> Campaign | None:
    """The campaign its facts describe; None while only change proposals are known (their
    campaign's BriefSubmitted has not arrived yet)."""
    decided = {o.change_id: o for o in outcomes}
    every = tuple(sorted(versions, key=lambda v: v.version))
    changes = tuple(v for v in every if v.change is not None)
    # The versions that describe the campaign: submissions and approved changes.
    ordered = tuple(v for v in every if v.change is None or (
        v.change.change_id in decided and decided[v.change.change_id].outcome is c.ChangeOutcome.approved))
    if not ordered:
        return None
    current = ordered[-1]
    pending = next((v for v in reversed(changes) if v.change is not None and v.change.change_id not in decided
                    and v.version > current.version), None)
    policy = policies[current.policy_version]
    cancelled = cancellation is not None
    return Campaign(
        versions=ordered, policy_version=current.policy_version, policy=policy,
        gates=derive_gates(policy, current, decisions, cancelled=cancelled),
        decisions=tuple(decisions), budget_facts=tuple(budget_facts), releases=tuple(releases),
        cancellation=cancellation, launch=launch, pending_change=pending,
        change_gates=derive_gates(policies[pending.policy_version], pending, decisions, cancelled=cancelled)
        if pending is not None else (),
        changes=changes, outcomes=tuple(outcomes), paused=paused, policies=dict(policies),
    )


# --- decisions -------------------------------------------------------------------------


Authority = Literal["decider", "escalation", "over_limit", "none"]


def authority(gate: GateState, actor: Principal, amount: c.Money, now: dt.datetime) -> Authority:
    """What right ``actor`` has on ``gate`` for a request of ``amount``.

    Holders of the escalation role may decide a gate past its SLA, without amount limit:
    escalation exists so that a stuck approval gets decided by someone with more authority.
    """
    matching = [r for r in gate.definition.deciders
                if (r.role is not None and r.role in actor.roles) or (r.user is not None and r.user == actor.subject)]
    if any(r.amount_limit is None or (r.amount_limit.currency == amount.currency
                                      and amount.amount <= r.amount_limit.amount) for r in matching):
        return "decider"
    if gate.overdue(now) and gate.definition.escalation_role in actor.roles:
        return "escalation"
    return "over_limit" if matching else "none"


@dataclass(frozen=True)
class DecisionRequest:
    gate_id: str
    brief_version: int
    approve: bool
    kind: c.RejectionKind | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DecisionOutcome:
    decision: Decision
    gate: GateState                                   # after the decision
    event: c.GateApproved | c.GateRejected | None     # None while more approvals are needed


def decide(campaign: Campaign, request: DecisionRequest, actor: Principal, now: dt.datetime) -> DecisionOutcome:
    """Check every rule for a gate decision; return the decision and the event it publishes.

    Raises ``Refusal`` without side effects when a rule forbids it.
    """
    brief = campaign.brief
    gate_def = campaign.policy.gate(request.gate_id)
    if gate_def is None:
        raise Refusal(RefusalCode.unknown_gate,
                      f"policy version {campaign.policy_version} has no gate {request.gate_id!r}",
                      gates=[g.id for g in campaign.gates])
    if campaign.is_party(actor):
        raise Refusal(RefusalCode.four_eyes,
                      f"{actor.subject} wrote, submitted or owns campaign {brief.campaign_id} "
                      "and cannot decide its gates")
    if campaign.cancellation is not None:
        raise Refusal(RefusalCode.campaign_cancelled, f"campaign {brief.campaign_id} was cancelled")
    if campaign.launch is not None:
        raise Refusal(RefusalCode.campaign_launched, f"campaign {brief.campaign_id} was already launched")
    if request.brief_version != brief.version:
        raise Refusal(RefusalCode.stale_brief_version,
                      f"the decision names brief version {request.brief_version}, "
                      f"but the current version is {brief.version}", current_brief_version=brief.version)
    gate = next((g for g in campaign.gates if g.id == request.gate_id), None)
    if gate is None:
        raise Refusal(RefusalCode.gate_not_applicable,
                      f"gate {request.gate_id!r} does not apply to brief version {brief.version}",
                      gates=[g.id for g in campaign.gates])
    rejection = campaign.rejection
    if rejection is not None:
        raise Refusal(RefusalCode.version_rejected,
                      f"brief version {brief.version} was rejected at gate {rejection.gate_id!r}; "
                      "its gates re-open when a new version is submitted")
    current = campaign.current_gate
    if gate.status is not GateStatus.open:
        raise Refusal(RefusalCode.not_current_gate,
                      f"gate {gate.id!r} is {gate.status.value}; the gate open for decision is "
                      f"{current.id if current else 'none'!r}", current_gate=current.id if current else None)
    right = authority(gate, actor, brief.amount, now)
    if right == "none":
        raise Refusal(RefusalCode.no_decision_right,
                      f"{actor.subject} has no decision right on gate {gate.id!r}",
                      deciders=[r.model_dump(mode="json", exclude_none=True) for r in gate.definition.deciders])
    if request.approve and right == "over_limit":
        raise Refusal(RefusalCode.amount_limit_exceeded,
                      f"{brief.amount.amount} {brief.amount.currency} exceeds the amount limit of "
                      f"{actor.subject} on gate {gate.id!r}",
                      requested=brief.amount.model_dump(mode="json"))
    if request.approve and gate.definition.kind is c.GateKind.budget:
        reservation = campaign.reservation()
        if reservation.status != "reserved":
            extra: dict[str, Any] = {"reservation": {"status": reservation.status}}
            detail = f"no BudgetReserved for brief version {brief.version} yet"
            if reservation.status == "rejected":
                extra["reservation"].update(reason_code=reservation.reason_code, reason=reservation.reason)
                detail = f"budget rejected the reservation of brief version {brief.version}: {reservation.reason}"
            raise Refusal(RefusalCode.budget_not_reserved, detail, **extra)
    # Also for a rejection: a decider has one decision per gate and version (an approval
    # needing more approvers is not withdrawn by its author turning it into a rejection).
    if actor.subject in gate.approvers:
        raise Refusal(RefusalCode.already_approved, f"{actor.subject} already approved gate {gate.id!r}")

    decision = Decision(
        campaign_id=brief.campaign_id, brief_version=brief.version, gate_id=gate.id,
        policy_version=campaign.policy_version, approve=request.approve, decided_by=actor.subject,
        decided_at=now, kind=None if request.approve else request.kind,
        reason=request.reason,
    )
    after = next(g for g in derive_gates(campaign.policy, brief, [*campaign.decisions, decision],
                                         cancelled=False) if g.id == gate.id)
    common: dict[str, Any] = dict(
        campaign_id=brief.campaign_id, brief_version=brief.version, policy_version=campaign.policy_version,
        gate_id=gate.id, gate_name=gate.definition.name, gate_kind=gate.definition.kind,
        gate_position=gate.position, is_last_gate=gate.is_last, actionable_at=gate.actionable_at,
        sla_hours=gate.definition.sla_hours, decided_by=actor.subject, amount=brief.amount,
    )
    event: c.GateApproved | c.GateRejected | None
    if not request.approve:
        if request.kind is None or not (request.reason or "").strip():
            raise ValueError("a rejection needs a kind and a reason")  # the API validates this first
        event = c.GateRejected(**common, kind=request.kind, reason=request.reason)
    elif after.status is GateStatus.approved:
        event = c.GateApproved(**common, approvers=after.approvers)
    else:
        event = None
    return DecisionOutcome(decision, after, event)


@dataclass(frozen=True)
class ChangeVerdict:
    """A change request's end, and the event that announces it."""

    outcome: ChangeOutcome
    event: c.ChangeDecided


def change_verdict(campaign_id: str, proposal: BriefVersion, outcome: ChangeOutcome) -> ChangeVerdict:
    assert proposal.change is not None
    return ChangeVerdict(outcome, c.ChangeDecided(
        campaign_id=campaign_id, change_id=outcome.change_id, brief_version=proposal.version,
        outcome=outcome.outcome, decided_by=outcome.decided_by, reason=outcome.reason,
        gates=list(proposal.change.gates), policy_version=proposal.policy_version))


def decide_change(campaign: Campaign, request: DecisionRequest, actor: Principal,
                  now: dt.datetime) -> tuple[DecisionOutcome, ChangeVerdict | None]:
    """A gate decision on the pending change request: the same rules as any decision (four-eyes,
    decision rights, the budget gate's reservation), on the change's gates, launched or not.
    A rejection rejects the change; the approval that completes its last gate approves it."""
    proposal = campaign.pending_change
    assert proposal is not None and proposal.change is not None
    view = campaign.change_view()
    result = decide(view, request, actor, now)
    if result.event is not None:
        result = replace(result, event=result.event.model_copy(update={"change_id": proposal.change.change_id}))
    gates = derive_gates(view.policy, proposal, [*campaign.decisions, result.decision], cancelled=False)
    if not request.approve:
        verdict = c.ChangeOutcome.rejected
    elif all(g.status is GateStatus.approved for g in gates):
        verdict = c.ChangeOutcome.approved
    else:
        return result, None
    outcome = ChangeOutcome(proposal.change.change_id, proposal.version, verdict, actor.subject, now,
                            request.reason if verdict is c.ChangeOutcome.rejected else None)
    return result, change_verdict(campaign.campaign_id, proposal, outcome)


# --- launch readiness ------------------------------------------------------------------


@dataclass(frozen=True)
class Unmet:
    code: str
    detail: str


@dataclass(frozen=True)
class Readiness:
    unmet: tuple[Unmet, ...]
    snapshot: c.ReadinessSnapshot
    blocking_risk_ids: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.unmet


def kpis_with_targets(brief: BriefVersion, *, require_outcome: bool = False) -> bool:
    """KPIs with targets, including an outcome KPI when the policy requires one."""
    if require_outcome and not any(k.kind is c.KpiKind.outcome for k in brief.kpis):
        return False
    return bool(brief.kpis) and all(k.target is not None and k.metric.strip() for k in brief.kpis)


def tracking_plan_defined(brief: BriefVersion) -> bool:
    plan = brief.tracking_plan
    return plan is not None and bool(plan.campaign_code.strip())


def assess_readiness(campaign: Campaign, blocking_risks: Sequence[tuple[str, int]]) -> Readiness:
    """Every unmet launch condition, and the facts a launch would carry.

    ``blocking_risks`` are the (id, score) of open risks at or above the policy's blocking
    score (see ``risks.blocks_launch``).
    """
    brief = campaign.brief
    unmet: list[Unmet] = []
    if campaign.cancellation is not None:
        unmet.append(Unmet("campaign_cancelled", "the campaign was cancelled"))
    if campaign.launch is not None:
        unmet.append(Unmet("already_launched", f"the campaign was launched at {campaign.launch.launched_at}"))
    if campaign.paused:
        unmet.append(Unmet("paused", "the campaign is paused: its owner resumes it before it can launch"))
    pending = [g for g in campaign.gates if g.status is not GateStatus.approved]
    if pending:
        unmet.append(Unmet("gates_not_approved", "not approved for brief version "
                           f"{brief.version}: " + ", ".join(f"{g.id} ({g.status.value})" for g in pending)))
    require_outcome = campaign.policy.require_outcome_kpi
    if not kpis_with_targets(brief):
        unmet.append(Unmet("kpis_missing", "the brief has no KPI with a target"))
    elif not kpis_with_targets(brief, require_outcome=require_outcome):
        unmet.append(Unmet("outcome_kpi_missing", "the policy requires a KPI of kind outcome from the metric "
                                                  "catalogue"))
    if not tracking_plan_defined(brief):
        unmet.append(Unmet("tracking_plan_missing", "the brief has no tracking plan with a campaign code"))
    commitment = campaign.commitment
    if commitment is None:
        unmet.append(Unmet("budget_not_committed", f"no BudgetCommitted for brief version {brief.version}"))
    if blocking_risks:
        unmet.append(Unmet("blocking_risks_open",
                           f"{len(blocking_risks)} open risk(s) at or above score "
                           f"{campaign.policy.blocking_risk_score}: " + ", ".join(r for r, _ in blocking_risks)))
    snapshot = c.ReadinessSnapshot(
        all_gates_approved=not pending, kpis_with_targets=kpis_with_targets(brief, require_outcome=require_outcome),
        tracking_plan_defined=tracking_plan_defined(brief), budget_committed=commitment is not None,
        committed=commitment.amount if commitment else None, open_blocking_risks=len(blocking_risks),
        policy_version=campaign.policy_version,
    )
    return Readiness(tuple(unmet), snapshot, tuple(r for r, _ in blocking_risks))


def launch(campaign: Campaign, readiness: Readiness, actor: Principal,
           brief_version: int | None = None) -> c.CampaignLaunched:
    brief = campaign.brief
    if actor.subject != brief.owner and not actor.is_admin:
        raise Refusal(RefusalCode.launch_forbidden,
                      f"only the campaign owner ({brief.owner}) or ops_admin may launch")
    if brief_version is not None and brief_version != brief.version:
        raise Refusal(RefusalCode.stale_brief_version,
                      f"the launch names brief version {brief_version}, but the current version is {brief.version}",
                      current_brief_version=brief.version)
    if not readiness.ready:
        raise Refusal(RefusalCode.not_ready, "the campaign is not ready to launch",
                      unmet=[{"code": u.code, "detail": u.detail} for u in readiness.unmet])
    return c.CampaignLaunched(campaign_id=brief.campaign_id, brief_version=brief.version,
                              launched_by=actor.subject, readiness=readiness.snapshot)


# --- approval queue --------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    campaign: Campaign
    gate: GateState
    overdue: bool
    via: Literal["decider", "escalation"]
    can_approve: bool


def approval_queue(campaigns: Iterable[Campaign], actor: Principal, now: dt.datetime) -> list[QueueItem]:
    """The open gates ``actor`` may decide; overdue first, then by due time.

    A gate past its SLA also lands in the queue of its escalation role.
    """
    items: list[QueueItem] = []
    for found in campaigns:
        # A pending change is decided like a version in review, launched or not.
        campaign = found.change_view() if found.pending_change is not None else found
        gate = campaign.current_gate
        if gate is None or campaign.cancellation or campaign.launch or campaign.is_party(actor):
            continue
        if actor.subject in gate.approvers:
            continue
        right = authority(gate, actor, campaign.brief.amount, now)
        if right == "none":
            continue
        items.append(QueueItem(campaign, gate, gate.overdue(now),
                               "escalation" if right == "escalation" else "decider",
                               can_approve=right != "over_limit"))
    return sorted(items, key=lambda i: (not i.overdue, i.gate.due_at, i.campaign.campaign_id))

