"""Notifications end to end: e-mails received by a real local SMTP server process, webhooks by
a real local HTTP receiver that checks the signature itself; retries with backoff, the
delivery log and replay; the deadline timer publishing SlaBreached and GateEscalated once,
even with two timers racing; no duplicates on redelivery of the triggering event; the gates
a change request opens told like a brief's, and its outcome told to its requester.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from marops_events import contracts as c
from marops_governance import notifier
from marops_governance.settings import Settings
from marops_service import db
from marops_service.notify import backoff_seconds
from marops_testkit import wait_for
from marops_testkit.apps import service_settings
from marops_testkit.deliveries import SmtpServer, WebhookReceiver, smtp_server, webhook_receiver

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "whsec-0123456789abcdef"
BACKOFF_BASE = 0.2
MAX_ATTEMPTS = 4
WARNING = dt.timedelta(hours=4)


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver(SECRET, failures=2) as receiver:  # the first two calls get 503
        yield receiver


@pytest.fixture(scope="module")
def gov_settings(module_pg_dsn: str, kafka_bootstrap: str, module_topic_prefix: str, smtp: SmtpServer) -> Settings:
    settings = service_settings(Settings, pg_dsn=module_pg_dsn, kafka_bootstrap=kafka_bootstrap,
                                topic_prefix=module_topic_prefix)
    # the timer is driven by the tests with their own clock; the sender runs as deployed
    return settings.model_copy(update={
        "smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_security": "none", "smtp_from": "marops@example.com",
        "notify_backoff_base_seconds": BACKOFF_BASE, "notify_backoff_cap_seconds": 5.0,
        "notify_max_attempts": MAX_ATTEMPTS, "notify_poll_interval": 0.05, "deadline_check_interval": 3600.0})


async def deliveries(gov, **where: str) -> list[dict[str, Any]]:
    response = await gov.client.get("/notifications", params={**where, "limit": "500"}, headers=gov.as_("ada"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def settled(gov, **where: str) -> list[dict[str, Any]]:
    """The deliveries matching ``where``, once none of them is pending any more."""
    async def done() -> list[dict[str, Any]] | None:
        found = await deliveries(gov, **where)
        return found if found and all(d["status"] != "pending" for d in found) else None
    return await wait_for(done, timeout=30, message=f"deliveries {where} settle")


def mails_to(smtp: SmtpServer, address: str) -> list[Any]:
    return [m for m in smtp.messages() if email.utils.parseaddr(m["To"])[1] == address]


async def put_user(gov, subject: str, **body: Any) -> dict[str, Any]:
    response = await gov.client.put(f"/directory/users/{subject}", json=body, headers=gov.as_("ada"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_directory_is_ops_admins_and_never_shows_a_secret(gov, hooks) -> None:
    alex = await put_user(gov, "alex", name="Alex A.", email="alex@example.com", roles=["approver"],
                          webhook={"url": hooks.url, "secret": SECRET})
    assert alex["webhook"] == {"url": hooks.url, "secret_set": True} and SECRET not in str(alex)
    for subject, address, roles in (("olga", "olga@example.com", ["requester"]),
                                    ("rita", "rita@example.com", ["requester"]),
                                    ("finn", "finn@example.com", ["finance"]),
                                    ("ada", "ada@example.com", ["ops_admin"])):
        await put_user(gov, subject, email=address, roles=roles)
    listed = (await gov.client.get("/directory/users", headers=gov.as_("ada"))).json()["items"]
    assert {u["subject"] for u in listed} >= {"alex", "olga", "rita", "finn", "ada"}
    for who in ("alex", "vic", "rita"):
        refused = await gov.client.get("/directory/users", headers=gov.as_(who))
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    weak = await gov.client.put("/directory/users/x", json={"webhook": {"url": hooks.url, "secret": "short"}},
                                headers=gov.as_("ada"))
    assert weak.status_code == 422
    assert (await gov.client.delete("/directory/users/nobody", headers=gov.as_("ada"))).status_code == 204
    assert (await gov.client.get("/directory/users/nobody", headers=gov.as_("ada"))).status_code == 404


async def test_approvers_hear_of_an_actionable_gate_once_by_mail_and_signed_webhook_retried(
        gov, smtp: SmtpServer, hooks: WebhookReceiver) -> None:
    cid = gov.new_id()
    submitted = await gov.submit(cid)
    await gov.send(submitted)  # redelivered: the same event id
    await gov.submit(cid)  # the same fact under another event id: governance keeps the first
    await gov.wait_campaign(cid)

    [mail, hook] = sorted(await settled(gov, campaign_id=cid, recipient="alex"), key=lambda d: d["channel"])
    assert (mail["channel"], mail["kind"], mail["status"], mail["attempts"]) == ("email", "gate_actionable", "sent", 1)
    [received] = await wait_for(lambda: _async(mails_to(smtp, "alex@example.com") or None), timeout=10,
                                message="alex's e-mail")
    assert received["Subject"].strip() == f'[marops] Brief review of "Spring launch {cid}" awaits your decision'
    assert received["X-Marops-Delivery"] == mail["id"] and received["From"] == "marops@example.com"
    assert "Its SLA runs out at" in received.get_content()

    # the webhook: refused twice (503), then taken; every call signed, the same id each time
    assert (hook["status"], hook["attempts"]) == ("sent", 3)
    calls = [r for r in hooks.all() if r.json()["campaign_id"] == cid]
    assert len(calls) == 3 and all(r.signature_valid for r in calls)
    assert {r.headers["Marops-Webhook-Id"] for r in calls} == {hook["id"]}
    assert calls[0].json()["kind"] == "gate_actionable" and calls[0].json()["data"]["gate_id"] == "brief_review"
    detail = (await gov.client.get(f"/notifications/{hook['id']}", headers=gov.as_("ada"))).json()
    log = detail["attempt_log"]
    assert [(a["attempt"], a["ok"]) for a in log] == [(1, False), (2, False), (3, True)]
    assert log[0]["error"].startswith("HTTP 503")
    for n in (1, 2):  # each retry waited at least its backoff: base, then twice that
        waited = dt.datetime.fromisoformat(log[n]["at"]) - dt.datetime.fromisoformat(log[n - 1]["at"])
        assert waited >= dt.timedelta(seconds=backoff_seconds(n, base=BACKOFF_BASE, cap=5.0))

    # nobody else may decide the first gate: the owner, the requester and ops are not told
    assert {d["recipient"] for d in await deliveries(gov, campaign_id=cid)} == {"alex"}


async def _async(value: Any) -> Any:
    return value


async def test_the_owner_and_requester_hear_of_decisions_and_the_next_approvers_of_their_gate(
        gov, smtp: SmtpServer) -> None:
    cid = gov.new_id()
    await gov.submit(cid)
    await gov.reserve(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    key = {"Idempotency-Key": f"approve-{cid}"}
    for _ in range(2):  # a retried request: one decision, one notification
        response = await gov.decide(cid, "brief_review", "alex", headers=key)
        assert response.status_code == 201, response.text
    told = await settled(gov, campaign_id=cid, kind="gate_decided")
    assert sorted((d["recipient"], d["channel"]) for d in told) == [("olga", "email"), ("rita", "email")]
    subject = f'[marops] Brief review of "Spring launch {cid}" approved'
    assert sum(m["Subject"].strip() == subject for m in mails_to(smtp, "olga@example.com")) == 1
    # the budget gate is actionable now: finance (within its limit) and ops_admin decide it
    budget = await settled(gov, campaign_id=cid, kind="gate_actionable")
    assert {d["recipient"] for d in budget if d["payload"]["data"]["gate_id"] == "budget_approval"} == {"finn", "ada"}

    rejected = await gov.decide(cid, "budget_approval", "finn", reject="Trim the paid budget")
    assert rejected.status_code == 201, rejected.text
    told = await settled(gov, campaign_id=cid, kind="gate_decided")
    outcome = [d for d in told if d["payload"]["data"]["outcome"] == "rejected"]
    assert sorted(d["recipient"] for d in outcome) == ["olga", "rita"]
    assert "(changes_requested: Trim the paid budget)" in outcome[0]["body"]


async def test_a_passed_sla_is_announced_once_by_two_racing_timers_and_ops_hear_of_the_escalation(
        gov, smtp: SmtpServer) -> None:
    cid = gov.new_id()
    submitted_at = gov.now()
    await gov.submit(cid, time=submitted_at)
    view = await gov.wait_campaign(cid)
    due = dt.datetime.fromisoformat(view["gates"][0]["due_at"])

    pools = [await db.create_pool(gov.settings.database_url, min_size=1, max_size=2) for _ in range(2)]
    try:
        # four hours before the SLA runs out, the approvers are reminded (once, however often it runs)
        early = [notifier.sweep_deadlines(p, lambda: due - dt.timedelta(hours=1), WARNING) for p in pools]
        assert await asyncio.gather(*early) == [0, 0]
        reminders = await settled(gov, campaign_id=cid, kind="sla_warning")
        assert sorted((d["recipient"], d["channel"]) for d in reminders) == [("alex", "email"), ("alex", "webhook")]
        assert "SLA runs out at" in reminders[0]["subject"]
        # past it: two timers at once (two workers), then once more (a restart)
        late = lambda: due + dt.timedelta(minutes=5)  # noqa: E731
        raced = await asyncio.gather(*(notifier.sweep_deadlines(p, late, WARNING) for p in pools))
        assert await notifier.sweep_deadlines(pools[0], late, WARNING) == 0
        # between them they announced each breach (earlier tests' gates too) exactly once
        breaches = await gov.fetch("SELECT campaign_id, count(*) AS n FROM sla_breaches GROUP BY 1")
        assert sum(raced) == len(breaches) and {r["n"] for r in breaches} == {1}
        assert cid in {r["campaign_id"] for r in breaches}
    finally:
        for p in pools:
            await p.close()

    [breach] = await gov.published("SlaBreached", cid, 1)
    [escalation] = await gov.published("GateEscalated", cid, 1)
    assert dt.datetime.fromisoformat(breach["time"]) == due  # the business time of the breach
    assert (breach["data"]["gate_id"], breach["data"]["brief_version"], breach["data"]["sla_hours"]) == (
        "brief_review", 1, 48)
    assert escalation["data"]["escalation_role"] == "ops_admin"
    outbox = await gov.fetch("SELECT event_type, count(*) AS n FROM outbox WHERE partition_key = $1 "
                             "AND event_type IN ('SlaBreached', 'GateEscalated') GROUP BY 1 ORDER BY 1", cid)
    assert [(r["event_type"], r["n"]) for r in outbox] == [("GateEscalated", 1), ("SlaBreached", 1)]
    [ops] = await settled(gov, campaign_id=cid, kind="escalation_started")
    assert ops["recipient"] == "ada"
    assert any(m["Subject"].strip().startswith("[marops] Escalation: Brief review") for m in mails_to(smtp, "ada@example.com"))


async def test_failed_deliveries_stop_after_the_last_attempt_and_ops_admin_replays_them(
        gov, smtp: SmtpServer) -> None:
    # a webhook nobody listens on: every attempt fails, the last one leaves it failed
    with webhook_receiver(SECRET) as closed:
        dead_url = closed.url
    await put_user(gov, "amy", roles=["approver"], webhook={"url": dead_url, "secret": SECRET})
    cid = gov.new_id()
    await gov.submit(cid)
    [dead] = await settled(gov, campaign_id=cid, recipient="amy")
    assert (dead["status"], dead["attempts"]) == ("failed", MAX_ATTEMPTS) and dead["last_error"]

    [sent] = [d for d in await settled(gov, campaign_id=cid, recipient="alex") if d["channel"] == "email"]
    before = len(mails_to(smtp, "alex@example.com"))
    for who in ("alex", "vic"):
        assert (await gov.client.post(f"/notifications/{sent['id']}/replay", headers=gov.as_(who))).status_code == 403
    replayed = await gov.client.post(f"/notifications/{sent['id']}/replay", headers=gov.as_("ada"))
    assert replayed.status_code == 201, replayed.text
    again = replayed.json()
    assert again["replay_of"] == sent["id"] and again["id"] != sent["id"] and again["target"] == "alex@example.com"
    await wait_for(lambda: _async(len(mails_to(smtp, "alex@example.com")) > before or None), timeout=20,
                   message="the replayed e-mail")
    assert (await gov.client.get(f"/notifications/{sent['id']}", headers=gov.as_("ada"))).json()["status"] == "sent"
    missing = await gov.client.post("/notifications/00000000-0000-0000-0000-000000000000/replay",
                                    headers=gov.as_("ada"))
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def _approved_and_committed(gov) -> str:
    cid = gov.new_id()
    await gov.submit(cid)
    await gov.wait_campaign(cid)
    assert (await gov.decide(cid, "brief_review", "alex")).status_code == 201
    await gov.reserve(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["reservation"]["status"] == "reserved")
    assert (await gov.decide(cid, "budget_approval", "finn")).status_code == 201
    assert (await gov.decide(cid, "launch_readiness", "alex")).status_code == 201
    await gov.commit(cid)
    await gov.wait_campaign(cid, lambda v: v["budget"]["committed"] is not None)
    return cid


def _change(gov, cid: str, version: int, base_version: int) -> c.ChangeRequested:
    return c.ChangeRequested(
        campaign_id=cid, change_id=f"{cid}-chg-{version}", base_version=base_version, changes=[c.ChangeField.dates],
        reason="Later start", requested_by="olga", brief=gov.brief(cid, version, requester="olga"),
        base_amount=c.Money(amount=Decimal("25000.00"), currency="EUR"), base_channels=[c.Channel.email])


async def test_the_gates_of_a_change_request_are_told_like_a_briefs_and_its_requester_hears_the_outcome(
        gov, smtp: SmtpServer) -> None:
    cid = await _approved_and_committed(gov)
    launched = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_("olga"))
    assert launched.status_code == 201, launched.text
    request = _change(gov, cid, 2, base_version=1)  # new dates: the brief review again
    event = await gov.publish(request, source="marops/intake")
    await gov.send(event)  # redelivered: told once
    view = await gov.wait_campaign(cid, lambda v: v["pending_change"] is not None)
    [gate] = view["pending_change"]["gates"]
    assert gate["gate_id"] == "brief_review"

    def of_version(found: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
        return [d for d in found if d["payload"]["data"]["brief_version"] == version]

    actionable = of_version(await settled(gov, campaign_id=cid, kind="gate_actionable"), 2)
    # alex, and amy (an approver whose webhook is dead since the test before)
    assert sorted((d["recipient"], d["channel"]) for d in actionable) == [
        ("alex", "email"), ("alex", "webhook"), ("amy", "webhook")]
    mails = [m for m in mails_to(smtp, "alex@example.com")
             if m["Subject"].strip() == f'[marops] Brief review of "Spring launch {cid}" awaits your decision']
    assert len(mails) == 2 and sum("brief version 2," in m.get_content() for m in mails) == 1  # v1's, the change's

    # the reminder before the change gate's SLA runs out, as for any gate
    pool = await db.create_pool(gov.settings.database_url, min_size=1, max_size=1)
    try:
        due = dt.datetime.fromisoformat(gate["due_at"])
        await notifier.sweep_deadlines(pool, lambda: due - dt.timedelta(hours=1), WARNING)
    finally:
        await pool.close()
    reminders = of_version(await settled(gov, campaign_id=cid, kind="sla_warning"), 2)
    assert sorted((d["recipient"], d["channel"]) for d in reminders) == [
        ("alex", "email"), ("alex", "webhook"), ("amy", "webhook")]

    approved = await gov.decide(cid, "brief_review", "alex", version=2)
    assert approved.status_code == 201, approved.text
    [told] = await settled(gov, campaign_id=cid, kind="change_decided")
    assert (told["recipient"], told["channel"], told["payload"]["data"]["outcome"]) == ("olga", "email", "approved")
    subject = f'[marops] Change of "Spring launch {cid}" approved'
    [mail] = [m for m in mails_to(smtp, "olga@example.com") if m["Subject"].strip() == subject]
    assert f"{request.change_id}" in mail.get_content() and "approved by alex" in mail.get_content()
    decided = of_version(await settled(gov, campaign_id=cid, kind="gate_decided"), 2)
    assert sorted(d["recipient"] for d in decided) == ["olga"]

    # a rejected change: the requester hears why
    await gov.publish(_change(gov, cid, 3, base_version=2), source="marops/intake")
    await gov.wait_campaign(cid, lambda v: v["pending_change"] is not None)
    rejected = await gov.decide(cid, "brief_review", "alex", version=3, reject="Not this quarter")
    assert rejected.status_code == 201, rejected.text

    async def both() -> list[dict[str, Any]] | None:
        found = await settled(gov, campaign_id=cid, kind="change_decided")
        return found if len(found) == 2 else None
    outcomes = await wait_for(both, timeout=30, message="the rejected change told")
    [no] = [d for d in outcomes if d["payload"]["data"]["outcome"] == "rejected"]
    assert no["recipient"] == "olga" and "(Not this quarter)" in no["body"]


async def test_a_running_campaigns_change_past_its_sla_is_announced_once_and_ops_hear_of_the_escalation(
        gov, smtp: SmtpServer) -> None:
    cid = await _approved_and_committed(gov)
    launched = await gov.client.post(f"/campaigns/{cid}/launch", headers=gov.as_("olga"))
    assert launched.status_code == 201, launched.text
    request = _change(gov, cid, 2, base_version=1)
    await gov.publish(request, source="marops/intake")
    view = await gov.wait_campaign(cid, lambda v: v["pending_change"] is not None)
    [gate] = view["pending_change"]["gates"]
    due = dt.datetime.fromisoformat(gate["due_at"])

    pool = await db.create_pool(gov.settings.database_url, min_size=1, max_size=2)
    try:
        late = lambda: due + dt.timedelta(minutes=5)  # noqa: E731
        await notifier.sweep_deadlines(pool, late, WARNING)
        assert await notifier.sweep_deadlines(pool, late, WARNING) == 0  # a restart announces nothing again
    finally:
        await pool.close()
    breaches = await gov.fetch("SELECT brief_version, gate_id FROM sla_breaches WHERE campaign_id = $1", cid)
    assert [(r["brief_version"], r["gate_id"]) for r in breaches] == [(2, "brief_review")]

    [breach] = await gov.published("SlaBreached", cid, 1)
    [escalation] = await gov.published("GateEscalated", cid, 1)
    assert dt.datetime.fromisoformat(breach["time"]) == due
    for event in (breach, escalation):  # the proposal's gate, named by its change request
        assert (event["data"]["brief_version"], event["data"]["gate_id"], event["data"]["change_id"]) == (
            2, "brief_review", request.change_id)
    [ops] = await settled(gov, campaign_id=cid, kind="escalation_started")
    assert ops["recipient"] == "ada" and ops["payload"]["data"]["change_id"] == request.change_id
    [mail] = [m for m in mails_to(smtp, "ada@example.com")
              if m["Subject"].strip() == f'[marops] Escalation: Brief review of "Spring launch {cid}" passed its SLA']
    assert f"brief version 2, change request {request.change_id}" in mail.get_content()
    # the launched version's own gates were decided long ago: nothing of version 1 escalates
    assert {e["data"]["brief_version"] for e in await gov.published("SlaBreached", cid, 1)} == {2}
