"""Refusals come in the right order and say the truth: 401/403 before any body error, and a
405 lists every method of the path. No I/O: the routes never reach a database.

The bug report: ``Allow`` on a 405 listed one route's methods; a malformed body got a 400
or 422 before the role check.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from marops_service import problems
from marops_service.auth import CurrentPrincipal, Principal, Role, TokenVerifier, require
from marops_service.idempotency import IdempotencyMiddleware
from marops_service.settings import ServiceSettings
from marops_testkit.apps import TEST_JWT_SECRET, auth

SETTINGS = ServiceSettings(service_name="demo", jwt_secret=TEST_JWT_SECRET)
Finance = Annotated[Principal, Depends(require(Role.finance))]


class Thing(BaseModel):
    name: str
    size: int


def app() -> FastAPI:
    router = APIRouter()

    @router.get("/things")
    async def list_things(_: CurrentPrincipal) -> list[Thing]:
        return []

    @router.post("/things", status_code=201)
    async def create_thing(body: Thing, _: Finance) -> Thing:
        return body

    @router.get("/things/{name}")
    async def get_thing(name: str, _: CurrentPrincipal) -> Thing:
        return Thing(name=name, size=1)

    @router.delete("/things/{name}", status_code=204)
    async def delete_thing(name: str, _: Finance) -> None:
        return None

    application = FastAPI()
    application.state.token_verifier = TokenVerifier(SETTINGS)
    problems.install(application)
    application.add_middleware(IdempotencyMiddleware, ttl_seconds=3600, wait_seconds=1)
    application.include_router(router)
    return application


async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://test") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/things", "GET, POST"), ("DELETE", "/things", "GET, POST"),
    ("POST", "/things/x", "GET, DELETE"), ("PATCH", "/things/x", "GET, DELETE"),
])
async def test_405_lists_every_method_of_the_path(method: str, path: str, allow: str) -> None:
    response = await call(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


BAD_BODIES = [b"{not json", b"\xff\xfe\x00", b'{"name": "x"}', b'{"name": "x", "size": "big"}']


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_no_token_gets_401_whatever_the_body(body: bytes) -> None:
    response = await call("POST", "/things", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_the_wrong_role_gets_403_whatever_the_body(body: bytes) -> None:
    headers = {"content-type": "application/json", **auth(SETTINGS, "vic", "viewer")}
    response = await call("POST", "/things", content=body, headers=headers)
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_the_right_role_learns_what_is_wrong_with_the_body(body: bytes) -> None:
    headers = {"content-type": "application/json", **auth(SETTINGS, "fiona", "finance")}
    response = await call("POST", "/things", content=body, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_valid_request_still_passes() -> None:
    headers = auth(SETTINGS, "fiona", "finance")
    response = await call("POST", "/things", json={"name": "x", "size": 1}, headers=headers)
    assert response.status_code == 201, response.text


async def test_an_unauthenticated_request_gets_401_whatever_its_idempotency_key() -> None:
    # Two different bodies under one key used to get 409 "key reused" before any word about the token.
    for size in (1, 2):
        response = await call("POST", "/things", json={"name": "x", "size": size},
                              headers={"Idempotency-Key": "same-key"})
        assert response.status_code == 401, response.text
