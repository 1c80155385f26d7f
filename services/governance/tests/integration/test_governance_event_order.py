"""Consumed events in any order and any number of times end in the same state."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from marops_events import contracts as c
from marops_events import registry
from marops_testkit import read_topic, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

APPROVER, FINANCE, OWNER = "alex", "finn", "olga"


def facts(gov, cid: str, t0: dt.datetime) -> list:
    """One campaign's consumed events in business order: (payload, time, source)."""
    money = c.Money(amount=Decimal("25000.00"), currency="EUR")
    smaller = c.Money(amount=Decimal("18000.00"), currency="EUR")
    at = lambda minutes: t0 + dt.timedelta(minutes=minutes)  # noqa: E731
    return [
        (gov.brief(cid, 1, channels=("paid_social",)), at(0), "marops/intake"),
        (c.BudgetReserved(campaign_id=cid, brief_version=1, budget_line_id="line-1", amount=money), at(1),
         "marops/budget"),
        (gov.brief(cid, 2, amount="18000.00", channels=("paid_social",)), at(30), "marops/intake"),
        (c.BudgetReservationRejected(campaign_id=cid, brief_version=2, budget_line_id="line-1", requested=smaller,
                                     reason_code="insufficient_funds", reason="not enough on line-1"), at(31),
         "marops/budget"),
        (c.BudgetReserved(campaign_id=cid, brief_version=2, budget_line_id="line-1", amount=smaller), at(45),
         "marops/budget"),
    ]


def normalised(value: object, cid: str) -> object:
    text = json.dumps(value, sort_keys=True, default=str).replace(cid, "<campaign>")
    return json.loads(text)


async def state(gov, cid: str) -> dict:
    view = await gov.campaign(cid)
    readiness = (await gov.get(f"/campaigns/{cid}/readiness")).json()
    audit = (await gov.get(f"/campaigns/{cid}/audit")).json()["items"]
    for entry in audit:
        entry.pop("id")
        entry["details"].pop("event_id", None)  # which duplicate was kept first may differ
    raci = (await gov.get(f"/campaigns/{cid}/raci")).json()
    return normalised({"view": view, "readiness": readiness, "audit": audit, "raci": raci}, cid)  # type: ignore


async def test_out_of_order_and_duplicated_events_reach_the_same_state(gov) -> None:
    t0 = (gov.now() - dt.timedelta(hours=3)).replace(microsecond=0)
    in_order, shuffled = gov.new_id("ordered"), gov.new_id("shuffled")

    for payload, time, source in facts(gov, in_order, t0):
        await gov.publish(payload, time=time, source=source)

    # Reversed (BudgetReserved before its BriefSubmitted, v2 before v1), and every event twice:
    # once redelivered with the same id, once re-sent as a new event carrying the same fact.
    shuffled_ids = []
    for payload, time, source in reversed(facts(gov, shuffled, t0)):
        event = registry.new_event(payload, source=source, time=time)
        await gov.send(event)
        await gov.send(event)
        shuffled_ids += [event.id, (await gov.publish(payload, time=time, source=source)).id]

    async def all_facts_recorded(cid: str) -> bool:
        response = await gov.get(f"/campaigns/{cid}/audit")
        return response.status_code == 200 and sorted(e["action"] for e in response.json()["items"]) == [
            "budget_reservation_rejected", "budget_reserved", "budget_reserved", "gates_opened", "gates_opened"]

    async def all_events_consumed() -> bool:
        rows = await gov.fetch("SELECT count(*) AS n FROM inbox WHERE event_id = ANY($1::uuid[])", shuffled_ids)
        return rows[0]["n"] == len(shuffled_ids) == 10

    await wait_for(lambda: all_facts_recorded(in_order))
    await wait_for(all_events_consumed)
    await wait_for(lambda: all_facts_recorded(shuffled))
    expected = await state(gov, in_order)
    assert await state(gov, shuffled) == expected

    view = expected["view"]
    assert view["brief_version"] == 2 and view["status"] == "in_review"
    assert view["budget"]["reservation"]["status"] == "reserved"
    assert view["requested"] == {"amount": "18000.00", "currency": "EUR"}
    assert [v["version"] for v in view["versions"]] == [1, 2]
    assert [g["status"] for g in view["gates"]] == ["open", "waiting", "waiting", "waiting"]
    assert (await gov.fetch("SELECT count(*) AS n FROM brief_versions WHERE campaign_id = $1", shuffled))[0]["n"] == 2

    # The same decisions succeed on both and publish the same facts.
    for cid in (in_order, shuffled):
        assert (await gov.decide(cid, "brief_review", APPROVER, version=2)).status_code == 201
        approved = await gov.decide(cid, "budget_approval", FINANCE, version=2)
        assert approved.status_code == 201, approved.text
    a = [e["data"] for e in await gov.published("GateApproved", in_order, count=2)]
    b = [e["data"] for e in await gov.published("GateApproved", shuffled, count=2)]
    for x, y in zip(a, b, strict=True):
        for volatile in ("campaign_id", "actionable_at"):
            x.pop(volatile), y.pop(volatile)
    assert a == b and [d["gate_id"] for d in a] == ["brief_review", "budget_approval"]


async def test_a_cancellation_before_its_submission_still_closes_the_gates(gov) -> None:
    cid = gov.new_id()
    await gov.publish(c.CampaignCancelled(campaign_id=cid, cancelled_by=OWNER, reason="dropped"),
                      source="marops/intake")
    await gov.submit(cid)
    view = await gov.wait_campaign(cid)
    assert view["status"] == "cancelled"
    assert {g["status"] for g in view["gates"]} == {"closed"}
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 409


async def test_imported_history_opens_no_gates(gov) -> None:
    historical, live = gov.new_id("hist"), gov.new_id("live")
    event = registry.new_event(gov.brief(historical), source="marops/import/csv",
                               time=gov.now() - dt.timedelta(days=200))
    assert event.is_historical
    await gov.send(event)
    reservation = await gov.publish(c.BudgetReserved(campaign_id=historical, brief_version=1, budget_line_id="l",
                                       amount=c.Money(amount=Decimal("1"), currency="EUR")),
                      source="marops/import/csv")
    await gov.submit(live)
    await gov.wait_campaign(live)

    async def consumed() -> bool:
        rows = await gov.fetch("SELECT count(*) AS n FROM inbox WHERE event_id = ANY($1::uuid[])",
                               [event.id, reservation.id])
        return rows[0]["n"] == 2

    await wait_for(consumed)
    assert (await gov.get(f"/campaigns/{historical}")).status_code == 404
    assert (await gov.fetch("SELECT count(*) AS n FROM budget_facts WHERE campaign_id = $1", historical))[0]["n"] == 0
    queue = (await gov.get("/queue", APPROVER)).json()["items"]
    assert historical not in {i["campaign_id"] for i in queue}
    assert live in {i["campaign_id"] for i in queue}


async def test_events_governance_can_never_store_are_dead_lettered_and_the_rest_applies(gov) -> None:
    nul, huge, fine = gov.new_id("nul"), gov.new_id("huge"), gov.new_id("fine")
    poisoned = gov.brief(nul).model_copy(update={"title": "bad \x00 title"})
    await gov.publish(poisoned, source="marops/intake")
    await gov.submit(huge, amount="1e20")
    await gov.submit(fine)
    await gov.wait_campaign(fine)

    async def dead_letters() -> list:
        records = await read_topic(gov.settings.kafka_bootstrap_servers, gov.topic("BriefSubmitted") + ".dlq",
                                   count=2, timeout=5)
        reasons = {json.loads(r.value)["subject"]: dict(r.headers)["dlq.reason"].decode() for r in records}
        return reasons if {nul, huge} <= set(reasons) else []

    reasons = await wait_for(dead_letters)
    assert "NUL character" in reasons[nul]
    assert "amount must be between" in reasons[huge]
    for cid in (nul, huge):
        assert (await gov.get(f"/campaigns/{cid}")).status_code == 404


async def test_everyones_queue_agrees_with_deriving_every_campaign(gov) -> None:
    await gov.assert_queues_agree()
