"""The approval queue: due times from the SLA, overdue first, escalation past the SLA."""

from __future__ import annotations

import datetime as dt

import pytest

from marops_governance import gate_index

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUESTER, APPROVER, FINANCE, ADMIN = "rita", "alex", "finn", "ada"


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def queue_of(gov, who: str, *roles: str) -> list[dict]:
    response = await gov.client.get("/queue", headers=gov.as_(who, *roles))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_queue_orders_overdue_first_then_by_due_time_and_escalates(gov) -> None:
    t = gov.now().replace(microsecond=0)
    late, soon, later = gov.new_id("late"), gov.new_id("soon"), gov.new_id("later")
    await gov.submit(later, time=t - dt.timedelta(hours=1))
    await gov.submit(late, time=t - dt.timedelta(hours=72))
    await gov.submit(soon, time=t - dt.timedelta(hours=40))
    for cid in (late, soon, later):
        await gov.wait_campaign(cid)
    ours = {late, soon, later}

    items = [i for i in await queue_of(gov, APPROVER) if i["campaign_id"] in ours]
    assert [i["campaign_id"] for i in items] == [late, soon, later]
    assert [i["overdue"] for i in items] == [True, False, False]
    assert all(i["gate_id"] == "brief_review" and i["via"] == "decider" and i["can_approve"] for i in items)
    assert ts(items[0]["due_at"]) == t - dt.timedelta(hours=72) + dt.timedelta(hours=48)
    assert ts(items[1]["due_at"]) == t - dt.timedelta(hours=40) + dt.timedelta(hours=48)

    view = await gov.campaign(late)
    assert view["gates"][0]["overdue"] is True and view["gates"][0]["escalated_to"] == "ops_admin"
    assert (await gov.campaign(soon))["gates"][0]["escalated_to"] is None

    # Past its SLA the brief review reaches the escalation role (ops_admin), who may then decide it.
    escalated = [i for i in await queue_of(gov, ADMIN) if i["campaign_id"] in ours]
    assert [(i["campaign_id"], i["via"]) for i in escalated] == [(late, "escalation")]
    refused = await gov.decide(soon, "brief_review", ADMIN)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/no-decision-right"
    decided = await gov.decide(late, "brief_review", ADMIN)
    assert decided.status_code == 201, decided.text
    assert late not in {i["campaign_id"] for i in await queue_of(gov, APPROVER)}

    # Finance now has the budget gate of `late`, due 72h after the brief review was approved.
    budget = [i for i in await queue_of(gov, FINANCE) if i["campaign_id"] in ours]
    assert [(i["campaign_id"], i["gate_id"], i["overdue"]) for i in budget] == [(late, "budget_approval", False)]
    assert ts(budget[0]["due_at"]) == ts(decided.json()["decided_at"]) + dt.timedelta(hours=72)


async def test_queue_leaves_out_own_campaigns_and_flags_amounts_over_the_limit(gov) -> None:
    own, big = gov.new_id("own"), gov.new_id("big")
    await gov.submit(own, requester="rita")
    await gov.submit(big, amount="500000.00", requester="ryan", owner="oscar")
    await gov.wait_campaign(own)
    await gov.wait_campaign(big)
    # rita submitted `own`: as an approver she must not see it, but sees `big`.
    mine = {i["campaign_id"] for i in await queue_of(gov, REQUESTER, "approver")}
    assert own not in mine and big in mine

    assert (await gov.decide(big, "brief_review", APPROVER)).status_code == 201
    [item] = [i for i in await queue_of(gov, FINANCE) if i["campaign_id"] == big]
    assert item["can_approve"] is False and item["requested"] == {"amount": "500000.00", "currency": "EUR"}
    assert big not in {i["campaign_id"] for i in await queue_of(gov, "vic", "viewer")}


async def test_the_queue_pages_through_a_cursor_in_its_order(gov) -> None:
    t = gov.now().replace(microsecond=0)
    ids = [gov.new_id("page") for _ in range(7)]
    for n, cid in enumerate(ids):  # one overdue, the rest due one hour apart
        await gov.submit(cid, time=t - dt.timedelta(hours=60 if n == 0 else 40 - n))
    for cid in ids:
        await gov.wait_campaign(cid)
    as_of, whole = await gov.queue_pages(APPROVER, limit=500)
    as_of_paged, paged = await gov.queue_pages(APPROVER, limit=3)
    assert paged == whole and len(whole) == len(set(whole))
    assert [cid for cid, _ in whole if cid in ids] == ids
    assert paged == await gov.queue_derived(APPROVER, as_of=as_of_paged)

    ahead = gate_index.QueueCursor(gov.now() + dt.timedelta(days=3), t, ids[0]).encode()  # would show gates overdue
    for cursor in ("not-a-cursor", "W10", "eyJ4Ijox", ahead):
        refused = await gov.client.get("/queue", params={"cursor": cursor}, headers=gov.as_(APPROVER))
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "/problems/invalid-cursor"
    for limit in ("0", "501", "x"):
        assert (await gov.client.get("/queue", params={"limit": limit}, headers=gov.as_(APPROVER))).status_code == 422


async def test_everyones_queue_agrees_with_deriving_every_campaign(gov) -> None:
    await gov.assert_queues_agree()
