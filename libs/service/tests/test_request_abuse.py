"""The request path under attack: body size, Idempotency-Key abuse, malformed token claims.

Each test is written as the attack; the app is a small one on the chassis, against real
PostgreSQL and Kafka.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import jwt
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from marops_service import idempotency
from marops_service.app import Pool, create_service_app
from marops_service.auth import Principal, Role, require
from marops_service.settings import ServiceSettings
from marops_testkit.apps import TEST_JWT_SECRET, auth, running, service_settings

PROBLEM = "application/problem+json"
LIMIT = 2_000
Anyone = Annotated[Principal, Depends(require(Role.requester, Role.finance))]


class Thing(BaseModel):
    label: str
    padding: str = ""


def things_router(gate: dict[str, asyncio.Event]) -> APIRouter:
    router = APIRouter()

    @router.post("/things", status_code=201)
    async def create(body: Thing, pool: Pool, _: Anyone) -> dict[str, Any]:
        if body.label == "slow":  # hold the request inside its effect until the test lets it finish
            gate["entered"].set()
            await gate["release"].wait()
        async with pool.acquire() as conn, conn.transaction():
            thing_id = await conn.fetchval("INSERT INTO things (label) VALUES ($1) RETURNING id", body.label)
        return {"id": thing_id}

    @router.post("/bodiless", status_code=204)
    async def bodiless(_: Anyone) -> None:
        return None

    @router.get("/mine")
    async def me(who: Annotated[Principal, Depends(require(Role.viewer, Role.requester))]) -> dict[str, Any]:
        return {"sub": who.subject}

    return router


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    (tmp_path / "001_things.sql").write_text("CREATE TABLE things (id serial PRIMARY KEY, label text NOT NULL);")
    return tmp_path


@pytest.fixture
def settings(pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> ServiceSettings:
    return service_settings(ServiceSettings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap,
                            topic_prefix=topic_prefix, service_name="abuse", max_body_size=LIMIT,
                            idempotency_wait_seconds=30)


@pytest.fixture
def gate() -> dict[str, asyncio.Event]:
    return {"entered": asyncio.Event(), "release": asyncio.Event()}


@pytest.fixture
async def app(settings: ServiceSettings, migrations: Path, gate) -> AsyncIterator[FastAPI]:
    yield create_service_app(settings=settings, title="abuse", description="abuse",
                             routers=[things_router(gate)], migrations=migrations)


@pytest.fixture
async def client(app: FastAPI):
    async with running(app) as client:
        yield client


async def _rows(settings: ServiceSettings, sql: str) -> Any:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_the_default_body_limit_is_one_mebibyte() -> None:
    assert ServiceSettings(jwt_secret=TEST_JWT_SECRET).max_body_size == 1024 * 1024


async def test_a_body_over_the_limit_is_refused_before_it_is_read(client, settings: ServiceSettings) -> None:
    who = auth(settings, "rita", "requester")
    big = {"label": "x", "padding": "p" * LIMIT}
    declared = await client.post("/things", json=big, headers=who)
    assert declared.status_code == 413, declared.text
    assert declared.headers["content-type"] == PROBLEM
    assert declared.json()["type"] == "/problems/content-too-large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        payload = json.dumps(big).encode()
        for i in range(0, len(payload), 500):
            yield payload[i:i + 500]

    streamed = await client.post("/things", content=chunks(), headers={**who, "content-type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert streamed.headers["content-type"] == PROBLEM
    keyed = await client.post("/things", content=chunks(), headers={
        **who, "content-type": "application/json", "Idempotency-Key": "big-1"})
    assert keyed.status_code == 413 and keyed.headers["content-type"] == PROBLEM
    # a route that never reads its body answers the same problem, not plain text
    unread = await client.post("/bodiless", content=b"x" * (LIMIT + 1), headers=who)
    assert unread.status_code == 413 and unread.headers["content-type"] == PROBLEM
    assert await _rows(settings, "SELECT count(*) FROM things") == 0
    assert await _rows(settings, "SELECT count(*) FROM idempotency_keys") == 0
    small = await client.post("/things", json={"label": "fits"}, headers=who)
    assert small.status_code == 201


async def test_an_anonymous_request_stores_no_key(client, settings: ServiceSettings) -> None:
    for headers in ({}, {"Authorization": "Bearer forged"}):
        response = await client.post("/things", json={"label": "x"},
                                     headers={**headers, "Idempotency-Key": f"anon-{uuid.uuid4()}"})
        assert response.status_code == 401
    assert await _rows(settings, "SELECT count(*) FROM idempotency_keys") == 0


async def test_the_query_string_is_part_of_the_request_a_key_names(client, settings: ServiceSettings) -> None:
    headers = {**auth(settings, "rita", "requester"), "Idempotency-Key": "q-1"}
    first = await client.post("/things?dry=1", json={"label": "a"}, headers=headers)
    assert first.status_code == 201
    other = await client.post("/things?dry=0", json={"label": "a"}, headers=headers)
    assert other.status_code == 409, other.text
    assert other.json()["type"] == "/problems/idempotency-key-reused"


async def test_keys_expire_after_their_ttl(client, settings: ServiceSettings) -> None:
    headers = {**auth(settings, "rita", "requester"), "Idempotency-Key": "ttl-1"}
    first = await client.post("/things", json={"label": "a"}, headers=headers)
    assert (await client.post("/things", json={"label": "a"}, headers=headers)).json() == first.json()
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")
        fresh = await client.post("/things", json={"label": "a"}, headers=headers)
        assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
        assert fresh.json() != first.json()  # an expired key names a new request
        await conn.execute("INSERT INTO idempotency_keys (principal, key, request_hash, status_code, created_at,"
                           " completed_at) VALUES ('old', 'k', 'h', 201, now() - interval '2 days', now())")
        assert await idempotency.delete_expired(conn, settings.idempotency_ttl_seconds) == 1
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 1  # the fresh one stays
    finally:
        await conn.close()


async def test_a_body_cut_off_by_a_disconnect_is_never_run_nor_stored(app: FastAPI, client,
                                                                     settings: ServiceSettings) -> None:
    headers = {**auth(settings, "rita", "requester"), "Idempotency-Key": "cut-1", "content-type": "application/json"}
    body = json.dumps({"label": "whole"}).encode()
    messages = [{"type": "http.request", "body": body[:7], "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/things", "raw_path": b"/things", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "state": {}}
    await app(scope, receive, send)
    assert await _rows(settings, "SELECT count(*) FROM idempotency_keys") == 0
    retry = await client.post("/things", content=body, headers=headers)
    assert retry.status_code == 201, retry.text  # the correct retry runs, not a stored 422
    assert await _rows(settings, "SELECT count(*) FROM things") == 1


async def test_a_key_in_progress_is_never_taken_over(client, settings: ServiceSettings, gate) -> None:
    headers = {**auth(settings, "rita", "requester"), "Idempotency-Key": "slow-1"}
    first = asyncio.create_task(client.post("/things", json={"label": "slow"}, headers=headers))
    await asyncio.wait_for(gate["entered"].wait(), 30)
    # However old the first request's claim looks, it is still running: a retry must not run it again.
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '1 hour'")
    finally:
        await conn.close()
    retry = asyncio.create_task(client.post("/things", json={"label": "slow"}, headers=headers))
    await asyncio.sleep(0.2)  # let the retry reach the key (it waits for the first to finish)
    gate["release"].set()
    done_first, done_retry = await first, await retry
    assert done_first.status_code == 201, done_first.text
    assert done_retry.status_code == 201, done_retry.text
    assert done_retry.json() == done_first.json()
    assert done_retry.headers["idempotent-replayed"] == "true"
    assert await _rows(settings, "SELECT count(*) FROM things") == 1


@pytest.mark.parametrize("claims", [
    {"roles": [[1]]},
    {"roles": [{"a": 1}]},
    {"roles": "requester"},
    {"sub": 12},
    {"sub": ""},
    {"sub": ["x"]},
    {"team": ["growth"]},
    {"team": 7},
    {"source_systems": "erp"},
    {"source_systems": [None]},
])
async def test_malformed_claims_in_a_signed_token_are_401(client, claims: dict[str, Any]) -> None:
    token = jwt.encode({"sub": "mallory", "roles": ["viewer"], "exp": 4102444800, "aud": "marops",
                        "iss": "marops-local", **claims}, TEST_JWT_SECRET, algorithm="HS256")
    for method, path in (("GET", "/mine"), ("POST", "/things")):
        response = await client.request(method, path, json={"label": "x"},
                                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "m-1"})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == PROBLEM
