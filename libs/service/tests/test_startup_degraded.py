"""A service starts and serves what it can while Kafka or PostgreSQL is down, and
finishes starting by itself when they come back (real broker and database behind a gate)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from marops_service.app import create_service_app
from marops_service.settings import ServiceSettings
from marops_testkit.apps import auth, running, service_settings
from marops_testkit.gate import TcpGate
from marops_testkit.kafka import read_topic, wait_for

from .test_chassis import demo_router

PROBLEM = "application/problem+json"


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    (tmp_path / "001_spends.sql").write_text(
        "CREATE TABLE spends (id uuid PRIMARY KEY, campaign_id text NOT NULL);"
        "CREATE TABLE consumed (event_id uuid PRIMARY KEY);")
    return tmp_path


async def consume(conn, event) -> None:
    await conn.execute("INSERT INTO consumed (event_id) VALUES ($1)", event.id)


def app_for(settings: ServiceSettings, migrations: Path):
    return create_service_app(settings=settings, title="demo", description="demo", routers=[demo_router()],
                              migrations=migrations, handlers={"SpendRecorded": consume})


async def test_a_service_starts_with_the_broker_down_and_finishes_starting_when_it_returns(
    pg_dsn: str, kafka_bootstrap: str, topic_prefix: str, migrations: Path
) -> None:
    host, port = kafka_bootstrap.split(":")
    gate = TcpGate(host, int(port))  # closed: no broker answers at this address
    settings = service_settings(ServiceSettings, pg_dsn=pg_dsn, kafka_bootstrap=gate.address,
                                topic_prefix=topic_prefix, service_name="demo")
    finance = auth(settings, "fiona", "finance")
    app = app_for(settings, migrations)
    try:
        async with running(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            body = ready.json()
            assert body["status"] == "degraded"
            assert body["checks"]["database"] == "ok" and body["checks"]["kafka"].startswith("error")
            assert body["consumer"]["state"] == "starting"
            # reads and writes are served: the write waits in the outbox
            written = await client.post("/spends", json={"campaign_id": "c-1", "amount": "1.00", "currency": "EUR"},
                                        headers=finance)
            assert written.status_code == 201, written.text
            read = await client.get(f"/spends/{written.json()['id']}", headers=finance)
            assert read.status_code == 200, read.text

            await gate.open()  # the broker is back

            async def ready_again() -> bool:
                body = (await client.get("/readyz")).json()
                assert body.get("status") == "ready", body
                return True

            await wait_for(ready_again, timeout=60)
            [record] = await read_topic(kafka_bootstrap, topic_prefix + "marops.spend-recorded.v1", count=1,
                                        timeout=30)
            assert written.json()["id"].encode() in record.value
            runtime = app.state.runtime

            async def consumed() -> bool:
                return await runtime.pool.fetchval("SELECT count(*) FROM consumed") == 1

            await wait_for(consumed, timeout=30)
    finally:
        await gate.close()


async def test_a_service_starts_with_the_database_down_answers_503_and_recovers(
    pg_dsn: str, kafka_bootstrap: str, topic_prefix: str, migrations: Path
) -> None:
    dsn = urlsplit(pg_dsn)
    gate = TcpGate(dsn.hostname or "127.0.0.1", dsn.port or 5432)
    gated = urlunsplit(dsn._replace(netloc=f"{dsn.username}@{gate.address}" if dsn.username else gate.address))
    settings = service_settings(ServiceSettings, pg_dsn=gated, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=topic_prefix, service_name="demo")
    finance = auth(settings, "fiona", "finance")
    try:
        async with running(app_for(settings, migrations)) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.headers["retry-after"].isdigit()
            assert ready.json()["checks"]["database"].startswith("error")
            for response in (
                await client.post("/spends", json={"campaign_id": "c-1", "amount": "1.00", "currency": "EUR"},
                                  headers=finance),
                await client.get("/spends/8c1a3ad4-8a3e-4a5e-9a4c-1f6f2b9e0c11", headers=finance),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == PROBLEM
                assert response.headers["retry-after"].isdigit()

            await gate.open()  # the database is back

            async def ready_again() -> bool:
                response = await client.get("/readyz")
                assert response.status_code == 200, response.text
                return True

            await wait_for(ready_again, timeout=60)
            written = await client.post("/spends", json={"campaign_id": "c-1", "amount": "1.00", "currency": "EUR"},
                                        headers=finance)
            assert written.status_code == 201, written.text

            # and when it goes away again while running: 503 with Retry-After, never a 500
            await gate.close()
            lost = await client.get(f"/spends/{written.json()['id']}", headers=finance)
            assert lost.status_code == 503, lost.text
            assert lost.headers["retry-after"].isdigit()
    finally:
        await gate.close()


async def test_readiness_answers_from_the_background_checks_not_a_round_trip_per_call(
    pg_dsn: str, kafka_bootstrap: str, topic_prefix: str, migrations: Path
) -> None:
    settings = service_settings(ServiceSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=topic_prefix, service_name="demo", readiness_check_interval=3600)
    app = app_for(settings, migrations)
    async with running(app) as client:
        monitor = app.state.runtime.monitor

        async def consuming() -> bool:
            return (await client.get("/readyz")).json()["consumer"]["state"] == "consuming"

        await wait_for(consuming, timeout=60)
        checked = {name: state.checked_at for name, state in monitor.states.items()}
        answers = [await client.get("/readyz") for _ in range(20)]
        assert {name: state.checked_at for name, state in monitor.states.items()} == checked
        assert all(a.status_code == 200 and a.json()["status"] == "ready" for a in answers)
        body = answers[-1].json()
        assert body["checks"] == {"database": "ok", "kafka": "ok"}
        assert body["consumer"]["restarts"] == 0 and body["consumer"]["last_batch_at"]
