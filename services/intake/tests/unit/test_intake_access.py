"""Object-level access rules, as a table."""

from __future__ import annotations

import pytest

from marops_intake.domain.access import CampaignParties, can_close, can_create_for, can_edit, can_read_campaign
from marops_service.auth import Principal, Role

CAMPAIGN = CampaignParties.of(team="growth", owner="olga", authors=["rita", "edna"])


def who(subject: str, *roles: Role, team: str | None = None) -> Principal:
    return Principal(subject, frozenset(roles), team)


@pytest.mark.parametrize(("principal", "read", "edit", "close"), [
    (who("rita", Role.requester, team="growth"), True, True, False),   # creator, not owner
    (who("ravi", Role.requester, team="growth"), True, True, False),   # same team
    (who("otto", Role.requester, team="brand"), False, False, False),  # other team
    (who("olga", Role.approver, team="leadership"), True, False, True),  # owner
    (who("olga"), False, False, False),                                 # owner, but a token without roles
    (who("edna", Role.requester, team="brand"), True, False, False),    # author who moved teams
    (who("vic", Role.viewer), True, False, False),
    (who("alex", Role.approver), True, False, False),
    (who("fin", Role.finance), True, False, False),
    (who("svc", Role.service), False, False, False),
    (who("ada", Role.ops_admin), True, True, True),
    (who("nat", Role.requester), False, False, False),                  # requester without a team
])
def test_access(principal: Principal, read: bool, edit: bool, close: bool) -> None:
    assert (can_read_campaign(principal, CAMPAIGN), can_edit(principal, CAMPAIGN), can_close(principal, CAMPAIGN)) \
        == (read, edit, close)


def test_create_for_own_team_only() -> None:
    assert can_create_for(who("rita", Role.requester, team="growth"), "growth")
    assert not can_create_for(who("rita", Role.requester, team="growth"), "brand")
    assert not can_create_for(who("vic", Role.viewer, team="growth"), "growth")
    assert can_create_for(who("ada", Role.ops_admin), "brand")
