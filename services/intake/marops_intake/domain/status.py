"""The campaign status a requester sees, derived from facts rather than stored transitions.

Governance events arrive late, early, twice, or interleaved with intake's own commands.
Instead of applying them as transitions (which would depend on arrival order), intake
keeps every fact with its business time and derives the status as a function of the
*set* of facts: the same facts give the same status and the same history, whatever the
order they were received in. Duplicates are the same fact (same ``key``) and count once;
should a redelivery carry another time, the earliest wins, so even that cannot depend on order.

Rules, for the current brief version (the highest submitted one):
- ``cancelled`` / ``completed``: intake's own terminal facts win over everything.
- ``launched``: governance launched the current version.
- ``rejected``: a gate rejected the current version outright. Terminal: the brief cannot
  be revised (budget releases its funds); start a new campaign instead.
- ``changes_requested``: a gate asked for changes to the current version; the requester
  edits and resubmits, producing the next version.
- ``approved``: the last gate approved the current version (launch is governance's call).
- ``in_review``: at least one gate approved the current version, more are pending.
- ``submitted``: submitted, no decision on this version yet.
- ``draft``: never submitted.
Decisions and launches naming any other version never affect the current status.

Change in flight: an approved change request becomes the current version
(``change_approved``) without restarting anything: a campaign launched on an earlier
version stays launched, and an approved one stays approved (a change is decided as a
whole, so the decisions on its version do not move the status). Decisions on a change
not (yet) approved name a version above the current one and are ignored like any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    draft = "draft"
    submitted = "submitted"
    in_review = "in_review"
    changes_requested = "changes_requested"
    rejected = "rejected"
    approved = "approved"
    launched = "launched"
    completed = "completed"
    cancelled = "cancelled"


EDITABLE = frozenset({Status.draft, Status.changes_requested})
CANCELLABLE = frozenset({Status.draft, Status.submitted, Status.in_review, Status.changes_requested,
                         Status.approved, Status.launched})
TERMINAL = frozenset({Status.rejected, Status.completed, Status.cancelled})


class FactKind(StrEnum):
    created = "created"
    submitted = "submitted"
    gate_approved = "gate_approved"
    gate_rejected = "gate_rejected"
    launched = "launched"
    completed = "completed"
    cancelled = "cancelled"
    change_approved = "change_approved"


# Tie-break for facts with the same business time: the order they logically happen in.
_RANK = {kind: i for i, kind in enumerate(FactKind)}


@dataclass(frozen=True)
class Fact:
    key: str  # identifies the business fact; a redelivery has the same key
    kind: FactKind
    time: dt.datetime
    version: int | None = None
    gate_name: str | None = None
    is_last_gate: bool = False
    outright: bool = False  # a rejection of kind "rejected"
    reason: str | None = None
    actor: str | None = None

    @property
    def sort_key(self) -> tuple[dt.datetime, int, str]:
        return (self.time, _RANK[self.kind], self.key)


@dataclass(frozen=True)
class StatusView:
    status: Status
    reason: str | None = None


@dataclass(frozen=True)
class StatusChange:
    status: Status
    at: dt.datetime
    reason: str | None
    cause: FactKind
    version: int | None


def derive(facts: Iterable[Fact]) -> StatusView:
    """The status implied by a set of facts (order and duplicates do not matter)."""
    unique = _unique(facts)
    terminal = sorted((f for f in unique if f.kind in (FactKind.cancelled, FactKind.completed)),
                      key=lambda f: f.sort_key)
    if terminal:
        first = terminal[0]
        status = Status.cancelled if first.kind is FactKind.cancelled else Status.completed
        return StatusView(status, first.reason)
    current = max((f.version or 0 for f in unique if f.kind in _VERSIONS), default=0)
    if current == 0:
        return StatusView(Status.draft)
    decided = [f for f in unique if f.version == current]
    # A launch is never undone by a change approved after it: a launch of the last submitted
    # version or of any approved change since counts (one of an earlier submission does not).
    submitted = max((f.version or 0 for f in unique if f.kind is FactKind.submitted), default=0)
    if any(f.kind is FactKind.launched and submitted <= (f.version or 0) <= current for f in unique):
        return StatusView(Status.launched)
    if any(f.kind is FactKind.change_approved for f in decided):
        return StatusView(Status.approved)
    rejections = sorted((f for f in decided if f.kind is FactKind.gate_rejected), key=lambda f: f.sort_key)
    if rejections:
        first = rejections[0]
        status = Status.rejected if first.outright else Status.changes_requested
        return StatusView(status, _rejection_reason(first))
    approvals = [f for f in decided if f.kind is FactKind.gate_approved]
    if any(f.is_last_gate for f in approvals):
        return StatusView(Status.approved)
    if approvals:
        return StatusView(Status.in_review)
    return StatusView(Status.submitted)


_VERSIONS = (FactKind.submitted, FactKind.change_approved)


def history(facts: Iterable[Fact]) -> list[StatusChange]:
    """Each change of status, replaying the facts in business-time order."""
    ordered = sorted(_unique(facts), key=lambda f: f.sort_key)
    changes: list[StatusChange] = []
    for i, fact in enumerate(ordered):
        view = derive(ordered[: i + 1])
        if not changes or (view.status, view.reason) != (changes[-1].status, changes[-1].reason):
            changes.append(StatusChange(view.status, fact.time, view.reason, fact.kind, fact.version))
    return changes


def _unique(facts: Iterable[Fact]) -> list[Fact]:
    """One fact per key: the earliest (a redelivery cannot move a fact later)."""
    first: dict[str, Fact] = {}
    for fact in facts:
        if fact.key not in first or fact.sort_key < first[fact.key].sort_key:
            first[fact.key] = fact
    return list(first.values())


def _rejection_reason(fact: Fact) -> str:
    who = f" by {fact.actor}" if fact.actor else ""
    verb = "rejected" if fact.outright else "changes requested"
    return f"{fact.gate_name or 'a gate'}: {verb}{who}: {fact.reason or 'no reason given'}"
