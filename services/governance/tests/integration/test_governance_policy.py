"""Policy as data: seeded, edited by ops_admin as new versions, and applied per brief version."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="module")

APPROVER, APPROVER_2, FINANCE, ADMIN = "alex", "amy", "finn", "ada"
CFO, CEO = "carla", "cem"  # named in the policy; their tokens carry only the viewer role

POLICY_V2 = {
    "reason": "Big campaigns need the CEO; SMS needs legal; two reviewers for briefs",
    "blocking_risk_score": 10,
    "gates": [
        {"id": "brief_review", "name": "Brief review", "kind": "review",
         "deciders": [{"role": "approver"}], "approvals_required": 2, "sla_hours": 24},
        {"id": "budget_approval", "name": "Budget approval", "kind": "budget",
         "deciders": [{"role": "finance", "amount_limit": {"amount": "10000", "currency": "EUR"}},
                      {"user": CFO, "amount_limit": {"amount": "1000000", "currency": "EUR"}}],
         "sla_hours": 48, "escalation_role": "finance"},
        {"id": "exec_review", "name": "Executive review", "kind": "review",
         "condition": {"type": "amount_at_least", "threshold": {"amount": "50000", "currency": "EUR"}},
         "deciders": [{"user": CEO}], "sla_hours": 72},
        {"id": "legal_review", "name": "Legal review", "kind": "review",
         "condition": {"type": "channel_in", "channels": ["sms"]},
         "deciders": [{"role": "approver"}], "sla_hours": 12},
    ],
}


async def gate_ids(gov, cid: str) -> list[str]:
    return [g["gate_id"] for g in (await gov.campaign(cid))["gates"]]


async def test_the_default_policy_is_seeded(gov) -> None:
    response = await gov.get("/policy")
    assert response.status_code == 200, response.text
    policy = response.json()
    assert policy["version"] == 1 and policy["created_by"] == "system"
    assert [(g["id"], g["kind"], g["condition"]["type"]) for g in policy["gates"]] == [
        ("brief_review", "review", "always"), ("budget_approval", "budget", "always"),
        ("brand_legal_review", "review", "channel_in"), ("launch_readiness", "review", "always")]
    assert policy["blocking_risk_score"] == 15
    assert all(g["sla_hours"] >= 1 and g["escalation_role"] == "ops_admin" for g in policy["gates"])


def broken(change) -> dict:
    body = copy.deepcopy(POLICY_V2)
    change(body)
    return body


@pytest.mark.parametrize("body", [
    broken(lambda b: b.pop("reason")),
    broken(lambda b: b["gates"].pop(1)),                                               # no budget gate
    broken(lambda b: b["gates"][0].update(kind="budget")),                             # two budget gates
    broken(lambda b: b["gates"][1].update(condition={"type": "channel_in", "channels": ["sms"]})),
    broken(lambda b: b["gates"][2].update(id="brief_review")),                         # duplicate id
    broken(lambda b: b["gates"][3]["condition"].update(channels=["telepathy"])),
    broken(lambda b: b["gates"][2]["condition"]["threshold"].update(amount=50000.5)),  # float money
    broken(lambda b: b["gates"][2]["condition"]["threshold"].update(amount="-1")),
    broken(lambda b: b["gates"][2]["condition"]["threshold"].update(amount="1e400")),
    broken(lambda b: b["gates"][0]["deciders"][0].update(user="someone")),            # role and user
    broken(lambda b: b["gates"][0].update(deciders=[])),
    broken(lambda b: b["gates"][0].update(approvals_required=0)),
    broken(lambda b: b["gates"][0].update(sla_hours=0)),
    broken(lambda b: b["gates"][0].update(escalation_role="king")),
    broken(lambda b: b.update(blocking_risk_score=26)),
    broken(lambda b: b.update(version=7)),                                             # server-assigned
    broken(lambda b: b.update(gates=[])),
    broken(lambda b: b["gates"][0].update(name="nul\u0000byte")),
])
async def test_invalid_policies_are_refused_with_field_errors(gov, body: dict) -> None:
    response = await gov.client.post("/policy/versions", json=body, headers=gov.as_(ADMIN))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    assert (await gov.get("/policy")).json()["version"] == 1


@pytest.mark.parametrize(("change", "reason"), [
    # the bug report: three approvals from one eligible decider would block every campaign
    (lambda b: b["gates"][2].update(approvals_required=3), "needs 3 approvals but only 1 named user"),
    (lambda b: b["gates"][2].update(deciders=[{"user": CEO}, {"user": CEO}], approvals_required=2),
     "needs 2 approvals but only 1 named user"),
    (lambda b: b["gates"][0].update(deciders=[{"role": "viewer"}]), "role 'viewer' may not decide gates"),
    (lambda b: b["gates"][0].update(deciders=[{"role": "service"}]), "role 'service' may not decide gates"),
    (lambda b: b["gates"][0].update(deciders=[{"role": "requester"}]), "role 'requester' may not decide gates"),
    (lambda b: b["gates"][3].update(escalation_role="viewer"), "escalation role 'viewer' may not decide gates"),
    (lambda b: b["gates"][0].update(sla_hours=0), "greater than or equal to 1"),
    (lambda b: b["gates"][3].update(condition={"type": "field_equals", "field": "title", "value": "x"}),
     "does not match any of the expected tags"),
    (lambda b: b["gates"][2]["condition"].update(field="title"), "Extra inputs are not permitted"),
])
async def test_a_policy_whose_gates_cannot_be_decided_is_refused_with_the_reason(gov, change, reason: str) -> None:
    response = await gov.client.post("/policy/versions", json=broken(change), headers=gov.as_(ADMIN))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(reason in e["message"] for e in response.json()["errors"]), response.json()["errors"]
    assert (await gov.get("/policy")).json()["version"] == 1


async def test_the_default_policy_and_the_example_are_decidable() -> None:
    from marops_governance.policy import DEFAULT_POLICY, PolicyDocument, undecidable

    assert undecidable(DEFAULT_POLICY) == []
    assert undecidable(PolicyDocument.model_validate({k: v for k, v in POLICY_V2.items() if k != "reason"})) == []


async def test_only_ops_admin_edits_the_policy(gov) -> None:
    for who, roles in ((APPROVER, ("approver",)), (FINANCE, ("finance", "approver", "requester", "viewer"))):
        response = await gov.client.post("/policy/versions", json=POLICY_V2, headers=gov.as_(who, *roles))
        assert response.status_code == 403
    assert (await gov.client.post("/policy/versions", json=POLICY_V2)).status_code == 401
    assert (await gov.get("/policy")).json()["version"] == 1


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def before_v2(gov) -> str:
    """A campaign submitted under version 1, shortly before version 2 is published."""
    cid = gov.new_id("v1")
    await gov.submit(cid, time=gov.now() - dt.timedelta(minutes=5), amount="80000.00", channels=("sms",))
    await gov.wait_campaign(cid)
    return cid


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def policy_v2(gov, before_v2: str) -> dict:
    headers = {**gov.as_(ADMIN), "Idempotency-Key": "policy-v2"}
    created = await gov.client.post("/policy/versions", json=POLICY_V2, headers=headers)
    assert created.status_code == 201, created.text
    replay = await gov.client.post("/policy/versions", json=POLICY_V2, headers=headers)
    assert replay.json() == created.json() and replay.headers["idempotent-replayed"] == "true"
    reused = await gov.client.post("/policy/versions", json={**POLICY_V2, "blocking_risk_score": 11},
                                   headers=headers)
    assert reused.status_code == 409
    return created.json()


async def test_a_new_version_governs_only_briefs_submitted_after_it(gov, policy_v2: dict, before_v2: str) -> None:
    assert policy_v2["version"] == 2 and policy_v2["created_by"] == ADMIN
    assert (await gov.get("/policy")).json()["version"] == 2
    versions = (await gov.get("/policy/versions")).json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert (await gov.get("/policy/versions/1")).json()["gates"][2]["id"] == "brand_legal_review"
    assert (await gov.get("/policy/versions/3")).status_code == 404
    assert (await gov.get("/policy/versions/99999999999")).status_code == 422
    [change] = [e for e in (await gov.get("/policy/audit")).json()["items"] if e["action"] == "policy_changed"]
    assert (change["actor"], change["reason"], change["policy_version"]) == (ADMIN, POLICY_V2["reason"], 2)

    # Submitted before version 2: still the default gates (no brand/legal for SMS, no exec review).
    old = await gov.campaign(before_v2)
    assert old["policy_version"] == 1
    assert await gate_ids(gov, before_v2) == ["brief_review", "budget_approval", "launch_readiness"]

    big, sms = gov.new_id("big"), gov.new_id("sms")
    await gov.submit(big, amount="60000.00", channels=("email",))
    await gov.submit(sms, amount="1000.00", channels=("sms", "email"))
    await gov.wait_campaign(big)
    await gov.wait_campaign(sms)
    assert (await gov.campaign(big))["policy_version"] == 2
    assert await gate_ids(gov, big) == ["brief_review", "budget_approval", "exec_review"]
    assert await gate_ids(gov, sms) == ["brief_review", "budget_approval", "legal_review"]
    # Each campaign's audit trail names the change that created the policy governing it.
    changes = (await gov.get(f"/campaigns/{big}/audit")).json()["policy_changes"]
    assert [(e["action"], e["actor"], e["policy_version"]) for e in changes] == [("policy_changed", ADMIN, 2)]
    changes = (await gov.get(f"/campaigns/{before_v2}/audit")).json()["policy_changes"]
    assert [(e["action"], e["actor"], e["policy_version"]) for e in changes] == [("policy_seeded", "system", 1)]
    # A request in another currency than the threshold's keeps the conditional gate.
    usd = gov.new_id("usd")
    await gov.submit(usd, amount="10.00", currency="USD")
    await gov.wait_campaign(usd)
    assert await gate_ids(gov, usd) == ["brief_review", "budget_approval", "exec_review"]


async def test_approvals_required_named_users_and_limits(gov, policy_v2: dict) -> None:
    cid = gov.new_id("big")
    await gov.submit(cid, amount="60000.00", channels=("email",))
    await gov.wait_campaign(cid)

    first = await gov.decide(cid, "brief_review", APPROVER)
    assert first.status_code == 201 and first.json()["published"] is None
    assert first.json()["gate"]["status"] == "open" and first.json()["gate"]["approvals"][0]["by"] == APPROVER
    twice = await gov.decide(cid, "brief_review", APPROVER)
    assert twice.status_code == 409 and twice.json()["type"] == "/problems/already-approved"
    turned = await gov.decide(cid, "brief_review", APPROVER, reject="changed my mind")
    assert turned.status_code == 409 and turned.json()["type"] == "/problems/already-approved", turned.text
    second = await gov.decide(cid, "brief_review", APPROVER_2)
    assert second.status_code == 201 and second.json()["published"] == "GateApproved"

    await gov.reserve(cid, amount="60000.00")
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    over = await gov.decide(cid, "budget_approval", FINANCE)
    assert over.status_code == 403 and over.json()["type"] == "/problems/amount-limit-exceeded"
    cfo = await gov.client.post(f"/campaigns/{cid}/gates/budget_approval/decisions",
                                json={"decision": "approve", "brief_version": 1, "comment": "within plan"},
                                headers=gov.as_(CFO, "viewer"))
    assert cfo.status_code == 201, cfo.text
    no_right = await gov.decide(cid, "exec_review", APPROVER)
    assert no_right.status_code == 403 and no_right.json()["type"] == "/problems/no-decision-right"
    ceo = await gov.client.post(f"/campaigns/{cid}/gates/exec_review/decisions",
                                json={"decision": "approve", "brief_version": 1}, headers=gov.as_(CEO, "viewer"))
    assert ceo.status_code == 201, ceo.text

    events = [e["data"] for e in await gov.published("GateApproved", cid, count=3)]
    assert [(e["gate_id"], e["gate_position"], e["is_last_gate"], e["policy_version"], e["sla_hours"])
            for e in events] == [("brief_review", 1, False, 2, 24), ("budget_approval", 2, False, 2, 48),
                                 ("exec_review", 3, True, 2, 72)]
    assert events[0]["approvers"] == [APPROVER, APPROVER_2] and events[0]["decided_by"] == APPROVER_2
    assert events[1]["approvers"] == [CFO]
    audit = [e["action"] for e in (await gov.get(f"/campaigns/{cid}/audit")).json()["items"]]
    assert audit[:3] == ["gates_opened", "gate_approval_recorded", "gate_approved"]


async def test_the_blocking_score_comes_from_the_campaigns_policy(gov, policy_v2: dict, before_v2: str) -> None:
    new = gov.new_id("new")
    await gov.submit(new)
    await gov.wait_campaign(new)
    for cid in (before_v2, new):
        response = await gov.client.post(f"/campaigns/{cid}/risks", headers=gov.as_(APPROVER), json={
            "description": "Vendor may slip", "owner": "lee", "probability": 2, "impact": 5})
        assert response.status_code == 201
    old_readiness = (await gov.get(f"/campaigns/{before_v2}/readiness")).json()
    new_readiness = (await gov.get(f"/campaigns/{new}/readiness")).json()
    assert old_readiness["blocking_risk_score"] == 15 and old_readiness["facts"]["open_blocking_risks"] == 0
    assert new_readiness["blocking_risk_score"] == 10 and new_readiness["facts"]["open_blocking_risks"] == 1
