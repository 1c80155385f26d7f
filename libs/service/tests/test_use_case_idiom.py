"""The pieces every use case is made of: one transaction retried after a deadlock (a real
one, between two PostgreSQL transactions), the campaign lock, refusals answered at the
edge from the service's table, and the clock the edge hands in."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from enum import StrEnum

import asyncpg
import httpx
from fastapi import FastAPI

from marops_events.consumer import Unprocessable
from marops_service import problems, refusals
from marops_service.clock import Now
from marops_service.locks import lock_campaign
from marops_service.refusals import Answer, Refusal
from marops_service.transactions import in_transaction


async def test_a_use_case_aborted_by_a_deadlock_runs_again_and_both_sides_commit(pg_dsn: str) -> None:
    setup = await asyncpg.connect(pg_dsn)
    await setup.execute("CREATE TABLE lines (id text PRIMARY KEY, n int NOT NULL DEFAULT 0)")
    await setup.execute("INSERT INTO lines (id) VALUES ('a'), ('b')")
    pool = await asyncpg.create_pool(pg_dsn, min_size=2, max_size=2)
    both_hold_one = asyncio.Barrier(2)
    attempts: dict[str, int] = {"ab": 0, "ba": 0}

    def moving(first: str, second: str) -> Callable[[asyncpg.Connection], Awaitable[str]]:
        async def work(conn: asyncpg.Connection) -> str:
            attempts[first + second] += 1
            await conn.execute("UPDATE lines SET n = n + 1 WHERE id = $1", first)
            if attempts[first + second] == 1:
                await both_hold_one.wait()  # each holds one row and now wants the other's
            await conn.execute("UPDATE lines SET n = n + 1 WHERE id = $1", second)
            return first + second
        return work

    try:
        done = await asyncio.gather(in_transaction(pool, moving("a", "b")), in_transaction(pool, moving("b", "a")))
        counts = dict(await setup.fetch("SELECT id, n FROM lines"))
    finally:
        await pool.close()
        await setup.close()
    assert sorted(done) == ["ab", "ba"]
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL aborted one side once
    assert counts == {"a": 2, "b": 2}  # the aborted attempt left nothing behind


async def test_a_refusal_that_is_not_a_conflict_is_not_retried(pg_dsn: str) -> None:
    pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=1)
    calls = 0

    async def refused(conn: asyncpg.Connection) -> None:
        nonlocal calls
        calls += 1
        raise Refusal("no", "the rules say no")

    try:
        try:
            await in_transaction(pool, refused)
        except Refusal:
            pass
    finally:
        await pool.close()
    assert calls == 1


async def test_the_campaign_lock_makes_a_second_transaction_of_the_campaign_wait(pg_dsn: str) -> None:
    first, second, observer = [await asyncpg.connect(pg_dsn) for _ in range(3)]
    try:
        holding = first.transaction()
        await holding.start()
        await lock_campaign(first, "cmp-1")
        async with second.transaction():
            await lock_campaign(second, "cmp-2")  # another campaign: no wait
        waiting = asyncio.create_task(_locked_then_read(second, "cmp-1"))
        while not await observer.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"):
            assert not waiting.done(), "the second transaction took the lock the first one holds"
            await asyncio.sleep(0.02)
        await holding.commit()
        assert await waiting == 1
    finally:
        for conn in (first, second, observer):
            await conn.close()


async def _locked_then_read(conn: asyncpg.Connection, campaign_id: str) -> int:
    async with conn.transaction():
        await lock_campaign(conn, campaign_id)
        value: int = await conn.fetchval("SELECT 1")
        return value


class Code(StrEnum):
    four_eyes = "four-eyes"
    taken = "taken"


ANSWERS = {Code.four_eyes: Answer(403, "Four-eyes rule"), Code.taken: Answer(409, "Conflict", "conflict")}


def edge_app() -> FastAPI:
    app = FastAPI()
    problems.install(app)
    refusals.install(app, ANSWERS)

    @app.post("/decide/{code}")
    async def decide(code: Code, now: Now) -> dict[str, str]:
        raise Refusal(code, f"refused at {now.isoformat()}", status_now="pending")

    @app.get("/now")
    async def current(now: Now) -> dict[str, str]:
        return {"now": now.isoformat()}

    return app


async def test_a_refusal_is_answered_from_the_service_table_and_the_code_is_the_problem_type() -> None:
    app = edge_app()
    app.state.clock = lambda: dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        four_eyes = await client.post("/decide/four-eyes")
        taken = await client.post("/decide/taken")
    assert four_eyes.status_code == 403
    assert four_eyes.headers["content-type"] == "application/problem+json"
    assert four_eyes.json() == {"type": "/problems/four-eyes", "title": "Four-eyes rule", "status": 403,
                                "detail": "refused at 2026-03-01T12:00:00+00:00", "instance": "/decide/four-eyes",
                                "status_now": "pending"}
    assert taken.status_code == 409
    assert taken.json()["type"] == "/problems/conflict"


async def test_the_clock_of_the_app_is_the_now_of_every_route() -> None:
    app = edge_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        before = dt.datetime.now(dt.UTC)
        system = dt.datetime.fromisoformat((await client.get("/now")).json()["now"])
        app.state.clock = lambda: dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        fixed = (await client.get("/now")).json()["now"]
    assert system >= before and system.tzinfo is not None
    assert fixed == "2030-01-01T00:00:00+00:00"


def test_a_refusal_while_consuming_is_an_event_that_can_never_be_applied() -> None:
    refusal = Refusal("no", "budget line L-1 does not exist")
    assert isinstance(refusal, Unprocessable)
    assert refusal.reason == "budget line L-1 does not exist"
