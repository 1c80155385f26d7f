"""Every metrics route declares its response schema in OpenAPI, and real bodies of the
dozen-campaign scenario validate against it (the models forbid undeclared fields)."""

from __future__ import annotations

import pytest

from marops_metrics import schemas
from marops_testkit.apps import auth

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODIES = {
    "/summary": schemas.Summary,
    "/campaigns?limit=5": schemas.CampaignTable,
    "/campaigns/C02/timeline?limit=3": schemas.Timeline,
    "/aggregates/cycle-time?group_by=quarter": schemas.CycleTimeReport,
    "/aggregates/gate-times?group_by=team": schemas.GateTimesReport,
    "/aggregates/sla-breaches?group_by=channel": schemas.SlaReport,
    "/aggregates/rework": schemas.ReworkReport,
    "/aggregates/on-time?group_by=team": schemas.OnTimeReport,
    "/aggregates/data-completeness": schemas.CompletenessReport,
    "/aggregates/variance/campaigns": schemas.VarianceReport,
    "/aggregates/variance/campaigns?group_by=team": schemas.VarianceReport,
    "/aggregates/variance/budget-lines": schemas.LineVarianceReport,
    "/aggregates/variance/months?group_by=channel": schemas.MonthReport,
    "/status": schemas.Freshness,
}


async def test_bodies_validate_against_their_declared_schemas(dozen_loaded) -> None:
    app = dozen_loaded
    viewer = auth(app.settings, "vera", "viewer")
    for path, model in BODIES.items():
        response = await app.client.get(path, headers=viewer)
        assert response.status_code == 200, (path, response.text)
        model.model_validate(response.json())


async def test_every_route_declares_its_success_schema(dozen_loaded) -> None:
    document = (await dozen_loaded.client.get("/openapi.json")).json()
    for path, item in document["paths"].items():
        if path in ("/healthz", "/readyz", "/me"):
            continue  # the chassis' own routes
        for method, operation in item.items():
            success = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            schema = success["content"]["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path, schema)
            assert schema["$ref"].rsplit("/", 1)[-1] in document["components"]["schemas"], (method, path)
