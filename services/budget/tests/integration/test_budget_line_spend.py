"""Each campaign's spend on each line is kept as it happens (``campaign_line_spend``, read by
the threshold check and the run-out forecast after every spend), and a line's is the sum of
its campaigns' (``line_spent``): whatever moves a spend onto a line or off it keeps both
equal to what the ledger adds up to, which the line's balance still derives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from budget_harness import (
    Harness,
    brief_submitted,
    campaign_line_spend_disagreements,
    line_spend_disagreements,
    spend_recorded,
    uid,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def spend(campaign: str, reference: str, amount: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "source_system": "erp", "source_reference": reference,
            "amount": {"amount": amount, "currency": currency}, "incurred_on": "2026-03-05", **extra}


async def kept(h: Harness, *line_ids: str) -> list[Decimal]:
    return [await h.db.fetchval("SELECT line_spent($1)", line_id) for line_id in line_ids]


async def kept_by_campaign(h: Harness, campaign: str) -> dict[str, Decimal]:
    return {r["line_id"]: r["spent"] for r in await h.db.fetch(
        "SELECT line_id, spent FROM campaign_line_spend WHERE campaign_id = $1 AND spent <> 0", campaign)}


async def test_a_lines_kept_spend_follows_every_move_of_its_ledger(harness: Harness) -> None:
    h = harness
    l1, l2 = (await h.create_line("1000.00"))["id"], (await h.create_line("1000.00"))["id"]
    usd = (await h.create_line("1000.00", "USD"))["id"]
    campaign = uid("cmp")
    brief = brief_submitted(campaign, l1, "100.00")
    await h.publish(brief)
    await h.processed(brief)

    async def record(body: dict[str, Any]) -> dict[str, Any]:
        response = await h.client.post("/spend", json=body, headers=h.finance)
        assert response.status_code == 201, response.text
        return response.json()

    async def unreconciled(reference: str, amount: str) -> int:
        # from Kafka: spend the API would refuse is kept for finance to resolve
        event = spend_recorded(campaign, reference, amount, "USD", source_system="erp")
        await h.publish(event)
        await h.processed(event)
        return await h.db.fetchval("SELECT id FROM spends WHERE source_system = 'erp' AND source_reference = $1",
                                   reference)

    await record(spend(campaign, "inv-1", "10.00"))  # on its campaign's line
    await record(spend(campaign, "inv-2", "5.00", budget_line_id=l2))  # naming a line of its own
    in_usd = await unreconciled("inv-3", "7.00")  # the campaign's line is in EUR: not counted
    assert await kept(h, l1, l2, usd) == [Decimal("10.00"), Decimal("5.00"), 0]
    assert await kept_by_campaign(h, campaign) == {l1: Decimal("10.00"), l2: Decimal("5.00")}

    # spend naming a line that does not exist yet counts once the line is created
    later = f"line-{uid('later')}"
    early = uid("cmp")
    await record(spend(early, "inv-4", "50.00", budget_line_id=later))
    assert await kept_by_campaign(h, early) == {}
    await h.create_line("1000.00", id=later)
    assert await kept(h, later) == [Decimal("50.00")]
    assert await kept_by_campaign(h, early) == {later: Decimal("50.00")}

    # the campaign moves to another line: its spend that names no line moves with it
    moved = brief_submitted(campaign, l2, "100.00", version=2)
    await h.publish(moved)
    await h.processed(moved)
    assert await kept(h, l1, l2) == [0, Decimal("15.00")]
    assert await kept_by_campaign(h, campaign) == {l2: Decimal("15.00")}

    # finance books the dollar spend on the dollar line, and excludes another
    booked = await h.client.post(f"/spend/{in_usd}/resolution", headers=h.finance,
                                 json={"resolution": "booked", "budget_line_id": usd, "reason": "US invoice"})
    assert booked.status_code == 200, booked.text
    other = await unreconciled("inv-5", "3.00")
    excluded = await h.client.post(f"/spend/{other}/resolution", headers=h.finance,
                                   json={"resolution": "excluded", "reason": "not marketing's"})
    assert excluded.status_code == 200, excluded.text
    assert await kept(h, l1, l2, usd) == [0, Decimal("15.00"), Decimal("7.00")]
    assert (await h.line(usd))["spent"] == {"amount": "7.00", "currency": "USD"}
    assert await kept_by_campaign(h, campaign) == {l2: Decimal("15.00"), usd: Decimal("7.00")}
    assert await line_spend_disagreements(h.db) == []
    assert await campaign_line_spend_disagreements(h.db) == []


async def test_spends_of_two_campaigns_on_one_line_do_not_wait_for_each_other(harness: Harness) -> None:
    # Keeping the line's spend must not lock anything the line's other campaigns need: a
    # spend's transaction holds its own campaign's rows, and the forecast's lock only at its end.
    h = harness
    line = (await h.create_line("1000.00"))["id"]
    first, second = uid("cmp"), uid("cmp")
    for campaign in (first, second):
        brief = brief_submitted(campaign, line, "100.00")
        await h.publish(brief)
        await h.processed(brief)
    insert = """
        INSERT INTO spends (source_system, source_reference, campaign_id, amount, currency, incurred_on,
                            origin, event_id, occurred_at)
        VALUES ('erp', $1, $2, 10, 'EUR', DATE '2026-03-05', 'api', gen_random_uuid(), now())"""
    async with h.db.acquire() as a, h.db.acquire() as b:
        async with a.transaction():
            await a.execute(insert, uid("inv"), first)  # not committed yet
            async with b.transaction():
                await b.execute("SET LOCAL lock_timeout = '2s'")
                await b.execute(insert, uid("inv"), second)  # waited for the first before
    assert await kept(h, line) == [Decimal("20")]
    assert await line_spend_disagreements(h.db) == []
