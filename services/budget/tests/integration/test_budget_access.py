"""Issue 11 item 1 in budget, written as the attack: a requester of team B reads team A's
campaign budget and ledger. Budget keeps each campaign's parties from BriefSubmitted."""

from __future__ import annotations

import pytest
from budget_harness import brief_submitted, spend_recorded, uid

from marops_events.registry import new_event
from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


def submitted(campaign_id: str, line_id: str, team: str, **update):
    event = brief_submitted(campaign_id, line_id)
    return new_event(event.data.model_copy(update={"team": team, **update}), source=event.source, time=event.time)


async def test_requesters_read_the_budget_and_spend_of_readable_campaigns_only(harness) -> None:
    line = await harness.create_line("10000.00")
    ours, theirs, unknown = uid("c-growth"), uid("c-brand"), uid("c-nobrief")
    events = [submitted(ours, line["id"], "growth", authors=["edna", "rita"]), submitted(theirs, line["id"], "brand"),
              spend_recorded(ours, uid("ref"), "10.00", budget_line_id=line["id"]),
              spend_recorded(theirs, uid("ref"), "700.00", budget_line_id=line["id"]),
              spend_recorded(unknown, uid("ref"), "5.00", budget_line_id=line["id"])]
    await harness.publish(*events)
    await harness.processed(*events)

    brand = auth(harness.settings, "bob", "requester", team="brand")
    growth = auth(harness.settings, "ravi", "requester", team="growth")
    author = auth(harness.settings, "edna", "requester", team="brand")  # wrote `ours`, now in brand
    nobody = auth(harness.settings, "olga", team="growth")  # the owner's subject, no role
    assert (await harness.client.get(f"/campaigns/{ours}/budget", headers=brand)).status_code == 404
    for who in (growth, author, harness.viewer):
        assert (await harness.client.get(f"/campaigns/{ours}/budget", headers=who)).status_code == 200
    no_brief = await harness.client.get(f"/campaigns/{unknown}/budget", headers=growth)
    assert no_brief.status_code == 404 and no_brief.headers["content-type"] == PROBLEM
    assert (await harness.client.get(f"/campaigns/{unknown}/budget", headers=harness.viewer)).status_code == 200
    for path in (f"/campaigns/{ours}/budget", "/spend", "/reports/monthly", "/budget-lines", "/me"):
        response = await harness.client.get(path, headers=nobody)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == PROBLEM

    params = {"budget_line_id": line["id"]}
    ledger = (await harness.client.get("/spend", params=params, headers=growth)).json()
    assert {e["campaign_id"] for e in ledger["items"]} == {ours}
    assert (ledger["filtered"], [t["total"] for t in ledger["totals"]]) == (True, ["10.00"])
    everything = (await harness.client.get("/spend", params=params, headers=harness.viewer)).json()
    assert {e["campaign_id"] for e in everything["items"]} == {ours, theirs, unknown}
    assert everything["filtered"] is False
    [their_spend] = [e for e in everything["items"] if e["campaign_id"] == theirs]
    assert (await harness.client.get(f"/spend/{their_spend['id']}", headers=growth)).status_code == 404
    assert (await harness.client.get(f"/spend/{their_spend['id']}", headers=brand)).status_code == 200
    csv = await harness.client.get("/spend", params={**params, "format": "csv"}, headers=brand)
    assert theirs in csv.text and ours not in csv.text and unknown not in csv.text

    months = (await harness.client.get("/reports/monthly", params=params, headers=brand)).json()
    assert [(m["spent"]["amount"], m["filtered"]) for m in months] == [("700.00", True)]
    months = (await harness.client.get("/reports/monthly", params=params, headers=harness.finance)).json()
    assert [(m["spent"]["amount"], m["filtered"]) for m in months] == [("715.00", False)]
