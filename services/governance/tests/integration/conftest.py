"""One running governance app per test module (its own database and topics), and helpers
to feed it events and read back what it published. Tests use unique campaign ids.

Test modules cannot import this file (``--import-mode=importlib``), so everything they
need hangs off the ``gov`` fixture; the actors they name are the keys of ``ROLES``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from marops_events import contracts as c
from marops_events import kafka, registry
from marops_events.envelope import Envelope
from marops_governance import domain, repository
from marops_governance.main import create_app
from marops_governance.settings import Settings
from marops_service import db
from marops_service.access import can_read_campaign
from marops_service.auth import Principal, Role
from marops_testkit import events as harness
from marops_testkit import wait_for
from marops_testkit.apps import auth, running, service_settings

PROBLEM = "application/problem+json"

# Who plays which part in these tests.
REQUESTER, OWNER = "rita", "olga"
APPROVER, APPROVER_2, FINANCE, ADMIN, VIEWER = "alex", "amy", "finn", "ada", "vic"
ROLES = {REQUESTER: ("requester",), OWNER: ("requester",), APPROVER: ("approver",), APPROVER_2: ("approver",),
         FINANCE: ("finance",), ADMIN: ("ops_admin",), VIEWER: ("viewer",)}


@pytest.fixture(scope="module")
def gov_settings(module_pg_dsn: str, kafka_bootstrap: str, module_topic_prefix: str) -> Settings:
    return service_settings(Settings, pg_dsn=module_pg_dsn, kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=module_topic_prefix)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(label: str = "c") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def brief(campaign_id: str, version: int = 1, *, requester: str = REQUESTER, owner: str = OWNER,
          amount: str = "25000.00", currency: str = "EUR", channels: tuple[str, ...] = ("email",),
          kpis: bool = True, tracking: bool = True, raci: c.Raci | None = None) -> c.BriefSubmitted:
    return c.BriefSubmitted(
        campaign_id=campaign_id, version=version, title=f"Spring launch {campaign_id}", team="growth", owner=owner,
        requester=requester, objective="More qualified leads", target_audience="SMB owners",
        channels=[c.Channel(ch) for ch in channels], target_launch_date=dt.date(2027, 3, 1),
        flight_start=dt.date(2027, 3, 1), flight_end=dt.date(2027, 4, 30),
        kpis=[c.Kpi(metric="qualified_leads", target=Decimal("500"), unit="leads", timeframe="90 days")] if kpis
        else [],
        tracking_plan=c.TrackingPlan(campaign_code="spring-27", conversion_events=["signup"]) if tracking else None,
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal(amount), currency=currency),
                                       budget_line_id="line-growth-q1"),
        raci=raci or c.Raci(responsible=[REQUESTER], accountable=owner, consulted=["legal"], informed=["cmo"]),
    )


@dataclass
class Gov:
    """The running app and everything a test needs around it."""

    client: httpx.AsyncClient
    settings: Settings
    producer: AIOKafkaProducer

    now = staticmethod(now)
    new_id = staticmethod(new_id)
    brief = staticmethod(brief)

    def as_(self, subject: str, *roles: str, team: str | None = "growth") -> dict[str, str]:
        return auth(self.settings, subject, *(roles or ROLES[subject]), team=team)

    def topic(self, event_type: str) -> str:
        return registry.spec_for(event_type).topic(self.settings.topic_prefix)

    async def publish(self, payload: BaseModel, *, time: dt.datetime | None = None, source: str = "marops/test",
                      event_id: uuid.UUID | None = None) -> Envelope:
        event = registry.new_event(payload, source=source, time=time or now(), event_id=event_id)
        await self.send(event)
        return event

    async def send(self, event: Envelope) -> None:
        await harness.publish(self.producer, self.settings.topic_prefix, [event])

    async def submit(self, campaign_id: str, version: int = 1, *, time: dt.datetime | None = None,
                     **kwargs: Any) -> Envelope:
        return await self.publish(brief(campaign_id, version, **kwargs), time=time, source="marops/intake")

    async def reserve(self, campaign_id: str, version: int = 1, amount: str = "25000.00",
                      time: dt.datetime | None = None) -> Envelope:
        return await self.publish(c.BudgetReserved(
            campaign_id=campaign_id, brief_version=version, budget_line_id="line-growth-q1",
            amount=c.Money(amount=Decimal(amount), currency="EUR")), time=time, source="marops/budget")

    async def commit(self, campaign_id: str, version: int = 1, amount: str = "25000.00",
                     time: dt.datetime | None = None) -> Envelope:
        return await self.publish(c.BudgetCommitted(
            campaign_id=campaign_id, brief_version=version, budget_line_id="line-growth-q1",
            amount=c.Money(amount=Decimal(amount), currency="EUR")), time=time, source="marops/budget")

    async def get(self, path: str, who: str = VIEWER) -> httpx.Response:
        return await self.client.get(path, headers=self.as_(who))

    async def campaign(self, campaign_id: str) -> dict[str, Any]:
        response = await self.get(f"/campaigns/{campaign_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_campaign(self, campaign_id: str, check: Any = None, timeout: float = 30) -> dict[str, Any]:
        """Poll the campaign view until it exists and ``check(view)`` holds (asserts allowed)."""

        async def ready() -> dict[str, Any] | None:
            response = await self.get(f"/campaigns/{campaign_id}")
            if response.status_code != 200:
                return None
            view = response.json()
            if check is not None and check(view) is False:
                return None
            return view

        return await wait_for(ready, timeout=timeout, message=f"campaign {campaign_id} view")

    async def decide(self, campaign_id: str, gate_id: str, who: str, *, version: int = 1, reject: str | None = None,
                     kind: str = "changes_requested", headers: dict[str, str] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"decision": "approve", "brief_version": version}
        if reject is not None:
            body = {"decision": "reject", "brief_version": version, "kind": kind, "reason": reject}
        return await self.client.post(f"/campaigns/{campaign_id}/gates/{gate_id}/decisions", json=body,
                                      headers={**self.as_(who), **(headers or {})})

    async def queue_pages(self, who: str, *roles: str, limit: int) -> tuple[dt.datetime, list[tuple[str, str]]]:
        """The whole approval queue of ``who`` read page by page: its as_of and (campaign, gate)s."""
        items: list[tuple[str, str]] = []
        cursor: str | None = None
        as_of: dt.datetime | None = None
        while True:
            params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            response = await self.client.get("/queue", params=params, headers=self.as_(who, *roles))
            assert response.status_code == 200, response.text
            page = response.json()
            as_of = as_of or dt.datetime.fromisoformat(page["as_of"])
            assert dt.datetime.fromisoformat(page["as_of"]) == as_of  # later pages keep the first one's
            assert len(page["items"]) <= limit
            items += [(i["campaign_id"], i["gate_id"]) for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return as_of, items

    async def queue_derived(self, who: str, *roles: str, as_of: dt.datetime) -> list[tuple[str, str]]:
        """The approval queue as deriving every campaign of the database gives it (the index's peer)."""
        principal = Principal(who, frozenset(Role(r) for r in roles or ROLES[who]), team="growth")
        pool = await db.create_pool(self.settings.database_url, min_size=1, max_size=1)  # the service's codecs
        try:
            async with pool.acquire() as conn:
                ids = [r["campaign_id"] for r in await conn.fetch("SELECT DISTINCT campaign_id FROM brief_versions")]
                campaigns = await repository.load_campaigns(conn, ids)
        finally:
            await pool.close()
        readable = [found for found in campaigns.values() if can_read_campaign(principal, found.parties)]
        return [(i.campaign.campaign_id, i.gate.id) for i in domain.approval_queue(readable, principal, as_of)]

    async def assert_queues_agree(self) -> None:
        """Everyone's queue, paged through the index, is the queue deriving every campaign gives."""
        for who in ROLES:
            as_of, paged = await self.queue_pages(who, limit=2)
            assert paged == await self.queue_derived(who, as_of=as_of), who

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def snapshot(self, campaign_id: str) -> dict[str, Any]:
        """Everything a refused command must leave unchanged."""
        view = await self.campaign(campaign_id)
        for gate in view["gates"]:
            gate.pop("overdue"), gate.pop("escalated_to")
        audit = (await self.get(f"/campaigns/{campaign_id}/audit")).json()["items"]
        decisions = await self.fetch("SELECT count(*) AS n FROM gate_decisions WHERE campaign_id = $1", campaign_id)
        outbox = await self.fetch("SELECT count(*) AS n FROM outbox")
        return {"view": view, "audit": audit, "decisions": decisions[0]["n"], "outbox": outbox[0]["n"]}

    async def published(self, event_type: str, campaign_id: str, count: int, timeout: float = 30) -> list[dict]:
        """The envelopes of ``event_type`` for one campaign, read back from the topic."""
        return await harness.published(self.settings.kafka_bootstrap_servers, self.settings.topic_prefix,
                                       event_type, campaign_id, count, timeout=timeout)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gov(gov_settings: Settings) -> AsyncIterator[Gov]:
    producer = kafka.producer(gov_settings.kafka_bootstrap_servers, client_id="governance-tests")
    async with running(create_app(gov_settings)) as client:
        await producer.start()
        try:
            yield Gov(client, gov_settings, producer)
        finally:
            await producer.stop()
