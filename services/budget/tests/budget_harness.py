"""Helpers of the budget tests (tests/conftest.py puts this folder on sys.path).

``Harness`` bundles what an integration test needs: an HTTP client and tokens, a producer
for the events budget consumes, a recorder of everything budget publishes (and of the
dead-letter topics), and SQL access to the service's database.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from marops_budget.settings import Settings
from marops_events import contracts as c
from marops_events.envelope import Envelope
from marops_events.registry import new_event
from marops_testkit import events as harness
from marops_testkit.apps import auth
from marops_testkit.events import Recorder
from marops_testkit.kafka import wait_for

PUBLISHED = ["BudgetReserved", "BudgetReservationRejected", "BudgetCommitted", "BudgetReleased", "SpendRecorded",
             "BudgetReallocated", "BudgetThresholdExceeded", "SpendReconciliationChanged",
             "BudgetLineRunOutForecast"]
CONSUMED = ["BriefSubmitted", "GateApproved", "GateRejected", "CampaignCancelled", "SpendRecorded"]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Harness:
    settings: Settings
    client: httpx.AsyncClient
    db: asyncpg.Pool
    producer: AIOKafkaProducer
    recorder: Recorder
    sent: list[Envelope] = field(default_factory=list)

    # -- HTTP -------------------------------------------------------------------------

    def auth(self, subject: str, *roles: str) -> dict[str, str]:
        return auth(self.settings, subject, *roles)

    def service_account(self, subject: str, *source_systems: str) -> dict[str, str]:
        """A `service` token allowed to record spend for ``source_systems``."""
        return auth(self.settings, subject, "service", source_systems=list(source_systems))

    @property
    def finance(self) -> dict[str, str]:
        return self.auth("fiona", "finance")

    @property
    def viewer(self) -> dict[str, str]:
        return self.auth("vic", "viewer")

    async def create_line(self, amount: str = "1000.00", currency: str = "EUR", **fields: Any) -> dict[str, Any]:
        body = {"id": uid("line"), "fiscal_year": 2026, "quarter": 1, "team": "growth", "channel": "paid_search",
                "amount": {"amount": amount, "currency": currency}, **fields}
        response = await self.client.post("/budget-lines", json=body, headers=self.finance)
        assert response.status_code == 201, response.text
        return response.json()

    async def line(self, line_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/budget-lines/{line_id}", headers=self.viewer)
        assert response.status_code == 200, response.text
        return response.json()

    async def campaign(self, campaign_id: str, **params: str) -> dict[str, Any]:
        response = await self.client.get(f"/campaigns/{campaign_id}/budget", params=params, headers=self.viewer)
        assert response.status_code == 200, response.text
        return response.json()

    # -- Kafka ------------------------------------------------------------------------

    async def publish(self, *events: Envelope) -> None:
        """Produce envelopes the way the outbox relay does (key, headers, JSON value)."""
        for event in events:
            await harness.publish(self.producer, self.settings.topic_prefix, [event])
            self.sent.append(event)

    async def processed(self, *events: Envelope, timeout: float = 30) -> None:
        """Wait until the consumer has taken each event (applied or dead-lettered)."""
        ids = [e.id for e in events]

        async def done() -> bool:
            n = await self.db.fetchval("SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY($1::uuid[])",
                                       ids)
            assert n == len(set(ids)), f"{n}/{len(set(ids))} events processed"
            return True

        await wait_for(done, timeout=timeout)

    async def outbox(self, event_type: str, key: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT payload FROM outbox WHERE event_type = $1 AND partition_key = $2 ORDER BY id", event_type, key)
        return [json.loads(r["payload"]) for r in rows]

    async def published_exactly(self, event_type: str, key: str) -> list[dict[str, Any]]:
        """Everything of one type budget decided for ``key``, once the relay has sent it all."""
        rows = await self.outbox(event_type, key)

        async def relayed() -> bool:
            pending = await self.db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert pending == 0, f"{pending} outbox rows pending"
            return True

        await wait_for(relayed)
        if rows:
            await wait_for(lambda: len([e for e in self.recorder.events(event_type, key)
                                        if e["source"] == "marops/budget"]) >= len(rows))
        # SpendRecorded also carries what other systems (the tests) published: keep budget's own.
        on_topic = [e for e in self.recorder.events(event_type, key) if e["source"] == "marops/budget"]
        assert [e["id"] for e in on_topic] == [e["id"] for e in rows]
        return on_topic


# -- event factories (consumed events, as intake and governance publish them) ---------

NOW = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)


def brief_submitted(campaign_id: str, line_id: str, amount: str = "100.00", currency: str = "EUR", *,
                    version: int = 1, source: str = "marops/intake",
                    flight: tuple[dt.date, dt.date] = (dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
                    event_id: uuid.UUID | None = None) -> Envelope:
    data = c.BriefSubmitted(
        campaign_id=campaign_id, version=version, title=f"Campaign {campaign_id}", team="growth", owner="olga",
        requester="rita", objective="More qualified leads", channels=[c.Channel.paid_search],
        target_launch_date=flight[0], flight_start=flight[0], flight_end=flight[1],
        kpis=[c.Kpi(metric="leads", target=Decimal(100), unit="leads", timeframe="90 days")],
        tracking_plan=c.TrackingPlan(campaign_code=campaign_id),
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal(amount), currency=currency),
                                       budget_line_id=line_id),
    )
    return new_event(data, source=source, time=NOW + dt.timedelta(hours=version), event_id=event_id)


def _decision(campaign_id: str, version: int, kind: c.GateKind) -> dict[str, Any]:
    return dict(campaign_id=campaign_id, brief_version=version, policy_version=1,
                gate_id="budget" if kind is c.GateKind.budget else "brief-review", gate_name="Budget approval",
                gate_kind=kind, gate_position=2, is_last_gate=False, actionable_at=NOW, sla_hours=48,
                decided_by="frank")


def gate_approved(campaign_id: str, version: int = 1, kind: c.GateKind = c.GateKind.budget,
                  source: str = "marops/governance") -> Envelope:
    return new_event(c.GateApproved(**_decision(campaign_id, version, kind), approvers=["frank"]), source=source,
                     time=NOW + dt.timedelta(days=1))


def gate_rejected(campaign_id: str, version: int = 1, kind: c.RejectionKind = c.RejectionKind.rejected,
                  source: str = "marops/governance") -> Envelope:
    return new_event(c.GateRejected(**_decision(campaign_id, version, c.GateKind.budget), kind=kind,
                                    reason="not this quarter"), source=source, time=NOW + dt.timedelta(days=1))


def campaign_cancelled(campaign_id: str, source: str = "marops/intake") -> Envelope:
    return new_event(c.CampaignCancelled(campaign_id=campaign_id, cancelled_by="olga", reason="plans changed"),
                     source=source, time=NOW + dt.timedelta(days=2))


def spend_recorded(campaign_id: str, reference: str, amount: str, currency: str = "EUR", *,
                   source_system: str = "google-ads", incurred_on: dt.date = dt.date(2026, 3, 5),
                   budget_line_id: str | None = None, corrects_reference: str | None = None,
                   source: str = "google-ads/exporter", time: dt.datetime | None = None,
                   event_id: uuid.UUID | None = None) -> Envelope:
    return new_event(c.SpendRecorded(
        campaign_id=campaign_id, source_system=source_system, source_reference=reference,
        amount=c.Money(amount=Decimal(amount), currency=currency), incurred_on=incurred_on,
        budget_line_id=budget_line_id, corrects_reference=corrects_reference), source=source,
        time=time or dt.datetime.combine(incurred_on, dt.time(12), tzinfo=dt.UTC), event_id=event_id)


async def campaign_line_spend_disagreements(db: asyncpg.Pool) -> list[tuple[str, str, Decimal, Decimal]]:
    """(campaign, line) pairs whose kept spend (``campaign_line_spend``, kept by triggers for
    the threshold check and the run-out forecast) differs from what the ledger adds up to
    for them (attributed spend): should be none."""
    rows = await db.fetch(
        """
        WITH ledger AS (SELECT campaign_id, line_id, sum(amount) AS spent FROM spend_ledger
                        WHERE attribution = 'attributed' GROUP BY 1, 2)
        SELECT coalesce(l.campaign_id, k.campaign_id) AS campaign_id, coalesce(l.line_id, k.line_id) AS line_id,
               coalesce(l.spent, 0) AS ledger, coalesce(k.spent, 0) AS kept
        FROM ledger l FULL JOIN campaign_line_spend k USING (campaign_id, line_id)
        WHERE coalesce(l.spent, 0) <> coalesce(k.spent, 0) ORDER BY 1, 2
        """)
    return [(r["campaign_id"], r["line_id"], r["ledger"], r["kept"]) for r in rows]


async def line_spend_disagreements(db: asyncpg.Pool) -> list[tuple[str, Decimal, Decimal]]:
    """Lines whose kept spend (``line_spent``: their campaigns' kept rows, read by the run-out
    forecast) differs from what their ledger adds up to (``line_balances.spent``): should be none."""
    rows = await db.fetch(
        """
        SELECT lb.id, lb.spent AS ledger, line_spent(lb.id) AS kept
        FROM line_balances lb WHERE line_spent(lb.id) IS DISTINCT FROM lb.spent ORDER BY lb.id
        """)
    return [(r["id"], r["ledger"], r["kept"]) for r in rows]
