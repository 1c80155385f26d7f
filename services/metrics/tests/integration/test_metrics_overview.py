"""``GET /campaigns/{id}/overview``: one campaign in one call, over the dozen-campaign scenario.

C01 (growth, email + paid_search, target 2026-02-10, 5000 EUR): brief review approved after
10 h, budget after 28 h, committed 5000, launched 2026-02-09 (35 days after submission, on
time), 3000 + 1500 EUR spent, completed. The overview must say exactly that, agree with the
campaign table and the timeline, and follow the access rule (404 when not readable).
"""

from __future__ import annotations

import pytest

from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_overview_of_a_campaign_has_its_status_measures_gates_and_money(dozen_loaded) -> None:
    app = dozen_loaded
    viewer = auth(app.settings, "vic", "viewer")
    resp = await app.client.get("/campaigns/C01/overview", headers=viewer)
    assert resp.status_code == 200, resp.text
    o = resp.json()
    assert (o["campaign_id"], o["team"], o["status"], o["channels"]) == ("C01", "growth", "completed",
                                                                          ["email", "paid_search"])
    assert (o["target_launch_date"], o["on_time"], o["cycle_time_hours"]) == ("2026-02-10", True, 840.0)
    assert [(d["gate_position"], d["outcome"], d["hours_in_gate"], d["breached_sla"]) for d in o["decisions"]] == [
        (d["gate_position"], "approved", hours, False) for d, hours in zip(o["decisions"], (10.0, 28.0), strict=True)]
    assert o["money"] == [{"currency": "EUR", "committed": "5000.00", "actual": "4500.00", "variance": "-500.00",
                           "variance_pct": "-10.00", "unreconciled": "0.00"}]
    assert 0 < len(o["recent_events"]) <= 10
    assert o["recent_events"][0]["type"] == "CampaignCompleted" and o["as_of"] == o["recent_events"][0]["time"]
    assert "authors" not in o


async def test_the_overview_agrees_with_the_campaign_table(dozen_loaded) -> None:
    app = dozen_loaded
    viewer = auth(app.settings, "vic", "viewer")
    table = {r["campaign_id"]: r for r in (await app.client.get("/campaigns", headers=viewer)).json()["campaigns"]}
    for campaign_id, row in table.items():
        o = (await app.client.get(f"/campaigns/{campaign_id}/overview", headers=viewer)).json()
        for key in ("status", "team", "owner", "revisions", "rejections", "on_time", "cycle_time_hours",
                    "data_complete", "launched_at", "target_launch_date"):
            assert o[key] == row[key], (campaign_id, key)


async def test_a_campaign_the_caller_may_not_read_has_no_overview(dozen_loaded) -> None:
    app = dozen_loaded
    growth = auth(app.settings, "rita", "requester", team="growth")
    assert (await app.client.get("/campaigns/C01/overview", headers=growth)).status_code == 200
    hidden = await app.client.get("/campaigns/C03/overview", headers=growth)  # brand's
    missing = await app.client.get("/campaigns/NOPE/overview", headers=growth)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("NOPE", "C03")
    nobody = await app.client.get("/campaigns/C01/overview", headers=auth(app.settings, "m", "superuser"))
    assert nobody.status_code == 403
