"""What every route answers besides success, written into the OpenAPI document once.

Routes declare the errors that belong to them (``responses=problems(404, 409)``) and
their CSV variant (``responses=csv_export()``); ``install(app)`` then adds what the
chassis itself answers on every route, so no route can forget it:

- 401 (no or bad bearer token) and 403 (role or rule) on every authenticated route;
- 422 (validation, ``errors[]`` with the path of every failing field) on every route
  with a parameter or a body; FastAPI's default ``HTTPValidationError`` (documented as
  ``application/json``, which the services never send) is replaced;
- 400 (body that is not JSON/UTF-8, bad Idempotency-Key) and 413 (body too large) on
  routes with a body; 409 and the ``Idempotency-Key`` header on every POST;
- 503 (a dependency is down or a concurrent update aborted the request; ``Retry-After``)
  on every route.

Every error is ``application/problem+json`` (RFC 9457) with the ``Problem`` schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from .exports import CSV_MEDIA_TYPE
from .idempotency import MAX_KEY_LENGTH
from .problems import PROBLEM_JSON

__all__ = ["FieldError", "ProblemDetails", "csv_export", "install", "problems"]

METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: a body that is not JSON or not UTF-8, or an invalid Idempotency-Key",
    401: "Missing, expired or invalid bearer token",
    403: "The caller's roles, or a rule such as four-eyes, do not allow this",
    404: "Not found (or not readable by the caller)",
    409: "Conflicts with the current state (or an Idempotency-Key reused for another request)",
    412: "Precondition failed",
    413: "Request body too large",
    422: "Validation failed: errors[] names every failing field with its path",
    503: "Temporarily unavailable (a dependency is down or a concurrent update won); retry after Retry-After",
}


class FieldError(BaseModel):
    path: str = Field(description="Dotted location of the field: body.amount.amount, query.as_of",
                      examples=["body.amount.amount"])
    message: str
    type: str = Field(description="Machine-readable error kind", examples=["value_error"])


class ProblemDetails(BaseModel):
    """An RFC 9457 problem; services may add extension members."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="URI reference naming the kind of problem", examples=["/problems/not-found"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path")
    errors: list[FieldError] | None = Field(default=None, description="Field-level detail (validation)")


class Readiness(BaseModel):
    """``/readyz``: 200 ready or degraded (reads served, writes wait in the outbox)."""

    status: Literal["ready", "degraded"]
    checks: dict[str, str] = Field(description="database, kafka, ...: ok or the error")
    consumer: dict[str, Any] | None = Field(default=None, description="The consumer group's health")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def problems(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own errors: ``problems(404, (409, "already launched"))``."""
    out: dict[int | str, dict[str, Any]] = {}
    for item in statuses:
        status, description = item if isinstance(item, tuple) else (item, DESCRIPTIONS.get(item, "Error"))
        out[status] = _problem(description)
    return out


def csv_export(description: str = "JSON, or the same rows as a CSV file with ?format=csv (or Accept: text/csv)",
               status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that also answers CSV: merged with its JSON response."""
    return {status: {"description": description,
                     "content": {CSV_MEDIA_TYPE.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}}}}


def _add(responses: dict[str, Any], status: int) -> None:
    responses.setdefault(str(status), _problem(DESCRIPTIONS[status]))


def _document(method: str, operation: dict[str, Any]) -> None:
    # Read from the operation itself: the bearer scheme marks authenticated routes.
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if validation.get("$ref", "").endswith("/HTTPValidationError"):
        responses["422"] = _problem(DESCRIPTIONS[422])
    if operation.get("security"):
        _add(responses, 401)
        _add(responses, 403)
    if operation.get("parameters") or operation.get("requestBody"):
        _add(responses, 422)
    if operation.get("requestBody"):
        _add(responses, 400)
        _add(responses, 413)
    if method == "post":
        _add(responses, 400)
        _add(responses, 409)
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name", "").lower() == "idempotency-key" for p in parameters):
            parameters.append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "Repeat the request safely: the same key and body replay the first answer",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            })
    _add(responses, 503)
    for response in responses.values():
        for media, content in response.get("content", {}).items():
            if media == "application/json" and content.get("schema") == {}:
                content["schema"] = {"type": "object"}  # never leave a body untyped


def _referenced(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _referenced(value)
    elif isinstance(node, list):
        for value in node:
            yield from _referenced(value)


def _drop_unused(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    while True:  # dropping one may leave another unreferenced (HTTPValidationError -> ValidationError)
        used = set(_referenced(schema.get("paths", {}))) | {
            ref for name, definition in components.items() for ref in _referenced(definition) if ref != name}
        unused = [name for name in names if name in components and name not in used]
        if not unused:
            return
        for name in unused:
            del components[name]


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the chassis' errors on every route (see the module doc)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                if method in METHODS:
                    _document(method, operation)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        defs = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(defs.pop("$defs", {}))
        components["Problem"] = defs
        _drop_unused(schema, ("HTTPValidationError", "ValidationError"))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
