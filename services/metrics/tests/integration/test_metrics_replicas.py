"""Two metrics processes in one consumer group over one database give the numbers one
gives: Kafka splits the partitions between them, the merges are idempotent and the
per-campaign lock serialises two replicas deriving one campaign (real PostgreSQL and
Kafka, two apps running side by side)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder

from marops_metrics import aggregates
from marops_metrics.aggregates import Filters, GroupBy
from marops_metrics.domain import build_campaigns
from marops_metrics.facts import facts_of
from marops_metrics.handlers import CONSUMED_TYPES
from marops_metrics.main import create_app
from marops_testkit.apps import auth, running
from marops_testkit.compare import same
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def plain(body: dict[str, Any]) -> Any:
    out = json.loads(json.dumps(jsonable_encoder(body)))  # as the API encodes it
    for key in ("filtered", "limit", "next_cursor"):
        out.pop(key, None)
    return out


async def test_two_replicas_in_one_group_give_the_numbers_of_one(metrics, dozen) -> None:
    one = metrics
    second = create_app(one.settings)  # another replica: same database, consumer group and topics
    async with running(second) as other_client:
        runners = [one.app.state.runtime.consumer, second.state.runtime.consumer]
        total = len(CONSUMED_TYPES) * one.settings.topic_partitions

        async def split() -> bool:  # both replicas own partitions before anything is published
            owned = [r.consumer.assignment() if r.consumer else set() for r in runners]
            return all(owned) and len(owned[0] | owned[1]) == total and not owned[0] & owned[1]

        await wait_for(split, timeout=90, interval=0.2, message="partitions split between the two replicas")
        await one.publish([*dozen.events, *dozen.events[:15]])
        await one.wait_applied(len(dozen.events))

        assert all(r.last_event_time for r in runners)  # both replicas applied events

        viewer = auth(one.settings, "vera", "viewer")
        campaigns = build_campaigns(facts_of(dozen.events))
        f = Filters()
        expected = {
            "/summary": aggregates.summary(campaigns, f).body,
            "/campaigns": aggregates.campaign_table(campaigns, f).body,
            "/aggregates/gate-times?group_by=team": aggregates.gate_times(campaigns, f, GroupBy.team).body,
            "/aggregates/variance/budget-lines": aggregates.variance_by_line(campaigns, f).body,
        }
        for client in (one.client, other_client):  # either replica answers the same
            for path, body in expected.items():
                response = await client.get(path, headers=viewer)
                assert response.status_code == 200, response.text
                same(plain(response.json()), plain(body), path)
