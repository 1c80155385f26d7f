"""JWT bearer authentication with the roles of SPEC section 5.

Tokens carry ``sub`` (the user id), ``roles`` (a list), ``team`` and, for ``service``
principals, ``source_systems`` (the systems whose spend it may record). HS256 with a local
secret is the default (``MAROPS_JWT_SECRET``); RS256 verifies with a PEM public key
(``MAROPS_JWT_PUBLIC_KEY``) or a JWKS endpoint (``MAROPS_JWT_JWKS_URL``), fetched
asynchronously and cached (``jwks.py``). Claims of the wrong shape are 401, never 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeGuard

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from .jwks import JwksCache
from .problems import Forbidden, Problem, Unauthorized
from .settings import ServiceSettings

MAX_CLAIM_LENGTH = 200
VERIFIED_CACHE_SIZE = 10_000


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
    source_systems: frozenset[str] = frozenset()  # for `service` principals: whose spend they may record

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return Role.ops_admin in self.roles


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = JwksCache(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        if settings.jwt_algorithm == "HS256" and settings.jwt_secret is None:
            raise RuntimeError("MAROPS_JWT_SECRET (or <SERVICE>_JWT_SECRET) must be set for HS256 tokens")
        if settings.jwt_algorithm == "RS256" and not (settings.jwt_public_key or self._jwks):
            raise RuntimeError("RS256 needs MAROPS_JWT_PUBLIC_KEY or MAROPS_JWT_JWKS_URL")
        # A client sends the same token with every request: verifying its signature once and
        # remembering the principal until the token expires saves the decode on every call.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """Verify a bearer token; with JWKS, an unknown key id may fetch the key set (not blocking)."""
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        if self._jwks is not None:
            return self._decode(token, await self._jwks.key_for(token))
        return self.verify_local(token)

    def verify_local(self, token: str) -> Principal:
        """Verify without any network call (a shared secret, a PEM key, or a cached JWKS key)."""
        s = self._settings
        if s.jwt_algorithm == "HS256":
            assert s.jwt_secret is not None
            return self._decode(token, s.jwt_secret.get_secret_value())
        if self._jwks is not None:
            return self._decode(token, self._jwks.cached_key_for(token))
        return self._decode(token, s.jwt_public_key)

    def _decode(self, token: str, key: Any) -> Principal:
        s = self._settings
        try:
            claims = jwt.decode(
                token, key, algorithms=[s.jwt_algorithm], audience=s.jwt_audience,
                issuer=s.jwt_issuer, options={"require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from None
        principal = principal_from_claims(claims)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        if isinstance(claims["exp"], int | float):
            self._verified[token] = (principal, float(claims["exp"]))
        return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal a verified token names; any claim of the wrong shape is a 401."""
    subject = claims.get("sub")
    if not _is_name(subject):
        raise Unauthorized(f"invalid bearer token: sub must be a non-empty string of at most {MAX_CLAIM_LENGTH}")
    roles = _names(claims.get("roles"), "roles")
    team = claims.get("team")
    if team is not None and team != "" and not _is_name(team):
        raise Unauthorized("invalid bearer token: team must be a string")
    systems = _names(claims.get("source_systems"), "source_systems")
    return Principal(subject=subject, roles=frozenset(Role(r) for r in roles if r in Role.__members__),
                     team=team or None, source_systems=frozenset(systems))


def _is_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_CLAIM_LENGTH


def _names(value: object, claim: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100 or not all(_is_name(v) for v in value):
        raise Unauthorized(f"invalid bearer token: {claim} must be a list of strings")
    return value


_SCOPE_KEY = "marops.principal"


async def authenticate_scope(scope: Scope) -> Principal | None:
    """The verified principal of a request's bearer token, or None; verified once per request."""
    # The scope itself, not scope["state"]: servers may share that dict between requests.
    if _SCOPE_KEY in scope:
        known: Principal | None = scope[_SCOPE_KEY]
        return known
    principal = None
    header = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode(errors="replace")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        try:
            principal = await scope["app"].state.token_verifier.verify(credentials.strip())
        except Problem:
            principal = None
    scope[_SCOPE_KEY] = principal
    return principal


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    principal = request.scope.get(_SCOPE_KEY)
    if principal is None:  # not verified yet (or invalid: verify again for the reason)
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await verifier.verify(credentials.credentials)
    request.state.principal = principal
    if not principal.roles:
        # SPEC section 5: a token with no known role reads nothing (and writes nothing).
        raise Forbidden("the token carries no known role (requester, approver, finance, ops_admin, viewer, service)")
    return principal


def _check_roles(principal: Principal, roles: tuple[Role, ...]) -> None:
    if not principal.has(*roles, Role.ops_admin):
        raise Forbidden(f"requires one of the roles: {', '.join(sorted(r.value for r in roles))}")


def require(*roles: Role) -> Callable[..., Any]:
    """Dependency: the caller has at least one of ``roles`` (ops_admin always passes)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        _check_roles(principal, roles)
        return principal

    dependency.required_roles = roles  # type: ignore[attr-defined]  # read by refusal_before_input
    return dependency


async def refusal_before_input(request: Request) -> Problem | None:
    """The 401 or 403 the matched route would answer, or None.

    FastAPI parses and validates the body before it runs dependencies, so without this a
    caller with no token or the wrong role would learn about our validation rules (400/422)
    before being told they may not call the route at all.
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return None
    calls = [d.call for d in _dependants(dependant)]
    if current_principal not in calls:
        return None
    try:
        principal = await current_principal(request, await _bearer(request))
        for call in calls:
            roles = getattr(call, "required_roles", None)
            if roles is not None:
                _check_roles(principal, roles)
    except Problem as refusal:
        return refusal
    return None


def _dependants(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def mint(settings: ServiceSettings, subject: str, roles: list[str], team: str | None = None,
         ttl_seconds: int = 8 * 3600, private_key: str | None = None,
         source_systems: list[str] | None = None) -> str:
    """A signed token for local use (tests, the CLI, the demo)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "roles": roles, "iat": now, "exp": now + ttl_seconds,
                              "aud": settings.jwt_audience, "iss": settings.jwt_issuer}
    if team:
        claims["team"] = team
    if source_systems:
        claims["source_systems"] = source_systems
    if settings.jwt_algorithm == "RS256":
        if not private_key:
            raise ValueError("RS256 minting needs a private key")
        return jwt.encode(claims, private_key, algorithm="RS256")
    assert settings.jwt_secret is not None, "set MAROPS_JWT_SECRET"
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
