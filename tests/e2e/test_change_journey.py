"""End to end: change in flight across the four running services (issue #18).

One campaign is launched the ordinary way; its owner pauses and resumes it (no launch of
a paused campaign), then files a change request (more money and a public-facing channel).
Governance opens the gates its policy's change rules name (budget, brand and legal), budget
reserves the top-up, the approvers decide, and the approved change is the campaign's new
version everywhere: intake's current version (still launched), budget's commitment,
metrics' change counts and time paused, with the cycle time of the first launch unchanged.

  rita  requester, team growth, owns the campaign;  alex  approver;  finn  finance
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVENTUALLY = 30.0
LINE = "growth-change-line"


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


async def test_a_launched_campaign_is_paused_resumed_and_changed(e2e_stack: Any) -> None:
    today = datetime.now(UTC).date()
    target = today + timedelta(days=30)
    rita = e2e_stack.auth("rita", "requester", team="growth")
    alex, finn = e2e_stack.auth("alex", "approver"), e2e_stack.auth("finn", "finance")
    viewer = e2e_stack.auth("vera", "viewer")

    async with httpx.AsyncClient(timeout=20) as client:
        async def call(method: str, service: str, path: str, who: dict[str, str], body: Any = None,
                       expect: int = 200) -> Any:
            response = await client.request(method, f"{e2e_stack.url(service)}{path}", headers=who, json=body)
            assert response.status_code == expect, f"{method} {service}{path}: {response.status_code} {response.text}"
            return response.json()

        async def eventually(probe: Callable[[], Awaitable[Any]], what: str) -> Any:
            return await wait_for(probe, timeout=EVENTUALLY, interval=0.1, message=what)

        async def governance(check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
            async def probe() -> dict[str, Any] | None:
                response = await client.get(f"{e2e_stack.url('governance')}/campaigns/{cid}", headers=viewer)
                return response.json() if response.status_code == 200 and check(response.json()) else None
            return await eventually(probe, what)

        await call("POST", "budget", "/budget-lines", finn, {
            "id": LINE, "name": "Growth", "fiscal_year": today.year, "quarter": (today.month - 1) // 3 + 1,
            "team": "growth", "channel": "email", "amount": money("10000.00")}, expect=201)
        draft = await call("POST", "intake", "/campaigns", rita, {
            "title": "Winter newsletter", "objective": "Reactivate lapsed readers", "target_audience": "Lapsed",
            "channels": ["email"], "target_launch_date": target.isoformat(), "flight_start": target.isoformat(),
            "flight_end": (target + timedelta(days=30)).isoformat(),
            "kpis": [{"metric": "reactivations", "target": "300", "unit": "readers", "timeframe": "4 weeks"}],
            "tracking_plan": {"campaign_code": "winter-news", "conversion_events": ["open"],
                              "reporting_destination": "Growth dashboard"},
            "budget_request": {"amount": money("2000.00"), "budget_line_id": LINE},
            "raci": {"responsible": ["rita"]}}, expect=201)
        cid = draft["id"]
        await call("POST", "intake", f"/campaigns/{cid}/submit", rita)

        await governance(lambda v: v["budget"]["reservation"]["status"] == "reserved", "v1 reserved")
        for gate, who in (("brief_review", alex), ("budget_approval", finn), ("launch_readiness", alex)):
            await call("POST", "governance", f"/campaigns/{cid}/gates/{gate}/decisions", who,
                       {"decision": "approve", "brief_version": 1}, expect=201)
        await governance(lambda v: v["budget"]["committed"] == money("2000.00"), "v1 committed")

        # paused before launch: no launch until resumed
        paused = await call("POST", "intake", f"/campaigns/{cid}/pause", rita, {"reason": "Creative not final"})
        assert (paused["status"], paused["paused"]) == ("approved", True)
        await governance(lambda v: v["paused"], "governance sees the pause")
        refused = await call("POST", "governance", f"/campaigns/{cid}/launch", rita, expect=409)
        assert [u["code"] for u in refused["unmet"]] == ["paused"]
        await call("POST", "intake", f"/campaigns/{cid}/resume", rita, {"reason": "Creative signed off"})
        await governance(lambda v: not v["paused"], "governance sees the resumption")
        launched = await call("POST", "governance", f"/campaigns/{cid}/launch", rita, expect=201)
        assert launched["brief_version"] == 1

        async def intake_launched() -> dict[str, Any] | None:
            body = await call("GET", "intake", f"/campaigns/{cid}", rita)
            return body if body["status"] == "launched" else None
        await eventually(intake_launched, "intake shows the launch")

        # the change: more money and a public-facing channel
        asked = await call("POST", "intake", f"/campaigns/{cid}/changes", rita, {
            "reason": "Strong opens: add display and budget", "budget_amount": money("3500.00"),
            "channels": ["email", "display"]})
        [change] = asked["change_requests"]
        assert (change["version"], change["changes"], change["status"]) == (2, ["budget", "channels"], "pending")
        view = await governance(lambda v: v["pending_change"] is not None
                                and v["pending_change"]["reservation"]["status"] == "reserved",
                                "governance opened the change's gates and budget reserved the top-up")
        assert [g["gate_id"] for g in view["pending_change"]["gates"]] == ["budget_approval", "brand_legal_review"]
        line = await call("GET", "budget", f"/budget-lines/{LINE}", viewer)
        assert (line["committed"], line["reserved"]) == (money("2000.00"), money("1500.00"))

        own = await call("POST", "governance", f"/campaigns/{cid}/gates/budget_approval/decisions",
                         e2e_stack.auth("rita", "requester", "finance", team="growth"),
                         {"decision": "approve", "brief_version": 2}, expect=403)  # four-eyes
        assert own["type"].endswith("/four-eyes")
        for gate, who in (("budget_approval", finn), ("brand_legal_review", alex)):
            await call("POST", "governance", f"/campaigns/{cid}/gates/{gate}/decisions", who,
                       {"decision": "approve", "brief_version": 2}, expect=201)

        async def intake_changed() -> dict[str, Any] | None:
            body = await call("GET", "intake", f"/campaigns/{cid}", rita)
            return body if body["current_version"] == 2 else None
        shown = await eventually(intake_changed, "intake applies the approved change")
        assert (shown["status"], shown["channels"]) == ("launched", ["email", "display"])

        async def committed() -> dict[str, Any] | None:
            body = await call("GET", "budget", f"/campaigns/{cid}/budget", viewer)
            return body if body["committed"] == money("3500.00") else None
        budget = await eventually(committed, "budget commits the changed amount")
        assert budget["brief_version"] == 2

        async def metrics_row() -> dict[str, Any] | None:
            rows = (await call("GET", "metrics", "/changes/campaigns", viewer))["items"]
            row = next((r for r in rows if r["campaign_id"] == cid), None)
            return row if row and row["changes_approved"] == 1 and row["pauses"] == 1 else None
        row = await eventually(metrics_row, "metrics counts the change and the pause")
        assert (row["change_requests"], row["changes_pending"], row["paused_since"]) == (1, 0, None)
        assert row["time_paused_hours"] > 0
        submitted_at = datetime.fromisoformat(shown["versions"][0]["submitted_at"])
        launched_at = datetime.fromisoformat(row["launched_at"])
        assert row["cycle_time_hours"] == pytest.approx((launched_at - submitted_at).total_seconds() / 3600)
        report = (await call("GET", "metrics", "/aggregates/change-in-flight", viewer))["overall"]
        assert (report["change_requests"], report["approved"], report["time_paused"]["count"]) == (1, 1, 1)
