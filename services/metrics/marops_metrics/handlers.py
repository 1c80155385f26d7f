"""Consumed events -> the live read model, a whole batch at a time inside the consumer's
batch transaction: facts merged set-based, then the touched campaigns derived again.

Metrics consumes every topic of the registry but its own (``CONSUMED_TYPES``: a review
pack it publishes is a view of the read model, not a fact for it), historical (imported)
events included: projecting them is the point of an import.

Before touching the read model, a handler takes the swap lock in shared mode (held to
the end of the batch transaction), so a rebuild's swap, which takes it exclusively,
never interleaves with a half-applied batch.
"""

from __future__ import annotations

import asyncpg

from marops_events.consumer import BatchHandler, Handler
from marops_events.envelope import Envelope
from marops_events.registry import EVENTS
from marops_events.subscriptions import Subscriptions

from . import derive, projection

SWAP_LOCK_KEY = 0x6D6574726963  # "metric"


async def hold_swap_lock_shared(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", SWAP_LOCK_KEY)


async def project_batch(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    await hold_swap_lock_shared(conn)
    touched = await projection.apply_batch(conn, events, projection.LIVE_SCHEMA)
    await derive.refresh(conn, projection.LIVE_SCHEMA, touched)
    await projection.bump_revision(conn, projection.LIVE_SCHEMA)


project = BatchHandler(project_batch)  # project(conn, event) applies one event the same way
SUBSCRIPTIONS = Subscriptions("metrics")
CONSUMED_TYPES: tuple[str, ...] = tuple(t for t, spec in EVENTS.items() if spec.producer != "metrics")
SUBSCRIPTIONS.add((EVENTS[t].model for t in CONSUMED_TYPES), project)
HANDLERS: dict[str, Handler] = SUBSCRIPTIONS.handlers()
