"""Spend converges on the same fact as metrics whatever the arrival order; what budget
cannot book waits for finance; a resubmission that replaces a commitment says so."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from budget_harness import Harness, brief_submitted, gate_approved, line_spend_disagreements, spend_recorded, uid

from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

T = dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC)


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


async def entries(h: Harness, **params: str) -> list[dict[str, Any]]:
    response = await h.client.get("/spend", params={"limit": "1000", **params}, headers=h.viewer)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def committed_campaign(h: Harness, amount: str = "1000.00", currency: str = "EUR") -> tuple[str, str]:
    line = await h.create_line("100000.00", currency)
    campaign = uid("cmp")
    events = [brief_submitted(campaign, line["id"], amount, currency), gate_approved(campaign)]
    await h.publish(*events)
    await h.recorder.wait("BudgetCommitted", campaign)
    return campaign, line["id"]


def dead_letters_of(h: Harness, campaign: str) -> list[Any]:
    return [r for r in h.recorder.dead_letters("SpendRecorded") if r.key == campaign.encode()]


async def test_the_earliest_copy_wins_even_when_it_arrives_after_a_later_one_was_booked(harness: Harness) -> None:
    # The bug report: budget kept the first-arriving copy while metrics keeps the earliest
    # (time, id), so the two disagreed on the campaign's spend whenever an ERP re-sent a
    # corrected copy that overtook the original.
    h = harness
    campaign, line_id = await committed_campaign(h)
    late = spend_recorded(campaign, "inv-order", "900.00", time=T + dt.timedelta(hours=1))
    early = spend_recorded(campaign, "inv-order", "500.00", time=T)
    await h.publish(late)
    await h.processed(late)
    assert (await h.line(line_id))["spent"] == money("900.00")
    await h.publish(early)
    await h.processed(early)

    [entry] = await entries(h, campaign_id=campaign)
    assert (entry["amount"], entry["event_id"]) == (money("500.00"), str(early.id))
    assert (await h.line(line_id))["spent"] == money("500.00")
    assert (await h.campaign(campaign))["spent"] == money("500.00")
    assert dead_letters_of(h, campaign) == []
    detail = (await h.client.get(f"/spend/{entry['id']}", headers=h.viewer)).json()
    assert [(s["event_id"], s["amount"]) for s in detail["superseded"]] == [(str(late.id), money("900.00"))]
    # The alert the booked copy raised stands (it was true then) and is not raised twice.
    alerts = await h.published_exactly("BudgetThresholdExceeded", campaign)
    assert [a["data"]["threshold_percent"] for a in alerts] == [80]

    # The later copy sent again is now the contradicting one: refused with a reason.
    again = spend_recorded(campaign, "inv-order", "900.00", time=T + dt.timedelta(hours=1))
    await h.publish(again)
    await h.processed(again)
    [letter] = await wait_for(lambda: dead_letters_of(h, campaign))
    reason = dict(letter.headers)["dlq.reason"].decode()
    assert reason.startswith(f"spend google-ads/inv-order conflicts with the earlier copy kept from event {early.id}")
    assert "amount 900.00, not 500.00" in reason
    assert (await h.line(line_id))["spent"] == money("500.00")


async def test_same_instant_copies_are_ordered_by_event_id(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h)
    low, high = sorted([uuid.uuid4(), uuid.uuid4()])
    second = spend_recorded(campaign, "inv-tie", "20.00", time=T, event_id=high)
    first = spend_recorded(campaign, "inv-tie", "10.00", time=T, event_id=low)
    await h.publish(second, first)
    await h.processed(second, first)
    [entry] = await entries(h, campaign_id=campaign)
    assert (entry["amount"], entry["event_id"]) == (money("10.00"), str(low))


async def test_a_later_copy_with_other_content_is_dead_lettered_and_changes_nothing(harness: Harness) -> None:
    h = harness
    campaign, line_id = await committed_campaign(h)
    kept = spend_recorded(campaign, "inv-twice", "100.00", time=T)
    same = spend_recorded(campaign, "inv-twice", "100.0", time=T + dt.timedelta(minutes=5))  # same number
    other_day = spend_recorded(campaign, "inv-twice", "100.00", time=T + dt.timedelta(minutes=9),
                               incurred_on=dt.date(2026, 3, 6))
    other_campaign = spend_recorded(uid("cmp"), "inv-twice", "100.00", time=T + dt.timedelta(minutes=10))
    await h.publish(kept, same, other_day, other_campaign)
    await h.processed(kept, same, other_day, other_campaign)

    letters = await wait_for(lambda: len([r for r in h.recorder.dead_letters("SpendRecorded")
                                          if b"inv-twice" in r.value]) == 2 and
                             [r for r in h.recorder.dead_letters("SpendRecorded") if b"inv-twice" in r.value])
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in letters)
    assert any("campaign_id " in r for r in reasons)
    assert any("incurred_on 2026-03-06, not 2026-03-05" in r for r in reasons)
    [entry] = await entries(h, campaign_id=campaign)
    assert (entry["event_id"], entry["incurred_on"]) == (str(kept.id), "2026-03-05")
    assert (await h.line(line_id))["spent"] == money("100.00")


async def test_spend_of_an_unknown_campaign_is_unreconciled_until_its_brief_arrives(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = uid("cmp")
    early = spend_recorded(campaign, "inv-before-brief", "75.00")
    await h.publish(early)
    await h.processed(early)
    [entry] = await entries(h, campaign_id=campaign)
    assert (entry["reconciliation"], entry["unreconciled_reason"]) == ("unreconciled", "unknown_campaign")

    brief = brief_submitted(campaign, line["id"], "300.00")
    await h.publish(brief)
    await h.processed(brief)
    [entry] = await entries(h, campaign_id=campaign)
    assert (entry["reconciliation"], entry["counted_on_line_id"]) == ("reconciled", line["id"])
    told = await h.published_exactly("SpendReconciliationChanged", campaign)
    assert [(e["data"]["revision"], e["data"]["status"], e["data"].get("reason_code"),
             e["data"].get("resolution"), e["data"].get("budget_line_id")) for e in told] == [
        (1, "unreconciled", "unknown_campaign", None, None), (2, "reconciled", None, "attributed", line["id"])]


async def test_finance_books_or_excludes_unreconciled_spend_with_a_reason_and_it_is_audited(
        harness: Harness) -> None:
    h = harness
    campaign, eur_line = await committed_campaign(h, "100.00")
    usd_line = (await h.create_line("5000.00", "USD"))["id"]
    wrong = spend_recorded(campaign, "inv-usd-1", "90.00", "USD")
    named = spend_recorded(campaign, "inv-ghost", "15.00", budget_line_id="no-such-line")
    await h.publish(wrong, named)
    await h.processed(wrong, named)
    waiting = {e["source_reference"]: e for e in await entries(h, reconciliation="unreconciled",
                                                                campaign_id=campaign)}
    assert {k: e["unreconciled_reason"] for k, e in waiting.items()} == {
        "inv-usd-1": "currency_mismatch", "inv-ghost": "unknown_line"}
    usd_id, ghost_id = waiting["inv-usd-1"]["id"], waiting["inv-ghost"]["id"]

    def resolve(spend_id: int, body: dict[str, Any], who: dict[str, str] | None = None) -> Any:
        return h.client.post(f"/spend/{spend_id}/resolution", json=body, headers=who or h.finance)

    book_usd = {"resolution": "booked", "budget_line_id": usd_line, "reason": "US invoice, US line"}
    assert (await resolve(usd_id, book_usd, h.viewer)).status_code == 403
    assert (await resolve(usd_id, book_usd, h.auth("rita", "requester"))).status_code == 403
    for bad in ({"resolution": "booked", "budget_line_id": eur_line, "reason": "wrong currency"},
                {"resolution": "booked", "budget_line_id": "no-such-line", "reason": "missing line"},
                {"resolution": "booked", "reason": "no line"},
                {"resolution": "excluded", "budget_line_id": usd_line, "reason": "excluded on a line?"},
                {"resolution": "attributed", "reason": "not finance's to say"},
                {"resolution": "excluded", "reason": ""},
                {"resolution": "excluded"}):
        response = await resolve(usd_id, bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await resolve(999_999_999, book_usd)).status_code == 404

    booked = await resolve(usd_id, book_usd)
    assert booked.status_code == 200, booked.text
    body = booked.json()
    assert (body["reconciliation"], body["resolution"], body["counted_on_line_id"], body["resolved_by"]) == (
        "reconciled", "booked", usd_line, "fiona")
    assert [(r["resolution"], r["budget_line_id"], r["reason"], r["resolved_by"]) for r in body["resolutions"]] == [
        ("booked", usd_line, "US invoice, US line", "fiona")]
    assert (await h.line(usd_line))["spent"] == money("90.00", "USD")
    assert (await resolve(usd_id, book_usd)).status_code == 409  # nothing left to resolve

    excluded = await resolve(ghost_id, {"resolution": "excluded", "reason": "agency fee, paid outside marketing"})
    assert excluded.status_code == 200, excluded.text
    assert (excluded.json()["attribution"], excluded.json()["counted_on_line_id"]) == ("excluded", None)
    assert await entries(h, reconciliation="unreconciled", campaign_id=campaign) == []
    assert (await h.line(eur_line))["spent"] == money("0.00")

    told = {(e["data"]["source_reference"], e["data"]["revision"]): e["data"]
            for e in await h.published_exactly("SpendReconciliationChanged", campaign)}
    assert sorted(told) == [("inv-ghost", 1), ("inv-ghost", 2), ("inv-usd-1", 1), ("inv-usd-1", 2)]
    assert (told[("inv-usd-1", 2)]["status"], told[("inv-usd-1", 2)]["resolution"],
            told[("inv-usd-1", 2)]["budget_line_id"], told[("inv-usd-1", 2)]["resolved_by"],
            told[("inv-usd-1", 2)]["note"]) == ("reconciled", "booked", usd_line, "fiona", "US invoice, US line")
    assert (told[("inv-ghost", 2)]["resolution"], told[("inv-ghost", 2)].get("budget_line_id")) == ("excluded", None)


async def test_a_resubmission_replacing_a_commitment_releases_it_first(harness: Harness) -> None:
    # The bug report: v1 was committed, v2 was resubmitted and reserved; budget then held
    # only v2's reservation (committed 0) while metrics still showed v1's commitment.
    h = harness
    campaign, line_id = await committed_campaign(h, "1000.00")
    v2 = brief_submitted(campaign, line_id, "1200.00", version=2)
    await h.publish(v2)
    await h.recorder.wait("BudgetReserved", campaign, count=2)
    [released] = await h.published_exactly("BudgetReleased", campaign)
    assert released["data"] == {"campaign_id": campaign, "budget_line_id": line_id, "amount": money("1000.00"),
                                "reason": "superseded", "brief_version": 1}
    reserved = await h.published_exactly("BudgetReserved", campaign)
    assert [e["data"]["brief_version"] for e in reserved] == [1, 2]
    assert await h.db.fetchval("SELECT id FROM outbox WHERE payload::jsonb->>'id' = $1", released["id"]) < \
        await h.db.fetchval("SELECT id FROM outbox WHERE payload::jsonb->>'id' = $1", reserved[1]["id"])
    view = await h.campaign(campaign)
    assert (view["status"], view["committed"], view["reserved"]) == ("reserved", money("0.00"), money("1200.00"))

    approval = gate_approved(campaign, version=2)
    await h.publish(approval)
    await h.recorder.wait("BudgetCommitted", campaign, count=2)
    view = await h.campaign(campaign)
    assert (view["status"], view["committed"]) == ("committed", money("1200.00"))


async def test_a_refused_resubmission_keeps_the_commitment_and_releases_nothing(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1500.00")
    campaign = uid("cmp")
    await h.publish(brief_submitted(campaign, line["id"], "1000.00"), gate_approved(campaign))
    await h.recorder.wait("BudgetCommitted", campaign)
    too_much = brief_submitted(campaign, line["id"], "2000.00", version=2)
    await h.publish(too_much)
    await h.recorder.wait("BudgetReservationRejected", campaign)
    assert await h.published_exactly("BudgetReleased", campaign) == []
    assert (await h.campaign(campaign))["committed"] == money("1000.00")


async def test_every_lines_kept_spend_equals_its_ledger_after_this_module(harness: Harness) -> None:
    # line_spent (the campaigns' kept rows, read by the run-out forecast) against the ledger's sum, over
    # every line this module's spends, corrections, resolutions and briefs touched
    assert await line_spend_disagreements(harness.db) == []
