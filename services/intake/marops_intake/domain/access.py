"""Who may do what to a campaign (object-level rules on top of the token's roles).

- read: viewers, approvers, finance and ops_admin read every campaign; a requester reads
  the campaigns of their own team; anyone reads a campaign they own or created.
- create, edit, submit: requesters, for their own team only; ops_admin for any team.
  (Whether the campaign is in an editable status is the service's check, answered with 409.)
- cancel, complete: the campaign's owner, or ops_admin.
A campaign the caller may not read is answered as not found, so ids are not disclosed.
"""

from __future__ import annotations

from dataclasses import dataclass

from marops_service.auth import Principal, Role

READ_ALL_ROLES = (Role.viewer, Role.approver, Role.finance, Role.ops_admin)


@dataclass(frozen=True)
class CampaignRef:
    """The parts of a campaign that decide access."""

    team: str
    owner: str | None
    created_by: str


def reads_everything(p: Principal) -> bool:
    return p.has(*READ_ALL_ROLES)


def can_read(p: Principal, c: CampaignRef) -> bool:
    return (reads_everything(p) or (p.has(Role.requester) and p.team == c.team)
            or p.subject in (c.owner, c.created_by))


def can_create_for(p: Principal, team: str) -> bool:
    return p.is_admin or (p.has(Role.requester) and p.team is not None and p.team == team)


def can_edit(p: Principal, c: CampaignRef) -> bool:
    return can_create_for(p, c.team)


def can_close(p: Principal, c: CampaignRef) -> bool:
    """Cancel or complete: the accountable owner decides, or operations."""
    return p.is_admin or (c.owner is not None and p.subject == c.owner)
