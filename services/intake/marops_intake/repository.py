"""Intake's SQL. Every function takes the caller's connection (and so its transaction)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from marops_events import contracts as c
from marops_service.access import SqlCondition

from .domain.brief import Brief, Catalogue
from .domain.status import Fact, FactKind, StatusChange
from .listing import Cursor, Filters, Sort, like_pattern

CAMPAIGN_COLUMNS = """
    id, created_by, authors, created_at, brief, title, team, owner, target_launch_date, channels, current_version,
    status, status_reason, status_since, last_changed_at, cancelled_at, cancelled_by, cancel_reason,
    completed_at, completed_by, results
"""


def _searchable(brief: Brief) -> tuple[Any, ...]:
    return (brief.title, brief.team, brief.owner, brief.target_launch_date,
            [ch.value for ch in brief.channels or []])


# First launch - first submission of the launched campaigns of the team or sharing a channel.
_CYCLE_SAMPLES = """
        SELECT c.team, c.channels, extract(epoch FROM min(f.occurred_at) - v1.submitted_at) AS seconds
        FROM governance_facts f
        JOIN brief_versions v1 ON v1.campaign_id = f.campaign_id AND v1.version = 1
        JOIN campaigns c ON c.id = f.campaign_id
        WHERE f.event_type = 'CampaignLaunched' AND (c.team = {team} OR c.channels && {channels}::text[])
        GROUP BY c.id, c.team, c.channels, v1.submitted_at
"""


_INSERT_CAMPAIGN = f"""
        INSERT INTO campaigns (id, created_by, authors, created_at, brief, title, team, owner, target_launch_date,
                               channels, status, status_since, last_changed_at)
        VALUES ($1, $2, ARRAY[$2], $3, $4, $5, $6, $7, $8, $9, 'draft', $3, $3)
        RETURNING {CAMPAIGN_COLUMNS}
"""
# $6 is the team, $9 the channels
_INSERT_CAMPAIGN_WITH_SAMPLES = f"""
        WITH new AS ({_INSERT_CAMPAIGN}),
             samples AS ({_CYCLE_SAMPLES.format(team="$6", channels="$9")})
        SELECT new.*, ARRAY(SELECT ROW(s.team, s.channels, s.seconds) FROM samples s) AS cycle_samples
        FROM new
"""


async def insert_campaign(conn: asyncpg.Connection, campaign_id: str, brief: Brief, *, created_by: str,
                          now: dt.datetime, with_cycle_samples: bool = False) -> asyncpg.Record:
    """The new campaign's row, as ``get_campaign`` reads it (one round trip).

    ``with_cycle_samples``: also ``cycle_samples``, what ``cycle_samples`` reads for the
    brief's team and channels (records of team, channels, seconds), in the same statement: a
    draft with a target date is checked for an unrealistic one, and that read was a second
    round trip on every such create. It sees the tables as they were before the insert,
    which changes nothing: a new campaign has not launched."""
    sql = _INSERT_CAMPAIGN_WITH_SAMPLES if with_cycle_samples else _INSERT_CAMPAIGN
    return await conn.fetchrow(sql, campaign_id, created_by, now, brief.to_json(), *_searchable(brief))


async def get_campaign(conn: asyncpg.Connection, campaign_id: str) -> asyncpg.Record | None:
    # commands serialise on marops_service.locks.lock_campaign, taken before this read
    return await conn.fetchrow(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1", campaign_id)


# A campaign's facts beside it, one round trip: each table's rows as an array of its row
# type (asyncpg decodes each element as a record of the table's columns).
_FACTS = """
    ARRAY(SELECT v FROM brief_versions v WHERE v.campaign_id = $1 ORDER BY v.version) AS fact_versions,
    ARRAY(SELECT g FROM governance_facts g WHERE g.campaign_id = $1 ORDER BY g.occurred_at, g.fact_key)
        AS fact_governance,
    ARRAY(SELECT o FROM ownership_transfers o WHERE o.campaign_id = $1 ORDER BY o.at) AS fact_transfers,
    ARRAY(SELECT p FROM pauses p WHERE p.campaign_id = $1 ORDER BY p.pause) AS fact_pauses,
    ARRAY(SELECT r FROM change_requests r WHERE r.campaign_id = $1 ORDER BY r.version) AS fact_changes
"""


async def get_campaign_with_facts(conn: asyncpg.Connection, campaign_id: str, *,
                                  with_catalogue: bool = False) -> asyncpg.Record | None:
    """The campaign's row (``get_campaign``'s columns) with ``campaign_facts``' lists;
    ``with_catalogue``: also ``latest_catalogue``, the newest metric_catalogue row (or
    None), for ``catalogue_of`` (a submit checks the brief's KPIs against it)."""
    catalogue = ", (SELECT m FROM metric_catalogue m ORDER BY m.version DESC LIMIT 1) AS latest_catalogue" \
        if with_catalogue else ""
    return await conn.fetchrow(f"SELECT {CAMPAIGN_COLUMNS}, {_FACTS}{catalogue} FROM campaigns WHERE id = $1",
                               campaign_id)


async def campaign_facts(conn: asyncpg.Connection, campaign_id: str) -> asyncpg.Record:
    """Of one campaign: ``fact_versions`` (rows of brief_versions, in order), ``fact_governance``
    (governance_facts, by time), ``fact_transfers`` (ownership_transfers), ``fact_pauses``
    (pauses) and ``fact_changes`` (change_requests); whole rows, read by column name."""
    return await conn.fetchrow(f"SELECT {_FACTS}", campaign_id)


async def save_brief(conn: asyncpg.Connection, campaign_id: str, brief: Brief, *, edited_by: str,
                     now: dt.datetime) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET brief = $2, title = $3, team = $4, owner = $5, target_launch_date = $6, channels = $7,
                             last_changed_at = greatest(last_changed_at, $8),
                             authors = CASE WHEN $9 = ANY(authors) THEN authors ELSE authors || $9 END
        WHERE id = $1
        """,
        campaign_id, brief.to_json(), *_searchable(brief), now, edited_by,
    )


async def add_version(conn: asyncpg.Connection, campaign_id: str, version: int, brief: Brief, *,
                      submitted_by: str, submitted_at: dt.datetime, event_id: uuid.UUID,
                      latest: StatusChange, with_cycle_samples: bool = False) -> asyncpg.Record:
    """Store the submitted version and move the campaign to it and to ``latest``, the status
    its facts then imply; return the updated campaign with the version's stored brief
    (``submitted_brief``). One round trip: the version's INSERT runs in the WITH.
    ``with_cycle_samples``: also ``cycle_samples``, as ``insert_campaign`` reads them (the
    campaign itself, submitted and not launched, is none of them)."""
    samples = ""
    if with_cycle_samples:
        samples = (", ARRAY(SELECT ROW(s.team, s.channels, s.seconds) FROM ("
                   + _CYCLE_SAMPLES.format(team="$10", channels="$11") + ") s) AS cycle_samples")
    extra = (brief.team, [ch.value for ch in brief.channels or []]) if with_cycle_samples else ()
    return await conn.fetchrow(
        f"""
        WITH submitted AS (
            INSERT INTO brief_versions (campaign_id, version, brief, submitted_at, submitted_by, event_id)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING brief
        )
        UPDATE campaigns SET current_version = $2, last_changed_at = greatest(last_changed_at, $4),
                             authors = CASE WHEN $5 = ANY(authors) THEN authors ELSE authors || $5 END,
                             status = $7, status_reason = $8, status_since = $9
        WHERE id = $1
        RETURNING {CAMPAIGN_COLUMNS}, (SELECT brief FROM submitted) AS submitted_brief{samples}
        """,
        campaign_id, version, brief.to_json(), submitted_at, submitted_by, event_id,
        latest.status.value, latest.reason, latest.at, *extra,
    )


async def versions(conn: asyncpg.Connection, campaign_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT version, brief, submitted_at, submitted_by, event_id, change_id FROM brief_versions
        WHERE campaign_id = $1 ORDER BY version
        """,
        campaign_id,
    )


async def transfer_owner(conn: asyncpg.Connection, campaign_id: str, *, to_owner: str, by: str, reason: str,
                         at: dt.datetime) -> None:
    """The owner column and the draft's owner change together: the next version publishes it."""
    await conn.execute(
        """
        WITH previous AS (SELECT owner FROM campaigns WHERE id = $1)
        INSERT INTO ownership_transfers (campaign_id, at, from_owner, to_owner, by, reason)
        SELECT $1, $2, owner, $3, $4, $5 FROM previous
        """,
        campaign_id, at, to_owner, by, reason,
    )
    await conn.execute(
        """
        UPDATE campaigns SET owner = $2, brief = jsonb_set(brief, '{owner}', to_jsonb($2::text)),
                             last_changed_at = greatest(last_changed_at, $3)
        WHERE id = $1
        """,
        campaign_id, to_owner, at,
    )


async def mark_cancelled(conn: asyncpg.Connection, campaign_id: str, *, by: str, reason: str | None,
                         at: dt.datetime) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET cancelled_at = $2, cancelled_by = $3, cancel_reason = $4,
                             last_changed_at = greatest(last_changed_at, $2)
        WHERE id = $1
        """,
        campaign_id, at, by, reason,
    )


async def mark_completed(conn: asyncpg.Connection, campaign_id: str, *, by: str, results: list[dict[str, Any]],
                         at: dt.datetime) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET completed_at = $2, completed_by = $3, results = $4,
                             last_changed_at = greatest(last_changed_at, $2)
        WHERE id = $1
        """,
        campaign_id, at, by, results,
    )


async def add_governance_fact(conn: asyncpg.Connection, *, campaign_id: str, fact_key: str, event_type: str,
                              event_id: uuid.UUID, brief_version: int, occurred_at: dt.datetime,
                              data: dict[str, Any]) -> bool:
    """Record a consumed fact; False when this business fact was already recorded.

    A redelivery of a known fact changes it only if it says the fact happened earlier, so
    whichever copy arrives first, the earliest is what is kept."""
    return await conn.fetchval(
        """
        WITH recorded AS (
            INSERT INTO governance_facts (campaign_id, fact_key, event_type, event_id, brief_version, occurred_at,
                                          data)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (campaign_id, fact_key) DO UPDATE
                SET event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, data = EXCLUDED.data
                WHERE EXCLUDED.occurred_at < governance_facts.occurred_at
            RETURNING campaign_id
        ), touched AS (
            UPDATE campaigns SET last_changed_at = greatest(last_changed_at, $6)
            WHERE id IN (SELECT campaign_id FROM recorded)
        )
        SELECT EXISTS (SELECT 1 FROM recorded)
        """,
        campaign_id, fact_key, event_type, event_id, brief_version, occurred_at, data,
    )


async def add_governance_facts(conn: asyncpg.Connection, facts: list[tuple[str, str, str, uuid.UUID, int,
                                                                          dt.datetime, dict[str, Any]]]) -> set[str]:
    """``add_governance_fact`` for many facts (campaign id, fact key, event type, event id, brief
    version, time, data; one per business fact) in one round trip; returns the campaigns whose
    facts changed. The caller holds their locks."""
    rows = await conn.fetch(
        """
        WITH recorded AS (
            INSERT INTO governance_facts (campaign_id, fact_key, event_type, event_id, brief_version, occurred_at,
                                          data)
            SELECT f.campaign_id, f.fact_key, f.event_type, f.event_id, f.brief_version, f.occurred_at,
                   f.data::jsonb
            FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::integer[], $6::timestamptz[],
                        $7::text[]) AS f(campaign_id, fact_key, event_type, event_id, brief_version, occurred_at, data)
            ON CONFLICT (campaign_id, fact_key) DO UPDATE
                SET event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at, data = EXCLUDED.data
                WHERE EXCLUDED.occurred_at < governance_facts.occurred_at
            RETURNING campaign_id, occurred_at
        ), touched AS (
            UPDATE campaigns SET last_changed_at = greatest(last_changed_at, r.at)
            FROM (SELECT campaign_id, max(occurred_at) AS at FROM recorded GROUP BY campaign_id) r
            WHERE id = r.campaign_id
        )
        SELECT DISTINCT campaign_id FROM recorded
        """,
        *(list(column) for column in zip(*[(*f[:6], json.dumps(f[6])) for f in facts], strict=True)),
    )
    return {r["campaign_id"] for r in rows}


async def get_campaigns_with_facts(conn: asyncpg.Connection, campaign_ids: list[str]) -> list[asyncpg.Record]:
    """``get_campaign_with_facts`` of many campaigns in one round trip."""
    lists = _FACTS.replace("$1", "campaigns.id")
    return await conn.fetch(f"SELECT {CAMPAIGN_COLUMNS}, {lists} FROM campaigns WHERE id = ANY($1::text[]) ORDER BY id",
                            campaign_ids)


async def set_statuses(conn: asyncpg.Connection, changes: list[tuple[str, StatusChange]]) -> None:
    """``set_status`` of many campaigns in one round trip."""
    await conn.execute(
        """
        UPDATE campaigns c SET status = s.status, status_reason = s.reason, status_since = s.since
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS s(id, status, reason, since)
        WHERE c.id = s.id
        """,
        [cid for cid, _ in changes], [ch.status.value for _, ch in changes], [ch.reason for _, ch in changes],
        [ch.at for _, ch in changes],
    )


def facts(campaign: asyncpg.Record, version_rows: list[asyncpg.Record],
          governance_rows: list[asyncpg.Record]) -> list[Fact]:
    """Everything that decides the campaign's status: its own commands and governance's facts
    (the rows of ``versions`` and ``governance_facts``)."""
    out = [Fact("created", FactKind.created, campaign["created_at"], actor=campaign["created_by"])]
    for v in version_rows:
        if v["change_id"] is not None:
            out.append(Fact(f"change:{v['change_id']}", FactKind.change_approved, v["submitted_at"],
                            version=v["version"], actor=v["submitted_by"]))
        else:
            out.append(Fact(f"submitted:{v['version']}", FactKind.submitted, v["submitted_at"],
                            version=v["version"], actor=v["submitted_by"]))
    if campaign["cancelled_at"] is not None:
        out.append(Fact("cancelled", FactKind.cancelled, campaign["cancelled_at"], reason=campaign["cancel_reason"],
                        actor=campaign["cancelled_by"]))
    if campaign["completed_at"] is not None:
        out.append(Fact("completed", FactKind.completed, campaign["completed_at"], actor=campaign["completed_by"]))
    out.extend(_fact_of(row) for row in governance_rows)
    return out


def _fact_of(row: asyncpg.Record) -> Fact:
    data = row["data"]
    kind = {"GateApproved": FactKind.gate_approved, "GateRejected": FactKind.gate_rejected,
            "CampaignLaunched": FactKind.launched}[row["event_type"]]
    return Fact(
        row["fact_key"], kind, row["occurred_at"], version=row["brief_version"],
        gate_name=data.get("gate_name"), is_last_gate=bool(data.get("is_last_gate")),
        outright=data.get("kind") == "rejected", reason=data.get("reason"),
        actor=data.get("decided_by") or data.get("launched_by"),
    )


async def set_status(conn: asyncpg.Connection, campaign_id: str, latest: StatusChange) -> asyncpg.Record:
    """Store the campaign's current status (its latest change); return the updated campaign."""
    return await conn.fetchrow(
        f"""
        UPDATE campaigns SET status = $2, status_reason = $3, status_since = $4 WHERE id = $1
        RETURNING {CAMPAIGN_COLUMNS}
        """,
        campaign_id, latest.status.value, latest.reason, latest.at,
    )


# --- lists ------------------------------------------------------------------------------

_ORDER = {
    # sort -> (SQL expression, SQL type of its value, keyset comparison, direction)
    Sort.last_changed_desc: ("last_changed_at", "timestamptz", "<", "DESC"),
    Sort.last_changed: ("last_changed_at", "timestamptz", ">", "ASC"),
    # drafts without a date come last in both directions
    Sort.target_date: ("COALESCE(target_launch_date, 'infinity'::date)", "date", ">", "ASC"),
    Sort.target_date_desc: ("COALESCE(target_launch_date, '-infinity'::date)", "date", "<", "DESC"),
}


async def list_campaigns(conn: asyncpg.Connection, filters: Filters, *, sort: Sort, after: Cursor | None,
                         limit: int, readable: SqlCondition) -> list[asyncpg.Record]:
    """``readable`` is ``access.readable_sql`` numbered from $11."""
    expr, value_type, cmp, direction = _ORDER[sort]
    cursor_value = f"$8::{value_type}"
    if sort.by_target_date:
        # a NULL date in a cursor stands for the drafts without a date, which sort last
        last = "'infinity'" if cmp == ">" else "'-infinity'"
        cursor_value = f"COALESCE($8::date, {last}::date)"
    keyset = f"AND ($9::text IS NULL OR ({expr}, id) {cmp} ({cursor_value}, $9::text))"
    return await conn.fetch(
        f"""
        SELECT {CAMPAIGN_COLUMNS} FROM campaigns
        WHERE (cardinality($1::text[]) = 0 OR status = ANY($1::text[]))
          AND ($2::text IS NULL OR team = $2)
          AND ($3::text IS NULL OR owner = $3)
          AND ($4::text IS NULL OR $4 = ANY(channels))
          AND ($5::date IS NULL OR target_launch_date >= $5)
          AND ($6::date IS NULL OR target_launch_date <= $6)
          AND ($7::text IS NULL OR title ILIKE $7)
          AND {readable.sql}
          {keyset}
        ORDER BY {expr} {direction}, id {direction}
        LIMIT $10
        """,
        [s.value for s in filters.statuses], filters.team, filters.owner,
        filters.channel.value if filters.channel else None, filters.target_from, filters.target_to,
        like_pattern(filters.text) if filters.text else None,
        after.value if after else None, after.id if after else None, limit, *readable.params,
    )


# --- retrospectives -----------------------------------------------------------------


async def retrospective(conn: asyncpg.Connection, campaign_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT r.campaign_id, r.revision, r.recorded_by, r.recorded_at, r.what_worked, r.what_did_not_work,
               r.actions, coalesce(array_agg(l.text ORDER BY l.position) FILTER (WHERE l.text IS NOT NULL),
                                   '{}') AS lessons
        FROM retrospectives r LEFT JOIN lessons l USING (campaign_id)
        WHERE r.campaign_id = $1
        GROUP BY r.campaign_id
        """,
        campaign_id,
    )


async def save_retrospective(conn: asyncpg.Connection, r: Any) -> None:
    """Replace the campaign's retrospective (``domain.retrospective.Retrospective``) and its lessons."""
    await conn.execute(
        """
        INSERT INTO retrospectives (campaign_id, revision, recorded_by, recorded_at, what_worked, what_did_not_work,
                                    actions)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (campaign_id) DO UPDATE SET
            revision = EXCLUDED.revision, recorded_by = EXCLUDED.recorded_by, recorded_at = EXCLUDED.recorded_at,
            what_worked = EXCLUDED.what_worked, what_did_not_work = EXCLUDED.what_did_not_work,
            actions = EXCLUDED.actions
        """,
        r.campaign_id, r.revision, r.recorded_by, r.recorded_at, list(r.what_worked), list(r.what_did_not_work),
        [{"action": a.action, "owner": a.owner, "due_on": a.due_on.isoformat()} for a in r.actions],
    )
    await conn.execute("DELETE FROM lessons WHERE campaign_id = $1", r.campaign_id)
    await conn.execute(
        """
        INSERT INTO lessons (campaign_id, position, text, recorded_at)
        SELECT $1, position, text, $3 FROM unnest($2::text[]) WITH ORDINALITY AS l(text, position)
        """,
        r.campaign_id, list(r.lessons), r.recorded_at,
    )
    await conn.execute("UPDATE campaigns SET last_changed_at = greatest(last_changed_at, $2) WHERE id = $1",
                       r.campaign_id, r.recorded_at)


async def list_lessons(conn: asyncpg.Connection, *, team: str | None, channel: str | None, text: str | None,
                       after: tuple[dt.datetime, str, int] | None, limit: int,
                       readable: SqlCondition) -> list[asyncpg.Record]:
    """Lessons across campaigns, newest retrospective first, each in its order; ``readable`` is
    ``access.readable_sql`` over the campaigns' columns (``c.team``...), numbered from $8."""
    return await conn.fetch(
        f"""
        SELECT l.campaign_id, l.position, l.text, l.recorded_at, c.title, c.team, c.channels, c.owner
        FROM lessons l JOIN campaigns c ON c.id = l.campaign_id
        WHERE ($1::text IS NULL OR c.team = $1)
          AND ($2::text IS NULL OR $2 = ANY(c.channels))
          AND ($3::text IS NULL OR l.search @@ websearch_to_tsquery('english', $3))
          AND ($4::timestamptz IS NULL OR l.recorded_at < $4
               OR (l.recorded_at = $4 AND (l.campaign_id, l.position) > ($5::text, $6::integer)))
          AND {readable.sql}
        ORDER BY l.recorded_at DESC, l.campaign_id, l.position
        LIMIT $7
        """,
        team, channel, text, *(after or (None, None, None)), limit, *readable.params,
    )


# --- change in flight -------------------------------------------------------------------

PAUSE_FIELDS = ("pause", "paused_at", "paused_by", "reason", "resumed_at", "resumed_by", "resume_reason")
PAUSE_COLUMNS = ", ".join(PAUSE_FIELDS)
CHANGE_COLUMNS = """
    change_id, campaign_id, base_version, version, brief, changes, reason, requested_by, requested_at, event_id,
    outcome, decided_at, decided_by, decision_reason
"""


async def pauses(conn: asyncpg.Connection, campaign_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {PAUSE_COLUMNS} FROM pauses WHERE campaign_id = $1 ORDER BY pause",
                            campaign_id)


async def add_pause(conn: asyncpg.Connection, campaign_id: str, pause: int, *, by: str, reason: str,
                    at: dt.datetime) -> None:
    await conn.execute(
        """
        WITH paused AS (
            INSERT INTO pauses (campaign_id, pause, paused_at, paused_by, reason) VALUES ($1, $2, $3, $4, $5)
        )
        UPDATE campaigns SET last_changed_at = greatest(last_changed_at, $3) WHERE id = $1
        """,
        campaign_id, pause, at, by, reason)


async def end_pause(conn: asyncpg.Connection, campaign_id: str, pause: int, *, by: str, reason: str,
                    at: dt.datetime) -> None:
    await conn.execute(
        """
        WITH resumed AS (
            UPDATE pauses SET resumed_at = $3, resumed_by = $4, resume_reason = $5
            WHERE campaign_id = $1 AND pause = $2
        )
        UPDATE campaigns SET last_changed_at = greatest(last_changed_at, $3) WHERE id = $1
        """,
        campaign_id, pause, at, by, reason)


async def change_requests(conn: asyncpg.Connection, campaign_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {CHANGE_COLUMNS} FROM change_requests WHERE campaign_id = $1 ORDER BY version", campaign_id)


async def add_change_request(conn: asyncpg.Connection, *, change_id: str, campaign_id: str, base_version: int,
                             version: int, brief: Brief, changes: list[str], reason: str, requested_by: str,
                             requested_at: dt.datetime, event_id: uuid.UUID) -> None:
    await conn.execute(
        """
        WITH requested AS (
            INSERT INTO change_requests (change_id, campaign_id, base_version, version, brief, changes, reason,
                                         requested_by, requested_at, event_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        )
        UPDATE campaigns SET last_changed_at = greatest(last_changed_at, $9) WHERE id = $2
        """,
        change_id, campaign_id, base_version, version, brief.to_json(), changes, reason, requested_by,
        requested_at, event_id)


async def decide_change(conn: asyncpg.Connection, change_id: str, *, outcome: str, at: dt.datetime, by: str,
                        reason: str | None) -> asyncpg.Record | None:
    """Record governance's decision once (a redelivery finds it decided); the request's row,
    or None when there is no such undecided change."""
    return await conn.fetchrow(
        f"""
        UPDATE change_requests SET outcome = $2, decided_at = $3, decided_by = $4, decision_reason = $5
        WHERE change_id = $1 AND outcome IS NULL
        RETURNING {CHANGE_COLUMNS}
        """,
        change_id, outcome, at, by, reason)


async def apply_change(conn: asyncpg.Connection, change: asyncpg.Record, *, at: dt.datetime) -> None:
    """An approved change becomes the campaign's current version (and its working brief)."""
    brief = Brief.model_validate(change["brief"])
    await conn.execute(
        """
        WITH version AS (
            INSERT INTO brief_versions (campaign_id, version, brief, submitted_at, submitted_by, event_id, change_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
        )
        UPDATE campaigns SET current_version = $2, brief = $3, title = $8, target_launch_date = $9, channels = $10,
                             last_changed_at = greatest(last_changed_at, $4)
        WHERE id = $1
        """,
        change["campaign_id"], change["version"], change["brief"], at, change["requested_by"], change["event_id"],
        change["change_id"], brief.title, brief.target_launch_date, [ch.value for ch in brief.channels or []])


# --- outcomes: the metric catalogue and results reports --------------------------------


async def catalogue(conn: asyncpg.Connection) -> Catalogue | None:
    return catalogue_of(
        await conn.fetchrow("SELECT version, definitions FROM metric_catalogue ORDER BY version DESC LIMIT 1"))


def catalogue_of(row: asyncpg.Record | None) -> Catalogue | None:
    """The catalogue of a metric_catalogue row (None: no catalogue yet)."""
    if row is None:
        return None
    definitions = [c.KpiDefinition.model_validate(d) for d in row["definitions"]]
    return Catalogue(row["version"], {d.key: d for d in definitions})


async def save_catalogue(conn: asyncpg.Connection, data: c.MetricCatalogueChanged, *, published_at: dt.datetime,
                         event_id: uuid.UUID) -> None:
    """Keep the highest version: versions may arrive in any order, or again."""
    await conn.execute(
        """
        INSERT INTO metric_catalogue AS t (catalogue_id, version, definitions, published_at, event_id)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (catalogue_id) DO UPDATE SET version = EXCLUDED.version, definitions = EXCLUDED.definitions,
            published_at = EXCLUDED.published_at, event_id = EXCLUDED.event_id
        WHERE EXCLUDED.version > t.version
        """,
        data.catalogue_id, data.version, [d.model_dump(mode="json") for d in data.definitions], published_at,
        event_id)


async def kpi_report(conn: asyncpg.Connection, source_system: str, source_reference: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM kpi_reports WHERE source_system = $1 AND source_reference = $2",
                               source_system, source_reference)


async def add_kpi_report(conn: asyncpg.Connection, report: c.KpiResultsRecorded, *, recorded_at: dt.datetime,
                         event_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        INSERT INTO kpi_reports (source_system, source_reference, campaign_id, as_of, results, recorded_by,
                                 recorded_at, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
        """,
        report.source_system, report.source_reference, report.campaign_id, report.as_of,
        [r.model_dump(mode="json", exclude_none=True) for r in report.results], report.recorded_by, recorded_at,
        event_id)


async def kpi_reports(conn: asyncpg.Connection, campaign_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM kpi_reports WHERE campaign_id = $1 ORDER BY as_of, recorded_at",
                            campaign_id)


# --- capacity ---------------------------------------------------------------------


async def set_capacity(conn: asyncpg.Connection, team: str, *, unit: str, weekly: Any, weeks: dict[dt.date, Any],
                       by: str, at: dt.datetime) -> None:
    """Replace the team's capacity: its weekly default and every per-week figure."""
    await conn.execute(
        """
        INSERT INTO team_capacity (team, unit, weekly, set_by, set_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (team) DO UPDATE SET unit = EXCLUDED.unit, weekly = EXCLUDED.weekly, set_by = EXCLUDED.set_by,
                                         set_at = EXCLUDED.set_at
        """,
        team, unit, weekly, by, at)
    await conn.execute("DELETE FROM team_capacity_weeks WHERE team = $1", team)
    await conn.executemany("INSERT INTO team_capacity_weeks (team, week, capacity) VALUES ($1, $2, $3)",
                           [(team, week, value) for week, value in sorted(weeks.items())])


async def capacity(conn: asyncpg.Connection, team: str) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
    row = await conn.fetchrow("SELECT * FROM team_capacity WHERE team = $1", team)
    weeks = await conn.fetch("SELECT week, capacity FROM team_capacity_weeks WHERE team = $1 ORDER BY week", team)
    return row, weeks


async def team_demands(conn: asyncpg.Connection, team: str) -> list[asyncpg.Record]:
    """The team's campaigns that make demand: submitted, not cancelled or rejected, with an
    effort in their last submitted version (which also gives the target date)."""
    return await conn.fetch(
        """
        SELECT c.id, c.title, c.team, c.owner, c.created_by, c.authors,
               (lv.brief->>'effort')::numeric AS effort,
               (lv.brief->>'target_launch_date')::date AS target,
               (v1.submitted_at AT TIME ZONE 'UTC')::date AS start
        FROM campaigns c
        JOIN brief_versions v1 ON v1.campaign_id = c.id AND v1.version = 1
        JOIN brief_versions lv ON lv.campaign_id = c.id AND lv.version = c.current_version
        WHERE c.team = $1 AND c.status NOT IN ('cancelled', 'rejected') AND lv.brief ? 'effort'
        ORDER BY c.id
        """,
        team)


async def cycle_samples(conn: asyncpg.Connection, team: str, channels: list[str]) -> list[asyncpg.Record]:
    """First launch - first submission of the launched campaigns of the team or sharing a channel."""
    return await conn.fetch(_CYCLE_SAMPLES.format(team="$1", channels="$2"), team, channels)


async def first_submission(conn: asyncpg.Connection, campaign_id: str) -> dt.datetime | None:
    at: dt.datetime | None = await conn.fetchval(
        "SELECT submitted_at FROM brief_versions WHERE campaign_id = $1 AND version = 1", campaign_id)
    return at
