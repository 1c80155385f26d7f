"""Concurrent reservations against the real PostgreSQL never over-reserve a line.

Each submission runs the consumer's use case in its own connection and transaction, as
several consumer replicas (or a replica and a finance user reallocating) would. A
barrier starts them together so their reads really interleave.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from budget_harness import brief_submitted, gate_approved

import marops_budget
from marops_budget import service
from marops_budget.domain import RuleViolation
from marops_budget.service import NewLine, Rules
from marops_events import contracts as c
from marops_events.envelope import utcnow
from marops_events.registry import new_event
from marops_service import db

MIGRATIONS = Path(marops_budget.__file__).parent / "migrations"
RULES = Rules()


@pytest.fixture
async def pool(pg_dsn: str):
    await db.apply_migrations(pg_dsn, [*db.library_migrations(), db.MigrationSet("budget", MIGRATIONS)])
    pool = await db.create_pool(pg_dsn, min_size=1, max_size=30)
    yield pool
    await pool.close()


async def _create_line(pool: asyncpg.Pool, line_id: str, amount: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await service.create_line(conn, NewLine(line_id, None, 2026, 1, "growth", "paid_search", Decimal(amount),
                                                "EUR"), "fiona", RULES, utcnow)


async def _together(pool: asyncpg.Pool, jobs: list) -> list:
    """Run each job in its own transaction, all released at once by a barrier."""
    barrier = asyncio.Barrier(len(jobs))

    async def run(job):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")  # the transaction is open before anyone starts
            await barrier.wait()
            try:
                return await job(conn)
            except RuleViolation as exc:
                return exc

    return await asyncio.gather(*(run(job) for job in jobs))


async def _balance(pool: asyncpg.Pool, line_id: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM line_balances WHERE id = $1", line_id)


async def test_concurrent_equal_submissions_fill_the_line_exactly(pool: asyncpg.Pool) -> None:
    await _create_line(pool, "line-a", "1000.00")
    briefs = [brief_submitted(f"cmp-{i}", "line-a", "130.00") for i in range(25)]
    await _together(pool, [lambda conn, b=b: service.brief_submitted(conn, b, RULES) for b in briefs])

    balance = await _balance(pool, "line-a")
    assert balance["reserved"] == Decimal("910.00")  # 7 x 130: the most that fits, and never more
    outcomes = await pool.fetch("SELECT outcome, reason_code, count(*) AS n FROM reservation_decisions "
                                "GROUP BY 1, 2 ORDER BY 1")
    assert [(r["outcome"], r["reason_code"], r["n"]) for r in outcomes] == [
        ("rejected", "insufficient_funds", 18), ("reserved", None, 7)]
    published = await pool.fetch("SELECT event_type, count(*) AS n FROM outbox GROUP BY 1 ORDER BY 1")
    assert [(r["event_type"], r["n"]) for r in published] == [
        ("BudgetReservationRejected", 18), ("BudgetReserved", 7)]


async def test_concurrent_mixed_work_keeps_every_line_within_its_amount(pool: asyncpg.Pool) -> None:
    rng = random.Random(20260201)
    await _create_line(pool, "line-a", "5000.00")
    await _create_line(pool, "line-b", "3000.00")
    # Some campaigns already hold money, and will resubmit (growing or moving line).
    existing = [brief_submitted(f"old-{i}", "line-a", "400.00") for i in range(4)]
    await _together(pool, [lambda conn, b=b: service.brief_submitted(conn, b, RULES) for b in existing])

    jobs: list = []
    requests: dict[str, Decimal] = {}
    for i in range(24):
        amount = Decimal(rng.randrange(100, 1500))
        line = rng.choice(["line-a", "line-b"])
        brief = brief_submitted(f"new-{i}", line, str(amount))
        requests[brief.data.campaign_id] = amount
        jobs.append(lambda conn, b=brief: service.brief_submitted(conn, b, RULES))
    for i in range(4):
        resubmitted = brief_submitted(f"old-{i}", rng.choice(["line-a", "line-b"]), "900.00", version=2)
        jobs.append(lambda conn, b=resubmitted: service.brief_submitted(conn, b, RULES))
    for amount in ("700.00", "900.00"):  # finance moves money away from line A meanwhile
        jobs.append(lambda conn, a=amount: service.reallocate(conn, "line-a", "line-b", Decimal(a), "EUR",
                                                                "rebalance", "fiona", utcnow))
    rng.shuffle(jobs)
    await _together(pool, jobs)

    for line_id in ("line-a", "line-b"):
        balance = await _balance(pool, line_id)
        assert balance["reserved"] + balance["committed"] <= balance["amount"], dict(balance)
        # Holds, decisions and the balance view agree.
        held = await pool.fetchval("SELECT coalesce(sum(amount), 0) FROM holds WHERE budget_line_id = $1 "
                                   "AND status = 'reserved'", line_id)
        assert held == balance["reserved"]
        assert balance["exposure"] <= balance["amount"]
    total_amount = await pool.fetchval("SELECT sum(amount) FROM budget_lines")
    assert total_amount == Decimal("8000.00")  # reallocation moves money, never creates it
    decided = await pool.fetchval("SELECT count(*) FROM reservation_decisions WHERE campaign_id LIKE 'new-%'")
    assert decided == len(requests)


async def test_concurrent_top_ups_of_committed_campaigns_never_over_commit_a_line(pool: asyncpg.Pool) -> None:
    """Ten committed campaigns of 100.00 on a line of 1500.00 ask, together, for 300.00 each:
    500.00 is free, so exactly two top-ups of 200.00 fit; the rest are refused."""
    await _create_line(pool, "line-t", "1500.00")
    ids = [f"chg-{i}" for i in range(10)]
    for cid in ids:
        async with pool.acquire() as conn, conn.transaction():
            await service.brief_submitted(conn, brief_submitted(cid, "line-t", "100.00"), RULES)
            await service.budget_gate_approved(conn, gate_approved(cid), RULES)

    def request(cid: str):
        proposal = brief_submitted(cid, "line-t", "300.00", version=2).data
        return new_event(c.ChangeRequested(
            campaign_id=cid, change_id=f"{cid}-v2", base_version=1, changes=[c.ChangeField.budget], reason="more",
            requested_by="olga", brief=proposal, base_amount=c.Money(amount=Decimal("100.00"), currency="EUR")),
            source="marops/intake")

    await _together(pool, [lambda conn, e=request(cid): service.change_requested(conn, e, RULES) for cid in ids])
    balance = await _balance(pool, "line-t")
    assert (balance["committed"], balance["reserved"]) == (Decimal("1000.00"), Decimal("400.00"))
    assert balance["exposure"] <= balance["amount"]
    outcomes = await pool.fetch("SELECT outcome, count(*) AS n FROM reservation_decisions WHERE brief_version = 2 "
                                "GROUP BY 1 ORDER BY 1")
    assert [(r["outcome"], r["n"]) for r in outcomes] == [("rejected", 8), ("reserved", 2)]
