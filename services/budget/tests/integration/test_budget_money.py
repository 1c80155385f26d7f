"""Money leaves budget in one form: JSON, CSV, the ledger, reports and events.

The bug report: a line of "20000" came back as "2E+4" (and "0" beside "0.00"); "1e5",
"1_000" and Arabic-Indic digits were accepted; "XYZ" created a line.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from budget_harness import Harness, brief_submitted, gate_approved, uid

from marops_events.money import format_amount

pytestmark = pytest.mark.asyncio(loop_scope="module")


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


async def test_a_line_of_twenty_thousand_reads_twenty_thousand_point_zero_zero(harness: Harness) -> None:
    h = harness
    line = await h.create_line("20000")
    assert line["amount"] == money("20000.00")
    assert line["reserved"] == line["committed"] == line["spent"] == money("0.00")
    assert (await h.line(line["id"]))["available"] == money("20000.00")

    campaign = uid("cmp")
    events = [brief_submitted(campaign, line["id"], "10000"), gate_approved(campaign)]
    await h.publish(*events)
    await h.processed(*events)
    [reserved] = await h.published_exactly("BudgetReserved", campaign)
    [committed] = await h.published_exactly("BudgetCommitted", campaign)
    assert reserved["data"]["amount"] == committed["data"]["amount"] == money("10000.00")

    spent = await h.client.post("/spend", headers=h.finance, json={
        "campaign_id": campaign, "source_system": "erp", "source_reference": uid("inv"),
        "amount": money("10000"), "incurred_on": "2026-03-05"})
    assert spent.status_code == 201, spent.text
    assert spent.json()["amount"] == money("10000.00")
    [event] = await h.published_exactly("SpendRecorded", campaign)
    assert event["data"]["amount"] == money("10000.00")

    view = await h.campaign(campaign, as_of="2026-03-10")
    assert (view["committed"], view["spent"], view["remaining"], view["variance"]) == (
        money("10000.00"), money("10000.00"), money("0.00"), money("0.00"))

    ledger = (await h.client.get("/spend", params={"campaign_id": campaign}, headers=h.viewer)).json()
    assert ledger["items"][0]["amount"] == money("10000.00")
    assert ledger["totals"] == [{"currency": "EUR", "total": "10000.00", "entries": 1}]
    exported = await h.client.get("/spend", params={"campaign_id": campaign, "format": "csv"}, headers=h.viewer)
    assert [r["amount"] for r in csv.DictReader(io.StringIO(exported.text))] == ["10000.00"]

    monthly = (await h.client.get("/reports/monthly", params={"budget_line_id": line["id"]},
                                  headers=h.viewer)).json()
    assert [(m["spent"], m["cumulative_spent"], m["line_amount"]) for m in monthly] == [
        (money("10000.00"), money("10000.00"), money("20000.00"))]
    exported = await h.client.get("/reports/monthly", params={"budget_line_id": line["id"], "format": "csv"},
                                  headers=h.viewer)
    assert [(r["spent"], r["line_amount"]) for r in csv.DictReader(io.StringIO(exported.text))] == [
        ("10000.00", "20000.00")]
    lines = await h.client.get("/budget-lines", params={"format": "csv"}, headers=h.viewer)
    [row] = [r for r in csv.DictReader(io.StringIO(lines.text)) if r["id"] == line["id"]]
    assert (row["amount"], row["committed"], row["spent"], row["available"]) == (
        "20000.00", "10000.00", "10000.00", "10000.00")


async def test_minor_units_follow_the_currency(harness: Harness) -> None:
    yen = await harness.create_line("1500000", "JPY")
    assert yen["amount"] == money("1500000", "JPY") and yen["spent"] == money("0", "JPY")
    dinar = await harness.create_line("12.5", "KWD")
    assert dinar["amount"] == money("12.500", "KWD")


@pytest.mark.parametrize("amount", ["1e5", "1E+5", "1_000", "١٢٣", "1,000", " 100", "+100"])
async def test_amounts_other_than_plain_ascii_decimals_are_refused(harness: Harness, amount: str) -> None:
    line = uid("line")
    response = await harness.client.post("/budget-lines", headers=harness.finance, json={
        "id": line, "fiscal_year": 2026, "quarter": 1, "team": "growth", "channel": "email",
        "amount": money(amount)})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in response.json()["errors"]] == ["body.amount.amount"]
    assert (await harness.client.get(f"/budget-lines/{line}", headers=harness.viewer)).status_code == 404


@pytest.mark.parametrize("currency", ["XYZ", "XXX", "XAU", "eur"])
async def test_currencies_outside_iso_4217_are_refused(harness: Harness, currency: str) -> None:
    response = await harness.client.post("/budget-lines", headers=harness.finance, json={
        "id": uid("line"), "fiscal_year": 2026, "quarter": 1, "team": "growth", "channel": "email",
        "amount": money("100", currency)})
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["body.amount.currency"]


async def test_amounts_from_a_cent_to_ten_to_the_fourteenth_round_trip_through_every_budget_route(
        harness: Harness) -> None:
    h = harness
    amount = Decimal("0.01")
    while amount <= Decimal(10) ** 14:
        text = format_amount(amount, "EUR")
        spare = await h.create_line(text)  # the other side of a reallocation
        line = await h.create_line(format_amount(amount * 3, "EUR"))
        assert line["amount"] == money(format_amount(amount * 3, "EUR"))
        moved = await h.client.post("/reallocations", headers=h.finance, json={
            "from_line_id": line["id"], "to_line_id": spare["id"], "amount": money(text), "reason": "rebalance"})
        assert moved.status_code == 201, moved.text
        assert moved.json()["amount"] == money(text)
        [realloc] = await h.published_exactly("BudgetReallocated", line["id"])
        assert realloc["data"]["amount"] == money(text)
        adjusted = await h.client.post(f"/budget-lines/{spare['id']}/adjustments", headers=h.finance,
                                       json={"amount": money(format_amount(amount * 4, "EUR")), "reason": "more"})
        assert adjusted.json()["amount"] == money(format_amount(amount * 4, "EUR")), adjusted.text
        history = (await h.client.get(f"/budget-lines/{spare['id']}/history", headers=h.viewer)).json()
        assert [c["delta"]["amount"] for c in history] == [text, text, format_amount(amount * 2, "EUR")]

        campaign = uid("cmp")
        events = [brief_submitted(campaign, line["id"], text), gate_approved(campaign)]
        await h.publish(*events)
        await h.processed(*events)
        [reserved] = await h.published_exactly("BudgetReserved", campaign)
        [committed] = await h.published_exactly("BudgetCommitted", campaign)
        assert reserved["data"]["amount"] == committed["data"]["amount"] == money(text)
        spend = await h.client.post("/spend", headers=h.finance, json={
            "campaign_id": campaign, "source_system": "erp", "source_reference": uid("inv"),
            "amount": money(text), "incurred_on": "2026-03-05"})
        assert spend.status_code == 201, spend.text
        assert spend.json()["amount"] == money(text)
        [spent] = await h.published_exactly("SpendRecorded", campaign)
        assert spent["data"]["amount"] == money(text)
        view = await h.campaign(campaign, as_of="2026-03-10")
        assert view["committed"] == view["spent"] == money(text)
        assert (await h.line(line["id"]))["spent"] == money(text)
        amount *= 10
