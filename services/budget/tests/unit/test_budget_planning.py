"""The planning rules alone: forecast arithmetic, when to announce, plan files, allocation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from marops_budget.domain import RuleViolation
from marops_budget.planning import (
    Announcement,
    CampaignRun,
    Forecast,
    PlanScope,
    PlanState,
    check_allocation,
    check_new_plan,
    forecast,
    parse_plan_file,
    should_announce,
)

D = dt.date
A = CampaignRun("a", Decimal(6000), Decimal(3000), D(2031, 4, 1), D(2031, 4, 30))
B = CampaignRun("b", Decimal(4000), Decimal(0), D(2031, 4, 1), D(2031, 5, 10))


def test_forecast_spreads_each_commitment_at_its_observed_or_planned_pace() -> None:
    f = forecast(Decimal(10000), Decimal(3000), [A, B], D(2031, 4, 10))
    # 3000 + 400k >= 10000 at k = 18
    assert f.run_out_on == D(2031, 4, 28)
    assert f.forecast_spend == Decimal("12000.00")  # 3000 + 20 x 300 + 30 x 100
    assert [(c.daily_pace, c.remaining_days) for c in f.campaigns] == [(Decimal("300.00"), 20),
                                                                      (Decimal("100.00"), 30)]
    assert f.within(30) and not f.within(17)


def test_forecast_edges() -> None:
    # spent already reaches the amount: it ran out today
    assert forecast(Decimal(100), Decimal(100), [], D(2031, 1, 1)).run_out_on == D(2031, 1, 1)
    # nothing committed or spent: no run-out day, not even for a zero line
    assert forecast(Decimal(0), Decimal(0), [], D(2031, 1, 1)).run_out_on is None
    # flights over: nothing more is forecast
    f = forecast(Decimal(10000), Decimal(3000), [A, B], D(2031, 6, 1))
    assert (f.run_out_on, f.forecast_spend) == (None, Decimal("3000.00"))
    # before a flight starts, the planned pace from its first day on
    f = forecast(Decimal(6000), Decimal(0), [CampaignRun("c", Decimal(6000), Decimal(0), D(2031, 4, 1),
                                                         D(2031, 4, 30))], D(2031, 3, 1))
    assert f.run_out_on == D(2031, 4, 30)


def _now(run_out: dt.date | None, as_of: dt.date = D(2031, 4, 10)) -> Forecast:
    return Forecast(as_of=as_of, amount=Decimal(1), spent=Decimal(0), committed=Decimal(0),
                    forecast_spend=Decimal(0), run_out_on=run_out, campaigns=())


@pytest.mark.parametrize(("run_out", "last", "expected"), [
    (D(2031, 4, 28), None, True),  # came inside the horizon
    (D(2031, 6, 28), None, False),  # outside: nothing to say
    (D(2031, 4, 28), Announcement(1, D(2031, 4, 30), True), False),  # moved 2 days: not material
    (D(2031, 4, 23), Announcement(1, D(2031, 4, 30), True), True),  # moved 7 days
    (D(2031, 6, 28), Announcement(1, D(2031, 4, 30), True), True),  # left the horizon
    (None, Announcement(1, D(2031, 4, 30), True), True),  # no longer runs out
    (None, Announcement(2, None, False), False),  # still nothing
    (D(2031, 5, 1), Announcement(2, None, False), True),  # came back inside
])
def test_announcements_only_on_what_moved(run_out, last, expected) -> None:
    assert should_announce(_now(run_out), last, horizon_days=30, material_days=7) is expected


def test_allocation_within_the_plan() -> None:
    plan = PlanState("p", Decimal(100), "EUR", allocated=Decimal(60))
    check_allocation(plan, "EUR", Decimal(40))
    check_allocation(None, "USD", Decimal(10**6))  # no plan, no limit
    with pytest.raises(RuleViolation, match="unallocated") as refused:
        check_allocation(plan, "EUR", Decimal("40.01"))
    assert refused.value.conflict
    with pytest.raises(RuleViolation, match="is in EUR"):
        check_allocation(plan, "USD", Decimal(1))
    with pytest.raises(RuleViolation, match="as a whole or per channel"):
        check_new_plan(PlanScope(2031, "t", "email"), Decimal(1), "EUR", [PlanScope(2031, "t", None)], [])
    check_new_plan(PlanScope(2031, "t", "email"), Decimal(1), "EUR", [PlanScope(2031, "t", "video")], [])


def test_plan_file_rows_and_errors() -> None:
    channels, currencies = frozenset({"email"}), frozenset({"EUR"})
    rows, errors = parse_plan_file("fiscal_year,team,channel,quarter,id,name,amount,currency\r\n"
                                   "2031,t,,,p1,,10.00,EUR\r\n\r\n2031,t,email,2,l1,Line,5,EUR\r\n",
                                   channels, currencies)
    assert errors == [] and [(r.row, r.is_plan, r.amount) for r in rows] == [(2, True, Decimal("10.00")),
                                                                             (4, False, Decimal(5))]
    _, errors = parse_plan_file("fiscal_year,team,quarter,id,amount,currency,extra\n", channels, currencies)
    assert errors[0].row == 1 and "unknown column(s) extra" in errors[0].message
    _, errors = parse_plan_file("fiscal_year,team,channel,quarter,id,amount,currency\n"
                                "1999,t,email,1,x,-1,XXX\n2031,t,,1,x,1,EUR\n2031,t,email,1,y\n",
                                channels, currencies)
    assert [(e.row, e.column) for e in errors] == [(2, "fiscal_year"), (2, "currency"), (2, "amount"),
                                                   (3, "channel"), (4, None)]
    _, errors = parse_plan_file("", channels, currencies)
    assert errors and errors[0].row == 1
