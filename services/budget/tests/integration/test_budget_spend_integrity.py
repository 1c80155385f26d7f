"""Spend integrity, written as the attacks: a service account recording for a system it does not
speak for, and corrections of spend that does not exist, is elsewhere, or would go below zero."""

from __future__ import annotations

from typing import Any

import pytest
from budget_harness import Harness, uid

pytestmark = pytest.mark.asyncio(loop_scope="module")


RUN = uid("run")  # the harness (and its ledger) is shared by the module: references are unique to this file


def spend(campaign: str, reference: str, amount: str, *, system: str = "google-ads", currency: str = "EUR",
          corrects: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"campaign_id": campaign, "source_system": system, "source_reference": f"{RUN}-{reference}",
                            "amount": {"amount": amount, "currency": currency}, "incurred_on": "2026-03-05"}
    if corrects:
        body["corrects_reference"] = f"{RUN}-{corrects}"
    return body


async def total(h: Harness, campaign: str) -> int:
    return await h.db.fetchval("SELECT count(*) FROM spends WHERE campaign_id = $1", campaign)


async def test_a_service_account_records_only_for_the_systems_its_token_names(harness: Harness) -> None:
    h = harness
    campaign = uid("cmp")
    gads = h.service_account("gads-bridge", "google-ads")
    forged = await h.client.post("/spend", json=spend(campaign, "erp-1", "999.00", system="erp"), headers=gads)
    assert forged.status_code == 403, forged.text
    assert forged.headers["content-type"] == "application/problem+json"
    nothing = await h.client.post("/spend", json=spend(campaign, "g-0", "1.00"), headers=h.auth("bot", "service"))
    assert nothing.status_code == 403  # a service token naming no system records for none
    assert await total(h, campaign) == 0
    own = await h.client.post("/spend", json=spend(campaign, "g-1", "10.00"), headers=gads)
    assert own.status_code == 201, own.text
    # finance people record for any source (manual entries, corrections on behalf of a system)
    manual = await h.client.post("/spend", json=spend(campaign, "po-1", "5.00", system="finance-manual"),
                                 headers=h.finance)
    assert manual.status_code == 201, manual.text


async def test_a_correction_must_name_a_spend_of_the_campaign_in_its_currency(harness: Harness) -> None:
    h = harness
    campaign, elsewhere = uid("cmp"), uid("cmp")
    for body in (spend(campaign, "inv-1", "100.00"), spend(elsewhere, "inv-x", "100.00")):
        assert (await h.client.post("/spend", json=body, headers=h.finance)).status_code == 201
    attacks = {
        "names nothing": spend(campaign, "ref-1", "-50.00", corrects="never-recorded"),
        "another campaign's spend": spend(campaign, "ref-2", "-50.00", corrects="inv-x"),
        "another currency": spend(campaign, "ref-3", "-50.00", currency="USD", corrects="inv-1"),
        "another system's reference": spend(campaign, "ref-4", "-50.00", system="meta-ads", corrects="inv-1"),
    }
    for what, body in attacks.items():
        response = await h.client.post("/spend", json=body, headers=h.finance)
        assert response.status_code == 422, (what, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await total(h, campaign) == 1


async def test_corrections_never_take_a_spend_below_zero(harness: Harness) -> None:
    h = harness
    campaign = uid("cmp")
    assert (await h.client.post("/spend", json=spend(campaign, "inv-3", "100.00"), headers=h.finance)).status_code \
        == 201
    too_much = await h.client.post("/spend", json=spend(campaign, "refund-0", "-100.01", corrects="inv-3"),
                                   headers=h.finance)
    assert too_much.status_code == 422, too_much.text
    first = await h.client.post("/spend", json=spend(campaign, "refund-1", "-60.00", corrects="inv-3"),
                                headers=h.finance)
    assert first.status_code == 201, first.text
    # 60 already refunded: another 60 would leave -20
    second = await h.client.post("/spend", json=spend(campaign, "refund-2", "-60.00", corrects="inv-3"),
                                 headers=h.finance)
    assert second.status_code == 422, second.text
    rest = await h.client.post("/spend", json=spend(campaign, "refund-3", "-40.00", corrects="inv-3"),
                               headers=h.finance)
    assert rest.status_code == 201, rest.text
    # re-sending a correction already recorded is a re-send, not a new correction
    again = await h.client.post("/spend", json=spend(campaign, "refund-1", "-60.00", corrects="inv-3"),
                                headers=h.finance)
    assert again.status_code == 200 and again.json()["already_recorded"] is True
    remaining = await h.db.fetchval("SELECT sum(amount) FROM spends WHERE campaign_id = $1", campaign)
    assert remaining == 0
