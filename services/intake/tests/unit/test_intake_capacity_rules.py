"""Capacity, demand and deadline realism alone (no I/O)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from marops_intake.domain.capacity import (
    Capacity,
    CycleSample,
    Demand,
    overloads,
    realistic_launch,
    unrealistic,
    weeks_report,
)

D = dt.date


def test_demand_is_spread_evenly_over_the_window_days() -> None:
    a = Demand("a", None, Decimal(70), D(2031, 3, 3), D(2031, 3, 16))  # 14 days, 5 a day
    assert (a.days, a.in_week(D(2031, 3, 3)), a.in_week(D(2031, 3, 10)), a.in_week(D(2031, 3, 17))) == (
        14, 35, 35, 0)
    # a target before the first day leaves that day
    late = Demand("b", None, Decimal(9), D(2031, 3, 5), D(2031, 3, 1))
    assert (late.days, late.in_week(D(2031, 3, 3))) == (1, 9)
    # a window across weeks: Thursday to Tuesday, 6 days: 4 in the first week, 2 in the next
    c = Demand("c", None, Decimal(10), D(2031, 3, 6), D(2031, 3, 11))
    assert (c.in_week(D(2031, 3, 3)), c.in_week(D(2031, 3, 10))) == (Fraction(20, 3), Fraction(10, 3))


def test_weeks_and_overloads() -> None:
    cap = Capacity("hours", Decimal(40), {D(2031, 3, 10): Decimal(20)})
    a = Demand("a", None, Decimal(70), D(2031, 3, 3), D(2031, 3, 16))
    weeks = weeks_report([a], cap, D(2031, 3, 5), 2)
    assert [(w.start, w.capacity, w.demand, w.overloaded) for w in weeks] == [
        (D(2031, 3, 3), Decimal(40), Decimal("35.00"), False), (D(2031, 3, 10), Decimal(20), Decimal("35.00"), True)]
    b = Demand("b", None, Decimal(14), D(2031, 3, 3), D(2031, 3, 9))
    assert [(o.week, o.demand_without, o.demand_with) for o in overloads(b, [a], cap)] == [
        (D(2031, 3, 3), Decimal("35.00"), Decimal("49.00"))]
    assert overloads(b, [a], None) == [] and weeks_report([a], None, D(2031, 3, 3), 1)[0].overloaded is False


def test_realistic_launch_from_the_median_cycle() -> None:
    start = dt.datetime(2031, 3, 3, 9, tzinfo=dt.UTC)
    team = [CycleSample("t", ("video",), Fraction(d)) for d in (10, 30, 20)]
    r = realistic_launch("t", ["video"], start, team, min_samples=3)
    assert r is not None and (r.median_days, r.basis, r.realistic_from) == (Decimal("20.00"), "team", D(2031, 3, 23))
    assert unrealistic(D(2031, 3, 22), r) and not unrealistic(D(2031, 3, 23), r)
    assert realistic_launch("t", ["video"], start, team[:2], min_samples=3) is None
    # another team: the largest median among its channels that have enough launches
    others = team + [CycleSample("u", ("email",), Fraction(d)) for d in (2, 4, 6, 8)]
    r = realistic_launch("new", ["email", "video"], start, others, min_samples=3)
    assert r is not None and (r.basis, r.median_days) == ("channel:video", Decimal("20.00"))
