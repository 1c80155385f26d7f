"""Idempotency-Key for every POST of an authenticated caller, as pure ASGI middleware.

The first request with a key (per caller) runs and its response is stored; a retry with
the same key and the same request (method, path, query string, body) gets the stored
response (``Idempotent-Replayed: true``); the same key with another request gets 409.

Crash safety: the key is recorded in the request's own business transaction. The
middleware opens one connection and transaction, inserts the key row, and hands that
connection to the route through the ``Pool`` dependency (``RequestPool``), so the use
case's ``pool.acquire()`` + ``conn.transaction()`` run inside it (as a savepoint). The
response is written into the key row and committed together with the effect, and only
then sent. A process killed anywhere before that commit loses the effect and the key
together (the retry runs for the first time); killed after it, the retry replays.

An in-progress key is the uncommitted row itself: a second request with the same key
waits on its row lock (at most ``idempotency_wait_seconds``, then 409) and never takes
over while the first may still run; a dead process's transaction is rolled back by
PostgreSQL, which frees the key. 5xx responses are rolled back with their effect and
not stored, so the client may retry them. Keys expire after ``idempotency_ttl_seconds``
(``delete_expired`` clears them; an expired key is free for a new request).

Only requests with a valid bearer token use keys (an anonymous request gets no key
handling: the route answers it 401). A body that did not arrive whole (the client
disconnected) never runs and is never stored.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Generator
from contextlib import suppress
from typing import Any

import asyncpg
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import authenticate_scope
from .problems import PROBLEM_JSON, problem_body, too_large_body

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200

# The connection whose transaction records the key of the request being handled.
_request_conn: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
    "marops_idempotent_conn", default=None)


class RequestPool:
    """The pool API over the one connection of a keyed request (see the module doc).

    ``acquire()`` lends that connection (a use case's ``conn.transaction()`` then nests
    as a savepoint); the query shortcuts run on it too, so reads see the request's writes.
    """

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def acquire(self, *, timeout: float | None = None) -> _Lent:
        return _Lent(self._conn)

    async def release(self, conn: asyncpg.Connection, *, timeout: float | None = None) -> None:
        return None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        status: str = await self._conn.execute(query, *args, timeout=timeout)
        return status

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        await self._conn.executemany(command, args, timeout=timeout)

    async def fetch(self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None) -> list[Any]:
        rows: list[Any] = await self._conn.fetch(query, *args, timeout=timeout, record_class=record_class)
        return rows

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None, record_class: Any = None) -> Any:
        return await self._conn.fetchrow(query, *args, timeout=timeout, record_class=record_class)

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any:
        return await self._conn.fetchval(query, *args, column=column, timeout=timeout)


class _Lent:
    """``async with pool.acquire() as conn`` and ``conn = await pool.acquire()`` alike."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def __aenter__(self) -> asyncpg.Connection:
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        async def lend() -> asyncpg.Connection:
            return self._conn
        return lend().__await__()


def request_pool(pool: asyncpg.Pool) -> asyncpg.Pool | RequestPool:
    """What the ``Pool`` dependency gives a route: the keyed request's connection, or the pool."""
    conn = _request_conn.get()
    return pool if conn is None else RequestPool(conn)


def fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two requests share a digest input
        digest.update(part)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, ttl_seconds: float, wait_seconds: float) -> None:
        self.app = app
        self.ttl_seconds = ttl_seconds
        self.wait_seconds = wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = next((v for k, v in scope["headers"] if k == HEADER), None)
        if key is None:
            await self.app(scope, receive, send)
            return
        key_text = key.decode(errors="replace").strip()
        if not key_text or len(key_text) > MAX_KEY_LENGTH:
            await send_problem(send, problem_body(400, "Invalid Idempotency-Key",
                                                  f"the key must be 1 to {MAX_KEY_LENGTH} characters",
                                                  slug="invalid-idempotency-key"))
            return
        principal = await authenticate_scope(scope)
        if principal is None:  # anonymous or invalid token: the route refuses it; nothing is stored
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_whole_body(receive)
        except HTTPException as exc:  # the body limit (Starlette's) counted past the maximum
            if exc.status_code != 413:
                raise
            await send_problem(send, too_large_body(scope))
            return
        if body is None:  # the client went away mid-upload: never run a truncated request
            return
        await self._keyed(scope, send, principal.subject, key_text, fingerprint(scope, body), body)

    async def _keyed(self, scope: Scope, send: Send, principal: str, key: str, request_hash: str,
                     body: bytes) -> None:
        pool: asyncpg.Pool = scope["app"].state.runtime.pool
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                claimed = await _claim(conn, principal, key, request_hash, self.ttl_seconds, self.wait_seconds)
            except asyncpg.LockNotAvailableError:
                await tx.rollback()
                await send_problem(send, problem_body(
                    409, "Request in progress", "a request with this Idempotency-Key is still being processed",
                    slug="idempotency-key-in-progress"), headers=[(b"retry-after", b"1")])
                return
            except BaseException:
                await tx.rollback()
                raise
            if not claimed:
                row = await conn.fetchrow(
                    "SELECT request_hash, status_code, content_type, response_body FROM idempotency_keys "
                    "WHERE principal = $1 AND key = $2", principal, key)
                await tx.rollback()
                await _replay_or_refuse(send, row, request_hash)
                return

            response = _Captured()
            token = _request_conn.set(conn)
            try:
                await self.app(scope, _replay_body(body), response.capture)
            except BaseException:
                await tx.rollback()
                raise
            finally:
                _request_conn.reset(token)
            if response.status >= 500 or not response.complete:
                await tx.rollback()  # the effect goes with it: the client may retry
                await response.send_to(send)
                return
            try:
                await conn.execute(
                    """
                    UPDATE idempotency_keys SET status_code = $3, content_type = $4, response_body = $5,
                        completed_at = now()
                    WHERE principal = $1 AND key = $2
                    """,
                    principal, key, response.status, response.content_type, bytes(response.body))
                await tx.commit()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                with suppress(Exception):  # nothing was committed; the connection may be gone already
                    await tx.rollback()
                await send_problem(send, problem_body(
                    503, "Not recorded", "the request could not be committed and changed nothing; retry it",
                    slug="retry"), headers=[(b"retry-after", b"1")])
                return
        await response.send_to(send)


async def _claim(conn: asyncpg.Connection, principal: str, key: str, request_hash: str, ttl: float,
                 wait: float) -> bool:
    """Insert the key row in this transaction; False when a live one exists (committed, or just committed
    by the request we waited for). A row left in progress by an older version is taken over."""
    if wait > 0:
        await conn.execute(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
    claimed = await conn.fetchval(
        """
        INSERT INTO idempotency_keys (principal, key, request_hash) VALUES ($1, $2, $3)
        ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, created_at = now(),
            status_code = NULL, content_type = NULL, response_body = NULL, completed_at = NULL
            WHERE idempotency_keys.completed_at IS NULL
               OR idempotency_keys.created_at < now() - make_interval(secs => $4)
        RETURNING true
        """,
        principal, key, request_hash, ttl,
    )
    if wait > 0:
        await conn.execute("SET LOCAL lock_timeout TO DEFAULT")
    return bool(claimed)


async def delete_expired(pool: asyncpg.Pool, ttl_seconds: float, batch: int = 1000) -> int:
    """Delete keys older than the TTL, in batches (a short lock each); returns how many."""
    deleted = 0
    while True:
        status = await pool.execute(
            """
            DELETE FROM idempotency_keys WHERE ctid IN (
                SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED)
            """, ttl_seconds, batch)
        count = int(status.split()[-1])
        deleted += count
        if count < batch:
            return deleted


class _Captured:
    """The app's response, held back until the key and the effect are committed."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.complete = False

    async def capture(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                self.complete = True

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k == b"content-type"), b"application/json").decode()

    async def send_to(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": bytes(self.body)})


async def _read_whole_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _replay_or_refuse(send: Send, row: Any, request_hash: str) -> None:
    if row is None or row["status_code"] is None:  # cannot happen after a claim; refuse rather than guess
        await send_problem(send, problem_body(
            409, "Request in progress", "a request with this Idempotency-Key is still being processed",
            slug="idempotency-key-in-progress"), headers=[(b"retry-after", b"1")])
        return
    if row["request_hash"] != request_hash:
        await send_problem(send, problem_body(
            409, "Idempotency-Key reused", "this Idempotency-Key was used for a different request",
            slug="idempotency-key-reused"))
        return
    await send({"type": "http.response.start", "status": row["status_code"],
                "headers": [(b"content-type", row["content_type"].encode()), (b"idempotent-replayed", b"true")]})
    await send({"type": "http.response.body", "body": bytes(row["response_body"] or b"")})


async def send_problem(send: Send, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": body["status"],
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(payload)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})

