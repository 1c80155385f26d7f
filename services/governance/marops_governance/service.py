"""Use cases: load the facts, let the domain decide, save, and publish through the outbox.

Each command runs in one transaction holding the campaign's advisory lock, so a decision
and a consumed event of the same campaign never interleave, and a refusal (raised by the
domain before anything is written) leaves no trace.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from marops_events import contracts as c
from marops_events import outbox, registry
from marops_events.envelope import Envelope
from marops_service.access import can_read_campaign, reads_everything
from marops_service.auth import Principal
from marops_service.clock import Clock
from marops_service.locks import lock_campaign
from marops_service.problems import NotFound
from marops_service.transactions import in_transaction, snapshot

from . import domain, gate_index, notifier, repository
from .catalogue import CatalogueDocument
from .domain import Campaign, DecisionOutcome, DecisionRequest, Readiness
from .policy import PolicyDocument
from .risks import Risk, accept_risk, blocking, blocks_launch, new_risk, update_risk

SOURCE = "marops/governance"


async def _campaign(conn: asyncpg.Connection, campaign_id: str, who: Principal, *, lock: bool = False) -> Campaign:
    """The campaign, if ``who`` may read it: one not readable is answered as unknown (404)."""
    if lock:
        await lock_campaign(conn, campaign_id)
    campaign = await repository.load_campaign(conn, campaign_id)
    if campaign is None or not can_read_campaign(who, campaign.parties):
        raise NotFound(f"no brief has been submitted for campaign {campaign_id}, or it is not visible to you")
    return campaign


def _event(campaign: Campaign, payload: Any, time: dt.datetime) -> Envelope:
    brief = campaign.brief
    return registry.new_event(payload, source=SOURCE, time=time, correlation_id=brief.correlation_id,
                              causation_id=str(brief.event_id))


# --- policy ----------------------------------------------------------------------------


async def create_policy(pool: asyncpg.Pool, actor: Principal, document: PolicyDocument, reason: str,
                        now: dt.datetime) -> asyncpg.Record:
    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        version = await repository.insert_policy(conn, document, actor.subject, reason, now)
        await repository.audit(conn, action="policy_changed", actor=actor.subject, at=now, reason=reason,
                               policy_version=version, details={"document": document.model_dump(mode="json")})
        row = await repository.policy_row(conn, version)
        assert row is not None
        return row

    return await in_transaction(pool, work)


async def publish_catalogue(pool: asyncpg.Pool, actor: Principal, document: CatalogueDocument, reason: str,
                            now: dt.datetime) -> asyncpg.Record:
    """A new metric catalogue version, announced as MetricCatalogueChanged in the same transaction."""
    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        definitions = [d.contract() for d in document.definitions]
        row = await repository.insert_catalogue(conn, [d.model_dump(mode="json") for d in definitions],
                                                actor.subject, reason, now)
        await repository.audit(conn, action="metric_catalogue_changed", actor=actor.subject, at=now, reason=reason,
                               details={"catalogue_version": row["version"], "keys": [d.key for d in definitions]})
        await outbox.add(conn, registry.new_event(
            c.MetricCatalogueChanged(version=row["version"], definitions=definitions, published_by=actor.subject),
            source=SOURCE, time=now))
        return row

    return await in_transaction(pool, work)


async def seed_policy(pool: asyncpg.Pool) -> None:
    async def work(conn: asyncpg.Connection) -> None:
        await repository.ensure_default_policy(conn)

    await in_transaction(pool, work)


# --- gate decisions ----------------------------------------------------------------------


async def decide(pool: asyncpg.Pool, campaign_id: str, request: DecisionRequest, actor: Principal,
                 clock: Clock) -> tuple[Campaign, DecisionOutcome]:
    async def work(conn: asyncpg.Connection) -> tuple[Campaign, DecisionOutcome]:
        campaign = await _campaign(conn, campaign_id, actor, lock=True)
        now = clock()  # after the lock: the campaign's times follow its commits
        pending = campaign.pending_change
        verdict = None
        if pending is not None and request.brief_version == pending.version:
            outcome, verdict = domain.decide_change(campaign, request, actor, now)
        else:
            outcome = domain.decide(campaign, request, actor, now)
        decision = outcome.decision
        action = ("gate_approved" if outcome.event is not None else "gate_approval_recorded") \
            if decision.approve else "gate_rejected"
        await repository.insert_decision(
            conn, decision, action=action, actor=actor.subject, at=now,
            details={"gate_id": decision.gate_id, "brief_version": decision.brief_version,
                     "decision": "approve" if decision.approve else "reject",
                     "kind": decision.kind.value if decision.kind else None,
                     "approvals": outcome.gate.approvers,
                     "approvals_required": outcome.gate.definition.approvals_required},
        )
        if outcome.event is not None:
            await outbox.add(conn, _event(campaign, outcome.event, now))
        if verdict is not None and await repository.insert_change_outcome(conn, campaign_id, verdict.outcome):
            await repository.audit(
                conn, campaign_id=campaign_id, action=f"change_{verdict.outcome.outcome.value}", actor=actor.subject,
                at=now, reason=verdict.outcome.reason, policy_version=decision.policy_version,
                details={"change_id": verdict.outcome.change_id, "brief_version": decision.brief_version})
            await outbox.add(conn, _event(campaign, verdict.event, now))
        decided = campaign.with_decision(decision, verdict.outcome if verdict else None)
        await notifier.dispatch(conn, decided, now)  # the owner hears the outcome, the next gate's approvers theirs
        return decided, outcome

    return await in_transaction(pool, work)


async def queue(pool: asyncpg.Pool, actor: Principal, now: dt.datetime, *, limit: int,
                cursor: str | None = None) -> gate_index.QueuePage:
    try:
        after = gate_index.QueueCursor.decode(cursor) if cursor else None
    except gate_index.InvalidCursor as exc:
        raise domain.Refusal(domain.RefusalCode.invalid_cursor, str(exc)) from None
    if after is not None and after.as_of > now:  # made up: "overdue" (and escalation) would be judged ahead of time
        raise domain.Refusal(domain.RefusalCode.invalid_cursor, "not a cursor of this queue: its as_of is ahead of now")
    return await gate_index.queue(pool, actor, now, limit=limit, after=after)


async def campaign(pool: asyncpg.Pool, campaign_id: str, who: Principal) -> Campaign:
    async with snapshot(pool) as conn:
        return await _campaign(conn, campaign_id, who)


# --- readiness and launch ----------------------------------------------------------------


async def _readiness(conn: asyncpg.Connection, campaign: Campaign) -> tuple[Readiness, list[Risk]]:
    risks = await repository.risks_of(conn, campaign.campaign_id)
    return domain.assess_readiness(campaign, blocking(risks, campaign.policy.blocking_risk_score)), risks


async def readiness(pool: asyncpg.Pool, campaign_id: str, who: Principal) -> tuple[Campaign, Readiness]:
    async with snapshot(pool) as conn:
        found = await _campaign(conn, campaign_id, who)
        return found, (await _readiness(conn, found))[0]


async def launch(pool: asyncpg.Pool, campaign_id: str, actor: Principal, brief_version: int | None,
                 clock: Clock) -> c.CampaignLaunched:
    async def work(conn: asyncpg.Connection) -> c.CampaignLaunched:
        found = await _campaign(conn, campaign_id, actor, lock=True)
        now = clock()  # after the lock: the campaign's times follow its commits
        ready, _ = await _readiness(conn, found)
        payload = domain.launch(found, ready, actor, brief_version)
        await repository.insert_launch(conn, campaign_id, domain.Launch(payload.brief_version, actor.subject, now,
                                                                        payload.readiness))
        await repository.audit(conn, campaign_id=campaign_id, action="campaign_launched", actor=actor.subject,
                               at=now, policy_version=found.policy_version,
                               details={"brief_version": payload.brief_version,
                                        "readiness": payload.readiness.model_dump(mode="json")})
        await outbox.add(conn, _event(found, payload, now))
        return payload

    return await in_transaction(pool, work)


# --- RACI --------------------------------------------------------------------------------


async def raci(pool: asyncpg.Pool, campaign_id: str, who: Principal) -> dict[str, Any]:
    """The latest RACI by business time: the brief's own, unless ops_admin edited it since."""
    async with snapshot(pool) as conn:
        found = await _campaign(conn, campaign_id, who)
        edit = await repository.latest_raci_edit(conn, campaign_id)
    brief = found.brief
    if edit is not None and edit["edited_at"] >= brief.submitted_at:
        return {"campaign_id": campaign_id, "raci": c.Raci.model_validate(edit["raci"]).model_dump(mode="json"),
                "source": "edited", "updated_by": edit["edited_by"], "updated_at": edit["edited_at"],
                "reason": edit["reason"]}
    return {"campaign_id": campaign_id, "raci": brief.raci.model_dump(mode="json"), "source": "brief",
            "brief_version": brief.version, "updated_by": brief.requester, "updated_at": brief.submitted_at}


async def edit_raci(pool: asyncpg.Pool, campaign_id: str, new: c.Raci, actor: Principal, reason: str | None,
                    clock: Clock) -> None:
    async def work(conn: asyncpg.Connection) -> None:
        found = await _campaign(conn, campaign_id, actor, lock=True)
        now = clock()  # after the lock: the campaign's times follow its commits
        await repository.insert_raci_edit(conn, campaign_id, new, actor.subject, now, reason)
        await repository.audit(conn, campaign_id=campaign_id, action="raci_changed", actor=actor.subject, at=now,
                               reason=reason, policy_version=found.policy_version,
                               details={"raci": new.model_dump(mode="json")})

    await in_transaction(pool, work)


# --- risks -------------------------------------------------------------------------------


async def risks(pool: asyncpg.Pool, campaign_id: str, who: Principal) -> tuple[Campaign, list[Risk]]:
    async with snapshot(pool) as conn:
        found = await _campaign(conn, campaign_id, who)
        return found, await repository.risks_of(conn, campaign_id)


def _risk_details(r: Risk) -> dict[str, Any]:
    return {"risk_id": str(r.id), "description": r.description, "owner": r.owner, "probability": r.probability,
            "impact": r.impact, "score": r.score, "mitigation": r.mitigation, "status": r.status.value}


async def add_risk(pool: asyncpg.Pool, campaign_id: str, actor: Principal, clock: Clock,
                   **fields: Any) -> tuple[Campaign, Risk]:
    async def work(conn: asyncpg.Connection) -> tuple[Campaign, Risk]:
        found = await _campaign(conn, campaign_id, actor, lock=True)
        now = clock()  # after the lock: the campaign's times follow its commits
        created = new_risk(found, actor, now, **fields)
        await repository.save_risk(conn, created)
        await _announce_risk(conn, found, created, actor, now)
        await repository.audit(conn, campaign_id=campaign_id, action="risk_created", actor=actor.subject, at=now,
                               policy_version=found.policy_version, details=_risk_details(created))
        return found, created

    return await in_transaction(pool, work)


async def _locked_risk(conn: asyncpg.Connection, campaign_id: str, risk_id: uuid.UUID,
                       who: Principal) -> tuple[Campaign, Risk]:
    found = await _campaign(conn, campaign_id, who, lock=True)
    existing = await repository.risk(conn, campaign_id, risk_id)
    if existing is None:
        raise NotFound(f"campaign {campaign_id} has no risk {risk_id}")
    return found, existing


async def change_risk(pool: asyncpg.Pool, campaign_id: str, risk_id: uuid.UUID, actor: Principal,
                      clock: Clock, changes: dict[str, Any], reason: str | None) -> tuple[Campaign, Risk]:
    async def work(conn: asyncpg.Connection) -> tuple[Campaign, Risk]:
        found, existing = await _locked_risk(conn, campaign_id, risk_id, actor)
        now = clock()  # after the lock: the campaign's times follow its commits
        updated, diff = update_risk(existing, found, actor, now, changes, reason)
        if diff:
            await repository.save_risk(conn, updated)
            await _announce_risk(conn, found, updated, actor, now)
            await repository.audit(conn, campaign_id=campaign_id, action="risk_updated", actor=actor.subject,
                                   at=now, reason=reason, policy_version=found.policy_version,
                                   details={"risk_id": str(risk_id), "changes": diff, "score": updated.score})
        return found, updated if diff else existing

    return await in_transaction(pool, work)


async def accept(pool: asyncpg.Pool, campaign_id: str, risk_id: uuid.UUID, actor: Principal, clock: Clock,
                 reason: str) -> tuple[Campaign, Risk]:
    async def work(conn: asyncpg.Connection) -> tuple[Campaign, Risk]:
        found, existing = await _locked_risk(conn, campaign_id, risk_id, actor)
        now = clock()  # after the lock: the campaign's times follow its commits
        accepted = accept_risk(existing, found, actor, now, reason)
        await repository.save_risk(conn, accepted)
        await _announce_risk(conn, found, accepted, actor, now)
        was_blocking = existing.score >= found.policy.blocking_risk_score
        await repository.audit(conn, campaign_id=campaign_id, action="risk_accepted", actor=actor.subject, at=now,
                               reason=reason, policy_version=found.policy_version,
                               details={**_risk_details(accepted), "previous_status": existing.status.value,
                                        "blocking": was_blocking,
                                        "blocking_risk_score": found.policy.blocking_risk_score})
        return found, accepted

    return await in_transaction(pool, work)


async def _announce_risk(conn: asyncpg.Connection, campaign: Campaign, r: Risk, actor: Principal,
                         now: dt.datetime) -> None:
    """RiskChanged with the risk as it is now, so readers (metrics' review pack) need no register."""
    score = campaign.policy.blocking_risk_score
    await outbox.add(conn, registry.new_event(c.RiskChanged(
        campaign_id=r.campaign_id, risk_id=str(r.id), revision=await repository.next_risk_revision(conn, r.id),
        description=r.description, owner=r.owner, probability=r.probability, impact=r.impact, score=r.score,
        status=c.RiskStatus(r.status.value), blocks_launch=blocks_launch(r, score), blocking_score=score,
        changed_by=actor.subject), source=SOURCE, time=now))


async def audit_trail(pool: asyncpg.Pool, campaign_id: str,
                      who: Principal) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The campaign's own entries, and the changes that created the policy versions governing it."""
    async with snapshot(pool) as conn:
        # Entries written before any brief arrived (a budget fact overtaking it) have no
        # parties to check against yet: only the read-everything roles see those.
        found = await repository.load_campaign(conn, campaign_id)
        readable = can_read_campaign(who, found.parties) if found is not None else reads_everything(who)
        rows = await repository.audit_of(conn, campaign_id) if readable else []
        if not rows:
            raise NotFound(f"governance knows nothing of campaign {campaign_id}, or it is not visible to you")
        versions = {r["policy_version"] for r in rows if r["action"] == "gates_opened"}
        return rows, await repository.policy_audit(conn, sorted(versions))
