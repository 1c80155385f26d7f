"""Fixtures for intake's integration tests: one running app per module (its own database
and topic prefix), and helpers to call it, feed it governance events and read back what
it published. Tests keep their state apart with fresh campaign ids and team names."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from marops_events import contracts as c
from marops_events import kafka, registry
from marops_events.envelope import Envelope
from marops_intake.main import create_app
from marops_intake.settings import Settings
from marops_testkit import events as harness
from marops_testkit.apps import auth, running, service_settings
from marops_testkit.kafka import wait_for

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def intake_settings(module_pg_dsn: str, kafka_bootstrap: str, module_topic_prefix: str) -> Settings:
    """Settings of the module's app: a database and a topic prefix of its own, both removed after."""
    return service_settings(Settings, pg_dsn=module_pg_dsn, kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=module_topic_prefix)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(intake_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(intake_settings)) as http:
        yield http


class Intake:
    """Talks to the running intake app the way its users and neighbours do."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings

    # --- people -------------------------------------------------------------------------

    def as_(self, subject: str, *roles: str, team: str | None = None) -> dict[str, str]:
        return auth(self.settings, subject, *roles, team=team)

    # --- briefs -------------------------------------------------------------------------

    @staticmethod
    def complete_brief(**overrides: Any) -> dict[str, Any]:
        """A brief that passes the completeness check (dates relative to today)."""
        launch = TODAY + dt.timedelta(days=30)
        brief: dict[str, Any] = {
            "title": "Spring webinar series",
            "objective": "Generate qualified leads for the analytics product",
            "target_audience": "Data leads at mid-size retailers",
            "channels": ["email", "paid_social"],
            "target_launch_date": launch.isoformat(),
            "flight_start": launch.isoformat(),
            "flight_end": (launch + dt.timedelta(days=60)).isoformat(),
            "kpis": [{"metric": "qualified_leads", "target": "1200", "unit": "leads",
                      "timeframe": "90 days after launch"}],
            "tracking_plan": {"campaign_code": "spring-webinars", "utm_convention": "utm_campaign=spring-webinars",
                              "conversion_events": ["webinar_signup"], "reporting_destination": "Looker: Growth"},
            "budget_request": {"amount": {"amount": "25000.00", "currency": "EUR"}, "budget_line_id": "line-growth"},
            "raci": {"responsible": ["rita"], "consulted": ["brand"], "informed": ["sales"]},
            "links": ["https://wiki.example.com/spring"],
            "notes": "Reuse the autumn templates.",
        }
        brief.update(overrides)
        return brief

    async def create(self, headers: dict[str, str], **brief: Any) -> dict[str, Any]:
        response = await self.http.post("/campaigns", json=brief, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def submitted(self, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
        """A campaign created complete and submitted as version 1."""
        campaign = await self.create(headers, **self.complete_brief(**overrides))
        response = await self.http.post(f"/campaigns/{campaign['id']}/submit", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def get(self, campaign_id: str, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.http.get(f"/campaigns/{campaign_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_status(self, campaign_id: str, expected: str, headers: dict[str, str]) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            campaign = await self.get(campaign_id, headers)
            return campaign if campaign["status"] == expected else None
        return await wait_for(reached, timeout=30, message=f"campaign {campaign_id} becomes {expected}")

    # --- Kafka ---------------------------------------------------------------------------

    def topic(self, event_type: str) -> str:
        return registry.spec_for(event_type).topic(self.settings.topic_prefix)

    async def deliver(self, *events: Envelope) -> None:
        """Publish events as their producer would (key = partition key), in the given order."""
        producer = kafka.producer(self.settings.kafka_bootstrap_servers, client_id="intake-test")
        await producer.start()
        try:
            for event in events:  # one at a time: the given order across topics too
                await harness.publish(producer, self.settings.topic_prefix, [event])
        finally:
            await producer.stop()

    async def caught_up(self) -> None:
        """Wait until intake's consumer group has committed everything on its topics."""
        await harness.caught_up(self.settings.kafka_bootstrap_servers, self.settings.topic_prefix,
                                self.settings.service_name,
                                ("GateApproved", "GateRejected", "CampaignLaunched", "ChangeDecided"))

    async def published(self, event_type: str, campaign_id: str, count: int) -> list[dict[str, Any]]:
        """The events of one type intake published for a campaign, read back from the topic.

        Waits until ``count`` are there, then returns all of them (so a test sees extras)."""
        return await harness.published(self.settings.kafka_bootstrap_servers, self.settings.topic_prefix,
                                       event_type, campaign_id, count)


@pytest.fixture
def intake(client: httpx.AsyncClient, intake_settings: Settings) -> Intake:
    return Intake(client, intake_settings)


def governance_event(event_type: str, campaign_id: str, version: int, *, at: dt.datetime,
                     gate: int = 1, gates: int = 2, kind: str = "changes_requested",
                     reason: str = "Add a holdout group", event_id: uuid.UUID | None = None) -> Envelope:
    """A GateApproved / GateRejected / CampaignLaunched as governance would publish it."""
    decision: dict[str, Any] = dict(
        campaign_id=campaign_id, brief_version=version, policy_version=1, gate_id=f"gate-{gate}",
        gate_name=["brief review", "budget approval", "brand/legal review", "launch readiness"][gate - 1],
        gate_kind="budget" if gate == 2 else "review", gate_position=gate, is_last_gate=gate == gates,
        actionable_at=at - dt.timedelta(hours=1), sla_hours=48, decided_by="alex",
    )
    if event_type == "GateApproved":
        data: Any = c.GateApproved(**decision, approvers=["alex"])
    elif event_type == "GateRejected":
        data = c.GateRejected(**decision, kind=kind, reason=reason)
    else:
        data = c.CampaignLaunched(campaign_id=campaign_id, brief_version=version, launched_by="olivia",
                                  readiness=c.ReadinessSnapshot(all_gates_approved=True, kpis_with_targets=True,
                                                                tracking_plan_defined=True, budget_committed=True,
                                                                policy_version=1))
    return registry.new_event(data, source="marops/governance", time=at, event_id=event_id)


@pytest.fixture
def gov() -> Any:
    return governance_event
