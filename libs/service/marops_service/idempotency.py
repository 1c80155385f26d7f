"""Idempotency-Key for every POST, as ASGI middleware.

The first request with a key (per caller) runs and its response is stored; a retry with
the same key and the same body gets the stored response (``Idempotent-Replayed: true``);
the same key with a different body, or while the first is still running, gets 409.
Responses of 5xx are not stored, so the client may retry them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import PROBLEM_JSON, Problem, problem_body

HEADER = b"idempotency-key"
STALE_AFTER_SECONDS = 60  # an in-progress key older than this was abandoned by a crash
MAX_KEY_LENGTH = 200


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        key_text = key.decode(errors="replace").strip()
        if not key_text or len(key_text) > MAX_KEY_LENGTH:
            await _send_problem(send, problem_body(400, "Invalid Idempotency-Key",
                                                   f"the key must be 1 to {MAX_KEY_LENGTH} characters",
                                                   slug="invalid-idempotency-key"))
            return

        body = await _read_body(receive)
        principal = _principal(scope, headers)
        request_hash = hashlib.sha256(scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body).hexdigest()
        pool = scope["app"].state.runtime.pool

        async with pool.acquire() as conn:
            claimed = await conn.fetchval(
                """
                INSERT INTO idempotency_keys (principal, key, request_hash) VALUES ($1, $2, $3)
                ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
                    created_at = now()
                    WHERE idempotency_keys.completed_at IS NULL
                      AND idempotency_keys.created_at < now() - make_interval(secs => $4)
                RETURNING true
                """,
                principal, key_text, request_hash, STALE_AFTER_SECONDS,
            )
            if not claimed:
                row = await conn.fetchrow(
                    "SELECT request_hash, status_code, content_type, response_body FROM idempotency_keys "
                    "WHERE principal = $1 AND key = $2", principal, key_text)
                await _replay_or_refuse(send, row, request_hash)
                return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, _replay_body(body), capture)
        finally:
            async with pool.acquire() as conn:
                if captured["status"] >= 500:
                    await conn.execute("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2",
                                       principal, key_text)
                else:
                    content_type = dict(captured["headers"]).get(b"content-type", b"application/json").decode()
                    await conn.execute(
                        """
                        UPDATE idempotency_keys SET status_code = $3, content_type = $4, response_body = $5,
                            completed_at = now()
                        WHERE principal = $1 AND key = $2
                        """,
                        principal, key_text, captured["status"], content_type, captured["body"],
                    )


def _principal(scope: Scope, headers: dict[bytes, bytes]) -> str:
    auth = headers.get(b"authorization", b"").decode(errors="replace")
    if auth.lower().startswith("bearer "):
        try:
            return scope["app"].state.token_verifier.verify(auth[7:].strip()).subject
        except Problem:
            pass
    return "anonymous"


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


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
    if row["request_hash"] != request_hash:
        await _send_problem(send, problem_body(
            409, "Idempotency-Key reused", "this Idempotency-Key was used for a different request",
            slug="idempotency-key-reused"))
        return
    if row["status_code"] is None:
        await _send_problem(send, problem_body(
            409, "Request in progress", "a request with this Idempotency-Key is still being processed",
            slug="idempotency-key-in-progress"))
        return
    await send({"type": "http.response.start", "status": row["status_code"],
                "headers": [(b"content-type", row["content_type"].encode()), (b"idempotent-replayed", b"true")]})
    await send({"type": "http.response.body", "body": bytes(row["response_body"] or b"")})


async def _send_problem(send: Send, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": body["status"],
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
