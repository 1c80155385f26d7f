"""Consumed events -> the live read model. Each handler runs inside the consumer's batch transaction.

Metrics consumes every topic of the registry, historical (imported) events included:
projecting them is the point of an import.

Before touching the read model, a handler takes the swap lock in shared mode (held to
the end of the batch transaction), so a rebuild's swap, which takes it exclusively,
never interleaves with a half-applied batch.
"""

from __future__ import annotations

import asyncpg

from marops_events.consumer import Handler
from marops_events.envelope import Envelope
from marops_events.registry import EVENTS

from . import projection

SWAP_LOCK_KEY = 0x6D6574726963  # "metric"


async def hold_swap_lock_shared(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", SWAP_LOCK_KEY)


async def project(conn: asyncpg.Connection, event: Envelope) -> None:
    await hold_swap_lock_shared(conn)
    await projection.apply(conn, event, projection.LIVE_SCHEMA)


HANDLERS: dict[str, Handler] = {event_type: project for event_type in EVENTS}
