"""Change in flight at budget: a change request tops the commitment up (guarded like a
reservation) or, approved, lowers it and releases the difference; a refused top-up is
announced; a rejected change drops its top-up. Events on the real Kafka topics, in any
order and twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from budget_harness import NOW, Harness, brief_submitted, gate_approved, gate_rejected, line_spend_disagreements, uid

from marops_events import contracts as c
from marops_events.envelope import Envelope
from marops_events.registry import new_event

pytestmark = pytest.mark.asyncio(loop_scope="module")


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def change_requested(campaign_id: str, line_id: str, amount: str, *, version: int = 2,
                     base: str = "300.00") -> Envelope:
    proposal = brief_submitted(campaign_id, line_id, amount, version=version).data
    return new_event(c.ChangeRequested(
        campaign_id=campaign_id, change_id=f"{campaign_id}-v{version}", base_version=version - 1,
        changes=[c.ChangeField.budget], reason="results are strong", requested_by="olga", brief=proposal,
        base_amount=c.Money(amount=Decimal(base), currency="EUR")), source="marops/intake",
        time=NOW + dt.timedelta(days=3, hours=version))


def change_decided(campaign_id: str, outcome: str, *, version: int = 2) -> Envelope:
    return new_event(c.ChangeDecided(
        campaign_id=campaign_id, change_id=f"{campaign_id}-v{version}", brief_version=version, outcome=outcome,
        decided_by="fiona", gates=["budget_approval"], policy_version=1), source="marops/governance",
        time=NOW + dt.timedelta(days=4, hours=version))


async def committed(h: Harness, line_id: str, amount: str = "300.00") -> str:
    campaign = uid("cmp")
    brief, approval = brief_submitted(campaign, line_id, amount), gate_approved(campaign)
    await h.publish(brief, approval)
    await h.processed(brief, approval)
    assert (await h.campaign(campaign))["status"] == "committed"
    return campaign


async def test_a_top_up_is_reserved_then_committed_when_the_change_is_approved(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = await committed(h, line["id"])
    request = change_requested(campaign, line["id"], "500.00")
    # a gate approval of the change names its change_id: it commits nothing by itself
    gate = new_event(c.GateApproved(**{**gate_approved(campaign, 2).data.model_dump(), "change_id": request.data.change_id}),
                     source="marops/governance", time=NOW + dt.timedelta(days=3, hours=5))
    await h.publish(request, request, gate)
    await h.processed(request, gate)
    reserved = [e["data"] for e in await h.published_exactly("BudgetReserved", campaign)]
    assert reserved[-1] == {"campaign_id": campaign, "brief_version": 2, "budget_line_id": line["id"],
                            "amount": money("500.00")}
    balance = await h.line(line["id"])
    assert (balance["committed"], balance["reserved"]) == (money("300.00"), money("200.00"))
    assert (await h.campaign(campaign))["committed"] == money("300.00")  # not before approval

    approval = change_decided(campaign, "approved")
    await h.publish(approval, approval)
    await h.processed(approval)
    commits = [e["data"] for e in await h.published_exactly("BudgetCommitted", campaign)]
    assert [(d["brief_version"], d["amount"]) for d in commits] == [(1, money("300.00")), (2, money("500.00"))]
    balance = await h.line(line["id"])
    assert (balance["committed"], balance["reserved"]) == (money("500.00"), money("0.00"))
    view = await h.campaign(campaign)
    assert (view["brief_version"], view["committed"]) == (2, money("500.00"))
    assert await h.outbox("BudgetReleased", campaign) == []


async def test_a_top_up_the_line_cannot_carry_is_refused_and_the_commitment_stays(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = await committed(h, line["id"])
    await committed(h, line["id"], "600.00")  # 100.00 left on the line
    request = change_requested(campaign, line["id"], "450.00")
    await h.publish(request)
    await h.processed(request)
    [refused] = [e["data"] for e in await h.published_exactly("BudgetReservationRejected", campaign)]
    assert (refused["brief_version"], refused["reason_code"]) == (2, "insufficient_funds")
    view = await h.campaign(campaign)
    assert view["committed"] == money("300.00")
    assert [(r["brief_version"], r["outcome"]) for r in view["reservations"]] == [(1, "reserved"), (2, "rejected")]
    rejection = change_decided(campaign, "rejected")
    await h.publish(rejection)
    await h.processed(rejection)
    assert (await h.line(line["id"]))["committed"] == money("900.00")


async def test_an_approved_decrease_commits_less_and_releases_the_difference_in_any_order(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = await committed(h, line["id"])
    approval, request = change_decided(campaign, "approved"), change_requested(campaign, line["id"], "120.00")
    await h.publish(approval, request)  # the decision overtakes its request
    await h.processed(approval, request)
    commits = [e["data"] for e in await h.published_exactly("BudgetCommitted", campaign)]
    assert commits[-1]["amount"] == money("120.00") and commits[-1]["brief_version"] == 2
    [released] = [e["data"] for e in await h.published_exactly("BudgetReleased", campaign)]
    assert released == {"campaign_id": campaign, "budget_line_id": line["id"], "amount": money("180.00"),
                        "reason": "changed", "brief_version": 1}
    assert (await h.line(line["id"]))["committed"] == money("120.00")


async def test_a_rejected_change_drops_its_top_up_and_its_gate_rejection_releases_nothing(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = await committed(h, line["id"])
    request = change_requested(campaign, line["id"], "700.00")
    rejected_gate = new_event(c.GateRejected(**{**gate_rejected(campaign, 2).data.model_dump(),
                                                 "change_id": request.data.change_id}),
                              source="marops/governance", time=NOW + dt.timedelta(days=3, hours=6))
    await h.publish(request, rejected_gate, change_decided(campaign, "rejected"))
    await h.processed(request, rejected_gate)
    await h.processed(h.sent[-1])
    balance = await h.line(line["id"])
    assert (balance["committed"], balance["reserved"]) == (money("300.00"), money("0.00"))
    assert await h.outbox("BudgetReleased", campaign) == []


async def test_every_lines_kept_spend_equals_its_ledger_after_this_module(harness: Harness) -> None:
    # line_spent (the campaigns' kept rows, read by the run-out forecast) against the ledger's sum, over
    # every line this module's spends, corrections, resolutions and briefs touched
    assert await line_spend_disagreements(harness.db) == []
