"""Start-up order: the read model is migrated and its missing derived rows derived, then the
freshness of what it already holds is seeded into the consumer (which exists by then), before
the consumer fetches anything. After a restart, /status and the Prometheus gauge report the
last event time the read model holds, not nothing until the next event arrives."""

from __future__ import annotations

from marops_events import registry
from marops_metrics import handlers
from marops_metrics.main import create_app
from marops_metrics.projection import LIVE_SCHEMA
from marops_metrics.settings import MIGRATIONS_DIR, Settings
from marops_service import db
from marops_testkit.apps import auth, running, service_settings


async def test_a_restarted_service_reports_the_freshness_its_read_model_holds(
        pg_dsn: str, kafka_bootstrap: str, topic_prefix: str, dozen) -> None:
    # What a previous run of the service applied (its topics, here, hold nothing at all).
    await db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("metrics", MIGRATIONS_DIR)])
    pool = await db.create_pool(pg_dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await handlers.project_batch(conn, list(dozen.events))
            # Facts stored before the derived rows existed: start-up derives them.
            await conn.execute(f"DELETE FROM {LIVE_SCHEMA}.campaigns")
    finally:
        await pool.close()

    settings = service_settings(Settings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    app = create_app(settings)
    async with running(app) as client:
        consumer = app.state.runtime.consumer
        brief_topic = registry.spec_for("BriefSubmitted").topic(topic_prefix)
        latest_brief = max(e.time for e in dozen.events if e.type == "BriefSubmitted")
        assert consumer.last_event_time[brief_topic] == latest_brief
        assert set(consumer.last_event_time) == {registry.spec_for(e.type).topic(topic_prefix) for e in dozen.events}

        metrics = (await client.get("/metrics")).text
        gauge = next(line for line in metrics.splitlines()
                     if line.startswith("marops_consumer_last_event_time_seconds{")
                     and f'group="{consumer.group_id}"' in line and f'topic="{brief_topic}"' in line)
        assert float(gauge.rsplit(" ", 1)[1]) == latest_brief.timestamp()

        summary = (await client.get("/summary", headers=auth(settings, "vera", "viewer"))).json()
        assert summary["campaigns"]["submitted"] == 12  # derived at start-up, before serving
