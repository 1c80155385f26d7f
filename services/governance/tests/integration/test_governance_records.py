"""RACI, the immutable audit trail, idempotent decisions, and no 500 for any input."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUESTER, OWNER, APPROVER, FINANCE, ADMIN, VIEWER = "rita", "olga", "alex", "finn", "ada", "vic"


async def submitted(gov, **kwargs) -> str:
    cid = gov.new_id()
    await gov.submit(cid, **kwargs)
    await gov.wait_campaign(cid)
    return cid


async def test_raci_is_seeded_from_the_brief_and_edited_by_ops_admin(gov) -> None:
    cid = await submitted(gov, time=gov.now() - dt.timedelta(hours=1))
    raci = (await gov.get(f"/campaigns/{cid}/raci")).json()
    assert raci["source"] == "brief" and raci["brief_version"] == 1
    assert raci["raci"] == {"responsible": [REQUESTER], "accountable": OWNER, "consulted": ["legal"],
                            "informed": ["cmo"]}

    new = {"responsible": ["rita", "ravi"], "accountable": "olga", "consulted": ["legal", "brand"],
           "informed": ["cmo", "sales"], "reason": "Ravi joins; brand consulted"}
    for who, roles in ((OWNER, ("requester",)), (APPROVER, ("approver",)), (VIEWER, ("viewer",))):
        denied = await gov.client.put(f"/campaigns/{cid}/raci", json=new, headers=gov.as_(who, *roles))
        assert denied.status_code == 403
    edited = await gov.client.put(f"/campaigns/{cid}/raci", json=new, headers=gov.as_(ADMIN))
    assert edited.status_code == 200, edited.text
    assert edited.json()["source"] == "edited" and edited.json()["updated_by"] == ADMIN
    assert edited.json()["raci"]["consulted"] == ["legal", "brand"]
    assert (await gov.get(f"/campaigns/{cid}/raci")).json()["raci"]["responsible"] == ["rita", "ravi"]
    bad = await gov.client.put(f"/campaigns/{cid}/raci", json={"accountable": ["a", "b"]}, headers=gov.as_(ADMIN))
    assert bad.status_code == 422
    missing = await gov.client.put(f"/campaigns/{gov.new_id()}/raci", json=new, headers=gov.as_(ADMIN))
    assert missing.status_code == 404

    # A later brief version brings its own RACI: the latest fact wins.
    await gov.submit(cid, version=2)
    await gov.wait_campaign(cid, lambda v: v["brief_version"] == 2)
    assert (await gov.get(f"/campaigns/{cid}/raci")).json()["source"] == "brief"
    [change] = [e for e in (await gov.get(f"/campaigns/{cid}/audit")).json()["items"] if e["action"] == "raci_changed"]
    assert (change["actor"], change["reason"]) == (ADMIN, "Ravi joins; brand consulted")


async def test_the_audit_trail_records_decisions_and_cannot_be_altered(gov) -> None:
    cid = await submitted(gov)
    assert (await gov.decide(cid, "brief_review", APPROVER)).status_code == 201
    assert (await gov.decide(cid, "budget_approval", FINANCE, reject="Wrong line", kind="rejected")).status_code == 201
    trail = (await gov.get(f"/campaigns/{cid}/audit")).json()["items"]
    assert [(e["action"], e["actor"], e["reason"], e["policy_version"]) for e in trail] == [
        ("gates_opened", REQUESTER, None, 1),
        ("gate_approved", APPROVER, None, 1),
        ("gate_rejected", FINANCE, "Wrong line", 1),
    ]
    assert trail[2]["details"]["kind"] == "rejected" and trail[2]["details"]["gate_id"] == "budget_approval"
    assert all(e["at"] for e in trail)

    conn = await asyncpg.connect(gov.settings.database_url)
    try:
        for sql in ("UPDATE audit_log SET reason = 'forged' WHERE campaign_id = $1",
                    "DELETE FROM audit_log WHERE campaign_id = $1",
                    "UPDATE gate_decisions SET decided_by = 'someone' WHERE campaign_id = $1",
                    "DELETE FROM policy_versions WHERE version = 1 AND $1::text IS NOT NULL"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql, cid)
    finally:
        await conn.close()
    assert (await gov.get(f"/campaigns/{cid}/audit")).json()["items"] == trail
    assert (await gov.get(f"/campaigns/{gov.new_id()}/audit")).status_code == 404


async def test_a_decision_with_an_idempotency_key_is_applied_once(gov) -> None:
    cid = await submitted(gov)
    key = {"Idempotency-Key": f"approve-{cid}"}
    first = await gov.decide(cid, "brief_review", APPROVER, headers=key)
    again = await gov.decide(cid, "brief_review", APPROVER, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await gov.decide(cid, "brief_review", APPROVER, headers=key, reject="changed my mind")
    assert other.status_code == 409
    rows = await gov.fetch("SELECT count(*) AS n FROM gate_decisions WHERE campaign_id = $1", cid)
    assert rows[0]["n"] == 1
    outbox = await gov.fetch("SELECT event_type FROM outbox WHERE partition_key = $1", cid)
    assert [r["event_type"] for r in outbox] == ["GateApproved"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/campaigns/%00", None),
    ("get", "/campaigns/" + "x" * 500, None),
    ("get", "/campaigns/unknown-campaign", None),
    ("get", "/campaigns/unknown/readiness", None),
    ("get", "/campaigns/unknown/raci", None),
    ("get", "/campaigns/unknown/risks", None),
    ("get", "/policy/versions/abc", None),
    ("get", "/policy/versions/-1", None),
    ("post", "/campaigns/unknown/gates/brief_review/decisions", {"decision": "approve", "brief_version": 1}),
    ("post", "/campaigns/unknown/launch", None),
    ("post", "/campaigns/unknown/launch", {"brief_version": "two"}),
    ("post", "/campaigns/unknown/risks", {"description": "d", "owner": "o", "probability": 1, "impact": 1}),
    ("post", "/campaigns/unknown/risks/not-a-uuid/accept", {"reason": "r"}),
    ("patch", "/campaigns/unknown/risks/00000000-0000-0000-0000-000000000000", {"impact": 1}),
    ("post", "/campaigns/x/gates/brief_review/decisions", [1, 2, 3]),
    ("post", "/campaigns/x/gates/brief_review/decisions", "approve"),
    ("post", "/campaigns/x/gates/brief_review/decisions",
     {"decision": "reject", "brief_version": 1, "kind": "rejected", "reason": "nul \u0000 byte"}),
    ("post", "/campaigns/x/gates/brief_review/decisions", {"decision": "approve", "brief_version": 1.5}),
    ("post", "/campaigns/x/gates/%00/decisions", {"decision": "approve", "brief_version": 1}),
    ("post", "/policy/versions", {"gates": "many"}),
    ("post", "/policy/versions", None),
    ("put", "/campaigns/x/raci", {"responsible": "rita"}),
])
async def test_bad_input_is_a_problem_never_a_500(gov, method: str, path: str, body: object) -> None:
    kwargs = {} if body is None else {"json": body}
    response = await getattr(gov.client, method)(path, headers=gov.as_(ADMIN), **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_bad_input_on_a_known_campaign_is_a_problem_too(gov) -> None:
    cid = await submitted(gov)
    for body in ({"description": "x" * 5000, "owner": "o", "probability": 1, "impact": 1},
                 {"description": "d", "owner": "o", "probability": 10**40, "impact": 1},
                 {"description": "d", "owner": "\u0000", "probability": 1, "impact": 1}):
        response = await gov.client.post(f"/campaigns/{cid}/risks", json=body, headers=gov.as_(APPROVER))
        assert response.status_code == 422, response.text
    risk = await gov.client.post(f"/campaigns/{cid}/risks", headers=gov.as_(APPROVER), json={
        "description": "d", "owner": "o", "probability": 1, "impact": 1})
    assert risk.status_code == 201
    response = await gov.client.post(f"/campaigns/{cid}/risks/{risk.json()['risk_id']}/accept",
                                     json={"reason": "\u0000"}, headers=gov.as_(APPROVER))
    assert response.status_code == 422
    unauthenticated = await gov.client.get(f"/campaigns/{cid}")
    assert unauthenticated.status_code == 401


async def test_a_decision_that_waited_for_the_campaign_lock_is_timestamped_after_the_wait(gov) -> None:
    """Two racing decisions are timestamped in the order they commit: the clock is read
    once the campaign lock is held, not when the request arrived."""
    import asyncio

    from marops_service.locks import lock_campaign
    from marops_testkit import wait_for

    cid = await submitted(gov)
    holder = await asyncpg.connect(gov.settings.database_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await lock_campaign(holder, cid)  # another command of the campaign, still running
        decision = asyncio.create_task(gov.decide(cid, "brief_review", APPROVER))

        async def waiting() -> bool:
            return bool(await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))

        await wait_for(waiting, message="the decision waiting for the campaign lock")
        released_after = gov.now()
        await tx.commit()
        response = await decision
    finally:
        await holder.close()
    assert response.status_code == 201, response.text
    assert dt.datetime.fromisoformat(response.json()["decided_at"]) >= released_after
