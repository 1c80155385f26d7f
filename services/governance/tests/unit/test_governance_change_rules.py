"""The policy's change rules: what a change does, which gates it passes, and what a policy may say."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from marops_events import contracts as c
from marops_governance.domain import BriefVersion, change_gates, change_kinds
from marops_governance.policy import DEFAULT_POLICY, PolicyDocument


def eur(amount: str) -> c.Money:
    return c.Money(amount=Decimal(amount), currency="EUR")


def proposal(channels: tuple[str, ...] = ("email",), amount: str = "100.00") -> BriefVersion:
    return BriefVersion(
        campaign_id="c-1", version=2, submitted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), requester="olga",
        owner="olga", team="growth", title="t", channels=tuple(c.Channel(ch) for ch in channels), amount=eur(amount),
        budget_line_id="l", kpis=(), tracking_plan=None, raci=c.Raci(), target_launch_date=dt.date(2026, 4, 1),
        policy_version=1, event_id=uuid.uuid4(), correlation_id="c-1")


@pytest.mark.parametrize(("changes", "base", "new", "base_channels", "channels", "kinds"), [
    (["budget"], "100.00", "150.00", ["email"], ["email"], {"budget_increase"}),
    (["budget"], "100.00", "50.00", ["email"], ["email"], {"budget_decrease"}),
    (["channels"], "100.00", "100.00", ["email"], ["email", "display"], {"channel_added"}),
    (["channels"], "100.00", "100.00", ["email", "display"], ["email"], {"channel_removed"}),
    (["dates", "kpis"], "100.00", "100.00", ["email"], ["email"], {"dates", "kpis"}),
])
def test_change_kinds(changes, base, new, base_channels, channels, kinds) -> None:
    assert change_kinds(changes, eur(base), eur(new), [c.Channel(ch) for ch in base_channels],
                        [c.Channel(ch) for ch in channels]) == kinds


def test_an_amount_in_another_currency_or_unknown_base_counts_as_more_money() -> None:
    usd = c.Money(amount=Decimal("1"), currency="USD")
    assert change_kinds(["budget"], eur("100"), usd, None, []) == {"budget_increase"}
    assert change_kinds(["budget"], None, eur("1"), None, []) == {"budget_increase"}


def test_default_rules_name_gates_whose_own_condition_applies() -> None:
    assert change_gates(DEFAULT_POLICY, proposal(("email", "display")), {"channel_added", "budget_increase"}) == (
        "budget_approval", "brand_legal_review")
    # a new channel that is not public-facing needs no brand/legal review
    assert change_gates(DEFAULT_POLICY, proposal(("email", "sms")), {"channel_added"}) == ()
    assert change_gates(DEFAULT_POLICY, proposal(), {"budget_decrease"}) == ()


def test_policy_change_rules_are_validated_and_default_to_the_policys_own_gates() -> None:
    document = DEFAULT_POLICY.model_dump(mode="json")
    with pytest.raises(ValidationError, match="gates the policy does not have"):
        PolicyDocument.model_validate({**document, "change_rules": [{"when": "kpis", "gates": ["nope"]}]})
    with pytest.raises(ValidationError, match="budget_increase"):
        PolicyDocument.model_validate({**document, "change_rules": [{"when": "kpis", "gates": ["brief_review"]}]})
    older = PolicyDocument.model_validate({k: v for k, v in document.items() if k != "change_rules"})
    assert {r.when: r.gates for r in older.rules()} == {r.when: r.gates for r in DEFAULT_POLICY.rules()}
