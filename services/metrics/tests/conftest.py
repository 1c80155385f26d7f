"""Shared by the metrics tests: an event-story builder, the dozen-campaign scenario, and a
module-scoped metrics app against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from marops_events import contracts as c
from marops_events import kafka, registry
from marops_events.envelope import Envelope
from marops_metrics.handlers import CONSUMED_TYPES
from marops_metrics.main import create_app
from marops_metrics.projection import BOOKKEEPING_TABLES, LIVE_SCHEMA
from marops_metrics.settings import Settings
from marops_testkit import events as harness
from marops_testkit.apps import running, service_settings
from marops_testkit.kafka import wait_for

# (position, name, kind, SLA hours). brand-legal applies from 10 000 of requested amount.
GATES = {
    "brief-review": (1, "Brief review", c.GateKind.review, 24),
    "budget": (2, "Budget approval", c.GateKind.budget, 48),
    "brand-legal": (3, "Brand/legal review", c.GateKind.review, 72),
}
BRAND_LEGAL_FROM = Decimal(10_000)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Profile:
    team: str
    channels: list[str]
    target: date
    line: str
    currency: str = "EUR"
    historical: bool = False
    amounts: dict[int, Decimal] = field(default_factory=dict)  # requested amount per brief version


class Story:
    """Events of campaigns in the order they happened, with their business times."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self.profiles: dict[str, Profile] = {}

    def _add(self, data: Any, time: datetime, campaign_id: str | None = None,
             event_id: uuid.UUID | None = None) -> Envelope:
        historical = campaign_id is not None and self.profiles[campaign_id].historical
        event = registry.new_event(data, source="marops/import" if historical else "marops/test", time=time,
                                   event_id=event_id)
        self.events.append(event)
        return event

    def campaign(self, cid: str, *, team: str, channels: list[str], target: date, line: str,
                 currency: str = "EUR", historical: bool = False) -> None:
        self.profiles[cid] = Profile(team, channels, target, line, currency, historical)

    def _gate_count(self, cid: str, version: int) -> int:
        return 3 if self.profiles[cid].amounts[version] >= BRAND_LEGAL_FROM else 2

    def submit(self, cid: str, version: int, time: datetime, amount: int | str, title: str | None = None,
               kpis: list[c.Kpi] | None = None) -> Envelope:
        p = self.profiles[cid]
        p.amounts[version] = Decimal(amount)
        money = c.Money(amount=Decimal(amount), currency=p.currency)
        event = self._add(c.BriefSubmitted(
            campaign_id=cid, version=version, title=title or f"Campaign {cid}", team=p.team,
            owner=f"owner-{cid.lower()}", requester=f"req-{cid.lower()}", objective="grow", channels=p.channels,
            target_launch_date=p.target, flight_start=p.target, flight_end=p.target + timedelta(days=30),
            kpis=kpis if kpis is not None else [c.Kpi(metric="leads", target=Decimal(100), unit="leads",
                                                      timeframe="90 days")],
            tracking_plan=c.TrackingPlan(campaign_code=cid), budget_request=c.BudgetRequest(
                amount=money, budget_line_id=p.line)), time, cid)
        self._add(c.BudgetReserved(campaign_id=cid, brief_version=version, budget_line_id=p.line, amount=money),
                  time + timedelta(minutes=1), cid)
        return event

    def _decision(self, cid: str, version: int, gate: str, actionable_at: datetime) -> dict[str, Any]:
        position, name, kind, sla = GATES[gate]
        p = self.profiles[cid]
        return dict(campaign_id=cid, brief_version=version, policy_version=1, gate_id=gate, gate_name=name,
                    gate_kind=kind, gate_position=position, is_last_gate=position == self._gate_count(cid, version),
                    actionable_at=actionable_at, sla_hours=sla, decided_by=f"approver-{gate}",
                    amount=c.Money(amount=p.amounts[version], currency=p.currency))

    def approve(self, cid: str, version: int, gate: str, actionable_at: datetime, time: datetime) -> Envelope:
        d = self._decision(cid, version, gate, actionable_at)
        return self._add(c.GateApproved(**d, approvers=[d["decided_by"]]), time, cid)

    def reject(self, cid: str, version: int, gate: str, actionable_at: datetime, time: datetime,
               kind: c.RejectionKind = c.RejectionKind.changes_requested) -> Envelope:
        d = self._decision(cid, version, gate, actionable_at)
        return self._add(c.GateRejected(**d, kind=kind, reason="needs work"), time, cid)

    def commit(self, cid: str, version: int, time: datetime) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.BudgetCommitted(campaign_id=cid, brief_version=version, budget_line_id=p.line,
                                           amount=c.Money(amount=p.amounts[version], currency=p.currency)),
                         time, cid)

    def release(self, cid: str, amount: int, reason: c.ReleaseReason, time: datetime) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.BudgetReleased(campaign_id=cid, budget_line_id=p.line, reason=reason,
                                          amount=c.Money(amount=Decimal(amount), currency=p.currency)), time, cid)

    def launch(self, cid: str, version: int, time: datetime, *, kpis: bool = True, tracking: bool = True) -> Envelope:
        return self._add(c.CampaignLaunched(
            campaign_id=cid, brief_version=version, launched_by=f"owner-{cid.lower()}",
            readiness=c.ReadinessSnapshot(all_gates_approved=True, kpis_with_targets=kpis,
                                          tracking_plan_defined=tracking, budget_committed=True,
                                          policy_version=1)), time, cid)

    def cancel(self, cid: str, time: datetime) -> Envelope:
        return self._add(c.CampaignCancelled(campaign_id=cid, cancelled_by=f"owner-{cid.lower()}"), time, cid)

    def complete(self, cid: str, time: datetime, results: dict[str, str] | None = None) -> Envelope:
        return self._add(c.CampaignCompleted(campaign_id=cid, completed_by=f"owner-{cid.lower()}", results=[
            c.KpiResult(metric=k, actual=Decimal(v), unit="n") for k, v in (results or {}).items()]), time, cid)

    def results(self, cid: str, system: str, ref: str, as_of: date, actuals: dict[str, str], time: datetime,
                event_id: uuid.UUID | None = None) -> Envelope:
        return self._add(c.KpiResultsRecorded(
            campaign_id=cid, source_system=system, source_reference=ref, as_of=as_of,
            results=[c.KpiActual(metric=k, actual=Decimal(v)) for k, v in actuals.items()]), time, cid, event_id)

    def retrospective(self, cid: str, revision: int, time: datetime, *, lessons: int = 1,
                      actions: int = 0) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.RetrospectiveRecorded(
            campaign_id=cid, revision=revision, recorded_by=f"owner-{cid.lower()}", team=p.team,
            channels=p.channels, what_worked=["early tests"], lessons=[f"lesson {n}" for n in range(lessons)],
            actions=[c.FollowUpAction(action=f"action {n}", owner=f"owner-{cid.lower()}",
                                      due_on=date(2026, 6, 30)) for n in range(actions)]), time, cid)

    def spend(self, cid: str, ref: str, amount: str, incurred_on: date, *, system: str = "google-ads",
              line: str | None = None, corrects: str | None = None, time: datetime | None = None,
              currency: str | None = None) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.SpendRecorded(
            campaign_id=cid, source_system=system, source_reference=ref, budget_line_id=line,
            amount=c.Money(amount=Decimal(amount), currency=currency or p.currency), incurred_on=incurred_on,
            corrects_reference=corrects,
        ), time or datetime(incurred_on.year, incurred_on.month, incurred_on.day, 12, tzinfo=UTC), cid)

    def threshold(self, cid: str, percent: int, committed: str, spent: str, time: datetime) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.BudgetThresholdExceeded(
            campaign_id=cid, budget_line_id=p.line, threshold_percent=percent,
            committed=c.Money(amount=Decimal(committed), currency=p.currency),
            spent=c.Money(amount=Decimal(spent), currency=p.currency)), time, cid)

    def reconciliation(self, cid: str, system: str, ref: str, amount: str, revision: int, time: datetime,
                       *, unreconciled: str | None = None, resolution: str | None = None) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.SpendReconciliationChanged(
            campaign_id=cid, source_system=system, source_reference=ref,
            amount=c.Money(amount=Decimal(amount), currency=p.currency), revision=revision,
            status=c.ReconciliationStatus.unreconciled if unreconciled else c.ReconciliationStatus.reconciled,
            reason_code=c.UnreconciledReason(unreconciled) if unreconciled else None,
            resolution=c.ReconciliationResolution(resolution) if resolution else None,
            budget_line_id=None if unreconciled else p.line, resolved_by="fiona" if resolution == "booked" else None,
        ), time, cid)

    def reservation_refused(self, cid: str, version: int, time: datetime) -> Envelope:
        p = self.profiles[cid]
        return self._add(c.BudgetReservationRejected(
            campaign_id=cid, brief_version=version, budget_line_id=p.line,
            requested=c.Money(amount=p.amounts[version], currency=p.currency),
            reason_code=c.ReservationRejectionReason.insufficient_funds, reason="line exhausted"), time, cid)

    def reallocate(self, from_line: str, to_line: str, amount: str, time: datetime) -> Envelope:
        return self._add(c.BudgetReallocated(from_line_id=from_line, to_line_id=to_line, reason="rebalance",
                                             amount=c.Money(amount=Decimal(amount), currency="EUR"),
                                             reallocated_by="fiona"), time)

    def by_topic(self) -> dict[str, list[Envelope]]:
        """Each topic's events in the order they would sit on it (story order)."""
        topics: dict[str, list[Envelope]] = defaultdict(list)
        for e in self.events:
            topics[e.type].append(e)
        return dict(topics)


def dozen_campaigns() -> Story:
    """Twelve campaigns in 2026 with rejections, resubmissions, late launches, over- and
    under-spend, a cancellation, imported history and undecided gates.

    Gates: brief-review (SLA 24h) -> budget (48h) -> brand-legal (72h, from 10 000 only).
    Each gate's actionable_at is the previous approval (the submission for the first).
    The expected numbers, computed by hand, are in test_metrics_hand_computed.py.
    """
    s = Story()
    # C01 growth [email, paid_search] target 02-10, 5000 EUR: smooth, launched early, under-spent, completed.
    s.campaign("C01", team="growth", channels=["email", "paid_search"], target=date(2026, 2, 10), line="L-GROWTH")
    s.submit("C01", 1, at(1, 5, 9), 5000)
    s.approve("C01", 1, "brief-review", at(1, 5, 9), at(1, 5, 19))        # 10h
    s.approve("C01", 1, "budget", at(1, 5, 19), at(1, 6, 23))             # 28h
    s.commit("C01", 1, at(1, 6, 23, 1))
    s.launch("C01", 1, at(2, 9, 9))                                         # cycle 35 d = 840h, on time
    s.spend("C01", "inv-c01-1", "3000.00", date(2026, 2, 15), line="L-GROWTH")
    s.spend("C01", "inv-c01-2", "1500.00", date(2026, 3, 2), line="L-GROWTH")
    s.complete("C01", at(3, 31, 12))

    # C02 growth [paid_social] target 02-20, 8000 EUR: rejected once (late decision), launched late, over-spent.
    s.campaign("C02", team="growth", channels=["paid_social"], target=date(2026, 2, 20), line="L-GROWTH")
    s.submit("C02", 1, at(1, 8, 10), 8000)
    s.reject("C02", 1, "brief-review", at(1, 8, 10), at(1, 9, 16))         # 30h > 24h: breach
    s.submit("C02", 2, at(1, 12, 10), 8000)
    s.approve("C02", 2, "brief-review", at(1, 12, 10), at(1, 12, 20))     # 10h
    s.approve("C02", 2, "budget", at(1, 12, 20), at(1, 14, 8))            # 36h
    s.commit("C02", 2, at(1, 14, 8, 1))
    s.launch("C02", 2, at(2, 23, 10))                                       # 46 d = 1104h, late
    # The ad platform re-sent invoice meta-77 under a new event id (and a wrong amount), recorded
    # later than the original: the earliest recording counts, once. It is listed first, so it
    # reaches the topic (and the consumer) before the original.
    s.spend("C02", "meta-77", "9999.00", date(2026, 2, 28), system="meta-ads", time=at(3, 1, 8))
    s.spend("C02", "meta-77", "9000.00", date(2026, 2, 28), system="meta-ads", time=at(2, 28, 12))
    s.spend("C02", "meta-78", "600.00", date(2026, 3, 10), system="meta-ads")
    s.threshold("C02", 100, "8000", "9000.00", at(2, 28, 12, 5))

    # C03 brand [video, display] target 03-15, 20 000 then 18 000 EUR (three gates), imported history:
    # brand-legal rejected v1 late; v2 approved; the launch snapshot had no tracking plan.
    s.campaign("C03", team="brand", channels=["video", "display"], target=date(2026, 3, 15), line="L-BRAND",
               historical=True)
    s.submit("C03", 1, at(1, 15, 9), 20000)
    s.approve("C03", 1, "brief-review", at(1, 15, 9), at(1, 16, 9))       # 24h (not a breach: not later)
    s.approve("C03", 1, "budget", at(1, 16, 9), at(1, 17, 9))             # 24h
    s.commit("C03", 1, at(1, 17, 9, 1))                                     # 20 000, replaced below
    s.reject("C03", 1, "brand-legal", at(1, 17, 9), at(1, 21, 9))         # 96h > 72h: breach
    s.submit("C03", 2, at(1, 26, 9), 18000)
    s.approve("C03", 2, "brief-review", at(1, 26, 9), at(1, 26, 15))      # 6h
    s.approve("C03", 2, "budget", at(1, 26, 15), at(1, 27, 15))           # 24h
    s.commit("C03", 2, at(1, 27, 15, 1))                                    # latest: 18 000
    s.approve("C03", 2, "brand-legal", at(1, 27, 15), at(1, 30, 15))      # 72h (exactly the SLA)
    s.launch("C03", 2, at(3, 16, 9), tracking=False)                        # 60 d = 1440h, late
    s.spend("C03", "yt-c03", "18000.00", date(2026, 3, 20), system="youtube")

    # C04 brand [print] target 04-10, 4000 USD: budget decided late; launched 01:00 on 04-11 at UTC+5,
    # which is 20:00 UTC on the target date: on time, by the UTC date.
    s.campaign("C04", team="brand", channels=["print"], target=date(2026, 4, 10), line="L-BRAND-US",
               currency="USD")
    s.submit("C04", 1, at(2, 2, 9), 4000)
    s.approve("C04", 1, "brief-review", at(2, 2, 9), at(2, 2, 13))        # 4h
    s.approve("C04", 1, "budget", at(2, 2, 13), at(2, 5, 13))             # 72h > 48h: breach
    s.commit("C04", 1, at(2, 5, 13, 1))
    s.launch("C04", 1, datetime(2026, 4, 11, 1, 0, tzinfo=timezone(timedelta(hours=5))))  # 04-10 20:00 UTC; 1619h
    s.spend("C04", "print-c04", "4400.00", date(2026, 4, 20), system="printco", line="L-BRAND-US")

    # C05 product [content, email] target 03-01, 3000 EUR: rejected outright; the reservation released.
    s.campaign("C05", team="product", channels=["content", "email"], target=date(2026, 3, 1), line="L-PRODUCT")
    s.submit("C05", 1, at(2, 3, 9), 3000)
    s.reject("C05", 1, "brief-review", at(2, 3, 9), at(2, 4, 9), kind=c.RejectionKind.rejected)  # 24h
    s.release("C05", 3000, c.ReleaseReason.rejected, at(2, 4, 9, 1))

    # C06 product [events] target 03-20, 12 000 EUR (three gates): cancelled after a 2000 deposit.
    s.campaign("C06", team="product", channels=["events"], target=date(2026, 3, 20), line="L-PRODUCT")
    s.submit("C06", 1, at(2, 9, 9), 12000)
    s.approve("C06", 1, "brief-review", at(2, 9, 9), at(2, 9, 21))        # 12h
    s.approve("C06", 1, "budget", at(2, 9, 21), at(2, 11, 9))             # 36h
    s.commit("C06", 1, at(2, 11, 9, 1))
    s.approve("C06", 1, "brand-legal", at(2, 11, 9), at(2, 12, 9))        # 24h
    s.spend("C06", "venue-c06", "2000.00", date(2026, 2, 15), system="venues")
    s.cancel("C06", at(2, 20, 10))
    s.release("C06", 12000, c.ReleaseReason.cancelled, at(2, 20, 10, 1))

    # C07 growth [paid_search] target 04-05, 6000 EUR: rejected twice (second late), launched 04-01,
    # a refund brings spend under the commitment.
    s.campaign("C07", team="growth", channels=["paid_search"], target=date(2026, 4, 5), line="L-GROWTH")
    s.submit("C07", 1, at(3, 2, 9), 6000)
    s.reject("C07", 1, "brief-review", at(3, 2, 9), at(3, 3, 9))          # 24h
    s.submit("C07", 2, at(3, 5, 9), 6000)
    s.reject("C07", 2, "brief-review", at(3, 5, 9), at(3, 6, 15))         # 30h: breach
    s.submit("C07", 3, at(3, 9, 9), 6000)
    s.approve("C07", 3, "brief-review", at(3, 9, 9), at(3, 9, 11))        # 2h
    s.approve("C07", 3, "budget", at(3, 9, 11), at(3, 10, 11))            # 24h
    s.commit("C07", 3, at(3, 10, 11, 1))
    s.launch("C07", 3, at(4, 1, 9))                                         # 30 d = 720h, on time
    s.spend("C07", "gads-c07", "6500.00", date(2026, 4, 10))
    s.spend("C07", "gads-c07-refund", "-800.00", date(2026, 4, 12), corrects="gads-c07")

    # C08 brand [organic_social] target 03-31, 2000 EUR, imported: budget decided late; launched
    # 23:00 UTC on the target date with no KPIs in the snapshot; nothing spent.
    s.campaign("C08", team="brand", channels=["organic_social"], target=date(2026, 3, 31), line="L-BRAND",
               historical=True)
    s.submit("C08", 1, at(3, 10, 9), 2000)
    s.approve("C08", 1, "brief-review", at(3, 10, 9), at(3, 10, 10))      # 1h
    s.approve("C08", 1, "budget", at(3, 10, 10), at(3, 13, 11))           # 73h: breach
    s.commit("C08", 1, at(3, 13, 11, 1))
    s.launch("C08", 1, at(3, 31, 23), kpis=False)                           # 21 d 14h = 518h, on time

    # C09 product [sms, email] target 04-30, 7000 EUR, imported: smooth, over-spent.
    s.campaign("C09", team="product", channels=["sms", "email"], target=date(2026, 4, 30), line="L-PRODUCT",
               historical=True)
    s.submit("C09", 1, at(4, 1, 9), 7000)
    s.approve("C09", 1, "brief-review", at(4, 1, 9), at(4, 2, 9))         # 24h
    s.approve("C09", 1, "budget", at(4, 2, 9), at(4, 3, 9))               # 24h
    s.commit("C09", 1, at(4, 3, 9, 1))
    s.launch("C09", 1, at(4, 28, 9))                                        # 27 d = 648h, on time
    s.spend("C09", "sms-c09", "7700.00", date(2026, 5, 5), system="smsco")
    # ... and re-sent a week later under a new event id with another amount: still the first one counts.
    s.spend("C09", "sms-c09", "7777.00", date(2026, 5, 5), system="smsco", time=at(5, 12, 12))

    # C10 growth [display] target 05-01, 15 000 EUR (three gates): brand-legal still undecided.
    s.campaign("C10", team="growth", channels=["display"], target=date(2026, 5, 1), line="L-GROWTH")
    s.submit("C10", 1, at(4, 6, 9), 15000)
    s.approve("C10", 1, "brief-review", at(4, 6, 9), at(4, 6, 17))        # 8h
    s.approve("C10", 1, "budget", at(4, 6, 17), at(4, 8, 17))             # 48h (exactly the SLA)
    s.commit("C10", 1, at(4, 8, 17, 1))

    # C11 brand [video] target 05-20, 9500 then 9000 EUR: rejected at brief review (late) and at
    # budget, three versions, launched late, over-spent.
    s.campaign("C11", team="brand", channels=["video"], target=date(2026, 5, 20), line="L-BRAND")
    s.submit("C11", 1, at(4, 13, 9), 9500)
    s.reject("C11", 1, "brief-review", at(4, 13, 9), at(4, 15, 9))        # 48h: breach
    s.submit("C11", 2, at(4, 16, 9), 9500)
    s.approve("C11", 2, "brief-review", at(4, 16, 9), at(4, 16, 12))      # 3h
    s.reject("C11", 2, "budget", at(4, 16, 12), at(4, 17, 12))            # 24h
    s.submit("C11", 3, at(4, 20, 9), 9000)
    s.approve("C11", 3, "brief-review", at(4, 20, 9), at(4, 20, 12))      # 3h
    s.approve("C11", 3, "budget", at(4, 20, 12), at(4, 21, 12))           # 24h
    s.commit("C11", 3, at(4, 21, 12, 1))
    s.launch("C11", 3, at(5, 25, 9))                                        # 42 d = 1008h, late
    s.spend("C11", "yt-c11", "10800.00", date(2026, 5, 30), system="youtube", line="L-BRAND")
    # budget could not book it at first; finance booked it the next morning (no change to any number)
    s.reconciliation("C11", "youtube", "yt-c11", "10800.00", 1, at(5, 30, 13), unreconciled="unknown_line")
    s.reconciliation("C11", "youtube", "yt-c11", "10800.00", 2, at(5, 31, 9), resolution="booked")

    # C12 product [affiliate] target 06-15, 1000 EUR: submitted, reservation refused, nothing decided.
    s.campaign("C12", team="product", channels=["affiliate"], target=date(2026, 6, 15), line="L-PRODUCT")
    s.submit("C12", 1, at(5, 4, 9), 1000)
    s.reservation_refused("C12", 1, at(5, 4, 9, 2))

    s.reallocate("L-PRODUCT", "L-GROWTH", "500.00", at(3, 1, 9))
    return s


@pytest.fixture(scope="session")
def dozen() -> Story:
    """The scenario's events (read-only: tests must not add to it)."""
    return dozen_campaigns()


@pytest.fixture(scope="session")
def story() -> Callable[[], Story]:
    return Story


@pytest.fixture
def fresh_dozen() -> Callable[[], Story]:
    """A new copy of the scenario, for a test that adds events to it."""
    return dozen_campaigns


# --- real infrastructure, one app per test module ------------------------------------


@dataclass
class MetricsApp:
    client: httpx.AsyncClient
    settings: Settings
    app: Any

    @property
    def prefix(self) -> str:
        return self.settings.topic_prefix

    async def publish(self, events: Iterable[Envelope], *, transactional: bool = False) -> None:
        await publish(self.settings.kafka_bootstrap_servers, self.prefix, events, transactional=transactional)

    async def wait_applied(self, count: int, timeout: float = 60) -> None:
        """Until the consumer's inbox holds ``count`` distinct event ids."""
        async def applied() -> bool:
            conn = await asyncpg.connect(self.settings.database_url)
            try:
                return await conn.fetchval("SELECT count(*) FROM inbox") >= count
            finally:
                await conn.close()

        await wait_for(applied, timeout=timeout, interval=0.2, message=f"{count} events applied")

    async def rebuild_cli(self, **env: str) -> tuple[int, str, str]:
        """``python -m marops_metrics.rebuild`` over this app's database and topics, ``env`` added:
        its exit code, stdout and stderr."""
        full = {**os.environ, **env, "METRICS_DATABASE_URL": self.settings.database_url,
                "METRICS_KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
                "METRICS_TOPIC_PREFIX": self.prefix, "METRICS_LOG_JSON": "false", "METRICS_LOG_LEVEL": "WARNING"}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "marops_metrics.rebuild", env=full,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def wait_caught_up(self, timeout: float = 60) -> None:
        """Until the consumer reports no lag on any partition of any topic."""
        async def caught_up() -> bool:
            lag = self.app.state.runtime.consumer.lag  # (topic, partition) -> records behind
            return len(lag) == len(CONSUMED_TYPES) * self.settings.topic_partitions and not any(lag.values())

        await wait_for(caught_up, timeout=timeout, interval=0.2, message="consumer caught up")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def metrics(module_pg_dsn: str, kafka_bootstrap: str, module_topic_prefix: str) -> AsyncIterator[MetricsApp]:
    """The metrics app running in-process (API, consumer) on its own database and topics."""
    settings = service_settings(Settings, pg_dsn=module_pg_dsn, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=module_topic_prefix)
    app = create_app(settings)
    async with running(app) as client:
        yield MetricsApp(client, settings, app)


async def _started_producer(bootstrap: str, transactional_id: str | None, attempts: int = 5) -> Any:
    """A started producer; the shared test broker is sometimes slow to answer a bootstrap."""
    for attempt in range(1, attempts + 1):
        if transactional_id:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=transactional_id,
                                        enable_idempotence=True, acks="all")
        else:
            producer = kafka.producer(bootstrap, client_id="metrics-test")
        try:
            await producer.start()
            return producer
        except KafkaConnectionError:
            await producer.stop()
            if attempt == attempts:
                raise
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


async def publish(bootstrap: str, prefix: str, events: Iterable[Envelope], *, transactional: bool = False) -> None:
    """Produce envelopes as another service's relay would: keyed by campaign, in the given order;
    ``transactional`` publishes them in one Kafka transaction, as the history import does."""
    producer = await _started_producer(bootstrap, f"metrics-test-{uuid.uuid4().hex}" if transactional else None)
    try:
        if transactional:
            async with producer.transaction():
                await harness.publish(producer, prefix, events)
        else:
            await harness.publish(producer, prefix, events)
    finally:
        await producer.stop()


async def read_model_tables(dsn: str) -> dict[str, list[str]]:
    """Every read-model table of the live schema, rows as sorted JSON lines."""
    conn = await asyncpg.connect(dsn)
    try:
        names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> ALL($2) ORDER BY 1", LIVE_SCHEMA,
                                 BOOKKEEPING_TABLES)
        assert names, "the read model has no tables"
        return {
            name: sorted(json.dumps(dict(r), default=str, sort_keys=True)
                         for r in await conn.fetch(f"SELECT * FROM {LIVE_SCHEMA}.{name}"))
            for name in (r["tablename"] for r in names)
        }
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def dump_read_model() -> Callable[[str], Any]:
    return read_model_tables


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dozen_loaded(metrics: MetricsApp, dozen: Story) -> MetricsApp:
    """The module's app after consuming the dozen-campaign scenario from Kafka, with the first
    ten events redelivered (same event ids) after the rest."""
    await metrics.publish([*dozen.events, *dozen.events[:10]])
    await metrics.wait_applied(len(dozen.events))
    await metrics.wait_caught_up()
    return metrics
