"""Policy documents: what a valid policy is, and the seeded default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from marops_events.contracts import GateKind
from marops_governance.policy import DEFAULT_POLICY, Always, ChannelIn, PolicyDocument
from marops_service.auth import Role


def doc(**changes) -> dict:
    data = DEFAULT_POLICY.model_dump(mode="json")
    data.update(changes)
    return data


def test_the_default_policy_has_the_four_gates_in_order() -> None:
    assert [(g.id, g.kind) for g in DEFAULT_POLICY.gates] == [
        ("brief_review", GateKind.review), ("budget_approval", GateKind.budget),
        ("brand_legal_review", GateKind.review), ("launch_readiness", GateKind.review)]
    assert isinstance(DEFAULT_POLICY.gates[1].condition, Always)
    assert isinstance(DEFAULT_POLICY.gates[2].condition, ChannelIn)
    assert PolicyDocument.model_validate(DEFAULT_POLICY.model_dump(mode="json")) == DEFAULT_POLICY
    finance = [r for r in DEFAULT_POLICY.gates[1].deciders if r.role is Role.finance]
    assert {r.amount_limit.currency for r in finance if r.amount_limit} == {"EUR", "USD", "GBP"}


def gates_with(index: int, **changes) -> list[dict]:
    gates = DEFAULT_POLICY.model_dump(mode="json")["gates"]
    gates[index].update(changes)
    return gates


@pytest.mark.parametrize(("data", "message"), [
    (doc(gates=gates_with(0, kind="budget")), "exactly one gate of kind 'budget'"),
    (doc(gates=[g for g in DEFAULT_POLICY.model_dump(mode="json")["gates"] if g["kind"] != "budget"]),
     "exactly one gate of kind 'budget'"),
    (doc(gates=gates_with(1, condition={"type": "channel_in", "channels": ["email"]})), "must apply always"),
    (doc(gates=gates_with(2, id="brief_review")), "repeated: brief_review"),
    (doc(gates=gates_with(0, deciders=[{"role": "approver", "user": "x"}])), "exactly one of 'role' or 'user'"),
    (doc(gates=gates_with(0, deciders=[{}])), "exactly one of 'role' or 'user'"),
    (doc(gates=gates_with(0, id="Has Spaces")), "String should match pattern"),
    (doc(gates=gates_with(0, condition={"type": "amount_at_least",
                                        "threshold": {"amount": "1e20", "currency": "EUR"}})), "amount must be"),
    (doc(gates=gates_with(0, condition={"type": "amount_at_least",
                                        "threshold": {"amount": "1.00001", "currency": "EUR"}})), "decimal places"),
    (doc(gates=gates_with(0, condition={"type": "sometimes"})), "does not match any of the expected tags"),
    (doc(extra_field=1), "Extra inputs are not permitted"),
])
def test_incoherent_policies_are_invalid(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PolicyDocument.model_validate(data)
