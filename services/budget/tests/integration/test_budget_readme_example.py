"""The README's "Publishing spend from another system" example works as documented.

The test reads the JSON envelope and the Python script from the README itself, runs the
script's ``publish`` (a plain aiokafka producer, no marops code) against the test broker
and finds the spend in the ledger: a README that drifts from the contract fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from budget_harness import Harness, brief_submitted

from marops_testkit.kafka import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Publishing spend from another system"


def readme_blocks() -> tuple[dict[str, Any], str]:
    text = README.read_text()
    section = text[text.index(SECTION):]
    section = section[:section.find("\n## ", len(SECTION))]
    event = re.search(r"```json\n(.*?)```", section, re.S)
    script = re.search(r"```python\n(.*?)```", section, re.S)
    assert event and script, "the README section lost its JSON or Python block"
    return json.loads(event.group(1)), script.group(1)


async def test_the_documented_spend_event_is_recorded(harness: Harness) -> None:
    h = harness
    event, script = readme_blocks()
    namespace: dict[str, Any] = {"__name__": "readme_example"}  # not __main__: define, do not run
    exec(compile(script, str(README), "exec"), namespace)
    # The documented constants, pointed at this test's broker and topic prefix.
    assert namespace["TOPIC"] == "marops.spend-recorded.v1"
    namespace["BOOTSTRAP"] = h.settings.kafka_bootstrap_servers
    namespace["TOPIC"] = h.settings.topic_prefix + namespace["TOPIC"]

    await namespace["publish"](event)
    await namespace["publish"](event)  # re-sending is safe

    data = event["data"]

    async def recorded() -> list[dict[str, Any]]:
        response = await h.client.get("/spend", params={"source_system": data["source_system"]}, headers=h.viewer)
        items = response.json()["items"]
        assert items
        return items

    [entry] = await wait_for(recorded)
    assert (entry["campaign_id"], entry["source_reference"], entry["amount"], entry["incurred_on"]) == (
        data["campaign_id"], data["source_reference"], data["amount"], data["incurred_on"])
    assert (entry["origin"], entry["event_id"], entry["recorded_by"]) == ("kafka", event["id"], event["source"])
    assert entry["attribution"] == "unattributed"  # the campaign is not known yet

    # Once the campaign's brief arrives, the spend counts against its line.
    line = await h.create_line("10000.00")
    brief = brief_submitted(data["campaign_id"], line["id"], "2000.00")
    await h.publish(brief)
    await h.processed(brief)
    assert (await h.line(line["id"]))["spent"] == data["amount"]
    assert h.recorder.dead_letters("SpendRecorded") == []
