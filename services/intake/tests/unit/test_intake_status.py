"""Status derivation: the rules, and that order and duplicates never matter."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from marops_intake.domain.status import Fact, FactKind, Status, derive, history

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def t(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


CREATED = Fact("created", FactKind.created, t(0))


def submitted(version: int, at: float) -> Fact:
    return Fact(f"submitted:{version}", FactKind.submitted, t(at), version=version)


def approved(version: int, gate: int, at: float, *, last: bool = False) -> Fact:
    return Fact(f"gate:v{version}:g{gate}:approved", FactKind.gate_approved, t(at), version=version,
                gate_name=f"gate {gate}", is_last_gate=last)


def rejected(version: int, gate: int, at: float, *, outright: bool = False, reason: str = "fix it") -> Fact:
    return Fact(f"gate:v{version}:g{gate}:rejected", FactKind.gate_rejected, t(at), version=version,
                gate_name=f"gate {gate}", outright=outright, reason=reason, actor="alex")


def launched(version: int, at: float) -> Fact:
    return Fact(f"launched:v{version}", FactKind.launched, t(at), version=version)


def test_draft_until_submitted() -> None:
    assert derive([CREATED]).status is Status.draft
    assert derive([CREATED, submitted(1, 1)]).status is Status.submitted


def test_gate_decisions_on_the_current_version() -> None:
    base = [CREATED, submitted(1, 1)]
    assert derive([*base, approved(1, 1, 2)]).status is Status.in_review
    assert derive([*base, approved(1, 1, 2), approved(1, 2, 3, last=True)]).status is Status.approved
    view = derive([*base, approved(1, 1, 2), rejected(1, 2, 3, reason="Add a holdout")])
    assert view.status is Status.changes_requested
    assert view.reason == "gate 2: changes requested by alex: Add a holdout"
    assert derive([*base, rejected(1, 1, 2, outright=True)]).status is Status.rejected
    assert derive([*base, approved(1, 1, 2, last=True), launched(1, 5)]).status is Status.launched


def test_facts_about_other_versions_do_not_change_the_current_status() -> None:
    facts = [CREATED, submitted(1, 1), rejected(1, 1, 2), submitted(2, 3)]
    assert derive(facts).status is Status.submitted
    assert derive([*facts, approved(1, 1, 4, last=True), launched(1, 5), rejected(1, 2, 6)]).status \
        is Status.submitted
    assert derive([*facts, approved(2, 1, 4)]).status is Status.in_review


def test_own_terminal_facts_win() -> None:
    facts = [CREATED, submitted(1, 1), approved(1, 1, 2, last=True), launched(1, 3)]
    cancelled = Fact("cancelled", FactKind.cancelled, t(4), reason="budget frozen")
    assert derive([*facts, cancelled]) == derive([cancelled, *facts])
    assert derive([*facts, cancelled]).status is Status.cancelled
    assert derive([*facts, Fact("completed", FactKind.completed, t(9))]).status is Status.completed


def test_history_reads_in_business_time() -> None:
    facts = [launched(2, 9), submitted(2, 6), approved(2, 1, 7), approved(2, 2, 8, last=True), rejected(1, 2, 3),
             approved(1, 1, 2), submitted(1, 1), CREATED]
    assert [(h.status, h.at) for h in history(facts)] == [
        (Status.draft, t(0)), (Status.submitted, t(1)), (Status.in_review, t(2)), (Status.changes_requested, t(3)),
        (Status.submitted, t(6)), (Status.in_review, t(7)), (Status.approved, t(8)), (Status.launched, t(9)),
    ]


JOURNEY = [CREATED, submitted(1, 1), approved(1, 1, 2), rejected(1, 2, 3), submitted(2, 4), approved(2, 1, 5),
           approved(2, 2, 6, last=True), launched(2, 7), Fact("completed", FactKind.completed, t(8))]


@settings(max_examples=300, deadline=None)
@given(st.permutations(JOURNEY), st.lists(st.sampled_from(JOURNEY), max_size=10), st.integers(2, len(JOURNEY)))
def test_any_order_with_duplicates_gives_the_same_status_and_history(order, duplicates, prefix) -> None:
    """Every subset of facts that has arrived, in any order and repeated, derives the same."""
    arrived = JOURNEY[:prefix]
    shuffled = [f for f in order if f in arrived] + [f for f in duplicates if f in arrived]
    assert derive(shuffled) == derive(arrived)
    assert history(shuffled) == history(arrived)


def test_a_fact_redelivered_with_another_time_keeps_its_earliest_time_in_any_order() -> None:
    late_copy = Fact(approved(1, 1, 2).key, FactKind.gate_approved, t(5), version=1, gate_name="gate 1")
    facts = [CREATED, submitted(1, 1), approved(1, 1, 2)]
    expected = history(facts)
    assert history([*facts, late_copy]) == history([late_copy, *facts]) == expected
    assert [h.at for h in expected] == [t(0), t(1), t(2)]
