"""The one access model of every service (SPEC section 5), as plain functions.

Reading a campaign (its brief, gates, decisions, risks, RACI, audit, budget, timeline and
its rows of any report):
- viewers, approvers, finance and ops_admin read every campaign;
- requesters read the campaigns of their own team;
- the campaign's owner and its authors (everyone who wrote, edited or submitted any
  version of its brief) read it whatever their team;
- a token with no known role reads nothing (`current_principal` answers 403).
A campaign the caller may not read answers 404, so ids are not disclosed, and is left out
of lists; an aggregate over campaigns is computed on the readable ones and says so
(``is_filtered``).

Every service keeps the parties (team, owner, authors) of each campaign from the events it
consumes, and asks these functions; lists filter in SQL with ``readable_sql``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .auth import Principal, Role

READ_ALL_ROLES = (Role.viewer, Role.approver, Role.finance, Role.ops_admin)
# `service` is known (other systems calling an API), but reads no campaign by itself.
KNOWN_ROLES = frozenset(Role)


@dataclass(frozen=True)
class CampaignParties:
    """Who a campaign belongs to: the facts that decide access to it."""

    team: str | None
    owner: str | None
    authors: frozenset[str] = frozenset()

    @classmethod
    def of(cls, team: str | None, owner: str | None, authors: Iterable[str] | None = ()) -> CampaignParties:
        return cls(team=team, owner=owner, authors=frozenset(a for a in authors or () if a))

    def is_owner_or_author(self, p: Principal) -> bool:
        return p.subject == self.owner or p.subject in self.authors

    def is_team_requester(self, p: Principal) -> bool:
        return p.has(Role.requester) and p.team is not None and p.team == self.team

    def is_party(self, p: Principal) -> bool:
        """Owner, author or requester of the campaign's team: someone four-eyes keeps out."""
        return self.is_owner_or_author(p) or self.is_team_requester(p)


def has_known_role(p: Principal) -> bool:
    return bool(p.roles & KNOWN_ROLES)


def reads_everything(p: Principal) -> bool:
    return p.has(*READ_ALL_ROLES)


def is_filtered(p: Principal) -> bool:
    """Whether lists and aggregates shown to ``p`` leave campaigns out."""
    return not reads_everything(p)


def can_read_campaign(p: Principal, parties: CampaignParties) -> bool:
    if not has_known_role(p):
        return False
    return reads_everything(p) or parties.is_team_requester(p) or parties.is_owner_or_author(p)


@dataclass(frozen=True)
class SqlCondition:
    """A boolean SQL expression with its positional parameters (``$n`` numbered from ``first``)."""

    sql: str
    params: tuple[Any, ...]


def readable_sql(p: Principal, *, first: int = 1, team: str = "team", owner: str = "owner",
                 authors: str | None = "authors") -> SqlCondition:
    """The SQL form of ``can_read_campaign`` over a row's columns, for filtering a list.

    ``team``/``owner``/``authors`` are column expressions (``authors`` a ``text[]``, or None
    when the table has no authors); the parameters continue the caller's numbering at
    ``first``. Reads-everything and no-role callers need no parameters at all.
    """
    if not has_known_role(p):
        return SqlCondition("FALSE", ())
    if reads_everything(p):
        return SqlCondition("TRUE", ())
    team_param = p.team if p.has(Role.requester) else None
    t, s = f"${first}::text", f"${first + 1}::text"
    parts = [f"{team} = {t}", f"{owner} = {s}"]
    if authors is not None:
        parts.append(f"{s} = ANY({authors})")
    # `team = NULL` is NULL, never true: a requester without a team reads no team's rows.
    return SqlCondition("(" + " OR ".join(parts) + ")", (team_param, p.subject))
