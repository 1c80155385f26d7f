"""Intake's use cases: load -> rules -> save -> outbox, each in one transaction.

A command takes its campaign's lock (``marops_service.locks``) for its transaction, and
so does the consumer when it records a governance fact, so a status is always derived
from every fact committed before it: a decision racing a resubmission cannot be lost.
The clock is read after the lock, so a campaign's times follow its commits. Refusals are
``Refusal(IntakeRefusal.x, ...)``; api.REFUSALS answers them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
from pydantic import ValidationError

from marops_events import contracts as c
from marops_events import outbox
from marops_events.envelope import Envelope
from marops_events.registry import new_event
from marops_service.auth import Principal
from marops_service.clock import Clock
from marops_service.locks import lock_campaign, lock_campaigns
from marops_service.refusals import Refusal
from marops_service.transactions import in_transaction, snapshot

from . import capacity_service
from . import repository as repo
from .domain import access, changes, completeness, outcomes, retrospective, status
from .domain.brief import Brief, to_submission
from .domain.completeness import Finding
from .domain.diff import diff
from .domain.refusals import IntakeRefusal
from .domain.status import Status
from .listing import Cursor, Filters, InvalidCursor, LessonCursor, Sort, decode_cursor

SOURCE = "marops/intake"


# --- commands ---------------------------------------------------------------------


async def create(pool: asyncpg.Pool, clock: Clock, who: Principal, fields: dict[str, Any]) -> dict[str, Any]:
    team = fields.get("team") or who.team
    if not team:
        raise Refusal(IntakeRefusal.invalid, "a campaign needs a team: send `team` (your token names none)",
                      errors=[Finding("team", "missing", "the owning team is required").to_json()])
    if not access.can_create_for(who, team):
        raise Refusal(IntakeRefusal.forbidden,
                      f"you may create campaigns for your own team only ({who.team or 'none'}), not {team!r}")
    brief = _brief({**fields, "team": team, "owner": fields.get("owner") or who.subject})
    campaign_id = str(uuid.uuid4())
    # One statement, so no explicit transaction; a new campaign has no versions, decisions or
    # transfers to read back (the hot path of the request: one round trip, with the cycle
    # samples a target date is checked against; the capacity reads only for a draft with an effort).
    samples = capacity_service.needs_cycle_samples(brief)
    async with pool.acquire() as conn:
        now = clock()
        row = await repo.insert_campaign(conn, campaign_id, brief, created_by=who.subject, now=now,
                                         with_cycle_samples=samples)
        found = await capacity_service.warnings(conn, campaign_id, brief, now, created=True,
                                                cycle_samples=row["cycle_samples"] if samples else None)
    return {**_detail(row, _Facts([], [], status.history(repo.facts(row, [], [])), [])), "warnings": found}


async def edit(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
               changes: dict[str, Any]) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        _require_editable(who, row)
        if "owner" in changes and changes["owner"] != row["owner"]:
            # Editing a draft must not hand the campaign (and its cancel/complete/launch
            # rights) to whoever edits it: ownership moves only by an explicit transfer.
            raise Refusal(
                IntakeRefusal.invalid,
                "the owner changes only through an explicit transfer: POST /campaigns/{id}/owner",
                errors=[Finding("owner", "invalid", "transferred by the current owner or ops_admin, not edited").to_json()])
        if "team" in changes:
            if not changes["team"]:
                raise Refusal(IntakeRefusal.invalid, "the team of a campaign cannot be cleared",
                              errors=[Finding("team", "invalid", "cannot be cleared").to_json()])
            if not access.can_create_for(who, changes["team"]):
                raise Refusal(IntakeRefusal.forbidden, "you may move a campaign to your own team only")
        brief = _brief({**Brief.model_validate(row["brief"]).to_json(), **changes})
        now = clock()
        await repo.save_brief(conn, campaign_id, brief, edited_by=who.subject, now=now)
        return {**await _show(conn, await repo.get_campaign(conn, campaign_id)),
                "warnings": await capacity_service.warnings(conn, campaign_id, brief, now)}

    return await in_transaction(pool, work)


async def submit(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        # The hot command: its facts are read with the campaign, and the status they imply
        # with the new version is stored by the same UPDATE that adds it.
        row = await _load(conn, who, campaign_id, locked=True, with_facts=True, with_catalogue=True)
        known = _facts_of(row)
        _require_editable(who, row)
        brief = Brief.model_validate(row["brief"]).with_defaults()
        now = clock()
        catalogue = repo.catalogue_of(row["latest_catalogue"])
        findings = completeness.check(brief, today=now.date()) + completeness.against_catalogue(brief, catalogue)
        if findings:
            raise _incomplete(findings)
        version = row["current_version"] + 1
        try:
            payload = to_submission(brief, campaign_id=campaign_id, version=version, requester=who.subject,
                                    authors=sorted({row["created_by"], *row["authors"], who.subject}),
                                    catalogue=catalogue)
        except ValidationError as exc:  # the check should have caught it; still never a 500
            raise _incomplete([Finding(".".join(map(str, e["loc"])), "invalid", e["msg"])
                               for e in exc.errors()]) from None
        event = new_event(payload, source=SOURCE, time=now, causation_id=_answered(row, known.governance))
        submitted = {"version": version, "brief": None, "submitted_at": now, "submitted_by": who.subject,
                     "event_id": event.id, "change_id": None}
        versions = [*known.versions, submitted]
        # The facts a submit adds to (cancellation, completion, creation) are the row's as read.
        history = status.history(repo.facts(row, versions, known.governance))
        samples = capacity_service.needs_cycle_samples(brief)
        updated = await repo.add_version(conn, campaign_id, version, brief, submitted_by=who.subject,
                                         submitted_at=now, event_id=event.id, latest=history[-1],
                                         with_cycle_samples=samples)
        submitted["brief"] = updated["submitted_brief"]  # as stored, like every version read back
        await outbox.add(conn, event)
        # the warnings' start is the first submission: known from the versions read, this one if none
        return {**_detail(updated, replace(known, versions=versions, history=history)),
                "warnings": await capacity_service.warnings(
                    conn, campaign_id, brief, now, first_submitted=versions[0]["submitted_at"],
                    cycle_samples=updated["cycle_samples"] if samples else None)}

    return await in_transaction(pool, work)


async def cancel(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
                 reason: str | None) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        if not access.can_close(who, _ref(row)):
            raise Refusal(IntakeRefusal.forbidden, "only the campaign's owner or ops_admin may cancel it")
        if Status(row["status"]) not in status.CANCELLABLE:
            raise Refusal(IntakeRefusal.conflict, f"a campaign that is {row['status']} cannot be cancelled",
                          status_now=row["status"])
        now = clock()
        await _end_pause(conn, campaign_id, who, f"cancelled: {reason}" if reason else "cancelled", now)
        await repo.mark_cancelled(conn, campaign_id, by=who.subject, reason=reason, at=now)
        # A draft never submitted is unknown to every other service: nothing to announce.
        if row["current_version"] > 0:
            await outbox.add(conn, new_event(
                c.CampaignCancelled(campaign_id=campaign_id, cancelled_by=who.subject, reason=reason),
                source=SOURCE, time=now))
        return await _refresh_and_show(conn, campaign_id)

    return await in_transaction(pool, work)


async def transfer_ownership(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str, to_owner: str,
                             reason: str) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        if not access.can_close(who, _ref(row)):
            raise Refusal(IntakeRefusal.forbidden,
                          "only the campaign's current owner or ops_admin may transfer its ownership")
        if Status(row["status"]) in status.TERMINAL:
            raise Refusal(IntakeRefusal.conflict, f"a campaign that is {row['status']} cannot change owner",
                          status_now=row["status"])
        if to_owner == row["owner"]:
            raise Refusal(IntakeRefusal.conflict, f"{to_owner} already owns campaign {campaign_id}",
                          status_now=row["status"])
        await repo.transfer_owner(conn, campaign_id, to_owner=to_owner, by=who.subject, reason=reason,
                                  at=clock())
        return await _show(conn, await repo.get_campaign(conn, campaign_id))

    return await in_transaction(pool, work)


async def complete(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
                   results: list[dict[str, Any]]) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        if not access.can_close(who, _ref(row)):
            raise Refusal(IntakeRefusal.forbidden, "only the campaign's owner or ops_admin may complete it")
        if row["status"] != Status.launched:
            raise Refusal(IntakeRefusal.conflict,
                          f"only a launched campaign can be completed; this one is {row['status']}",
                          status_now=row["status"])
        submitted = (await repo.versions(conn, campaign_id))[-1]
        kpis = [c.Kpi.model_validate(k) for k in submitted["brief"]["kpis"]]
        matched = _match_results(kpis, results)
        now = clock()
        await _end_pause(conn, campaign_id, who, "completed", now)
        await repo.mark_completed(conn, campaign_id, by=who.subject, at=now,
                                  results=[r.model_dump(mode="json") for r in matched])
        await outbox.add(conn, new_event(
            c.CampaignCompleted(campaign_id=campaign_id, completed_by=who.subject, results=matched),
            source=SOURCE, time=now))
        return await _refresh_and_show(conn, campaign_id)

    return await in_transaction(pool, work)


async def pause(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str, reason: str) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        _require_owner(who, row, "pause")
        changes.require_in_flight(Status(row["status"]), "paused")
        known = await repo.pauses(conn, campaign_id)
        if known and known[-1]["resumed_at"] is None:
            raise Refusal(IntakeRefusal.conflict, f"campaign {campaign_id} is already paused (since "
                          f"{known[-1]['paused_at'].isoformat()})", status_now=row["status"])
        number = len(known) + 1
        now = clock()
        await repo.add_pause(conn, campaign_id, number, by=who.subject, reason=reason, at=now)
        await outbox.add(conn, new_event(
            c.CampaignPaused(campaign_id=campaign_id, pause=number, paused_by=who.subject, reason=reason),
            source=SOURCE, time=now))
        return await _show(conn, await repo.get_campaign(conn, campaign_id))

    return await in_transaction(pool, work)


async def resume(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
                 reason: str) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        _require_owner(who, row, "resume")
        if not await _end_pause(conn, campaign_id, who, reason, clock()):
            raise Refusal(IntakeRefusal.conflict, f"campaign {campaign_id} is not paused", status_now=row["status"])
        return await _show(conn, await repo.get_campaign(conn, campaign_id))

    return await in_transaction(pool, work)


async def _end_pause(conn: asyncpg.Connection, campaign_id: str, who: Principal, reason: str,
                     now: dt.datetime) -> bool:
    """End the pause in force, if any (a resumption, or a cancellation or completion of a
    paused campaign, which ends its pause first so every pause has an end)."""
    known = await repo.pauses(conn, campaign_id)
    if not known or known[-1]["resumed_at"] is not None:
        return False
    number = known[-1]["pause"]
    await repo.end_pause(conn, campaign_id, number, by=who.subject, reason=reason, at=now)
    await outbox.add(conn, new_event(
        c.CampaignResumed(campaign_id=campaign_id, pause=number, resumed_by=who.subject, reason=reason),
        source=SOURCE, time=now))
    return True


async def request_change(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
                         fields: dict[str, Any], reason: str) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        _require_owner(who, row, "request a change of")
        changes.require_in_flight(Status(row["status"]), "changed")
        requests = await repo.change_requests(conn, campaign_id)
        pending = next((r for r in requests if r["outcome"] is None), None)
        if pending is not None:
            raise Refusal(IntakeRefusal.conflict, f"change {pending['change_id']} of campaign {campaign_id} is "
                          "still being decided; one change at a time", status_now=row["status"],
                          pending_change=pending["change_id"])
        submitted = await repo.versions(conn, campaign_id)
        current = Brief.model_validate(submitted[-1]["brief"])
        proposed, changed = changes.propose(current, fields)
        now = clock()
        findings = completeness.check(proposed, today=changes.check_date(current, proposed, now.date()))
        if findings:
            raise _incomplete(findings)
        # Versions are never reused, not even a rejected change's: every service keys by them.
        version = max([row["current_version"], *(r["version"] for r in requests)]) + 1
        change_id = str(uuid.uuid4())
        brief = to_submission(proposed, campaign_id=campaign_id, version=version, requester=who.subject,
                              authors=sorted({row["created_by"], *row["authors"], who.subject}))
        base = to_submission(current, campaign_id=campaign_id, version=row["current_version"],
                             requester=submitted[-1]["submitted_by"])
        event = new_event(c.ChangeRequested(
            campaign_id=campaign_id, change_id=change_id, base_version=row["current_version"], changes=changed,
            reason=reason, requested_by=who.subject, brief=brief, base_amount=base.budget_request.amount,
            base_channels=base.channels), source=SOURCE, time=now)
        await repo.add_change_request(
            conn, change_id=change_id, campaign_id=campaign_id, base_version=row["current_version"],
            version=version, brief=proposed, changes=[ch.value for ch in changed], reason=reason,
            requested_by=who.subject, requested_at=now, event_id=event.id)
        await outbox.add(conn, event)
        return await _show(conn, await repo.get_campaign(conn, campaign_id))

    return await in_transaction(pool, work)


async def record_results(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
                         body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Results of a launched (or completed) campaign's KPIs as of a date -> ``KpiResultsRecorded``.

    Returns the report and whether it is new: a re-send of one (source system, source
    reference) with the same content answers the stored report; other content is a conflict.
    """
    async def work(conn: asyncpg.Connection) -> tuple[dict[str, Any], bool]:
        if outcomes.is_reporting_system(who, body["source_system"]):
            await lock_campaign(conn, campaign_id)
            row = await repo.get_campaign(conn, campaign_id)
            if row is None:
                raise Refusal(IntakeRefusal.not_found, f"campaign {campaign_id} does not exist")
        else:
            row = await _load(conn, who, campaign_id, locked=True)
        outcomes.may_report(who, _ref(row), body["source_system"])
        submitted = (await repo.versions(conn, campaign_id))
        kpis = [c.Kpi.model_validate(k) for k in submitted[-1]["brief"]["kpis"]] if submitted else []
        report = outcomes.report(row["status"], kpis, campaign_id=campaign_id, recorded_by=who.subject, **body)
        existing = await repo.kpi_report(conn, report.source_system, report.source_reference)
        if existing is not None:
            outcomes.same_report(existing, report)
            return _report_view(existing), False
        now = clock()
        event = new_event(report, source=SOURCE, time=now)
        stored = await repo.add_kpi_report(conn, report, recorded_at=now, event_id=event.id)
        await outbox.add(conn, event)
        return _report_view(stored), True

    return await in_transaction(pool, work)


async def record_change_decision(conn: asyncpg.Connection, event: Envelope[c.ChangeDecided]) -> None:
    """Consumer side: governance decided a change; an approved one becomes the current version.
    A decision of a change this database never filed (or one already recorded) changes nothing."""
    data = event.data
    await lock_campaign(conn, data.campaign_id)
    change = await repo.decide_change(conn, data.change_id, outcome=data.outcome.value, at=event.time,
                                      by=data.decided_by, reason=data.reason)
    if change is None or change["campaign_id"] != data.campaign_id:
        return
    if data.outcome is c.ChangeOutcome.approved:
        await repo.apply_change(conn, change, at=event.time)
    campaign = await repo.get_campaign(conn, data.campaign_id)
    if campaign is not None:
        await repo.set_status(conn, data.campaign_id, (await _facts(conn, campaign)).history[-1])


async def record_catalogue(conn: asyncpg.Connection, event: Envelope[c.MetricCatalogueChanged]) -> None:
    """Consumer side: keep the highest catalogue version governance published."""
    await repo.save_catalogue(conn, event.data, published_at=event.time, event_id=event.id)


# --- queries ----------------------------------------------------------------------


async def results(pool: asyncpg.Pool, who: Principal, campaign_id: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        await _load(conn, who, campaign_id)
        return [_report_view(r) for r in await repo.kpi_reports(conn, campaign_id)]


def _report_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in ("campaign_id", "source_system", "source_reference", "as_of", "results",
                                "recorded_by", "recorded_at")} | {"event_id": str(row["event_id"])}



async def get(pool: asyncpg.Pool, who: Principal, campaign_id: str) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        return await _show(conn, await _load(conn, who, campaign_id))


async def check(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str) -> list[Finding]:
    async with pool.acquire() as conn:
        row = await _load(conn, who, campaign_id)
    return completeness.check(Brief.model_validate(row["brief"]), today=clock().date())


def check_brief(clock: Clock, brief: Brief) -> list[Finding]:
    return completeness.check(brief, today=clock().date())


async def list_campaigns(pool: asyncpg.Pool, who: Principal, filters: Filters, *, sort: Sort, cursor: str | None,
               limit: int) -> dict[str, Any]:
    try:
        after = decode_cursor(cursor, sort) if cursor else None
    except InvalidCursor as exc:
        raise Refusal(IntakeRefusal.invalid_cursor, str(exc)) from None
    async with pool.acquire() as conn:
        rows = await repo.list_campaigns(
            conn, filters, sort=sort, after=after, limit=limit + 1, readable=access.readable_sql(who, first=11))
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        value = last["target_launch_date"] if sort.by_target_date else last["last_changed_at"]
        next_cursor = Cursor(sort, value, last["id"]).encode()
    return {"items": [_summary(r) for r in page], "next_cursor": next_cursor,
            "filtered": access.is_filtered(who)}


async def version(pool: asyncpg.Pool, who: Principal, campaign_id: str, number: int) -> dict[str, Any]:
    async with snapshot(pool) as conn:
        await _load(conn, who, campaign_id)
        summaries = _version_summaries(await repo.versions(conn, campaign_id))
    for v in summaries:
        if v["version"] == number:
            return {"campaign_id": campaign_id, **v}
    raise Refusal(IntakeRefusal.not_found, f"campaign {campaign_id} has no version {number}")


async def diff_versions(pool: asyncpg.Pool, who: Principal, campaign_id: str, to_version: int,
                        from_version: int | None) -> dict[str, Any]:
    start = to_version - 1 if from_version is None else from_version
    async with snapshot(pool) as conn:
        await _load(conn, who, campaign_id)
        briefs = {v["version"]: v["brief"] for v in await repo.versions(conn, campaign_id)}
    briefs[0] = {}  # "version 0" is the empty brief: diffing from it shows what version 1 introduced
    for n in (start, to_version):
        if n not in briefs:
            raise Refusal(IntakeRefusal.not_found, f"campaign {campaign_id} has no version {n}")
    return {"campaign_id": campaign_id, "from_version": start, "to_version": to_version,
            "changes": [ch.to_json() for ch in diff(briefs[start], briefs[to_version])]}


# --- helpers ----------------------------------------------------------------------


async def _load(conn: asyncpg.Connection, who: Principal, campaign_id: str, *,
                locked: bool = False, with_facts: bool = False, with_catalogue: bool = False) -> asyncpg.Record:
    """The campaign's row if ``who`` may read it; ``with_facts``: with its facts (``_facts_of``)
    and, ``with_catalogue``, the newest metric catalogue's row (``repo.catalogue_of``)."""
    if locked:
        await lock_campaign(conn, campaign_id)
    if with_facts:
        row = await repo.get_campaign_with_facts(conn, campaign_id, with_catalogue=with_catalogue)
    else:
        row = await repo.get_campaign(conn, campaign_id)
    if row is None or not access.can_read_campaign(who, _ref(row)):
        raise Refusal(IntakeRefusal.not_found, f"campaign {campaign_id} does not exist or is not visible to you")
    return row


def _require_owner(who: Principal, row: asyncpg.Record, what: str) -> None:
    if not access.can_close(who, _ref(row)):
        raise Refusal(IntakeRefusal.forbidden, f"only the campaign's owner or ops_admin may {what} it")


def _require_editable(who: Principal, row: asyncpg.Record) -> None:
    if not access.can_edit(who, _ref(row)):
        raise Refusal(IntakeRefusal.forbidden,
                      f"only requesters of team {row['team']!r} (or ops_admin) may change this campaign")
    if Status(row["status"]) not in status.EDITABLE:
        raise Refusal(IntakeRefusal.conflict,
                      f"the brief can be changed only while draft or changes_requested; it is {row['status']}",
                      status_now=row["status"])


def _answered(row: asyncpg.Record, governance: list[asyncpg.Record]) -> str | None:
    """The rejection a resubmission answers (its causation), if any."""
    if row["status"] != Status.changes_requested:
        return None
    rejections = [f for f in governance
                  if f["event_type"] == "GateRejected" and f["brief_version"] == row["current_version"]]
    return str(rejections[0]["event_id"]) if rejections else None


async def _refresh_and_show(conn: asyncpg.Connection, campaign_id: str,
                            campaign: asyncpg.Record | None = None) -> dict[str, Any]:
    """After a command changed the campaign's facts: store the status they imply, and show it.
    ``campaign``: its row as the command's own UPDATE returned it, if it did (no re-read)."""
    known = await _facts(conn, campaign if campaign is not None else await repo.get_campaign(conn, campaign_id))
    return _detail(await repo.set_status(conn, campaign_id, known.history[-1]), known)


@dataclass(frozen=True)
class _Facts:
    """What a campaign's status and detail are derived from, loaded once."""

    versions: list[Any]  # rows of brief_versions (records, or a dict for one just added)
    governance: list[asyncpg.Record]
    history: list[status.StatusChange]
    transfers: list[asyncpg.Record]
    retrospective: asyncpg.Record | None = None
    pauses: list[asyncpg.Record] = field(default_factory=list)
    changes: list[asyncpg.Record] = field(default_factory=list)


def _facts_of(campaign: asyncpg.Record, lists: asyncpg.Record | None = None,
              retrospective: asyncpg.Record | None = None) -> _Facts:
    """The facts read with the campaign (``repo.get_campaign_with_facts``) or beside it
    (``repo.campaign_facts``), and the status history they imply."""
    lists = campaign if lists is None else lists
    versions, governance = list(lists["fact_versions"]), list(lists["fact_governance"])
    return _Facts(versions, governance, status.history(repo.facts(campaign, versions, governance)),
                  list(lists["fact_transfers"]), retrospective=retrospective, pauses=list(lists["fact_pauses"]),
                  changes=list(lists["fact_changes"]))


async def _facts(conn: asyncpg.Connection, campaign: asyncpg.Record) -> _Facts:
    lists = await repo.campaign_facts(conn, campaign["id"])
    # only a completed campaign has a retrospective: no query for the others
    retro = await repo.retrospective(conn, campaign["id"]) if campaign["status"] == Status.completed else None
    return _facts_of(campaign, lists, retro)


async def _show(conn: asyncpg.Connection, row: asyncpg.Record) -> dict[str, Any]:
    return _detail(row, await _facts(conn, row))


def _detail(row: asyncpg.Record, known: _Facts) -> dict[str, Any]:
    version_rows = known.versions
    draft = row["brief"]
    return {
        **_summary(row),
        "brief": draft,
        # compared as it would be submitted, so defaults filled in at submission are no change
        "unsubmitted_changes": [ch.to_json() for ch in diff(
            version_rows[-1]["brief"], Brief.model_validate(draft).with_defaults().to_json())]
        if version_rows else [],
        "versions": _version_summaries(version_rows, with_brief=False),
        "status_history": [{"status": ch.status, "at": ch.at, "reason": ch.reason, "cause": ch.cause.value,
                            "version": ch.version} for ch in known.history],
        "decisions": [_decision(f) for f in known.governance],
        "cancellation": {"at": row["cancelled_at"], "by": row["cancelled_by"], "reason": row["cancel_reason"]}
        if row["cancelled_at"] else None,
        "completion": {"at": row["completed_at"], "by": row["completed_by"], "results": row["results"]}
        if row["completed_at"] else None,
        "authors": sorted({row["created_by"], *row["authors"]}),
        "ownership_transfers": [{k: t[k] for k in ("at", "from_owner", "to_owner", "by", "reason")}
                                for t in known.transfers],
        "retrospective": _retrospective_out(known.retrospective, row) if known.retrospective else None,
        "paused": bool(known.pauses) and known.pauses[-1]["resumed_at"] is None,
        "pauses": [{k: p[k] for k in repo.PAUSE_FIELDS} for p in known.pauses],
        "change_requests": [_change(r, known.governance) for r in known.changes],
    }


def _change(row: asyncpg.Record, governance: list[asyncpg.Record]) -> dict[str, Any]:
    return {
        "change_id": row["change_id"], "base_version": row["base_version"], "version": row["version"],
        "changes": list(row["changes"]), "reason": row["reason"], "requested_by": row["requested_by"],
        "requested_at": row["requested_at"], "status": row["outcome"] or "pending",
        "decided_at": row["decided_at"], "decided_by": row["decided_by"], "decision_reason": row["decision_reason"],
        "proposed": row["brief"],
        "decisions": [_decision(f) for f in governance if f["brief_version"] == row["version"]],
    }


GovernanceFact = c.GateApproved | c.GateRejected | c.CampaignLaunched


async def record_governance_fact(conn: asyncpg.Connection, event: Envelope[GovernanceFact]) -> None:
    """Consumer side: keep a gate decision or launch as a fact and re-derive the status.
    (Live events only: imported history is for metrics; intake holds no such campaigns.)"""
    data = event.data
    campaign_id = data.campaign_id
    # Locked first so a command of this campaign cannot derive its status without this fact.
    await lock_campaign(conn, campaign_id)
    recorded = await repo.add_governance_fact(
        conn, campaign_id=campaign_id, fact_key=_fact_key(event), event_type=event.type, event_id=event.id,
        brief_version=data.brief_version, occurred_at=event.time, data=data.model_dump(mode="json"))
    if not recorded:
        return
    # Read after the fact is recorded, so the facts read with the campaign include it.
    campaign = await repo.get_campaign_with_facts(conn, campaign_id)
    if campaign is not None:
        await repo.set_status(conn, campaign_id, _facts_of(campaign).history[-1])


async def record_governance_facts(conn: asyncpg.Connection, events: list[Envelope[GovernanceFact]]) -> None:
    """``record_governance_fact`` for a fetched batch, set-wise: the campaigns locked (in id
    order), every new fact recorded, the touched campaigns read with their facts and their
    statuses stored: four statements for the batch, whatever its size (it was four per event).
    Of two copies of one business fact in the batch the earliest is kept, as one at a time."""
    earliest: dict[tuple[str, str], Envelope[GovernanceFact]] = {}
    for event in events:
        key = (event.data.campaign_id, _fact_key(event))
        kept = earliest.get(key)
        if kept is None or event.time < kept.time:
            earliest[key] = event
    if not earliest:
        return
    await lock_campaigns(conn, sorted({campaign_id for campaign_id, _ in earliest}))
    touched = await repo.add_governance_facts(conn, [
        (campaign_id, fact_key, e.type, e.id, e.data.brief_version, e.time, e.data.model_dump(mode="json"))
        for (campaign_id, fact_key), e in earliest.items()])
    if not touched:
        return
    rows = await repo.get_campaigns_with_facts(conn, sorted(touched))
    await repo.set_statuses(conn, [(row["id"], _facts_of(row).history[-1]) for row in rows])


def _brief(fields: dict[str, Any]) -> Brief:
    try:
        return Brief.model_validate(fields)
    except ValidationError as exc:  # fields come validated from the API; a merge cannot break them
        raise Refusal(IntakeRefusal.invalid, "the brief is invalid", errors=[
            Finding(".".join(map(str, e["loc"])), "invalid", e["msg"]).to_json() for e in exc.errors()
        ]) from None


def _incomplete(findings: list[Finding]) -> Refusal:
    return Refusal(IntakeRefusal.brief_incomplete,
                   f"the brief cannot be submitted: {len(findings)} field(s) missing or invalid",
                   errors=[f.to_json() for f in findings])


def _match_results(kpis: list[c.Kpi], results: list[dict[str, Any]]) -> list[c.KpiResult]:
    """One actual result per KPI of the submitted brief; target and unit come from the brief."""
    by_metric = {k.metric.strip().lower(): k for k in kpis}
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    matched: list[c.KpiResult] = []
    for i, result in enumerate(results):
        key = result["metric"].strip().lower()
        kpi = by_metric.get(key)
        if kpi is None:
            errors.append(Finding(f"results.{i}.metric", "invalid",
                                  f"{result['metric']!r} is not a KPI of this campaign ({', '.join(by_metric)})").to_json())
        elif key in seen:
            errors.append(Finding(f"results.{i}.metric", "invalid", f"{kpi.metric!r} has more than one result").to_json())
        else:
            seen.add(key)
            matched.append(c.KpiResult(metric=kpi.metric.strip(), target=kpi.target, actual=result["actual"],
                                       unit=kpi.unit.strip()))
    for key, kpi in by_metric.items():
        if key not in seen:
            errors.append(Finding("results", "missing", f"no result for the KPI {kpi.metric!r}").to_json())
    if errors:
        raise Refusal(IntakeRefusal.invalid, "every KPI of the campaign needs exactly one actual result", errors=errors)
    return matched


def _fact_key(event: Envelope) -> str:
    data = event.data
    if event.type == "CampaignLaunched":
        return f"launched:v{data.brief_version}"
    decision = "approved" if event.type == "GateApproved" else "rejected"
    return f"gate:v{data.brief_version}:{data.gate_id}:{decision}"


def _ref(row: asyncpg.Record) -> access.CampaignParties:
    return access.CampaignParties.of(row["team"], row["owner"], [row["created_by"], *row["authors"]])


def _summary(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "title", "team", "owner", "status", "status_reason", "status_since",
                                "current_version", "target_launch_date", "channels", "created_by", "created_at",
                                "last_changed_at")}


def _version_summaries(rows: list[asyncpg.Record], *, with_brief: bool = True) -> list[dict[str, Any]]:
    out = []
    previous: dict[str, Any] | None = None
    for v in rows:
        item = {"version": v["version"], "submitted_at": v["submitted_at"], "submitted_by": v["submitted_by"],
                "event_id": v["event_id"], "change_id": v["change_id"],
                "changes": [ch.to_json() for ch in diff(previous, v["brief"])] if previous is not None else []}
        if with_brief:
            item["brief"] = v["brief"]
        out.append(item)
        previous = v["brief"]
    return out


def _decision(row: asyncpg.Record) -> dict[str, Any]:
    data = row["data"]
    return {"type": row["event_type"], "brief_version": row["brief_version"], "at": row["occurred_at"],
            "by": data.get("decided_by") or data.get("launched_by"), "gate_name": data.get("gate_name"),
            "gate_position": data.get("gate_position"), "is_last_gate": data.get("is_last_gate"),
            "kind": data.get("kind"), "reason": data.get("reason")}


# --- retrospectives ---------------------------------------------------------------


async def record_retrospective(pool: asyncpg.Pool, clock: Clock, who: Principal, campaign_id: str,
                               fields: dict[str, Any]) -> dict[str, Any]:
    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        row = await _load(conn, who, campaign_id, locked=True)
        previous = await repo.retrospective(conn, campaign_id)
        now = clock()
        recorded = retrospective.record(
            who, _ref(row), Status(row["status"]), previous["revision"] if previous else None,
            campaign_id=campaign_id, now=now, what_worked=fields["what_worked"],
            what_did_not_work=fields["what_did_not_work"], lessons=fields["lessons"],
            actions=[retrospective.Action(a["action"], a["owner"], a["due_on"]) for a in fields["actions"]])
        await repo.save_retrospective(conn, recorded)
        await outbox.add(conn, new_event(recorded.event(row["team"], list(row["channels"])), source=SOURCE, time=now))
        return _retrospective_out(await repo.retrospective(conn, campaign_id), row)

    return await in_transaction(pool, work)


async def list_lessons(pool: asyncpg.Pool, who: Principal, *, team: str | None, channel: str | None,
                       text: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
    try:
        after = LessonCursor.decode(cursor) if cursor else None
    except InvalidCursor as exc:
        raise Refusal(IntakeRefusal.invalid_cursor, str(exc)) from None
    readable = access.readable_sql(who, first=8, team="c.team", owner="c.owner", authors="c.authors")
    async with pool.acquire() as conn:
        rows = await repo.list_lessons(
            conn, team=team, channel=channel, text=text, limit=limit + 1, readable=readable,
            after=(after.recorded_at, after.campaign_id, after.position) if after else None)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = LessonCursor(last["recorded_at"], last["campaign_id"], last["position"]).encode()
    return {"items": [{k: r[k] for k in ("campaign_id", "position", "text", "recorded_at", "title", "team",
                                         "channels", "owner")} for r in page],
            "next_cursor": next_cursor, "filtered": access.is_filtered(who)}


def _retrospective_out(r: asyncpg.Record, campaign: asyncpg.Record) -> dict[str, Any]:
    return {"campaign_id": r["campaign_id"], "revision": r["revision"], "recorded_by": r["recorded_by"],
            "recorded_at": r["recorded_at"], "team": campaign["team"], "channels": campaign["channels"],
            "what_worked": r["what_worked"], "what_did_not_work": r["what_did_not_work"],
            "lessons": r["lessons"], "actions": r["actions"]}
