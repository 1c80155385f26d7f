"""Governance for outcomes: the metric catalogue (versioned, published as MetricCatalogueChanged),
a policy that requires an outcome KPI for launch, and RiskChanged for every change of a risk."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marops_events import contracts as c

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUESTER, APPROVER, ADMIN, VIEWER = "rita", "alex", "ada", "vic"
LEADS = {"key": "qualified_leads", "name": "Qualified leads", "unit": "leads", "kind": "outcome"}
REVENUE = {"key": "revenue", "name": "Revenue", "unit": "EUR", "kind": "outcome",
           "description": "Closed-won revenue attributed to the campaign"}
CPL = {"key": "cost_per_lead", "name": "Cost per lead", "unit": "EUR", "kind": "activity", "direction": "decrease"}


async def test_the_catalogue_is_versioned_and_published(gov) -> None:
    assert (await gov.get("/metric-catalogue")).status_code == 404
    body = {"definitions": [LEADS, CPL], "reason": "first catalogue"}
    refused = await gov.client.post("/metric-catalogue/versions", json=body, headers=gov.as_(APPROVER))
    assert refused.status_code == 403
    twice = await gov.client.post("/metric-catalogue/versions", headers=gov.as_(ADMIN),
                                  json={"definitions": [LEADS, LEADS], "reason": "oops"})
    assert twice.status_code == 422 and "repeated: qualified_leads" in twice.text

    first = await gov.client.post("/metric-catalogue/versions", json=body, headers=gov.as_(ADMIN))
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    assert first.json()["definitions"][1] == {**CPL, "description": None}
    second = await gov.client.post("/metric-catalogue/versions", headers=gov.as_(ADMIN),
                                   json={"definitions": [LEADS, REVENUE, CPL], "reason": "revenue"})
    assert second.json()["version"] == 2

    current = (await gov.get("/metric-catalogue")).json()
    assert (current["version"], [d["key"] for d in current["definitions"]]) == \
        (2, ["qualified_leads", "revenue", "cost_per_lead"])
    assert [v["version"] for v in (await gov.get("/metric-catalogue/versions")).json()["items"]] == [1, 2]
    assert (await gov.get("/metric-catalogue/versions/1")).json()["reason"] == "first catalogue"

    events = await gov.published("MetricCatalogueChanged", "metric-catalogue", count=2)
    assert [(e["data"]["version"], len(e["data"]["definitions"])) for e in events] == [(1, 2), (2, 3)]
    assert events[1]["data"]["definitions"][1]["description"] == REVENUE["description"]
    assert events[0]["data"]["definitions"][1]["direction"] == "decrease"


async def test_every_change_of_a_risk_is_published(gov) -> None:
    cid = gov.new_id()
    await gov.submit(cid)
    await gov.wait_campaign(cid)
    created = await gov.client.post(f"/campaigns/{cid}/risks", headers=gov.as_(REQUESTER), json={
        "description": "Agency capacity", "owner": "lee", "probability": 4, "impact": 4})
    risk_id = created.json()["risk_id"]
    patched = await gov.client.patch(f"/campaigns/{cid}/risks/{risk_id}", headers=gov.as_(REQUESTER),
                                     json={"mitigation": "second agency on standby"})
    assert patched.status_code == 200, patched.text
    accepted = await gov.client.post(f"/campaigns/{cid}/risks/{risk_id}/accept", headers=gov.as_(APPROVER),
                                     json={"reason": "launch window matters more"})
    assert accepted.status_code == 200, accepted.text
    events = await gov.published("RiskChanged", cid, count=3)
    assert [(e["data"]["revision"], e["data"]["status"], e["data"]["blocks_launch"], e["data"]["score"])
            for e in events] == [(1, "open", True, 16), (2, "open", True, 16), (3, "accepted", False, 16)]
    assert {e["data"]["risk_id"] for e in events} == {risk_id}
    assert events[2]["data"]["changed_by"] == APPROVER


async def test_a_policy_may_require_an_outcome_kpi_for_launch(gov) -> None:
    policy = (await gov.get("/policy")).json()
    document = {k: v for k, v in policy.items() if k not in ("version", "effective_from", "created_by", "created_at",
                                                             "reason")}
    published = await gov.client.post("/policy/versions", headers=gov.as_(ADMIN), json={
        **document, "require_outcome_kpi": True, "reason": "success is defined before launch"})
    assert published.status_code == 201, published.text

    activity_only, with_outcome = gov.new_id(), gov.new_id()
    kpi = dict(metric="qualified_leads", target=Decimal(500), unit="leads", timeframe="90 days")
    for cid, kind in ((activity_only, c.KpiKind.activity), (with_outcome, c.KpiKind.outcome)):
        await gov.publish(gov.brief(cid).model_copy(update={"kpis": [c.Kpi(**kpi, kind=kind)]}),
                          source="marops/intake")
        await gov.wait_campaign(cid)
    unmet = [u["code"] for u in (await gov.get(f"/campaigns/{activity_only}/readiness")).json()["unmet"]]
    assert "outcome_kpi_missing" in unmet and "kpis_missing" not in unmet
    ready = (await gov.get(f"/campaigns/{with_outcome}/readiness")).json()
    assert "outcome_kpi_missing" not in [u["code"] for u in ready["unmet"]]
    assert ready["facts"]["kpis_with_targets"] is True
