"""``GET /operations/dead-letters``: a malformed record metrics' consumer dead-letters shows up
in the count of its topic's DLQ, and nowhere else; an empty DLQ counts 0."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from marops_testkit.apps import auth
from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_dead_lettered_record_is_counted_on_its_topics_dlq(metrics) -> None:
    viewer = auth(metrics.settings, "vic", "viewer")
    before = await metrics.client.get("/operations/dead-letters", headers=viewer)
    assert before.status_code == 200, before.text
    assert before.json()["total"] == 0
    topic = f"{metrics.prefix}marops.brief-submitted.v1"
    assert f"{topic}.dlq" in {t["topic"] for t in before.json()["topics"]}

    producer = AIOKafkaProducer(bootstrap_servers=metrics.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"{not json", key=b"C1")
    finally:
        await producer.stop()

    async def counted() -> bool:
        body = (await metrics.client.get("/operations/dead-letters", headers=viewer)).json()
        return body["total"] == 1

    await wait_for(counted, timeout=60, interval=0.3, message="the malformed record counted as a dead letter")
    body = (await metrics.client.get("/operations/dead-letters", headers=viewer)).json()
    assert {t["topic"]: t["letters"] for t in body["topics"] if t["letters"]} == {f"{topic}.dlq": 1}
    assert next(t for t in body["topics"] if t["topic"] == f"{topic}.dlq")["source_topic"] == topic


async def test_a_token_with_no_known_role_sees_no_dead_letters(metrics) -> None:
    resp = await metrics.client.get("/operations/dead-letters", headers=auth(metrics.settings, "m", "superuser"))
    assert resp.status_code == 403
