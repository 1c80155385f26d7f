"""Intake's write rules, on top of the shared read rule of ``marops_service.access``.

- create, edit, submit: requesters, for their own team only; ops_admin for any team.
  (Whether the campaign is in an editable status is the service's check, answered with 409.)
- cancel, complete: the campaign's owner, or ops_admin.
Reading follows the one model of every service (``can_read_campaign``): a campaign the
caller may not read is answered as not found, so ids are not disclosed.
"""

from __future__ import annotations

from marops_service.access import CampaignParties, can_read_campaign, is_filtered, readable_sql, reads_everything
from marops_service.auth import Principal, Role

__all__ = ["CampaignParties", "can_close", "can_set_capacity", "can_create_for", "can_edit", "can_read_campaign", "is_filtered",
           "readable_sql", "reads_everything"]


def can_create_for(p: Principal, team: str) -> bool:
    return p.is_admin or (p.has(Role.requester) and p.team is not None and p.team == team)


def can_edit(p: Principal, c: CampaignParties) -> bool:
    return c.team is not None and can_create_for(p, c.team)


def can_set_capacity(p: Principal, team: str) -> bool:
    """A team's capacity: ops admins, or the team's lead (an approver whose token names the team)."""
    return p.is_admin or (p.has(Role.approver) and p.team is not None and p.team == team)


def can_close(p: Principal, c: CampaignParties) -> bool:
    """Cancel or complete: the accountable owner decides, or operations."""
    return p.is_admin or (c.owner is not None and p.subject == c.owner and bool(p.roles))
