"""The plan over HTTP: budget lines, adjustments, reallocations, their history and exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from budget_harness import Harness, brief_submitted, gate_approved, uid

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def line_body(**fields: Any) -> dict[str, Any]:
    return {"id": uid("line"), "name": "Search Q1", "fiscal_year": 2026, "quarter": 1, "team": "growth",
            "channel": "paid_search", "amount": money("1000.00"), **fields}


async def holding(h: Harness, line_id: str, reserved: str, committed: str) -> None:
    """Give the line one reserved and one committed campaign."""
    a, b = uid("cmp"), uid("cmp")
    events = [brief_submitted(a, line_id, reserved), brief_submitted(b, line_id, committed), gate_approved(b)]
    await h.publish(*events)
    await h.processed(*events)


async def test_finance_creates_lines_that_show_their_balances(harness: Harness) -> None:
    h = harness
    body = line_body()
    created = await h.client.post("/budget-lines", json=body, headers=h.finance)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/budget-lines/{body['id']}"
    line = created.json()
    assert {k: line[k] for k in ("id", "name", "fiscal_year", "quarter", "team", "channel", "currency",
                                 "created_by")} == {
        "id": body["id"], "name": "Search Q1", "fiscal_year": 2026, "quarter": 1, "team": "growth",
        "channel": "paid_search", "currency": "EUR", "created_by": "fiona"}
    assert [line[k] for k in ("amount", "reserved", "committed", "spent", "available")] == [
        money("1000.00"), money("0.00"), money("0.00"), money("0.00"), money("1000.00")]
    assert (await h.line(body["id"]))["amount"] == money("1000.00")

    generated = await h.client.post("/budget-lines", json={k: v for k, v in body.items() if k != "id"},
                                    headers=h.auth("ada", "ops_admin"))
    assert generated.status_code == 201
    assert generated.json()["id"].startswith("bl-")

    duplicate = await h.client.post("/budget-lines", json=body, headers=h.finance)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM


async def test_creating_a_line_is_idempotent_with_a_key(harness: Harness) -> None:
    h = harness
    body = line_body()
    headers = {**h.finance, "Idempotency-Key": f"create-{body['id']}"}
    first = await h.client.post("/budget-lines", json=body, headers=headers)
    again = await h.client.post("/budget-lines", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    reused = await h.client.post("/budget-lines", json={**body, "amount": money("2.00")}, headers=headers)
    assert reused.status_code == 409
    history = (await h.client.get(f"/budget-lines/{body['id']}/history", headers=h.viewer)).json()
    assert [c["kind"] for c in history] == ["created"]


async def test_line_reads_and_writes_check_roles(harness: Harness) -> None:
    h = harness
    for who in (h.viewer, h.auth("rita", "requester"), h.auth("alan", "approver"), h.auth("erp", "service")):
        assert (await h.client.post("/budget-lines", json=line_body(), headers=who)).status_code == 403
    assert (await h.client.post("/budget-lines", json=line_body())).status_code == 401
    line = await h.create_line()
    for who in (h.viewer, h.auth("rita", "requester"), h.auth("alan", "approver"), h.finance):
        assert (await h.client.get(f"/budget-lines/{line['id']}", headers=who)).status_code == 200
    adjust = {"amount": money("10.00"), "reason": "cut"}
    denied = await h.client.post(f"/budget-lines/{line['id']}/adjustments", json=adjust, headers=h.viewer)
    assert denied.status_code == 403
    move = {"from_line_id": line["id"], "to_line_id": line["id"], "amount": money("1.00"), "reason": "x"}
    assert (await h.client.post("/reallocations", json=move, headers=h.viewer)).status_code == 403


@pytest.mark.parametrize("change", [
    {"quarter": 5}, {"fiscal_year": 1999}, {"channel": "telepathy"}, {"amount": money("-1.00")},
    {"amount": {"amount": 1000.0, "currency": "EUR"}}, {"amount": money("1e16")}, {"amount": money("1", "eu")},
    {"id": "has spaces"}, {"id": "x" * 101}, {"team": ""}, {"reserved": money("5.00")}, {"fiscal_year": "2026x"},
    {"fiscal_year": 10**30}, {"team": "gro\u0000wth"}, {"name": "\u0000"},
])
async def test_invalid_lines_are_refused_with_field_details(harness: Harness, change: dict[str, Any]) -> None:
    response = await harness.client.post("/budget-lines", json=line_body(**change), headers=harness.finance)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_unknown_and_odd_line_ids_are_404_not_errors(harness: Harness) -> None:
    h = harness
    for line_id in ("no-such-line", "%20", "a" * 200, "ünïcode"):
        response = await h.client.get(f"/budget-lines/{line_id}", headers=h.viewer)
        assert response.status_code == 404, (line_id, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (await h.client.get("/budget-lines/" + "a" * 201, headers=h.viewer)).status_code == 422
    assert (await h.client.get("/budget-lines/a%00b", headers=h.viewer)).status_code == 422
    adjust = await h.client.post("/budget-lines/no-such-line/adjustments",
                                 json={"amount": money("1.00"), "reason": "x"}, headers=h.finance)
    assert adjust.status_code == 404
    assert (await h.client.get("/budget-lines/no-such-line/history", headers=h.viewer)).status_code == 404


async def test_adjustments_never_go_below_what_a_line_holds(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    await holding(h, line["id"], reserved="300.00", committed="200.00")
    url = f"/budget-lines/{line['id']}/adjustments"

    too_low = await h.client.post(url, json={"amount": money("499.99"), "reason": "cut"}, headers=h.finance)
    assert too_low.status_code == 409
    assert "500.00" in too_low.json()["detail"]
    wrong_currency = await h.client.post(url, json={"amount": money("800.00", "USD"), "reason": "x"},
                                         headers=h.finance)
    assert wrong_currency.status_code == 422
    no_reason = await h.client.post(url, json={"amount": money("800.00")}, headers=h.finance)
    assert no_reason.status_code == 422
    assert (await h.line(line["id"]))["amount"] == money("1000.00")

    lowered = await h.client.post(url, json={"amount": money("500.00"), "reason": "Q1 cut"}, headers=h.finance)
    assert lowered.status_code == 200, lowered.text
    assert (lowered.json()["amount"], lowered.json()["available"]) == (money("500.00"), money("0.00"))
    raised = await h.client.post(url, json={"amount": money("1200.00"), "reason": "top-up"}, headers=h.finance)
    assert raised.json()["available"] == money("700.00")

    history = (await h.client.get(f"/budget-lines/{line['id']}/history", headers=h.viewer)).json()
    assert [(c["kind"], c["delta"]["amount"], c["amount_after"]["amount"], c["reason"]) for c in history] == [
        ("created", "1000.00", "1000.00", None), ("adjusted", "-500.00", "500.00", "Q1 cut"),
        ("adjusted", "700.00", "1200.00", "top-up")]


async def test_reallocation_moves_money_with_a_reason_and_publishes_it(harness: Harness) -> None:
    h = harness
    source, target = await h.create_line("1000.00"), await h.create_line("200.00")
    await holding(h, source["id"], reserved="300.00", committed="200.00")
    move = {"from_line_id": source["id"], "to_line_id": target["id"], "amount": money("450.00"),
            "reason": "search outperforms display"}
    headers = {**h.finance, "Idempotency-Key": f"move-{source['id']}"}
    moved = await h.client.post("/reallocations", json=move, headers=headers)
    assert moved.status_code == 201, moved.text
    replay = await h.client.post("/reallocations", json=move, headers=headers)
    assert replay.json() == moved.json()  # the retry moved nothing more
    assert (await h.line(source["id"]))["amount"] == money("550.00")
    assert (await h.line(target["id"]))["amount"] == money("650.00")

    [event] = await h.published_exactly("BudgetReallocated", source["id"])
    assert event["data"] == {"from_line_id": source["id"], "to_line_id": target["id"],
                             "amount": money("450.00"), "reason": "search outperforms display",
                             "reallocated_by": "fiona"}
    listed = (await h.client.get("/reallocations", params={"budget_line_id": target["id"]},
                                 headers=h.viewer)).json()
    assert [(r["id"], r["reason"], r["reallocated_by"]) for r in listed] == [
        (moved.json()["id"], "search outperforms display", "fiona")]
    history = (await h.client.get(f"/budget-lines/{target['id']}/history", headers=h.viewer)).json()
    assert [(c["kind"], c["delta"]["amount"], c["reallocation_id"]) for c in history] == [
        ("created", "200.00", None), ("reallocated_in", "450.00", moved.json()["id"])]


async def test_reallocation_refusals_change_nothing(harness: Harness) -> None:
    h = harness
    source, target = await h.create_line("1000.00"), await h.create_line("200.00")
    dollars = await h.create_line("500.00", "USD")
    await holding(h, source["id"], reserved="300.00", committed="200.00")

    def move(**fields: Any) -> dict[str, Any]:
        return {"from_line_id": source["id"], "to_line_id": target["id"], "amount": money("100.00"),
                "reason": "rebalance", **fields}

    refusals = [
        (move(amount=money("500.01")), 409),  # below reserved + committed (500)
        (move(to_line_id=dollars["id"]), 422),
        (move(amount=money("100.00", "USD")), 422),
        (move(to_line_id=source["id"]), 422),
        (move(to_line_id="no-such-line"), 422),
        (move(amount=money("0.00")), 422),
        (move(amount=money("-5.00")), 422),
        (move(reason=""), 422),
        ({k: v for k, v in move().items() if k != "reason"}, 422),
    ]
    for body, status in refusals:
        response = await h.client.post("/reallocations", json=body, headers=h.finance)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (await h.line(source["id"]))["amount"] == money("1000.00")
    assert (await h.line(target["id"]))["amount"] == money("200.00")
    assert await h.outbox("BudgetReallocated", source["id"]) == []
    exact = await h.client.post("/reallocations", json=move(amount=money("500.00")), headers=h.finance)
    assert exact.status_code == 201
    assert (await h.line(source["id"]))["available"] == money("0.00")


async def test_line_balances_filter_and_export_as_csv(harness: Harness) -> None:
    h = harness
    team = uid("team")
    social = await h.create_line("300.00", team=team, channel="paid_social", quarter=2)
    search = await h.create_line("700.00", team=team, channel="paid_search", quarter=2)
    await holding(h, search["id"], reserved="100.00", committed="50.00")
    listed = (await h.client.get("/budget-lines", params={"team": team}, headers=h.viewer)).json()
    assert [line["id"] for line in listed] == [search["id"], social["id"]]  # ordered by channel
    only_social = (await h.client.get("/budget-lines", params={"team": team, "channel": "paid_social"},
                                      headers=h.viewer)).json()
    assert [line["id"] for line in only_social] == [social["id"]]
    assert (await h.client.get("/budget-lines", params={"quarter": 9}, headers=h.viewer)).status_code == 422

    for request in ({"params": {"team": team, "format": "csv"}},
                    {"params": {"team": team}, "headers": {"Accept": "text/csv"}}):
        exported = await h.client.get("/budget-lines", params=request["params"],
                                      headers={**h.viewer, **request.get("headers", {})})
        assert exported.status_code == 200
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["id"], r["amount"], r["reserved"], r["committed"], r["spent"], r["available"]) for r in rows] == [
            (search["id"], "700.00", "100.00", "50.00", "0.00", "550.00"),
            (social["id"], "300.00", "0.00", "0.00", "0.00", "300.00")]
