"""The gateway: one origin for the console and the four APIs.

``/api/<service>/<path>`` is forwarded to that service's ``/<path>`` (method, query, body
and headers, the bearer token included), the same routes the Helm chart's Ingress and a
Compose ingress use, so the console never needs CORS locally. ``/api/config`` tells the
console how people sign in; ``POST /api/dev/token`` exists only with dev tokens enabled.
Everything else is the built console (``console/dist``), ``index.html`` for unknown paths.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from marops_service.settings import ServiceSettings

from . import devtokens
from .settings import SERVICES, GatewaySettings

log = logging.getLogger("marops.gateway")

PROBLEM_JSON = "application/problem+json"
# hop-by-hop headers (RFC 9110 7.6.1) are never forwarded; host is the upstream's own
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host"}
MAX_DEV_TOKEN_BODY = 4096


def problem(status: int, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{title.lower().replace(' ', '-')}", "title": title, "status": status,
            "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def forward_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    client = request.client.host if request.client else ""
    return [*headers, ("x-forwarded-for", client), ("x-forwarded-proto", request.url.scheme),
            ("x-forwarded-host", request.headers.get("host", ""))]


def create_app(settings: GatewaySettings | None = None, platform: ServiceSettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    platform = platform or ServiceSettings()
    if settings.dev_tokens and (why := devtokens.usable(platform)):
        raise SystemExit(why)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=settings.upstream_timeout_seconds, limits=limits) as client:
            app.state.client = client
            yield

    async def proxy(request: Request) -> Response:
        service = request.path_params["service"]
        if service not in SERVICES:
            return problem(404, "Not found", f"no API named {service!r}; one of {', '.join(SERVICES)}",
                           request.url.path)
        # the raw path keeps percent-encoding exactly as the browser sent it
        raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        rest = raw.split("/", 3)[3] if raw.count("/") >= 3 else ""
        url = f"{settings.upstream(service)}/{rest}"
        query = request.scope.get("query_string", b"").decode("latin-1")
        if query:
            url = f"{url}?{query}"
        client: httpx.AsyncClient = request.app.state.client
        upstream = client.build_request(request.method, url, headers=forward_headers(request),
                                        content=request.stream())
        try:
            resp = await client.send(upstream, stream=True)
        except ClientDisconnect:
            # the browser went away while its body was being forwarded (a tab closed, a
            # request aborted): nobody is left to answer, so nothing is logged as an error
            return Response(status_code=499)
        except httpx.HTTPError as exc:
            log.warning("upstream %s unreachable: %r", service, exc)
            return problem(502, "Bad gateway", f"the {service} service did not answer; is it running?",
                           request.url.path, headers={"Retry-After": "5"})
        headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(resp.aiter_raw(), status_code=resp.status_code, headers=headers,
                                 background=BackgroundTask(resp.aclose))

    async def config(request: Request) -> JSONResponse:
        return JSONResponse({
            "dev_tokens": settings.dev_tokens,
            "identity_provider": {"name": settings.idp_name, "login_url": settings.idp_login_url}
            if settings.idp_login_url else None,
            "services": list(SERVICES),
        })

    async def dev_token(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_DEV_TOKEN_BODY:
            return problem(413, "Payload too large", "the body is too large", request.url.path)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return problem(400, "Bad request", "the body is not JSON", request.url.path)
        parsed = devtokens.parse(payload)
        if isinstance(parsed, list):
            return problem(422, "Validation failed", "the request is invalid; see errors for every field.",
                           request.url.path, errors=parsed)
        return JSONResponse({"token": devtokens.issue(platform, parsed), "token_type": "Bearer",
                             "expires_in": devtokens.DEV_TOKEN_TTL_SECONDS})

    async def unknown_api(request: Request) -> Response:
        return problem(404, "Not found", "no such API route", request.url.path)

    async def index(request: Request) -> Response:
        page = settings.static_dir / "index.html"
        if not page.is_file():
            return Response(f"The console is not built ({page} is missing): run `make console`.\n",
                            status_code=503, media_type="text/plain")
        # the page names the hashed assets of this build: never cached
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes: list[Route | Mount] = [Route("/healthz", healthz, methods=["GET"]),
                                   Route("/api/config", config, methods=["GET"])]
    if settings.dev_tokens:
        routes.append(Route("/api/dev/token", dev_token, methods=["POST"]))
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes += [
        Route("/api/{service}", proxy, methods=methods),
        Route("/api/{service}/{path:path}", proxy, methods=methods),
        Route("/api/{path:path}", unknown_api),
    ]
    assets = settings.static_dir / "assets"
    routes.append(Mount("/assets", app=StaticFiles(directory=assets, check_dir=False), name="assets"))
    routes.append(Route("/{path:path}", index, methods=["GET", "HEAD"]))
    return Starlette(routes=routes, lifespan=lifespan)
