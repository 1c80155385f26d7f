"""The one access model: the rule as a table, and its SQL form agreeing with it on real rows."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from marops_service.access import CampaignParties, can_read_campaign, is_filtered, readable_sql, reads_everything
from marops_service.auth import Principal, Role

CAMPAIGN = CampaignParties.of(team="growth", owner="olga", authors=["rita", "edna"])


def who(subject: str, *roles: Role, team: str | None = None) -> Principal:
    return Principal(subject, frozenset(roles), team)


PRINCIPALS = {
    "viewer": (who("vic", Role.viewer, team="brand"), True),
    "approver": (who("alex", Role.approver), True),
    "finance": (who("fin", Role.finance), True),
    "ops_admin": (who("ada", Role.ops_admin), True),
    "own-team requester": (who("ravi", Role.requester, team="growth"), True),
    "other-team requester": (who("otto", Role.requester, team="brand"), False),
    "requester without a team": (who("nat", Role.requester), False),
    "owner from another team": (who("olga", Role.requester, team="brand"), True),
    "author from another team": (who("edna", Role.requester, team="brand"), True),
    "owner with no role": (who("olga"), False),
    "author with only service": (who("rita", Role.service), True),
    "service": (who("svc", Role.service, team="growth"), False),  # a team claim is not a requester's team
}


@pytest.mark.parametrize("case", PRINCIPALS)
def test_read_rule(case: str) -> None:
    principal, expected = PRINCIPALS[case]
    assert can_read_campaign(principal, CAMPAIGN) is expected


def test_filtered_unless_reading_everything() -> None:
    assert not is_filtered(who("vic", Role.viewer))
    assert is_filtered(who("ravi", Role.requester, team="growth"))
    assert reads_everything(who("fin", Role.finance)) and not reads_everything(who("svc", Role.service))


def test_parties_ignore_empty_authors() -> None:
    assert CampaignParties.of("growth", None, ["", "rita", None]).authors == frozenset({"rita"})  # type: ignore[list-item]


async def test_sql_condition_agrees_with_the_rule(pg_dsn: str) -> None:
    """Every principal x every shape of row: SQL keeps exactly the rows the Python rule reads."""
    teams, people = ["growth", "brand", None], ["olga", "rita", "edna", "ravi", "otto", "nat", "vic"]
    rows = [(i, team, owner, list(authors)) for i, (team, owner, authors) in enumerate(itertools.product(
        teams, [*people, None], [(), ("rita",), ("edna", "otto"), ("nat",)]))]
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("CREATE TEMP TABLE c (id int, team text, owner text, authors text[])")
        await conn.executemany("INSERT INTO c VALUES ($1, $2, $3, $4)", rows)
        for name, (principal, _) in PRINCIPALS.items():
            cond = readable_sql(principal, first=2)
            # $1 is the caller's own parameter: the helper's numbering continues after it
            got = {r["id"] for r in await conn.fetch(f"SELECT id FROM c WHERE id >= $1 AND {cond.sql}",
                                                     0, *cond.params)}
            expected = {i for i, team, owner, authors in rows
                        if can_read_campaign(principal, CampaignParties.of(team, owner, authors))}
            assert got == expected, name
    finally:
        await conn.close()
