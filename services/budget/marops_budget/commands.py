"""Budget's HTTP use cases: each runs the service's steps in one transaction
(``in_transaction``: run again if PostgreSQL broke a deadlock with a consumer's batch).

The steps themselves (``service``) take a connection, because the consumer runs the same
rules inside its batch transaction; a refusal is a ``Refusal`` that api.REFUSALS answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import asyncpg

from marops_events import contracts as c
from marops_service.auth import Principal
from marops_service.clock import Clock
from marops_service.transactions import in_transaction

from . import service
from .domain import Spend, check_recorder, check_resent
from .service import Cause, NewLine, NewPlan, Rules, SpendResult


async def create_line(pool: asyncpg.Pool, line: NewLine, actor: str, rules: Rules, clock: Clock) -> asyncpg.Record:
    return await in_transaction(pool, lambda conn: service.create_line(conn, line, actor, rules, clock))


async def adjust_line(pool: asyncpg.Pool, line_id: str, amount: Decimal, currency: str, reason: str,
                      actor: str, rules: Rules, clock: Clock) -> asyncpg.Record:
    return await in_transaction(pool, lambda conn: service.adjust_line(conn, line_id, amount, currency, reason, actor,
                                                                       rules, clock))


async def reallocate(pool: asyncpg.Pool, from_line_id: str, to_line_id: str, amount: Decimal, currency: str,
                     reason: str, actor: str, clock: Clock, rules: Rules) -> asyncpg.Record:
    return await in_transaction(pool, lambda conn: service.reallocate(
        conn, from_line_id, to_line_id, amount, currency, reason, actor, clock, rules))


async def create_plan(pool: asyncpg.Pool, plan: NewPlan, actor: str) -> asyncpg.Record:
    return await in_transaction(pool, lambda conn: service.create_plan(conn, plan, actor))


async def adjust_plan(pool: asyncpg.Pool, plan_id: str, amount: Decimal, currency: str, reason: str,
                      actor: str) -> asyncpg.Record:
    return await in_transaction(pool, lambda conn: service.adjust_plan(conn, plan_id, amount, currency, reason, actor))


async def set_phasing(pool: asyncpg.Pool, line_id: str, months: dict[dt.date, tuple[Decimal, str]]) -> None:
    await in_transaction(pool, lambda conn: service.set_phasing(conn, line_id, months))


async def record_spend(pool: asyncpg.Pool, spend: Spend, who: Principal, rules: Rules, clock: Clock) -> SpendResult:
    """Record a spend sent to the API; a re-send of a recorded one is answered with it
    (``recorded`` False), a re-send with other content is refused."""
    check_recorder(who, spend.source_system)
    result = await in_transaction(pool, lambda conn: service.record_api_spend(
        conn, spend, origin="api", event_id=uuid.uuid4(), recorded_by=who.subject,
        cause=Cause(correlation_id=spend.campaign_id, clock=clock), rules=rules, publish=True))
    if not result.recorded:
        check_resent(spend, result.same_fact)
    return result


async def resolve_spend(pool: asyncpg.Pool, spend_id: int, resolution: c.ReconciliationResolution,
                        line_id: str | None, reason: str, actor: str, rules: Rules, clock: Clock) -> asyncpg.Record:
    return await in_transaction(pool, lambda conn: service.resolve_spend(
        conn, spend_id, resolution, line_id, reason, actor, rules, clock))
