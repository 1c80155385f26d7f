"""The pure rules of SPEC section 4: percentiles, SLA boundaries, UTC dates, commitments,
status, grouping, money formatting, CSV cells, timelines. No I/O."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marops_metrics import aggregates
from marops_metrics.aggregates import Filters, GroupBy
from marops_metrics.domain import (
    BriefVersion,
    Commitment,
    Facts,
    GateDecision,
    Launch,
    Milestone,
    QuarterBasis,
    Release,
    Spend,
    Stats,
    Status,
    build_campaigns,
    current_commitment,
    percent_of,
    percentile,
    quarter_of,
)
from marops_metrics.timeline import LoggedEvent, build_timeline
from marops_service.exports import cell

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def brief(cid: str = "C1", version: int = 1, at: datetime = T0, **kw) -> BriefVersion:
    values = dict(campaign_id=cid, version=version, submitted_at=at, title=f"t{cid}", team="growth", owner="o",
                  channels=("email",), target_launch_date=date(2026, 2, 1), requested_amount=Decimal(100),
                  requested_currency="EUR", budget_line_id="L1")
    return BriefVersion(**{**values, **kw})


def decision(gate: str = "g1", *, version: int = 1, approved: bool = True, actionable: float = 0,
             decided: float = 1, sla: int = 24, position: int = 1, last: bool = False, cid: str = "C1",
             kind: str | None = None) -> GateDecision:
    return GateDecision(campaign_id=cid, brief_version=version, gate_id=gate, gate_name=gate.upper(),
                        gate_position=position, is_last_gate=last, approved=approved, decided_at=h(decided),
                        actionable_at=h(actionable), sla_hours=sla,
                        rejection_kind=None if approved else kind or "changes_requested")


# --- percentiles ---------------------------------------------------------------------


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([1, 2, 3, 4], 50, 2.5),        # h = 1.5
    ([1, 2, 3, 4], 90, 3.7),        # h = 2.7
    ([10, 20], 90, 19.0),           # h = 0.9
    ([4, 1, 3, 2], 0, 1.0),         # unsorted input
    ([4, 1, 3, 2], 100, 4.0),
    ([7], 90, 7.0),
    ([24, 24, 24, 24, 24, 28, 36, 36, 48, 72, 73], 90, 72.0),  # h = 9 exactly
])
def test_percentile_interpolates_like_numpy_linear(values, p, expected) -> None:
    assert percentile(values, p) == pytest.approx(expected)


def test_no_observations_no_numbers() -> None:
    assert percentile([], 50) is None
    assert Stats.of([]) == Stats(count=0, mean=None, p50=None, p90=None)
    assert Stats.of([1.0, 2.0, 6.0]) == Stats(count=3, mean=3.0, p50=2.0, p90=pytest.approx(5.2))


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=50),
       st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100), st.randoms())
def test_percentile_is_bounded_monotone_and_order_free(values, p, q, rnd) -> None:
    lo, hi = sorted((p, q))
    a, b = percentile(values, lo), percentile(values, hi)
    assert min(values) - 1e-6 <= a <= b + 1e-6 <= max(values) + 2e-6
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert percentile(shuffled, p) == percentile(values, p)


# --- gate decisions and launch -------------------------------------------------------


def test_sla_breach_is_strictly_later_than_the_sla() -> None:
    assert not decision(actionable=0, decided=24, sla=24).breached_sla
    assert decision(actionable=0, decided=24 + 1 / 3600, sla=24).breached_sla
    assert decision(approved=False, actionable=10, decided=40, sla=24).breached_sla  # rejections count too
    assert decision(actionable=2, decided=12.5).hours_in_gate == 10.5


def test_on_time_compares_the_utc_calendar_date() -> None:
    target = date(2026, 3, 31)
    late_evening_west = datetime(2026, 3, 31, 22, tzinfo=timezone(timedelta(hours=-3)))  # 04-01 01:00 UTC
    early_morning_east = datetime(2026, 4, 1, 1, tzinfo=timezone(timedelta(hours=5)))    # 03-31 20:00 UTC
    for launched, on_time in ((late_evening_west, False), (early_morning_east, True)):
        [c] = build_campaigns(Facts(briefs=(brief(target_launch_date=target),),
                                    launches=(Launch("C1", launched, 1, True, True),)))
        assert c.on_time is on_time


def test_a_campaign_is_described_by_its_highest_version_and_timed_from_version_one() -> None:
    facts = Facts(briefs=(brief(version=2, at=h(100), team="brand", channels=("video",)), brief(version=1)),
                  launches=(Launch("C1", h(300), 2, True, False),))
    [c] = build_campaigns(facts)
    assert (c.team, c.channels, c.latest_version, c.revisions) == ("brand", ("video",), 2, 1)
    assert c.cycle_time_hours == 300
    assert c.data_complete is False
    assert c.quarter(QuarterBasis.submission) == "2026-Q1"


# --- commitments ---------------------------------------------------------------------


def commitment(amount: int, at: float, version: int = 1, currency: str = "EUR") -> Commitment:
    return Commitment("C1", version, "L1", Decimal(amount), currency, h(at), event_id=f"e{at}")


def test_committed_is_the_latest_commitment_until_released_or_cancelled() -> None:
    first, second = commitment(100, 1), commitment(80, 5, version=2)
    assert current_commitment([second, first], [], cancelled=False) == (second, Decimal(80))
    assert current_commitment([first, second], [Release("C1", h(6))], cancelled=False) == (second, 0)
    # a release before the latest commitment (e.g. of the earlier version) does not undo it
    assert current_commitment([first, second], [Release("C1", h(3))], cancelled=False) == (second, Decimal(80))
    assert current_commitment([first, second], [], cancelled=True) == (second, 0)
    assert current_commitment([], [], cancelled=True) == (None, 0)


def test_a_release_naming_a_brief_version_frees_that_commitment_whatever_the_clock_says() -> None:
    # budget supersedes v1's commitment (released, naming v1) and later commits v2
    first, second = commitment(100, 1), commitment(80, 5, version=2)
    superseded = Release("C1", h(5), brief_version=1)  # same instant as v2's commitment
    assert current_commitment([first], [superseded], cancelled=False) == (first, 0)
    assert current_commitment([first, second], [superseded], cancelled=False) == (second, Decimal(80))
    assert current_commitment([first, second], [Release("C1", h(4), brief_version=2)], cancelled=False) == (
        second, 0)


def test_unreconciled_spend_is_part_of_actual_and_reported_apart() -> None:
    booked = Spend("C1", "ads", "r1", Decimal("30.50"), "EUR", date(2026, 2, 1), None, h(10))
    waiting = Spend("C1", "ads", "r2", Decimal("12.25"), "EUR", date(2026, 2, 2), None, h(11), unreconciled=True)
    facts = Facts(briefs=(brief(),), commitments=(commitment(100, 1),), spends=(booked, waiting))
    [c] = build_campaigns(facts)
    body = {cur: v.body() for cur, v in aggregates.campaign_variance(c).items()}
    assert body == {"EUR": {"committed": "100.00", "actual": "42.75", "variance": "-57.25", "variance_pct": "-57.25",
                            "unreconciled": "12.25"}}


def test_variance_keeps_spend_after_cancellation_and_per_currency() -> None:
    spend = Spend("C1", "ads", "r1", Decimal("30.50"), "EUR", date(2026, 2, 1), None, h(10))
    usd = Spend("C1", "ads", "r2", Decimal("5"), "USD", date(2026, 2, 2), "L9", h(11))
    facts = Facts(briefs=(brief(),), commitments=(commitment(100, 1),), spends=(spend, usd),
                  cancellations=(Milestone("C1", h(20)),))
    [c] = build_campaigns(facts)
    body = {cur: v.body() for cur, v in aggregates.campaign_variance(c).items()}
    assert body == {"EUR": {"committed": "0.00", "actual": "30.50", "variance": "30.50", "variance_pct": None,
                            "unreconciled": "0.00"},
                    "USD": {"committed": "0.00", "actual": "5.00", "variance": "5.00", "variance_pct": None,
                            "unreconciled": "0.00"}}
    lines = aggregates.line_variance([c])
    assert set(lines) == {("L1", "EUR"), ("L9", "USD")}  # own line wins; else the commitment's


@pytest.mark.parametrize(("part", "whole", "expected"), [
    ("1", "3", "33.33"), ("2", "3", "66.67"), ("-1", "8", "-12.50"), ("1", "200", "0.50"), ("5", "0", None)])
def test_percentages_round_half_up_to_cents(part, whole, expected) -> None:
    result = percent_of(Decimal(part), Decimal(whole))
    assert (str(result) if result is not None else None) == expected


def test_money_is_a_decimal_string() -> None:
    assert aggregates.money(Decimal("5000")) == "5000.00"
    assert aggregates.money(Decimal("0.125")) == "0.125"
    assert aggregates.money(Decimal("1E+40")) == "1E+40"  # beyond the context: printed, not an error


# --- status --------------------------------------------------------------------------


@pytest.mark.parametrize(("decisions", "extra", "status"), [
    ((), {}, Status.in_review),
    ((decision(approved=False),), {}, Status.changes_requested),
    ((decision(approved=False, kind="rejected"),), {}, Status.rejected),
    ((decision(last=True),), {}, Status.approved),
    ((decision(approved=False),), {"v2": True}, Status.in_review),   # a resubmission re-opens review
    ((decision(last=True),), {"launch": True}, Status.launched),
    ((decision(last=True),), {"launch": True, "cancel": True}, Status.cancelled),
])
def test_status(decisions, extra, status) -> None:
    briefs = (brief(), brief(version=2, at=h(50))) if extra.get("v2") else (brief(),)
    facts = Facts(briefs=briefs, decisions=decisions,
                  launches=(Launch("C1", h(90), 1, True, True),) if extra.get("launch") else (),
                  cancellations=(Milestone("C1", h(99)),) if extra.get("cancel") else ())
    assert build_campaigns(facts)[0].status is status


# --- order independence of the derivation --------------------------------------------


@given(st.randoms())
def test_derivation_does_not_depend_on_fact_order(rnd: random.Random) -> None:
    facts = Facts(
        briefs=(brief(), brief(version=2, at=h(40)), brief("C2", team="brand", channels=("video", "email"))),
        decisions=(decision(approved=False, decided=30), decision(version=2, actionable=40, decided=45),
                   decision("g2", version=2, actionable=45, decided=100, position=2, last=True),
                   decision(cid="C2", decided=3)),
        launches=(Launch("C1", h(200), 2, True, True),),
        commitments=(commitment(100, 101, version=2), commitment(90, 50)),
        spends=(Spend("C1", "a", "1", Decimal(70), "EUR", date(2026, 3, 1), None, h(300)),
                Spend("C1", "a", "2", Decimal(50), "EUR", date(2026, 4, 1), None, h(400))),
    )

    def shuffled(items: tuple) -> tuple:
        out = list(items)
        rnd.shuffle(out)
        return tuple(out)

    mixed = replace(facts, **{f: shuffled(getattr(facts, f)) for f in ("briefs", "decisions", "commitments",
                                                                        "spends")})
    a, b = build_campaigns(facts), build_campaigns(mixed)
    assert a == b
    assert aggregates.summary(a, Filters()).body == aggregates.summary(b, Filters()).body


# --- filters, groups, bottleneck -----------------------------------------------------


def test_a_campaign_counts_under_each_of_its_channels() -> None:
    [c] = build_campaigns(Facts(briefs=(brief(channels=("email", "video")),),
                                launches=(Launch("C1", h(10), 1, True, True),)))
    report = aggregates.cycle_time([c], Filters(), GroupBy.channel)
    assert [(g["group"], g["count"]) for g in report.body["groups"]] == [("email", 1), ("video", 1)]
    assert report.body["overall"]["count"] == 1
    assert aggregates.cycle_time([c], Filters(channel="print"), None).body["overall"]["count"] == 0


def test_quarter_basis_differs_between_cycle_time_and_the_rest() -> None:
    [c] = build_campaigns(Facts(briefs=(brief(at=datetime(2026, 3, 30, tzinfo=UTC)),),
                                launches=(Launch("C1", datetime(2026, 4, 2, tzinfo=UTC), 1, True, True),)))
    assert aggregates.cycle_time([c], Filters(quarter="2026-Q2"), None).body["overall"]["count"] == 1
    assert aggregates.on_time([c], Filters(quarter="2026-Q1"), None).body["overall"]["launched"] == 1
    assert aggregates.on_time([c], Filters(quarter="2026-Q2"), None).body["overall"]["launched"] == 0
    assert quarter_of(date(2026, 12, 31)) == "2026-Q4"


def test_bottleneck_tie_goes_to_the_earlier_gate() -> None:
    facts = Facts(briefs=(brief(),), decisions=(decision("late", position=2, actionable=5, decided=15),
                                                decision("early", position=1, actionable=0, decided=10)))
    body = aggregates.gate_times(build_campaigns(facts), Filters(), None).body
    assert [g["gate_id"] for g in body["overall"]["gates"]] == ["early", "late"]
    assert body["overall"]["bottleneck"]["gate_id"] == "early"


def test_undecided_gates_are_not_sla_observations() -> None:
    body = aggregates.sla_breaches(build_campaigns(Facts(briefs=(brief(),))), Filters(), None).body
    assert body["overall"] == {"decisions": 0, "breaches": 0, "breach_rate": None, "gates": []}


# --- presentation --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1 call me", "'+1 call me"), ("@risk", "'@risk"), ("-500.00", "-500.00"),
    ("-1e5", "-1e5"), ("plain", "plain"), (None, ""), (True, "true"), (1.5, "1.5"),
    (["email", "video"], "email; video"), ([{"currency": "EUR", "amount": "1.00"}], "EUR 1.00"),
    (date(2026, 1, 2), "2026-01-02"),
])
def test_csv_cells(value, text) -> None:
    assert cell(value) == text


def test_timeline_durations_between_steps() -> None:
    [c] = build_campaigns(Facts(briefs=(brief(),)))
    events = [LoggedEvent("b", "GateApproved", h(10), "marops/governance", {"gate_name": "G", "brief_version": 1}),
              LoggedEvent("a", "BriefSubmitted", T0, "marops/import", {"version": 1, "requester": "r"})]
    body = build_timeline("C1", c, events)
    assert [e["type"] for e in body["events"]] == ["BriefSubmitted", "GateApproved"]
    assert [e["since_previous_hours"] for e in body["events"]] == [None, 10]
    assert [e["historical"] for e in body["events"]] == [True, False]
    assert body["events"][1]["summary"] == "G approved (v1)"
