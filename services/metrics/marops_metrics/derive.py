"""Per-campaign derived rows (``campaigns``, ``campaign_money``), recomputed from facts in SQL.

After a batch merged its facts, the campaigns it touched are derived again by two
set-based statements over their ids (one per table: ``_CAMPAIGNS_SQL``, ``_MONEY_SQL``),
whatever the number of campaigns: no fact travels to Python. Each column is the SQL
form of the domain's definition of that measure (``domain.Campaign``); the domain's
pure computation stays the oracle the tests hold these rows to (the property test
compares every report with ``aggregates`` over ``domain.build_campaigns``).

Adding a per-campaign measure: a column in a migration, its expression in
``_CAMPAIGNS_SQL`` (reading the facts through the laterals, or a new one for a new fact
table), the same rule in ``domain.Campaign``, and the report reading the column.

Two consumers (replicas, or the live consumer and a rebuild's catch-up) may touch one
campaign at once, each having merged a different fact. Each takes a per-campaign
transaction lock *after* merging and *before* reading the facts back: whoever derives
last waits for the other's commit and sees both facts.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from .projection import Touched, bump_revision, checked

CAMPAIGN_LOCK_SPACE = 0x6D65  # first key of the two-key advisory locks on campaigns
CHUNK = 20_000  # campaigns derived per statement when deriving everything
# Tables written by the derivation (and read by the reports), not by the projection.
DERIVED_TABLES = frozenset({"campaigns", "campaign_money", "derived_decisions", "summary_campaigns",
                            "summary_money", "summary_gates", "summary_buckets", "group_campaigns", "group_money",
                            "group_gates", "group_buckets", "value_counts"})


def _quarter(day: str) -> str:
    """``domain.quarter_of`` of a date expression: "2026-Q1" (the year unpadded, as Python)."""
    return (f"CASE WHEN {day} IS NOT NULL THEN extract(year FROM {day})::int::text || '-Q' || "
            f"extract(quarter FROM {day})::int::text END")


# One row per id that any fact mentions. The laterals read each fact table through its
# campaign index; ``x`` names the few values several columns share.
_CAMPAIGNS_SQL = """
INSERT INTO {s}.campaigns AS t (
    campaign_id, title, team, owner, authors, channels, status, submitted, latest_version, revisions,
    rejections, first_submitted_at, submitted_on, submission_quarter, target_launch_date, launched_at,
    launched_on, launch_quarter, on_time, cycle_time_hours, data_complete, cancelled_at, completed_at,
    budget_line_id, default_spend_line, committed_line_id, committed, committed_currency)
SELECT i.id, lb.title, lb.team, lb.owner, coalesce(bv.authors, '{{}}'), coalesce(lb.channels, '{{}}'),
    CASE WHEN ca.cancelled_at IS NOT NULL THEN 'cancelled'
         WHEN co.completed_at IS NOT NULL THEN 'completed'
         WHEN l.launched_at IS NOT NULL THEN 'launched'
         WHEN lb.version IS NULL THEN 'unknown'
         WHEN gd.current_rejected THEN 'rejected'
         WHEN gd.current_rejection THEN 'changes_requested'
         WHEN gd.current_last_approved THEN 'approved'
         ELSE 'in_review' END,
    lb.version IS NOT NULL, coalesce(lb.version, 0), greatest(coalesce(lb.version, 0) - 1, 0),
    coalesce(gd.rejections, 0), x.first_at, x.first_on, {submission_quarter}, lb.target_launch_date,
    l.launched_at, x.launched_on, {launch_quarter},
    CASE WHEN l.launched_at IS NOT NULL AND lb.target_launch_date IS NOT NULL
         THEN x.launched_on <= lb.target_launch_date END,
    CASE WHEN l.launched_at IS NOT NULL AND bv.v1_at IS NOT NULL
         THEN extract(epoch FROM l.launched_at - bv.v1_at)::float8 / 3600 END,
    CASE WHEN l.launched_at IS NOT NULL THEN l.kpis_with_targets AND l.tracking_plan_defined END,
    ca.cancelled_at, co.completed_at,
    coalesce(nullif(cm.budget_line_id, ''), lb.budget_line_id),
    CASE WHEN cm.event_id IS NOT NULL THEN cm.budget_line_id ELSE lb.budget_line_id END,
    cm.budget_line_id,
    -- The latest commitment's amount; 0 once the campaign is cancelled or a release frees it
    -- (a release names the version it frees; one without releases what was committed before it).
    CASE WHEN cm.event_id IS NULL THEN NULL
         WHEN ca.cancelled_at IS NOT NULL OR EXISTS (
             SELECT 1 FROM {s}.releases r WHERE r.campaign_id = i.id
               AND CASE WHEN r.brief_version IS NOT NULL THEN r.brief_version = cm.brief_version
                        ELSE r.released_at >= cm.committed_at END) THEN 0
         ELSE cm.amount END,
    cm.currency
FROM (SELECT DISTINCT unnest($1::text[]) AS id) i
LEFT JOIN LATERAL (SELECT * FROM {s}.brief_versions b WHERE b.campaign_id = i.id
                   ORDER BY b.version DESC LIMIT 1) lb ON true
LEFT JOIN LATERAL (SELECT min(b.submitted_at) FILTER (WHERE b.version = 1) AS v1_at,
                          min(b.submitted_at) AS earliest_at,
                          (SELECT array_agg(DISTINCT a COLLATE "C" ORDER BY a COLLATE "C")
                           FROM {s}.brief_versions b2, unnest(b2.authors) a WHERE b2.campaign_id = i.id) AS authors
                   FROM {s}.brief_versions b WHERE b.campaign_id = i.id) bv ON true
LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE d.outcome = 'rejected') AS rejections,
                          bool_or(d.outcome = 'rejected' AND d.rejection_kind = 'rejected'
                                  AND d.brief_version = lb.version) AS current_rejected,
                          bool_or(d.outcome = 'rejected' AND d.brief_version = lb.version) AS current_rejection,
                          bool_or(d.outcome = 'approved' AND d.is_last_gate
                                  AND d.brief_version = lb.version) AS current_last_approved
                   FROM {s}.gate_decisions d WHERE d.campaign_id = i.id) gd ON true
LEFT JOIN {s}.launches l ON l.campaign_id = i.id
LEFT JOIN {s}.cancellations ca ON ca.campaign_id = i.id
LEFT JOIN {s}.completions co ON co.campaign_id = i.id
LEFT JOIN LATERAL (SELECT * FROM {s}.commitments c WHERE c.campaign_id = i.id
                   ORDER BY c.committed_at DESC, c.brief_version DESC, c.event_id DESC LIMIT 1) cm ON true
CROSS JOIN LATERAL (SELECT coalesce(bv.v1_at, bv.earliest_at) AS first_at,
                           (coalesce(bv.v1_at, bv.earliest_at) AT TIME ZONE 'UTC')::date AS first_on,
                           (l.launched_at AT TIME ZONE 'UTC')::date AS launched_on) x
WHERE lb.campaign_id IS NOT NULL OR gd.n > 0 OR l.campaign_id IS NOT NULL OR ca.campaign_id IS NOT NULL
   OR co.campaign_id IS NOT NULL OR cm.event_id IS NOT NULL
   OR EXISTS (SELECT 1 FROM {s}.releases r WHERE r.campaign_id = i.id)
   OR EXISTS (SELECT 1 FROM {s}.spends sp WHERE sp.campaign_id = i.id)
""".replace("{submission_quarter}", _quarter("x.first_on")).replace("{launch_quarter}", _quarter("x.launched_on"))


def _upsert(key: str, columns: str) -> str:
    """``ON CONFLICT`` that rewrites a derived row only when it changed (as text, so a
    number's written scale counts too): the totals' triggers then see just the changes."""
    names = [c.strip() for c in columns.split(",")]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in key.split(", "))
    return (f"ON CONFLICT ({key}) DO UPDATE SET {sets} "
            f"WHERE ROW(t.*)::text IS DISTINCT FROM ROW(EXCLUDED.*)::text")


_CAMPAIGN_COLUMNS = ("campaign_id, title, team, owner, authors, channels, status, submitted, latest_version, "
                     "revisions, rejections, first_submitted_at, submitted_on, submission_quarter, "
                     "target_launch_date, launched_at, launched_on, launch_quarter, on_time, cycle_time_hours, "
                     "data_complete, cancelled_at, completed_at, budget_line_id, default_spend_line, "
                     "committed_line_id, committed, committed_currency")

# Per campaign and currency (``aggregates.campaign_variance``): what the latest commitment
# still commits in its currency, and all spend (with its unreconciled part) per currency.
_MONEY_SQL = """
INSERT INTO {s}.campaign_money (campaign_id, currency, committed, actual, unreconciled, has_spend, groups)
SELECT c.campaign_id, k.currency,
       CASE WHEN k.currency = c.committed_currency THEN c.committed ELSE 0 END,
       coalesce(k.actual, 0), coalesce(k.unreconciled, 0), k.actual IS NOT NULL,
       metrics_groups(c.team, c.channels, NULL, c.submission_quarter)
FROM {s}.campaigns c
CROSS JOIN LATERAL (
    SELECT sp.currency, sum(sp.amount) AS actual,
           sum(sp.amount) FILTER (WHERE r.status = 'unreconciled') AS unreconciled
    FROM {s}.spends sp LEFT JOIN {s}.spend_reconciliations r
         ON r.source_system = sp.source_system AND r.source_reference = sp.source_reference
    WHERE sp.campaign_id = c.campaign_id
    GROUP BY sp.currency
    UNION ALL
    SELECT c.committed_currency, NULL, NULL
    WHERE c.committed_currency IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM {s}.spends sp WHERE sp.campaign_id = c.campaign_id AND sp.currency = c.committed_currency)
) k
WHERE c.campaign_id = ANY($1::text[])
"""


_IDS = "campaign_id = ANY($1::text[])"
# The campaign's decisions as derived: what the totals of gates hold for it.
_DECISION_COLUMNS = ("campaign_id, brief_version, gate_id, outcome, decided_at, gate_name, gate_position, "
                     "hours_in_gate, micros_in_gate, breached_sla, groups")
_DECISIONS_SQL = f"""INSERT INTO {{s}}.derived_decisions AS t ({_DECISION_COLUMNS})
    SELECT d.campaign_id, d.brief_version, d.gate_id, d.outcome, d.decided_at, d.gate_name, d.gate_position,
           d.hours_in_gate, (extract(epoch FROM d.decided_at - d.actionable_at) * 1000000)::bigint, d.breached_sla,
           metrics_groups(c.team, c.channels, NULL, c.submission_quarter)
    FROM {{s}}.gate_decisions d JOIN {{s}}.campaigns c ON c.campaign_id = d.campaign_id
    WHERE d.{_IDS}
    {_upsert("campaign_id, brief_version, gate_id, outcome", _DECISION_COLUMNS)}"""
# (a decision makes its campaign exist: each has its campaign row)
# Every derived row of the campaigns: their description and measures, money, decisions.
# Campaign and decision rows never go away (facts only accumulate), so they are upserted,
# rewritten only where they changed; a campaign's money rows can (a recommitment in another
# currency), so they are replaced.
_REPLACE = (
    f"DELETE FROM {{s}}.campaign_money WHERE {_IDS}",
    _CAMPAIGNS_SQL + _upsert("campaign_id", _CAMPAIGN_COLUMNS),
    _MONEY_SQL,
    _DECISIONS_SQL,
)
# Campaigns whose spends alone changed: their money rows, and a campaign row only where
# there is none (a spend makes its campaign exist; nothing else of the row reads spends).
_NEW_CAMPAIGNS_SQL = _CAMPAIGNS_SQL.replace(
    "FROM (SELECT DISTINCT unnest($1::text[]) AS id) i",
    "FROM (SELECT DISTINCT u.id FROM unnest($1::text[]) AS u(id) WHERE NOT EXISTS (\n"
    "          SELECT 1 FROM {s}.campaigns e WHERE e.campaign_id = u.id)) i")
assert _NEW_CAMPAIGNS_SQL != _CAMPAIGNS_SQL
_REPLACE_MONEY = (
    f"DELETE FROM {{s}}.campaign_money WHERE {_IDS}",
    _NEW_CAMPAIGNS_SQL,
    _MONEY_SQL,
)
# The lock the totals' triggers take (migrations/010_summary_rows.sql): taken here first,
# after the campaign locks, so a derivation never waits for a campaign while holding it.
SUMMARY_LOCK_SPACE = 29557


async def recompute_totals(conn: asyncpg.Connection, schema: str) -> None:
    """Every total recomputed from the derived rows as they stand, inside the caller's
    transaction (a read model whose rows were written by other means: seeded by a
    benchmark). The rows are put back once, so the triggers add each up once."""
    s = checked(schema)
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", SUMMARY_LOCK_SPACE, s)
    # A money row counts under its campaign's groups as they are now (before the totals are
    # emptied: the update's trigger changes them).
    await conn.execute(f"UPDATE {s}.campaign_money m SET groups = metrics_groups(c.team, c.channels, "
                       f"NULL, c.submission_quarter) FROM {s}.campaigns c "
                       f"WHERE c.campaign_id = m.campaign_id")
    await conn.execute(f"TRUNCATE {s}.derived_decisions, {s}.summary_campaigns, {s}.summary_money, "
                       f"{s}.summary_gates, {s}.summary_buckets, {s}.group_campaigns, {s}.group_money, "
                       f"{s}.group_gates, {s}.group_buckets, {s}.value_counts")
    for table in ("campaigns", "campaign_money"):
        await conn.execute(f"CREATE TEMPORARY TABLE kept_{table} ON COMMIT DROP AS SELECT * FROM {s}.{table}")
        await conn.execute(f"TRUNCATE {s}.{table}")  # no trigger: nothing is subtracted
        await conn.execute(f"INSERT INTO {s}.{table} SELECT * FROM kept_{table}")
    ids = [r[0] for r in await conn.fetch(f"SELECT campaign_id FROM {s}.campaigns")]
    await conn.execute(_DECISIONS_SQL.format(s=s), ids)


async def refresh(conn: asyncpg.Connection, schema: str, campaign_ids: Iterable[str] | Touched) -> None:
    """Derive the campaigns again from their facts (inside the caller's transaction): every
    derived row of ``campaign_ids`` (or of a batch's ``Touched.campaigns``), and the money
    rows of ``Touched.money``."""
    touched = campaign_ids if isinstance(campaign_ids, Touched) else Touched(set(campaign_ids))
    everything = sorted(touched.campaigns)
    money = sorted(touched.money - touched.campaigns)
    if not everything and not money:
        return
    # In id order, so two transactions locking overlapping sets cannot deadlock.
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(id)) FROM (SELECT unnest($2::text[]) AS id ORDER BY 1) ids",
        CAMPAIGN_LOCK_SPACE, sorted([*everything, *money]))
    await write(conn, schema, everything, money)


async def write(conn: asyncpg.Connection, schema: str, ids: list[str], money: list[str] | None = None) -> None:
    """Replace the derived rows of ``ids`` (and the money rows of ``money``) by what their
    facts give now; the totals follow (triggers). The totals are shared by every campaign:
    one transaction at a time updates them (a lock held to its commit), so their rows are
    never locked in two orders. No statement runs for an empty list (a statement trigger
    fires even for no rows)."""
    s = checked(schema)
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", SUMMARY_LOCK_SPACE, s)
    if ids:
        for statement in _REPLACE:
            await conn.execute(statement.format(s=s), ids)
    if money:
        for statement in _REPLACE_MONEY:
            await conn.execute(statement.format(s=s), money)


async def refresh_all(pool: asyncpg.Pool, schema: str) -> int:
    """Derive every campaign of ``schema`` (a rebuild, before its swap), a chunk of ids per
    transaction. Returns the campaigns derived."""
    s = checked(schema)
    async with pool.acquire() as conn:
        ids = [r[0] for r in await conn.fetch(_ALL_CAMPAIGNS.format(s=s))]
    for i in range(0, len(ids), CHUNK):
        async with pool.acquire() as conn, conn.transaction():
            await write(conn, s, ids[i:i + CHUNK])
    return len(ids)


async def refresh_missing(pool: asyncpg.Pool, schema: str) -> int:
    """Derive campaigns that have facts but no derived row (facts stored before the derived
    rows existed). Cheap when there are none; run at start-up."""
    s = checked(schema)
    async with pool.acquire() as conn:
        ids = [r[0] for r in await conn.fetch(
            f"SELECT id FROM ({_ALL_CAMPAIGNS.format(s=s)}) f(id) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {s}.campaigns c WHERE c.campaign_id = f.id)")]
    for i in range(0, len(ids), CHUNK):
        async with pool.acquire() as conn, conn.transaction():
            await refresh(conn, s, ids[i:i + CHUNK])
            await bump_revision(conn, s)
    return len(ids)


_ALL_CAMPAIGNS = """
    SELECT campaign_id FROM {s}.brief_versions UNION SELECT campaign_id FROM {s}.gate_decisions
    UNION SELECT campaign_id FROM {s}.launches UNION SELECT campaign_id FROM {s}.cancellations
    UNION SELECT campaign_id FROM {s}.completions UNION SELECT campaign_id FROM {s}.commitments
    UNION SELECT campaign_id FROM {s}.releases UNION SELECT campaign_id FROM {s}.spends
    ORDER BY 1
"""
