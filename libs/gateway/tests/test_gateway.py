"""The console's gateway in front of a real HTTP server (uvicorn on loopback).

What a browser relies on: /api/<service>/<path> reaches that service's /<path> with the
method, query, body and bearer token intact and the answer comes back unchanged; a
service that is down is a 502 problem, not a hang; the development token endpoint exists
only when it is switched on, and its tokens are the ones the services accept.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from marops_gateway.app import create_app
from marops_gateway.settings import GatewaySettings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from marops_service.auth import Role, TokenVerifier
from marops_service.settings import ServiceSettings

SECRET = SecretStr("gateway-test-secret-" + "0123456789abcdef" * 2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "path": request.url.path, "raw_path": request.scope["raw_path"].decode(),
                         "query": request.url.query, "body": (await request.body()).decode(),
                         "authorization": request.headers.get("authorization"),
                         "forwarded_for": request.headers.get("x-forwarded-for")},
                        status_code=201 if request.method == "POST" else 200, headers={"X-Upstream": "echo"})


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A real HTTP server standing in for a service: it echoes what it received."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PATCH"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the upstream server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def gateway(tmp_path: Path, upstream: str, **overrides: object) -> Starlette:
    static = tmp_path / "dist"
    (static / "assets").mkdir(parents=True, exist_ok=True)
    (static / "index.html").write_text("<!doctype html><title>marops console</title>")
    (static / "assets" / "app.js").write_text("console.log('bundled')")
    settings = GatewaySettings(intake_url=upstream, governance_url=upstream, budget_url=f"http://127.0.0.1:{free_port()}",
                               metrics_url=upstream, static_dir=static, **overrides)  # type: ignore[arg-type]
    return create_app(settings, ServiceSettings(jwt_secret=SECRET))


async def request(app: Starlette, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_an_api_call_reaches_the_service_path_with_its_method_query_body_and_token(tmp_path: Path, upstream: str) -> None:
    app = gateway(tmp_path, upstream)
    resp = asyncio.run(request(app, "POST", "/api/intake/campaigns/a%2Fb/submit?x=1&y=%C3%A9", content=b'{"a": 1}',
                               headers={"Authorization": "Bearer abc", "Content-Type": "application/json"}))
    assert resp.status_code == 201
    assert resp.headers["x-upstream"] == "echo"
    body = resp.json()
    assert body["method"] == "POST"
    assert body["raw_path"] == "/campaigns/a%2Fb/submit"  # percent-encoding kept, not decoded into a new path
    assert body["query"] == "x=1&y=%C3%A9"
    assert body["body"] == '{"a": 1}'
    assert body["authorization"] == "Bearer abc"
    assert body["forwarded_for"]


def test_the_service_root_and_every_service_name_route(tmp_path: Path, upstream: str) -> None:
    app = gateway(tmp_path, upstream)
    for service in ("intake", "governance", "metrics"):
        assert asyncio.run(request(app, "GET", f"/api/{service}/me")).json()["path"] == "/me"
    assert asyncio.run(request(app, "GET", "/api/intake")).json()["path"] == "/"


def test_an_unknown_service_is_a_404_problem(tmp_path: Path, upstream: str) -> None:
    resp = asyncio.run(request(gateway(tmp_path, upstream), "GET", "/api/billing/x"))
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert "billing" in resp.json()["detail"]


def test_a_service_that_is_down_is_a_502_problem(tmp_path: Path, upstream: str) -> None:
    resp = asyncio.run(request(gateway(tmp_path, upstream), "GET", "/api/budget/budget-lines"))
    assert resp.status_code == 502
    assert resp.headers["content-type"] == "application/problem+json"
    assert "budget" in resp.json()["detail"]


def test_the_console_and_its_assets_are_served_and_unknown_pages_get_the_app(tmp_path: Path, upstream: str) -> None:
    app = gateway(tmp_path, upstream)
    assert "marops console" in asyncio.run(request(app, "GET", "/")).text
    assert "marops console" in asyncio.run(request(app, "GET", "/campaigns/abc")).text
    assert asyncio.run(request(app, "GET", "/assets/app.js")).text == "console.log('bundled')"
    assert asyncio.run(request(app, "GET", "/assets/missing.js")).status_code == 404


def test_no_dev_token_endpoint_by_default(tmp_path: Path, upstream: str) -> None:
    app = gateway(tmp_path, upstream)
    resp = asyncio.run(request(app, "POST", "/api/dev/token", json={"subject": "alice", "roles": ["ops_admin"]}))
    assert resp.status_code == 404
    assert "token" not in resp.json()
    assert asyncio.run(request(app, "GET", "/api/config")).json()["dev_tokens"] is False


def test_a_dev_token_is_one_the_services_accept(tmp_path: Path, upstream: str) -> None:
    app = gateway(tmp_path, upstream, dev_tokens=True)
    assert asyncio.run(request(app, "GET", "/api/config")).json()["dev_tokens"] is True
    resp = asyncio.run(request(app, "POST", "/api/dev/token",
                               json={"subject": "alice", "roles": ["requester"], "team": "growth"}))
    assert resp.status_code == 200
    who = TokenVerifier(ServiceSettings(jwt_secret=SECRET)).verify_local(resp.json()["token"])
    assert (who.subject, who.roles, who.team) == ("alice", frozenset({Role.requester}), "growth")


@pytest.mark.parametrize("body", [
    {"subject": "svc", "roles": ["service"]},  # other systems' role is no persona
    {"subject": "alice", "roles": []},
    {"subject": "Alice Smith", "roles": ["viewer"]},
    {"subject": "alice", "roles": ["viewer"], "extra": 1},
    ["alice"],
])
def test_a_bad_dev_token_request_is_a_422_problem(tmp_path: Path, upstream: str, body: object) -> None:
    resp = asyncio.run(request(gateway(tmp_path, upstream, dev_tokens=True), "POST", "/api/dev/token", json=body))
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["errors"]


def test_a_body_that_is_not_json_is_a_400_problem(tmp_path: Path, upstream: str) -> None:
    resp = asyncio.run(request(gateway(tmp_path, upstream, dev_tokens=True), "POST", "/api/dev/token", content=b"{"))
    assert resp.status_code == 400


def test_dev_tokens_need_the_local_secret(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="MAROPS_JWT_SECRET"):
        create_app(GatewaySettings(dev_tokens=True, static_dir=tmp_path), ServiceSettings(jwt_secret=None))
