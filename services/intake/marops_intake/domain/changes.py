"""Change in flight: pausing, resuming and changing an approved or launched campaign.

A change request proposes the next brief version from the current one with some of
budget amount, dates, channels and KPIs replaced; governance decides it, and only an
approved change becomes a version of the campaign. Neither a change nor a pause restarts
anything: the campaign keeps its status, history and cycle time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marops_events import contracts as c
from marops_service.refusals import Refusal

from .brief import Brief
from .refusals import IntakeRefusal
from .status import Status

# A campaign in flight: past its approvals, not closed.
IN_FLIGHT = frozenset({Status.approved, Status.launched})

_DATES = ("target_launch_date", "flight_start", "flight_end")


def require_in_flight(status: Status, what: str) -> None:
    if status not in IN_FLIGHT:
        raise Refusal(IntakeRefusal.conflict,
                      f"only an approved or launched campaign can be {what}; this one is {status.value}",
                      status_now=status.value)


def propose(current: Brief, fields: dict[str, Any]) -> tuple[Brief, list[c.ChangeField]]:
    """The proposed brief and what it changes. ``fields`` are the change request's: any of
    ``budget_amount``, the three dates, ``channels`` and ``kpis`` (absent: unchanged)."""
    updates: dict[str, Any] = {k: fields[k] for k in (*_DATES, "channels", "kpis") if fields.get(k) is not None}
    if fields.get("budget_amount") is not None:
        request = current.to_json().get("budget_request") or {}
        updates["budget_request"] = {**request, "amount": fields["budget_amount"]}
    proposed = Brief.model_validate({**current.to_json(), **updates})
    changed: list[c.ChangeField] = []
    before, after = current.to_json(), proposed.to_json()
    if before.get("budget_request") != after.get("budget_request"):
        changed.append(c.ChangeField.budget)
    if any(before.get(k) != after.get(k) for k in _DATES):
        changed.append(c.ChangeField.dates)
    if set(before.get("channels") or ()) != set(after.get("channels") or ()):
        changed.append(c.ChangeField.channels)
    if before.get("kpis") != after.get("kpis"):
        changed.append(c.ChangeField.kpis)
    if not changed:
        raise Refusal(IntakeRefusal.invalid, "the change request changes nothing: send at least one of "
                      "budget_amount, target_launch_date, flight_start, flight_end, channels, kpis with a new value")
    return proposed, changed


def check_date(current: Brief, proposed: Brief, today: dt.date) -> dt.date:
    """The day the completeness check measures the target launch date against: a change that
    keeps the (past) launch date of a running campaign is not refused for it."""
    if proposed.target_launch_date == current.target_launch_date and current.target_launch_date is not None:
        return min(today, current.target_launch_date)
    return today
