"""Upgrading to the open-gate index (migration 006) on a database with campaigns already in
it: the campaigns that may have an open gate are derived by the first reader, so the
approval queue shows them at once; the rest are left alone until a fact of theirs changes."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

import marops_governance
from marops_events import contracts as c
from marops_events import registry
from marops_governance import gate_index, handlers, service
from marops_service import db
from marops_service.auth import Principal, Role

pytestmark = pytest.mark.asyncio

MIGRATIONS = Path(marops_governance.__file__).parent / "migrations"


def brief(campaign_id: str) -> c.BriefSubmitted:
    return c.BriefSubmitted(
        campaign_id=campaign_id, version=1, title=f"Spring {campaign_id}", team="growth", owner="olga",
        requester="rita", objective="More qualified leads", target_audience="SMB owners", channels=[c.Channel.email],
        target_launch_date=dt.date(2027, 3, 1), flight_start=dt.date(2027, 3, 1), flight_end=dt.date(2027, 4, 30),
        kpis=[c.Kpi(metric="qualified_leads", target=Decimal("500"), unit="leads", timeframe="90 days")],
        tracking_plan=c.TrackingPlan(campaign_code="spring-27", conversion_events=["signup"]),
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal("25000.00"), currency="EUR"),
                                       budget_line_id="line-growth-q1"),
        raci=c.Raci(responsible=["rita"], accountable="olga"))


async def test_campaigns_in_review_before_the_index_are_in_the_queue_after_it(pg_dsn: str, tmp_path: Path) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < "006":
            shutil.copy(path, before / path.name)
    await db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("governance", before)])

    pool = await db.create_pool(pg_dsn, min_size=1, max_size=2)
    try:
        await service.seed_policy(pool)
        on = handlers.SUBSCRIPTIONS.handlers()
        async with pool.acquire() as conn, conn.transaction():
            for cid in ("waiting", "cancelled"):
                await on["BriefSubmitted"](conn, registry.new_event(brief(cid), source="marops/intake"))
            await on["CampaignCancelled"](conn, registry.new_event(
                c.CampaignCancelled(campaign_id="cancelled", cancelled_by="olga"), source="marops/intake"))

        applied = await db.apply_migrations(pg_dsn, [*db.library_migrations(),
                                                     db.MigrationSet("governance", MIGRATIONS)])
        assert applied[0] == "governance/006_gate_index.sql"
        async with pool.acquire() as conn:
            marked = {r["campaign_id"] for r in await conn.fetch("SELECT campaign_id FROM gate_index_stale")}
        assert marked == {"waiting"}  # a cancelled campaign has no open gate to index

        alex = Principal("alex", frozenset({Role.approver}))
        page = await gate_index.queue(pool, alex, dt.datetime.now(dt.UTC), limit=10)
        assert [(i.campaign.campaign_id, i.gate.id) for i in page.items] == [("waiting", "brief_review")]
        assert page.next_cursor is None
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM gate_index_stale") == 0
            assert [tuple(r) for r in await conn.fetch(
                "SELECT campaign_id, gate_id, in_queue FROM open_gates")] == [("waiting", "brief_review", True)]
    finally:
        await pool.close()
