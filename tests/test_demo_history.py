"""The demo history (examples/demo-history.csv, what `make demo` imports) and its metrics.

(a) the committed CSV is exactly what examples/generate_demo_history.py writes;
(b) imported with the history importer into a real metrics service (in-process, real
    PostgreSQL and Kafka), /summary and /aggregates/gate-times agree with numbers computed
    here, independently, from the CSV rows with plain Python (SPEC section 4; no metrics
    code is used for the expectations);
(c) infra/demo.py's render_summary shows those headline figures;
(d) importing the same file a second time changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pytest import approx

from marops_events import kafka as event_kafka
from marops_import.cli import publish
from marops_import.history import to_events
from marops_import.rows import parse
from marops_metrics.main import create_app
from marops_metrics.settings import Settings
from marops_testkit.apps import auth, running, service_settings
from marops_testkit.kafka import wait_for

REPO_ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = REPO_ROOT / "examples" / "demo-history.csv"
POLICY_ORDER = ("brief_review", "budget_approval", "brand_legal_review", "launch_readiness")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


generator = _load("generate_demo_history", REPO_ROOT / "examples" / "generate_demo_history.py")
demo = _load("marops_demo", REPO_ROOT / "infra" / "demo.py")


# --- (a) ------------------------------------------------------------------------------


def test_committed_csv_is_what_the_generator_writes() -> None:
    assert CSV_PATH.read_text(encoding="utf-8") == generator.generate(), (
        "examples/demo-history.csv is stale: run .venv/bin/python examples/generate_demo_history.py")
    assert generator.generate() == generator.generate()  # deterministic


# --- the expectations, from the CSV rows alone -----------------------------------------


def when(text: str) -> dt.datetime:
    """ISO 8601 as the format says: no offset means UTC, a bare date is midnight UTC."""
    if len(text) == 10:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    moment = dt.datetime.fromisoformat(text)  # 3.11+ reads "Z"
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def pctl(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks: rank (n-1)*p/100."""
    xs = sorted(values)
    rank = (len(xs) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (rank - low) * (xs[high] - xs[low])


def stats(values: list[float]) -> tuple[int, float, float, float]:
    return len(values), sum(values) / len(values), pctl(values, 50), pctl(values, 90)


def hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600


def yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "y", "1")


@dataclass
class Expected:
    submitted: int = 0
    launched: int = 0
    cancelled: int = 0
    completed: int = 0
    cycle_hours: list[float] = field(default_factory=list)
    gate_waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    breaches: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reworked: int = 0
    revisions: int = 0
    on_time: int = 0
    complete: int = 0
    committed: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    actual: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    campaign_variance: dict[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)
    change_requests: int = 0
    changes: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # outcome -> count
    paused_campaigns: int = 0
    pause_hours: list[float] = field(default_factory=list)  # per campaign with an ended pause

    @property
    def bottleneck(self) -> str:
        return max(self.gate_waits, key=lambda g: (pctl(self.gate_waits[g], 90), -POLICY_ORDER.index(g)))


def expected_from(path: Path) -> Expected:
    with path.open(encoding="utf-8", newline="") as f:
        lines = list(csv.DictReader(f))
    by_campaign: dict[str, list[tuple[dt.datetime, int, dict[str, str]]]] = defaultdict(list)
    for n, row in enumerate(lines):
        by_campaign[row["campaign_id"]].append((when(row["at"]), n, row))
    e = Expected()
    for rows in by_campaign.values():
        rows.sort(key=lambda item: (item[0], item[1]))
        briefs: dict[int, tuple[dt.datetime, dict[str, str]]] = {}
        actionable: dict[int, dt.datetime] = {}  # per brief version: since when its next gate waits
        launch: tuple[dt.datetime, dict[str, str]] | None = None
        commitment: dict[str, str] | None = None
        cancelled = rejected = False
        spend: dict[str, Decimal] = defaultdict(Decimal)
        paused_at: list[dt.datetime] = []
        resumed_at: list[dt.datetime] = []
        for at, _, row in rows:
            kind = row["event"]
            version = int(row["version"]) if row["version"] else None
            if kind == "submitted":
                briefs[version] = (at, row)
                actionable[version] = at
            elif kind == "change_requested":  # its first gate waits from the request
                actionable[version] = at
                e.change_requests += 1
            elif kind == "change_decided":
                e.changes[row["outcome"]] += 1
            elif kind == "paused":
                paused_at.append(at)
            elif kind == "resumed":
                resumed_at.append(at)
            elif kind in ("approved", "rejected"):
                gate = row["gate"]
                e.decisions[gate] += 1
                sla = int(row["sla_hours"] or 48)
                if at > actionable[version] + dt.timedelta(hours=sla):
                    e.breaches[gate] += 1
                if kind == "approved":
                    e.gate_waits[gate].append(hours(at - actionable[version]))
                    actionable[version] = at
                else:
                    rejected = True
            elif kind == "committed":
                commitment = row  # rows are in time order: the last one is the latest
            elif kind == "launched":
                launch = (at, row)
            elif kind == "cancelled":
                cancelled = True
            elif kind == "completed":
                e.completed += 1
            elif kind == "spend":
                spend[row["currency"]] += Decimal(row["amount"])
        e.submitted += 1
        e.cancelled += cancelled
        e.paused_campaigns += bool(paused_at)
        if resumed_at:  # pauses alternate with resumptions: the n-th resumption ends the n-th pause
            e.pause_hours.append(sum(hours(r - p) for p, r in zip(paused_at, resumed_at, strict=False)))
        e.reworked += rejected
        highest = briefs[max(briefs)][1]
        e.revisions += max(briefs) - 1
        if launch is not None:
            launched_at, launch_row = launch
            e.launched += 1
            e.cycle_hours.append(hours(launched_at - briefs[1][0]))
            if launched_at.astimezone(dt.UTC).date() <= dt.date.fromisoformat(highest["target_launch_date"]):
                e.on_time += 1
            at_launch = briefs[max(v for v, (t, _) in briefs.items() if t <= launched_at)][1]
            kpis = yes(launch_row["kpis_defined"]) if launch_row["kpis_defined"] else bool(at_launch["kpis"])
            tracking = (yes(launch_row["tracking_plan"]) if launch_row["tracking_plan"]
                        else yes(at_launch["tracking_plan"] or "no"))
            e.complete += kpis and tracking
        currencies = set(spend)
        committed = Decimal(0)
        if commitment is not None:
            committed = Decimal(0) if cancelled else Decimal(commitment["amount"])
            e.committed[commitment["currency"]] += committed
            currencies.add(commitment["currency"])
        for cur in currencies:
            e.actual[cur] += spend.get(cur, Decimal(0))
            this_committed = committed if commitment is not None and commitment["currency"] == cur else Decimal(0)
            e.campaign_variance[(rows[0][2]["campaign_id"], cur)] = (this_committed, spend.get(cur, Decimal(0)))
    return e


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else (part / whole * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_demo_history_has_the_story_it_promises() -> None:
    """Not a metrics check: the file is the realistic story the demo needs."""
    e = expected_from(CSV_PATH)
    assert 40 <= e.submitted <= 60
    assert e.bottleneck == "brand_legal_review"
    p90 = {g: pctl(w, 90) for g, w in e.gate_waits.items()}
    assert p90["brand_legal_review"] > 1.5 * max(v for g, v in p90.items() if g != "brand_legal_review")
    assert 0 < e.reworked < e.submitted and e.revisions > e.reworked  # some need a third version
    assert 0 < e.on_time < e.launched < e.submitted  # late launches, and campaigns still in flight
    assert 0 < e.complete < e.launched and e.cancelled == 2 and e.completed > 0
    assert set(e.committed) == {"EUR", "USD", "GBP"}
    variances = [a - c for c, a in e.campaign_variance.values()]
    assert any(v > 0 for v in variances) and any(v < 0 for v in variances)
    rows = parse(CSV_PATH.read_text(encoding="utf-8"))
    # refunds need corrects_reference, which the import format lacks (generator.REFUNDS)
    assert any(r.event == "spend" and r.get("amount") < 0 for r in rows) is generator.REFUNDS
    assert len({r.get("source_system") for r in rows if r.event == "spend"}) == 3
    assert sum(r.event == "rejected" and r.get("rejection_kind") == "rejected" for r in rows) == 2


# --- (b), (c), (d): through Kafka into a real metrics service ---------------------------


async def _end_offsets(bootstrap: str, topics: list[str], partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(t, p) for t in topics for p in range(partitions)])
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


def _money_row(v: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal | None]:
    pct = Decimal(v["variance_pct"]) if v["variance_pct"] is not None else None
    return Decimal(v["committed"]), Decimal(v["actual"]), Decimal(v["variance"]), pct


async def test_imported_demo_history_gives_the_metrics_computed_from_the_csv(
        pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    e = expected_from(CSV_PATH)
    text = CSV_PATH.read_text(encoding="utf-8")
    events = to_events(parse(text))
    settings = service_settings(Settings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                                consumer_max_records=1000)
    viewer = auth(settings, "vera", "viewer")
    async with running(create_app(settings)) as client:
        async def get(path: str) -> Any:
            response = await client.get(path, headers=viewer)
            assert response.status_code == 200, response.text
            return response.json()

        async def applied() -> int:
            return sum(t["events_applied"] for t in (await get("/status"))["topics"])

        await publish(events, bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                      transactional_id=f"demo-test-{topic_prefix}", partitions=settings.topic_partitions)
        async def all_applied() -> bool:
            return await applied() == len(events)

        await wait_for(all_applied, timeout=60, interval=0.2, message=f"all {len(events)} imported events projected")

        summary = await get("/summary")
        gate_times = await get("/aggregates/gate-times")
        variance_rows = (await get("/aggregates/variance/campaigns"))["rows"]

        # (b) every headline number, against the CSV
        assert summary["campaigns"] == {"submitted": e.submitted, "launched": e.launched,
                                        "cancelled": e.cancelled, "completed": e.completed}
        ct = summary["cycle_time"]
        assert (ct["count"], ct["mean_hours"], ct["p50_hours"], ct["p90_hours"]) == pytest.approx(
            stats(e.cycle_hours))

        gates = {g["gate_id"]: g for g in summary["time_in_gate"]["gates"]}
        assert set(gates) == set(e.gate_waits)
        for gate, waits in e.gate_waits.items():
            g = gates[gate]
            assert (g["count"], g["mean_hours"], g["p50_hours"], g["p90_hours"]) == pytest.approx(stats(waits)), gate
            assert g["bottleneck"] is (gate == e.bottleneck)
        for body in (summary["time_in_gate"], gate_times["overall"]):
            assert body["bottleneck"]["gate_id"] == e.bottleneck == "brand_legal_review"
            assert body["bottleneck"]["p90_hours"] == pytest.approx(pctl(e.gate_waits[e.bottleneck], 90))
        assert gate_times["overall"]["gates"] == summary["time_in_gate"]["gates"]

        sla = {g["gate_id"]: (g["decisions"], g["breaches"]) for g in summary["sla"]["gates"]}
        assert sla == {g: (e.decisions[g], e.breaches[g]) for g in e.decisions}
        assert (summary["sla"]["decisions"], summary["sla"]["breaches"]) == (
            sum(e.decisions.values()), sum(e.breaches.values()))

        rw = summary["rework"]
        assert (rw["submitted"], rw["reworked"], rw["revisions"]) == (e.submitted, e.reworked, e.revisions)
        assert rw["rework_rate"] == pytest.approx(e.reworked / e.submitted)
        assert rw["revisions_per_brief"] == pytest.approx(e.revisions / e.submitted)

        ot = summary["on_time"]
        assert (ot["launched"], ot["on_time"]) == (e.launched, e.on_time)
        assert ot["on_time_rate"] == pytest.approx(e.on_time / e.launched)
        dc = summary["data_completeness"]
        assert (dc["launched"], dc["complete"]) == (e.launched, e.complete)
        assert dc["data_completeness"] == pytest.approx(e.complete / e.launched)

        variance = {v["currency"]: _money_row(v) for v in summary["budget_variance"]}
        assert variance == {
            cur: (e.committed[cur], e.actual[cur], e.actual[cur] - e.committed[cur],
                  percent(e.actual[cur] - e.committed[cur], e.committed[cur]))
            for cur in set(e.committed) | set(e.actual)
        }
        assert {(r["campaign_id"], r["currency"]): (Decimal(r["committed"]), Decimal(r["actual"]))
                for r in variance_rows} == e.campaign_variance

        changes = (await get("/aggregates/change-in-flight"))["overall"]
        assert (changes["change_requests"], changes["approved"], changes["rejected"], changes["pending"],
                changes["paused_campaigns"]) == (e.change_requests, e.changes["approved"], e.changes["rejected"],
                                                 0, e.paused_campaigns)
        assert (changes["time_paused"]["count"], changes["time_paused"]["mean_hours"]) == (
            len(e.pause_hours), approx(sum(e.pause_hours) / len(e.pause_hours)))

        # (c) the demo's table shows those figures
        table = demo.render_summary(summary, variance_rows, changes)
        assert (f"Change in flight:   {e.change_requests} change requests ({e.changes['approved']} approved, "
                f"{e.changes['rejected']} rejected), {e.paused_campaigns} campaigns paused") in table
        days = [f"{h / 24:.1f}" for h in stats(e.cycle_hours)[1:]]
        assert all(d in table for d in days), table
        bottleneck_p90 = f"{pctl(e.gate_waits[e.bottleneck], 90) / 24:.1f}"
        assert f"bottleneck: brand_legal_review (Brand legal review), p90 {bottleneck_p90} days" in table
        for gate, waits in e.gate_waits.items():
            line = next(x for x in table.splitlines() if x.strip().startswith(gate))
            assert f"{pctl(waits, 90) / 24:.1f}" in line and f" {e.breaches[gate]} " in f"{line} ", line
        for fraction in (e.reworked / e.submitted, e.on_time / e.launched, e.complete / e.launched):
            assert f"{fraction * 100:.1f} %" in table
        assert f"{e.revisions / e.submitted:.2f}" in table
        assert f"{e.submitted} submitted, {e.launched} launched, {e.completed} completed, {e.cancelled} cancelled" \
            in table
        for cur in e.committed:
            assert f"{e.actual[cur] - e.committed[cur]:,.2f}" in table and f"{e.committed[cur]:,.2f}" in table
        over = sorted(((a - c) / c, cid) for (cid, _), (c, a) in e.campaign_variance.items() if c > 0 and a > c)
        assert over and over[-1][1] in table  # the most over-spent campaign is listed

        # (d) importing the same file again changes nothing
        before = (summary, variance_rows, await get("/campaigns"), await applied())
        group = (await get("/status"))["consumer_group"]
        topics = event_kafka.all_topics(topic_prefix)
        ends_before = await _end_offsets(kafka_bootstrap, topics, settings.topic_partitions)
        await publish(to_events(parse(text)), bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                      transactional_id=f"demo-test-{topic_prefix}", partitions=settings.topic_partitions)
        ends_after = await _end_offsets(kafka_bootstrap, topics, settings.topic_partitions)
        grown = {tp: end for tp, end in ends_after.items() if end > ends_before.get(tp, 0)}
        assert grown, "the second import published nothing"

        async def consumed_again() -> bool:
            # the last record of a transaction sits just before its commit marker
            committed = await _committed(kafka_bootstrap, group)
            return all(committed.get(tp, -1) >= end - 1 for tp, end in grown.items())

        await wait_for(consumed_again, timeout=60, interval=0.2, message="second import consumed")
        after = (await get("/summary"), (await get("/aggregates/variance/campaigns"))["rows"],
                 await get("/campaigns"), await applied())
        assert after == before


def test_render_summary_handles_an_empty_read_model() -> None:
    empty = {
        "campaigns": {"submitted": 0, "launched": 0, "cancelled": 0, "completed": 0},
        "cycle_time": {"count": 0, "mean_hours": None, "p50_hours": None, "p90_hours": None},
        "time_in_gate": {"gates": [], "bottleneck": None},
        "rework": {"submitted": 0, "reworked": 0, "rework_rate": None, "revisions": 0, "revisions_per_brief": None},
        "on_time": {"launched": 0, "on_time": 0, "late": 0, "on_time_rate": None},
        "sla": {"decisions": 0, "breaches": 0, "breach_rate": None, "gates": []},
        "data_completeness": {"launched": 0, "complete": 0, "incomplete": 0, "data_completeness": None},
        "budget_variance": [],
    }
    table = demo.render_summary(empty, [])
    assert "0 submitted" in table and "none" in table
