"""The chassis on a small app, against real PostgreSQL and Kafka."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import asyncpg
import jwt
import pytest
from fastapi import APIRouter, Depends
from opentelemetry import trace
from pydantic import BaseModel, Field

from marops_events import contracts as c
from marops_events import outbox, tracing
from marops_events.registry import new_event
from marops_service import db, logs, telemetry
from marops_service.app import Pool, create_service_app
from marops_service.auth import Principal, Role, require
from marops_service.auth_cli import main as token_cli
from marops_service.problems import NotFound
from marops_service.settings import ServiceSettings
from marops_testkit.apps import TEST_JWT_SECRET, auth, running, service_settings
from marops_testkit.kafka import read_topic

PROBLEM = "application/problem+json"


class NewSpend(BaseModel):
    campaign_id: str = Field(min_length=1)
    amount: Decimal
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def demo_router() -> APIRouter:
    router = APIRouter()

    @router.post("/spends", status_code=201)
    async def record(body: NewSpend, pool: Pool,
                     who: Annotated[Principal, Depends(require(Role.finance))]) -> dict:
        event = new_event(c.SpendRecorded(
            campaign_id=body.campaign_id, source_system="demo", source_reference=uuid.uuid4().hex,
            amount=c.Money(amount=body.amount, currency=body.currency), incurred_on=dt.date(2026, 1, 2),
        ), source="marops/demo")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO spends (id, campaign_id) VALUES ($1, $2)", event.id, body.campaign_id)
            await outbox.add(conn, event)
        return {"id": str(event.id), "by": who.subject}

    @router.get("/spends/{spend_id}")
    async def get(spend_id: uuid.UUID, pool: Pool,
                  _: Annotated[Principal, Depends(require(Role.viewer, Role.finance))]) -> dict:
        row = await pool.fetchrow("SELECT id, campaign_id FROM spends WHERE id = $1", spend_id)
        if row is None:
            raise NotFound(f"spend {spend_id} does not exist")
        return {"id": str(row["id"]), "campaign_id": row["campaign_id"]}

    @router.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    return router


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    (tmp_path / "001_spends.sql").write_text("CREATE TABLE spends (id uuid PRIMARY KEY, campaign_id text NOT NULL);")
    return tmp_path


@pytest.fixture
def settings(pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> ServiceSettings:
    return service_settings(ServiceSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                         topic_prefix=topic_prefix, service_name="demo")


@pytest.fixture
async def client(settings: ServiceSettings, migrations: Path):
    app = create_service_app(settings=settings, title="demo", description="demo", routers=[demo_router()],
                             migrations=migrations)
    async with running(app) as client:
        yield client


async def test_health_readiness_and_metrics(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'marops_http_requests_total{method="GET",route="/readyz",service="demo",status="200"}' in metrics.text


async def test_write_goes_through_outbox_to_kafka(client, settings: ServiceSettings) -> None:
    response = await client.post("/spends", json={"campaign_id": "c-9", "amount": "10.50", "currency": "EUR"},
                                  headers=auth(settings, "fiona", "finance"))
    assert response.status_code == 201, response.text
    records = await read_topic(settings.kafka_bootstrap_servers,
                               settings.topic_prefix + "marops.spend-recorded.v1", count=1)
    assert len(records) == 1
    event = json.loads(records[0].value)
    assert event["id"] == response.json()["id"]
    assert event["data"]["amount"] == {"amount": "10.50", "currency": "EUR"}
    headers = dict(records[0].headers)
    assert headers["ce_type"] == b"SpendRecorded"
    assert headers["traceparent"].startswith(b"00-")


async def test_without_an_exporter_a_request_still_carries_its_trace_into_the_outbox(
        client, settings: ServiceSettings) -> None:
    # No span is built per request without an exporter (TraceContext), but the caller's trace
    # continues through the outbox, and a request without one starts a trace of its own.
    assert settings.otel_exporter == "none"
    caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    finance = auth(settings, "fiona", "finance")
    continued = await client.post("/spends", json={"campaign_id": "c-t1", "amount": "1.00", "currency": "EUR"},
                                  headers={**finance, "traceparent": f"00-{caller_trace}-{caller_span}-01"})
    started = await client.post("/spends", json={"campaign_id": "c-t2", "amount": "1.00", "currency": "EUR"},
                                headers=finance)
    assert continued.status_code == started.status_code == 201
    records = await read_topic(settings.kafka_bootstrap_servers,
                               settings.topic_prefix + "marops.spend-recorded.v1", count=2)
    parents = {json.loads(r.value)["id"]: dict(r.headers)["traceparent"].decode().split("-") for r in records}
    version, trace_id, span_id, flags = parents[continued.json()["id"]]
    assert (version, trace_id, flags) == ("00", caller_trace, "01")
    assert span_id not in (caller_span, "0" * 16)  # the request's own (unrecorded) span, a child of the caller's
    own = parents[started.json()["id"]]
    assert own[1] not in (caller_trace, "0" * 32) and own[2] != "0" * 16


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer not-a-jwt"}, 401), ({"Authorization": "Basic abc"}, 401)],
)
async def test_authentication_failures_are_problems(client, headers: dict, status: int) -> None:
    response = await client.get(f"/spends/{uuid.uuid4()}", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


async def test_expired_and_foreign_tokens_are_rejected(client, settings: ServiceSettings) -> None:
    expired = jwt.encode({"sub": "x", "roles": ["viewer"], "exp": 1, "aud": "marops", "iss": "marops-local"},
                         TEST_JWT_SECRET, algorithm="HS256")
    forged = jwt.encode({"sub": "x", "roles": ["ops_admin"], "exp": 4102444800, "aud": "marops",
                         "iss": "marops-local"}, "another-secret-of-sufficient-length-0000", algorithm="HS256")
    for token in (expired, forged):
        response = await client.get(f"/spends/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM


async def test_roles_are_enforced(client, settings: ServiceSettings) -> None:
    body = {"campaign_id": "c-1", "amount": "1", "currency": "EUR"}
    denied = await client.post("/spends", json=body, headers=auth(settings, "vic", "viewer"))
    assert denied.status_code == 403
    assert denied.headers["content-type"] == PROBLEM
    admin = await client.post("/spends", json=body, headers=auth(settings, "ada", "ops_admin"))
    assert admin.status_code == 201


async def test_validation_errors_name_every_field(client, settings: ServiceSettings) -> None:
    response = await client.post("/spends", json={"amount": "lots", "currency": "euro"},
                                 headers=auth(settings, "fiona", "finance"))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    paths = {e["path"] for e in response.json()["errors"]}
    assert paths == {"body.campaign_id", "body.amount", "body.currency"}
    malformed = await client.post("/spends", content=b"{not json", headers={
        **auth(settings, "fiona", "finance"), "content-type": "application/json"})
    assert malformed.status_code == 422
    assert malformed.headers["content-type"] == PROBLEM


async def test_not_found_unknown_route_and_bugs_are_problems(client, settings: ServiceSettings) -> None:
    missing = await client.get(f"/spends/{uuid.uuid4()}", headers=auth(settings, "vic", "viewer"))
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/not-found"
    bad_id = await client.get("/spends/not-a-uuid", headers=auth(settings, "vic", "viewer"))
    assert bad_id.status_code == 422
    assert (await client.get("/nowhere")).status_code == 404
    bug = await client.get("/boom")
    assert bug.status_code == 500
    assert bug.headers["content-type"] == PROBLEM
    assert "a bug" not in bug.text


async def test_idempotency_key_replays_and_refuses_reuse(client, settings: ServiceSettings) -> None:
    headers = {**auth(settings, "fiona", "finance"), "Idempotency-Key": "k-1"}
    body = {"campaign_id": "c-1", "amount": "5", "currency": "EUR"}
    first = await client.post("/spends", json=body, headers=headers)
    again = await client.post("/spends", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/spends", json={**body, "amount": "6"}, headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    # Keys are per caller: another user's identical key is a new request.
    someone_else = await client.post("/spends", json=body,
                                     headers={**auth(settings, "finn", "finance"), "Idempotency-Key": "k-1"})
    assert someone_else.status_code == 201
    assert someone_else.json()["id"] != first.json()["id"]
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM spends") == 2
    finally:
        await conn.close()


async def test_migrations_are_recorded_once_and_guarded(pg_dsn: str, migrations: Path) -> None:
    sets = [*db.library_migrations(), db.MigrationSet("demo", migrations)]
    first = await db.apply_migrations(pg_dsn, sets)
    assert "demo/001_spends.sql" in first and "marops_events/001_outbox.sql" in first
    assert await db.apply_migrations(pg_dsn, sets) == []
    (migrations / "001_spends.sql").write_text("CREATE TABLE other (id int);")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        await db.apply_migrations(pg_dsn, sets)


async def test_a_pooled_connection_comes_back_without_the_transaction_it_was_released_in(pg_dsn: str) -> None:
    # The pool skips asyncpg's reset query (a round trip per request); what a request left
    # open must still be rolled back before anyone else gets the connection.
    pool = await db.create_pool(pg_dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE leftovers (n int)")
            await conn.transaction().start()  # never committed nor rolled back by its owner
            await conn.execute("INSERT INTO leftovers VALUES (1)")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM leftovers") == 0
    finally:
        await pool.close()


async def test_a_pooled_connection_reads_several_tables_rows_in_one_statement_json_included(pg_dsn: str) -> None:
    # Use cases load a campaign's facts from several tables in one round trip, each table's
    # rows as an array of its row type; json and jsonb columns decode inside them as anywhere.
    pool = await db.create_pool(pg_dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE notes (id int, body jsonb, meta json, at timestamptz, amount numeric)")
            await conn.execute("CREATE TABLE tags (id int, names text[])")
            at = dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC)
            await conn.execute("INSERT INTO notes VALUES (1, $1, $2, $3, 10.50), (2, $4, NULL, $3, 2)",
                               {"text": "ü", "n": [1, 2]}, {"k": None}, at, ["listed"])
            await conn.execute("INSERT INTO tags VALUES (1, '{a,b}')")
            row = await conn.fetchrow(
                "SELECT ARRAY(SELECT n FROM notes n ORDER BY id) AS notes, ARRAY(SELECT t FROM tags t) AS tags,"
                " ARRAY(SELECT t FROM tags t WHERE false) AS none, $1::jsonb AS echoed", {"back": True})
    finally:
        await pool.close()
    first, second = row["notes"]
    assert (first["body"], first["meta"], first["at"], first["amount"]) == (
        {"text": "ü", "n": [1, 2]}, {"k": None}, at, Decimal("10.50"))
    assert (second["body"], second["meta"]) == (["listed"], None)
    assert [list(t.values()) for t in row["tags"]] == [[1, ["a", "b"]]]
    assert row["none"] == [] and row["echoed"] == {"back": True}


def test_settings_fall_back_to_shared_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from marops_intake.settings import Settings

    monkeypatch.setenv("MAROPS_KAFKA_BOOTSTRAP_SERVERS", "shared:1")
    monkeypatch.setenv("MAROPS_DATABASE_URL", "postgresql://shared/db")
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://own/intake")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "shared:1"
    assert settings.database_url == "postgresql://own/intake"


async def test_token_cli_mints_a_verifiable_token(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from marops_service.auth import TokenVerifier

    monkeypatch.setenv("MAROPS_JWT_SECRET", TEST_JWT_SECRET)
    token_cli(["--sub", "alice", "--role", "requester", "--role", "viewer", "--team", "growth"])
    token = capsys.readouterr().out.strip()
    principal = await TokenVerifier(ServiceSettings()).verify(token)
    assert principal == Principal("alice", frozenset({Role.requester, Role.viewer}), "growth")


def test_logs_are_json_with_trace_ids(capsys) -> None:
    telemetry.configure(ServiceSettings(jwt_secret=TEST_JWT_SECRET))
    logs.configure("demo", "INFO", json=True)
    with trace.get_tracer("test").start_as_current_span("work") as span:
        logging.getLogger("marops.test").info("hello %s", "world")
        trace_id = format(span.get_span_context().trace_id, "032x")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "hello world"
    assert line["service"] == "demo"
    assert line["trace_id"] == trace_id


async def test_no_cross_origin_access_unless_configured(client) -> None:
    resp = await client.options("/spends", headers={"Origin": "https://console.example.com",
                                                    "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in resp.headers
    got = await client.get("/healthz", headers={"Origin": "https://console.example.com"})
    assert "access-control-allow-origin" not in got.headers


async def test_a_configured_origin_may_call_the_api_from_a_browser(settings: ServiceSettings,
                                                                   migrations: Path) -> None:
    settings = settings.model_copy(update={"cors_allow_origins": "https://console.example.com, https://ops.example.com/"})
    app = create_service_app(settings=settings, title="demo", description="demo", routers=[demo_router()],
                             migrations=migrations)
    async with running(app) as client:
        preflight = await client.options("/spends", headers={
            "Origin": "https://ops.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        assert preflight.status_code == 200  # answered before authentication
        assert preflight.headers["access-control-allow-origin"] == "https://ops.example.com"
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
        refused = await client.options("/spends", headers={"Origin": "https://evil.example.com",
                                                           "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in refused.headers
        spend = await client.post("/spends", json={"campaign_id": "c1", "amount": "5.00", "currency": "EUR"},
                                  headers={**auth(settings, "finn", "finance"), "Origin": "https://console.example.com"})
        assert spend.status_code == 201, spend.text
        assert spend.headers["access-control-allow-origin"] == "https://console.example.com"
        assert "idempotent-replayed" in spend.headers["access-control-expose-headers"].lower()


def test_without_an_exporter_the_relay_and_consumers_build_no_spans(monkeypatch) -> None:
    monkeypatch.setattr(tracing, "_recording", True)
    telemetry.configure(ServiceSettings(jwt_secret=TEST_JWT_SECRET, otel_exporter="none"))
    assert tracing.recording() is False
