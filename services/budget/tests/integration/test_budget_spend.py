"""Exactly-once spend: from the API and from other systems on Kafka, into one ledger."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import pytest
from budget_harness import (
    Harness,
    brief_submitted,
    campaign_line_spend_disagreements,
    gate_approved,
    line_spend_disagreements,
    spend_recorded,
    uid,
)

from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def spend_body(campaign: str, reference: str, amount: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "source_system": "google-ads", "source_reference": reference,
            "amount": money(amount, currency), "incurred_on": "2026-03-05", **extra}


async def ledger(h: Harness, **params: str) -> dict[str, Any]:
    response = await h.client.get("/spend", params={"limit": "1000", **params}, headers=h.viewer)
    assert response.status_code == 200, response.text
    return response.json()


async def committed_campaign(h: Harness, amount: str = "1000.00") -> tuple[str, str]:
    line = await h.create_line("100000.00")
    campaign = uid("cmp")
    events = [brief_submitted(campaign, line["id"], amount), gate_approved(campaign)]
    await h.publish(*events)
    await h.recorder.wait("BudgetCommitted", campaign)
    return campaign, line["id"]


async def test_spend_sent_twice_on_kafka_and_again_through_the_api_counts_once(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h)
    spend = spend_recorded(campaign, "inv-001", "250.00")
    resent = spend_recorded(campaign, "inv-001", "250.00")  # the other system re-sent it under a new event id
    await h.publish(spend, spend, resent)
    await h.processed(spend, resent)

    again = await h.client.post("/spend", json=spend_body(campaign, "inv-001", "250.00"),
                                headers=h.service_account("erp", "google-ads"))
    assert again.status_code == 200, again.text
    assert again.json()["already_recorded"] is True
    assert again.json()["origin"] == "kafka"

    entries = (await ledger(h, campaign_id=campaign))["items"]
    assert [(e["source_reference"], e["amount"]) for e in entries] == [("inv-001", money("250.00"))]
    assert (await h.line(line_id))["spent"] == money("250.00")
    assert (await h.campaign(campaign))["spent"] == money("250.00")
    # Budget republishes nothing for spend that other systems published themselves.
    assert await h.outbox("SpendRecorded", campaign) == []


async def test_spend_recorded_through_the_api_comes_back_from_kafka_as_already_recorded(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h)
    first = await h.client.post("/spend", json=spend_body(campaign, "inv-api-1", "99.99", description="search ads"),
                                headers=h.finance)
    assert first.status_code == 201, first.text
    assert first.json()["already_recorded"] is False
    assert first.json()["attribution"] == "attributed"
    assert first.json()["counted_on_line_id"] == line_id

    [published] = await h.published_exactly("SpendRecorded", campaign)
    assert published["id"] == first.json()["event_id"]
    assert published["source"] == "marops/budget"
    assert published["data"]["source_reference"] == "inv-api-1"
    assert published["data"]["amount"] == money("99.99")
    # Budget's own consumer receives that event and recognises the (source_system, reference).
    await wait_for(lambda: h.db.fetchval("SELECT status = 'processed' FROM inbox WHERE event_id = $1",
                                         uuid.UUID(published["id"])))
    # And other systems re-sending it afterwards change nothing either.
    resent = spend_recorded(campaign, "inv-api-1", "99.99")
    await h.publish(resent)
    await h.processed(resent)
    assert [e["source_reference"] for e in (await ledger(h, campaign_id=campaign))["items"]] == ["inv-api-1"]
    assert (await h.line(line_id))["spent"] == money("99.99")


async def test_ledger_total_equals_the_sum_of_unique_spends_to_the_cent(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h, "5000.00")
    # Amounts a float would drift on; every reference is sent two or three times.
    unique = {f"cent-{i:03d}": amount for i, amount in enumerate(
        ["0.10", "0.20", "0.30", "19.99", "1234.56", "0.01", "333.33", "333.33", "333.34", "7.05", "-0.30"])}
    events = []
    for reference, amount in unique.items():
        correction = {"corrects_reference": "cent-002"} if amount.startswith("-") else {}
        events += [spend_recorded(campaign, reference, amount, **correction)] * 2
        events.append(spend_recorded(campaign, reference, amount, **correction))
    await h.publish(*events)
    await h.processed(*events)
    for reference in ("cent-003", "cent-004"):  # and some once more through the API
        response = await h.client.post("/spend", json=spend_body(campaign, reference, unique[reference]),
                                       headers=h.finance)
        assert response.status_code == 200, response.text

    expected = sum((Decimal(a) for a in unique.values()), Decimal(0))
    assert expected == Decimal("2261.91")
    page = await ledger(h, campaign_id=campaign)
    assert len(page["items"]) == len(unique)
    assert page["totals"] == [{"currency": "EUR", "total": "2261.91", "entries": len(unique)}]
    assert sum(Decimal(e["amount"]["amount"]) for e in page["items"]) == expected
    assert Decimal((await h.line(line_id))["spent"]["amount"]) == expected
    assert Decimal((await h.campaign(campaign))["spent"]["amount"]) == expected

    exported = await h.client.get("/spend", params={"campaign_id": campaign, "format": "csv"}, headers=h.viewer)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["source_reference"] for r in rows) == sorted(unique)
    assert sum(Decimal(r["amount"]) for r in rows) == expected


async def test_currency_mismatch_from_kafka_waits_unreconciled_while_later_spend_still_applies(
        harness: Harness) -> None:
    # A spend in the wrong currency is money that was spent: it is kept for finance, not
    # dead-lettered (the API, where a person can correct the input at once, still refuses it).
    h = harness
    campaign, line_id = await committed_campaign(h)
    wrong = spend_recorded(campaign, "inv-usd", "40.00", "USD")
    later = spend_recorded(campaign, "inv-eur", "60.00")  # same key, same partition, after the bad one
    await h.publish(wrong, later)
    await h.processed(wrong, later)

    assert [r for r in h.recorder.dead_letters("SpendRecorded") if r.key == campaign.encode()] == []
    entries = {e["source_reference"]: e for e in (await ledger(h, campaign_id=campaign))["items"]}
    assert sorted(entries) == ["inv-eur", "inv-usd"]
    assert (entries["inv-usd"]["attribution"], entries["inv-usd"]["reconciliation"],
            entries["inv-usd"]["unreconciled_reason"]) == ("currency_mismatch", "unreconciled", "currency_mismatch")
    assert entries["inv-eur"]["reconciliation"] == "reconciled"
    assert (await h.line(line_id))["spent"] == money("60.00")
    waiting = await ledger(h, reconciliation="unreconciled", campaign_id=campaign)
    assert [e["source_reference"] for e in waiting["items"]] == ["inv-usd"]
    assert waiting["totals"] == [{"currency": "USD", "total": "40.00", "entries": 1}]
    [told] = await h.published_exactly("SpendReconciliationChanged", campaign)
    assert told["data"] == {
        "campaign_id": campaign, "source_system": "google-ads", "source_reference": "inv-usd",
        "amount": money("40.00", "USD"), "revision": 1, "status": "unreconciled", "reason_code": "currency_mismatch",
        "reason": f"spend is in USD but budget line {line_id!r} is in EUR"}  # absent fields are unset

    refused = await h.client.post("/spend", json=spend_body(campaign, "inv-usd-api", "40.00", "USD"),
                                  headers=h.finance)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "USD" in refused.json()["detail"]
    assert len((await ledger(h, campaign_id=campaign))["items"]) == 2


async def test_spend_that_cannot_be_stored_is_dead_lettered_not_retried_forever(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h)
    poison = spend_recorded(campaign, "inv-nul\u0000", "5.00")
    after = spend_recorded(campaign, "inv-after-nul", "6.00")
    await h.publish(poison, after)
    await h.processed(after)
    [letter] = await wait_for(lambda: [r for r in h.recorder.dead_letters("SpendRecorded")
                                       if r.key == campaign.encode()])
    # The decoder refuses NUL (PostgreSQL text cannot hold it) before any handler runs.
    assert b"NUL character" in dict(letter.headers)["dlq.reason"]
    assert (await h.line(line_id))["spent"] == money("6.00")
    nul = await h.client.post("/spend", json=spend_body(campaign, "inv-nul-api", "5.00", description="a\u0000b"),
                              headers=h.finance)
    assert nul.status_code == 422
    assert nul.headers["content-type"] == "application/problem+json"


async def test_spend_for_an_unknown_campaign_waits_unattributed_until_it_appears(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = uid("cmp")
    early = spend_recorded(campaign, "inv-early", "75.50")
    await h.publish(early)
    await h.processed(early)
    api = await h.client.post("/spend", json=spend_body(campaign, "inv-early-api", "24.50"),
                              headers=h.service_account("erp", "google-ads"))
    assert api.status_code == 201, api.text
    assert (api.json()["attribution"], api.json()["counted_on_line_id"]) == ("unattributed", None)
    unattributed = await ledger(h, attribution="unattributed", campaign_id=campaign)
    assert sorted(e["source_reference"] for e in unattributed["items"]) == ["inv-early", "inv-early-api"]
    assert (await h.line(line["id"]))["spent"] == money("0.00")

    brief = brief_submitted(campaign, line["id"], "300.00")
    await h.publish(brief)
    await h.processed(brief)
    assert (await ledger(h, attribution="unattributed", campaign_id=campaign))["items"] == []
    attributed = await ledger(h, budget_line_id=line["id"])
    assert {e["source_reference"] for e in attributed["items"]} == {"inv-early", "inv-early-api"}
    balance = await h.line(line["id"])
    # The campaign uses the larger of its reservation (300) and its spend (100).
    assert (balance["spent"], balance["reserved"], balance["available"]) == (
        money("100.00"), money("300.00"), money("700.00"))


async def test_spend_naming_a_line_not_created_yet_counts_once_it_is(harness: Harness) -> None:
    h = harness
    line_id, campaign = uid("line"), uid("cmp")
    early = spend_recorded(campaign, "inv-named-line", "42.00", budget_line_id=line_id)
    await h.publish(early)
    await h.processed(early)
    [entry] = (await ledger(h, campaign_id=campaign))["items"]
    assert (entry["budget_line_id"], entry["attribution"]) == (line_id, "unattributed")
    await h.create_line("500.00", id=line_id)
    assert (await h.line(line_id))["spent"] == money("42.00")
    [entry] = (await ledger(h, campaign_id=campaign))["items"]
    assert (entry["counted_on_line_id"], entry["attribution"]) == (line_id, "attributed")


async def test_spend_whose_line_turns_out_to_be_in_another_currency_is_never_counted(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00", "GBP")
    campaign = uid("cmp")
    early = spend_recorded(campaign, "inv-eur-early", "10.00", "EUR")
    brief = brief_submitted(campaign, line["id"], "100.00", "GBP")
    await h.publish(early)
    await h.processed(early)
    await h.publish(brief)
    await h.processed(brief)
    [entry] = (await ledger(h, campaign_id=campaign))["items"]
    assert entry["attribution"] == "currency_mismatch"
    assert (await h.line(line["id"]))["spent"] == money("0.00", "GBP")
    view = await h.campaign(campaign)
    assert view["spent"] == money("0.00", "GBP")
    assert view["not_counted"] == [{"attribution": "currency_mismatch", "total": money("10.00"), "entries": 1}]


async def test_refunds_and_corrections_are_negative_spend_naming_the_original(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h)
    original = await h.client.post("/spend", json=spend_body(campaign, "inv-100", "500.00"), headers=h.finance)
    assert original.status_code == 201
    unexplained = await h.client.post("/spend", json=spend_body(campaign, "refund-1", "-50.00"), headers=h.finance)
    assert unexplained.status_code == 422
    assert "corrects_reference" in unexplained.json()["detail"]
    refund = await h.client.post("/spend", json=spend_body(campaign, "refund-1", "-50.00",
                                                           corrects_reference="inv-100"), headers=h.finance)
    assert refund.status_code == 201, refund.text
    assert refund.json()["corrects_reference"] == "inv-100"

    bad = spend_recorded(campaign, "refund-2", "-20.00")  # from Kafka without the original's reference
    good = spend_recorded(campaign, "refund-3", "-30.00", corrects_reference="inv-100")
    await h.publish(bad, good)
    await h.processed(bad, good)
    assert await wait_for(lambda: [r for r in h.recorder.dead_letters("SpendRecorded")
                                   if dict(r.headers)["dlq.reason"].startswith(b"a negative spend")])
    assert (await h.line(line_id))["spent"] == money("420.00")
    [published] = [e for e in await h.published_exactly("SpendRecorded", campaign)
                   if e["data"]["source_reference"] == "refund-1"]
    assert published["data"]["corrects_reference"] == "inv-100"


async def test_thresholds_of_the_commitment_are_published_once_each(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h, "1000.00")
    steps = [("s1", "500.00", []), ("s2", "300.00", [80]), ("s3", "250.00", [80, 100]),
             ("s4", "10.00", [80, 100]), ("s5", "40.00", [80, 100, 110]), ("s6", "500.00", [80, 100, 110])]
    for reference, amount, alerted in steps:
        response = await h.client.post("/spend", json=spend_body(campaign, reference, amount), headers=h.finance)
        assert response.status_code == 201
        assert (await h.campaign(campaign))["thresholds_alerted"] == alerted
    resent = spend_recorded(campaign, "s3", "250.00")
    await h.publish(resent, resent)
    await h.processed(resent)

    alerts = await h.published_exactly("BudgetThresholdExceeded", campaign)
    assert [(a["data"]["threshold_percent"], a["data"]["spent"]["amount"]) for a in alerts] == [
        (80, "800.00"), (100, "1050.00"), (110, "1100.00")]
    assert all(a["data"]["committed"] == money("1000.00") and a["data"]["budget_line_id"] == line_id
               for a in alerts)


async def test_spend_before_the_commitment_alerts_when_the_commitment_arrives(harness: Harness) -> None:
    h = harness
    line = await h.create_line("5000.00")
    campaign = uid("cmp")
    spent = spend_recorded(campaign, "early-big", "900.00")
    brief = brief_submitted(campaign, line["id"], "1000.00")
    await h.publish(spent)
    await h.processed(spent)
    await h.publish(brief)
    await h.processed(brief)
    assert await h.outbox("BudgetThresholdExceeded", campaign) == []  # nothing committed yet
    approval = gate_approved(campaign)
    await h.publish(approval)
    await h.processed(approval)
    [alert] = await h.published_exactly("BudgetThresholdExceeded", campaign)
    assert (alert["data"]["threshold_percent"], alert["causationid"]) == (80, str(approval.id))


async def test_historical_spend_is_recorded_but_raises_no_alert(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h, "100.00")
    old = spend_recorded(campaign, "hist-1", "150.00", source="marops/import/2025")
    await h.publish(old)
    await h.processed(old)
    [entry] = (await ledger(h, campaign_id=campaign))["items"]
    assert (entry["historical"], entry["attribution"]) == (True, "attributed")
    assert (await h.line(line_id))["spent"] == money("150.00")  # it counts like any spend
    assert await h.outbox("BudgetThresholdExceeded", campaign) == []
    live = await h.client.post("/spend", json=spend_body(campaign, "hist-1", "150.00"), headers=h.finance)
    assert live.json()["already_recorded"] is True


async def test_spend_api_checks_roles_input_and_conflicting_re_sends(harness: Harness) -> None:
    h = harness
    campaign, _ = await committed_campaign(h)
    body = spend_body(campaign, "inv-roles", "10.00")
    for who in (h.viewer, h.auth("rita", "requester"), h.auth("alan", "approver")):
        assert (await h.client.post("/spend", json=body, headers=who)).status_code == 403
    assert (await h.client.post("/spend", json=body)).status_code == 401

    invalid = [
        {**body, "amount": {"amount": 10.5, "currency": "EUR"}},  # a float
        {**body, "amount": {"amount": "0", "currency": "EUR"}},
        {**body, "amount": {"amount": "1e20", "currency": "EUR"}},
        {**body, "amount": {"amount": "1.00001", "currency": "EUR"}},
        {**body, "amount": {"amount": "NaN", "currency": "EUR"}},
        {**body, "amount": {"amount": "10", "currency": "euro"}},
        {**body, "incurred_on": "yesterday"},
        {**body, "source_reference": ""},
        {**body, "source_reference": "x" * 201},
        {**body, "recorded_by": "someone-else"},
        {**body, "corrects_reference": "inv-roles"},
        [body],
    ]
    for payload in invalid:
        response = await h.client.post("/spend", json=payload, headers=h.finance)
        assert response.status_code == 422, (payload, response.text)
        assert response.headers["content-type"] == "application/problem+json"

    headers = {**h.service_account("erp", "google-ads"), "Idempotency-Key": "spend-key-1"}
    first = await h.client.post("/spend", json=body, headers=headers)
    replay = await h.client.post("/spend", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    other_amount = await h.client.post("/spend", json={**body, "amount": money("11.00")}, headers=h.finance)
    assert other_amount.status_code == 409
    assert other_amount.json()["type"] == "/problems/spend-reference-conflict"
    assert len((await ledger(h, campaign_id=campaign))["items"]) == 1


async def test_every_lines_kept_spend_equals_its_ledger_after_this_module(harness: Harness) -> None:
    # line_spent (the campaigns' kept rows, read by the run-out forecast) against the ledger's sum, over
    # every line this module's spends, corrections, resolutions and briefs touched
    assert await line_spend_disagreements(harness.db) == []
    assert await campaign_line_spend_disagreements(harness.db) == []
