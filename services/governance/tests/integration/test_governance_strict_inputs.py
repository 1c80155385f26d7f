"""Strict inputs in governance: integers are JSON integers, booleans and strings are not."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("version", ["1", True, 1.5, "one"])
async def test_a_brief_version_is_a_json_integer(gov, version: object) -> None:
    response = await gov.client.post("/campaigns/any/gates/brief_review/decisions", headers=gov.as_("alex", "approver"),
                                     json={"decision": "approve", "brief_version": version})
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["body.approve.brief_version"]


@pytest.mark.parametrize("score", ["3", True])
async def test_risk_scores_are_json_integers(gov, score: object) -> None:
    response = await gov.client.post("/campaigns/any/risks", headers=gov.as_("alex", "approver"), json={
        "description": "Late creative", "owner": "olga", "probability": score, "impact": 2})
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["body.probability"]
