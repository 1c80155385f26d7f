"""Budget's central rule, tested directly: a campaign uses the larger of what it holds on
its line and what it spent there. The domain (campaign_use, the reservation decision)
and the SQL every balance is summed from (line_exposure.used) say the same thing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from budget_harness import brief_submitted

import marops_budget
from marops_budget import repository as repo
from marops_budget import service
from marops_budget.domain import Brief, LineState, Refused, Reserved, Spend, campaign_use, decide_reservation
from marops_budget.service import Cause, NewLine, Rules
from marops_events.envelope import utcnow
from marops_service import db

MIGRATIONS = Path(marops_budget.__file__).parent / "migrations"
RULES = Rules()
D = Decimal

# (held, spent) per campaign on one 1000.00 EUR line: below, at and beyond the hold, no hold
CAMPAIGNS = {"under": ("300.00", "120.00"), "even": ("200.00", "200.00"), "over": ("100.00", "250.00"),
             "no-hold": (None, "80.00")}


def test_a_campaign_uses_the_larger_of_what_it_holds_and_what_it_spent() -> None:
    assert campaign_use(held=D("300"), spent=D("120")) == D("300")
    assert campaign_use(held=D("100"), spent=D("250")) == D("250")
    assert campaign_use(held=D("0"), spent=D("80")) == D("80")
    assert campaign_use(held=D("50"), spent=D("-20")) == D("50")  # net refunds never free what is held


def test_a_reservation_needs_what_the_campaign_will_use() -> None:
    # 400.00 of the line are free for the campaign; it asks to hold 300.00
    brief = Brief(campaign_id="c", version=2, budget_line_id="L", amount=D("300"), currency="EUR",
                  flight_start=dt.date(2026, 3, 1), flight_end=dt.date(2026, 3, 31))

    def line(spent: str) -> LineState:
        return LineState(id="L", currency="EUR", amount=D("1000"), others_exposure=D("600"), campaign_spent=D(spent))

    assert isinstance(decide_reservation(brief, line("350")), Reserved)  # it will use 350 of the 400
    assert isinstance(decide_reservation(brief, line("401")), Refused)  # it already spent more than is free


@pytest.fixture
async def pool(pg_dsn: str):
    await db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("budget", MIGRATIONS)])
    pool = await db.create_pool(pg_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def test_every_balance_sums_what_each_campaign_uses(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await service.create_line(conn, NewLine("line-a", None, 2026, 1, "growth", "paid_search", D("1000.00"),
                                                "EUR"), "fiona", RULES, utcnow)
        for campaign, (held, spent) in CAMPAIGNS.items():
            if held is not None:
                await service.brief_submitted(conn, brief_submitted(campaign, "line-a", held), RULES)
            await service.record_api_spend(
                conn, Spend(campaign_id=campaign, source_system="ads", source_reference=uuid.uuid4().hex,
                            amount=D(spent), currency="EUR", incurred_on=dt.date(2026, 1, 10),
                            budget_line_id="line-a"),
                origin="api", event_id=uuid.uuid4(), recorded_by="fiona", cause=Cause(), rules=RULES,
                publish=False)

    used = {c: campaign_use(D(h or "0"), D(s)) for c, (h, s) in CAMPAIGNS.items()}
    rows = {r["campaign_id"]: r["used"] for r in await pool.fetch(
        "SELECT campaign_id, used FROM line_exposure WHERE line_id = 'line-a'")}
    assert rows == used
    balance = await pool.fetchrow("SELECT amount, exposure FROM line_balances WHERE id = 'line-a'")
    assert balance["exposure"] == sum(used.values()) == D("830.00")
    async with pool.acquire() as conn:
        seen_by_under = await repo.line_state(conn, "line-a", "under")
    assert seen_by_under is not None
    assert seen_by_under.others_exposure == sum(v for c, v in used.items() if c != "under")
    assert seen_by_under.campaign_spent == D("120.00")


async def test_a_command_times_what_it_records_and_publishes_by_the_clock_of_its_edge(pool: asyncpg.Pool) -> None:
    import json

    then = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
    async with pool.acquire() as conn, conn.transaction():
        await service.create_line(conn, NewLine("line-t", None, 2026, 1, "growth", "paid_search", D("1000.00"),
                                                "EUR"), "fiona", RULES, utcnow)
        await service.record_api_spend(
            conn, Spend(campaign_id="timed", source_system="ads", source_reference="r-1", amount=D("10.00"),
                        currency="EUR", incurred_on=dt.date(2026, 1, 10), budget_line_id="line-t"),
            origin="api", event_id=uuid.uuid4(), recorded_by="fiona", cause=Cause(clock=lambda: then),
            rules=RULES, publish=True)
    assert await pool.fetchval("SELECT occurred_at FROM spend_ledger WHERE source_reference = 'r-1'") == then
    times = {r["event_type"]: json.loads(r["payload"])["time"] for r in await pool.fetch(
        "SELECT event_type, payload FROM outbox WHERE partition_key = 'timed'")}
    assert times["SpendRecorded"].startswith("2026-01-15T09:30:00"), times
