"""SPEC section 5 in metrics: who reads which campaign's rows, over the dozen-campaign
scenario (growth: C01 C02 C07 C10; brand: C03 C04 C08 C11; product: C05 C06 C09 C12).

Readers of everything (viewer, approver, finance, ops_admin) see all twelve; a requester
sees their team's campaigns plus those they own or wrote; a per-campaign route answers
404 for a campaign the caller may not read; lists and aggregates are computed on the
readable campaigns and say ``filtered``; a token with no known role gets 403.
"""

from __future__ import annotations

import pytest

from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROWTH = {"C01", "C02", "C07", "C10"}


@pytest.fixture
def as_(dozen_loaded):
    def headers(subject: str, *roles: str, team: str | None = None) -> dict[str, str]:
        return auth(dozen_loaded.settings, subject, *roles, team=team)

    return headers


async def campaign_ids(app, headers) -> set[str]:
    response = await app.client.get("/campaigns", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["filtered"] is not None
    return {c["campaign_id"] for c in response.json()["campaigns"]}


async def test_readers_of_everything_see_every_campaign_unfiltered(dozen_loaded, as_) -> None:
    app = dozen_loaded
    for roles in (("viewer",), ("approver",), ("finance",), ("ops_admin",)):
        assert len(await campaign_ids(app, as_("someone", *roles))) == 12
        summary = (await app.client.get("/summary", headers=as_("someone", *roles))).json()
        assert summary["filtered"] is False and summary["campaigns"]["submitted"] == 12


async def test_a_requester_reads_their_team_and_what_they_own_or_wrote(dozen_loaded, as_) -> None:
    app = dozen_loaded
    team = as_("rita", "requester", team="growth")
    assert await campaign_ids(app, team) == GROWTH
    summary = (await app.client.get("/summary", headers=team)).json()
    assert summary["filtered"] is True
    assert summary["campaigns"]["submitted"] == 4  # aggregates over the readable campaigns only
    rework = (await app.client.get("/aggregates/rework?group_by=team", headers=team)).json()
    assert rework["filtered"] is True and [g["group"] for g in rework["groups"]] == ["growth"]
    lines = (await app.client.get("/aggregates/variance/budget-lines", headers=team)).json()
    assert lines["filtered"] is True and {r["budget_line_id"] for r in lines["rows"]} == {"L-GROWTH"}

    # the owner of C03 (brand) and the requester who submitted C05 (product), from another team
    assert await campaign_ids(app, as_("owner-c03", "requester", team="growth")) == GROWTH | {"C03"}
    assert await campaign_ids(app, as_("req-c05", "requester")) == {"C05"}
    assert (await app.client.get("/campaigns/C05/timeline", headers=as_("req-c05", "requester"))).status_code == 200


async def test_a_campaign_the_caller_may_not_read_does_not_exist(dozen_loaded, as_) -> None:
    app = dozen_loaded
    outsider = as_("rita", "requester", team="growth")
    hidden = await app.client.get("/campaigns/C03/timeline", headers=outsider)
    missing = await app.client.get("/campaigns/NOPE/timeline", headers=outsider)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    assert (await app.client.get("/campaigns/C01/timeline", headers=outsider)).status_code == 200
    # a requester without a team reads only what they own or wrote
    assert await campaign_ids(app, as_("nobody", "requester")) == set()


async def test_a_token_with_no_known_role_reads_nothing(dozen_loaded, as_) -> None:
    app = dozen_loaded
    for path in ("/summary", "/campaigns", "/campaigns/C01/timeline", "/aggregates/cycle-time", "/status"):
        response = await app.client.get(path, headers=as_("mallory", "superuser"))
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
