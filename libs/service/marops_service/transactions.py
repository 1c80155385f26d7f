"""One transaction per use case, run again when PostgreSQL aborted it to break a conflict.

A command that locks several rows (lines, campaigns) can deadlock with a consumer's
batch, or lose a serialization race; PostgreSQL aborts one side and the other goes on,
so a fresh attempt of the aborted one succeeds. Nothing of an aborted attempt remains.

A query of more than one statement reads through ``snapshot``: outside a transaction each
statement sees the data committed when *it* starts, so a consumer committing between two
of them would show half of its effect (a hold without the brief version it holds).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

# Aborted to break a conflict with a concurrent transaction: safe to run again.
RETRIED: tuple[type[BaseException], ...] = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def in_transaction(pool: Any, work: Callable[[asyncpg.Connection], Awaitable[T]], *, attempts: int = 3) -> T:
    """Run ``work(conn)`` in one transaction of a connection from ``pool``; up to ``attempts``
    times while it is aborted by a deadlock or serialization failure (the last one raises)."""
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await work(conn)
        except RETRIED:
            if attempt == attempts:
                raise
    raise ValueError(f"attempts must be at least 1, not {attempts}")


@asynccontextmanager
async def snapshot(pool: Any) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose every statement reads the same committed state: a read-only
    REPEATABLE READ transaction (read-only, so it can never fail to serialize)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn
