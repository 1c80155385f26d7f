"""Who may do what, checked on every endpoint that takes an id (object-level), over HTTP."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


def id_endpoints(cid: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", f"/campaigns/{cid}", None),
        ("GET", f"/campaigns/{cid}/completeness", None),
        ("GET", f"/campaigns/{cid}/versions", None),
        ("GET", f"/campaigns/{cid}/versions/1", None),
        ("GET", f"/campaigns/{cid}/versions/1/diff", None),
        ("PATCH", f"/campaigns/{cid}/brief", {"title": "hijacked"}),
        ("POST", f"/campaigns/{cid}/submit", None),
        ("POST", f"/campaigns/{cid}/cancel", {"reason": "hijacked"}),
        ("POST", f"/campaigns/{cid}/complete", {"results": []}),
    ]


async def test_requesters_of_another_team_cannot_see_or_touch_a_campaign(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.submitted(rita)
    outsider = intake.as_("otto", "requester", team=team())
    for method, path, body in id_endpoints(campaign["id"]):
        response = await intake.http.request(method, path, json=body, headers=outsider)
        # Not found rather than forbidden: ids of other teams' campaigns are not disclosed.
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
    listed = (await intake.http.get("/campaigns", params={"team": campaign["team"]}, headers=outsider)).json()
    assert listed["items"] == []
    unchanged = await intake.get(campaign["id"], rita)
    assert (unchanged["status"], unchanged["brief"]["title"]) == ("submitted", campaign["brief"]["title"])


async def test_requesters_create_for_their_own_team_only(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    other = await intake.http.post("/campaigns", json={"title": "x", "team": team()}, headers=rita)
    assert other.status_code == 403
    assert other.headers["content-type"] == PROBLEM
    own = await intake.create(rita, title="x")
    assert own["team"] == growth  # taken from the token when not sent
    moved = await intake.http.patch(f"/campaigns/{own['id']}/brief", json={"team": team()}, headers=rita)
    assert moved.status_code == 403
    cleared = await intake.http.patch(f"/campaigns/{own['id']}/brief", json={"team": None}, headers=rita)
    assert cleared.status_code == 422
    no_team = await intake.http.post("/campaigns", json={"title": "x"}, headers=intake.as_("nat", "requester"))
    assert no_team.status_code == 422
    assert (await intake.get(own["id"], rita))["team"] == growth


@pytest.mark.parametrize("roles", [("viewer",), ("approver",), ("finance",), ("service",), ()])
async def test_only_requesters_and_ops_admin_create(intake, roles) -> None:
    response = await intake.http.post("/campaigns", json={"title": "x", "team": "growth"},
                                      headers=intake.as_("someone", *roles, team="growth"))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM


async def test_viewers_and_approvers_read_but_do_not_change(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.create(rita, **intake.complete_brief())
    for reader in (intake.as_("vic", "viewer"), intake.as_("alex", "approver", team="brand")):
        assert (await intake.http.get(f"/campaigns/{campaign['id']}", headers=reader)).status_code == 200
        assert (await intake.http.get(f"/campaigns/{campaign['id']}/completeness", headers=reader)).status_code == 200
        for method, path, body in id_endpoints(campaign["id"])[5:]:
            response = await intake.http.request(method, path, json=body, headers=reader)
            assert response.status_code == 403, (method, path, response.text)
    after = await intake.get(campaign["id"], rita)
    assert (after["status"], after["brief"]["title"]) == ("draft", campaign["brief"]["title"])


async def test_ops_admin_may_do_everything(intake) -> None:
    ada = intake.as_("ada", "ops_admin")
    growth = team()
    created = await intake.http.post("/campaigns", json=intake.complete_brief(team=growth, owner="rita"), headers=ada)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert created.json()["owner"] == "rita"
    assert (await intake.http.patch(f"/campaigns/{cid}/brief", json={"title": "Admin edit"}, headers=ada)).status_code == 200
    submitted = await intake.http.post(f"/campaigns/{cid}/submit", headers=ada)
    assert submitted.status_code == 200
    [event] = await intake.published("BriefSubmitted", cid, 1)
    assert (event["data"]["requester"], event["data"]["owner"]) == ("ada", "rita")
    assert (await intake.http.post(f"/campaigns/{cid}/cancel", headers=ada)).status_code == 200


async def test_the_owner_decides_cancellation_even_from_outside_the_team(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    campaign = await intake.submitted(rita, owner="olga")
    olga = intake.as_("olga", "approver", team="leadership")
    assert (await intake.http.get(f"/campaigns/{campaign['id']}", headers=olga)).status_code == 200
    # The creator is not the owner any more, so she cannot cancel.
    assert (await intake.http.post(f"/campaigns/{campaign['id']}/cancel", headers=rita)).status_code == 403
    response = await intake.http.post(f"/campaigns/{campaign['id']}/cancel", headers=olga)
    assert response.status_code == 200, response.text
    assert response.json()["cancellation"]["by"] == "olga"


async def test_requests_without_a_valid_token_are_401(intake) -> None:
    for method, path, body in [("GET", "/campaigns", None), ("POST", "/campaigns", {"title": "x"}),
                               *id_endpoints("any")]:
        response = await intake.http.request(method, path, json=body)
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == PROBLEM
        forged = await intake.http.request(method, path, json=body, headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401
