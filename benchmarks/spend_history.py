"""``make bench`` (budget part): what a spend costs once its campaign has a long history,
beside the same spend on a campaign without one, in the same run. Asserts nothing.

An ad platform books a spend per ad set and day, so one campaign gathers thousands. Budget's
app runs in this process (ASGI, no uvicorn, no workers); 100 ``POST /spend`` are timed on a
campaign after 0, 1,000 and 3,000 (BENCH_SCALE=full: 10,000) earlier spends: CPU of this
process and wall time per spend (PostgreSQL's work is in the wall time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
import uuid
from decimal import Decimal

from marops_budget import handlers
from marops_budget.main import create_app
from marops_budget.service import Rules
from marops_budget.settings import Settings
from marops_events import contracts as c
from marops_events import registry
from marops_service import db
from marops_testkit import create_database, drop_databases
from marops_testkit.apps import auth, running, service_settings

SCALE = os.environ.get("BENCH_SCALE", "small")
HISTORIES = {"small": (0, 1_000, 3_000), "full": (0, 1_000, 10_000)}[SCALE]
TIMED = 100
PG = f"postgresql://marops@127.0.0.1:{os.environ.get('MAROPS_PG_PORT', '15432')}"
KAFKA = f"127.0.0.1:{os.environ.get('MAROPS_KAFKA_PORT', '19092')}"


def brief(campaign_id: str) -> c.BriefSubmitted:
    return c.BriefSubmitted(
        campaign_id=campaign_id, version=1, title="Always-on search", team="growth", owner="olga", requester="rita",
        objective="Leads", channels=[c.Channel.paid_search], target_launch_date=dt.date(2026, 3, 1),
        flight_start=dt.date(2026, 3, 1), flight_end=dt.date(2026, 12, 31),
        kpis=[c.Kpi(metric="leads", target=Decimal(100), unit="leads", timeframe="90 days")],
        tracking_plan=c.TrackingPlan(campaign_code=campaign_id),
        budget_request=c.BudgetRequest(amount=c.Money(amount=Decimal("1000000.00"), currency="EUR"),
                                       budget_line_id="line-search"))


async def main() -> None:
    name = f"bench_spend_{uuid.uuid4().hex[:8]}"
    await create_database(f"{PG}/postgres", name)
    settings = service_settings(Settings, pg_dsn=f"{PG}/{name}", kafka_bootstrap=KAFKA,
                                topic_prefix=f"{name}.", run_workers=False)
    try:
        async with running(create_app(settings)) as client:
            finance = auth(settings, "finn", "finance")
            line = {"id": "line-search", "fiscal_year": 2026, "quarter": 1, "team": "growth",
                    "channel": "paid_search", "amount": {"amount": "100000000.00", "currency": "EUR"}}
            assert (await client.post("/budget-lines", json=line, headers=finance)).status_code == 201
            pool = await db.create_pool(settings.database_url, min_size=1, max_size=1)
            on = handlers.SUBSCRIPTIONS.handlers(Rules.from_settings(settings))
            async with pool.acquire() as conn, conn.transaction():
                for campaign_id in ("long", *(f"fresh-{h}" for h in HISTORIES)):
                    await on["BriefSubmitted"](conn, registry.new_event(brief(campaign_id), source="marops/intake"))
            await pool.close()
            sent = 0

            async def spend(campaign_id: str) -> None:
                nonlocal sent
                sent += 1
                response = await client.post("/spend", headers=finance, json={
                    "campaign_id": campaign_id, "source_system": "google-ads", "source_reference": f"r-{sent}",
                    "amount": {"amount": "12.50", "currency": "EUR"}, "incurred_on": "2026-03-05"})
                assert response.status_code == 201, response.text

            async def timed(campaign_id: str) -> tuple[float, float]:
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(TIMED):
                    await spend(campaign_id)
                return ((time.process_time() - cpu) * 1000 / TIMED, (time.perf_counter() - wall) * 1000 / TIMED)

            print(f"\nbudget: a spend on a campaign with a long history ({SCALE}; {TIMED} POST /spend each, "
                  f"in-process app)")
            booked = 0
            for history in HISTORIES:
                while booked < history:
                    await spend("long")
                    booked += 1
                cpu, wall = await timed("long")
                booked += TIMED
                peer_cpu, peer_wall = await timed(f"fresh-{history}")
                print(f"  after {history:>6,} spends: {cpu:.2f} ms CPU, {wall:.2f} ms wall per spend | peer, a "
                      f"campaign without history: {peer_cpu:.2f} ms CPU, {peer_wall:.2f} ms wall "
                      f"(x{wall / peer_wall:.1f} wall) | target: flat (x1)")
    finally:
        await drop_databases(f"{PG}/postgres", [name])


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores")
    asyncio.run(main())
