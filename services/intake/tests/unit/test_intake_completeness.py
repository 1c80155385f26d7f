"""The completeness check and the submitted snapshot, without I/O."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from marops_intake.domain.brief import Brief, KpiDraft, to_submission
from marops_intake.domain.completeness import check

TODAY = dt.date(2026, 3, 1)


def complete(**overrides: Any) -> dict[str, Any]:
    brief: dict[str, Any] = {
        "title": "Spring webinars", "team": "growth", "owner": "rita",
        "objective": "Leads for analytics", "target_audience": "Data leads",
        "channels": ["email", "paid_social"],
        "target_launch_date": "2026-04-01", "flight_start": "2026-04-01", "flight_end": "2026-05-31",
        "kpis": [{"metric": "qualified_leads", "target": "1200", "unit": "leads", "timeframe": "90 days"}],
        "tracking_plan": {"campaign_code": "spring", "conversion_events": ["signup"],
                          "reporting_destination": "Looker"},
        "budget_request": {"amount": {"amount": "25000.00", "currency": "EUR"}, "budget_line_id": "line-1"},
        "raci": {"responsible": ["rita"]},
    }
    brief.update(overrides)
    return brief


def paths(brief: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f.path, f.type) for f in check(Brief.model_validate(brief), today=TODAY)}


def test_a_complete_brief_has_no_findings_and_becomes_a_full_snapshot() -> None:
    brief = Brief.model_validate(complete(links=["https://wiki.example.com/x"], notes="n"))
    assert check(brief, today=TODAY) == []
    event = to_submission(brief, campaign_id="c-1", version=3, requester="ravi")
    assert (event.version, event.requester, event.owner, event.team) == (3, "ravi", "rita", "growth")
    assert event.raci.accountable == "rita"  # the owner, unless the brief names someone
    assert event.kpis[0].target == Decimal("1200")
    assert event.budget_request.amount.amount == Decimal("25000.00")
    assert event.target_launch_date == dt.date(2026, 4, 1)


def test_an_empty_draft_lists_every_required_field() -> None:
    assert paths({}) == {
        ("title", "missing"), ("team", "missing"), ("owner", "missing"), ("objective", "missing"),
        ("target_audience", "missing"), ("channels", "missing"), ("target_launch_date", "missing"),
        ("flight_start", "missing"), ("flight_end", "missing"), ("kpis", "missing"), ("tracking_plan", "missing"),
        ("budget_request", "missing"), ("raci.responsible", "missing"),
    }


@pytest.mark.parametrize(("override", "expected"), [
    ({"title": "   "}, {("title", "missing")}),
    ({"channels": []}, {("channels", "missing")}),
    ({"channels": ["email", "sms", "email"]}, {("channels.2", "invalid")}),
    ({"target_launch_date": "2026-02-28", "flight_start": "2026-02-28"}, {("target_launch_date", "invalid")}),
    ({"flight_start": "2026-03-31"}, {("flight_start", "invalid")}),
    ({"flight_end": "2026-03-31"}, {("flight_end", "invalid")}),
    ({"kpis": [{"metric": "leads"}]}, {("kpis.0.target", "missing"), ("kpis.0.unit", "missing"),
                                       ("kpis.0.timeframe", "missing")}),
    ({"kpis": [{"metric": "a", "target": "1", "unit": "u", "timeframe": "t"},
               {"metric": " A ", "target": "2", "unit": "u", "timeframe": "t"}]}, {("kpis.1.metric", "invalid")}),
    ({"tracking_plan": {"campaign_code": "x"}}, {("tracking_plan.conversion_events", "missing"),
                                                 ("tracking_plan.reporting_destination", "missing")}),
    ({"tracking_plan": {"campaign_code": "x", "conversion_events": [""], "reporting_destination": "L"}},
     {("tracking_plan.conversion_events.0", "invalid")}),
    ({"budget_request": {"amount": {"amount": "-5", "currency": "eur"}}},
     {("budget_request.amount.amount", "invalid"), ("budget_request.amount.currency", "invalid"),
      ("budget_request.budget_line_id", "missing")}),
    ({"budget_request": {"budget_line_id": "l"}}, {("budget_request.amount.amount", "missing"),
                                                   ("budget_request.amount.currency", "missing")}),
    ({"raci": {"responsible": [], "accountable": "zed"}}, {("raci.responsible", "missing"),
                                                           ("raci.accountable", "invalid")}),
    ({"raci": {"responsible": ["rita"], "informed": [" "]}}, {("raci.informed.0", "invalid")}),
    ({"links": ["ftp://x", "https://", "http://[::1"]}, {("links.0", "invalid"), ("links.1", "invalid"),
                                                         ("links.2", "invalid")}),
])
def test_each_rule(override: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert paths(complete(**override)) == expected


def test_every_finding_has_a_reason() -> None:
    assert all(f.reason for f in check(Brief.model_validate({"kpis": [{}], "raci": {}}), today=TODAY))


def test_the_draft_refuses_wrong_types_and_floats_for_money() -> None:
    with pytest.raises(ValidationError) as err:
        Brief.model_validate({"channels": ["tiktok"], "budget_request": {"amount": {"amount": 10.5}},
                              "target_launch_date": "soon", "unknown": 1})
    assert {".".join(map(str, e["loc"])) for e in err.value.errors()} == {
        "channels.0", "budget_request.amount.amount", "target_launch_date", "unknown"}


# Every way a field can be absent or blank, for the strings, lists and sub-objects.
_blankish = st.sampled_from([None, "", " ", "\t"])
_mutations = st.dictionaries(
    st.sampled_from(["title", "team", "owner", "objective", "target_audience", "channels", "kpis", "tracking_plan",
                     "budget_request", "raci", "kpis.metric", "kpis.unit", "kpis.timeframe", "kpis.target",
                     "tracking.campaign_code", "tracking.event", "raci.responsible", "raci.accountable",
                     "budget.line", "budget.currency"]),
    _blankish,
)


def _mutate(mutations: dict[str, Any]) -> dict[str, Any]:
    brief = complete()
    for field, value in mutations.items():
        if "." not in field:
            brief[field] = value if field not in ("channels", "kpis") or value is None else []
            if field in ("tracking_plan", "budget_request", "raci"):
                brief[field] = None
            continue
        part, name = field.split(".")
        if part == "kpis" and brief.get("kpis"):
            brief["kpis"] = [{**brief["kpis"][0], name: None if name == "target" else value}]
        elif part == "tracking" and brief.get("tracking_plan"):
            plan = dict(brief["tracking_plan"])
            if name == "event":
                plan["conversion_events"] = [value or ""]
            else:
                plan[name] = value
            brief["tracking_plan"] = plan
        elif part == "raci" and brief.get("raci"):
            brief["raci"] = {**brief["raci"], name: [value or ""] if name == "responsible" else value}
        elif part == "budget" and brief.get("budget_request"):
            request = dict(brief["budget_request"])
            if name == "line":
                request["budget_line_id"] = value
            else:
                request["amount"] = {**request["amount"], "currency": value}
            brief["budget_request"] = request
    return brief


@settings(max_examples=300, deadline=None)
@given(_mutations)
def test_a_brief_is_submittable_exactly_when_the_check_finds_nothing(mutations: dict[str, Any]) -> None:
    """The check guards the contract: what it lets through always makes a valid BriefSubmitted,
    and every blanked required field is reported."""
    brief = Brief.model_validate(_mutate(mutations))
    findings = check(brief, today=TODAY)
    if not findings:
        to_submission(brief.with_defaults(), campaign_id="c", version=1, requester="r")
    else:
        assert mutations, "an unmodified complete brief has no findings"
    if mutations.get("title", "x") in (None, "", " ", "\t"):
        assert "title" in {f.path for f in findings}


def test_a_large_kpi_figure_sent_as_a_json_number_is_kept_in_plain_notation() -> None:
    # 4.9e16 as a Decimal would be written "4.9E+16", which the draft's own rule refuses when read back
    draft = KpiDraft(target=-4.927886451054466e16)
    assert draft.model_dump(mode="json")["target"] == "-49278864510544660"
    assert KpiDraft.model_validate(draft.model_dump(mode="json")) == draft
