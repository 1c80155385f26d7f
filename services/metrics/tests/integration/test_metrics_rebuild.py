"""Rebuild equals incremental, on the same event log in real Kafka: from the admin endpoint,
from the command line, and while events keep arriving."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import asyncpg
import pytest

from marops_metrics.rebuild import REBUILD_LOCK_KEY
from marops_testkit.apps import auth
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPORTS = [
    "/campaigns", "/summary", "/aggregates/cycle-time?group_by=quarter", "/aggregates/gate-times?group_by=team",
    "/aggregates/sla-breaches?group_by=channel", "/aggregates/rework?group_by=team", "/aggregates/on-time",
    "/aggregates/data-completeness", "/aggregates/variance/campaigns", "/aggregates/variance/budget-lines",
    "/aggregates/variance/months?group_by=team", "/campaigns/C02/timeline",
]


async def reports(app) -> dict[str, dict]:
    viewer = auth(app.settings, "vera", "viewer")
    out = {}
    for path in REPORTS:
        response = await app.client.get(path, headers=viewer)
        assert response.status_code == 200, response.text
        out[path] = response.json()
    return out


async def sql(app, statement: str) -> None:
    conn = await asyncpg.connect(app.settings.database_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def structure(app) -> list[tuple]:
    """Tables, columns, constraints and indexes of the live read model, by name."""
    conn = await asyncpg.connect(app.settings.database_url)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'readmodel' ORDER BY 1, 2")
        constraints = await conn.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'readmodel'::regnamespace ORDER BY 1, 2")
        indexes = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'readmodel' "
                                   "ORDER BY 1")
        return [tuple(r) for r in [*columns, *constraints, *indexes]]
    finally:
        await conn.close()


async def run_rebuild(app, key: str) -> dict:
    admin = {**auth(app.settings, "ada", "ops_admin"), "Idempotency-Key": key}
    started = await app.client.post("/admin/rebuild", headers=admin)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"

    async def finished() -> dict | None:
        run = (await app.client.get(started.json()["href"], headers=admin)).json()
        assert run["status"] != "failed", run
        return run if run["status"] == "succeeded" else None

    return await wait_for(finished, timeout=60, interval=0.1, message="rebuild succeeded")


async def test_rebuild_from_the_endpoint_equals_incremental(dozen_loaded, dozen, dump_read_model) -> None:
    app = dozen_loaded
    incremental_tables = await dump_read_model(app.settings.database_url)
    incremental_reports = await reports(app)
    migrated = await structure(app)
    # Damage the live read model, so a rebuild that changed nothing could not pass.
    await sql(app, "DELETE FROM readmodel.spends WHERE campaign_id = 'C01'; "
                   "UPDATE readmodel.brief_versions SET team = 'tampered'")
    assert await dump_read_model(app.settings.database_url) != incremental_tables

    run = await run_rebuild(app, "rebuild-1")

    assert await dump_read_model(app.settings.database_url) == incremental_tables
    assert await reports(app) == incremental_reports
    assert await structure(app) == migrated  # same keys, checks and index names as the migration made
    # every record of the log replayed: the scenario plus the ten redeliveries, nothing undecodable
    assert (run["events_applied"], run["records_skipped"]) == (len(dozen.events) + 10, 0)
    assert (run["trigger"], run["requested_by"]) == ("api", "ada")
    assert sum(run["high_watermarks"].values()) == len(dozen.events) + 10

    # The same Idempotency-Key replays the original answer instead of starting another rebuild.
    replay = await app.client.post("/admin/rebuild", headers={**auth(app.settings, "ada", "ops_admin"),
                                                               "Idempotency-Key": "rebuild-1"})
    assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["run_id"] == run["run_id"]


async def test_live_consumer_writes_into_the_swapped_in_read_model(dozen_loaded, dozen, story) -> None:
    app = dozen_loaded
    late = story()
    late.profiles = dozen.profiles
    late.spend("C12", "aff-c12", "250.00", date(2026, 5, 20), system="affnet")
    await app.publish(late.events)
    await app.wait_applied(len(dozen.events) + 1)
    response = await app.client.get("/aggregates/variance/campaigns", headers=auth(app.settings, "v", "viewer"))
    rows = {r["campaign_id"]: r for r in response.json()["rows"]}
    assert rows["C12"]["actual"] == "250.00" and rows["C12"]["variance_pct"] is None


async def test_rebuild_while_events_keep_arriving_loses_nothing(dozen_loaded, dozen, story,
                                                                dump_read_model) -> None:
    app = dozen_loaded
    more = story()
    for n in range(40):
        cid = f"N{n:02d}"
        more.campaign(cid, team="late", channels=["email"], target=date(2026, 7, 1), line="L-LATE")
        submitted = dozen.events[0].time + timedelta(days=100, hours=n)
        more.submit(cid, 1, submitted, 100 + n)
    already = len(dozen.events) + 1  # the scenario and the C12 spend of the previous test

    rebuild = asyncio.create_task(run_rebuild(app, "rebuild-2"))
    for i in range(0, len(more.events), 10):  # trickle them in while the rebuild runs, some as an import would
        await app.publish(more.events[i:i + 10], transactional=i % 20 == 0)
        await asyncio.sleep(0)
    await rebuild
    await app.wait_applied(already + len(more.events))
    await app.wait_caught_up()
    live = await dump_read_model(app.settings.database_url)
    assert len([r for r in live["brief_versions"] if '"team": "late"' in r]) == 40

    # ... and a rebuild from the command line, from scratch, finds exactly the same read model.
    code, out, err = await app.rebuild_cli()
    assert code == 0, err
    assert '"status": "succeeded"' in out
    assert await dump_read_model(app.settings.database_url) == live


async def test_rebuild_decoding_in_worker_processes_finds_the_same_read_model(dozen_loaded, dump_read_model) -> None:
    """A large log is decoded by worker processes while the rebuild loads (here forced for
    a small one): the same read model, every record counted."""
    app = dozen_loaded
    await app.wait_caught_up()
    live = await dump_read_model(app.settings.database_url)
    outcomes = []
    for parallel_from in ("1000000", "0"):  # in this process, then in workers
        code, out, err = await app.rebuild_cli(METRICS_REBUILD_PARALLEL_FROM=parallel_from, METRICS_REBUILD_DECODERS="2")
        assert code == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
        assert await dump_read_model(app.settings.database_url) == live
    serial, parallel = outcomes
    assert (parallel["events_applied"], parallel["records_skipped"]) == (serial["events_applied"], 0)


async def test_one_rebuild_at_a_time(dozen_loaded) -> None:
    app = dozen_loaded
    holder = await asyncpg.connect(app.settings.database_url)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK_KEY)
        refused = await app.client.post("/admin/rebuild", headers=auth(app.settings, "ada", "ops_admin"))
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/rebuild-running"
        code, _, err = await app.rebuild_cli()
        assert code == 2 and "already running" in err
    finally:
        await holder.close()


async def test_rebuild_is_for_ops_admins_only(dozen_loaded) -> None:
    app = dozen_loaded
    for roles in (("viewer",), ("finance", "approver"), ("requester",)):
        denied = await app.client.post("/admin/rebuild", headers=auth(app.settings, "x", *roles))
        assert denied.status_code == 403
    assert (await app.client.post("/admin/rebuild")).status_code == 401
    admin = auth(app.settings, "ada", "ops_admin")
    assert (await app.client.get("/admin/rebuilds/0c8a9f0e-1b7a-4f43-9d4f-111111111111",
                                 headers=admin)).status_code == 404
    assert (await app.client.get("/admin/rebuilds/not-a-uuid", headers=admin)).status_code == 422
    assert (await app.client.get("/admin/rebuilds/0c8a9f0e-1b7a-4f43-9d4f-111111111111",
                                 headers=auth(app.settings, "v", "viewer"))).status_code == 403
