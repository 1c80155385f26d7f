"""Read side: rows of the balance and ledger views shaped into API responses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import asyncpg

from marops_events.contracts import Money
from marops_events.money import format_amount

from . import repository as repo
from .domain import pacing, variance_percent
from .schemas import (
    BudgetLineOut,
    CampaignBudgetOut,
    DecisionOut,
    LineChangeOut,
    MonthOut,
    PacingOut,
    ReallocationOut,
    ResolutionOut,
    SpendDetailOut,
    SpendOut,
    SupersededCopyOut,
    UnattributedOut,
)

ZERO = Decimal(0)


def _m(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def line_out(row: asyncpg.Record) -> BudgetLineOut:
    cur = row["currency"]
    return BudgetLineOut(
        id=row["id"], name=row["name"], fiscal_year=row["fiscal_year"], quarter=row["quarter"], team=row["team"],
        channel=row["channel"], currency=cur, amount=_m(row["amount"], cur), reserved=_m(row["reserved"], cur),
        committed=_m(row["committed"], cur), spent=_m(row["spent"], cur),
        available=_m(row["amount"] - row["exposure"], cur), created_by=row["created_by"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


LINE_CSV_HEADER = ["id", "name", "fiscal_year", "quarter", "team", "channel", "currency", "amount", "reserved",
                   "committed", "spent", "available"]


def line_csv_row(row: asyncpg.Record) -> list[object]:
    cur = row["currency"]
    return [row["id"], row["name"], row["fiscal_year"], row["quarter"], row["team"], row["channel"],
            cur, format_amount(row["amount"], cur), format_amount(row["reserved"], cur),
            format_amount(row["committed"], cur), format_amount(row["spent"], cur),
            format_amount(row["amount"] - row["exposure"], cur)]


def change_out(row: asyncpg.Record, currency: str) -> LineChangeOut:
    return LineChangeOut(kind=row["kind"], delta=_m(row["delta"], currency),
                         amount_after=_m(row["amount_after"], currency), reason=row["reason"], actor=row["actor"],
                         reallocation_id=row["reallocation_id"], changed_at=row["changed_at"])


def reallocation_out(row: asyncpg.Record) -> ReallocationOut:
    return ReallocationOut(id=row["id"], from_line_id=row["from_line_id"], to_line_id=row["to_line_id"],
                           amount=_m(row["amount"], row["currency"]), reason=row["reason"],
                           reallocated_by=row["reallocated_by"], reallocated_at=row["reallocated_at"])


def spend_fields(row: asyncpg.Record) -> dict[str, object]:
    return dict(
        id=row["id"], campaign_id=row["campaign_id"], source_system=row["source_system"],
        source_reference=row["source_reference"], amount=_m(row["amount"], row["currency"]),
        incurred_on=row["incurred_on"], budget_line_id=row["budget_line_id"],
        counted_on_line_id=row["line_id"] if row["attribution"] == "attributed" else None,
        attribution=row["attribution"], reconciliation=row["reconciliation"],
        unreconciled_reason=row["unreconciled_reason"], resolution=row["resolution"],
        resolved_by=row["resolved_by"], resolution_note=row["resolution_note"],
        corrects_reference=row["corrects_reference"],
        description=row["description"], origin=row["origin"], historical=row["historical"],
        event_id=row["event_id"], occurred_at=row["occurred_at"], recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
    )


def spend_out(row: asyncpg.Record) -> SpendOut:
    return SpendOut(**spend_fields(row))


def spend_detail(row: asyncpg.Record, resolutions: list[asyncpg.Record],
                 superseded: list[asyncpg.Record]) -> SpendDetailOut:
    return SpendDetailOut(
        **spend_fields(row),
        resolutions=[ResolutionOut(resolution=r["resolution"], budget_line_id=r["budget_line_id"],
                                   reason=r["reason"], resolved_by=r["resolved_by"], resolved_at=r["resolved_at"])
                     for r in resolutions],
        superseded=[SupersededCopyOut(event_id=r["event_id"], occurred_at=r["occurred_at"],
                                      campaign_id=r["campaign_id"], amount=_m(r["amount"], r["currency"]),
                                      incurred_on=r["incurred_on"], budget_line_id=r["budget_line_id"],
                                      corrects_reference=r["corrects_reference"],
                                      replaced_by_event=r["replaced_by_event"], replaced_at=r["replaced_at"])
                    for r in superseded])


LEDGER_CSV_HEADER = ["id", "recorded_at", "source_system", "source_reference", "campaign_id", "incurred_on",
                     "amount", "currency", "budget_line_id", "counted_on_line_id", "attribution",
                     "corrects_reference", "description", "origin", "historical", "event_id"]


def ledger_csv_row(row: asyncpg.Record) -> list[object]:
    # Dates and booleans are written by marops_service.exports.cell.
    return [row["id"], row["recorded_at"], row["source_system"], row["source_reference"],
            row["campaign_id"], row["incurred_on"], format_amount(row["amount"], row["currency"]), row["currency"],
            row["budget_line_id"], row["line_id"] if row["attribution"] == "attributed" else None,
            row["attribution"], row["corrects_reference"], row["description"], row["origin"],
            row["historical"], row["event_id"]]


MONTH_CSV_HEADER = ["month", "budget_line_id", "currency", "spent", "entries", "cumulative_spent", "line_amount"]


def month_out(row: asyncpg.Record) -> MonthOut:
    cur = row["currency"]
    return MonthOut(month=row["month"].strftime("%Y-%m"), budget_line_id=row["line_id"], spent=_m(row["spent"], cur),
                    entries=row["entries"], cumulative_spent=_m(row["cumulative_spent"], cur),
                    line_amount=_m(row["line_amount"], cur))


def month_csv_row(row: asyncpg.Record) -> list[object]:
    cur = row["currency"]
    return [row["month"].strftime("%Y-%m"), row["line_id"], cur, format_amount(row["spent"], cur), row["entries"],
            format_amount(row["cumulative_spent"], cur), format_amount(row["line_amount"], cur)]


async def campaign_budget(conn: asyncpg.Connection, campaign_id: str, as_of: dt.date,
                          pacing_tolerance_percent: int) -> CampaignBudgetOut | None:
    brief = await repo.current_brief(conn, campaign_id)
    hold = await repo.hold_row(conn, campaign_id)
    decisions = await repo.decisions_of(conn, campaign_id)
    spend = await repo.campaign_spend_by_attribution(conn, campaign_id)
    alerted = sorted(await repo.thresholds_alerted(conn, campaign_id))
    if brief is None and hold is None and not spend:
        return None
    currency = hold["currency"] if hold else brief["currency"] if brief else None
    status = hold["status"] if hold else "none"
    held = hold["amount"] if hold else ZERO
    # a pending change's top-up is reserved beside the commitment it tops up
    reserved = (held if status == "reserved" else ZERO) + (hold["top_up"] if hold and status != "released" else ZERO)
    committed = held if status == "committed" else ZERO
    spent = sum((g["total"] for g in spend if g["attribution"] == "attributed" and g["currency"] == currency), ZERO)
    not_counted = [
        UnattributedOut(attribution=g["attribution"] if g["attribution"] != "attributed" else "other_currency",
                        total=_m(g["total"], g["currency"]), entries=g["entries"])
        for g in spend if g["attribution"] != "attributed" or g["currency"] != currency
    ]
    pace = None
    if brief is not None and currency is not None:
        # Pacing compares like with like: spend incurred by as_of against the days elapsed by then.
        to_date = await repo.campaign_spent(conn, campaign_id, currency, incurred_until=as_of)
        p = pacing(committed, to_date, brief["flight_start"], brief["flight_end"], as_of, pacing_tolerance_percent)
        pace = PacingOut(as_of=as_of, flight_start=brief["flight_start"], flight_end=brief["flight_end"],
                         spent_to_date=_m(to_date, currency), elapsed_share=p.elapsed_share, spend_share=p.spend_share,
                         expected_spend_to_date=_m(p.expected_spend, currency), pacing_index=p.pacing_index,
                         status=p.status.value)

    def money(value: Decimal) -> Money | None:
        return _m(value, currency) if currency else None

    return CampaignBudgetOut(
        campaign_id=campaign_id,
        brief_version=brief["version"] if brief else None,
        budget_line_id=hold["budget_line_id"] if hold else brief["budget_line_id"] if brief else None,
        status=status, release_reason=hold["release_reason"] if hold else None, currency=currency,
        reserved=money(reserved), committed=money(committed), spent=money(spent),
        remaining=money(committed - spent), variance=money(spent - committed),
        variance_percent=variance_percent(spent, committed), pacing=pace, not_counted=not_counted,
        unreconciled=[_m(g["total"], g["currency"]) for g in await repo.campaign_unreconciled(conn, campaign_id)],
        reservations=[DecisionOut(brief_version=d["brief_version"], budget_line_id=d["budget_line_id"],
                                  requested=_m(d["amount"], d["currency"]), outcome=d["outcome"],
                                  reason_code=d["reason_code"], reason=d["reason"], decided_at=d["decided_at"])
                      for d in decisions],
        thresholds_alerted=alerted,
    )
