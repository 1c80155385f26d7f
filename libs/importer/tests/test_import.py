"""History import: validation row by row, historical events, all-or-nothing, re-runs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from marops_events import contracts as c
from marops_events.registry import decode
from marops_import.cli import main
from marops_import.history import to_events
from marops_import.rows import HistoryError, parse
from marops_testkit.kafka import read_topic

EXAMPLE = Path(__file__).parents[3] / "examples" / "history-example.csv"
HEADER = EXAMPLE.read_text().splitlines()[0]


def by_type(events, event_type):
    return [e for e in events if e.type == event_type]


def test_example_file_becomes_historical_events_with_their_business_times() -> None:
    events = to_events(parse(EXAMPLE.read_text()))
    assert all(e.is_historical and e.source == "marops/import" for e in events)
    first = next(e for e in by_type(events, "BriefSubmitted") if e.subject == "spring-sale")
    assert first.time == dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    assert first.data.kpis == [c.Kpi(metric="orders", target=Decimal(1200), unit="orders",
                                     timeframe="campaign flight")]

    rejected, = by_type(events, "GateRejected")
    assert rejected.data.actionable_at == dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    assert rejected.data.kind == c.RejectionKind.changes_requested
    review, budget = by_type(events, "GateApproved")
    # v2 submitted 01-08 10:00 -> review actionable then; budget gate once review approved (01-09 10:00).
    assert review.data.actionable_at == dt.datetime(2026, 1, 8, 10, tzinfo=dt.UTC)
    assert (review.data.gate_position, review.data.is_last_gate) == (1, False)
    assert budget.data.actionable_at == dt.datetime(2026, 1, 9, 10, tzinfo=dt.UTC)
    assert (budget.data.gate_position, budget.data.is_last_gate, budget.data.gate_kind) == (2, True, c.GateKind.budget)

    launched, = by_type(events, "CampaignLaunched")
    assert launched.data.brief_version == 2
    assert launched.data.readiness.kpis_with_targets and launched.data.readiness.tracking_plan_defined
    assert launched.data.readiness.committed == c.Money(amount=Decimal(18000), currency="EUR")
    spends = by_type(events, "SpendRecorded")
    assert sum(s.data.amount.amount for s in spends) == Decimal("19300.50")


def test_event_ids_come_from_natural_keys() -> None:
    first = to_events(parse(EXAMPLE.read_text()))
    # Re-exported spreadsheet: same facts, rows in another order.
    lines = EXAMPLE.read_text().splitlines()
    shuffled = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    second = to_events(parse(shuffled))
    assert sorted(e.id for e in first) == sorted(e.id for e in second)
    assert len({e.id for e in first}) == len(first)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("c1,submitted,2026-01-01,1,T,team,o,r,email;fax,2026-02-01,2026-02-01,2026-03-01,100,EUR,line,,,,,,,,,,,,,,",
         "row 2, column channels: 'email;fax': 'fax' is not a valid Channel"),
        ("c1,submitted,yesterday,1,T,team,o,r,email,2026-02-01,2026-02-01,2026-03-01,100,EUR,line,,,,,,,,,,,,,,",
         "row 2, column at: 'yesterday' is not an ISO 8601 date or date-time"),
        ("c1,submitted,2026-01-01,1,T,team,o,r,email,2026-02-01,2026-02-01,2026-03-01,lots,EUR,line,,,,,,,,,,,,,,",
         "row 2, column amount: 'lots': is not a decimal number"),
        ("c1,submitted,2026-01-01,1,T,team,o,r,email,2026-02-01,2026-02-01,2026-03-01,100,euro,line,,,,,,,,,,,,,,",
         "row 2, column currency: 'euro': must be an ISO 4217 code such as EUR"),
        ("c1,approved,2026-01-01,1,,,,,,,,,,,,,,brief_review,,lena,,,,,,,,,",
         "row 2: campaign c1 has no earlier 'submitted' row for version 1"),
        ("c1,launched,2026-01-01,,,,,,,,,,,,,,,,,,,,,,,,,,",
         "row 2, column launched_by: is required for a 'launched' row"),
        ("c1,spend,2026-01-01,,,,,,,,,,-10,EUR,,,,,,,,,,,ads,ref-9,2026-01-01,,",
         "row 2, column corrects_reference: a negative spend (refund or correction) must name"),
        ("c1,teleported,2026-01-01,,,,,,,,,,,,,,,,,,,,,,,,,,",
         "row 2, column event: 'teleported' is not one of"),
    ],
)
def test_problems_are_reported_with_row_and_column(row: str, expected: str) -> None:
    with pytest.raises(HistoryError) as info:
        parse(f"{HEADER}\n{row}\n")
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


async def test_import_publishes_once_and_rerun_changes_nothing(kafka_bootstrap: str, topic_prefix: str,
                                                               capsys) -> None:
    args = ["import", str(EXAMPLE), "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    assert await _run_cli(args) == 0
    assert "published 12 historical events" in capsys.readouterr().out
    topic = topic_prefix + "marops.brief-submitted.v1"
    first = await read_topic(kafka_bootstrap, topic, count=3)
    assert len(first) == 3

    assert await _run_cli(args) == 0  # the same file again
    both = await read_topic(kafka_bootstrap, topic, count=6)
    ids = [decode(r.value).id for r in both]
    assert len(ids) == 6 and len(set(ids)) == 3  # redelivered under the same ids: inboxes absorb them
    envelope = json.loads(both[0].value)
    assert envelope["source"] == "marops/import"


async def test_invalid_file_publishes_nothing(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
                                              capsys) -> None:
    broken = tmp_path / "history.csv"
    lines = EXAMPLE.read_text().splitlines()
    lines.append("late-row,approved,2026-05-01,7,,,,,,,,,,,,,,brief_review,,lena,,,,,,,,,")
    broken.write_text("\n".join(lines) + "\n")
    code = await _run_cli(["import", str(broken), "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix])
    assert code == 2
    err = capsys.readouterr().err
    assert "nothing was imported" in err and "row 14" in err
    from marops_events import kafka

    await kafka.ensure_topics(kafka_bootstrap, [topic_prefix + "marops.brief-submitted.v1"], partitions=1)
    assert await read_topic(kafka_bootstrap, topic_prefix + "marops.brief-submitted.v1", count=1, timeout=3) == []


async def _run_cli(args: list[str]) -> int:
    import asyncio

    # main() runs its own event loop, so call it from a worker thread.
    return await asyncio.to_thread(main, args)


CHANGE_HEADER = "campaign_id,event,at,version,title,team,owner,requester,channels,target_launch_date,flight_start," \
                "flight_end,amount,currency,budget_line_id,gate,gate_kind,decided_by,launched_by,changes," \
                "requested_by,outcome,reason,paused_by,resumed_by"
CHANGES = "\n".join([
    CHANGE_HEADER,
    "c1,submitted,2026-01-05T09:00Z,1,C1,growth,olivia,rachel,email,2026-02-01,2026-02-01,2026-03-31,1000,EUR,L1,"
    ",,,,,,,,,",
    "c1,approved,2026-01-06T09:00Z,1,,,,,,,,,,,,budget_approval,budget,frank,,,,,,,",
    "c1,launched,2026-02-01T09:00Z,,,,,,,,,,,,,,,,olivia,,,,,,",
    "c1,change_requested,2026-02-10T09:00Z,2,,,,,email;display,,,,1500,EUR,,,,,,budget;channels,olivia,,more reach,,",
    "c1,approved,2026-02-11T09:00Z,2,,,,,,,,,,,,budget_approval,budget,frank,,,,,,,",
    "c1,change_decided,2026-02-12T09:00Z,2,,,,,,,,,,,,,,lena,,,,approved,,,",
    "c1,committed,2026-02-12T09:00Z,2,,,,,,,,,1500,EUR,L1,,,,,,,,,,",
    "c1,paused,2026-02-20T09:00Z,,,,,,,,,,,,,,,,,,,,stock,olivia,",
    "c1,resumed,2026-02-22T09:00Z,,,,,,,,,,,,,,,,,,,,back,,olivia",
    "c1,change_requested,2026-03-01T09:00Z,3,,,,,,,,2026-04-30,,,,,,,,dates,olivia,,longer,,",
    "c1,change_decided,2026-03-02T09:00Z,3,,,,,,,,,,,,,,lena,,,,rejected,too late,,",
]) + "\n"


def test_changes_and_pauses_become_their_events() -> None:
    events = to_events(parse(CHANGES))
    requested = by_type(events, "ChangeRequested")
    assert [(e.data.change_id, e.data.base_version, e.data.brief.version, e.data.changes) for e in requested] == [
        ("c1-change-v2", 1, 2, [c.ChangeField.budget, c.ChangeField.channels]),
        ("c1-change-v3", 2, 3, [c.ChangeField.dates])]
    first, second = requested
    assert first.data.brief.budget_request.amount == c.Money(amount=Decimal(1500), currency="EUR")
    assert first.data.base_amount == c.Money(amount=Decimal(1000), currency="EUR")
    assert (first.data.brief.channels, first.data.base_channels) == ([c.Channel.email, c.Channel.display],
                                                                     [c.Channel.email])
    # the second change starts from the approved first one
    assert second.data.brief.channels == [c.Channel.email, c.Channel.display]
    assert second.data.brief.flight_end == dt.date(2026, 4, 30)
    assert [(e.data.brief_version, e.data.outcome) for e in by_type(events, "ChangeDecided")] == [
        (2, c.ChangeOutcome.approved), (3, c.ChangeOutcome.rejected)]
    gate = [e for e in by_type(events, "GateApproved") if e.data.brief_version == 2]
    assert gate[0].data.change_id == "c1-change-v2" and gate[0].data.actionable_at == first.time
    [paused], [resumed] = by_type(events, "CampaignPaused"), by_type(events, "CampaignResumed")
    assert (paused.data.pause, resumed.data.pause, resumed.time - paused.time) == (1, 1, dt.timedelta(days=2))
    assert to_events(parse(CHANGES))[0].id == events[0].id  # ids from natural keys, as ever


@pytest.mark.parametrize(("row", "expected"), [
    ("c1,change_decided,2026-02-12T09:00Z,2,,,,,,,,,,,,,,lena,,,,approved,,,", "no undecided 'change_requested'"),
    ("c1,resumed,2026-02-22T09:00Z,,,,,,,,,,,,,,,,,,,,back,,olivia", "is not paused"),
    ("c1,change_requested,2026-02-10T09:00Z,5,,,,,,,,,,,,,,,,kpis,olivia,,x,,", "the next version is 2"),
    ("c1,change_requested,2026-02-10T09:00Z,2,,,,,,,,,1500,,,,,,,budget,olivia,,x,,", "names its currency"),
])
def test_change_and_pause_rows_are_checked(row: str, expected: str) -> None:
    with pytest.raises(HistoryError) as caught:
        parse("\n".join(CHANGES.splitlines()[:4] + [row]) + "\n")
    assert any(expected in p for p in caught.value.problems), caught.value.problems
