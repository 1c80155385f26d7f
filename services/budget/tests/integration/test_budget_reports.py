"""Queries: a campaign's variance and pacing, spend per month, the ledger's pages and exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from budget_harness import Harness, brief_submitted, campaign_cancelled, gate_approved, spend_recorded, uid

pytestmark = pytest.mark.asyncio(loop_scope="module")


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


async def committed(h: Harness, line_id: str, amount: str, flight: tuple[dt.date, dt.date]) -> str:
    campaign = uid("cmp")
    events = [brief_submitted(campaign, line_id, amount, flight=flight), gate_approved(campaign)]
    await h.publish(*events)
    await h.processed(*events)
    return campaign


async def spend(h: Harness, campaign: str, *entries: tuple[str, str, dt.date]) -> None:
    events = [spend_recorded(campaign, f"{campaign}-{ref}", amount, incurred_on=day) for ref, amount, day in entries]
    await h.publish(*events)
    await h.processed(*events)


async def test_campaign_variance_and_pacing_against_the_flight(harness: Harness) -> None:
    h = harness
    line = await h.create_line("10000.00")
    # A 30-day flight in April; 1000 committed.
    campaign = await committed(h, line["id"], "1000.00", (dt.date(2026, 4, 1), dt.date(2026, 4, 30)))
    await spend(h, campaign, ("a", "200.00", dt.date(2026, 4, 3)), ("b", "250.00", dt.date(2026, 4, 9)))

    view = await h.campaign(campaign, as_of="2026-04-12")  # 12 of 30 days elapsed = 0.4
    assert (view["status"], view["currency"], view["budget_line_id"]) == ("committed", "EUR", line["id"])
    assert (view["committed"], view["spent"], view["remaining"], view["variance"]) == (
        money("1000.00"), money("450.00"), money("550.00"), money("-550.00"))
    assert view["variance_percent"] == "-55.00"
    assert view["pacing"] == {"as_of": "2026-04-12", "flight_start": "2026-04-01", "flight_end": "2026-04-30",
                              "spent_to_date": money("450.00"), "elapsed_share": "0.4000", "spend_share": "0.4500",
                              "expected_spend_to_date": money("400.00"), "pacing_index": "1.1250",
                              "status": "on_pace"}
    early = (await h.campaign(campaign, as_of="2026-04-09"))["pacing"]  # 0.45 spent after 0.3 of the flight
    assert (early["spent_to_date"], early["elapsed_share"], early["status"]) == (
        money("450.00"), "0.3000", "overpacing")
    first_days = (await h.campaign(campaign, as_of="2026-04-05"))["pacing"]  # the 9 April spend not yet incurred
    assert (first_days["spent_to_date"], first_days["status"]) == (money("200.00"), "on_pace")
    assert (await h.campaign(campaign, as_of="2026-04-30"))["pacing"]["status"] == "underpacing"
    before = (await h.campaign(campaign, as_of="2026-03-01"))["pacing"]
    assert (before["elapsed_share"], before["status"], before["pacing_index"]) == ("0.0000", "not_started", None)

    await spend(h, campaign, ("c", "700.00", dt.date(2026, 4, 20)))
    over = await h.campaign(campaign, as_of="2026-04-30")
    assert (over["variance"], over["variance_percent"], over["remaining"]) == (
        money("150.00"), "15.00", money("-150.00"))
    assert over["thresholds_alerted"] == [80, 100, 110]  # one spend crossed all three


async def test_a_cancelled_campaign_keeps_its_spend_but_commits_nothing(harness: Harness) -> None:
    h = harness
    line = await h.create_line("10000.00")
    campaign = await committed(h, line["id"], "500.00", (dt.date(2026, 5, 1), dt.date(2026, 5, 31)))
    await spend(h, campaign, ("a", "120.00", dt.date(2026, 5, 2)))
    cancel = campaign_cancelled(campaign)
    await h.publish(cancel)
    await h.processed(cancel)
    view = await h.campaign(campaign, as_of="2026-05-10")
    assert (view["status"], view["release_reason"], view["committed"], view["spent"], view["variance_percent"]) == (
        "released", "cancelled", money("0.00"), money("120.00"), None)
    assert view["pacing"]["status"] == "no_commitment"
    assert (await h.line(line["id"]))["available"] == money("9880.00")


async def test_campaign_query_refuses_unknown_campaigns_and_bad_dates(harness: Harness) -> None:
    h = harness
    assert (await h.client.get(f"/campaigns/{uid('nobody')}/budget", headers=h.viewer)).status_code == 404
    line = await h.create_line("100.00")
    campaign = await committed(h, line["id"], "10.00", (dt.date(2026, 4, 1), dt.date(2026, 4, 30)))
    for as_of in ("yesterday", "2026-02-30", "99999-01-01"):
        response = await h.client.get(f"/campaigns/{campaign}/budget", params={"as_of": as_of}, headers=h.viewer)
        assert response.status_code == 422, (as_of, response.text)
    assert (await h.client.get(f"/campaigns/{campaign}/budget")).status_code == 401


async def test_spend_per_month_per_line_with_running_totals(harness: Harness) -> None:
    h = harness
    team = uid("team")
    line_a, line_b = await h.create_line("5000.00", team=team), await h.create_line("5000.00", team=team)
    flight = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    one, two = await committed(h, line_a["id"], "3000.00", flight), await committed(h, line_b["id"], "3000.00", flight)
    await spend(h, one, ("jan1", "100.10", dt.date(2026, 1, 5)), ("jan2", "0.20", dt.date(2026, 1, 31)),
                ("mar", "300.00", dt.date(2026, 3, 1)))
    await spend(h, two, ("feb", "50.00", dt.date(2026, 2, 14)))

    rows = (await h.client.get("/reports/monthly", params={"team": team}, headers=h.viewer)).json()
    assert [(r["month"], r["budget_line_id"], r["spent"]["amount"], r["entries"], r["cumulative_spent"]["amount"])
            for r in rows] == [
        ("2026-01", line_a["id"], "100.30", 2, "100.30"),
        ("2026-02", line_b["id"], "50.00", 1, "50.00"),
        ("2026-03", line_a["id"], "300.00", 1, "400.30")]
    window = (await h.client.get("/reports/monthly", params={"team": team, "from_month": "2026-02",
                                                             "to_month": "2026-03"}, headers=h.viewer)).json()
    assert [(r["month"], r["cumulative_spent"]["amount"]) for r in window] == [("2026-02", "50.00"),
                                                                              ("2026-03", "400.30")]
    exported = await h.client.get("/reports/monthly", params={"campaign_id": one, "format": "csv"},
                                  headers=h.viewer)
    assert [r["spent"] for r in csv.DictReader(io.StringIO(exported.text))] == ["100.30", "300.00"]
    for bad in ({"from_month": "2026-13"}, {"to_month": "0000-01"}, {"from_month": "March"}):
        assert (await h.client.get("/reports/monthly", params=bad, headers=h.viewer)).status_code == 422


async def test_ledger_pages_with_a_cursor_and_exports_everything(harness: Harness) -> None:
    h = harness
    campaign = uid("cmp")
    await spend(h, campaign, *[(f"p{i}", f"{i}.25", dt.date(2026, 6, 1 + i)) for i in range(1, 8)])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"campaign_id": campaign, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await h.client.get("/spend", params=params, headers=h.viewer)).json()
        seen += [e["source_reference"] for e in page["items"]]
        assert page["totals"] == [{"currency": "EUR", "total": "29.75", "entries": 7}]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"{campaign}-p{i}" for i in range(1, 8)]
    june = (await h.client.get("/spend", params={"campaign_id": campaign, "incurred_from": "2026-06-04",
                                                 "incurred_to": "2026-06-05"}, headers=h.viewer)).json()
    assert [e["source_reference"] for e in june["items"]] == [f"{campaign}-p3", f"{campaign}-p4"]
    for bad in ({"cursor": "-1"}, {"cursor": "abc"}, {"limit": "0"}, {"limit": "100000"},
                {"attribution": "maybe"}, {"format": "xml"}, {"incurred_from": "soon"}):
        assert (await h.client.get("/spend", params=bad, headers=h.viewer)).status_code == 422, bad

    exported = await h.client.get("/spend", params={"campaign_id": campaign},
                                  headers={**h.viewer, "Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 7
    assert rows[0]["attribution"] == "unattributed"
    assert set(rows[0]) >= {"source_system", "source_reference", "campaign_id", "incurred_on", "amount", "currency",
                            "counted_on_line_id", "corrects_reference", "origin", "historical", "event_id"}
