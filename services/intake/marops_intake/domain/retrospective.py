"""Retrospectives: after completion the owner (or ops_admin) records what worked, what did
not, lessons and follow-up actions. Plain rules, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from marops_events import contracts as c
from marops_service.auth import Principal
from marops_service.refusals import Refusal

from . import access
from .completeness import Finding
from .refusals import IntakeRefusal
from .status import Status


@dataclass(frozen=True)
class Action:
    action: str
    owner: str
    due_on: dt.date


@dataclass(frozen=True)
class Retrospective:
    campaign_id: str
    revision: int
    recorded_by: str
    recorded_at: dt.datetime
    what_worked: tuple[str, ...]
    what_did_not_work: tuple[str, ...]
    lessons: tuple[str, ...]
    actions: tuple[Action, ...]

    def event(self, team: str, channels: list[str]) -> c.RetrospectiveRecorded:
        return c.RetrospectiveRecorded(
            campaign_id=self.campaign_id, revision=self.revision, recorded_by=self.recorded_by, team=team,
            channels=[c.Channel(ch) for ch in channels], what_worked=list(self.what_worked),
            what_did_not_work=list(self.what_did_not_work), lessons=list(self.lessons),
            actions=[c.FollowUpAction(action=a.action, owner=a.owner, due_on=a.due_on) for a in self.actions])


def record(who: Principal, parties: access.CampaignParties, status: Status, previous_revision: int | None, *,
           campaign_id: str, now: dt.datetime, what_worked: list[str], what_did_not_work: list[str],
           lessons: list[str], actions: list[Action]) -> Retrospective:
    """The next revision of a campaign's retrospective, or a refusal.

    Only a completed campaign has one to record (what it achieved is known then), and the
    accountable owner writes it (or ops_admin), like completing it.
    """
    if not access.can_close(who, parties):
        raise Refusal(IntakeRefusal.forbidden, "only the campaign's owner or ops_admin may record its retrospective")
    if status is not Status.completed:
        raise Refusal(IntakeRefusal.conflict, f"a retrospective is recorded after completion; the campaign is {status}",
                      status_now=status.value)
    if not lessons:  # the API's schema says so too; what is learnt is the point of a retrospective
        raise Refusal(IntakeRefusal.invalid, "a retrospective needs at least one lesson",
                      errors=[Finding("lessons", "missing", "at least one lesson").to_json()])
    return Retrospective(campaign_id=campaign_id, revision=(previous_revision or 0) + 1, recorded_by=who.subject,
                         recorded_at=now, what_worked=tuple(what_worked), what_did_not_work=tuple(what_did_not_work),
                         lessons=tuple(lessons), actions=tuple(actions))
