"""The budget rules alone: reservations, convergence, spend checks, thresholds, pacing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marops_budget.domain import (
    Brief,
    CampaignFacts,
    Commit,
    CopyVerdict,
    Hold,
    HoldStatus,
    LineBalance,
    LineState,
    PacingStatus,
    Reconciliation,
    Refused,
    Release,
    Reserve,
    Reserved,
    RuleViolation,
    Spend,
    SpendCopy,
    amount_problem,
    check_adjustment,
    check_reallocation,
    check_resolution,
    check_spend,
    conflict_reason,
    crossed_thresholds,
    decide_reservation,
    judge_copy,
    next_action,
    pacing,
    reconciliation_to_publish,
    variance_percent,
)
from marops_budget.settings import Settings
from marops_events.contracts import (
    ReconciliationResolution,
    ReconciliationStatus,
    ReleaseReason,
    ReservationRejectionReason,
    UnreconciledReason,
)

D = Decimal
FLIGHT = (dt.date(2026, 4, 1), dt.date(2026, 4, 30))


def brief(version: int = 1, amount: str = "100", line: str = "A", currency: str = "EUR") -> Brief:
    return Brief("c1", version, line, D(amount), currency, *FLIGHT)


def line(amount: str = "1000", others: str = "0", spent: str = "0", currency: str = "EUR",
         line_id: str = "A") -> LineState:
    return LineState(line_id, currency, D(amount), D(others), D(spent))


def hold(version: int = 1, amount: str = "100", status: HoldStatus = HoldStatus.reserved) -> Hold:
    return Hold("c1", "A", version, D(amount), "EUR", status)


# ------------------------------------------------------------------- reservations


def test_a_reservation_fits_exactly_into_what_others_leave() -> None:
    assert decide_reservation(brief(amount="400"), line(others="600")) == Reserved(hold(amount="400"))
    refused = decide_reservation(brief(amount="400.01"), line(others="600"))
    assert isinstance(refused, Refused)
    assert refused.code is ReservationRejectionReason.insufficient_funds
    assert "400 EUR available" in refused.reason


def test_a_reservation_is_refused_for_an_unknown_line_or_another_currency() -> None:
    assert decide_reservation(brief(), None).code is ReservationRejectionReason.unknown_line  # type: ignore[union-attr]
    mismatch = decide_reservation(brief(currency="USD"), line())
    assert isinstance(mismatch, Refused) and mismatch.code is ReservationRejectionReason.currency_mismatch


def test_spend_already_made_counts_against_the_reservation() -> None:
    # The campaign already spent 500 on the line: reserving 100 still uses 500 of it.
    assert isinstance(decide_reservation(brief(amount="100"), line(amount="1000", others="500", spent="500")),
                      Reserved)
    assert isinstance(decide_reservation(brief(amount="100"), line(amount="1000", others="600", spent="500")),
                      Refused)


def facts(**fields: object) -> CampaignFacts:
    return CampaignFacts(campaign_id="c1", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "current", "expected"), [
    (facts(), None, None),
    (facts(latest_brief=brief()), None, Reserve(brief())),
    (facts(latest_brief=brief(), decisions={1: True}), hold(), None),
    (facts(latest_brief=brief(), decisions={1: True}, budget_approved_versions=frozenset({1})), hold(),
     Commit(hold())),
    (facts(latest_brief=brief(), decisions={1: False}, budget_approved_versions=frozenset({1})), None, None),
    (facts(latest_brief=brief(2), decisions={1: True}), hold(), Reserve(brief(2))),
    # v2 refused: v1 stays held, and its approval still commits it.
    (facts(latest_brief=brief(2), decisions={1: True, 2: False}, budget_approved_versions=frozenset({1})), hold(),
     Commit(hold())),
    (facts(latest_brief=brief(2), decisions={1: True, 2: False}, outright_rejected_versions=frozenset({1})),
     hold(), Release(hold(), ReleaseReason.rejected)),
    (facts(latest_brief=brief(2), decisions={1: True, 2: True}, budget_approved_versions=frozenset({1})),
     hold(2), None),
    (facts(latest_brief=brief(), decisions={1: True}, outright_rejected_versions=frozenset({1})),
     hold(status=HoldStatus.committed), Release(hold(status=HoldStatus.committed), ReleaseReason.rejected)),
    (facts(latest_brief=brief(), outright_rejected_versions=frozenset({1})), None, None),
    # A rejection of a version older than the one held changes nothing; of a later (refused) one, releases.
    (facts(latest_brief=brief(2), decisions={1: True, 2: True}, outright_rejected_versions=frozenset({1})),
     hold(2), None),
    (facts(latest_brief=brief(3), decisions={1: True, 2: False, 3: False}, outright_rejected_versions=frozenset({2})),
     hold(1), Release(hold(1), ReleaseReason.rejected)),
    (facts(latest_brief=brief(), cancelled=True), None, None),
    (facts(cancelled=True), hold(), Release(hold(), ReleaseReason.cancelled)),
    (facts(latest_brief=brief(), decisions={1: True}, cancelled=True), hold(status=HoldStatus.released), None),
])
def test_next_action(state: CampaignFacts, current: Hold | None, expected: object) -> None:
    assert next_action(state, current) == expected


# -------------------------------------------- convergence: any interleaving of the topics


def simulate(events: list[tuple[str, int]], versions: list[Brief], line_amount: D) -> Hold | None:
    """Apply events one by one like the service does: store the fact, act until converged."""
    state = facts()
    current: Hold | None = None
    for kind, version in events:
        if kind == "brief":
            latest = state.latest_brief
            if latest is None or version > latest.version:
                state = dataclasses.replace(state, latest_brief=versions[version - 1])
        elif kind == "approved":
            state = dataclasses.replace(state, budget_approved_versions=state.budget_approved_versions | {version})
        elif kind == "rejected":
            state = dataclasses.replace(state,
                                        outright_rejected_versions=state.outright_rejected_versions | {version})
        else:
            state = dataclasses.replace(state, cancelled=True)
        for _ in range(4):
            action = next_action(state, current)
            if action is None:
                break
            if isinstance(action, Reserve):
                b = action.brief
                target = LineState(b.budget_line_id, "EUR", line_amount, D(0), D(0)) if b.budget_line_id != "gone" \
                    else None
                outcome = decide_reservation(b, target)
                state = dataclasses.replace(state, decisions={**state.decisions,
                                                              b.version: isinstance(outcome, Reserved)})
                if isinstance(outcome, Reserved):
                    current = outcome.hold
            elif isinstance(action, Commit):
                current = dataclasses.replace(action.hold, status=HoldStatus.committed)
            else:
                current = dataclasses.replace(action.hold, status=HoldStatus.released)
        else:
            raise AssertionError("did not converge")
    return current if current is not None and current.active else None


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[Brief], D]:
    n = draw(st.integers(1, 4))
    versions = [Brief("c1", v, draw(st.sampled_from(["A", "B", "gone"])),
                      D(draw(st.integers(0, 150))), draw(st.sampled_from(["EUR", "EUR", "USD"])), *FLIGHT)
                for v in range(1, n + 1)]
    topics = {
        "brief": [("brief", v) for v in range(1, n + 1)],
        "approved": [("approved", v) for v in draw(st.lists(st.integers(1, n), max_size=3, unique=True))],
        "rejected": [("rejected", v) for v in draw(st.lists(st.integers(1, n), max_size=2, unique=True))],
        "cancelled": [("cancelled", 0)] if draw(st.booleans()) else [],
    }
    canonical = [e for t in ("brief", "approved", "rejected", "cancelled") for e in topics[t]]
    # Interleave the topics, each keeping its own order (as Kafka does per key), and
    # re-deliver random events again later (a same-fact duplicate).
    positions = {t: 0 for t in topics}
    interleaved: list[tuple[str, int]] = []
    while any(positions[t] < len(topics[t]) for t in topics):
        topic = draw(st.sampled_from([t for t in topics if positions[t] < len(topics[t])]))
        interleaved.append(topics[topic][positions[topic]])
        positions[topic] += 1
        if draw(st.integers(0, 4)) == 0:
            interleaved.append(draw(st.sampled_from(interleaved)))
    return canonical, interleaved, versions, D(draw(st.integers(50, 200)))


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_any_interleaving_with_duplicates_reaches_the_same_hold(scenario) -> None:  # type: ignore[no-untyped-def]
    canonical, interleaved, versions, line_amount = scenario
    assert simulate(interleaved, versions, line_amount) == simulate(canonical, versions, line_amount)


# ------------------------------------------------------------------- spend


def spend(amount: str = "10.00", **fields: object) -> Spend:
    base: dict[str, object] = dict(campaign_id="c1", source_system="ads", source_reference="r1", amount=D(amount),
                                   currency="EUR", incurred_on=dt.date(2026, 4, 2))
    return Spend(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(("candidate", "line_currency", "message"), [
    (spend("0"), "EUR", "zero"),
    (spend("-5"), "EUR", "corrects_reference"),
    (spend("-5", corrects_reference="r1"), "EUR", "cannot correct itself"),
    (spend("5", currency="USD"), "EUR", "USD but its budget line is in EUR"),
    (spend("0.00001"), None, "4 decimal places"),
    (spend("1E+15"), None, "below"),
])
def test_spend_that_can_never_be_recorded(candidate: Spend, line_currency: str | None, message: str) -> None:
    with pytest.raises(RuleViolation, match=message):
        check_spend(candidate, line_currency)


def test_spend_that_is_fine() -> None:
    check_spend(spend("-5", corrects_reference="r0"), "EUR")
    check_spend(spend("5", currency="USD"), None)  # line not known yet: held unattributed
    check_spend(spend("0.0001"), "EUR")


def test_a_re_sent_spend_is_the_same_fact_whatever_its_description() -> None:
    assert spend(description="a").same_fact_as(spend(description="b"))
    assert spend("10.0").same_fact_as(spend("10.00"))
    assert not spend("10.00").same_fact_as(spend("10.01"))
    assert not spend().same_fact_as(spend(campaign_id="c2"))


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-1E+16", "0.00001"])
def test_amounts_that_are_refused(amount: str) -> None:
    assert amount_problem(D(amount)) is not None


# ------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(("committed", "spent", "already", "expected"), [
    ("1000", "799.99", [], []),
    ("1000", "800", [], [80]),
    ("1000", "1100", [], [80, 100, 110]),
    ("1000", "1100", [80, 100], [110]),
    ("1000", "5000", [80, 100, 110], []),
    ("0", "5000", [], []),
])
def test_thresholds_are_crossed_once(committed: str, spent: str, already: list[int], expected: list[int]) -> None:
    assert crossed_thresholds(D(committed), D(spent), [110, 80, 100], already) == expected


def test_thresholds_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_THRESHOLD_PERCENTS", "[90, 50, 90]")
    assert Settings().threshold_percents == [50, 90]
    monkeypatch.setenv("BUDGET_THRESHOLD_PERCENTS", "[0]")
    with pytest.raises(ValueError, match="between 1 and 10000"):
        Settings()


# ------------------------------------------------------------------- plan changes


def test_adjustments_and_reallocations_never_undercut_what_a_line_holds() -> None:
    held = LineBalance(D("1000"), "EUR", D("600"))
    check_adjustment("A", held, D("600"), "EUR")
    with pytest.raises(RuleViolation) as too_low:
        check_adjustment("A", held, D("599.99"), "EUR")
    assert too_low.value.conflict
    other = LineBalance(D("10"), "EUR", D("0"))
    check_reallocation("A", held, "B", other, D("400"), "EUR")
    with pytest.raises(RuleViolation) as too_much:
        check_reallocation("A", held, "B", other, D("400.01"), "EUR")
    assert too_much.value.conflict
    for args in (("A", held, "A", held, D("1"), "EUR"), ("A", held, "B", LineBalance(D(1), "USD", D(0)), D(1), "EUR"),
                 ("A", held, "B", other, D("0"), "EUR"), ("A", held, "B", other, D("1"), "USD")):
        with pytest.raises(RuleViolation) as refused:
            check_reallocation(*args)  # type: ignore[arg-type]
        assert not refused.value.conflict


# ------------------------------------------------------------------- pacing and variance


@pytest.mark.parametrize(("as_of", "spent", "elapsed", "status"), [
    (dt.date(2026, 3, 31), "0", "0.0000", PacingStatus.not_started),
    (dt.date(2026, 3, 31), "1", "0.0000", PacingStatus.overpacing),
    (dt.date(2026, 4, 15), "500", "0.5000", PacingStatus.on_pace),
    (dt.date(2026, 4, 15), "600", "0.5000", PacingStatus.on_pace),  # exactly at the tolerance
    (dt.date(2026, 4, 15), "600.01", "0.5000", PacingStatus.overpacing),
    (dt.date(2026, 4, 15), "399.99", "0.5000", PacingStatus.underpacing),
    (dt.date(2026, 6, 1), "1000", "1.0000", PacingStatus.on_pace),
])
def test_pacing_compares_spend_share_with_elapsed_share(as_of: dt.date, spent: str, elapsed: str,
                                                        status: PacingStatus) -> None:
    result = pacing(D("1000"), D(spent), dt.date(2026, 4, 1), dt.date(2026, 4, 30), as_of, 10)
    assert (str(result.elapsed_share), result.status) == (elapsed, status)


def test_pacing_without_a_commitment_and_variance_percent() -> None:
    assert pacing(D(0), D(5), *FLIGHT, dt.date(2026, 4, 10), 10).status is PacingStatus.no_commitment
    assert variance_percent(D("1150"), D("1000")) == D("15.00")
    assert variance_percent(D("5"), D("0")) is None


def test_variance_percent_rounds_half_up_like_the_metrics_service() -> None:
    # 0.01 over 200 is exactly 0.005 %: the same variance must read the same in both services.
    assert variance_percent(D("200.01"), D("200")) == D("0.01")
    assert variance_percent(D("199.99"), D("200")) == D("-0.01")


# ------------------------------------------------------------------- copies of one spend

_T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _copy(amount: str, minutes: int, event: int, **changes: object) -> SpendCopy:
    spend = dataclasses.replace(Spend("cmp-1", "erp", "inv-1", Decimal(amount), "EUR", dt.date(2026, 3, 1)),
                                **changes)
    return SpendCopy(spend, _T0 + dt.timedelta(minutes=minutes), uuid.UUID(int=event))


def _arrive(copies: list[SpendCopy]) -> tuple[SpendCopy | None, list[SpendCopy]]:
    """Apply copies in arrival order as budget does: the kept copy and the refused ones."""
    kept: SpendCopy | None = None
    refused = []
    for c in copies:
        verdict = judge_copy(kept, c)
        if verdict in (CopyVerdict.new, CopyVerdict.replaces):
            kept = c
        elif verdict is CopyVerdict.conflicts:
            refused.append(c)
    return kept, refused


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["10.00", "10.0", "12.00"]), st.integers(0, 3), st.integers(1, 6)),
                min_size=1, max_size=6, unique_by=lambda t: t[2]), st.randoms())
def test_the_kept_copy_is_the_earliest_whatever_the_arrival_order(raw: list[tuple[str, int, int]],
                                                                  rnd: object) -> None:
    copies = [_copy(amount, minutes, event) for amount, minutes, event in raw]
    earliest = min(copies, key=lambda c: c.order)
    shuffled = copies[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    kept, _ = _arrive(shuffled)
    assert kept == earliest
    # Arriving in time order, every copy that contradicts the earliest is refused.
    _, refused = _arrive(sorted(copies, key=lambda c: c.order))
    assert {c.event_id for c in refused} == {c.event_id for c in copies if not c.spend.same_fact_as(earliest.spend)}


def test_copy_verdicts_and_the_conflict_reason() -> None:
    kept = _copy("10.00", 5, 2)
    assert judge_copy(None, kept) is CopyVerdict.new
    assert judge_copy(kept, kept) is CopyVerdict.duplicate
    assert judge_copy(kept, _copy("10.0", 6, 3)) is CopyVerdict.duplicate  # same number, later
    assert judge_copy(kept, _copy("10.00", 5, 3, description="re-rendered")) is CopyVerdict.duplicate
    assert judge_copy(kept, _copy("99.00", 5, 1)) is CopyVerdict.replaces  # same instant, smaller id
    later = _copy("12.00", 6, 1, incurred_on=dt.date(2026, 3, 2))
    assert judge_copy(kept, later) is CopyVerdict.conflicts
    assert conflict_reason(kept, later) == (
        f"spend erp/inv-1 conflicts with the earlier copy kept from event {kept.event_id}: "
        "amount 12.00, not 10.00; incurred_on 2026-03-02, not 2026-03-01")


def test_reconciliation_is_published_on_every_change_but_not_for_spend_booked_at_once() -> None:
    booked = Reconciliation("cmp-1", Decimal(5), "EUR", ReconciliationStatus.reconciled,
                            resolution=ReconciliationResolution.attributed, budget_line_id="l1")
    waiting = Reconciliation("cmp-1", Decimal(5), "EUR", ReconciliationStatus.unreconciled,
                             reason_code=UnreconciledReason.currency_mismatch)
    assert not reconciliation_to_publish(booked, None)
    assert reconciliation_to_publish(waiting, None)
    assert reconciliation_to_publish(booked, waiting)
    assert not reconciliation_to_publish(waiting, waiting)
    assert reconciliation_to_publish(dataclasses.replace(waiting, amount=Decimal(6)), waiting)


@pytest.mark.parametrize(("resolution", "unreconciled", "line", "line_currency", "problem"), [
    (ReconciliationResolution.booked, False, "l1", "EUR", "not unreconciled"),
    (ReconciliationResolution.booked, True, None, None, "needs the budget_line_id"),
    (ReconciliationResolution.booked, True, "l9", None, "does not exist"),
    (ReconciliationResolution.booked, True, "l2", "USD", "is in USD"),
    (ReconciliationResolution.excluded, True, "l1", "EUR", "counts against no line"),
    (ReconciliationResolution.attributed, True, None, None, "booking or excluding"),
])
def test_finance_resolutions_are_checked(resolution: ReconciliationResolution, unreconciled: bool,
                                         line: str | None, line_currency: str | None, problem: str) -> None:
    with pytest.raises(RuleViolation, match=problem):
        check_resolution(resolution, unreconciled=unreconciled, spend_currency="EUR", line_id=line,
                         line_currency=line_currency)
    check_resolution(ReconciliationResolution.booked, unreconciled=True, spend_currency="EUR", line_id="l1",
                     line_currency="EUR")
    check_resolution(ReconciliationResolution.excluded, unreconciled=True, spend_currency="EUR", line_id=None,
                     line_currency=None)


# ------------------------------------------------------------------- refusals at the edge's old checks


def test_a_service_account_records_only_for_the_source_systems_its_token_names() -> None:
    from marops_budget.domain import BudgetRefusal, check_recorder
    from marops_service.auth import Principal, Role
    from marops_service.refusals import Refusal

    ads = Principal("svc-ads", frozenset({Role.service}), source_systems=frozenset({"ads"}))
    check_recorder(ads, "ads")
    check_recorder(Principal("fin", frozenset({Role.finance})), "anything")
    with pytest.raises(Refusal) as refused:
        check_recorder(ads, "crm")
    assert refused.value.code is BudgetRefusal.source_system_not_allowed
    assert "'crm'" in refused.value.detail


def test_a_month_before_year_one_is_refused_and_a_month_is_its_first_day() -> None:
    from marops_budget.domain import BudgetRefusal, month_start
    from marops_service.refusals import Refusal

    assert month_start("2026-03") == dt.date(2026, 3, 1)
    with pytest.raises(Refusal) as refused:
        month_start("0000-01")
    assert refused.value.code is BudgetRefusal.invalid
