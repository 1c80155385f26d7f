"""RS256 verification with a configured public key, and with keys served by a JWKS endpoint."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from marops_service.auth import Principal, Role, TokenVerifier, mint
from marops_service.jwks import JwksCache
from marops_service.problems import Unauthorized
from marops_service.settings import ServiceSettings


def _keypair() -> tuple[str, str, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public, key


@pytest.fixture(scope="module")
def keys() -> tuple[str, str, rsa.RSAPrivateKey]:
    return _keypair()


async def test_rs256_with_a_public_key(keys) -> None:
    private, public, _ = keys
    settings = ServiceSettings(jwt_algorithm="RS256", jwt_public_key=public)
    token = mint(settings, "ida", ["approver"], "brand", private_key=private)
    assert (await TokenVerifier(settings).verify(token)) == Principal("ida", frozenset({Role.approver}), "brand")

    other_private, _, _ = _keypair()
    forged = mint(settings, "ida", ["ops_admin"], private_key=other_private)
    with pytest.raises(Unauthorized):
        await TokenVerifier(settings).verify(forged)


async def test_rs256_refuses_an_hs256_token_signed_with_the_public_key(keys) -> None:
    _, public, _ = keys
    settings = ServiceSettings(jwt_algorithm="RS256", jwt_public_key=public)
    # The classic algorithm-confusion attack: HS256 keyed with the (public) PEM.
    claims = {"sub": "eve", "roles": ["ops_admin"], "exp": 4102444800, "aud": "marops", "iss": "marops-local"}
    try:
        forged = jwt.encode(claims, public, algorithm="HS256")
    except jwt.InvalidKeyError:
        return  # PyJWT itself refuses to HMAC with a PEM key
    with pytest.raises(Unauthorized):
        await TokenVerifier(settings).verify(forged)


@pytest.fixture
def jwks_url(keys) -> Iterator[str]:
    _, _, key = keys
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


async def test_rs256_with_jwks(keys, jwks_url: str) -> None:
    private, _, _ = keys
    settings = ServiceSettings(jwt_algorithm="RS256", jwt_jwks_url=jwks_url)
    token = jwt.encode({"sub": "fin", "roles": ["finance"], "exp": 4102444800, "aud": "marops",
                        "iss": "marops-local"}, private, algorithm="RS256", headers={"kid": "k1"})
    assert (await TokenVerifier(settings).verify(token)).roles == frozenset({Role.finance})
    unknown_kid = jwt.encode({"sub": "x", "roles": [], "exp": 4102444800, "aud": "marops", "iss": "marops-local"},
                             private, algorithm="RS256", headers={"kid": "nope"})
    with pytest.raises(Unauthorized):
        await TokenVerifier(settings).verify(unknown_kid)


@pytest.fixture
def slow_jwks(keys) -> Iterator[tuple[str, threading.Event, threading.Event, list[str]]]:
    """A JWKS endpoint that answers only when the test releases it, and counts its requests."""
    _, _, key = keys
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    arrived, release, requests = threading.Event(), threading.Event(), []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            requests.append(self.path)
            arrived.set()
            release.wait(30)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", arrived, release, requests
    release.set()
    server.shutdown()


def _rs256(private: str, kid: str, **claims: object) -> str:
    return jwt.encode({"sub": "fin", "roles": ["finance"], "exp": 4102444800, "aud": "marops",
                       "iss": "marops-local", **claims}, private, algorithm="RS256", headers={"kid": kid})


async def test_a_jwks_fetch_does_not_block_the_event_loop(keys, slow_jwks) -> None:
    # Attack: tokens naming a key id not cached yet; the fetch used to block every request.
    private, _, _ = keys
    url, arrived, release, requests = slow_jwks
    verifier = TokenVerifier(ServiceSettings(jwt_algorithm="RS256", jwt_jwks_url=url))
    pending = asyncio.create_task(verifier.verify(_rs256(private, "k1")))
    # While the key set is being fetched, this coroutine still runs (a blocked loop could not release it).
    assert await asyncio.to_thread(arrived.wait, 10), "the JWKS endpoint was never asked"
    release.set()
    assert (await pending).subject == "fin"
    assert len(requests) == 1


async def test_unknown_key_ids_fetch_the_key_set_at_most_once_a_minute_each(keys, slow_jwks) -> None:
    private, _, _ = keys
    url, _, release, requests = slow_jwks
    release.set()
    now = [1000.0]
    cache = JwksCache(url, clock=lambda: now[0])
    assert await cache.key_for(_rs256(private, "k1")) is not None
    now[0] += 10
    for _ in range(20):  # a flood of tokens naming a key the provider does not have
        with pytest.raises(Unauthorized):
            await cache.key_for(_rs256(private, "made-up"))
    assert len(requests) == 2  # the first fetch (k1), one for the unknown id, then none
    assert await cache.key_for(_rs256(private, "k1")) is not None  # cached: no request
    now[0] += 61
    with pytest.raises(Unauthorized):
        await cache.key_for(_rs256(private, "made-up"))
    assert len(requests) == 3  # a minute later the unknown id may look once more


def test_misconfiguration_fails_at_start() -> None:
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        TokenVerifier(ServiceSettings(jwt_secret=None))
    with pytest.raises(RuntimeError, match="RS256 needs"):
        TokenVerifier(ServiceSettings(jwt_algorithm="RS256"))
