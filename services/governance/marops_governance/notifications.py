"""Who is told what, and when: the dispatch rules of notifications, as pure functions.

Governance knows the gates, who may decide them (decision rights, four-eyes), their SLAs
and escalations, so the rules live here. Every notice is derived from the campaign's
state, not from the event that changed it, and carries a key naming the fact it tells
(``gate-actionable:<campaign>:v<version>:<gate>``): deriving again, after a redelivered
event, a retried command or in a second worker, yields the same keys, and the delivery
log stores each (key, recipient, channel) once. So a notification goes out at least once
(it is queued in the transaction of the change it tells) and never twice.

- approvers (directory users whose roles or name hold a decision right on the gate, who
  are no party of the campaign and have not approved it yet) when a gate becomes
  actionable, and again before its SLA runs out;
- the owner and the version's requester when a gate is approved or rejected;
- holders of the gate's escalation role (ops) when its SLA has passed and the escalation
  starts;
- the same for the gates a change request opens (its proposal is the version they belong
  to), and the change's owner and requester when the change is decided (``ChangeDecided``);
- directory users whose roles read every campaign when metrics publishes the weekly review
  pack (``ReviewPackPublished``): the pack aggregates every campaign.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from marops_events import contracts as c
from marops_service.access import reads_everything
from marops_service.auth import Principal, Role

from .domain import Campaign, ChangeOutcome, GateState, GateStatus, authority, decision_views


class Kind(StrEnum):
    gate_actionable = "gate_actionable"
    sla_warning = "sla_warning"
    gate_decided = "gate_decided"
    escalation_started = "escalation_started"
    change_decided = "change_decided"
    review_pack = "review_pack"


class DeliveryChannel(StrEnum):
    email = "email"
    webhook = "webhook"


@dataclass(frozen=True)
class Recipient:
    """A directory entry: a JWT subject, how to reach them, and the roles they hold."""

    subject: str
    email: str | None = None
    roles: frozenset[Role] = frozenset()
    webhook_url: str | None = None
    kinds: frozenset[Kind] = frozenset()  # empty: every kind
    name: str | None = None

    def wants(self, kind: Kind) -> bool:
        return not self.kinds or kind in self.kinds

    @property
    def principal(self) -> Principal:
        return Principal(subject=self.subject, roles=self.roles)

    def channels(self) -> list[tuple[DeliveryChannel, str]]:
        out = [(DeliveryChannel.email, self.email)] if self.email else []
        return out + ([(DeliveryChannel.webhook, self.webhook_url)] if self.webhook_url else [])


@dataclass(frozen=True)
class Notice:
    key: str
    kind: Kind
    recipients: tuple[str, ...]  # subjects
    subject: str  # the e-mail's subject line
    text: str
    campaign_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    dedupe_key: str
    notice: Notice
    recipient: str
    channel: DeliveryChannel
    target: str


def warning_at(gate: GateState, warning: dt.timedelta) -> dt.datetime | None:
    """When approvers are reminded: ``warning`` before the SLA runs out, or half-way through
    an SLA shorter than twice that (a reminder before the gate was even read helps nobody)."""
    if gate.actionable_at is None or gate.due_at is None:
        return None
    sla = gate.due_at - gate.actionable_at
    return gate.due_at - min(warning, sla / 2)


def _gate_data(campaign: Campaign, gate: GateState) -> dict[str, Any]:
    brief = campaign.brief
    return {"campaign_id": brief.campaign_id, "title": brief.title, "team": brief.team,
            "brief_version": brief.version, "gate_id": gate.id, "gate_name": gate.definition.name,
            "gate_position": gate.position, "actionable_at": _iso(gate.actionable_at), "due_at": _iso(gate.due_at),
            "sla_hours": gate.definition.sla_hours, "amount": brief.amount.model_dump(mode="json")}


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at else None


def _when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "?"


def approvers_of(campaign: Campaign, gate: GateState, directory: Iterable[Recipient],
                 now: dt.datetime) -> list[str]:
    """Who may decide ``gate`` now within their rights (not over an amount limit), is no party
    of the campaign (four-eyes) and has not approved it yet."""
    return sorted(r.subject for r in directory
                  if authority(gate, r.principal, campaign.brief.amount, now) == "decider"
                  and not campaign.is_party(r.principal) and r.subject not in gate.approvers)


def campaign_notices(campaign: Campaign, directory: Sequence[Recipient], now: dt.datetime, *,
                     warning: dt.timedelta | None = None) -> list[Notice]:
    """What the campaign's current brief version has to tell, as of ``now``.

    ``warning`` (the deadline timer passes it) adds the reminders of gates whose SLA runs
    out within that time; the event handlers and commands leave it out.
    """
    notices = _gate_notices(campaign, directory, now, warning)
    if campaign.pending_change is not None:  # its gates are decided on the proposal, launched or not
        notices += _gate_notices(campaign.change_view(), directory, now, warning)
    if campaign.outcomes:
        notices.append(change_notice(campaign, max(campaign.outcomes, key=lambda o: (o.decided_at, o.brief_version))))
    return notices


def _gate_notices(campaign: Campaign, directory: Sequence[Recipient], now: dt.datetime,
                  warning: dt.timedelta | None) -> list[Notice]:
    brief = campaign.brief
    cid, version = brief.campaign_id, brief.version
    notices: list[Notice] = []
    open_for_decision = campaign.cancellation is None and campaign.launch is None
    for gate in campaign.gates:
        data = _gate_data(campaign, gate)
        name = gate.definition.name
        if gate.status is GateStatus.open and open_for_decision:
            deciders = tuple(approvers_of(campaign, gate, directory, now))
            if deciders:
                notices.append(Notice(
                    f"gate-actionable:{cid}:v{version}:{gate.id}", Kind.gate_actionable, deciders,
                    f"[marops] {name} of \"{brief.title}\" awaits your decision",
                    f"The gate {name} (step {gate.position}) of campaign \"{brief.title}\" ({brief.team}, "
                    f"brief version {version}, {brief.amount.amount} {brief.amount.currency}) is open for your "
                    f"decision since {_when(gate.actionable_at)}. Its SLA runs out at {_when(gate.due_at)}.",
                    cid, data))
            remind_at = warning_at(gate, warning) if warning is not None else None
            if deciders and remind_at is not None and gate.due_at is not None and remind_at <= now <= gate.due_at:
                notices.append(Notice(
                    f"sla-warning:{cid}:v{version}:{gate.id}", Kind.sla_warning, deciders,
                    f"[marops] {name} of \"{brief.title}\": SLA runs out at {_when(gate.due_at)}",
                    f"The gate {name} of campaign \"{brief.title}\" (brief version {version}) is still undecided; "
                    f"its {gate.definition.sla_hours}h SLA runs out at {_when(gate.due_at)}.", cid, data))
        elif gate.status in (GateStatus.approved, GateStatus.rejected):
            approved = gate.status is GateStatus.approved
            decision = gate.approvals[-1] if approved and gate.approvals else gate.rejection
            told = tuple(sorted({brief.owner, brief.requester}))
            outcome = "approved" if approved else "rejected"
            reason = "" if approved or decision is None else (
                f" ({decision.kind.value if decision.kind else 'rejected'}: {decision.reason})")
            notices.append(Notice(
                f"gate-decided:{cid}:v{version}:{gate.id}:{outcome}", Kind.gate_decided, told,
                f"[marops] {name} of \"{brief.title}\" {outcome}",
                f"The gate {name} of campaign \"{brief.title}\" (brief version {version}) was {outcome} by "
                f"{decision.decided_by if decision else '?'} at {_when(decision.decided_at if decision else None)}"
                f"{reason}.", cid,
                {**data, "outcome": outcome, "decided_by": decision.decided_by if decision else None,
                 "kind": decision.kind.value if decision and decision.kind else None,
                 "reason": decision.reason if decision else None}))
    return notices


def change_notice(campaign: Campaign, outcome: ChangeOutcome) -> Notice:
    """The owner and the requester of a change request hear how it ended."""
    proposal = next(v for v in campaign.everyone if v.change is not None and v.change.change_id == outcome.change_id)
    assert proposal.change is not None
    told = tuple(sorted({proposal.owner, proposal.requester}))
    verdict = outcome.outcome.value
    reason = f" ({outcome.reason})" if outcome.reason else ""
    changes = ", ".join(proposal.change.changes) or "nothing"
    return Notice(
        f"change-decided:{proposal.campaign_id}:{outcome.change_id}", Kind.change_decided, told,
        f"[marops] Change of \"{proposal.title}\" {verdict}",
        f"The change request {outcome.change_id} of campaign \"{proposal.title}\" ({changes}; brief version "
        f"{proposal.version}) was {verdict} by {outcome.decided_by} at {_when(outcome.decided_at)}{reason}.",
        proposal.campaign_id,
        {"campaign_id": proposal.campaign_id, "title": proposal.title, "team": proposal.team,
         "change_id": outcome.change_id, "brief_version": proposal.version, "base_version": proposal.change.base_version,
         "changes": list(proposal.change.changes), "gates": list(proposal.change.gates), "outcome": verdict,
         "decided_by": outcome.decided_by, "decided_at": _iso(outcome.decided_at), "reason": outcome.reason})


def review_pack_notice(pack: c.ReviewPackPublished, directory: Iterable[Recipient]) -> Notice | None:
    """Who reads every campaign hears of the review pack (it aggregates every campaign)."""
    told = tuple(sorted(r.subject for r in directory if reads_everything(r.principal)))
    if not told:
        return None
    period = "Week" if pack.period is c.ReviewPeriod.week else "Month"
    figures = "\n".join(f"  {f.metric}: {_figure(f.current)} (previous period: {_figure(f.previous)})"
                        for f in pack.headline)
    s = pack.sections
    lists = "\n".join(f"  {name.replace('_', ' ')}: {count}" for name, count in s.model_dump().items())
    return Notice(
        f"review-pack:{pack.pack_id}", Kind.review_pack, told,
        f"[marops] Review pack: {period.lower()} {pack.start} to {pack.end}",
        f"{period} {pack.start} to {pack.end} (UTC), as of {_when(pack.as_of)}.\n\nHeadline:\n{figures}\n\n"
        f"Items:\n{lists}\n\nThe whole pack: GET {pack.path} on the metrics API (the console's Reviews page).",
        None, pack.model_dump(mode="json"))


def _figure(value: object) -> str:
    return "-" if value is None else str(value)


def overdue_gates(campaign: Campaign, now: dt.datetime) -> list[tuple[Campaign, GateState]]:
    """Open gates whose SLA has run out, each with the view it is decided on: the current
    version's while in review, a pending change's even after launch."""
    return [(view, g) for view in decision_views(campaign) for g in view.gates if g.overdue(now)]


def escalation_notice(campaign: Campaign, gate: GateState, directory: Iterable[Recipient]) -> Notice | None:
    """Ops (holders of the gate's escalation role, no party of the campaign) hear that the
    escalation started: from now on they may decide the gate themselves."""
    role = gate.definition.escalation_role
    told = tuple(sorted(r.subject for r in directory if role in r.roles and not campaign.is_party(r.principal)))
    if not told:
        return None
    brief = campaign.brief
    name = gate.definition.name
    change = brief.change.change_id if brief.change else None
    of_what = f"brief version {brief.version}" + (f", change request {change}" if change else "")
    return Notice(
        f"escalation:{brief.campaign_id}:v{brief.version}:{gate.id}", Kind.escalation_started, told,
        f"[marops] Escalation: {name} of \"{brief.title}\" passed its SLA",
        f"The gate {name} of campaign \"{brief.title}\" ({brief.team}, {of_what}) was not "
        f"decided within its {gate.definition.sla_hours}h SLA (due {_when(gate.due_at)}). It is escalated to "
        f"{role.value}: holders of that role may now decide it.", brief.campaign_id,
        {**_gate_data(campaign, gate), "escalation_role": role.value, "change_id": change})


def deliveries(notices: Iterable[Notice], directory: Iterable[Recipient]) -> list[Delivery]:
    """One delivery per notice, recipient and channel the recipient has and wants."""
    by_subject = {r.subject: r for r in directory}
    out = []
    for notice in notices:
        for subject in notice.recipients:
            recipient = by_subject.get(subject)
            if recipient is None or not recipient.wants(notice.kind):
                continue
            for channel, target in recipient.channels():
                out.append(Delivery(f"{notice.key}:{subject}:{channel.value}", notice, subject, channel, target))
    return out
