"""List queries: filters, sort orders and cursor pagination, over HTTP."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

TODAY = dt.date.today()


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


def day(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


async def seed(intake, growth: str) -> dict[str, str]:
    """Six campaigns of one team in different states; returns title -> id."""
    rita = intake.as_("rita", "requester", team=growth)
    ids = {}
    specs = [
        ("Alpha 50% off", dict(channels=["email"], target_launch_date=day(40), flight_start=day(40)), "submit"),
        ("Beta webinars", dict(channels=["paid_social", "email"], target_launch_date=day(20), flight_start=day(20)),
         "submit"),
        ("Gamma_print", dict(channels=["print"], target_launch_date=day(60), flight_start=day(60), owner="olga"),
         "draft"),
        ("Delta video", dict(channels=["video"], target_launch_date=day(20), flight_start=day(20)), "cancel"),
        ("Epsilon events", dict(channels=["events", "email"], target_launch_date=day(90), flight_start=day(90)),
         "draft"),
    ]
    for title, fields, action in specs:
        brief = intake.complete_brief(title=title, **fields)
        brief["flight_end"] = day(200)
        campaign = await intake.create(rita, **brief)
        ids[title] = campaign["id"]
        if action in ("submit", "cancel"):
            assert (await intake.http.post(f"/campaigns/{campaign['id']}/submit", headers=rita)).status_code == 200
        if action == "cancel":
            assert (await intake.http.post(f"/campaigns/{campaign['id']}/cancel", headers=rita)).status_code == 200
    ids["No date"] = (await intake.create(rita, title="Zeta no date yet"))["id"]
    return ids


async def titles(intake, headers, **params) -> list[str]:
    response = await intake.http.get("/campaigns", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_filters(intake) -> None:
    growth = team()
    await seed(intake, growth)
    vic = intake.as_("vic", "viewer")

    async def q(**params) -> set[str]:
        return set(await titles(intake, vic, team=growth, limit=100, **params))

    assert len(await q()) == 6
    assert await q(status="submitted") == {"Alpha 50% off", "Beta webinars"}
    assert await q(status=["draft", "cancelled"]) == {"Gamma_print", "Epsilon events", "Zeta no date yet",
                                                      "Delta video"}
    assert await q(channel="email") == {"Alpha 50% off", "Beta webinars", "Epsilon events"}
    assert await q(owner="olga") == {"Gamma_print"}
    assert await q(target_from=day(20), target_to=day(40)) == {"Alpha 50% off", "Beta webinars", "Delta video"}
    assert await q(target_from=day(61)) == {"Epsilon events"}
    # Text search is a case-insensitive substring; LIKE wildcards are taken literally.
    assert await q(q="WEBINAR") == {"Beta webinars"}
    assert await q(q="50%") == {"Alpha 50% off"}
    assert await q(q="a_p") == {"Gamma_print"}
    assert await q(q="%") == {"Alpha 50% off"}
    assert await q(status="submitted", channel="paid_social", q="beta") == {"Beta webinars"}


async def test_requesters_list_only_their_team(intake) -> None:
    growth, brand = team(), team()
    await seed(intake, growth)
    await intake.create(intake.as_("bo", "requester", team=brand), title="Brand refresh")
    rita = intake.as_("rita", "requester", team=growth)
    mine = await titles(intake, rita, limit=100)
    assert "Brand refresh" not in mine and "Beta webinars" in mine
    assert await titles(intake, rita, team=brand) == []
    assert await titles(intake, intake.as_("vic", "viewer"), team=brand) == ["Brand refresh"]


@pytest.mark.parametrize(("sort", "expected"), [
    # TIE: Beta and Delta share a date; drafts without a date come last either way.
    ("target_launch_date", ["TIE", "Alpha 50% off", "Gamma_print", "Epsilon events", "Zeta no date yet"]),
    ("-target_launch_date", ["Epsilon events", "Gamma_print", "Alpha 50% off", "TIE", "Zeta no date yet"]),
])
async def test_sort_by_target_date_and_page_through_without_gaps(intake, sort, expected) -> None:
    growth = team()
    ids = await seed(intake, growth)
    vic = intake.as_("vic", "viewer")
    everything = await titles(intake, vic, team=growth, sort=sort, limit=100)
    # Ties are broken by id (in the direction of the sort), so the order is total.
    tied = sorted(["Beta webinars", "Delta video"], key=lambda t: ids[t], reverse=sort.startswith("-"))
    i = expected.index("TIE")
    assert everything == expected[:i] + tied + expected[i + 1:]
    assert await pages(intake, vic, team=growth, sort=sort, limit=2) == everything


async def pages(intake, headers, **params) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        response = await intake.http.get("/campaigns", params={**params, **({"cursor": cursor} if cursor else {})},
                                         headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= params["limit"]
        seen += [item["title"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_sort_by_last_change_and_pagination_is_stable_while_campaigns_change(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    created = [await intake.create(rita, title=f"C{i}") for i in range(5)]
    newest_first = await titles(intake, rita, team=growth, limit=100)
    assert newest_first == ["C4", "C3", "C2", "C1", "C0"]
    oldest_first = await titles(intake, rita, team=growth, sort="last_changed", limit=100)
    assert oldest_first == ["C0", "C1", "C2", "C3", "C4"]

    first = (await intake.http.get("/campaigns", params={"team": growth, "limit": 2}, headers=rita)).json()
    assert [i["title"] for i in first["items"]] == ["C4", "C3"]
    # Meanwhile a new campaign appears at the top; the next pages neither repeat nor skip.
    await intake.create(rita, title="C5")
    rest = []
    cursor = first["next_cursor"]
    while cursor:
        page = (await intake.http.get("/campaigns", params={"team": growth, "limit": 2, "cursor": cursor},
                                      headers=rita)).json()
        rest += [i["title"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert rest == ["C2", "C1", "C0"]

    # Editing a campaign is a change: it moves to the top.
    await intake.http.patch(f"/campaigns/{created[0]['id']}/brief", json={"notes": "touched"}, headers=rita)
    assert (await titles(intake, rita, team=growth, limit=1)) == ["C0"]


async def test_a_cursor_only_works_with_its_own_sort(intake) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    for i in range(3):
        await intake.create(rita, title=f"S{i}")
    page = (await intake.http.get("/campaigns", params={"team": growth, "limit": 1}, headers=rita)).json()
    mixed = await intake.http.get("/campaigns", params={"team": growth, "limit": 1, "sort": "target_launch_date",
                                                        "cursor": page["next_cursor"]}, headers=rita)
    assert mixed.status_code == 400
    assert mixed.json()["type"] == "/problems/invalid-cursor"
