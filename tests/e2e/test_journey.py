"""End to end: the campaign journey of SPEC section 3 across the four running services.

The services run as real processes (conftest.e2e_stack). Everything below goes through
their HTTP APIs, plus one plain Kafka producer playing an ERP that publishes spend using
nothing but the published contract. Then the metrics service's numbers are checked against
values worked out by hand here.

The cast (tokens minted with the stack's test secret):

  fiona  finance      creates the budget lines, moves 2 000 EUR from growth to brand
  alice  requester+approver, team growth   owns A (a marketing lead: may approve, never her own)
  bob    requester, team growth            owns B
  carol  requester, team brand             owns C
  dan    requester, team brand             owns D
  alex, ally  approvers;  finn  finance (budget gate);  gads-sync  service (ad platform, API)
  sap-fi      the ERP, straight onto Kafka

Budget lines (EUR): growth 50 000 - 2 000 = 48 000;  brand 20 000 + 2 000 = 22 000.

  A  growth  email, paid_social  -> 4 gates (brand_legal_review applies to paid_social)
     v1 12 000; budget gate asks for changes; v2 9 000; every gate approved; committed 9 000;
     launched; spend 2 500 (API, today) + 4 000 (Kafka, today; sent three times); completed.
  B  growth  email -> 3 gates.  5 000; brief review and budget approved, committed 5 000;
     spend 750 (Kafka, 40 days ago); cancelled -> released, committed 0, spend still counts.
  C  brand   email -> 3 gates.  3 000; approved, launched; spend 2 000 (API, today) +
     1 400 (Kafka, 40 days ago) = 3 400 = 113.3 % of 3 000 -> thresholds 80, 100, 110.
  D  brand   email.  25 000 > 19 000 available (22 000 - C's 3 000) -> BudgetReservationRejected
     (insufficient_funds); budget gate refused (409) then rejected outright.
"""

from __future__ import annotations

import json
import math
import re
import signal
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pytest import approx

from marops_testkit import events as harness
from marops_testkit.kafka import wait_for

#: the async tests share the module's event loop with the module-scoped async fixtures
in_module_loop = pytest.mark.asyncio(loop_scope="module")

EVENTUALLY = 30.0  # seconds for an effect to travel outbox -> Kafka -> consumer
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
GROWTH, BRAND = "growth-fy-q", "brand-fy-q"
GATES_A = ["brief_review", "budget_approval", "brand_legal_review", "launch_readiness"]
GATES_EMAIL = ["brief_review", "budget_approval", "launch_readiness"]

#: every event type of the v1 contract and its topic (libs/events/.../asyncapi.yaml)
TOPICS = {
    "BriefSubmitted": "marops.brief-submitted.v1",
    "CampaignCancelled": "marops.campaign-cancelled.v1",
    "CampaignCompleted": "marops.campaign-completed.v1",
    "GateApproved": "marops.gate-approved.v1",
    "GateRejected": "marops.gate-rejected.v1",
    "CampaignLaunched": "marops.campaign-launched.v1",
    "BudgetReserved": "marops.budget-reserved.v1",
    "BudgetReservationRejected": "marops.budget-reservation-rejected.v1",
    "BudgetCommitted": "marops.budget-committed.v1",
    "BudgetReleased": "marops.budget-released.v1",
    "SpendRecorded": "marops.spend-recorded.v1",
    "BudgetReallocated": "marops.budget-reallocated.v1",
    "BudgetThresholdExceeded": "marops.budget-threshold-exceeded.v1",
}

#: distinct events (by id) the journey publishes, per type
EXPECTED_EVENTS = {
    "BriefSubmitted": 5,  # A v1, A v2, B, C, D
    "GateApproved": 11,  # A: 1 (v1) + 4 (v2); B: 2; C: 3; D: 1
    "GateRejected": 2,  # A v1 budget (changes requested), D budget (rejected)
    "CampaignLaunched": 2,  # A, C
    "CampaignCancelled": 1,  # B
    "CampaignCompleted": 1,  # A
    "BudgetReserved": 4,  # A v1, A v2, B, C
    "BudgetReservationRejected": 1,  # D
    "BudgetCommitted": 3,  # A, B, C
    "BudgetReleased": 1,  # B (cancelled); D never held anything
    "SpendRecorded": 6,  # API: A, C (budget publishes them); Kafka: A (2 ids), B, C
    "BudgetReallocated": 1,
    "BudgetThresholdExceeded": 3,  # C: 80, 100, 110 %
}


# --- talking to the services ----------------------------------------------------------


class Api:
    """HTTP calls to the running services; every call states the status it expects."""

    def __init__(self, stack: Any, client: httpx.AsyncClient) -> None:
        self.stack, self.client = stack, client

    def who(self, subject: str, *roles: str, team: str | None = None,
            source_systems: list[str] | None = None) -> dict[str, str]:
        return self.stack.auth(subject, *roles, team=team, source_systems=source_systems)

    async def call(self, method: str, service: str, path: str, who: dict[str, str], *, expect: int = 200,
                   **kwargs: Any) -> Any:
        headers = {**who, **kwargs.pop("headers", {})}
        response = await self.client.request(method, f"{self.stack.url(service)}{path}", headers=headers, **kwargs)
        assert response.status_code == expect, (
            f"{method} {service}{path}: expected {expect}, got {response.status_code}: {response.text}")
        return response.json()

    async def get(self, service: str, path: str, who: dict[str, str], **kw: Any) -> Any:
        return await self.call("GET", service, path, who, **kw)

    async def post(self, service: str, path: str, who: dict[str, str], body: Any = None, **kw: Any) -> Any:
        return await self.call("POST", service, path, who, json=body, **kw)

    async def eventually(self, probe: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Poll `probe` until it returns something truthy (the system is eventually consistent)."""
        return await wait_for(probe, timeout=EVENTUALLY, interval=0.1, message=what)

    # a few probes used over and over
    async def intake_status(self, cid: str, who: dict[str, str], status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            body = await self.get("intake", f"/campaigns/{cid}", who)
            return body if body["status"] == status else None
        return await self.eventually(probe, f"intake shows {cid} {status}")

    async def governance_reservation(self, cid: str, version: int, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            body = await self.get("governance", f"/campaigns/{cid}", self.who("vera", "viewer"), expect=200)
            ok = body["brief_version"] == version and body["budget"]["reservation"]["status"] == status
            return body if ok else None
        return await self.eventually(probe, f"governance sees the reservation of {cid} v{version} {status}")

    async def budget_campaign(self, cid: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            body = await self.get("budget", f"/campaigns/{cid}/budget", self.who("vic", "viewer"))
            return body if body["status"] == status else None
        return await self.eventually(probe, f"budget holds {cid} as {status}")

    async def decide(self, cid: str, gate: str, version: int, who: dict[str, str], *, expect: int = 201,
                     **rejection: str) -> dict[str, Any]:
        body: dict[str, Any] = {"decision": "reject" if rejection else "approve", "brief_version": version,
                                **rejection}
        return await self.post("governance", f"/campaigns/{cid}/gates/{gate}/decisions", who, body, expect=expect)


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def brief(*, title: str, channels: list[str], amount: str, line: str, responsible: str,
          target: date) -> dict[str, Any]:
    return {
        "title": title, "objective": f"{title}: grow qualified demand", "target_audience": "Customers of the last year",
        "channels": channels, "target_launch_date": target.isoformat(), "flight_start": target.isoformat(),
        "flight_end": (target + timedelta(days=30)).isoformat(),
        "kpis": [{"metric": "qualified_leads", "target": "400", "unit": "leads", "timeframe": "6 weeks after launch"}],
        "tracking_plan": {"campaign_code": title.lower().replace(" ", "-"), "conversion_events": ["lead_form_submit"],
                          "reporting_destination": "Marketing dashboard"},
        "budget_request": {"amount": money(amount), "budget_line_id": line},
        "raci": {"responsible": [responsible], "informed": ["sales"]},
    }


# --- the other enterprise system: a plain Kafka client and the published contract ------


def erp_spend(campaign_id: str, reference: str, amount: str, incurred_on: date) -> dict[str, Any]:
    """A SpendRecorded envelope written by hand from services/budget/README.md and the AsyncAPI document."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "erp/sap-fi",
        "type": "SpendRecorded",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "subject": campaign_id,
        "datacontenttype": "application/json",
        "correlationid": campaign_id,
        "data": {
            "campaign_id": campaign_id,
            "source_system": "sap-fi",
            "source_reference": reference,
            "amount": {"amount": amount, "currency": "EUR"},
            "incurred_on": incurred_on.isoformat(),
            "description": "Invoice booked in SAP FI",
        },
    }


def analytics_results(campaign_id: str, reference: str, actual: str, as_of: date) -> dict[str, Any]:
    """A KpiResultsRecorded envelope written by hand from the AsyncAPI document, as an analytics system sends it."""
    return {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "analytics/looker", "type": "KpiResultsRecorded",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "subject": campaign_id,
        "datacontenttype": "application/json", "correlationid": campaign_id,
        "data": {"campaign_id": campaign_id, "source_system": "looker", "source_reference": reference,
                 "as_of": as_of.isoformat(), "results": [{"metric": "qualified_leads", "actual": actual}]},
    }


async def erp_publish(bootstrap: str, topic: str, envelopes: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for envelope in envelopes:
            traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
            await producer.send_and_wait(
                topic, key=envelope["data"]["campaign_id"].encode(), value=json.dumps(envelope).encode(),
                headers=[("content-type", b"application/cloudevents+json"), ("ce_type", envelope["type"].encode()),
                         ("traceparent", traceparent.encode())])
    finally:
        await producer.stop()


# --- the journey ------------------------------------------------------------------------


@dataclass
class Journey:
    today: date
    target: date
    earlier: date  # 40 days before today: always another calendar month
    ids: dict[str, str] = field(default_factory=dict)  # "A" -> campaign id
    seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # statuses observed in intake
    erp_event_ids: dict[str, str] = field(default_factory=dict)  # source reference -> first event id
    launched: dict[str, dict[str, Any]] = field(default_factory=dict)  # launch responses


async def create_lines(api: Api, j: Journey) -> None:
    fiona = api.who("fiona", "finance")
    quarter = (j.today.month - 1) // 3 + 1
    for line_id, team, channel, amount in ((GROWTH, "growth", "paid_social", "50000.00"),
                                           (BRAND, "brand", "email", "20000.00")):
        body = await api.post("budget", "/budget-lines", fiona, {
            "id": line_id, "name": f"{team} {j.today.year} Q{quarter}", "fiscal_year": j.today.year,
            "quarter": quarter, "team": team, "channel": channel, "amount": money(amount)}, expect=201)
        assert body["available"] == money(amount)
    await api.post("budget", "/reallocations", fiona, {
        "from_line_id": GROWTH, "to_line_id": BRAND, "amount": money("2000.00"),
        "reason": "brand email outperforms paid social"}, expect=201)
    lines = {line["id"]: line for line in await api.get("budget", "/budget-lines", fiona)}
    assert lines[GROWTH]["amount"] == money("48000.00")  # 50 000 - 2 000
    assert lines[BRAND]["amount"] == money("22000.00")  # 20 000 + 2 000


async def campaign_a(api: Api, j: Journey) -> None:
    """Draft, check, submit, four-eyes, changes requested, revise, resubmit, commit, launch."""
    alice = api.who("alice", "requester", "approver", team="growth")
    alex, ally, finn = api.who("alex", "approver"), api.who("ally", "approver"), api.who("finn", "finance")

    draft = await api.post("intake", "/campaigns", alice, {"title": "Spring reactivation",
                                                           "channels": ["email", "paid_social"]}, expect=201)
    cid = j.ids["A"] = draft["id"]
    assert (draft["status"], draft["owner"], draft["team"]) == ("draft", "alice", "growth")
    j.seen["A"].append(draft["status"])

    check = await api.get("intake", f"/campaigns/{cid}/completeness", alice)
    missing = {e["path"] for e in check["errors"]}
    assert check["complete"] is False
    assert missing == {"objective", "target_audience", "target_launch_date", "flight_start", "flight_end", "kpis",
                       "tracking_plan", "budget_request", "raci.responsible"}
    refused = await api.post("intake", f"/campaigns/{cid}/submit", alice, expect=422)
    assert refused["type"].endswith("/brief-incomplete")
    assert {e["path"] for e in refused["errors"]} == missing

    full = brief(title="Spring reactivation", channels=["email", "paid_social"], amount="12000.00", line=GROWTH,
                 responsible="alice", target=j.target)
    await api.call("PATCH", "intake", f"/campaigns/{cid}/brief", alice,
                   json={k: v for k, v in full.items() if k not in ("title", "channels")})
    assert await api.get("intake", f"/campaigns/{cid}/completeness", alice) == {"complete": True, "errors": []}
    submitted = await api.post("intake", f"/campaigns/{cid}/submit", alice)
    assert (submitted["status"], submitted["current_version"]) == ("submitted", 1)
    j.seen["A"].append(submitted["status"])

    # budget reserves v1: seen by budget (line and campaign) and by governance
    held = await api.budget_campaign(cid, "reserved")
    assert (held["brief_version"], held["reserved"]) == (1, money("12000.00"))
    gov = await api.governance_reservation(cid, 1, "reserved")
    assert gov["budget"]["reservation"]["amount"] == money("12000.00")
    assert [(g["gate_id"], g["status"]) for g in gov["gates"]] == [
        ("brief_review", "open"), ("budget_approval", "waiting"), ("brand_legal_review", "waiting"),
        ("launch_readiness", "waiting")]
    line = await api.get("budget", f"/budget-lines/{GROWTH}", finn)
    assert (line["reserved"], line["available"]) == (money("12000.00"), money("36000.00"))  # 48 000 - 12 000

    # gates are decided in order
    out_of_order = await api.decide(cid, "brand_legal_review", 1, ally, expect=409)
    assert out_of_order["type"].endswith("/not-current-gate") and out_of_order["current_gate"] == "brief_review"
    # four-eyes: alice holds the approver role but submitted and owns A
    four_eyes = await api.decide(cid, "brief_review", 1, alice, expect=403)
    assert four_eyes["type"].endswith("/four-eyes")
    await api.decide(cid, "brief_review", 1, alex)
    j.seen["A"].append((await api.intake_status(cid, alice, "in_review"))["status"])

    # launch is refused with every unmet condition
    not_ready = await api.post("governance", f"/campaigns/{cid}/launch", alice, expect=409)
    assert not_ready["type"].endswith("/not-ready")
    assert {u["code"] for u in not_ready["unmet"]} == {"gates_not_approved", "budget_not_committed"}

    # finance sends it back: changes requested
    rejected = await api.decide(cid, "budget_approval", 1, finn, kind="changes_requested",
                                reason="Halve paid social")
    assert rejected["published"] == "GateRejected"
    back = await api.intake_status(cid, alice, "changes_requested")
    assert "Halve paid social" in back["status_reason"]
    j.seen["A"].append(back["status"])

    # revise and resubmit: version 2
    edited = await api.call("PATCH", "intake", f"/campaigns/{cid}/brief", alice,
                            json={"budget_request": {"amount": money("9000.00"), "budget_line_id": GROWTH}})
    assert [(c["path"], c["before"], c["after"]) for c in edited["unsubmitted_changes"]] == [
        ("budget_request.amount.amount", "12000.00", "9000.00")]
    v2 = await api.post("intake", f"/campaigns/{cid}/submit", alice)
    assert (v2["status"], v2["current_version"]) == ("submitted", 2)
    j.seen["A"].append(v2["status"])
    diff = await api.get("intake", f"/campaigns/{cid}/versions/2/diff", alice)
    assert [c["path"] for c in diff["changes"]] == ["budget_request.amount.amount"]

    # the gates re-open from the first for v2; budget adjusts the reservation to 9 000
    gov = await api.governance_reservation(cid, 2, "reserved")
    assert gov["budget"]["reservation"]["amount"] == money("9000.00")
    assert [(g["gate_id"], g["status"]) for g in gov["gates"]] == [
        ("brief_review", "open"), ("budget_approval", "waiting"), ("brand_legal_review", "waiting"),
        ("launch_readiness", "waiting")]
    line = await api.get("budget", f"/budget-lines/{GROWTH}", finn)
    assert line["reserved"] == money("9000.00")  # replaced, not added
    stale = await api.decide(cid, "brief_review", 1, alex, expect=409)
    assert stale["type"].endswith("/stale-brief-version")

    await api.decide(cid, "brief_review", 2, alex)
    await api.decide(cid, "budget_approval", 2, finn)
    committed = await api.budget_campaign(cid, "committed")
    assert (committed["brief_version"], committed["committed"]) == (2, money("9000.00"))
    line = await api.get("budget", f"/budget-lines/{GROWTH}", finn)
    assert (line["reserved"], line["committed"]) == (money("0.00"), money("9000.00"))
    await api.decide(cid, "brand_legal_review", 2, ally)

    # all but the last gate: still not ready, and now only for that reason
    async def commitment_seen() -> bool:
        body = await api.get("governance", f"/campaigns/{cid}", alex)
        return body["budget"]["committed"] == money("9000.00")
    await api.eventually(commitment_seen, "governance sees the commitment of A")
    not_ready = await api.post("governance", f"/campaigns/{cid}/launch", alice, expect=409)
    assert [u["code"] for u in not_ready["unmet"]] == ["gates_not_approved"]
    assert "launch_readiness" in not_ready["unmet"][0]["detail"]

    await api.decide(cid, "launch_readiness", 2, alex)
    j.seen["A"].append((await api.intake_status(cid, alice, "approved"))["status"])
    readiness = await api.get("governance", f"/campaigns/{cid}/readiness", alice)
    assert (readiness["ready"], readiness["unmet"]) == (True, [])

    forbidden = await api.post("governance", f"/campaigns/{cid}/launch", alex, expect=403)
    assert forbidden["type"].endswith("/launch-forbidden")
    launched = j.launched["A"] = await api.post("governance", f"/campaigns/{cid}/launch", alice, expect=201)
    assert launched["brief_version"] == 2 and launched["readiness"]["budget_committed"] is True
    j.seen["A"].append((await api.intake_status(cid, alice, "launched"))["status"])


async def submit_complete(api: Api, j: Journey, key: str, owner: dict[str, str], **brief_fields: Any) -> str:
    created = await api.post("intake", "/campaigns", owner, brief(target=j.target, **brief_fields), expect=201)
    cid = j.ids[key] = created["id"]
    key_header = {"Idempotency-Key": f"submit-{cid}-1"}
    submitted = await api.post("intake", f"/campaigns/{cid}/submit", owner, headers=key_header)
    assert (submitted["status"], submitted["current_version"]) == ("submitted", 1)
    # a retry with the same key replays the answer instead of submitting again
    assert await api.post("intake", f"/campaigns/{cid}/submit", owner, headers=key_header) == submitted
    j.seen[key] += ["draft", "submitted"]
    return cid


async def campaign_b(api: Api, j: Journey) -> None:
    bob = api.who("bob", "requester", team="growth")
    cid = await submit_complete(api, j, "B", bob, title="Webinar series", channels=["email"], amount="5000.00",
                                line=GROWTH, responsible="bob")
    await api.governance_reservation(cid, 1, "reserved")
    await api.decide(cid, "brief_review", 1, api.who("alex", "approver"))
    await api.decide(cid, "budget_approval", 1, api.who("finn", "finance"))
    assert (await api.budget_campaign(cid, "committed"))["committed"] == money("5000.00")
    j.seen["B"].append((await api.intake_status(cid, bob, "in_review"))["status"])


async def campaign_c(api: Api, j: Journey) -> None:
    carol = api.who("carol", "requester", team="brand")
    cid = await submit_complete(api, j, "C", carol, title="Brand newsletter", channels=["email"], amount="3000.00",
                                line=BRAND, responsible="carol")
    gov = await api.governance_reservation(cid, 1, "reserved")
    assert [g["gate_id"] for g in gov["gates"]] == GATES_EMAIL  # no brand/legal review for email only
    await api.decide(cid, "brief_review", 1, api.who("alex", "approver"))
    no_right = await api.decide(cid, "budget_approval", 1, api.who("alex", "approver"), expect=403)
    assert no_right["type"].endswith("/no-decision-right")  # the budget gate is finance's
    await api.decide(cid, "budget_approval", 1, api.who("finn", "finance"))
    await api.decide(cid, "launch_readiness", 1, api.who("ally", "approver"))
    await api.budget_campaign(cid, "committed")
    j.seen["C"].append((await api.intake_status(cid, carol, "approved"))["status"])

    async def ready() -> bool:
        return (await api.get("governance", f"/campaigns/{cid}/readiness", carol))["ready"]
    await api.eventually(ready, "C ready to launch")
    j.launched["C"] = await api.post("governance", f"/campaigns/{cid}/launch", carol, expect=201)
    j.seen["C"].append((await api.intake_status(cid, carol, "launched"))["status"])


async def campaign_d(api: Api, j: Journey) -> None:
    dan = api.who("dan", "requester", team="brand")
    finn = api.who("finn", "finance")
    cid = await submit_complete(api, j, "D", dan, title="Billboard takeover", channels=["email"], amount="25000.00",
                                line=BRAND, responsible="dan")
    gov = await api.governance_reservation(cid, 1, "rejected")
    assert gov["budget"]["reservation"]["reason_code"] == "insufficient_funds"
    refusal = (await api.budget_campaign(cid, "none"))["reservations"]
    assert [(r["outcome"], r["reason_code"]) for r in refusal] == [("rejected", "insufficient_funds")]

    await api.decide(cid, "brief_review", 1, api.who("alex", "approver"))
    no_money = await api.decide(cid, "budget_approval", 1, finn, expect=409)
    assert no_money["type"].endswith("/budget-not-reserved")
    assert no_money["reservation"]["status"] == "rejected"
    assert no_money["reservation"]["reason_code"] == "insufficient_funds"
    await api.decide(cid, "budget_approval", 1, finn, kind="rejected", reason="Not this year: no room on the line")
    j.seen["D"].append((await api.intake_status(cid, dan, "rejected"))["status"])
    final = await api.post("intake", f"/campaigns/{cid}/submit", dan, expect=409)  # rejected is final
    assert final["status"] == 409


async def spend(api: Api, j: Journey) -> None:
    """Through the budget API (an ad platform, finance) and from the ERP straight onto Kafka."""
    a, b, c = j.ids["A"], j.ids["B"], j.ids["C"]
    gads, fiona, vic = api.who("gads-sync", "service", source_systems=["google-ads"]), api.who("fiona", "finance"), api.who("vic", "viewer")
    first = {"campaign_id": a, "source_system": "google-ads", "source_reference": "gads-a-0001",
             "amount": money("2500.00"), "incurred_on": j.today.isoformat()}
    recorded = await api.post("budget", "/spend", gads, first, expect=201)
    assert (recorded["already_recorded"], recorded["counted_on_line_id"]) == (False, GROWTH)
    again = await api.post("budget", "/spend", gads, first, expect=200)  # a retry of the same business fact
    assert again["already_recorded"] is True and again["event_id"] == recorded["event_id"]
    await api.post("budget", "/spend", fiona, {
        "campaign_id": c, "source_system": "finance-manual", "source_reference": "po-c-77",
        "amount": money("2000.00"), "incurred_on": j.today.isoformat()}, expect=201)

    inv_a = erp_spend(a, "INV-A-1", "4000.00", j.today)
    duplicate = {**inv_a, "id": str(uuid.uuid4()), "time": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    inv_b = erp_spend(b, "INV-B-1", "750.00", j.earlier)
    inv_c = erp_spend(c, "INV-C-1", "1400.00", j.earlier)
    j.erp_event_ids.update({"INV-A-1": inv_a["id"], "INV-B-1": inv_b["id"], "INV-C-1": inv_c["id"]})
    # INV-A-1 three times: as is (a redelivery) and under a new event id (the same invoice re-sent)
    await erp_publish(api.stack.kafka_bootstrap, api.stack.topic(TOPICS["SpendRecorded"]),
                      [inv_a, inv_b, inv_a, inv_c, duplicate])

    async def ledger(cid: str, total: str, entries: int) -> bool:
        body = await api.get("budget", f"/spend?campaign_id={cid}", vic)
        return body["totals"] == [{"currency": "EUR", "total": total, "entries": entries}]
    await api.eventually(lambda: ledger(a, "6500.00", 2), "A's spend: 2 500 + 4 000, the invoice once")
    await api.eventually(lambda: ledger(b, "750.00", 1), "B's spend")
    await api.eventually(lambda: ledger(c, "3400.00", 2), "C's spend: 2 000 + 1 400")


async def metric_catalogue(api: Api, e2e_stack: Any) -> None:
    """ops publishes the catalogue before any brief: every brief's qualified_leads is an outcome KPI."""
    await api.post("governance", "/metric-catalogue/versions", api.who("ada", "ops_admin"), {
        "definitions": [{"key": "qualified_leads", "name": "Qualified leads", "unit": "leads", "kind": "outcome"}],
        "reason": "success is defined before launch"}, expect=201)
    await harness.caught_up(e2e_stack.kafka_bootstrap, e2e_stack.topic_prefix, "intake", ("MetricCatalogueChanged",))


async def results_from_analytics(e2e_stack: Any, j: Journey) -> None:
    """The analytics system reports C's leads so far, three times over (one report, three event ids)."""
    copies = [analytics_results(j.ids["C"], "looker-c-week-1", "340", j.today) for _ in range(3)]
    await erp_publish(e2e_stack.kafka_bootstrap, e2e_stack.topic("marops.kpi-results-recorded.v1"), copies)


async def cancel_b_complete_a(api: Api, j: Journey) -> None:
    bob = api.who("bob", "requester", team="growth")
    alice = api.who("alice", "requester", "approver", team="growth")
    cancelled = await api.post("intake", f"/campaigns/{j.ids['B']}/cancel", bob, {"reason": "Speaker cancelled"})
    assert cancelled["status"] == "cancelled"
    j.seen["B"].append(cancelled["status"])
    released = await api.budget_campaign(j.ids["B"], "released")
    assert released["release_reason"] == "cancelled"
    line = await api.get("budget", f"/budget-lines/{GROWTH}", bob)
    assert line["committed"] == money("9000.00")  # A only; B's 5 000 went back to the line

    completed = await api.post("intake", f"/campaigns/{j.ids['A']}/complete", alice,
                               {"results": [{"metric": "qualified_leads", "actual": "452"}]})
    assert completed["status"] == "completed"
    assert completed["completion"]["results"] == [
        {"metric": "qualified_leads", "target": "400", "actual": "452", "unit": "leads"}]
    j.seen["A"].append(completed["status"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def journey(e2e_stack: Any) -> Journey:
    today = datetime.now(UTC).date()
    j = Journey(today=today, target=today + timedelta(days=30), earlier=today - timedelta(days=40))
    async with httpx.AsyncClient(timeout=20) as client:
        api = Api(e2e_stack, client)
        await create_lines(api, j)
        await metric_catalogue(api, e2e_stack)
        await campaign_a(api, j)
        await campaign_b(api, j)
        await campaign_c(api, j)
        await campaign_d(api, j)
        await spend(api, j)
        await cancel_b_complete_a(api, j)
        await results_from_analytics(e2e_stack, j)
    return j


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(e2e_stack: Any) -> Any:
    async with httpx.AsyncClient(timeout=20) as client:
        yield Api(e2e_stack, client)


# --- the events, read back from the topics ----------------------------------------------


@dataclass(frozen=True)
class Record:
    key: str | None
    headers: dict[str, str]
    event: dict[str, Any]

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.event["time"])

    @property
    def data(self) -> dict[str, Any]:
        return self.event["data"]


async def partitions_of(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]


async def read_events(bootstrap: str, expected: dict[str, int]) -> dict[str, list[Record]]:
    """Every record of the topics: read from the beginning until each holds its expected
    number of distinct event ids (delivery is at least once), then on to the end of every
    partition, so an unexpected extra event is seen too."""
    partitions = await partitions_of(bootstrap, list(expected))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    records: dict[str, list[Record]] = {topic: [] for topic in expected}

    async def caught_up() -> bool:
        batch = await consumer.getmany(*partitions, timeout_ms=200)
        for tp, rs in batch.items():
            records[tp.topic] += [Record(r.key.decode() if r.key else None, {k: v.decode() for k, v in r.headers},
                                         json.loads(r.value)) for r in rs]
        if any(len({r.event["id"] for r in records[t]}) < n for t, n in expected.items()):
            return False
        end = await consumer.end_offsets(partitions)
        return not batch or all(await consumer.position(tp) >= end[tp] for tp in partitions)

    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await wait_for(caught_up, timeout=EVENTUALLY, interval=0, message=f"events on the topics: {expected}")
    finally:
        await consumer.stop()
    return records


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def topics(journey: Journey, e2e_stack: Any) -> dict[str, list[Record]]:
    """Every record of every event type the journey published, by event type."""
    read = await read_events(e2e_stack.kafka_bootstrap, {e2e_stack.topic(topic): EXPECTED_EVENTS[event_type]
                                                         for event_type, topic in TOPICS.items()})
    return {event_type: read[e2e_stack.topic(topic)] for event_type, topic in TOPICS.items()}


def unique(records: list[Record]) -> list[Record]:
    """One record per event id (delivery is at least once)."""
    return list({r.event["id"]: r for r in records}.values())


def one(records: list[Record], **where: Any) -> Record:
    found = [r for r in unique(records) if all(r.data.get(k) == v for k, v in where.items())]
    assert len(found) == 1, f"expected one event with {where}, found {len(found)}"
    return found[0]


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks: rank = (n-1) p / 100."""
    xs = sorted(values)
    rank = (len(xs) - 1) * p / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (rank - lo) * (xs[hi] - xs[lo])


def stats(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "mean_hours": approx(sum(values) / len(values), rel=1e-9, abs=1e-12),
            "p50_hours": approx(percentile(values, 50), rel=1e-9, abs=1e-12),
            "p90_hours": approx(percentile(values, 90), rel=1e-9, abs=1e-12)}


@dataclass(frozen=True)
class Facts:
    """Durations worked out from the business times on the topics (SPEC section 4)."""

    cycle_time: dict[str, float]  # campaign key -> hours
    time_in_gate: dict[str, list[float]]  # gate -> hours, one per approval
    decisions: list[tuple[str, float, int]]  # (gate, hours since actionable, SLA hours), approvals and rejections


@pytest.fixture(scope="module")
def facts(journey: Journey, topics: dict[str, list[Record]]) -> Facts:
    key_of = {cid: key for key, cid in journey.ids.items()}
    submitted = {(r.data["campaign_id"], r.data["version"]): r.time for r in unique(topics["BriefSubmitted"])}
    approved = {(r.data["campaign_id"], r.data["brief_version"], r.data["gate_position"]): r
                for r in unique(topics["GateApproved"])}

    def actionable(decision: Record) -> datetime:
        """The first gate: when its version was submitted; the next: when the previous was approved."""
        d = decision.data
        if d["gate_position"] == 1:
            return submitted[(d["campaign_id"], d["brief_version"])]
        return approved[(d["campaign_id"], d["brief_version"], d["gate_position"] - 1)].time

    time_in_gate: dict[str, list[float]] = defaultdict(list)
    decisions = []
    for r in [*unique(topics["GateApproved"]), *unique(topics["GateRejected"])]:
        since = actionable(r)
        # governance's own actionable_at says the same
        assert datetime.fromisoformat(r.data["actionable_at"]) == since, r.event
        decisions.append((r.data["gate_id"], hours(r.time - since), r.data["sla_hours"]))
        if r.event["type"] == "GateApproved":
            time_in_gate[r.data["gate_id"]].append(hours(r.time - since))
    cycle = {key_of[r.data["campaign_id"]]: hours(r.time - submitted[(r.data["campaign_id"], 1)])
             for r in unique(topics["CampaignLaunched"])}
    return Facts(cycle_time=cycle, time_in_gate=dict(time_in_gate), decisions=decisions)


# --- the tests ------------------------------------------------------------------------


@in_module_loop
async def test_intake_shows_each_campaigns_status_along_the_way(journey: Journey, api: Api) -> None:
    assert journey.seen == {
        "A": ["draft", "submitted", "in_review", "changes_requested", "submitted", "approved", "launched",
              "completed"],
        "B": ["draft", "submitted", "in_review", "cancelled"],
        "C": ["draft", "submitted", "approved", "launched"],
        "D": ["draft", "submitted", "rejected"],
    }
    ada = api.who("ada", "ops_admin")
    a = await api.get("intake", f"/campaigns/{journey.ids['A']}", ada)
    # the history replays the facts in business-time order
    assert [(h["status"], h["version"]) for h in a["status_history"]] == [
        ("draft", None), ("submitted", 1), ("in_review", 1), ("changes_requested", 1), ("submitted", 2),
        ("in_review", 2), ("approved", 2), ("launched", 2), ("completed", None)]
    assert [(d["type"], d["brief_version"], d["gate_name"]) for d in a["decisions"]] == [
        ("GateApproved", 1, "Brief review"), ("GateRejected", 1, "Budget approval"),
        ("GateApproved", 2, "Brief review"), ("GateApproved", 2, "Budget approval"),
        ("GateApproved", 2, "Brand and legal review"), ("GateApproved", 2, "Launch readiness"),
        ("CampaignLaunched", 2, None)]
    listed = await api.get("intake", "/campaigns?limit=100", ada)
    assert {c["id"]: c["status"] for c in listed["items"]} == {
        journey.ids["A"]: "completed", journey.ids["B"]: "cancelled", journey.ids["C"]: "launched",
        journey.ids["D"]: "rejected"}


@in_module_loop
async def test_results_from_an_analytics_system_give_attainment_and_cost_per_result(journey: Journey,
                                                                                     api: Api) -> None:
    vic = api.who("vic", "viewer")

    async def reported() -> dict[str, Any] | None:
        body = await api.get("metrics", "/outcomes/campaigns", vic)
        rows = {c["campaign_id"]: c for c in body["campaigns"]}
        c = rows.get(journey.ids["C"])
        return rows if c and c["has_results"] and c["money"] and c["money"][0]["actual_spend"] == "3400.00" \
            else None
    rows = await api.eventually(reported, "metrics has C's results and spend")
    c, a = rows[journey.ids["C"]], rows[journey.ids["A"]]
    [leads] = c["kpis"]
    assert (leads["kind"], leads["actual"], leads["as_of"], leads["attainment"]) == \
        ("outcome", "340", journey.today.isoformat(), pytest.approx(0.85))
    assert c["money"] == [{"currency": "EUR", "actual_spend": "3400.00", "cost_per_result": "10.0000",
                           "return_on_spend": None}]  # 3 400 / 340; no outcome KPI in EUR
    assert (a["kpis"][0]["actual"], a["met_targets"], a["money"][0]["cost_per_result"]) == \
        ("452", True, "14.3805")  # A's completion results: 452 / 400; 6 500 / 452
    outcomes = (await api.get("metrics", "/aggregates/outcomes", vic))["overall"]
    # completed: A (with results); with results: A and C; met: A (C's 0.85 < 1)
    assert (outcomes["completed"], outcomes["results_reported_rate"], outcomes["with_results"],
            outcomes["target_met_rate"]) == (1, 1.0, 2, 0.5)


@in_module_loop
async def test_budget_ledger_counts_each_spend_once(journey: Journey, api: Api) -> None:
    vic = api.who("vic", "viewer")
    a = await api.get("budget", f"/spend?campaign_id={journey.ids['A']}", vic)
    assert sorted((s["source_system"], s["source_reference"], s["amount"]["amount"], s["origin"])
                  for s in a["items"]) == [("google-ads", "gads-a-0001", "2500.00", "api"),
                                           ("sap-fi", "INV-A-1", "4000.00", "kafka")]
    # the earliest recording of the ERP invoice stands
    assert next(s for s in a["items"] if s["source_reference"] == "INV-A-1")["event_id"] == \
        journey.erp_event_ids["INV-A-1"]

    budgets = {k: await api.get("budget", f"/campaigns/{cid}/budget", vic) for k, cid in journey.ids.items()}
    assert {k: (b["status"], b["committed"]["amount"] if b["committed"] else None, b["spent"]["amount"]
                if b["spent"] else None) for k, b in budgets.items()} == {
        "A": ("committed", "9000.00", "6500.00"),
        "B": ("released", "0.00", "750.00"),
        "C": ("committed", "3000.00", "3400.00"),
        "D": ("none", "0.00", "0.00"),  # its reservation was refused
    }
    assert budgets["C"]["thresholds_alerted"] == [80, 100, 110]  # 3 400 / 3 000 = 113.3 %
    assert budgets["A"]["thresholds_alerted"] == []  # 6 500 / 9 000 = 72.2 %

    lines = {line["id"]: line for line in await api.get("budget", "/budget-lines", vic)}
    assert {k: (v["amount"]["amount"], v["committed"]["amount"], v["spent"]["amount"], v["available"]["amount"])
            for k, v in lines.items()} == {
        # spent 6 500 + 750; available 48 000 - max(9 000 held, 6 500 spent) (A) - max(0, 750) (B)
        GROWTH: ("48000.00", "9000.00", "7250.00", "38250.00"),
        BRAND: ("22000.00", "3000.00", "3400.00", "18600.00"),  # 22 000 - max(3 000 held, 3 400 spent)
    }


@in_module_loop
async def test_every_event_type_on_its_topic_linked_by_correlation(journey: Journey, e2e_stack: Any,
                                                                   topics: dict[str, list[Record]]) -> None:
    assert {t: len(unique(rs)) for t, rs in topics.items()} == EXPECTED_EVENTS
    # the ERP sent its first invoice twice as is: two records, one event id
    assert sum(r.event["id"] == journey.erp_event_ids["INV-A-1"] for r in topics["SpendRecorded"]) == 2
    campaigns = set(journey.ids.values())
    for event_type, records in topics.items():
        for r in records:
            assert r.event["type"] == event_type and r.event["specversion"] == "1.0"
            assert r.headers["ce_type"] == event_type
            assert r.headers["content-type"] == "application/cloudevents+json"
            assert TRACEPARENT.match(r.headers.get("traceparent", "")), (event_type, r.headers)
            if event_type == "BudgetReallocated":  # keyed by its source line
                assert (r.key, r.event["subject"]) == (GROWTH, GROWTH)
                continue
            cid = r.data["campaign_id"]
            # keyed by campaign; every event of a campaign's journey carries its correlation id
            assert cid in campaigns and r.key == cid and r.event["subject"] == cid
            assert r.event["correlationid"] == cid, r.event

    # causation links the steps of A's journey
    a = journey.ids["A"]
    v1, v2 = one(topics["BriefSubmitted"], campaign_id=a, version=1), one(topics["BriefSubmitted"], campaign_id=a,
                                                                          version=2)
    sent_back = one(topics["GateRejected"], campaign_id=a)
    budget_ok = one(topics["GateApproved"], campaign_id=a, brief_version=2, gate_id="budget_approval")
    reserved_v1 = one(topics["BudgetReserved"], campaign_id=a, brief_version=1)
    committed = one(topics["BudgetCommitted"], campaign_id=a)
    assert sent_back.event["causationid"] == v1.event["id"]
    assert v2.event["causationid"] == sent_back.event["id"]  # the resubmission answers the rejection
    assert reserved_v1.event["causationid"] == v1.event["id"]
    assert budget_ok.event["causationid"] == v2.event["id"]
    assert committed.event["causationid"] == budget_ok.event["id"]
    assert one(topics["CampaignLaunched"], campaign_id=a).event["causationid"] == v2.event["id"]
    released = one(topics["BudgetReleased"], campaign_id=journey.ids["B"])
    assert released.event["causationid"] == one(topics["CampaignCancelled"], campaign_id=journey.ids["B"]).event["id"]
    assert released.data["reason"] == "cancelled" and released.data["amount"] == money("5000.00")

    # one trace per journey step: the consumer's reaction continues the trace of its cause
    def trace(r: Record) -> str:
        return r.headers["traceparent"].split("-")[1]
    assert trace(reserved_v1) == trace(v1)
    assert trace(committed) == trace(budget_ok)

    # the facts consumers need travel in the events
    assert one(topics["CampaignLaunched"], campaign_id=a).data["readiness"] == {
        "all_gates_approved": True, "kpis_with_targets": True, "tracking_plan_defined": True,
        "budget_committed": True, "committed": money("9000.00"), "open_blocking_risks": 0, "policy_version": 1}
    assert [r.data["threshold_percent"] for r in sorted(unique(topics["BudgetThresholdExceeded"]),
                                                        key=lambda r: r.data["threshold_percent"])] == [80, 100, 110]
    assert one(topics["BudgetReservationRejected"], campaign_id=journey.ids["D"]).data["reason_code"] == \
        "insufficient_funds"
    assert sorted(r.event["source"] for r in unique(topics["SpendRecorded"])) == [
        "erp/sap-fi", "erp/sap-fi", "erp/sap-fi", "erp/sap-fi", "marops/budget", "marops/budget"]

    # nothing was dead-lettered: the ERP's hand-written envelopes met the contract
    dlq = [e2e_stack.topic(f"{t}.dlq") for t in TOPICS.values()]
    assert await topic_sizes(e2e_stack.kafka_bootstrap, dlq) == {t: 0 for t in dlq}


async def topic_sizes(bootstrap: str, names: list[str]) -> dict[str, int]:
    partitions = await partitions_of(bootstrap, names)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        begin, end = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    sizes = dict.fromkeys(names, 0)
    for tp in partitions:
        sizes[tp.topic] += end[tp] - begin[tp]
    return sizes


#: the headline numbers of the journey, worked out by hand (durations are checked separately)
HEADLINES: dict[str, Any] = {
    "campaigns": {"submitted": 4, "launched": 2, "cancelled": 1, "completed": 1},  # A-D; A, C; B; A
    # A (changes requested) and D (rejected outright) of 4 submitted: 2 / 4 = 0.5;
    # revisions = highest version - 1 = 1 (A) + 0 + 0 + 0 = 1, over 4 briefs = 0.25
    "rework": {"submitted": 4, "reworked": 2, "rework_rate": 0.5, "revisions": 1, "revisions_per_brief": 0.25},
    # A and C launched today, their target date is 30 days ahead: 2 / 2
    "on_time": {"launched": 2, "on_time": 2, "late": 0, "on_time_rate": 1.0},
    # launch needs KPIs with targets and a tracking plan, so both snapshots are complete: 2 / 2
    "data_completeness": {"launched": 2, "complete": 2, "incomplete": 0, "data_completeness": 1.0},
    # 11 approvals + 2 rejections, each within seconds of becoming actionable, SLAs 24-72 h: 0 breaches
    "sla": {"decisions": 13, "breaches": 0, "breach_rate": 0.0, "gates": [
        # A v1, A v2, B, C, D
        {"gate_id": "brief_review", "gate_name": "Brief review", "decisions": 5, "breaches": 0, "breach_rate": 0.0},
        # A v1 (changes requested), A v2, B, C, D (rejected)
        {"gate_id": "budget_approval", "gate_name": "Budget approval", "decisions": 5, "breaches": 0,
         "breach_rate": 0.0},
        # A v2 only: the only campaign on a paid social channel
        {"gate_id": "brand_legal_review", "gate_name": "Brand and legal review", "decisions": 1, "breaches": 0,
         "breach_rate": 0.0},
        # A v2, C
        {"gate_id": "launch_readiness", "gate_name": "Launch readiness", "decisions": 2, "breaches": 0,
         "breach_rate": 0.0},
    ]},
    # committed: A 9 000 + B 0 (cancelled: released) + C 3 000 = 12 000
    # actual: A 2 500 + 4 000 (INV-A-1 once) + B 750 + C 2 000 + 1 400 = 10 650
    # variance: 10 650 - 12 000 = -1 350, i.e. -1 350 / 12 000 = -11.25 %
    "budget_variance": [{"currency": "EUR", "committed": "12000.00", "actual": "10650.00", "variance": "-1350.00",
                         "variance_pct": "-11.25", "unreconciled": "0.00"}],
}
#: approvals per gate, one time-in-gate observation each (A's approval of v1 included)
APPROVALS = {"brief_review": 5, "budget_approval": 3, "brand_legal_review": 1, "launch_readiness": 2}


async def metrics_caught_up(api: Api) -> dict[str, Any]:
    """The summary, once metrics has projected every fact of the journey (polled: the topics
    are consumed independently, so one may lag behind another)."""
    viewer = api.who("vera", "viewer")

    async def probe() -> dict[str, Any] | None:
        body = await api.get("metrics", "/summary", viewer)
        done = ({k: body[k] for k in HEADLINES} == HEADLINES and body["cycle_time"]["count"] == 2
                and {g["gate_id"]: g["count"] for g in body["time_in_gate"]["gates"]} == APPROVALS)
        return body if done else None
    return await api.eventually(probe, "metrics shows the hand-computed headline numbers")


@in_module_loop
async def test_metrics_summary_matches_the_hand_computed_numbers(journey: Journey, facts: Facts,
                                                                 api: Api) -> None:
    summary = await metrics_caught_up(api)
    assert {k: summary[k] for k in HEADLINES} == HEADLINES

    # cycle time: CampaignLaunched.time - BriefSubmitted(v1).time, for A and C
    assert sorted(facts.cycle_time) == ["A", "C"]
    assert summary["cycle_time"] == stats(list(facts.cycle_time.values()))

    # time in gate: approval time - when the gate became actionable, per approval
    assert {g: len(v) for g, v in facts.time_in_gate.items()} == APPROVALS
    gates = summary["time_in_gate"]["gates"]
    assert [g["gate_id"] for g in gates] == GATES_A  # policy order
    for g in gates:
        assert {k: g[k] for k in ("count", "mean_hours", "p50_hours", "p90_hours")} == \
            stats(facts.time_in_gate[g["gate_id"]]), g["gate_id"]
    p90 = {gate: percentile(values, 90) for gate, values in facts.time_in_gate.items()}
    bottleneck = max(GATES_A, key=lambda gate: (p90[gate], -GATES_A.index(gate)))  # a tie goes to the earlier
    assert summary["time_in_gate"]["bottleneck"]["gate_id"] == bottleneck
    assert [g["gate_id"] for g in gates if g["bottleneck"]] == [bottleneck]

    # the SLA literals above, checked against the facts: no decision later than its SLA
    assert len(facts.decisions) == 13
    assert sum(waited > sla for _, waited, sla in facts.decisions) == 0


@in_module_loop
async def test_metrics_aggregates_match_the_hand_computed_numbers(journey: Journey, facts: Facts,
                                                                  api: Api) -> None:
    await metrics_caught_up(api)
    vera = api.who("vera", "viewer")
    ids = journey.ids

    cycle = await api.get("metrics", "/aggregates/cycle-time?group_by=channel", vera)
    assert cycle["overall"] == stats([facts.cycle_time["A"], facts.cycle_time["C"]])
    # a campaign counts under each of its channels: A is email and paid_social, C email
    assert {g["group"]: {k: g[k] for k in ("count", "mean_hours", "p50_hours", "p90_hours")}
            for g in cycle["groups"]} == {
        "email": stats([facts.cycle_time["A"], facts.cycle_time["C"]]),
        "paid_social": stats([facts.cycle_time["A"]]),
    }

    gate_times = await api.get("metrics", "/aggregates/gate-times", vera)
    assert {g["gate_id"]: g["count"] for g in gate_times["overall"]["gates"]} == {
        "brief_review": 5, "budget_approval": 3, "brand_legal_review": 1, "launch_readiness": 2}
    review = next(g for g in gate_times["overall"]["gates"] if g["gate_id"] == "brief_review")
    assert {k: review[k] for k in ("count", "mean_hours", "p50_hours", "p90_hours")} == \
        stats(facts.time_in_gate["brief_review"])

    rework = await api.get("metrics", "/aggregates/rework?group_by=team", vera)
    assert {g["group"]: (g["submitted"], g["reworked"], g["rework_rate"], g["revisions_per_brief"])
            for g in rework["groups"]} == {
        "growth": (2, 1, 0.5, 0.5),  # A reworked with one revision, B not: 1/2 and 1/2
        "brand": (2, 1, 0.5, 0.0),  # D rejected, C not; neither revised
    }

    on_time = await api.get("metrics", "/aggregates/on-time?group_by=team", vera)
    assert {g["group"]: (g["launched"], g["on_time"], g["on_time_rate"]) for g in on_time["groups"]} == {
        "growth": (1, 1, 1.0), "brand": (1, 1, 1.0)}

    completeness = await api.get("metrics", "/aggregates/data-completeness", vera)
    assert completeness["overall"]["data_completeness"] == 1.0  # 2 of 2 launches

    sla = await api.get("metrics", "/aggregates/sla-breaches?group_by=team", vera)
    assert {g["group"]: (g["decisions"], g["breaches"]) for g in sla["groups"]} == {
        "growth": (8, 0),  # A: 6 (2 on v1, 4 on v2), B: 2
        "brand": (5, 0),  # C: 3, D: 2
    }

    per_campaign = await api.get("metrics", "/aggregates/variance/campaigns", vera)
    assert {r["campaign_id"]: (r["committed"], r["actual"], r["variance"], r["variance_pct"])
            for r in per_campaign["rows"]} == {
        ids["A"]: ("9000.00", "6500.00", "-2500.00", "-27.78"),  # -2 500 / 9 000 = -27.777.. %
        ids["B"]: ("0.00", "750.00", "750.00", None),  # released: nothing committed, no percentage
        ids["C"]: ("3000.00", "3400.00", "400.00", "13.33"),  # 400 / 3 000 = 13.333.. %
        # D: nothing committed, nothing spent: no row
    }

    per_line = await api.get("metrics", "/aggregates/variance/budget-lines", vera)
    assert {r["budget_line_id"]: (r["committed"], r["actual"], r["variance"], r["variance_pct"])
            for r in per_line["rows"]} == {
        GROWTH: ("9000.00", "7250.00", "-1750.00", "-19.44"),  # A 9 000 + B 0; 6 500 + 750; -1 750 / 9 000
        BRAND: ("3000.00", "3400.00", "400.00", "13.33"),  # C
    }

    months = await api.get("metrics", "/aggregates/variance/months", vera)
    this_month, earlier_month = f"{journey.today:%Y-%m}", f"{journey.earlier:%Y-%m}"
    assert sorted((r["month"], r["actual"]) for r in months["rows"]) == sorted([
        (this_month, "8500.00"),  # A 2 500 + A 4 000 + C 2 000
        (earlier_month, "2150.00"),  # B 750 + C 1 400
    ])

    table = await api.get("metrics", "/campaigns", vera)
    assert {r["campaign_id"]: (r["status"], r["latest_version"], r["rejections"], r["on_time"])
            for r in table["campaigns"]} == {
        ids["A"]: ("completed", 2, 1, True), ids["B"]: ("cancelled", 1, 0, None),
        ids["C"]: ("launched", 1, 0, True), ids["D"]: ("rejected", 1, 1, None)}
    brand_only = await api.get("metrics", "/summary?team=brand", vera)
    assert brand_only["campaigns"] == {"submitted": 2, "launched": 1, "cancelled": 0, "completed": 0}
    assert brand_only["cycle_time"] == stats([facts.cycle_time["C"]])


def test_services_shut_down_gracefully(e2e_stack: Any, journey: Journey) -> None:
    """SIGTERM: each service stops its workers after their batch, closes its pool and exits.

    uvicorn handles the signal, shuts the app down, then re-raises SIGTERM so a supervisor
    sees why it stopped: the exit status is "terminated by SIGTERM" (or 0), never a kill.
    """
    codes = e2e_stack.stop()
    assert all(code in (0, -signal.SIGTERM) for code in codes.values()), f"{codes}\n{e2e_stack.log_tails()}"
    for name, service in e2e_stack.services.items():
        log = service.log()
        assert f"{name} stopped" in log and "Application shutdown complete." in log, e2e_stack.log_tails()
        assert "Traceback" not in log, f"{name}:\n{log[-4000:]}"
