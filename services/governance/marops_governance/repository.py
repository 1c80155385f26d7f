"""The SQL of the governance service: facts in, domain objects out."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from marops_events import contracts as c

from .catalogue import CATALOGUE_LOCK
from .domain import (
    BriefVersion,
    BudgetFact,
    BudgetFactKind,
    BudgetRelease,
    Campaign,
    Cancellation,
    ChangeInfo,
    ChangeOutcome,
    Decision,
    Launch,
    build_campaign,
)
from .policy import DEFAULT_POLICY, PolicyDocument
from .risks import Risk, RiskStatus

SEED_EFFECTIVE_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _money(amount: Decimal, currency: str) -> c.Money:
    # asyncpg may decode numeric 20000 as Decimal('2E+4'); Money writes it plain.
    return c.Money(amount=amount, currency=currency)


POLICY_LOCK = 0x676F76706F6C  # "govpol": serialises policy edits so versions are gapless


# --- policy ----------------------------------------------------------------------------


async def ensure_default_policy(conn: asyncpg.Connection) -> bool:
    """Seed version 1 with the default policy (and its audit entry); True when this call seeded it."""
    inserted = await conn.fetchval(
        """
        INSERT INTO policy_versions (version, document, effective_from, created_by, reason)
        VALUES (1, $1::jsonb, $2, 'system', 'default policy')
        ON CONFLICT (version) DO NOTHING
        RETURNING true
        """,
        DEFAULT_POLICY.model_dump(mode="json"), SEED_EFFECTIVE_FROM,
    )
    if inserted:
        await audit(conn, action="policy_seeded", actor="system", at=dt.datetime.now(dt.UTC),
                    reason="default policy", policy_version=1,
                    details={"document": DEFAULT_POLICY.model_dump(mode="json")})
    return bool(inserted)


async def policy_in_force(conn: asyncpg.Connection, at: dt.datetime) -> tuple[int, PolicyDocument]:
    """The policy version in force at ``at``, with its document."""
    row = await conn.fetchrow(
        "SELECT version, document FROM policy_versions WHERE effective_from <= $1 ORDER BY version DESC LIMIT 1", at)
    if row is None:
        await ensure_default_policy(conn)
        return 1, DEFAULT_POLICY
    return row["version"], PolicyDocument.model_validate(row["document"])


async def policy_row(conn: asyncpg.Connection, version: int | None = None) -> asyncpg.Record | None:
    if version is None:
        return await conn.fetchrow("SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1")
    return await conn.fetchrow("SELECT * FROM policy_versions WHERE version = $1", version)


async def policy_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM policy_versions ORDER BY version")


async def insert_policy(conn: asyncpg.Connection, document: PolicyDocument, created_by: str, reason: str,
                        effective_from: dt.datetime) -> int:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", POLICY_LOCK)
    await ensure_default_policy(conn)
    return await conn.fetchval(
        """
        INSERT INTO policy_versions (version, document, effective_from, created_by, reason)
        SELECT max(version) + 1, $1::jsonb, $2, $3, $4 FROM policy_versions
        RETURNING version
        """,
        document.model_dump(mode="json"), effective_from, created_by, reason,
    )


# --- consumed facts --------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """An audit entry (``audit``'s row) to write with a fact, only if the fact is new."""

    action: str
    actor: str
    at: dt.datetime
    reason: str | None = None
    policy_version: int | None = None
    details: dict[str, Any] | None = None


async def _store(conn: asyncpg.Connection, insert: str, *args: Any, campaign_id: str, audit: Audit | None) -> bool:
    """Run ``insert`` (it ends ``RETURNING true`` when it stored something); with ``audit``,
    the audit entry of a stored fact is written by the same statement (one round trip)."""
    if audit is None:
        return bool(await conn.fetchval(insert, *args))
    n = len(args)
    return bool(await conn.fetchval(
        f"""
        WITH stored AS ({insert}),
        audited AS (
            INSERT INTO audit_log (campaign_id, action, actor, at, reason, policy_version, details)
            SELECT ${n + 1}::text, ${n + 2}::text, ${n + 3}::text, ${n + 4}::timestamptz, ${n + 5}::text,
                   ${n + 6}::integer, ${n + 7}::jsonb
            WHERE EXISTS (SELECT 1 FROM stored)
        )
        SELECT EXISTS (SELECT 1 FROM stored)
        """,
        *args, campaign_id, audit.action, audit.actor, audit.at, audit.reason, audit.policy_version,
        _audit_details(audit.details),
    ))


async def insert_brief_version(conn: asyncpg.Connection, brief: BriefVersion, audit: Audit | None = None) -> bool:
    """Record a submitted version; False when it was already known (a duplicate)."""
    return await _store(
        conn,
        """
        INSERT INTO brief_versions (campaign_id, version, submitted_at, requester, owner, team, title, channels,
            amount, currency, budget_line_id, kpis, tracking_plan, raci, target_launch_date, policy_version,
            event_id, correlation_id, authors, change_id, base_version, changes, change_reason, change_gates)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14::jsonb, $15, $16, $17, $18,
                $19, $20, $21, $22, $23, $24)
        ON CONFLICT (campaign_id, version) DO NOTHING
        RETURNING true
        """,
        brief.campaign_id, brief.version, brief.submitted_at, brief.requester, brief.owner, brief.team,
        brief.title, [ch.value for ch in brief.channels], brief.amount.amount, brief.amount.currency,
        brief.budget_line_id, [k.model_dump(mode="json") for k in brief.kpis],
        brief.tracking_plan.model_dump(mode="json") if brief.tracking_plan else None,
        brief.raci.model_dump(mode="json"), brief.target_launch_date, brief.policy_version, brief.event_id,
        brief.correlation_id, list(brief.authors),
        *((brief.change.change_id, brief.change.base_version, list(brief.change.changes), brief.change.reason,
           list(brief.change.gates)) if brief.change else (None,) * 5),
        campaign_id=brief.campaign_id, audit=audit,
    )


async def insert_change_outcome(conn: asyncpg.Connection, campaign_id: str, outcome: ChangeOutcome) -> bool:
    """Record how a change ended; False when it had ended already (it is decided once)."""
    return bool(await conn.fetchval(
        """
        INSERT INTO change_outcomes (change_id, campaign_id, brief_version, outcome, decided_by, decided_at, reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (change_id) DO NOTHING
        RETURNING true
        """,
        outcome.change_id, campaign_id, outcome.brief_version, outcome.outcome.value, outcome.decided_by,
        outcome.decided_at, outcome.reason))


async def record_pause(conn: asyncpg.Connection, campaign_id: str, pause: int, *, paused_at: dt.datetime | None = None,
                       resumed_at: dt.datetime | None = None) -> None:
    """A pause's start or end, whichever arrives first; the earliest copy of each wins."""
    await conn.execute(
        """
        INSERT INTO pauses AS p (campaign_id, pause, paused_at, resumed_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (campaign_id, pause) DO UPDATE SET
            paused_at = CASE WHEN p.paused_at IS NULL OR EXCLUDED.paused_at < p.paused_at
                             THEN coalesce(EXCLUDED.paused_at, p.paused_at) ELSE p.paused_at END,
            resumed_at = CASE WHEN p.resumed_at IS NULL OR EXCLUDED.resumed_at < p.resumed_at
                              THEN coalesce(EXCLUDED.resumed_at, p.resumed_at) ELSE p.resumed_at END
        """,
        campaign_id, pause, paused_at, resumed_at)


async def insert_cancellation(conn: asyncpg.Connection, campaign_id: str, cancellation: Cancellation,
                              event_id: uuid.UUID, audit: Audit | None = None) -> bool:
    return await _store(
        conn,
        """
        INSERT INTO cancellations (campaign_id, cancelled_at, cancelled_by, reason, event_id)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (campaign_id) DO NOTHING
        RETURNING true
        """,
        campaign_id, cancellation.cancelled_at, cancellation.cancelled_by, cancellation.reason, event_id,
        campaign_id=campaign_id, audit=audit,
    )


async def upsert_budget_fact(conn: asyncpg.Connection, campaign_id: str, fact: BudgetFact,
                             event_id: uuid.UUID, audit: Audit | None = None) -> bool:
    """Keep the latest answer of each kind per version (by business time, not arrival).

    True when the fact is new or newer than the one kept.
    """
    return await _store(
        conn,
        """
        INSERT INTO budget_facts (campaign_id, brief_version, kind, budget_line_id, amount, currency,
            reason_code, reason, occurred_at, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (campaign_id, brief_version, kind) DO UPDATE SET
            budget_line_id = EXCLUDED.budget_line_id, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
            reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, occurred_at = EXCLUDED.occurred_at,
            event_id = EXCLUDED.event_id
        WHERE EXCLUDED.occurred_at > budget_facts.occurred_at
        RETURNING true
        """,
        campaign_id, fact.brief_version, fact.kind.value, fact.budget_line_id, fact.amount.amount,
        fact.amount.currency, fact.reason_code, fact.reason, fact.occurred_at, event_id,
        campaign_id=campaign_id, audit=audit,
    )


async def upsert_budget_facts(conn: asyncpg.Connection,
                              facts: Sequence[tuple[str, BudgetFact, uuid.UUID, Audit]]) -> int:
    """``upsert_budget_fact`` of many facts (campaign id, fact, event id, its audit entry; one per
    campaign, version and kind) in one round trip: each audit entry is written with the fact it
    stored. Returns how many were stored."""
    if not facts:
        return 0
    columns = list(zip(*[
        (cid, f.brief_version, f.kind.value, f.budget_line_id, f.amount.amount, f.amount.currency, f.reason_code,
         f.reason, f.occurred_at, event_id, a.action, a.actor, a.at, a.reason, a.policy_version,
         json.dumps(_audit_details(a.details)))
        for cid, f, event_id, a in facts], strict=True))
    return int(await conn.fetchval(
        """
        WITH given AS (
            SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::numeric[], $6::text[],
                                 $7::text[], $8::text[], $9::timestamptz[], $10::uuid[], $11::text[], $12::text[],
                                 $13::timestamptz[], $14::text[], $15::integer[], $16::text[])
                AS g(campaign_id, brief_version, kind, budget_line_id, amount, currency, reason_code, reason,
                     occurred_at, event_id, action, actor, at, audit_reason, policy_version, details)
        ), stored AS (
            INSERT INTO budget_facts (campaign_id, brief_version, kind, budget_line_id, amount, currency,
                reason_code, reason, occurred_at, event_id)
            SELECT campaign_id, brief_version, kind, budget_line_id, amount, currency, reason_code, reason,
                   occurred_at, event_id FROM given
            ON CONFLICT (campaign_id, brief_version, kind) DO UPDATE SET
                budget_line_id = EXCLUDED.budget_line_id, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
                reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, occurred_at = EXCLUDED.occurred_at,
                event_id = EXCLUDED.event_id
            WHERE EXCLUDED.occurred_at > budget_facts.occurred_at
            RETURNING campaign_id, brief_version, kind
        ), audited AS (
            INSERT INTO audit_log (campaign_id, action, actor, at, reason, policy_version, details)
            SELECT g.campaign_id, g.action, g.actor, g.at, g.audit_reason, g.policy_version, g.details::jsonb
            FROM given g JOIN stored s USING (campaign_id, brief_version, kind)
            ORDER BY g.at, g.campaign_id
        )
        SELECT count(*) FROM stored
        """,
        *(list(column) for column in columns),
    ))


async def insert_release(conn: asyncpg.Connection, campaign_id: str, release: BudgetRelease,
                         budget_line_id: str, event_id: uuid.UUID, audit: Audit | None = None) -> bool:
    return await _store(
        conn,
        """
        INSERT INTO budget_releases (campaign_id, released_at, reason, budget_line_id, amount, currency, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (campaign_id, released_at, reason) DO NOTHING
        RETURNING true
        """,
        campaign_id, release.released_at, release.reason, budget_line_id, release.amount.amount,
        release.amount.currency, event_id, campaign_id=campaign_id, audit=audit,
    )


# --- campaigns -------------------------------------------------------------------------


def _brief(row: asyncpg.Record) -> BriefVersion:
    return BriefVersion(
        campaign_id=row["campaign_id"], version=row["version"], submitted_at=row["submitted_at"],
        requester=row["requester"], owner=row["owner"], team=row["team"], title=row["title"],
        channels=tuple(c.Channel(ch) for ch in row["channels"]),
        amount=_money(row["amount"], row["currency"]), budget_line_id=row["budget_line_id"],
        kpis=tuple(c.Kpi.model_validate(k) for k in row["kpis"]),
        tracking_plan=c.TrackingPlan.model_validate(row["tracking_plan"]) if row["tracking_plan"] else None,
        raci=c.Raci.model_validate(row["raci"]), target_launch_date=row["target_launch_date"],
        policy_version=row["policy_version"], event_id=row["event_id"], correlation_id=row["correlation_id"],
        authors=tuple(row["authors"]),
        change=ChangeInfo(row["change_id"], row["base_version"], tuple(row["changes"]), row["change_reason"],
                          tuple(row["change_gates"])) if row["change_id"] is not None else None,
    )


def _decision(row: asyncpg.Record) -> Decision:
    return Decision(
        id=row["id"], campaign_id=row["campaign_id"], brief_version=row["brief_version"], gate_id=row["gate_id"],
        policy_version=row["policy_version"], approve=row["approve"], decided_by=row["decided_by"],
        decided_at=row["decided_at"], kind=c.RejectionKind(row["rejection_kind"]) if row["rejection_kind"] else None,
        reason=row["reason"],
    )


async def load_campaigns(conn: asyncpg.Connection, campaign_ids: Sequence[str]) -> dict[str, Campaign]:
    """Every fact of these campaigns, derived into their current state. Unsubmitted ones are absent.

    One round trip: each table's rows come as an array of its row type (asyncpg decodes each
    element as a record with the table's columns), the policies those versions name with them."""
    ids = list(dict.fromkeys(campaign_ids))
    if not ids:
        return {}
    facts = await conn.fetchrow(
        """
        SELECT ARRAY(SELECT b FROM brief_versions b WHERE b.campaign_id = ANY($1::text[])) AS versions,
               ARRAY(SELECT d FROM gate_decisions d WHERE d.campaign_id = ANY($1::text[])) AS decisions,
               ARRAY(SELECT f FROM budget_facts f WHERE f.campaign_id = ANY($1::text[])) AS budget,
               ARRAY(SELECT r FROM budget_releases r WHERE r.campaign_id = ANY($1::text[])) AS releases,
               ARRAY(SELECT x FROM cancellations x WHERE x.campaign_id = ANY($1::text[])) AS cancellations,
               ARRAY(SELECT l FROM launches l WHERE l.campaign_id = ANY($1::text[])) AS launches,
               ARRAY(SELECT o FROM change_outcomes o WHERE o.campaign_id = ANY($1::text[])) AS outcomes,
               ARRAY(SELECT campaign_id FROM pauses WHERE campaign_id = ANY($1::text[]) AND paused_at IS NOT NULL
                     AND resumed_at IS NULL) AS paused,
               ARRAY(SELECT p FROM policy_versions p WHERE p.version IN (
                   SELECT policy_version FROM brief_versions WHERE campaign_id = ANY($1::text[]))) AS policies
        """,
        ids,
    )
    by: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in facts["versions"]:
        by[row["campaign_id"]]["versions"].append(_brief(row))
    if not by:
        return {}
    for row in facts["decisions"]:
        by[row["campaign_id"]]["decisions"].append(_decision(row))
    for row in facts["budget"]:
        by[row["campaign_id"]]["budget"].append(BudgetFact(
            brief_version=row["brief_version"], kind=BudgetFactKind(row["kind"]), budget_line_id=row["budget_line_id"],
            amount=_money(row["amount"], row["currency"]), occurred_at=row["occurred_at"],
            reason_code=row["reason_code"], reason=row["reason"]))
    for row in facts["releases"]:
        by[row["campaign_id"]]["releases"].append(BudgetRelease(
            amount=_money(row["amount"], row["currency"]), reason=row["reason"],
            released_at=row["released_at"]))
    for row in facts["cancellations"]:
        by[row["campaign_id"]]["cancellation"].append(Cancellation(row["cancelled_at"], row["cancelled_by"],
                                                                   row["reason"]))
    for row in facts["launches"]:
        by[row["campaign_id"]]["launch"].append(Launch(row["brief_version"], row["launched_by"], row["launched_at"],
                                                       c.ReadinessSnapshot.model_validate(row["readiness"])))
    for row in facts["outcomes"]:
        by[row["campaign_id"]]["outcomes"].append(ChangeOutcome(
            row["change_id"], row["brief_version"], c.ChangeOutcome(row["outcome"]), row["decided_by"],
            row["decided_at"], row["reason"]))
    paused = set(facts["paused"])
    policies = {r["version"]: PolicyDocument.model_validate(r["document"]) for r in facts["policies"]}
    campaigns: dict[str, Campaign] = {}
    for campaign_id, found in by.items():
        if not found["versions"]:
            continue
        campaign = build_campaign(
            found["versions"], policies, decisions=found["decisions"], budget_facts=found["budget"],
            releases=found["releases"], cancellation=next(iter(found["cancellation"]), None),
            launch=next(iter(found["launch"]), None), outcomes=found["outcomes"], paused=campaign_id in paused,
        )
        if campaign is not None:
            campaigns[campaign_id] = campaign
    return campaigns


async def load_campaign(conn: asyncpg.Connection, campaign_id: str) -> Campaign | None:
    return (await load_campaigns(conn, [campaign_id])).get(campaign_id)


async def insert_decision(conn: asyncpg.Connection, decision: Decision, *, action: str, actor: str,
                          at: dt.datetime, details: dict[str, Any]) -> None:
    """The decision and its audit entry (``audit``'s row) in one round trip."""
    await conn.execute(
        """
        WITH decided AS (
            INSERT INTO gate_decisions (id, campaign_id, brief_version, gate_id, policy_version, approve,
                rejection_kind, reason, decided_by, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        )
        INSERT INTO audit_log (campaign_id, action, actor, at, reason, policy_version, details)
        VALUES ($2, $11, $12, $13, $8, $5, $14::jsonb)
        """,
        decision.id, decision.campaign_id, decision.brief_version, decision.gate_id, decision.policy_version,
        decision.approve, decision.kind.value if decision.kind else None, decision.reason, decision.decided_by,
        decision.decided_at, action, actor, at, _audit_details(details),
    )


async def insert_launch(conn: asyncpg.Connection, campaign_id: str, launch: Launch) -> None:
    await conn.execute(
        """
        INSERT INTO launches (campaign_id, brief_version, launched_by, launched_at, readiness)
        VALUES ($1, $2, $3, $4, $5::jsonb)
        """,
        campaign_id, launch.brief_version, launch.launched_by, launch.launched_at,
        launch.readiness.model_dump(mode="json"),
    )


# --- RACI ------------------------------------------------------------------------------


async def latest_raci_edit(conn: asyncpg.Connection, campaign_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM raci_edits WHERE campaign_id = $1 ORDER BY edited_at DESC, id DESC LIMIT 1", campaign_id)


async def insert_raci_edit(conn: asyncpg.Connection, campaign_id: str, raci: c.Raci, edited_by: str,
                           edited_at: dt.datetime, reason: str | None) -> None:
    await conn.execute(
        "INSERT INTO raci_edits (campaign_id, raci, edited_by, edited_at, reason) VALUES ($1, $2::jsonb, $3, $4, $5)",
        campaign_id, raci.model_dump(mode="json"), edited_by, edited_at, reason,
    )


# --- risks -----------------------------------------------------------------------------


def _risk(row: asyncpg.Record) -> Risk:
    return Risk(
        id=row["id"], campaign_id=row["campaign_id"], description=row["description"], owner=row["owner"],
        probability=row["probability"], impact=row["impact"], mitigation=row["mitigation"],
        status=RiskStatus(row["status"]), created_by=row["created_by"], created_at=row["created_at"],
        updated_at=row["updated_at"], accepted_by=row["accepted_by"], accepted_at=row["accepted_at"],
        acceptance_reason=row["acceptance_reason"],
    )


async def risks_of(conn: asyncpg.Connection, campaign_id: str) -> list[Risk]:
    rows = await conn.fetch("SELECT * FROM risks WHERE campaign_id = $1 ORDER BY created_at, id", campaign_id)
    return [_risk(r) for r in rows]


async def risk(conn: asyncpg.Connection, campaign_id: str, risk_id: uuid.UUID) -> Risk | None:
    row = await conn.fetchrow("SELECT * FROM risks WHERE campaign_id = $1 AND id = $2", campaign_id, risk_id)
    return _risk(row) if row else None


async def save_risk(conn: asyncpg.Connection, r: Risk) -> None:
    await conn.execute(
        """
        INSERT INTO risks (id, campaign_id, description, owner, probability, impact, mitigation, status,
            created_by, created_at, updated_at, accepted_by, accepted_at, acceptance_reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (id) DO UPDATE SET
            description = EXCLUDED.description, owner = EXCLUDED.owner, probability = EXCLUDED.probability,
            impact = EXCLUDED.impact, mitigation = EXCLUDED.mitigation, status = EXCLUDED.status,
            updated_at = EXCLUDED.updated_at, accepted_by = EXCLUDED.accepted_by,
            accepted_at = EXCLUDED.accepted_at, acceptance_reason = EXCLUDED.acceptance_reason
        """,
        r.id, r.campaign_id, r.description, r.owner, r.probability, r.impact, r.mitigation, r.status.value,
        r.created_by, r.created_at, r.updated_at, r.accepted_by, r.accepted_at, r.acceptance_reason,
    )


# --- audit -----------------------------------------------------------------------------


async def audit(conn: asyncpg.Connection, *, action: str, actor: str, at: dt.datetime,
                campaign_id: str | None = None, reason: str | None = None, policy_version: int | None = None,
                details: dict[str, Any] | None = None) -> None:
    await conn.execute(
        """
        INSERT INTO audit_log (campaign_id, action, actor, at, reason, policy_version, details)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
        """,
        campaign_id, action, actor, at, reason, policy_version, _audit_details(details),
    )


def _audit_details(details: dict[str, Any] | None) -> Any:
    return json.loads(json.dumps(details or {}, default=str))


async def audit_of(conn: asyncpg.Connection, campaign_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM audit_log WHERE campaign_id = $1 ORDER BY at, id", campaign_id)


async def policy_audit(conn: asyncpg.Connection, versions: Sequence[int] | None = None) -> list[asyncpg.Record]:
    """Policy changes (seeding included), optionally only those that created ``versions``."""
    return await conn.fetch(
        "SELECT * FROM audit_log WHERE campaign_id IS NULL AND ($1::int[] IS NULL OR policy_version = ANY($1))"
        " ORDER BY id", list(versions) if versions is not None else None)


# --- metric catalogue --------------------------------------------------------------------


async def catalogue_row(conn: asyncpg.Connection, version: int | None = None) -> asyncpg.Record | None:
    if version is None:
        return await conn.fetchrow("SELECT * FROM metric_catalogue_versions ORDER BY version DESC LIMIT 1")
    return await conn.fetchrow("SELECT * FROM metric_catalogue_versions WHERE version = $1", version)


async def catalogue_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM metric_catalogue_versions ORDER BY version")


async def insert_catalogue(conn: asyncpg.Connection, definitions: list[dict[str, Any]], created_by: str,
                           reason: str, at: dt.datetime) -> asyncpg.Record:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", CATALOGUE_LOCK)
    return await conn.fetchrow(
        """
        INSERT INTO metric_catalogue_versions (version, definitions, created_by, created_at, reason)
        SELECT coalesce(max(version), 0) + 1, $1::jsonb, $2, $3, $4 FROM metric_catalogue_versions
        RETURNING *
        """,
        definitions, created_by, at, reason)


async def next_risk_revision(conn: asyncpg.Connection, risk_id: uuid.UUID) -> int:
    revision: int = await conn.fetchval("UPDATE risks SET revision = revision + 1 WHERE id = $1 RETURNING revision",
                                        risk_id)
    return revision
