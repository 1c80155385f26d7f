"""The budget service's SQL. Balances come from the views of migration 001."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, TypeAlias

import asyncpg

from marops_events import contracts as c
from marops_events.contracts import ReconciliationResolution, ReconciliationStatus, UnreconciledReason
from marops_service import locks
from marops_service.access import CampaignParties, SqlCondition, readable_sql
from marops_service.auth import Principal

from .domain import (
    Brief,
    CampaignFacts,
    ChangeRequest,
    CorrectedSpend,
    Hold,
    HoldStatus,
    LineBalance,
    LineState,
    Reconciliation,
    Spend,
    SpendCopy,
)
from .planning import Announcement, CampaignRun, PlanScope, PlanState

# asyncpg ships no type information: a row is Any to the type checker
Row: TypeAlias = asyncpg.Record

# ------------------------------------------------------------------- lines

# The access condition (``marops_service.access.readable_sql``) over ``campaign_parties p``,
# built with the parameter numbering of the query it goes into.
Readable = Callable[[int], SqlCondition]


def EVERY_ROW(first: int) -> SqlCondition:  # noqa: N802 (a constant-like default)
    return SqlCondition("TRUE", ())


async def insert_line(conn: asyncpg.Connection, *, line_id: str, name: str | None, fiscal_year: int,
                      quarter: int, team: str, channel: str, amount: Decimal, currency: str,
                      actor: str) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO budget_lines (id, name, fiscal_year, quarter, team, channel, amount, currency, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (id) DO NOTHING
        RETURNING true
        """,
        line_id, name, fiscal_year, quarter, team, channel, amount, currency, actor,
    )
    return bool(inserted)


async def lock_lines(conn: asyncpg.Connection, line_ids: list[str]) -> set[str]:
    """Lock the lines' rows (in id order, so two lockers never deadlock); returns those that exist."""
    rows = await conn.fetch(
        "SELECT id FROM budget_lines WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", line_ids)
    return {r["id"] for r in rows}


async def line_balance(conn: asyncpg.Connection, line_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM line_balances WHERE id = $1", line_id)


def as_balance(row: Row) -> LineBalance:
    return LineBalance(amount=row["amount"], currency=row["currency"], exposure=row["exposure"])


@dataclass(frozen=True)
class LineFilter:
    fiscal_year: int | None = None
    quarter: int | None = None
    team: str | None = None
    channel: str | None = None
    currency: str | None = None


async def list_line_balances(conn: asyncpg.Connection, f: LineFilter) -> list[Row]:
    return await conn.fetch(
        """
        SELECT * FROM line_balances
        WHERE ($1::int IS NULL OR fiscal_year = $1)
          AND ($2::int IS NULL OR quarter = $2)
          AND ($3::text IS NULL OR team = $3)
          AND ($4::text IS NULL OR channel = $4)
          AND ($5::text IS NULL OR currency = $5)
        ORDER BY fiscal_year, quarter, team, channel, id
        """,
        f.fiscal_year, f.quarter, f.team, f.channel, f.currency,
    )


async def set_line_amount(conn: asyncpg.Connection, line_id: str, amount: Decimal) -> None:
    await conn.execute("UPDATE budget_lines SET amount = $2, updated_at = now() WHERE id = $1", line_id, amount)


async def add_line_change(conn: asyncpg.Connection, *, line_id: str, kind: str, delta: Decimal,
                          amount_after: Decimal, reason: str | None, actor: str,
                          reallocation_id: uuid.UUID | None = None) -> None:
    await conn.execute(
        """
        INSERT INTO line_changes (budget_line_id, kind, delta, amount_after, reason, actor, reallocation_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        line_id, kind, delta, amount_after, reason, actor, reallocation_id,
    )


async def line_history(conn: asyncpg.Connection, line_id: str) -> list[Row]:
    return await conn.fetch("SELECT * FROM line_changes WHERE budget_line_id = $1 ORDER BY id", line_id)


async def insert_reallocation(conn: asyncpg.Connection, *, reallocation_id: uuid.UUID, from_line_id: str,
                              to_line_id: str, amount: Decimal, currency: str, reason: str,
                              actor: str) -> Row:
    return await conn.fetchrow(
        """
        INSERT INTO reallocations (id, from_line_id, to_line_id, amount, currency, reason, reallocated_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING *
        """,
        reallocation_id, from_line_id, to_line_id, amount, currency, reason, actor,
    )


async def list_reallocations(conn: asyncpg.Connection, line_id: str | None) -> list[Row]:
    return await conn.fetch(
        """
        SELECT * FROM reallocations
        WHERE $1::text IS NULL OR from_line_id = $1 OR to_line_id = $1
        ORDER BY reallocated_at, id
        """,
        line_id,
    )


# ------------------------------------------------------------------- campaign facts


async def lock_campaign(conn: asyncpg.Connection, campaign_id: str) -> None:
    """Serialise everything decided for one campaign (reservations, thresholds); its row
    exists from then on."""
    # One round trip: the INSERT takes the row from the lock's CTE, so it runs once the lock
    # is granted, and ON CONFLICT sees a row committed meanwhile whatever the snapshot.
    await conn.execute(
        f"""
        WITH locked AS (SELECT {locks.CAMPAIGN_LOCK})
        INSERT INTO campaigns (campaign_id) SELECT $1 FROM locked ON CONFLICT DO NOTHING
        """,
        campaign_id,
    )


def _parties_upsert(team: str = "$3", owner: str = "$4", authors: str = "$5") -> str:
    """``record_parties``' statement (campaign id $1, version $2; the other parameters' numbers given)."""
    return f"""
    INSERT INTO campaign_parties AS p (campaign_id, brief_version, team, owner, authors)
    VALUES ($1, $2, {team}, {owner}, {authors})
    ON CONFLICT (campaign_id) DO UPDATE SET
        brief_version = greatest(p.brief_version, EXCLUDED.brief_version),
        team = CASE WHEN EXCLUDED.brief_version >= p.brief_version THEN EXCLUDED.team ELSE p.team END,
        owner = CASE WHEN EXCLUDED.brief_version >= p.brief_version THEN EXCLUDED.owner ELSE p.owner END,
        authors = ARRAY(SELECT DISTINCT a FROM unnest(p.authors || EXCLUDED.authors) AS a ORDER BY a)
    """


async def insert_brief(conn: asyncpg.Connection, brief: Brief, *, title: str, team: str,
                       submitted_at: dt.datetime, event_id: uuid.UUID,
                       parties: tuple[str, list[str]] | None = None) -> None:
    """Store a version (a known one is left as it is) and move the campaign row to its line if
    it is the highest; with ``parties`` (owner, authors), ``record_parties`` in the same round trip."""
    with_parties = "" if parties is None else f", parties AS ({_parties_upsert('$4', '$12', '$13')})"
    await conn.execute(
        f"""
        WITH stored AS (
            INSERT INTO briefs (campaign_id, version, title, team, budget_line_id, amount, currency,
                                flight_start, flight_end, submitted_at, event_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (campaign_id, version) DO NOTHING
        ){with_parties}
        -- The campaign row carries its highest version's line, so reading a spend's line is a
        -- key lookup (the caller holds the campaign lock, so the row exists).
        UPDATE campaigns SET brief_version = $2, budget_line_id = $5
        WHERE campaign_id = $1 AND (brief_version IS NULL OR brief_version < $2)
        """,
        brief.campaign_id, brief.version, title, team, brief.budget_line_id, brief.amount, brief.currency,
        brief.flight_start, brief.flight_end, submitted_at, event_id, *(() if parties is None else parties),
    )


async def record_parties(conn: asyncpg.Connection, campaign_id: str, *, version: int, team: str, owner: str,
                         authors: list[str]) -> None:
    """Team and owner follow the highest version (whatever order versions arrive in); the
    authors of every version are kept."""
    await conn.execute(_parties_upsert(), campaign_id, version, team, owner, authors)


async def parties_of(conn: asyncpg.Connection, campaign_id: str) -> CampaignParties | None:
    row = await conn.fetchrow("SELECT team, owner, authors FROM campaign_parties WHERE campaign_id = $1",
                              campaign_id)
    return CampaignParties.of(row["team"], row["owner"] or None, row["authors"]) if row else None


async def insert_budget_approval(conn: asyncpg.Connection, *, campaign_id: str, brief_version: int,
                                 gate_id: str, approved_at: dt.datetime, event_id: uuid.UUID) -> None:
    await conn.execute(
        """
        INSERT INTO budget_gate_approvals (campaign_id, brief_version, gate_id, approved_at, event_id)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
        """,
        campaign_id, brief_version, gate_id, approved_at, event_id,
    )


async def insert_outright_rejection(conn: asyncpg.Connection, *, campaign_id: str, brief_version: int,
                                    gate_id: str, reason: str, rejected_at: dt.datetime,
                                    event_id: uuid.UUID) -> None:
    await conn.execute(
        """
        INSERT INTO outright_rejections (campaign_id, brief_version, gate_id, reason, rejected_at, event_id)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
        """,
        campaign_id, brief_version, gate_id, reason, rejected_at, event_id,
    )


async def insert_cancellation(conn: asyncpg.Connection, *, campaign_id: str, cancelled_by: str,
                              reason: str | None, cancelled_at: dt.datetime, event_id: uuid.UUID) -> None:
    await conn.execute(
        """
        INSERT INTO cancellations (campaign_id, cancelled_by, reason, cancelled_at, event_id)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
        """,
        campaign_id, cancelled_by, reason, cancelled_at, event_id,
    )


def _brief(row: Row) -> Brief:
    return Brief(campaign_id=row["campaign_id"], version=row["version"], budget_line_id=row["budget_line_id"],
                 amount=row["amount"], currency=row["currency"], flight_start=row["flight_start"],
                 flight_end=row["flight_end"])


async def current_brief(conn: asyncpg.Connection, campaign_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM current_briefs WHERE campaign_id = $1", campaign_id)


class CampaignState(NamedTuple):
    facts: CampaignFacts
    hold: Hold | None  # as load_hold reads it
    has_changes: bool  # whether any change request of the campaign is known


async def load_state(conn: asyncpg.Connection, campaign_id: str) -> CampaignState:
    """The campaign's facts, its hold and whether it has change requests, in one round trip."""
    row = await conn.fetchrow(
        """
        SELECT b.*,
               (SELECT h FROM holds h WHERE h.campaign_id = c.id) AS current_hold,
               EXISTS (SELECT 1 FROM change_requests WHERE campaign_id = c.id) AS has_changes,
               EXISTS (SELECT 1 FROM cancellations WHERE campaign_id = c.id) AS cancelled,
               ARRAY(SELECT DISTINCT brief_version FROM outright_rejections WHERE campaign_id = c.id)
                   AS outright_rejected_versions,
               ARRAY(SELECT DISTINCT brief_version FROM budget_gate_approvals WHERE campaign_id = c.id)
                   AS budget_approved_versions,
               ARRAY(SELECT brief_version FROM reservation_decisions
                     WHERE campaign_id = c.id AND outcome = 'reserved') AS reserved_versions,
               ARRAY(SELECT brief_version FROM reservation_decisions
                     WHERE campaign_id = c.id AND outcome = 'rejected') AS refused_versions
        FROM (SELECT $1::text AS id) c
        LEFT JOIN current_briefs b ON b.campaign_id = c.id
        """,
        campaign_id,
    )
    facts = CampaignFacts(
        campaign_id=campaign_id,
        latest_brief=_brief(row) if row["version"] is not None else None,
        cancelled=row["cancelled"],
        outright_rejected_versions=frozenset(row["outright_rejected_versions"]),
        budget_approved_versions=frozenset(row["budget_approved_versions"]),
        decisions=dict.fromkeys(row["reserved_versions"], True) | dict.fromkeys(row["refused_versions"], False),
    )
    return CampaignState(facts, _hold(row["current_hold"]), row["has_changes"])


async def load_hold(conn: asyncpg.Connection, campaign_id: str) -> Hold | None:
    return _hold(await conn.fetchrow("SELECT * FROM holds WHERE campaign_id = $1", campaign_id))


def _hold(row: Row | None) -> Hold | None:
    if row is None:
        return None
    return Hold(campaign_id=row["campaign_id"], budget_line_id=row["budget_line_id"],
                brief_version=row["brief_version"], amount=row["amount"], currency=row["currency"],
                status=HoldStatus(row["status"]))


async def save_hold(conn: asyncpg.Connection, hold: Hold, release_reason: str | None = None) -> None:
    await conn.execute(
        """
        INSERT INTO holds (campaign_id, budget_line_id, brief_version, amount, currency, status, release_reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (campaign_id) DO UPDATE SET
            budget_line_id = EXCLUDED.budget_line_id, brief_version = EXCLUDED.brief_version,
            amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
            release_reason = EXCLUDED.release_reason, updated_at = now()
        """,
        hold.campaign_id, hold.budget_line_id, hold.brief_version, hold.amount, hold.currency,
        hold.status.value, release_reason,
    )


async def insert_decision(conn: asyncpg.Connection, brief: Brief, *, reserved: bool,
                          reason_code: str | None = None, reason: str | None = None) -> None:
    await conn.execute(
        """
        INSERT INTO reservation_decisions (campaign_id, brief_version, budget_line_id, amount, currency,
                                           outcome, reason_code, reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        brief.campaign_id, brief.version, brief.budget_line_id, brief.amount, brief.currency,
        "reserved" if reserved else "rejected", reason_code, reason,
    )


async def line_state(conn: asyncpg.Connection, line_id: str, campaign_id: str) -> LineState | None:
    """The line as a reservation for ``campaign_id`` sees it (lock the line first)."""
    row = await conn.fetchrow(
        """
        SELECT l.id, l.currency, l.amount,
               coalesce((SELECT sum(e.used) FROM line_exposure e
                         WHERE e.line_id = l.id AND e.campaign_id <> $2), 0) AS others_exposure,
               coalesce((SELECT sum(e.spent) FROM line_exposure e
                         WHERE e.line_id = l.id AND e.campaign_id = $2), 0) AS campaign_spent
        FROM budget_lines l WHERE l.id = $1
        """,
        line_id, campaign_id,
    )
    if row is None:
        return None
    return LineState(id=row["id"], currency=row["currency"], amount=row["amount"],
                     others_exposure=row["others_exposure"], campaign_spent=row["campaign_spent"])


async def decisions_of(conn: asyncpg.Connection, campaign_id: str) -> list[Row]:
    return await conn.fetch("SELECT * FROM reservation_decisions WHERE campaign_id = $1 ORDER BY brief_version",
                            campaign_id)


async def hold_row(conn: asyncpg.Connection, campaign_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM holds WHERE campaign_id = $1", campaign_id)


# ------------------------------------------------------------------- thresholds


async def thresholds_alerted(conn: asyncpg.Connection, campaign_id: str) -> set[int]:
    rows = await conn.fetch("SELECT threshold_percent FROM threshold_alerts WHERE campaign_id = $1", campaign_id)
    return {r["threshold_percent"] for r in rows}


async def insert_threshold_alert(conn: asyncpg.Connection, *, campaign_id: str, threshold: int, line_id: str,
                                 committed: Decimal, spent: Decimal, currency: str) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO threshold_alerts (campaign_id, threshold_percent, budget_line_id, committed, spent, currency)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true
        """,
        campaign_id, threshold, line_id, committed, spent, currency,
    )
    return bool(inserted)


async def campaign_spent(conn: asyncpg.Connection, campaign_id: str, currency: str,
                         incurred_until: dt.date | None = None) -> Decimal:
    """Spend of a campaign that counts against a line, in ``currency`` (up to a day, if given).
    All of it is kept per campaign and line (``campaign_line_spend``, by triggers): a row per
    line, not a sum over the campaign's ledger; up to a day it is summed from the ledger."""
    if incurred_until is None:
        return await conn.fetchval(
            """
            SELECT coalesce(sum(k.spent), 0) FROM campaign_line_spend k JOIN budget_lines l ON l.id = k.line_id
            WHERE k.campaign_id = $1 AND l.currency = $2
            """,
            campaign_id, currency,
        )
    return await conn.fetchval(
        """
        SELECT coalesce(sum(amount), 0) FROM spend_ledger
        WHERE campaign_id = $1 AND currency = $2 AND attribution = 'attributed' AND incurred_on <= $3
        """,
        campaign_id, currency, incurred_until,
    )


async def campaigns_spending_on(conn: asyncpg.Connection, line_id: str) -> list[str]:
    """Campaigns with spend that counts (or wants to count) against the line."""
    rows = await conn.fetch("SELECT DISTINCT campaign_id FROM spend_ledger WHERE wanted_line_id = $1 ORDER BY 1",
                            line_id)
    return [r["campaign_id"] for r in rows]


# ------------------------------------------------------------------- spend


def as_spend(row: Row) -> Spend:
    return Spend(campaign_id=row["campaign_id"], source_system=row["source_system"],
                 source_reference=row["source_reference"], amount=row["amount"], currency=row["currency"],
                 incurred_on=row["incurred_on"], budget_line_id=row["budget_line_id"],
                 corrects_reference=row["corrects_reference"], description=row["description"])


async def find_spend(conn: asyncpg.Connection, source_system: str, source_reference: str) -> Row | None:
    return await conn.fetchrow(
        "SELECT * FROM spend_ledger WHERE source_system = $1 AND source_reference = $2",
        source_system, source_reference)


async def corrected_spend(conn: asyncpg.Connection, source_system: str,
                          source_reference: str) -> CorrectedSpend | None:
    """The spend a correction names, and what is left of it after the corrections recorded so far."""
    row = await conn.fetchrow(
        """
        SELECT s.campaign_id, s.currency,
               s.amount + coalesce((SELECT sum(c.amount) FROM spends c
                                    WHERE c.source_system = s.source_system
                                      AND c.corrects_reference = s.source_reference
                                      AND c.currency = s.currency), 0) AS remaining
        FROM spends s WHERE s.source_system = $1 AND s.source_reference = $2
        """,
        source_system, source_reference)
    return None if row is None else CorrectedSpend(row["campaign_id"], row["currency"], row["remaining"])


def as_copy(row: Row) -> SpendCopy:
    return SpendCopy(as_spend(row), row["occurred_at"], row["event_id"])


_INSERT_SPEND = """
    INSERT INTO spends (source_system, source_reference, campaign_id, amount, currency, incurred_on,
                        budget_line_id, corrects_reference, description, origin, historical, event_id,
                        recorded_by, occurred_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (source_system, source_reference) DO NOTHING
    RETURNING true
"""


def _spend_values(copy: SpendCopy, origin: str, historical: bool, recorded_by: str | None) -> tuple[Any, ...]:
    spend = copy.spend
    return (spend.source_system, spend.source_reference, spend.campaign_id, spend.amount, spend.currency,
            spend.incurred_on, spend.budget_line_id, spend.corrects_reference, spend.description, origin,
            historical, copy.event_id, recorded_by, copy.occurred_at)


async def insert_spend(conn: asyncpg.Connection, copy: SpendCopy, *, origin: str, historical: bool,
                       recorded_by: str | None) -> bool:
    """False when the (source_system, source_reference) pair was already recorded."""
    inserted = await conn.fetchval(_INSERT_SPEND, *_spend_values(copy, origin, historical, recorded_by))
    return bool(inserted)


@dataclass(frozen=True)
class InsertedSpend:
    inserted: bool  # False when the (source_system, source_reference) pair was already recorded
    line_currency: str | None  # of the line the spend counts against, if known yet
    hold: Hold | None  # the campaign's hold


async def insert_spend_on_line(conn: asyncpg.Connection, copy: SpendCopy, *, origin: str, historical: bool,
                               recorded_by: str | None) -> InsertedSpend:
    """``insert_spend``, the currency of the line the spend counts against and the campaign's
    hold (for its thresholds), in one round trip: the insert changes neither the campaign's
    brief, which names the line, nor its hold. Needs the campaign lock, taken in a statement
    before this one, so the hold read is the one every later step of the transaction sees."""
    row = await conn.fetchrow(
        f"""
        WITH inserted AS ({_INSERT_SPEND})
        SELECT EXISTS (SELECT 1 FROM inserted) AS inserted,
               (SELECT l.currency FROM budget_lines l
                WHERE l.id = coalesce($7::text, (SELECT budget_line_id FROM current_briefs WHERE campaign_id = $3)))
                   AS line_currency,
               (SELECT h FROM holds h WHERE h.campaign_id = $3) AS hold
        """,
        *_spend_values(copy, origin, historical, recorded_by),
    )
    return InsertedSpend(bool(row["inserted"]), row["line_currency"], _hold(row["hold"]))


async def replace_spend(conn: asyncpg.Connection, spend_id: int, copy: SpendCopy, *, origin: str,
                        historical: bool, recorded_by: str | None, content_changed: bool) -> None:
    """Make an earlier copy the kept one. When it says something else, the copy it replaces is
    kept in superseded_spends and finance's resolution (made for the old content) is undone."""
    spend = copy.spend
    if content_changed:
        await conn.execute(
            """
            INSERT INTO superseded_spends (spend_id, event_id, occurred_at, campaign_id, amount, currency,
                                           incurred_on, budget_line_id, corrects_reference, replaced_by_event)
            SELECT id, event_id, occurred_at, campaign_id, amount, currency, incurred_on, budget_line_id,
                   corrects_reference, $2
            FROM spends WHERE id = $1
            """,
            spend_id, copy.event_id,
        )
    await conn.execute(
        """
        UPDATE spends SET campaign_id = $2, amount = $3, currency = $4, incurred_on = $5, budget_line_id = $6,
            corrects_reference = $7, description = $8, origin = $9, historical = $10, event_id = $11,
            recorded_by = $12, occurred_at = $13,
            resolution = CASE WHEN $14 THEN NULL ELSE resolution END,
            resolution_line_id = CASE WHEN $14 THEN NULL ELSE resolution_line_id END,
            resolved_by = CASE WHEN $14 THEN NULL ELSE resolved_by END,
            resolution_note = CASE WHEN $14 THEN NULL ELSE resolution_note END,
            resolved_at = CASE WHEN $14 THEN NULL ELSE resolved_at END
        WHERE id = $1
        """,
        spend_id, spend.campaign_id, spend.amount, spend.currency, spend.incurred_on, spend.budget_line_id,
        spend.corrects_reference, spend.description, origin, historical, copy.event_id, recorded_by,
        copy.occurred_at, content_changed,
    )


async def superseded_copies(conn: asyncpg.Connection, spend_id: int) -> list[Row]:
    return await conn.fetch("SELECT * FROM superseded_spends WHERE spend_id = $1 ORDER BY id", spend_id)


# ------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class ReconciliationRow:
    source_system: str
    source_reference: str
    now: Reconciliation
    published: Reconciliation | None
    revision: int  # of the last published change (0: none)
    row: Row


_RECONCILIATIONS = """
        SELECT s.*, st.revision AS published_revision, st.campaign_id AS published_campaign_id,
               st.amount AS published_amount, st.currency AS published_currency, st.status AS published_status,
               st.reason_code AS published_reason_code, st.resolution AS published_resolution,
               st.budget_line_id AS published_line_id
        FROM spend_ledger s
        LEFT JOIN spend_reconciliation_state st USING (source_system, source_reference)
        WHERE s.id IN ({ids})
        ORDER BY s.id
"""


async def reconciliations_of(conn: asyncpg.Connection, campaign_ids: list[str]) -> list[ReconciliationRow]:
    """Each spend of the campaigns (and each spend they were told about before, in case a
    replacement moved it to another campaign) with its reconciliation now and as last published."""
    rows = await conn.fetch(_RECONCILIATIONS.format(ids="""
        SELECT id FROM spends WHERE campaign_id = ANY($1::text[])
        UNION
        SELECT sp.id FROM spend_reconciliation_state x JOIN spends sp USING (source_system, source_reference)
        WHERE x.campaign_id = ANY($1::text[])"""), campaign_ids)
    return _reconciliation_rows(rows)


async def reconciliations_of_spends(conn: asyncpg.Connection,
                                    pairs: Sequence[tuple[str, str]]) -> list[ReconciliationRow]:
    """``reconciliations_of`` for these spends (source_system, source_reference) only: what a
    change of one spend can change (a spend's bookability is its own row's, its campaign's line
    and that line's currency), read without every other spend of its campaign."""
    rows = await conn.fetch(_RECONCILIATIONS.format(ids="""
        SELECT sp.id FROM unnest($1::text[], $2::text[]) AS k (source_system, source_reference)
        JOIN spends sp USING (source_system, source_reference)"""),
        [p[0] for p in pairs], [p[1] for p in pairs])
    return _reconciliation_rows(rows)


def _reconciliation_rows(rows: Sequence[Row]) -> list[ReconciliationRow]:
    out = []
    for r in rows:
        # Unbookable imported history counts as reconciled: nobody is waiting for it.
        reconciled = r["reconciliation"] != "unreconciled"
        resolution = (ReconciliationResolution(r["resolution"]) if r["resolution"]
                      else ReconciliationResolution.attributed if r["reconciliation"] == "reconciled" else None)
        now = Reconciliation(
            campaign_id=r["campaign_id"], amount=r["amount"], currency=r["currency"],
            status=ReconciliationStatus.reconciled if reconciled else ReconciliationStatus.unreconciled,
            reason_code=UnreconciledReason(r["unreconciled_reason"]) if r["unreconciled_reason"] else None,
            resolution=resolution, budget_line_id=r["line_id"] if r["attribution"] == "attributed" else None)
        published = None
        if r["published_revision"] is not None:
            published = Reconciliation(
                campaign_id=r["published_campaign_id"], amount=r["published_amount"],
                currency=r["published_currency"], status=ReconciliationStatus(r["published_status"]),
                reason_code=UnreconciledReason(r["published_reason_code"]) if r["published_reason_code"] else None,
                resolution=ReconciliationResolution(r["published_resolution"]) if r["published_resolution"] else None,
                budget_line_id=r["published_line_id"])
        out.append(ReconciliationRow(r["source_system"], r["source_reference"], now, published,
                                     r["published_revision"] or 0, r))
    return out


async def save_published_reconciliation(conn: asyncpg.Connection, source_system: str, source_reference: str,
                                        revision: int, state: Reconciliation) -> None:
    await conn.execute(
        """
        INSERT INTO spend_reconciliation_state (source_system, source_reference, revision, campaign_id, amount,
                                                currency, status, reason_code, resolution, budget_line_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (source_system, source_reference) DO UPDATE SET
            revision = EXCLUDED.revision, campaign_id = EXCLUDED.campaign_id, amount = EXCLUDED.amount,
            currency = EXCLUDED.currency, status = EXCLUDED.status, reason_code = EXCLUDED.reason_code,
            resolution = EXCLUDED.resolution, budget_line_id = EXCLUDED.budget_line_id
        """,
        source_system, source_reference, revision, state.campaign_id, state.amount, state.currency,
        state.status.value, state.reason_code.value if state.reason_code else None,
        state.resolution.value if state.resolution else None, state.budget_line_id,
    )


async def spend_by_id(conn: asyncpg.Connection, spend_id: int) -> Row | None:
    return await conn.fetchrow("SELECT * FROM spend_ledger WHERE id = $1", spend_id)


async def lock_spend(conn: asyncpg.Connection, spend_id: int) -> str | None:
    """Lock a spend's row; returns its campaign (None when there is no such spend)."""
    return await conn.fetchval("SELECT campaign_id FROM spends WHERE id = $1 FOR UPDATE", spend_id)


async def resolve_spend(conn: asyncpg.Connection, spend_id: int, *, resolution: str, line_id: str | None,
                        reason: str, actor: str) -> None:
    await conn.execute(
        """
        UPDATE spends SET resolution = $2, resolution_line_id = $3, resolved_by = $5, resolution_note = $4,
                          resolved_at = now()
        WHERE id = $1
        """,
        spend_id, resolution, line_id, reason, actor,
    )
    await conn.execute(
        """
        INSERT INTO spend_resolutions (spend_id, resolution, budget_line_id, reason, resolved_by)
        VALUES ($1, $2, $3, $4, $5)
        """,
        spend_id, resolution, line_id, reason, actor,
    )


async def resolutions_of(conn: asyncpg.Connection, spend_id: int) -> list[Row]:
    return await conn.fetch("SELECT * FROM spend_resolutions WHERE spend_id = $1 ORDER BY id", spend_id)


async def line_currency(conn: asyncpg.Connection, line_id: str) -> str | None:
    return await conn.fetchval("SELECT currency FROM budget_lines WHERE id = $1", line_id)


@dataclass(frozen=True)
class SpendFilter:
    campaign_id: str | None = None
    budget_line_id: str | None = None  # the line it counts against
    source_system: str | None = None
    attribution: str | None = None
    incurred_from: dt.date | None = None
    incurred_to: dt.date | None = None
    reconciliation: str | None = None
    readable: Readable = EVERY_ROW

    def sql(self, first: int = 1) -> tuple[str, list[Any]]:
        """A WHERE clause over ``spend_ledger`` and its arguments, numbered from ``$first``."""
        n = first
        readable = self.readable(n + 7)
        where = " AND ".join([
            f"(${n}::text IS NULL OR campaign_id = ${n})",
            f"(${n + 1}::text IS NULL OR line_id = ${n + 1})",
            f"(${n + 2}::text IS NULL OR source_system = ${n + 2})",
            f"(${n + 3}::text IS NULL OR attribution = ${n + 3})",
            f"(${n + 4}::date IS NULL OR incurred_on >= ${n + 4})",
            f"(${n + 5}::date IS NULL OR incurred_on <= ${n + 5})",
            f"(${n + 6}::text IS NULL OR reconciliation = ${n + 6})",
            _readable_spend(readable),
        ])
        return where, [self.campaign_id, self.budget_line_id, self.source_system, self.attribution,
                       self.incurred_from, self.incurred_to, self.reconciliation, *readable.params]


async def list_spend(conn: asyncpg.Connection, f: SpendFilter, *, after: int = 0,
                     limit: int | None = None) -> list[Row]:
    where, args = f.sql(first=3)
    return await conn.fetch(
        f"SELECT * FROM spend_ledger WHERE id > $1 AND {where} ORDER BY id LIMIT $2",
        after, limit, *args,
    )


async def spend_totals(conn: asyncpg.Connection, f: SpendFilter) -> list[Row]:
    where, args = f.sql()
    return await conn.fetch(
        f"""
        SELECT currency, sum(amount) AS total, count(*) AS entries FROM spend_ledger
        WHERE {where} GROUP BY currency ORDER BY currency
        """,
        *args,
    )


async def campaign_spend_by_attribution(conn: asyncpg.Connection, campaign_id: str) -> list[Row]:
    return await conn.fetch(
        """
        SELECT attribution, currency, sum(amount) AS total, count(*) AS entries FROM spend_ledger
        WHERE campaign_id = $1 GROUP BY attribution, currency ORDER BY attribution, currency
        """,
        campaign_id,
    )


async def campaign_unreconciled(conn: asyncpg.Connection, campaign_id: str) -> list[Row]:
    return await conn.fetch(
        """
        SELECT currency, sum(amount) AS total FROM spend_ledger
        WHERE campaign_id = $1 AND reconciliation = 'unreconciled' GROUP BY currency ORDER BY currency
        """,
        campaign_id,
    )


@dataclass(frozen=True)
class MonthFilter:
    from_month: dt.date | None = None
    to_month: dt.date | None = None
    budget_line_id: str | None = None
    campaign_id: str | None = None
    team: str | None = None
    readable: Readable = EVERY_ROW


async def spend_by_month(conn: asyncpg.Connection, f: MonthFilter) -> list[Row]:
    """Attributed spend per calendar month of incurrence, per line, with the line's running total."""
    readable = f.readable(6)
    return await conn.fetch(
        f"""
        WITH monthly AS (
            SELECT date_trunc('month', s.incurred_on)::date AS month, s.line_id, s.currency,
                   sum(s.amount) AS spent, count(*) AS entries
            FROM spend_ledger s JOIN budget_lines l ON l.id = s.line_id
            WHERE s.attribution = 'attributed'
              AND ($3::text IS NULL OR s.line_id = $3)
              AND ($4::text IS NULL OR s.campaign_id = $4)
              AND ($5::text IS NULL OR l.team = $5)
              AND {_readable_spend(readable, "s.campaign_id")}
            GROUP BY 1, 2, 3
        )
        SELECT * FROM (
            SELECT m.*, sum(m.spent) OVER (PARTITION BY m.line_id ORDER BY m.month) AS cumulative_spent,
                   l.amount AS line_amount
            FROM monthly m JOIN budget_lines l ON l.id = m.line_id
        ) t
        WHERE ($1::date IS NULL OR month >= $1) AND ($2::date IS NULL OR month <= $2)
        ORDER BY month, line_id
        """,
        f.from_month, f.to_month, f.budget_line_id, f.campaign_id, f.team, *readable.params,
    )



def readable_by(who: Principal) -> Readable:
    """The access rule for ``who`` over ``campaign_parties p``, numbered from a query's ``$first``."""
    return lambda first: readable_sql(who, first=first, team="p.team", owner="p.owner", authors="p.authors")


def _readable_spend(cond: SqlCondition, campaign: str = "spend_ledger.campaign_id") -> str:
    """Spend whose campaign the caller may read; spend of a campaign without parties (no brief
    yet) only for the roles that read everything."""
    if cond.sql in ("TRUE", "FALSE"):
        return cond.sql
    return f"EXISTS (SELECT 1 FROM campaign_parties p WHERE p.campaign_id = {campaign} AND {cond.sql})"


# ------------------------------------------------------------------- plans


async def lock_plan_scopes(conn: asyncpg.Connection, scopes: list[tuple[int, str]]) -> None:
    """Serialise everything that changes what a (fiscal year, team) plans or allocates: plans
    and the lines in their scope (taken in order, so two lockers never deadlock). An advisory
    lock needs no row: a line may be created before its plan."""
    for fiscal_year, team in sorted(set(scopes)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('plan-scope:' || $1 || '/' || $2, 0))",
                           str(fiscal_year), team)


async def plans_of_scope(conn: asyncpg.Connection, fiscal_year: int, team: str) -> list[Row]:
    return await conn.fetch("SELECT * FROM plans WHERE fiscal_year = $1 AND team = $2 ORDER BY id",
                            fiscal_year, team)


async def plan_state_for(conn: asyncpg.Connection, fiscal_year: int, team: str, channel: str) -> PlanState | None:
    """The plan a line of (year, team, channel) rolls up into, with what its lines hold now."""
    row = await conn.fetchrow(
        """
        SELECT p.id, p.amount, p.currency,
               coalesce((SELECT sum(l.amount) FROM line_plans lp JOIN budget_lines l ON l.id = lp.line_id
                         WHERE lp.plan_id = p.id), 0) AS allocated
        FROM plans p
        WHERE p.fiscal_year = $1 AND p.team = $2 AND (p.channel IS NULL OR p.channel = $3)
        """,
        fiscal_year, team, channel,
    )
    return _plan_state(row) if row else None


async def plan_state(conn: asyncpg.Connection, plan_id: str) -> PlanState | None:
    row = await conn.fetchrow(
        """
        SELECT p.id, p.amount, p.currency,
               coalesce((SELECT sum(l.amount) FROM line_plans lp JOIN budget_lines l ON l.id = lp.line_id
                         WHERE lp.plan_id = p.id), 0) AS allocated
        FROM plans p WHERE p.id = $1
        """,
        plan_id,
    )
    return _plan_state(row) if row else None


def _plan_state(row: Row) -> PlanState:
    return PlanState(id=row["id"], amount=row["amount"], currency=row["currency"], allocated=row["allocated"])


async def lines_in_scope(conn: asyncpg.Connection, fiscal_year: int, team: str, channel: str | None) -> list[Row]:
    return await conn.fetch(
        """
        SELECT id, amount, currency FROM budget_lines
        WHERE fiscal_year = $1 AND team = $2 AND ($3::text IS NULL OR channel = $3) ORDER BY id
        """,
        fiscal_year, team, channel,
    )


async def insert_plan(conn: asyncpg.Connection, *, plan_id: str, name: str | None, scope: PlanScope,
                      amount: Decimal, currency: str, actor: str) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO plans (id, name, fiscal_year, team, channel, amount, currency, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT DO NOTHING
        RETURNING true
        """,
        plan_id, name, scope.fiscal_year, scope.team, scope.channel, amount, currency, actor,
    )
    return bool(inserted)


async def plan_row(conn: asyncpg.Connection, plan_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM plans WHERE id = $1", plan_id)


async def set_plan_amount(conn: asyncpg.Connection, plan_id: str, amount: Decimal) -> None:
    await conn.execute("UPDATE plans SET amount = $2, updated_at = now() WHERE id = $1", plan_id, amount)


async def add_plan_change(conn: asyncpg.Connection, *, plan_id: str, kind: str, delta: Decimal,
                          amount_after: Decimal, reason: str | None, actor: str) -> None:
    await conn.execute(
        """
        INSERT INTO plan_changes (plan_id, kind, delta, amount_after, reason, actor)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        plan_id, kind, delta, amount_after, reason, actor,
    )


async def list_plans(conn: asyncpg.Connection, fiscal_year: int | None, team: str | None) -> list[Row]:
    return await conn.fetch(
        f"""
        SELECT {_PLAN_TOTALS}
        FROM plans p
        WHERE ($1::int IS NULL OR p.fiscal_year = $1) AND ($2::text IS NULL OR p.team = $2)
        ORDER BY p.fiscal_year, p.team, p.channel NULLS FIRST, p.id
        """,
        fiscal_year, team,
    )


async def plan_totals(conn: asyncpg.Connection, plan_id: str) -> Row | None:
    return await conn.fetchrow(f"SELECT {_PLAN_TOTALS} FROM plans p WHERE p.id = $1", plan_id)


# A plan beside what its lines were given and what they reserved, committed and spent.
_PLAN_TOTALS = """
    p.*,
    coalesce((SELECT sum(b.amount) FROM line_plans lp JOIN line_balances b ON b.id = lp.line_id
              WHERE lp.plan_id = p.id), 0) AS allocated,
    coalesce((SELECT sum(b.reserved) FROM line_plans lp JOIN line_balances b ON b.id = lp.line_id
              WHERE lp.plan_id = p.id), 0) AS reserved,
    coalesce((SELECT sum(b.committed) FROM line_plans lp JOIN line_balances b ON b.id = lp.line_id
              WHERE lp.plan_id = p.id), 0) AS committed,
    coalesce((SELECT sum(b.spent) FROM line_plans lp JOIN line_balances b ON b.id = lp.line_id
              WHERE lp.plan_id = p.id), 0) AS spent
"""


async def plan_lines(conn: asyncpg.Connection, plan_id: str) -> list[Row]:
    return await conn.fetch(
        """
        SELECT b.* FROM line_plans lp JOIN line_balances b ON b.id = lp.line_id
        WHERE lp.plan_id = $1 ORDER BY b.quarter, b.channel, b.id
        """,
        plan_id,
    )


async def plan_campaigns(conn: asyncpg.Connection, plan_id: str, readable: Readable) -> list[Row]:
    """Per (line, campaign) of the plan: requested, held, committed and spent, for the
    campaigns the caller may read (their rows are per-campaign data)."""
    cond = readable(2)
    return await conn.fetch(
        f"""
        SELECT e.line_id, e.campaign_id, cb.title, cb.amount AS requested, cb.currency AS requested_currency,
               e.held, coalesce(h.status, 'none') AS hold_status,
               CASE WHEN h.status = 'committed' THEN h.amount ELSE 0 END AS committed, e.spent
        FROM line_plans lp
        JOIN line_exposure e ON e.line_id = lp.line_id
        LEFT JOIN holds h ON h.campaign_id = e.campaign_id AND h.budget_line_id = e.line_id
                          AND h.status IN ('reserved', 'committed')
        LEFT JOIN current_briefs cb ON cb.campaign_id = e.campaign_id
        LEFT JOIN campaign_parties p ON p.campaign_id = e.campaign_id
        WHERE lp.plan_id = $1 AND {cond.sql}
        ORDER BY e.line_id, e.campaign_id
        """,
        plan_id, *cond.params,
    )


async def plan_campaigns_hidden(conn: asyncpg.Connection, plan_id: str, readable: Readable) -> int:
    """How many (line, campaign) rows of the plan the caller may not read (a campaign without
    parties counts as unreadable unless the caller reads everything, as the condition has it)."""
    cond = readable(2)
    if cond.sql == "TRUE":
        return 0
    n: int = await conn.fetchval(
        f"""
        SELECT count(*) FROM line_plans lp JOIN line_exposure e ON e.line_id = lp.line_id
        LEFT JOIN campaign_parties p ON p.campaign_id = e.campaign_id
        WHERE lp.plan_id = $1 AND ({cond.sql}) IS NOT TRUE
        """,
        plan_id, *cond.params,
    )
    return n


# ------------------------------------------------------------------- phasing


async def set_phasing(conn: asyncpg.Connection, line_id: str, months: dict[dt.date, Decimal]) -> None:
    await conn.execute("DELETE FROM line_phasing WHERE budget_line_id = $1", line_id)
    await conn.executemany("INSERT INTO line_phasing (budget_line_id, month, amount) VALUES ($1, $2, $3)",
                           [(line_id, m, a) for m, a in sorted(months.items())])


async def line_phasing(conn: asyncpg.Connection, line_id: str) -> dict[dt.date, Decimal]:
    rows = await conn.fetch("SELECT month, amount FROM line_phasing WHERE budget_line_id = $1", line_id)
    return {r["month"]: r["amount"] for r in rows}


async def phasing_of(conn: asyncpg.Connection, line_id: str) -> list[Row]:
    """Each month of the line's phasing or spend: planned, spent, and both cumulated."""
    return await conn.fetch(
        """
        WITH months AS (
            SELECT month, amount AS planned, 0::numeric AS spent FROM line_phasing WHERE budget_line_id = $1
            UNION ALL
            SELECT date_trunc('month', incurred_on)::date, 0, amount FROM spend_ledger
            WHERE line_id = $1 AND attribution = 'attributed'
        ), per_month AS (
            SELECT month, sum(planned) AS planned, sum(spent) AS spent FROM months GROUP BY month
        )
        SELECT month, planned, spent,
               sum(planned) OVER (ORDER BY month) AS cumulative_planned,
               sum(spent) OVER (ORDER BY month) AS cumulative_spent
        FROM per_month ORDER BY month
        """,
        line_id,
    )


# ------------------------------------------------------------------- run-out forecast


async def forecast_inputs(conn: asyncpg.Connection, line_id: str) -> tuple[Row | None, list[CampaignRun]]:
    """The line's balance and every campaign committed on it, with its flight (of the
    committed version) and its spend on the line."""
    line = await line_balance(conn, line_id)
    if line is None:
        return None, []
    rows = await conn.fetch(
        """
        SELECT h.campaign_id, h.amount AS committed, b.flight_start, b.flight_end,
               coalesce((SELECT sum(s.amount) FROM spend_ledger s
                         WHERE s.campaign_id = h.campaign_id AND s.line_id = h.budget_line_id
                           AND s.attribution = 'attributed'), 0) AS spent
        FROM holds h
        JOIN briefs b ON b.campaign_id = h.campaign_id AND b.version = h.brief_version
        WHERE h.budget_line_id = $1 AND h.status = 'committed'
        ORDER BY h.campaign_id
        """,
        line_id,
    )
    return line, [CampaignRun(campaign_id=r["campaign_id"], committed=r["committed"], spent=r["spent"],
                              flight_start=r["flight_start"], flight_end=r["flight_end"]) for r in rows]


async def forecast_state(conn: asyncpg.Connection, line_id: str
                         ) -> tuple[Row | None, list[CampaignRun], Announcement | None]:
    """The forecast's inputs and the last announcement in one round trip: the line's amount,
    currency and spend (its campaigns' ``campaign_line_spend`` rows, kept by triggers: a row
    per campaign, not a sum over the line's ledger), each campaign committed on it as a row
    of values (with its own spend on the line)."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT row(l.amount, l.currency, line_spent(l.id)) FROM budget_lines l
                WHERE l.id = $1) AS line,
               ARRAY(SELECT (h.campaign_id, h.amount,
                             coalesce((SELECT k.spent FROM campaign_line_spend k
                                       WHERE k.campaign_id = h.campaign_id AND k.line_id = h.budget_line_id), 0),
                             b.flight_start, b.flight_end)
                     FROM holds h
                     JOIN briefs b ON b.campaign_id = h.campaign_id AND b.version = h.brief_version
                     WHERE h.budget_line_id = $1 AND h.status = 'committed'
                     ORDER BY h.campaign_id) AS runs,
               (SELECT a FROM run_out_announcements a WHERE a.budget_line_id = $1) AS announced
        """,
        line_id,
    )
    found, announced = row["line"], row["announced"]
    if found is None:
        return None, [], None
    line = {"amount": found[0], "currency": found[1], "spent": found[2]}
    runs = [CampaignRun(campaign_id=r[0], committed=r[1], spent=r[2], flight_start=r[3], flight_end=r[4])
            for r in row["runs"]]
    last = None if announced is None else Announcement(revision=announced["revision"],
                                                       run_out_on=announced["run_out_on"],
                                                       within_horizon=announced["within_horizon"])
    return line, runs, last


async def lines_to_forecast(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT budget_line_id FROM holds WHERE status = 'committed'
        UNION
        SELECT budget_line_id FROM run_out_announcements WHERE within_horizon
        ORDER BY 1
        """)
    return [r["budget_line_id"] for r in rows]


async def lock_forecast(conn: asyncpg.Connection, line_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('run-out:' || $1, 0))", line_id)


async def last_announcement(conn: asyncpg.Connection, line_id: str) -> Announcement | None:
    row = await conn.fetchrow("SELECT * FROM run_out_announcements WHERE budget_line_id = $1", line_id)
    if row is None:
        return None
    return Announcement(revision=row["revision"], run_out_on=row["run_out_on"],
                        within_horizon=row["within_horizon"])


async def save_announcement(conn: asyncpg.Connection, line_id: str, revision: int, as_of: dt.date,
                            run_out_on: dt.date | None, within_horizon: bool) -> None:
    await conn.execute(
        """
        INSERT INTO run_out_announcements (budget_line_id, revision, as_of, run_out_on, within_horizon)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (budget_line_id) DO UPDATE SET revision = EXCLUDED.revision, as_of = EXCLUDED.as_of,
            run_out_on = EXCLUDED.run_out_on, within_horizon = EXCLUDED.within_horizon, announced_at = now()
        """,
        line_id, revision, as_of, run_out_on, within_horizon,
    )


async def lock_forecasts_of(conn: asyncpg.Connection, campaign_ids: list[str]) -> list[str]:
    """The lines the campaigns hold money on or spend against (their forecasts may have moved),
    each line's forecast lock taken, in line order, in the same round trip. Spent against:
    a ``campaign_line_spend`` row, which every line their counted spend was ever on has (one
    a spend just left too), read instead of the campaigns' ledgers."""
    rows = await conn.fetch(
        """
        SELECT line_id, pg_advisory_xact_lock(hashtextextended('run-out:' || line_id, 0))
        FROM (SELECT budget_line_id AS line_id FROM holds WHERE campaign_id = ANY($1::text[])
              UNION
              SELECT line_id FROM campaign_line_spend WHERE campaign_id = ANY($1::text[])
              ORDER BY 1 OFFSET 0) lines
        """,
        campaign_ids,
    )
    return [r["line_id"] for r in rows]


# ------------------------------------------------------------------- change in flight


async def insert_change_request(conn: asyncpg.Connection, d: c.ChangeRequested, *, requested_at: dt.datetime,
                                event_id: uuid.UUID) -> None:
    proposal = d.brief
    await conn.execute(
        """
        INSERT INTO change_requests (change_id, campaign_id, brief_version, base_version, budget_line_id, amount,
                                     currency, title, team, flight_start, flight_end, requested_at, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (change_id) DO NOTHING
        """,
        d.change_id, d.campaign_id, proposal.version, d.base_version, proposal.budget_request.budget_line_id,
        proposal.budget_request.amount.amount, proposal.budget_request.amount.currency, proposal.title,
        proposal.team, proposal.flight_start, proposal.flight_end, requested_at, event_id)


async def insert_change_outcome(conn: asyncpg.Connection, d: c.ChangeDecided, *, decided_at: dt.datetime,
                                event_id: uuid.UUID) -> None:
    await conn.execute(
        """
        INSERT INTO change_outcomes (change_id, campaign_id, outcome, decided_at, event_id)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (change_id) DO NOTHING
        """,
        d.change_id, d.campaign_id, d.outcome.value, decided_at, event_id)


async def change_requests(conn: asyncpg.Connection, campaign_id: str) -> list[ChangeRequest]:
    rows = await conn.fetch(
        """
        SELECT r.*, o.outcome FROM change_requests r LEFT JOIN change_outcomes o USING (change_id)
        WHERE r.campaign_id = $1 ORDER BY r.brief_version
        """,
        campaign_id)
    return [ChangeRequest(r["change_id"], r["campaign_id"], r["brief_version"], r["budget_line_id"], r["amount"],
                          r["currency"], r["state"], r["outcome"]) for r in rows]


async def change_row(conn: asyncpg.Connection, change_id: str) -> Row:
    return await conn.fetchrow("SELECT * FROM change_requests WHERE change_id = $1", change_id)


async def set_change_state(conn: asyncpg.Connection, change_id: str, state: str) -> None:
    await conn.execute("UPDATE change_requests SET state = $2 WHERE change_id = $1", change_id, state)


async def set_top_up(conn: asyncpg.Connection, campaign_id: str, top_up: Decimal) -> None:
    await conn.execute("UPDATE holds SET top_up = $2, updated_at = now() WHERE campaign_id = $1", campaign_id, top_up)


async def changes_of(conn: asyncpg.Connection, campaign_id: str) -> list[Row]:
    return await conn.fetch(
        """
        SELECT r.change_id, r.brief_version, r.amount, r.currency, r.state, o.outcome
        FROM change_requests r LEFT JOIN change_outcomes o USING (change_id)
        WHERE r.campaign_id = $1 ORDER BY r.brief_version
        """,
        campaign_id)
