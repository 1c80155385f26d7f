"""Issue 11 items 3 and 4 in intake, written as the attacks: ownership is never taken by a
draft edit, transfers are explicit and audited, and the brief's authors are published."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


async def test_a_colleague_cannot_take_ownership_by_editing_the_draft_and_then_cancel(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    ravi = intake.as_("ravi", "requester", team=growth)
    draft = await intake.create(rita, title="Rita's campaign")
    taken = await intake.http.patch(f"/campaigns/{draft['id']}/brief", json={"owner": "ravi"}, headers=ravi)
    assert taken.status_code == 422, taken.text
    assert taken.headers["content-type"] == PROBLEM
    assert [e["path"] for e in taken.json()["errors"]] == ["owner"]
    cleared = await intake.http.patch(f"/campaigns/{draft['id']}/brief", json={"owner": None}, headers=ravi)
    assert cleared.status_code == 422, cleared.text
    cancel = await intake.http.post(f"/campaigns/{draft['id']}/cancel", json={"reason": "mine now"}, headers=ravi)
    assert cancel.status_code == 403, cancel.text
    assert cancel.headers["content-type"] == PROBLEM
    after = await intake.get(draft["id"], rita)
    assert (after["owner"], after["status"], after["brief"]["owner"]) == ("rita", "draft", "rita")
    # Sending the owner unchanged (a client saving the whole draft) is not a change.
    same = await intake.http.patch(f"/campaigns/{draft['id']}/brief", json={"owner": "rita", "title": "t2"},
                                   headers=ravi)
    assert same.status_code == 200, same.text


async def test_only_the_owner_or_ops_admin_transfers_and_the_next_version_publishes_it(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    ravi = intake.as_("ravi", "requester", team=growth)
    campaign = await intake.create(rita, **intake.complete_brief())
    path = f"/campaigns/{campaign['id']}/owner"
    by_colleague = await intake.http.post(path, json={"owner": "ravi", "reason": "I run it now"}, headers=ravi)
    assert by_colleague.status_code == 403, by_colleague.text
    assert by_colleague.headers["content-type"] == PROBLEM
    no_reason = await intake.http.post(path, json={"owner": "olga"}, headers=rita)
    assert no_reason.status_code == 422, no_reason.text

    moved = await intake.http.post(path, json={"owner": "olga", "reason": "Rita moves to brand"}, headers=rita)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["owner"], body["brief"]["owner"]) == ("olga", "olga")
    [transfer] = body["ownership_transfers"]
    assert (transfer["from_owner"], transfer["to_owner"], transfer["by"], transfer["reason"]) == \
        ("rita", "olga", "rita", "Rita moves to brand")
    again = await intake.http.post(path, json={"owner": "olga", "reason": "twice"},
                                   headers=intake.as_("olga", "approver"))
    assert again.status_code == 409, again.text  # the new owner holds the right now; nothing to move

    # The old owner lost the owner's rights; the new one has them, and the next version says so.
    submit = await intake.http.post(f"/campaigns/{campaign['id']}/submit", headers=ravi)
    assert submit.status_code == 200, submit.text
    [event] = await intake.published("BriefSubmitted", campaign["id"], 1)
    assert event["data"]["owner"] == "olga"
    old_owner = await intake.http.post(f"/campaigns/{campaign['id']}/cancel", json={}, headers=rita)
    assert old_owner.status_code == 403, old_owner.text
    admin = intake.as_("ada", "ops_admin")
    back = await intake.http.post(path, json={"owner": "rita", "reason": "back from brand"}, headers=admin)
    assert back.status_code == 200, back.text
    assert [t["by"] for t in back.json()["ownership_transfers"]] == ["rita", "ada"]


async def test_every_author_is_published_and_reads_the_campaign_from_another_team(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    edna = intake.as_("edna", "requester", team=growth)
    ravi = intake.as_("ravi", "requester", team=growth)
    campaign = await intake.create(rita, **intake.complete_brief())
    edited = await intake.http.patch(f"/campaigns/{campaign['id']}/brief", json={"notes": "edna's words"},
                                     headers=edna)
    assert edited.status_code == 200, edited.text
    submit = await intake.http.post(f"/campaigns/{campaign['id']}/submit", headers=ravi)
    assert submit.status_code == 200, submit.text
    assert submit.json()["authors"] == ["edna", "ravi", "rita"]
    [event] = await intake.published("BriefSubmitted", campaign["id"], 1)
    assert (event["data"]["requester"], event["data"]["authors"]) == ("ravi", ["edna", "ravi", "rita"])
    # An author who moved to another team still reads what they wrote (and sees it listed)...
    moved = intake.as_("edna", "requester", team=team())
    assert (await intake.http.get(f"/campaigns/{campaign['id']}", headers=moved)).status_code == 200
    listed = (await intake.http.get("/campaigns", headers=moved)).json()
    assert campaign["id"] in [c["id"] for c in listed["items"]] and listed["filtered"] is True
    assert (await intake.http.get("/campaigns", headers=intake.as_("vic", "viewer"))).json()["filtered"] is False
    # ...but a colleague who never touched it does not, once in another team.
    stranger = intake.as_("ravo", "requester", team=team())
    assert (await intake.http.get(f"/campaigns/{campaign['id']}", headers=stranger)).status_code == 404


async def test_a_token_with_no_known_role_gets_403_and_me_says_who_you_are(intake) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.create(rita, title="x")
    nobody = intake.as_("rita")  # the owner's own subject, but no role in the token
    for method, path in [("GET", "/campaigns"), ("GET", f"/campaigns/{campaign['id']}"), ("GET", "/me")]:
        response = await intake.http.request(method, path, headers=nobody)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (await intake.http.get("/healthz")).status_code == 200
    me = await intake.http.get("/me", headers=rita)
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == "rita" and me.json()["roles"] == ["requester"]
    assert me.json()["reads_every_campaign"] is False
