"""The HTTP surface against the running service: roles, validation as problem+json, CSV
export of every report, freshness in /status and /metrics."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from marops_events.registry import EVENTS
from marops_metrics.handlers import CONSUMED_TYPES
from marops_testkit.apps import auth
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def app(dozen_loaded):
    return dozen_loaded


@pytest.fixture(scope="module")
def viewer(app) -> dict[str, str]:
    return auth(app.settings, "vera", "viewer")


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_reports_need_a_reader_role(app) -> None:
    assert (await app.client.get("/summary")).status_code == 401
    machine = await app.client.get("/summary", headers=auth(app.settings, "ads-bot", "service"))
    assert machine.status_code == 403 and machine.headers["content-type"] == PROBLEM
    for role in ("viewer", "requester", "approver", "finance", "ops_admin"):
        assert (await app.client.get("/summary", headers=auth(app.settings, "u", role))).status_code == 200
    assert (await app.client.get("/status")).status_code == 401


@pytest.mark.parametrize(("query", "path"), [
    ("channel=telepathy", "query.channel"),
    ("quarter=2026-Q5", "query.quarter"),
    ("quarter=Q1", "query.quarter"),
    ("group_by=owner", "query.group_by"),
    ("submitted_from=2026-13-01", "query.submitted_from"),
    ("launched_to=99999-01-01", "query.launched_to"),
    ("format=xml", "query.format"),
    ("team=", "query.team"),
    ("team=" + "x" * 201, "query.team"),
    ("submitted_from=2026-05-01&submitted_to=2026-04-01", "query.submitted_from"),
    ("launched_from=2026-05-01&launched_to=2026-04-30", "query.launched_from"),
])
async def test_invalid_queries_are_problems_naming_the_field(app, viewer, query: str, path: str) -> None:
    response = await app.client.get(f"/aggregates/cycle-time?{query}", headers=viewer)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert path in {e["path"] for e in response.json()["errors"]}


async def test_timeline_of_an_unknown_campaign(app, viewer) -> None:
    missing = await app.client.get("/campaigns/NOPE/timeline", headers=viewer)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    too_long = await app.client.get(f"/campaigns/{'x' * 201}/timeline", headers=viewer)
    assert too_long.status_code == 422


@pytest.mark.parametrize("path", [
    "/aggregates/cycle-time", "/aggregates/gate-times", "/aggregates/sla-breaches", "/aggregates/rework",
    "/aggregates/on-time", "/aggregates/data-completeness", "/aggregates/variance/campaigns",
    "/aggregates/variance/months", "/aggregates/variance/budget-lines", "/summary", "/campaigns",
])
async def test_every_report_exports_csv(app, viewer, path: str) -> None:
    by_param = await app.client.get(f"{path}?format=csv", headers=viewer)
    by_accept = await app.client.get(path, headers={**viewer, "Accept": "text/csv"})
    for response in (by_param, by_accept):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert by_param.text == by_accept.text
    assert len(parse_csv(by_param.text)) >= 1
    as_json = await app.client.get(path, headers={**viewer, "Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json"


async def test_csv_carries_the_same_numbers(app, viewer) -> None:
    cycle = parse_csv((await app.client.get("/aggregates/cycle-time?group_by=team&format=csv", headers=viewer)).text)
    assert cycle[0] == {"group": "(all)", "count": "8", "mean_hours": "987.125", "p50_hours": "924.0",
                        "p90_hours": cycle[0]["p90_hours"]}
    assert float(cycle[0]["p90_hours"]) == pytest.approx(1493.7)
    assert [r["group"] for r in cycle] == ["(all)", "brand", "growth", "product"]

    gates = parse_csv((await app.client.get("/aggregates/gate-times?format=csv", headers=viewer)).text)
    assert [(r["gate_id"], r["bottleneck"]) for r in gates] == [
        ("brief-review", "false"), ("budget", "true"), ("brand-legal", "false")]

    lines = parse_csv((await app.client.get("/aggregates/variance/budget-lines?format=csv", headers=viewer)).text)
    growth = next(r for r in lines if r["budget_line_id"] == "L-GROWTH")
    assert (growth["committed"], growth["actual"], growth["variance"], growth["variance_pct"]) == (
        "34000.00", "19800.00", "-14200.00", "-41.76")

    table = parse_csv((await app.client.get("/campaigns?format=csv", headers=viewer)).text)
    c01 = next(r for r in table if r["campaign_id"] == "C01")
    assert (c01["channels"], c01["status"], c01["actual_spend"], c01["on_time"]) == (
        "email; paid_search", "completed", "EUR 4500.00", "true")
    c06 = next(r for r in table if r["campaign_id"] == "C06")
    assert c06["launched_at"] == "" and c06["cycle_time_hours"] == ""

    summary = {r["metric"]: r["value"] for r in parse_csv(
        (await app.client.get("/summary?format=csv", headers=viewer)).text)}
    assert summary["cycle_time.count"] == "8"
    assert summary["time_in_gate.bottleneck.gate_id"] == "budget"
    assert summary["sla.gates.brief-review.breaches"] == "3"
    assert summary["budget_variance.EUR.variance_pct"] == "-16.71"


async def test_freshness_per_topic_in_status_and_metrics(app, viewer, dozen) -> None:
    status = (await app.client.get("/status", headers=viewer)).json()
    assert status["consumer_group"] == f"{app.prefix}marops-metrics"
    assert status["caught_up"] is True and status["total_lag"] == 0
    topics = {t["event_type"]: t for t in status["topics"]}
    # every topic of the registry is consumed but metrics' own
    assert set(topics) == set(CONSUMED_TYPES) == set(EVENTS) - {"ReviewPackPublished"}
    for event_type in CONSUMED_TYPES:
        mine = [e for e in dozen.events if e.type == event_type]
        assert topics[event_type]["events_applied"] == len(mine)
        if mine:  # a type the scenario never publishes has no last event time
            latest = max(e.time for e in mine)
            assert topics[event_type]["last_event_time"].replace("Z", "+00:00") == latest.isoformat()
        else:
            assert topics[event_type]["last_event_time"] is None
        assert topics[event_type]["lag"] == 0
        assert set(topics[event_type]["partition_lag"]) == {"0", "1", "2"}

    metrics = (await app.client.get("/metrics")).text
    group, topic = status["consumer_group"], f"{app.prefix}marops.brief-submitted.v1"
    gauge = next(line for line in metrics.splitlines()
                 if line.startswith("marops_consumer_last_event_time_seconds{")
                 and f'group="{group}"' in line and f'topic="{topic}"' in line)
    latest_brief = max(e.time for e in dozen.events if e.type == "BriefSubmitted")
    assert float(gauge.rsplit(" ", 1)[1]) == latest_brief.timestamp()
    lags = [line for line in metrics.splitlines()
            if line.startswith("marops_consumer_lag{") and f'group="{group}"' in line]
    assert len(lags) == len(CONSUMED_TYPES) * 3 and all(line.endswith(" 0.0") for line in lags)


async def test_csv_cells_cannot_become_spreadsheet_formulas(app, viewer, story) -> None:
    s = story()
    s.campaign("CSV1", team="csv-team", channels=["email"], target=date(2026, 9, 1), line="L-CSV")
    s.submit("CSV1", 1, datetime(2026, 6, 1, tzinfo=UTC), 100, title='=HYPERLINK("http://evil","x")')
    await app.publish(s.events)

    async def exported() -> list[dict[str, str]]:
        rows = parse_csv((await app.client.get("/campaigns?team=csv-team&format=csv", headers=viewer)).text)
        assert rows
        return rows

    rows = await wait_for(exported, timeout=30, interval=0.2)
    assert rows[0]["title"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    json_title = (await app.client.get("/campaigns?team=csv-team", headers=viewer)).json()["campaigns"][0]["title"]
    assert json_title == '=HYPERLINK("http://evil","x")'  # JSON keeps the data as it is
