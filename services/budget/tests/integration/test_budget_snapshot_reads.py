"""A read of several statements shows one committed state, never half of a concurrent commit.

The campaign budget view reads the current brief, then the hold. A consumer that commits a
new brief version and its hold between those two statements must not show a hold of
version 2 beside brief version 1. The test makes that interleaving certain instead of
likely: it writes version 2 in a transaction that first takes the hold table's lock, so
the request reads the brief, then waits for the hold until the test commits.
"""

from __future__ import annotations

import asyncio

import pytest
from budget_harness import Harness, brief_submitted, uid

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _waiting_on_holds(h: Harness) -> bool:
    return bool(await h.db.fetchval(
        "SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'holds'::regclass AND NOT granted)"))


async def test_campaign_budget_never_mixes_a_brief_and_a_hold_of_different_versions(harness: Harness) -> None:
    h = harness
    line = await h.create_line("1000.00")
    campaign = uid("cmp")
    v1 = brief_submitted(campaign, line["id"], "100.00")
    await h.publish(v1)
    await h.processed(v1)
    before = await h.campaign(campaign)
    assert (before["brief_version"], before["reserved"]["amount"]) == (1, "100.00")

    async with h.db.acquire() as writer:
        tx = writer.transaction()
        await tx.start()
        try:
            # What budget's consumer does for version 2, with the hold table locked first.
            await writer.execute("LOCK TABLE holds IN ACCESS EXCLUSIVE MODE")
            await writer.execute(
                """INSERT INTO briefs (campaign_id, version, title, team, budget_line_id, amount, currency,
                                       flight_start, flight_end, submitted_at, event_id)
                   SELECT campaign_id, 2, title, team, budget_line_id, 200, currency, flight_start, flight_end,
                          submitted_at, gen_random_uuid()
                   FROM briefs WHERE campaign_id = $1 AND version = 1""", campaign)
            await writer.execute("UPDATE holds SET brief_version = 2, amount = 200 WHERE campaign_id = $1", campaign)
            reading = asyncio.create_task(h.client.get(f"/campaigns/{campaign}/budget", headers=h.viewer))
            for _ in range(500):
                if await _waiting_on_holds(h) or reading.done():
                    break
                await asyncio.sleep(0.01)
            assert await _waiting_on_holds(h), "the request never waited for the hold table"
        finally:
            await tx.commit()
        response = await reading
    assert response.status_code == 200, response.text
    seen = response.json()
    # Either state as a whole: the one before the commit, or the one after.
    assert (seen["brief_version"], seen["reserved"]["amount"]) in {(1, "100.00"), (2, "200.00")}, seen
