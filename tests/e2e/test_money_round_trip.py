"""Money keeps its one written form from 0.01 to 10^14 through every route and event.

One campaign per amount runs the journey on the four running services (real PostgreSQL
and Kafka): a budget line of that amount, adjusted to twice it and reallocated back, a
brief asking for it, its reservation, commitment, launch and a spend of the same amount;
then a policy version whose limit and threshold are that amount. Every JSON body read on
the way (intake, governance, budget, metrics), every CSV export and every event on the
stack's topics is searched for money: each amount must be written the one way of
`marops_events.money` (a plain decimal with the currency's minor-unit places, EUR: two),
and the amounts at the places named below must be exactly the amount sent.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from marops_events.money import format_amount
from marops_testkit.kafka import wait_for

in_module_loop = pytest.mark.asyncio(loop_scope="module")

AMOUNTS = ["0.01", "0.10", "1.00", "999.99", "123456789.12", "100000000000000.00"]  # up to 10^14
TEAM = "money-rt"
SINK = "money-rt-sink"
EUR_TEXT = re.compile(r"^-?(0|[1-9][0-9]*)\.[0-9]{2}$")  # the written form of every EUR amount
PLAIN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # a CSV cell of money (columns of several currencies)
MONEY_COLUMNS = ("amount", "committed", "actual", "spent", "variance", "total", "reserved", "available",
                 "remaining", "unreconciled")
EVENTUALLY = 30.0


def eur(text: str) -> dict[str, str]:
    return {"amount": text, "currency": "EUR"}


def written(amount: Decimal) -> str:
    return format_amount(amount, "EUR")


#: metrics' read models write an amount as a string beside its currency (a row per
#: currency, or `committed` with `committed_currency`) rather than as an object
METRICS_MONEY = {"amount", "committed", "actual", "variance", "unreconciled", "total"}


def money_in(node: object, where: str = "") -> Iterator[tuple[str, object]]:
    """(path, amount) of every {amount, currency} object in a JSON document, and of every
    amount of a metrics row beside its currency."""
    if isinstance(node, dict):
        if set(node) >= {"amount", "currency"} and not isinstance(node["amount"], dict):
            yield where, node["amount"]
        elif "currency" in node or "committed_currency" in node:
            for key in METRICS_MONEY & set(node):
                if node[key] is not None and not isinstance(node[key], dict | list):
                    yield f"{where}.{key}", node[key]
        for key, value in node.items():
            yield from money_in(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from money_in(item, f"{where}[{i}]")


class Api:
    """Every JSON body and CSV export read is kept for the written-form check at the end."""

    def __init__(self, stack: Any, client: httpx.AsyncClient) -> None:
        self.stack, self.client = stack, client
        self.bodies: list[tuple[str, Any]] = []
        self.csvs: list[tuple[str, str]] = []

    async def call(self, method: str, service: str, path: str, who: dict[str, str], *, expect: int = 200,
                   **kwargs: Any) -> Any:
        response = await self.client.request(method, f"{self.stack.url(service)}{path}", headers=who, **kwargs)
        assert response.status_code == expect, f"{method} {service}{path}: {response.status_code} {response.text}"
        if response.headers["content-type"].startswith("text/csv"):
            self.csvs.append((f"{service}{path}", response.text))
            return response.text
        body = response.json()
        self.bodies.append((f"{method} {service}{path}", body))
        return body

    async def get(self, service: str, path: str, who: dict[str, str], **kw: Any) -> Any:
        return await self.call("GET", service, path, who, **kw)

    async def post(self, service: str, path: str, who: dict[str, str], body: Any = None, *, expect: int = 201,
                   **kw: Any) -> Any:
        return await self.call("POST", service, path, who, json=body, expect=expect, **kw)

    async def until(self, service: str, path: str, who: dict[str, str], ok: Any, what: str) -> Any:
        last: list[Any] = [None]

        async def probe() -> Any:
            last[0] = body = await self.get(service, path, who)
            return body if ok(body) else None
        try:
            return await wait_for(probe, timeout=EVENTUALLY, interval=0.2, message=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer: {json.dumps(last[0])[:3000]}") from None


def brief(i: int, amount: str, owner: str) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    end = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    return {
        "title": f"Money round trip {i}", "team": TEAM, "owner": owner, "objective": "Carry an amount unchanged",
        "target_audience": "Finance", "channels": ["email"], "target_launch_date": start, "flight_start": start,
        "flight_end": end,
        "kpis": [{"metric": "qualified_leads", "target": "10", "unit": "leads", "timeframe": "30 days"}],
        "tracking_plan": {"campaign_code": f"money-{i}", "conversion_events": ["lead"],
                          "reporting_destination": "dashboard"},
        "budget_request": {"amount": eur(amount), "budget_line_id": f"money-rt-{i}"},
        "raci": {"responsible": [owner]},
    }


async def one_amount(api: Api, i: int, text: str) -> str:
    """The journey of one amount; returns its campaign id."""
    amount = Decimal(text)
    fin = api.stack.auth("fay", "finance")
    owner = f"rosa-{i}"
    rosa = api.stack.auth(owner, "requester", team=TEAM)
    alex, admin = api.stack.auth("alex", "approver"), api.stack.auth("ada", "ops_admin")
    line = f"money-rt-{i}"
    today = datetime.now(UTC).date()

    created = await api.post("budget", "/budget-lines", fin, {
        "id": line, "fiscal_year": today.year, "quarter": (today.month - 1) // 3 + 1, "team": TEAM,
        "channel": "email", "amount": eur(text)})
    assert (created["amount"], created["available"]) == (eur(text), eur(text))
    doubled = await api.post("budget", f"/budget-lines/{line}/adjustments", fin,
                             {"amount": eur(written(2 * amount)), "reason": "twice"}, expect=200)
    assert doubled["amount"] == eur(written(2 * amount))
    moved = await api.post("budget", "/reallocations", fin,
                           {"from_line_id": line, "to_line_id": SINK, "amount": eur(text), "reason": "back"})
    assert moved["amount"] == eur(text)
    history = [c["amount_after"] for c in await api.get("budget", f"/budget-lines/{line}/history", fin)]
    steps = [eur(text), eur(written(2 * amount)), eur(text)]  # created, adjusted, reallocated
    assert history in (steps, steps[::-1]), history

    draft = await api.post("intake", "/campaigns", rosa, brief(i, text, owner))
    cid = draft["id"]
    assert draft["brief"]["budget_request"]["amount"] == eur(text)
    checked = await api.post("intake", "/briefs/check", rosa, brief(i, text, owner), expect=200)
    assert checked["complete"] is True, checked
    submitted = await api.post("intake", f"/campaigns/{cid}/submit", rosa, expect=200)
    assert submitted["current_version"] == 1
    version = await api.get("intake", f"/campaigns/{cid}/versions/1", rosa)
    assert list(money_in(version))  # the submitted brief carries its amount

    held = await api.until("budget", f"/campaigns/{cid}/budget", fin, lambda b: b["status"] == "reserved",
                           f"budget reserves {text}")
    assert held["reserved"] == eur(text)
    gov = await api.until("governance", f"/campaigns/{cid}", alex,
                          lambda b: (b.get("budget") or {}).get("reservation", {}).get("status") == "reserved",
                          f"governance sees the reservation of {text}")
    assert gov["budget"]["reservation"]["amount"] == eur(text)

    await api.post("governance", f"/campaigns/{cid}/gates/brief_review/decisions", alex,
                   {"decision": "approve", "brief_version": 1})
    decided = await api.post("governance", f"/campaigns/{cid}/gates/budget_approval/decisions", admin,
                             {"decision": "approve", "brief_version": 1})
    assert decided["gate_id"] == "budget_approval"
    committed = await api.until("budget", f"/campaigns/{cid}/budget", fin, lambda b: b["status"] == "committed",
                                f"budget commits {text}")
    assert committed["committed"] == eur(text)
    await api.until("governance", f"/campaigns/{cid}/readiness", rosa,
                    lambda b: "budget_not_committed" not in {u["code"] for u in b.get("unmet", [])},
                    f"governance sees the commitment of {text}")
    await api.post("governance", f"/campaigns/{cid}/gates/launch_readiness/decisions", alex,
                   {"decision": "approve", "brief_version": 1})
    await api.get("governance", f"/campaigns/{cid}/gates", alex)
    await api.get("governance", "/queue", admin)
    await api.post("governance", f"/campaigns/{cid}/launch", rosa, {})

    spend = await api.post("budget", "/spend", fin, {
        "campaign_id": cid, "source_system": "money-rt", "source_reference": f"inv-{i}", "amount": eur(text),
        "incurred_on": today.isoformat()})
    assert spend["amount"] == eur(text)
    spent = await api.until("budget", f"/campaigns/{cid}/budget", fin,
                            lambda b: b["spent"] == eur(text), f"budget counts the spend of {text}")
    assert (spent["remaining"], spent["variance"]) == (eur("0.00"), eur("0.00"))
    detail = await api.get("budget", f"/spend/{spend['id']}", fin)
    assert detail["amount"] == eur(text)
    line_now = await api.get("budget", f"/budget-lines/{line}", fin)
    assert (line_now["amount"], line_now["committed"], line_now["spent"]) == (eur(text), eur(text), eur(text))
    ledger = await api.get("budget", f"/spend?campaign_id={cid}", fin)
    assert [s["amount"] for s in ledger["items"]] == [eur(text)] and ledger["totals"][0]["total"] == text
    months = await api.get("budget", f"/reports/monthly?budget_line_id={line}", fin)
    assert [(m["spent"], m["cumulative_spent"], m["line_amount"]) for m in months] == [(eur(text),) * 3]
    for path in (f"/reports/monthly?budget_line_id={line}&format=csv", f"/spend?campaign_id={cid}&format=csv",
                 "/budget-lines?format=csv"):
        exported = await api.get("budget", path, fin)
        assert text in exported, (path, exported)

    viewer = api.stack.auth("vic", "viewer")
    table = await api.until("metrics", f"/campaigns?team={TEAM}&limit=1000", viewer,
                            lambda b: any(r["campaign_id"] == cid and r["committed"] == text
                                          and r["actual_spend"] for r in b["campaigns"]),
                            f"metrics sees the commitment and spend of {text}")
    mine = next(r for r in table["campaigns"] if r["campaign_id"] == cid)
    assert (mine["committed_currency"], mine["actual_spend"]) == ("EUR", [{"currency": "EUR", "amount": text}])
    return cid


async def policy_with(api: Api, text: str) -> None:
    """A policy version whose budget-gate limit and a gate's threshold are ``text``."""
    admin = api.stack.auth("ada", "ops_admin")
    current = await api.get("governance", "/policy", admin)
    gates = current["gates"]
    for gate in gates:
        if gate["kind"] == "budget":
            gate["deciders"] = [{"role": "finance", "amount_limit": eur(text)}, {"role": "ops_admin"}]
        if gate["id"] == "brand_legal_review":
            gate["condition"] = {"type": "amount_at_least", "threshold": eur(text)}
    published = await api.post("governance", "/policy/versions", admin,
                                {"gates": gates, "blocking_risk_score": 15, "reason": f"limits of {text}"})
    again = await api.get("governance", f"/policy/versions/{published['version']}", admin)
    for body in (published, again):
        assert sorted(a for _, a in money_in(body)) == sorted([text] * 2), body


async def events_of(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """Every record on the stack's topics (dead letters aside), from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if t.startswith(prefix) and not t.endswith(".dlq")]
        consumer.subscribe(topics)
        records: list[dict[str, Any]] = []
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            records += [json.loads(r.value) for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()


@in_module_loop
async def test_every_amount_keeps_its_written_form_everywhere(e2e_stack) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        api = Api(e2e_stack, client)
        fin = e2e_stack.auth("fay", "finance")
        today = datetime.now(UTC).date()
        await api.post("budget", "/budget-lines", fin, {
            "id": SINK, "fiscal_year": today.year, "quarter": (today.month - 1) // 3 + 1, "team": TEAM,
            "channel": "email", "amount": eur("0.00")})
        campaigns = dict(zip(AMOUNTS, await asyncio.gather(*(one_amount(api, i, a) for i, a in enumerate(AMOUNTS))),
                             strict=True))
        for text in AMOUNTS:
            await policy_with(api, text)

        viewer = e2e_stack.auth("vic", "viewer")
        for path in ("/aggregates/variance/campaigns", "/aggregates/variance/budget-lines",
                     "/aggregates/variance/months", "/summary", f"/campaigns?team={TEAM}&limit=1000"):
            await api.get("metrics", path, viewer)
            exported = await api.get("metrics", path + ("&" if "?" in path else "?") + "format=csv", viewer)
            if "variance/campaigns" in path or "campaigns?" in path:
                assert all(text in exported for text in AMOUNTS), (path, exported)
        variance = await api.get("metrics", f"/aggregates/variance/campaigns?team={TEAM}", viewer)
        by_campaign = {r["campaign_id"]: r for r in variance["rows"]}
        for text, cid in campaigns.items():
            row = by_campaign[cid]
            assert (row["currency"], row["committed"], row["actual"], row["variance"]) == ("EUR", text, text, "0.00")

    # every amount in every JSON body, CSV and event is written the one way
    wrong = [(where, path, amount) for where, body in api.bodies for path, amount in money_in(body)
             if not (isinstance(amount, str) and EUR_TEXT.match(amount))]
    assert wrong == []
    for where, text in api.csvs:
        rows = list(csv.DictReader(io.StringIO(text)))
        columns = [c for c in (rows[0] if rows else {}) if any(m in c for m in MONEY_COLUMNS)
                   and "currency" not in c and "pct" not in c]
        cells = [(c, row[c]) for row in rows for c in columns if row[c]]
        # a cell may hold several currencies ("EUR 0.01; USD 2.00"): every number in it is plain
        numbers = [(c, n) for c, v in cells for n in re.findall(r"[-+0-9.eE]*[0-9][-+0-9.eE]*", v)]
        assert [(c, n) for c, n in numbers if not PLAIN.match(n)] == [], where

    records = await events_of(e2e_stack.kafka_bootstrap, e2e_stack.topic_prefix)
    ours = [r for r in records if r.get("subject") in set(campaigns.values()) or
            str(r.get("subject", "")).startswith("money-rt")]
    kinds = {r["type"] for r in ours}
    assert {"BriefSubmitted", "BudgetReserved", "BudgetCommitted", "GateApproved", "CampaignLaunched",
            "SpendRecorded", "BudgetReallocated"} <= kinds, kinds
    wrong_events = [(r["type"], path, amount) for r in ours for path, amount in money_in(r["data"])
                    if not (isinstance(amount, str) and EUR_TEXT.match(amount))]
    assert wrong_events == []
    for text, cid in campaigns.items():
        for kind in ("BriefSubmitted", "BudgetReserved", "BudgetCommitted", "SpendRecorded"):
            amounts = {a for r in ours if r["subject"] == cid and r["type"] == kind for _, a in money_in(r["data"])}
            assert text in amounts, (kind, text, amounts)
