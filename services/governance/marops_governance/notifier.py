"""Notification use cases: queue what a change has to tell (in its transaction), the deadline
timer, the delivery loop, and the directory and delivery log ops_admin manages.

Queueing happens inside the transaction that changed the campaign, so a notification is
never lost and never told of a change that rolled back; sending happens afterwards, from the
delivery log, by the workers (``delivery_loop``), at least once per delivery.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from contextlib import suppress
from typing import Any, cast

import asyncpg
import httpx

from marops_events import contracts as c
from marops_events import outbox, registry
from marops_events.envelope import utcnow
from marops_service.app import Runtime
from marops_service.auth import Principal
from marops_service.clock import Clock
from marops_service.locks import lock_campaign
from marops_service.notify import DeliveryFailed, backoff_seconds, email_message, post_webhook, send_email
from marops_service.problems import NotFound
from marops_service.transactions import in_transaction

from . import gate_index, notifications, repository
from . import notifications_repository as repo
from .domain import Campaign, GateState
from .notifications import DeliveryChannel, Notice
from .settings import Settings

log = logging.getLogger(__name__)
SOURCE = "marops/governance"
DELIVERY_BATCH = 10


async def dispatch(conn: asyncpg.Connection, campaign: Campaign, now: dt.datetime, *,
                   warning: dt.timedelta | None = None, extra: list[Notice] | None = None,
                   directory: list[notifications.Recipient] | None = None) -> int:
    """Queue the deliveries of what ``campaign`` now has to tell (none twice); inside the caller's
    transaction, under the campaign lock it holds. ``directory``: the one the caller read."""
    if directory is None:
        directory = await repo.directory(conn)
    if not directory:
        return 0
    notices = [*notifications.campaign_notices(campaign, directory, now, warning=warning), *(extra or [])]
    return await repo.queue(conn, notifications.deliveries(notices, directory), now)


async def tell_review_pack(conn: asyncpg.Connection, pack: c.ReviewPackPublished, now: dt.datetime) -> int:
    """Queue the review pack's deliveries to the read-everything roles (once per pack)."""
    directory = await repo.directory(conn)
    notice = notifications.review_pack_notice(pack, directory)
    if notice is None:
        return 0
    return await repo.queue(conn, notifications.deliveries([notice], directory), now)


async def dispatch_for(conn: asyncpg.Connection, campaign_id: str, now: dt.datetime) -> int:
    """``dispatch`` for a campaign the caller has not read: its facts (the heaviest read of a
    consumed brief) are read only when the directory has anyone to tell."""
    directory = await repo.directory(conn)
    if not directory:
        return 0
    campaign = await repository.load_campaign(conn, campaign_id)
    return 0 if campaign is None else await dispatch(conn, campaign, now, directory=directory)


# --- the deadline timer -------------------------------------------------------------------


def _deadline_events(view: Campaign, gate: GateState) -> list[Any]:
    assert gate.actionable_at is not None and gate.due_at is not None
    brief = view.brief
    common = dict(campaign_id=brief.campaign_id, brief_version=brief.version, policy_version=view.policy_version,
                  gate_id=gate.id, gate_name=gate.definition.name, gate_kind=gate.definition.kind,
                  gate_position=gate.position, actionable_at=gate.actionable_at, sla_hours=gate.definition.sla_hours,
                  due_at=gate.due_at, change_id=brief.change.change_id if brief.change else None)
    return [c.SlaBreached(**common), c.GateEscalated(**common, escalation_role=gate.definition.escalation_role.value)]


async def sweep_deadlines(pool: asyncpg.Pool, clock: Clock, warning: dt.timedelta) -> int:
    """One pass of the timer: remind approvers of SLAs about to run out, and announce each SLA
    that ran out (SlaBreached, GateEscalated, ops told) once per gate and brief version.

    Safe with several workers and after a restart: each campaign is handled under its lock,
    and the breach row's primary key lets exactly one transaction publish. Returns how many
    breaches this pass announced.
    """
    now = clock()
    due = await gate_index.due_for_sweep(pool, now, warning)
    breaches = 0
    for campaign_id in due:
        async def work(conn: asyncpg.Connection, cid: str = campaign_id) -> int:
            return await _sweep_one(conn, cid, clock, warning)
        breaches += await in_transaction(pool, work)
    return breaches


async def _sweep_one(conn: asyncpg.Connection, campaign_id: str, clock: Clock, warning: dt.timedelta) -> int:
    await lock_campaign(conn, campaign_id)
    now = clock()  # after the lock
    campaign = await repository.load_campaign(conn, campaign_id)
    if campaign is None:
        return 0
    escalations: list[Notice] = []
    announced = 0
    directory = await repo.directory(conn)
    for view, gate in notifications.overdue_gates(campaign, now):
        assert gate.due_at is not None
        brief = view.brief
        if not await repo.mark_breach(conn, campaign_id, brief.version, gate.id, gate.due_at, now):
            continue
        announced += 1
        for payload in _deadline_events(view, gate):
            # business time: when the SLA ran out, whenever the timer noticed
            await outbox.add(conn, registry.new_event(payload, source=SOURCE, time=gate.due_at,
                                                      correlation_id=brief.correlation_id,
                                                      causation_id=str(brief.event_id)))
        await repository.audit(conn, campaign_id=campaign_id, action="gate_escalated", actor="governance", at=now,
                               policy_version=view.policy_version,
                               details={"gate_id": gate.id, "brief_version": brief.version,
                                        "change_id": brief.change.change_id if brief.change else None,
                                        "due_at": gate.due_at.isoformat(),
                                        "escalation_role": gate.definition.escalation_role.value})
        notice = notifications.escalation_notice(view, gate, directory)
        if notice is not None:
            escalations.append(notice)
    await dispatch(conn, campaign, now, warning=warning, extra=escalations, directory=directory)
    return announced


async def deadline_timer(runtime: Runtime) -> None:
    """The worker's timer: ``sweep_deadlines`` every ``deadline_check_interval`` seconds."""
    settings = cast(Settings, runtime.settings)
    warning = dt.timedelta(hours=settings.sla_warning_hours)
    await _every(runtime, settings.deadline_check_interval, "deadline sweep",
                 lambda: sweep_deadlines(runtime.pool, utcnow, warning))


# --- delivery --------------------------------------------------------------------------------


async def deliver_due(pool: asyncpg.Pool, settings: Settings, client: httpx.AsyncClient, clock: Clock) -> int:
    """Send the deliveries due now (a batch), recording every attempt; how many were tried.

    Each is locked (``SKIP LOCKED``) for the transaction that sends it and records the
    outcome: a crash in between resends it later, so a recipient may see a copy twice but
    never none; the delivery id travels along (webhook header, e-mail Message-ID) for them
    to drop it.
    """
    async def work(conn: asyncpg.Connection) -> int:
        now = clock()
        rows = await repo.claim_due(conn, now, DELIVERY_BATCH)
        for row in rows:
            attempt = row["attempts"] + 1
            try:
                await _send(conn, row, settings, client, clock())
                error, permanent = None, False
            except DeliveryFailed as exc:
                error, permanent = str(exc), exc.permanent
            at = clock()
            if error is None:
                status, next_at = "sent", None
            elif permanent or attempt >= settings.notify_max_attempts:
                status, next_at = "failed", None
            else:
                status = "pending"
                next_at = at + dt.timedelta(seconds=backoff_seconds(
                    attempt, base=settings.notify_backoff_base_seconds, cap=settings.notify_backoff_cap_seconds))
            await repo.record_attempt(conn, row["id"], attempt, at, error=error, status=status,
                                      next_attempt_at=next_at)
        return len(rows)

    return await in_transaction(pool, work)


async def _send(conn: asyncpg.Connection, row: asyncpg.Record, settings: Settings, client: httpx.AsyncClient,
                now: dt.datetime) -> None:
    delivery_id = str(row["id"])
    if row["channel"] == DeliveryChannel.email:
        smtp = settings.smtp()
        if smtp is None:
            raise DeliveryFailed("no SMTP relay configured (GOVERNANCE_SMTP_HOST or MAROPS_SMTP_HOST)",
                                 permanent=True)
        await send_email(smtp, email_message(smtp, row["target"], row["subject"], row["body"],
                                             message_key=delivery_id))
        return
    secret = await repo.webhook_secret(conn, row["recipient"])
    if secret is None:
        raise DeliveryFailed(f"{row['recipient']} has no webhook (any more)", permanent=True)
    body = json.dumps(row["payload"], sort_keys=True, separators=(",", ":")).encode()
    await post_webhook(client, row["target"], secret, delivery_id, body, now)


async def delivery_loop(runtime: Runtime) -> None:
    """The worker's sender: due deliveries every ``notify_poll_interval`` seconds (at once again
    while a batch came back full)."""
    settings = cast(Settings, runtime.settings)
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        while not runtime.stop.is_set():
            tried = 0
            try:
                tried = await deliver_due(runtime.pool, settings, client, utcnow)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database being away is no reason to stop: next round
                log.warning("notification delivery round failed", exc_info=True)
            if tried < DELIVERY_BATCH:
                with suppress(TimeoutError):
                    await asyncio.wait_for(runtime.stop.wait(), timeout=settings.notify_poll_interval)


async def _every(runtime: Runtime, interval: float, what: str, step: Any) -> None:
    while not runtime.stop.is_set():
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s failed; next round in %.0fs", what, interval, exc_info=True)
        with suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=interval)


# --- the directory and the delivery log (ops_admin) ------------------------------------------------


async def put_user(pool: asyncpg.Pool, subject: str, fields: dict[str, Any], actor: Principal,
                   clock: Clock) -> asyncpg.Record:
    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        webhook = fields.get("webhook")
        return await repo.put_directory_user(
            conn, subject, name=fields.get("name"), email=fields.get("email"), roles=fields["roles"],
            webhook_url=webhook["url"] if webhook else None, webhook_secret=webhook["secret"] if webhook else None,
            kinds=fields["kinds"], by=actor.subject, at=clock())

    return await in_transaction(pool, work)


async def user(pool: asyncpg.Pool, subject: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await repo.directory_row(conn, subject)
    if row is None:
        raise NotFound(f"{subject} is not in the directory")
    return row


async def delete_user(pool: asyncpg.Pool, subject: str) -> None:
    async with pool.acquire() as conn:
        await repo.delete_directory_user(conn, subject)


async def replay(pool: asyncpg.Pool, delivery_id: uuid.UUID, actor: Principal, clock: Clock) -> asyncpg.Record:
    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        original = await repo.delivery(conn, delivery_id)
        if original is None:
            raise NotFound(f"no notification delivery {delivery_id}")
        row = await repo.delivery(conn, await repo.replay(conn, original, actor.subject, clock()))
        assert row is not None
        return row

    return await in_transaction(pool, work)
