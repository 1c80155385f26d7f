"""``make bench`` (governance part): the approval queue and the deadline timer with many
campaigns in review, each beside its peers measured in the same run. Asserts nothing.

BENCH_SCALE=small (default: 2,000 campaigns in review) or full (20,000). A third of them
have their brief review approved (their budget gate waits for finance), a tenth are
cancelled. Seeded through governance's own handlers and decisions.

- queue page: ``GET /queue``'s function (first 100 gates of an approver, of finance) on the
  open-gate index, p50 / p95;
- peer: deriving every campaign in review and judging them all (how the queue was answered
  before the index), and ``SELECT 1``;
- after a write: a decision, then the first page (the reader re-derives the changed campaign);
- timer pass: ``sweep_deadlines`` with nothing due, beside the derive-everything peer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

import marops_governance
from marops_events import contracts as c
from marops_events import registry
from marops_governance import domain, handlers, notifier, repository, service
from marops_governance.domain import DecisionRequest
from marops_service import db
from marops_service.access import can_read_campaign
from marops_service.app import freeze_heap
from marops_service.auth import Principal, Role
from marops_testkit import create_database, drop_databases

SCALE = os.environ.get("BENCH_SCALE", "small")
CAMPAIGNS = {"small": 2_000, "full": 20_000}[SCALE]
ROUNDS = 20
ADMIN = f"postgresql://marops@127.0.0.1:{os.environ.get('MAROPS_PG_PORT', '15432')}/postgres"
APPROVER = Principal("alex", frozenset({Role.approver}))
FINANCE = Principal("finn", frozenset({Role.finance}))
WARNING = dt.timedelta(hours=4)

# what the queue and the timer read before the index: every campaign that may have an open gate
IN_REVIEW = """
    SELECT DISTINCT b.campaign_id FROM brief_versions b
    WHERE NOT EXISTS (SELECT 1 FROM cancellations x WHERE x.campaign_id = b.campaign_id)
      AND (NOT EXISTS (SELECT 1 FROM launches l WHERE l.campaign_id = b.campaign_id)
           OR (b.change_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM change_outcomes o WHERE o.change_id = b.change_id)))
"""


def brief(campaign_id: str, n: int) -> c.BriefSubmitted:
    return c.BriefSubmitted(
        campaign_id=campaign_id, version=1, title=f"Campaign {n}", team=("growth", "brand", "product")[n % 3],
        owner="olga", requester="rita", objective="More qualified leads", target_audience="SMB owners",
        channels=[(c.Channel.email, c.Channel.paid_social)[n % 2]], target_launch_date=dt.date(2027, 3, 1),
        flight_start=dt.date(2027, 3, 1), flight_end=dt.date(2027, 4, 30),
        kpis=[c.Kpi(metric="qualified_leads", target=Decimal("500"), unit="leads", timeframe="90 days")],
        tracking_plan=c.TrackingPlan(campaign_code=f"c{n}", conversion_events=["signup"]),
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal(1000 + n % 40_000), currency="EUR"),
                                       budget_line_id="line-q1"),
        raci=c.Raci(responsible=["rita"], accountable="olga"))


async def seed(pool: asyncpg.Pool) -> None:
    on = handlers.SUBSCRIPTIONS.handlers()
    submitted = dt.datetime.now(dt.UTC) - dt.timedelta(hours=20)
    ids = [f"bench-{n:06d}" for n in range(CAMPAIGNS)]
    async with pool.acquire() as conn:
        for start in range(0, CAMPAIGNS, 500):
            async with conn.transaction():
                for n in range(start, min(CAMPAIGNS, start + 500)):
                    at = submitted + dt.timedelta(seconds=n)
                    await on["BriefSubmitted"](conn, registry.new_event(brief(ids[n], n), source="marops/intake",
                                                                        time=at))
                    if n % 10 == 9:
                        await on["CampaignCancelled"](conn, registry.new_event(
                            c.CampaignCancelled(campaign_id=ids[n], cancelled_by="olga"), source="marops/intake"))
    approve = DecisionRequest(gate_id="brief_review", brief_version=1, approve=True)
    clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
    for n in range(0, CAMPAIGNS, 3):
        if n % 10 != 9:
            await service.decide(pool, ids[n], approve, APPROVER, clock)


async def timed(work, rounds: int = ROUNDS) -> tuple[float, float]:
    """p50 and p95 of ``work``, ms."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, statistics.quantiles(times, n=20)[18] * 1000


def ms(figures: tuple[float, float]) -> str:
    return f"p50 {figures[0]:.1f} / p95 {figures[1]:.1f} ms"


async def derive_everything(pool: asyncpg.Pool, actor: Principal) -> int:
    async with pool.acquire() as conn:
        ids = [r["campaign_id"] for r in await conn.fetch(IN_REVIEW)]
        campaigns = await repository.load_campaigns(conn, ids)
    readable = (found for found in campaigns.values() if can_read_campaign(actor, found.parties))
    return len(domain.approval_queue(readable, actor, dt.datetime.now(dt.UTC)))


async def main() -> None:
    name = f"bench_gov_{uuid.uuid4().hex[:8]}"
    await create_database(ADMIN, name)
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        sets = [*db.library_migrations(),
                db.MigrationSet("governance", Path(marops_governance.__file__).parent / "migrations")]
        await db.apply_migrations(dsn, sets)
        pool = await db.create_pool(dsn, min_size=2, max_size=4)
        try:
            await service.seed_policy(pool)
            started = time.perf_counter()
            await seed(pool)
            print(f"\ngovernance queue ({SCALE}: {CAMPAIGNS:,} campaigns submitted, a tenth cancelled, a third at "
                  f"the budget gate; seeded in {time.perf_counter() - started:.0f} s)")
            now = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
            await service.queue(pool, APPROVER, now(), limit=100)  # the index fills once, as after a deploy
            freeze_heap()  # as a started service process does (marops_service.app)

            async def select_1() -> None:
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            print(f"  SELECT 1: {ms(await timed(select_1))}")
            for who in (APPROVER, FINANCE):
                page = await timed(lambda: service.queue(pool, who, now(), limit=100))
                whole = await timed(lambda: derive_everything(pool, who), rounds=5)
                size = await derive_everything(pool, who)
                print(f"  queue of {who.subject} ({size:,} gates), first page of 100: {ms(page)} | peer, deriving "
                      f"every campaign in review: {ms(whole)} (x{whole[0] / page[0]:.0f} at p50)")

            undecided = iter([f"bench-{n:06d}" for n in range(1, CAMPAIGNS, 3) if n % 10 != 9])

            async def decide() -> None:
                await service.decide(pool, next(undecided), DecisionRequest("brief_review", 1, True), APPROVER, now)

            async def decide_then_read() -> None:
                await decide()
                await service.queue(pool, FINANCE, now(), limit=100)
            print(f"  after a write, a decision + finance's first page: {ms(await timed(decide_then_read))} | peer, "
                  f"the decision alone: {ms(await timed(decide))}")
            sweep = await timed(lambda: notifier.sweep_deadlines(pool, now, WARNING))
            whole = await timed(lambda: derive_everything(pool, APPROVER), rounds=5)
            print(f"  timer pass, nothing due: {ms(sweep)} | peer, deriving every campaign in review: {ms(whole)}")
        finally:
            await pool.close()
    finally:
        await drop_databases(ADMIN, [name])


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores")
    asyncio.run(main())
