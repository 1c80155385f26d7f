"""Reservations, commitments and releases driven by events on the real Kafka topics."""

from __future__ import annotations

import pytest
from budget_harness import (
    Harness,
    brief_submitted,
    campaign_cancelled,
    gate_approved,
    gate_rejected,
    uid,
)

from marops_events import contracts as c
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


async def test_brief_reserves_and_only_the_budget_gate_commits(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = uid("cmp")
    brief = brief_submitted(campaign, line["id"], "300.00")
    review = gate_approved(campaign, kind=c.GateKind.review)
    await h.publish(brief, review)
    await h.processed(brief, review)

    [reserved] = await h.published_exactly("BudgetReserved", campaign)
    assert reserved["data"] == {"campaign_id": campaign, "brief_version": 1, "budget_line_id": line["id"],
                                "amount": money("300.00")}
    assert reserved["causationid"] == str(brief.id)
    assert reserved["correlationid"] == brief.correlationid
    assert await h.outbox("BudgetCommitted", campaign) == []  # a review gate commits nothing
    balance = await h.line(line["id"])
    assert (balance["reserved"], balance["committed"], balance["available"]) == (
        money("300.00"), money("0.00"), money("700.00"))

    approval = gate_approved(campaign)
    await h.publish(approval)
    [committed] = await h.recorder.wait("BudgetCommitted", campaign)
    assert committed["data"]["amount"] == money("300.00")
    assert committed["causationid"] == str(approval.id)
    balance = await h.line(line["id"])
    assert (balance["reserved"], balance["committed"], balance["available"]) == (
        money("0.00"), money("300.00"), money("700.00"))
    view = await h.campaign(campaign)
    assert (view["status"], view["committed"], view["brief_version"]) == ("committed", money("300.00"), 1)


@pytest.mark.parametrize(
    ("line_amount", "line_currency", "request_amount", "request_currency", "unknown", "code"),
    [
        ("1000.00", "EUR", "100.00", "EUR", True, "unknown_line"),
        ("1000.00", "EUR", "100.00", "USD", False, "currency_mismatch"),
        ("1000.00", "EUR", "1000.01", "EUR", False, "insufficient_funds"),
    ],
)
async def test_refused_reservations_say_why(harness: Harness, line_amount: str, line_currency: str,
                                            request_amount: str, request_currency: str, unknown: bool,
                                            code: str) -> None:
    h = harness
    line = await h.create_line(line_amount, line_currency)
    line_id = uid("no-such-line") if unknown else line["id"]
    campaign = uid("cmp")
    brief = brief_submitted(campaign, line_id, request_amount, request_currency)
    approval = gate_approved(campaign)  # an approval cannot commit a refused reservation
    await h.publish(brief, approval)
    await h.processed(brief, approval)

    [refused] = await h.published_exactly("BudgetReservationRejected", campaign)
    assert refused["data"]["reason_code"] == code
    assert refused["data"]["requested"] == money(request_amount, request_currency)
    assert refused["data"]["budget_line_id"] == line_id
    assert refused["data"]["reason"]
    assert await h.outbox("BudgetReserved", campaign) == []
    assert await h.outbox("BudgetCommitted", campaign) == []
    assert (await h.line(line["id"]))["available"] == money(line_amount, line_currency)
    view = await h.campaign(campaign)
    assert view["status"] == "none"
    assert [(r["outcome"], r["reason_code"]) for r in view["reservations"]] == [("rejected", code)]


async def test_resubmitted_versions_adjust_the_reservation(harness: Harness) -> None:
    h = harness
    line_a, line_b = await h.create_line("1000.00"), await h.create_line("250.00")
    other, campaign = uid("cmp"), uid("cmp")
    # Another campaign holds 600 of line A: ours can grow to 400, counting its own hold.
    await h.publish(brief_submitted(other, line_a["id"], "600.00"))
    versions = [
        brief_submitted(campaign, line_a["id"], "300.00", version=1),
        brief_submitted(campaign, line_a["id"], "400.00", version=2),
        brief_submitted(campaign, line_b["id"], "200.00", version=3),  # moves to line B
        brief_submitted(campaign, line_b["id"], "251.00", version=4),  # more than line B has
    ]
    for version in versions[:3]:
        await h.publish(version)
        await h.processed(version)
    assert [e["data"]["amount"]["amount"] for e in await h.published_exactly("BudgetReserved", campaign)] == [
        "300.00", "400.00", "200.00"]
    a, b = await h.line(line_a["id"]), await h.line(line_b["id"])
    assert (a["reserved"], a["available"]) == (money("600.00"), money("400.00"))
    assert (b["reserved"], b["available"]) == (money("200.00"), money("50.00"))

    await h.publish(versions[3])
    await h.processed(versions[3])
    [refused] = await h.published_exactly("BudgetReservationRejected", campaign)
    assert (refused["data"]["brief_version"], refused["data"]["reason_code"]) == (4, "insufficient_funds")
    # The refused version leaves the previous reservation in place.
    assert (await h.line(line_b["id"]))["reserved"] == money("200.00")
    view = await h.campaign(campaign)
    assert (view["status"], view["reserved"], view["budget_line_id"], view["brief_version"]) == (
        "reserved", money("200.00"), line_b["id"], 4)
    assert [r["outcome"] for r in view["reservations"]] == ["reserved", "reserved", "reserved", "rejected"]


async def test_out_of_order_and_duplicated_events_converge(harness: Harness) -> None:
    h = harness
    line = await h.create_line("500.00")
    campaign = uid("cmp")
    approval = gate_approved(campaign)
    brief = brief_submitted(campaign, line["id"], "120.00")
    same_fact_new_id = brief_submitted(campaign, line["id"], "120.00")
    # The budget approval arrives before the brief it approves; the brief comes three times.
    await h.publish(approval, approval, brief, brief, same_fact_new_id, approval)
    await h.processed(approval, brief, same_fact_new_id)

    assert len(await h.published_exactly("BudgetReserved", campaign)) == 1
    assert len(await h.published_exactly("BudgetCommitted", campaign)) == 1
    balance = await h.line(line["id"])
    assert (balance["reserved"], balance["committed"]) == (money("0.00"), money("120.00"))

    # An approval of an older version after a resubmission commits nothing.
    late = uid("cmp")
    v1, v2 = brief_submitted(late, line["id"], "50.00"), brief_submitted(late, line["id"], "60.00", version=2)
    stale = gate_approved(late, version=1)
    await h.publish(v2, v1, stale)
    await h.processed(v2, v1, stale)
    assert [e["data"]["brief_version"] for e in await h.published_exactly("BudgetReserved", late)] == [2]
    assert await h.outbox("BudgetCommitted", late) == []


async def test_cancellation_releases_what_was_held(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    reserved_only, committed, cancelled_first = uid("cmp"), uid("cmp"), uid("cmp")
    setup = [brief_submitted(reserved_only, line["id"], "100.00"), brief_submitted(committed, line["id"], "200.00"),
             gate_approved(committed)]
    await h.publish(*setup)
    await h.processed(*setup)
    assert (await h.line(line["id"]))["available"] == money("700.00")

    cancels = [campaign_cancelled(reserved_only), campaign_cancelled(committed), campaign_cancelled(cancelled_first)]
    await h.publish(*cancels)
    await h.processed(*cancels)
    late_brief = brief_submitted(cancelled_first, line["id"], "300.00")
    await h.publish(late_brief)
    await h.processed(late_brief)

    for campaign, amount in ((reserved_only, "100.00"), (committed, "200.00")):
        [released] = await h.published_exactly("BudgetReleased", campaign)
        assert released["data"] == {"campaign_id": campaign, "budget_line_id": line["id"], "amount": money(amount),
                                    "reason": "cancelled", "brief_version": 1}
        assert (await h.campaign(campaign))["status"] == "released"
    # Cancelled before its brief arrived: nothing is ever reserved for it.
    assert await h.outbox("BudgetReserved", cancelled_first) == []
    assert await h.outbox("BudgetReservationRejected", cancelled_first) == []
    balance = await h.line(line["id"])
    assert (balance["reserved"], balance["committed"], balance["available"]) == (
        money("0.00"), money("0.00"), money("1000.00"))


async def test_outright_rejection_releases_but_changes_requested_keeps(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = uid("cmp")
    brief = brief_submitted(campaign, line["id"], "400.00")
    changes = gate_rejected(campaign, kind=c.RejectionKind.changes_requested)
    await h.publish(brief, changes)
    await h.processed(brief, changes)
    assert await h.outbox("BudgetReleased", campaign) == []
    assert (await h.line(line["id"]))["reserved"] == money("400.00")

    rejected = gate_rejected(campaign, kind=c.RejectionKind.rejected)
    await h.publish(rejected, rejected)
    await h.processed(rejected)
    [released] = await h.published_exactly("BudgetReleased", campaign)
    assert (released["data"]["reason"], released["data"]["amount"]) == ("rejected", money("400.00"))
    assert (await h.line(line["id"]))["reserved"] == money("0.00")

    # A new version after an outright rejection is a new request: it reserves again.
    v2 = brief_submitted(campaign, line["id"], "150.00", version=2)
    await h.publish(v2)
    await h.processed(v2)
    assert [e["data"]["brief_version"] for e in await h.published_exactly("BudgetReserved", campaign)] == [1, 2]


async def test_imported_history_reserves_nothing(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    old, live = uid("cmp"), uid("cmp")
    history = [brief_submitted(old, line["id"], "500.00", source="marops/import/2025-h2"),
               gate_approved(old, source="marops/import/2025-h2")]
    live_brief = brief_submitted(live, line["id"], "100.00")
    historical_approval = gate_approved(live, source="marops/import/2025-h2")
    historical_cancel = campaign_cancelled(live, source="marops/import/2025-h2")
    await h.publish(*history, live_brief, historical_approval, historical_cancel)
    await h.processed(*history, live_brief, historical_approval, historical_cancel)

    for event_type in ("BudgetReserved", "BudgetReservationRejected", "BudgetCommitted"):
        assert await h.outbox(event_type, old) == []
    assert len(await h.published_exactly("BudgetReserved", live)) == 1
    assert await h.outbox("BudgetCommitted", live) == []
    assert await h.outbox("BudgetReleased", live) == []
    assert (await h.line(line["id"]))["reserved"] == money("100.00")


async def test_a_negative_request_is_dead_lettered_with_its_reason(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = uid("cmp")
    bad = brief_submitted(campaign, line["id"], "-5.00")
    await h.publish(bad)

    async def dead() -> list:
        found = [r for r in h.recorder.dead_letters("BriefSubmitted") if r.key == campaign.encode()]
        assert found
        return found



    [letter] = await wait_for(dead)
    assert dict(letter.headers)["dlq.reason"] == b"requested budget amount is negative"
    assert await h.outbox("BudgetReserved", campaign) == []
