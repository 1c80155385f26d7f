"""The campaign lock: every command and consumed event of one campaign, one at a time.

Held to the end of the transaction (a PostgreSQL advisory lock on the campaign id, so it
needs no row: an event may arrive before the campaign is known). A use case takes it
before it reads what it decides on, so a decision racing a consumed event of the same
campaign is decided on every fact committed before it.
"""

from __future__ import annotations

import asyncpg

# The lock as an SQL expression of the campaign id ``$1``, for a statement that takes it
# and then writes (never reads: a statement's snapshot predates the lock it waits for).
CAMPAIGN_LOCK = "pg_advisory_xact_lock(hashtextextended('campaign:' || $1::text, 0))"


async def lock_campaign(conn: asyncpg.Connection, campaign_id: str) -> None:
    await conn.execute(f"SELECT {CAMPAIGN_LOCK}", campaign_id)


async def lock_campaigns(conn: asyncpg.Connection, campaign_ids: list[str]) -> None:
    """Several campaigns' locks in one round trip (a consumer's batch), in id order, so two
    transactions locking overlapping sets never wait for each other in a cycle."""
    await conn.execute(
        """
        SELECT count(pg_advisory_xact_lock(hashtextextended('campaign:' || id, 0)))
        FROM (SELECT DISTINCT unnest($1::text[]) AS id ORDER BY 1 OFFSET 0) ids
        """,
        campaign_ids,
    )
