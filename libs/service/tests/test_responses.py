"""The OpenAPI document says what a route really answers: problem+json errors and CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel

from marops_service import responses
from marops_service.auth import CurrentPrincipal
from marops_service.responses import csv_export, problems

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


class Thing(BaseModel):
    name: str


def app() -> FastAPI:
    router = APIRouter()

    @router.get("/things/{name}", response_model=Thing, responses={**problems(404), **csv_export()})
    async def get_thing(name: str, _: CurrentPrincipal,
                        format: Annotated[str | None, Query()] = None) -> Thing:
        return Thing(name=name)

    @router.post("/things", status_code=201, response_model=Thing, responses=problems((409, "name taken")))
    async def create_thing(body: Thing, _: CurrentPrincipal) -> Thing:
        return body

    @router.get("/open")
    async def open_route() -> dict[str, str]:
        return {"status": "ok"}

    application = FastAPI()
    application.include_router(router)
    responses.install(application)
    return application


def test_errors_are_problem_json_with_the_statuses_the_route_answers() -> None:
    doc = app().openapi()
    get = doc["paths"]["/things/{name}"]["get"]["responses"]
    assert sorted(get) == ["200", "401", "403", "404", "422", "503"]
    assert all(get[s]["content"] == PROBLEM for s in ("401", "403", "404", "422", "503"))
    post = doc["paths"]["/things"]["post"]
    assert sorted(post["responses"]) == ["201", "400", "401", "403", "409", "413", "422", "503"]
    assert post["responses"]["409"]["description"] == "name taken"
    assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    # no FastAPI default HTTPValidationError (application/json) anywhere
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "ValidationError" not in doc["components"]["schemas"]
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert problem["properties"]["errors"]["anyOf"][0]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert doc["components"]["schemas"]["FieldError"]["required"] == ["path", "message", "type"]


def test_unauthenticated_routes_without_input_document_only_what_they_can_answer() -> None:
    doc = app().openapi()
    assert sorted(doc["paths"]["/open"]["get"]["responses"]) == ["200", "503"]


def test_csv_responses_are_documented_beside_json() -> None:
    ok = app().openapi()["paths"]["/things/{name}"]["get"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert ok["text/csv"]["schema"] == {"type": "string", "format": "binary"}
