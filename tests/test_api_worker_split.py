"""The API/worker split: an API process started with RUN_WORKERS=false serves HTTP only, and
`marops-worker <service>` publishes what it wrote through the outbox (and consumes for it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import uuid

import asyncpg

from marops_intake.main import create_app
from marops_intake.settings import Settings
from marops_testkit.apps import TEST_JWT_SECRET, auth, running, service_settings
from marops_testkit.kafka import read_topic


def complete_brief() -> dict:
    launch = dt.date.today() + dt.timedelta(days=30)
    return {
        "title": "Split test", "objective": "Leads", "target_audience": "Data leads", "channels": ["email"],
        "target_launch_date": launch.isoformat(), "flight_start": launch.isoformat(),
        "flight_end": (launch + dt.timedelta(days=30)).isoformat(),
        "kpis": [{"metric": "qualified_leads", "target": "100", "unit": "leads", "timeframe": "90 days"}],
        "tracking_plan": {"campaign_code": "split", "utm_convention": "utm_campaign=split",
                          "conversion_events": ["signup"], "reporting_destination": "Looker"},
        "budget_request": {"amount": {"amount": "1000.00", "currency": "EUR"}, "budget_line_id": "line-x"},
        "raci": {"responsible": ["rita"], "consulted": [], "informed": []},
    }


async def test_an_api_process_without_workers_publishes_through_the_worker(pg_dsn: str, kafka_bootstrap: str,
                                                                           topic_prefix: str) -> None:
    settings = service_settings(Settings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=topic_prefix, run_workers=False)
    rita = auth(settings, "rita", "requester", team="growth")
    app = create_app(settings)
    async with running(app) as client:
        runtime = app.state.runtime
        assert runtime.relay is None and runtime.consumer is None
        assert {t.get_name() for t in runtime.tasks} <= {"dependency-monitor"}  # no relay, consumer, housekeeping
        # what was alive once started (modules, routes, models) is out of the collector's
        # reach: a full collection no longer scans it in the middle of requests
        assert gc.get_freeze_count() > 10_000
        created = await client.post("/campaigns", json=complete_brief(), headers=rita)
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        submitted = await client.post(f"/campaigns/{cid}/submit", headers=rita)
        assert submitted.status_code == 200, submitted.text

        conn = await asyncpg.connect(pg_dsn)
        try:
            # the API process wrote the event but publishes nothing itself
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
            env = {**os.environ, "INTAKE_DATABASE_URL": pg_dsn, "MAROPS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                   "MAROPS_TOPIC_PREFIX": topic_prefix, "MAROPS_TOPIC_PARTITIONS": "3",
                   "MAROPS_JWT_SECRET": TEST_JWT_SECRET, "MAROPS_OUTBOX_POLL_INTERVAL": "0.1",
                   "MAROPS_LOG_LEVEL": "WARNING"}
            worker = subprocess.Popen([sys.executable, "-m", "marops_service.worker", "intake"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                records = await read_topic(kafka_bootstrap, f"{topic_prefix}marops.brief-submitted.v1", count=1,
                                           timeout=60)
                assert len(records) == 1, "the worker did not publish the API's outbox row"
                event = json.loads(records[0].value)
                assert event["subject"] == cid and event["data"]["version"] == 1
                assert uuid.UUID(event["id"])
                for _ in range(300):  # the relay marks the row right after Kafka acknowledged it
                    if await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the worker published the event but never marked its outbox row")
            finally:
                worker.send_signal(signal.SIGTERM)
                _, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err.decode(errors="replace")[-2000:]
        finally:
            await conn.close()
