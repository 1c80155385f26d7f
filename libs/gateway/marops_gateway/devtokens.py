"""Development tokens: a persona picked on the sign-in page gets a token signed with the
platform's local secret. Mounted only with ``GATEWAY_DEV_TOKENS=true`` (see app.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from marops_service.auth import Role, mint
from marops_service.settings import ServiceSettings

# Every role a person can hold; `service` is for other systems, never a console persona.
PERSONA_ROLES = {r.value for r in Role if r is not Role.service}
DEV_TOKEN_TTL_SECONDS = 8 * 3600


class DevTokenRequest(BaseModel, extra="forbid"):
    subject: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    roles: list[str] = Field(min_length=1, max_length=5)
    team: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"path": ".".join(["body", *(str(p) for p in e["loc"])]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()]


def parse(payload: object) -> DevTokenRequest | list[dict[str, str]]:
    """The request, or its field errors (unknown roles included)."""
    try:
        req = DevTokenRequest.model_validate(payload)
    except ValidationError as exc:
        return field_errors(exc)
    unknown = sorted(set(req.roles) - PERSONA_ROLES)
    if unknown:
        return [{"path": "body.roles", "message": f"unknown role(s) {', '.join(unknown)}; one of "
                 f"{', '.join(sorted(PERSONA_ROLES))}", "type": "value_error"}]
    return req


def issue(settings: ServiceSettings, req: DevTokenRequest) -> str:
    return mint(settings, req.subject, sorted(set(req.roles)), req.team, ttl_seconds=DEV_TOKEN_TTL_SECONDS)


def usable(settings: ServiceSettings) -> str | None:
    """Why dev tokens cannot be minted with these settings, or None."""
    if settings.jwt_algorithm != "HS256" or settings.jwt_secret is None:
        return "GATEWAY_DEV_TOKENS needs the platform's local HS256 secret (MAROPS_JWT_SECRET)"
    return None
