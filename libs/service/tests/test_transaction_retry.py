"""Use cases retry a transaction PostgreSQL aborted to break a deadlock (the helper alone;
test_use_case_idiom.py provokes a real deadlock)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import asyncpg
import pytest

from marops_service.transactions import in_transaction


class FakeConnection:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    @asynccontextmanager
    async def transaction(self):  # type: ignore[no-untyped-def]
        self.log.append("begin")
        try:
            yield
        except BaseException:
            self.log.append("rollback")
            raise
        self.log.append("commit")


class FakePool:
    def __init__(self) -> None:
        self.log: list[str] = []

    @asynccontextmanager
    async def acquire(self):  # type: ignore[no-untyped-def]
        yield FakeConnection(self.log)


def deadlocking(times: int):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    async def work(conn: FakeConnection) -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return "done"

    return work


async def test_a_deadlocked_attempt_is_rolled_back_and_retried() -> None:
    pool = FakePool()
    assert await in_transaction(pool, deadlocking(2)) == "done"  # type: ignore[arg-type]
    assert pool.log == ["begin", "rollback", "begin", "rollback", "begin", "commit"]


async def test_retries_are_bounded() -> None:
    pool = FakePool()
    with pytest.raises(asyncpg.DeadlockDetectedError):
        await in_transaction(pool, deadlocking(3))  # type: ignore[arg-type]
    assert pool.log.count("begin") == 3


async def test_other_errors_are_not_retried() -> None:
    pool = FakePool()

    async def broken(conn: FakeConnection) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await in_transaction(pool, broken)  # type: ignore[arg-type]
    assert pool.log == ["begin", "rollback"]
