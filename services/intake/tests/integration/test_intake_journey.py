"""The README walkthrough on a service of its own: draft, check, submit, changes requested,
revise, resubmit, cancel — and exactly the events that journey publishes, read back with
the test kit's `read_topic` from topics no other test writes to."""

from __future__ import annotations

import datetime as dt
import json

from marops_events import contracts as c
from marops_events import kafka, registry
from marops_intake.main import create_app
from marops_intake.settings import Settings
from marops_testkit import events as harness
from marops_testkit.apps import auth, running, service_settings
from marops_testkit.kafka import read_topic, wait_for


async def test_draft_check_submit_revise_resubmit_cancel(pg_dsn: str, kafka_bootstrap: str, topic_prefix: str) -> None:
    settings = service_settings(Settings, pg_dsn=pg_dsn, kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    rita = auth(settings, "rita", "requester", team="growth")
    launch = dt.date.today() + dt.timedelta(days=21)
    async with running(create_app(settings)) as http:
        draft = (await http.post("/campaigns", json={"title": "Autumn promo", "channels": ["email"]},
                                 headers=rita)).json()
        cid = draft["id"]
        check = (await http.get(f"/campaigns/{cid}/completeness", headers=rita)).json()
        assert not check["complete"] and len(check["errors"]) > 5

        brief = {
            "objective": "Re-activate lapsed customers", "target_audience": "Customers inactive for 6 months",
            "target_launch_date": launch.isoformat(), "flight_start": launch.isoformat(),
            "flight_end": (launch + dt.timedelta(days=28)).isoformat(),
            "kpis": [{"metric": "reactivations", "target": "500", "unit": "customers", "timeframe": "4 weeks"}],
            "tracking_plan": {"campaign_code": "autumn-promo", "conversion_events": ["purchase"],
                              "reporting_destination": "Growth dashboard"},
            "budget_request": {"amount": {"amount": "8000.00", "currency": "EUR"}, "budget_line_id": "line-1"},
            "raci": {"responsible": ["rita"]},
        }
        assert (await http.patch(f"/campaigns/{cid}/brief", json=brief, headers=rita)).status_code == 200
        assert (await http.get(f"/campaigns/{cid}/completeness", headers=rita)).json() == {"complete": True,
                                                                                            "errors": []}
        v1 = (await http.post(f"/campaigns/{cid}/submit", headers=rita)).json()
        assert v1["status"] == "submitted"

        # Governance asks for changes.
        submitted_at = dt.datetime.fromisoformat(v1["versions"][0]["submitted_at"])
        rejection = registry.new_event(c.GateRejected(
            campaign_id=cid, brief_version=1, policy_version=1, gate_id="brief-review", gate_name="brief review",
            gate_kind="review", gate_position=1, is_last_gate=False, actionable_at=submitted_at, sla_hours=24,
            decided_by="lena", kind="changes_requested", reason="Name the control group"), source="marops/governance",
            time=submitted_at + dt.timedelta(milliseconds=5))
        producer = kafka.producer(kafka_bootstrap)
        await producer.start()
        try:
            await harness.publish(producer, topic_prefix, [rejection])
        finally:
            await producer.stop()

        async def changes_requested() -> dict | None:
            campaign = (await http.get(f"/campaigns/{cid}", headers=rita)).json()
            return campaign if campaign["status"] == "changes_requested" else None
        campaign = await wait_for(changes_requested, message="changes requested")
        assert "Name the control group" in campaign["status_reason"]

        await http.patch(f"/campaigns/{cid}/brief", json={"notes": "Control group: 5% holdout"}, headers=rita)
        v2 = (await http.post(f"/campaigns/{cid}/submit", headers=rita)).json()
        assert (v2["status"], v2["current_version"]) == ("submitted", 2)
        diff = (await http.get(f"/campaigns/{cid}/versions/2/diff", headers=rita)).json()
        assert diff["changes"] == [{"path": "notes", "change": "added", "before": None,
                                    "after": "Control group: 5% holdout"}]
        cancelled = await http.post(f"/campaigns/{cid}/cancel", json={"reason": "Budget frozen"}, headers=rita)
        assert cancelled.json()["status"] == "cancelled"

        # The relay publishes in commit order, so once the cancellation is on its topic every
        # earlier event is too; the second reads then wait briefly for anything extra.
        cancellations = await read_topic(kafka_bootstrap, topic_prefix + "marops.campaign-cancelled.v1", count=1)
        assert len(await read_topic(kafka_bootstrap, topic_prefix + "marops.brief-submitted.v1", count=2)) == 2
        submissions = await read_topic(kafka_bootstrap, topic_prefix + "marops.brief-submitted.v1", count=3,
                                       timeout=1)
        cancellations = await read_topic(kafka_bootstrap, topic_prefix + "marops.campaign-cancelled.v1", count=2,
                                         timeout=1)
    # Exactly two versions and one cancellation were published (the reads waited for one more).
    assert sorted(json.loads(r.value)["data"]["version"] for r in submissions) == [1, 2]
    assert all(r.key == cid.encode() and dict(r.headers)["ce_type"] == b"BriefSubmitted" for r in submissions)
    [cancellation] = [json.loads(r.value) for r in cancellations]
    assert cancellation["type"] == "CampaignCancelled"
    assert cancellation["data"] == {"campaign_id": cid, "cancelled_by": "rita", "reason": "Budget frozen"}
