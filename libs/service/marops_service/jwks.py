"""The signing keys of a JWKS endpoint, fetched asynchronously and cached by key id.

A token naming a key id we do not hold may trigger a fetch of the key set, but at most
once a minute per unknown key id (and never more often than ``MIN_INTERVAL`` in all), so
a stream of tokens with made-up key ids cannot turn into a stream of requests to the
identity provider; a rotation is picked up on the first token that uses the new key.
Concurrent requests share one fetch.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from .problems import Unauthorized

REFRESH_PER_KID_SECONDS = 60.0
MIN_INTERVAL = 5.0
FETCH_TIMEOUT = 5.0
MAX_REMEMBERED_MISSES = 10_000


class JwksCache:
    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._missed: dict[str, float] = {}  # unknown key id -> when we last fetched for it
        self._last_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    def cached_key_for(self, token: str) -> Any:
        kid = _kid(token)
        if kid not in self._keys:
            raise Unauthorized(f"invalid bearer token: unknown signing key {kid!r}")
        return self._keys[kid]

    async def key_for(self, token: str) -> Any:
        kid = _kid(token)
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and self._may_fetch(kid):
                self._missed[kid] = self._last_fetch = self._clock()
                await self._fetch()
        return self.cached_key_for(token)

    def _may_fetch(self, kid: str) -> bool:
        now = self._clock()
        if now - self._last_fetch < MIN_INTERVAL:
            return False
        if len(self._missed) > MAX_REMEMBERED_MISSES:
            self._missed.clear()
        missed: float = self._missed.get(kid, float("-inf"))
        return now - missed >= REFRESH_PER_KID_SECONDS

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                response = await client.get(self._url)
                response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(json.loads(response.content)).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise Unauthorized(f"signing keys unavailable: {type(exc).__name__}") from None
        self._keys = {k.key_id: k.key for k in keys if k.key_id}


def _kid(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid bearer token: {exc}") from None
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("invalid bearer token: a key id (kid) is required with JWKS")
    return kid
