"""RFC 9457 problem details for every error a service returns.

Domain code raises ``Problem`` (or a subclass); validation errors list every failing
field with its path; anything unexpected becomes a logged 500 problem, never a stack
trace or an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# How long a client should wait before retrying while a dependency is unreachable.
RETRY_AFTER_SECONDS = 5
# Errors that mean "the database is unreachable", not "this request is wrong".
DATABASE_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError, TimeoutError,
)


class Problem(Exception):
    """An error with an HTTP status, rendered as application/problem+json."""

    status = 400
    title = "Bad request"
    slug: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        slug: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.headers = headers
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        if slug is not None:
            self.slug = slug
        self.errors = errors
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.title, self.detail, slug=self.slug, instance=instance,
                            errors=self.errors, **self.extensions)


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class Forbidden(Problem):
    status, title, slug = 403, "Forbidden", "forbidden"


class Unauthorized(Problem):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


def problem_body(status: int, title: str, detail: str | None = None, *, slug: str | None = None,
                 instance: str | None = None, errors: list[dict[str, Any]] | None = None,
                 **extensions: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"/problems/{slug}" if slug else "about:blank", "title": title,
                            "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors as ``{path, message, type}`` with dotted paths (``body.kpis.0.target``)."""
    return [
        {"path": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "invalid"),
         "type": err.get("type", "value_error")}
        for err in errors
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path.

    Starlette's 405 names only the methods of the first route whose path matched, while
    a path usually has several routes (GET and POST of /campaigns are two).
    """
    routes = request.app.router.routes
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)]


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.body(instance=request.url.path), headers=exc.headers)

    from .auth import refusal_before_input  # auth builds on this module

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        refusal = await refusal_before_input(request)
        if refusal is not None:
            return problem_response(refusal.body(instance=request.url.path), headers=refusal.headers)
        return problem_response(problem_body(
            422, "Validation failed", "The request is invalid; see errors for every field.",
            slug="validation-error", instance=request.url.path, errors=field_errors(list(exc.errors())),
        ))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:  # Starlette's body limit counted past max_body_size while reading
            return problem_response(too_large_body(request.scope))
        if exc.status_code == 400:  # a body FastAPI could not parse (e.g. not UTF-8)
            refusal = await refusal_before_input(request)
            if refusal is not None:
                return problem_response(refusal.body(instance=request.url.path), headers=refusal.headers)
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
                 409: "Conflict"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        return problem_response(problem_body(exc.status_code, title, detail, instance=request.url.path),
                                headers=headers or None)

    @app.exception_handler(asyncpg.DataError)
    async def _data(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # Input the database cannot store (NUL characters, out-of-range numbers...).
        return problem_response(problem_body(422, "Unprocessable content", f"a value cannot be stored: {exc}",
                                             slug="unstorable-value", instance=request.url.path))

    @app.exception_handler(asyncpg.TransactionRollbackError)
    async def _conflict(request: Request, exc: asyncpg.TransactionRollbackError) -> JSONResponse:
        # Deadlock or serialization failure with a concurrent writer: safe to retry.
        return problem_response(problem_body(503, "Concurrent update", "the request collided with a concurrent "
                                             "update and changed nothing; retry it", slug="retry",
                                             instance=request.url.path), headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DATABASE_UNREACHABLE):
            # Not the request's fault and not a bug: the database is down or restarting.
            log.warning("database unreachable on %s %s: %r", request.method, request.url.path, exc)
            return problem_response(problem_body(503, "Service unavailable", "the database is unreachable; "
                                                 "retry later", slug="unavailable", instance=request.url.path),
                                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(problem_body(500, "Internal error", "An unexpected error occurred.",
                                             instance=request.url.path))


def too_large_body(scope: Scope) -> dict[str, Any]:
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    detail = f"the request body is larger than {limit} bytes" if limit is not None else "the request body is too large"
    return problem_body(413, "Content too large", detail, slug="content-too-large", instance=scope.get("path"))


class DeclaredTooLarge:
    """413 problem+json for a Content-Length above the limit, before any byte is read.

    Counting bodies as they stream is Starlette's ``RequestBodyLimitMiddleware`` (inside this
    one); left alone, it answers a declared-too-large body in plain text.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
                body = too_large_body({**scope, MAX_BODY_SIZE_SCOPE_KEY: self.max_body_size})
                await problem_response(body)(scope, receive, send)
                return
        await self.app(scope, receive, send)
