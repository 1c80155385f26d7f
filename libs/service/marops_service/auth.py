"""JWT bearer authentication with the roles of SPEC section 5.

Tokens carry ``sub`` (the user id), ``roles`` (a list) and ``team``. HS256 with a local
secret is the default (``MAROPS_JWT_SECRET``); RS256 verifies with a PEM public key
(``MAROPS_JWT_PUBLIC_KEY``) or a JWKS endpoint (``MAROPS_JWT_JWKS_URL``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .problems import Forbidden, Unauthorized
from .settings import ServiceSettings


class Role(StrEnum):
    requester = "requester"
    approver = "approver"
    finance = "finance"
    ops_admin = "ops_admin"
    viewer = "viewer"
    service = "service"  # other enterprise systems calling an API (e.g. spend ingestion)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    team: str | None = None

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return Role.ops_admin in self.roles


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        if settings.jwt_algorithm == "HS256" and settings.jwt_secret is None:
            raise RuntimeError("MAROPS_JWT_SECRET (or <SERVICE>_JWT_SECRET) must be set for HS256 tokens")
        if settings.jwt_algorithm == "RS256" and not (settings.jwt_public_key or self._jwks):
            raise RuntimeError("RS256 needs MAROPS_JWT_PUBLIC_KEY or MAROPS_JWT_JWKS_URL")

    def _key(self, token: str) -> Any:
        s = self._settings
        if s.jwt_algorithm == "HS256":
            assert s.jwt_secret is not None
            return s.jwt_secret.get_secret_value()
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        return s.jwt_public_key

    def verify(self, token: str) -> Principal:
        s = self._settings
        try:
            claims = jwt.decode(
                token, self._key(token), algorithms=[s.jwt_algorithm], audience=s.jwt_audience,
                issuer=s.jwt_issuer, options={"require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from None
        raw_roles = claims.get("roles") or []
        if not isinstance(raw_roles, list):
            raise Unauthorized("invalid bearer token: roles must be a list")
        roles = frozenset(Role(r) for r in raw_roles if r in Role.__members__)
        team = claims.get("team")
        return Principal(subject=str(claims["sub"]), roles=roles, team=str(team) if team else None)


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(credentials.credentials)
    request.state.principal = principal
    if not principal.roles:
        # SPEC section 5: a token with no known role reads nothing (and writes nothing).
        raise Forbidden("the token carries no known role (requester, approver, finance, ops_admin, viewer, service)")
    return principal


def require(*roles: Role) -> Callable[..., Any]:
    """Dependency: the caller has at least one of ``roles`` (ops_admin always passes)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.has(*roles, Role.ops_admin):
            raise Forbidden(f"requires one of the roles: {', '.join(sorted(r.value for r in roles))}")
        return principal

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def mint(settings: ServiceSettings, subject: str, roles: list[str], team: str | None = None,
         ttl_seconds: int = 8 * 3600, private_key: str | None = None) -> str:
    """A signed token for local use (tests, the CLI, the demo)."""
    import time

    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "roles": roles, "iat": now, "exp": now + ttl_seconds,
                              "aud": settings.jwt_audience, "iss": settings.jwt_issuer}
    if team:
        claims["team"] = team
    if settings.jwt_algorithm == "RS256":
        if not private_key:
            raise ValueError("RS256 minting needs a private key")
        return jwt.encode(claims, private_key, algorithm="RS256")
    assert settings.jwt_secret is not None, "set MAROPS_JWT_SECRET"
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
