"""Outcomes in intake: KPIs picked from the metric catalogue governance publishes, and results
reported as of a date (KpiResultsRecorded), against the running app, real PostgreSQL and Kafka."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from marops_events import contracts as c
from marops_events import registry
from marops_events.envelope import Envelope
from marops_testkit.apps import auth
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def team() -> str:
    return f"growth-{uuid.uuid4().hex[:6]}"


def catalogue(version: int, *definitions: c.KpiDefinition) -> Envelope:
    return registry.new_event(c.MetricCatalogueChanged(version=version, definitions=list(definitions),
                                                       published_by="ops"), source="marops/governance")


LEADS = c.KpiDefinition(key="qualified_leads", name="Qualified leads", unit="leads", kind=c.KpiKind.outcome)
REVENUE = c.KpiDefinition(key="revenue", name="Revenue", unit="EUR", kind=c.KpiKind.outcome)
CPL = c.KpiDefinition(key="cost_per_lead", name="Cost per lead", unit="EUR", kind=c.KpiKind.activity,
                      direction=c.KpiDirection.decrease)


async def test_kpis_from_the_catalogue_carry_its_definition(intake) -> None:
    # version 2 arrives before version 1: the highest version is the catalogue, whatever the order
    await intake.deliver(catalogue(2, LEADS, CPL), catalogue(1, LEADS))

    rita = intake.as_("rita", "requester", team=team())
    kpis = [{"metric": "qualified_leads", "target": "1200", "unit": "leads", "timeframe": "90 days", "baseline": 800},
            {"metric": "cost_per_lead", "target": "20", "unit": "EUR", "timeframe": "90 days"},
            {"metric": "webinar_attendance", "target": "300", "unit": "people", "timeframe": "launch week"}]

    async def submitted_kpis() -> list[dict] | None:
        campaign = await intake.create(rita, **intake.complete_brief(kpis=kpis))
        response = await intake.http.post(f"/campaigns/{campaign['id']}/submit", headers=rita)
        assert response.status_code == 200, response.text
        [event] = await intake.published("BriefSubmitted", campaign["id"], 1)
        published = event["data"]["kpis"]
        return published if published[1].get("kind") == "activity" else None

    published = await wait_for(submitted_kpis, timeout=30, message="the catalogue reached intake")
    assert published[0] | {"target": None} == {"metric": "qualified_leads", "target": None, "unit": "leads",
                                                "timeframe": "90 days", "baseline": "800", "direction": "increase",
                                                "kind": "outcome", "catalogue_version": 2}
    assert (published[1]["direction"], published[1]["kind"]) == ("decrease", "activity")
    # free text keeps working: no kind, no catalogue version
    assert {"kind", "catalogue_version", "direction"}.isdisjoint(published[2])

    # a catalogue KPI must agree with its definition
    wrong = await intake.create(rita, **intake.complete_brief(kpis=[
        {"metric": "cost_per_lead", "target": "20", "unit": "USD", "timeframe": "90 days", "direction": "increase"}]))
    refused = await intake.http.post(f"/campaigns/{wrong['id']}/submit", headers=rita)
    assert refused.status_code == 422
    assert {e["path"] for e in refused.json()["errors"]} == {"kpis.0.unit", "kpis.0.direction"}


async def test_results_as_of_a_date_from_the_owner_or_the_analytics_system(intake, gov) -> None:
    growth = team()
    rita = intake.as_("rita", "requester", team=growth)
    campaign = await intake.submitted(rita, kpis=[
        {"metric": "qualified_leads", "target": "1200", "unit": "leads", "timeframe": "90 days"},
        {"metric": "revenue", "target": "50000", "unit": "EUR", "timeframe": "90 days"}])
    cid = campaign["id"]
    report = {"source_reference": "week-10", "as_of": "2026-03-09",
              "results": [{"metric": "Qualified_Leads", "actual": 412}]}

    early = await intake.http.post(f"/campaigns/{cid}/results", json=report, headers=rita)
    assert early.status_code == 409, early.text  # not launched yet

    now = dt.datetime.now(dt.UTC)
    await intake.deliver(gov("CampaignLaunched", cid, 1, at=now))
    await intake.wait_status(cid, "launched", rita)

    recorded = await intake.http.post(f"/campaigns/{cid}/results", json=report, headers=rita)
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert (body["source_system"], body["results"], body["already_recorded"]) == \
        ("intake", [{"metric": "qualified_leads", "actual": "412", "unit": "leads"}], False)
    again = await intake.http.post(f"/campaigns/{cid}/results", json=report, headers=rita)
    assert again.status_code == 200 and again.json()["already_recorded"] is True
    other = await intake.http.post(f"/campaigns/{cid}/results", headers=rita,
                                   json={**report, "results": [{"metric": "qualified_leads", "actual": 413}]})
    assert other.status_code == 409

    unknown = await intake.http.post(f"/campaigns/{cid}/results", headers=rita, json={
        **report, "source_reference": "week-11", "results": [{"metric": "likes", "actual": 1}]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["path"] == "results.0.metric"

    colleague = intake.as_("rob", "requester", team=growth)  # reads it, but does not own it
    assert (await intake.http.post(f"/campaigns/{cid}/results", headers=colleague,
                                   json={**report, "source_reference": "x"})).status_code == 403

    analytics = auth(intake.settings, "svc-analytics", "service", source_systems=["analytics"])
    by_system = await intake.http.post(f"/campaigns/{cid}/results", headers=analytics, json={
        "source_system": "analytics", "source_reference": "a-1", "as_of": "2026-03-16",
        "results": [{"metric": "qualified_leads", "actual": "530"}, {"metric": "revenue", "actual": "21000.50"}]})
    assert by_system.status_code == 201, by_system.text
    not_its_own = await intake.http.post(f"/campaigns/{cid}/results", headers=analytics, json={
        "source_system": "crm", "source_reference": "a-2", "as_of": "2026-03-16",
        "results": [{"metric": "revenue", "actual": "1"}]})
    assert not_its_own.status_code == 403
    missing = await intake.http.post("/campaigns/nope/results", headers=analytics, json={
        "source_system": "analytics", "source_reference": "a-3", "as_of": "2026-03-16",
        "results": [{"metric": "revenue", "actual": "1"}]})
    assert missing.status_code == 404

    listed = await intake.http.get(f"/campaigns/{cid}/results", headers=colleague)
    assert [r["source_reference"] for r in listed.json()] == ["week-10", "a-1"]
    events = await intake.published("KpiResultsRecorded", cid, 2)
    assert [(e["data"]["source_system"], e["data"]["as_of"], len(e["data"]["results"])) for e in events] == \
        [("intake", "2026-03-09", 1), ("analytics", "2026-03-16", 2)]
