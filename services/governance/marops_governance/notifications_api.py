"""HTTP API of notifications (ops_admin only): the directory of who is told, the delivery log
and replays. Thin routers over ``notifier``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from marops_service.app import Pool
from marops_service.auth import Principal, Role, require
from marops_service.clock import CurrentClock
from marops_service.problems import NotFound
from marops_service.responses import problems

from . import notifications_repository as repo
from . import notifier
from .notifications import DeliveryChannel, Kind
from .schemas import _Body

router = APIRouter(tags=["notifications"])
OpsAdmin = Annotated[Principal, Depends(require(Role.ops_admin))]
Subject = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/]*[^\x00-\x1f/.][^\x00-\x1f/]*$",
                              description="The user's JWT subject")]
QueryText = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]

# Checked, not trusted: these only have to be sendable (a refused address or an unreachable
# URL fails its delivery, in the log, rather than the request).
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+$")]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00-\x1f]+$")]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f]+$")]


class WebhookIn(_Body):
    url: Url = Field(examples=["https://hooks.example.com/marops"])
    secret: Secret = Field(description="HMAC-SHA256 key the receiver verifies signatures with (16+ printable "
                                       "ASCII characters); stored, never shown again")


class DirectoryUserBody(_Body):
    """How to reach one user (or system), and what they are asked to decide."""

    name: Name | None = None
    email: Email | None = Field(default=None, examples=["alex@example.com"])
    roles: list[Role] = Field(default_factory=list, max_length=6,
                              description="the roles they hold: approvers hear of the gates their roles may decide, "
                                          "holders of a gate's escalation role of its escalation")
    webhook: WebhookIn | None = None
    kinds: list[Kind] = Field(default_factory=list, max_length=10,
                              description="the kinds of notification they want; empty: every kind")


class WebhookOut(BaseModel):
    url: str
    secret_set: bool


class DirectoryUserOut(BaseModel):
    subject: str
    name: str | None
    email: str | None
    roles: list[str]
    webhook: WebhookOut | None
    kinds: list[str]
    updated_at: dt.datetime
    updated_by: str


class DirectoryList(BaseModel):
    items: list[DirectoryUserOut]


class AttemptOut(BaseModel):
    attempt: int
    at: dt.datetime
    ok: bool
    error: str | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    dedupe_key: str = Field(description="notification key, recipient and channel: queued once")
    kind: str
    campaign_id: str | None
    recipient: str
    channel: DeliveryChannel
    target: str
    subject: str
    body: str
    payload: dict[str, Any] = Field(description="the JSON a webhook receives")
    status: Literal["pending", "sent", "failed"]
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    replay_of: uuid.UUID | None


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


def _user_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"subject": row["subject"], "name": row["name"], "email": row["email"], "roles": row["roles"],
            "webhook": {"url": row["webhook_url"], "secret_set": row["has_secret"]} if row["webhook_url"] else None,
            "kinds": row["kinds"], "updated_at": row["updated_at"], "updated_by": row["updated_by"]}


@router.get("/directory/users", response_model=DirectoryList, summary="Everyone notifications can reach")
async def list_users(pool: Pool, _: OpsAdmin) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return {"items": [_user_view(r) for r in await repo.directory_rows(conn)]}


@router.put("/directory/users/{subject}", response_model=DirectoryUserOut,
            summary="Add or replace a user's entry: e-mail, webhook, roles, the kinds they want")
async def put_user(subject: Subject, body: DirectoryUserBody, pool: Pool, clock: CurrentClock,
                   actor: OpsAdmin) -> dict[str, Any]:
    return _user_view(await notifier.put_user(pool, subject, body.model_dump(mode="json"), actor, clock))


@router.get("/directory/users/{subject}", response_model=DirectoryUserOut, responses=problems(404),
            summary="One user's entry (the webhook secret is never shown)")
async def get_user(subject: Subject, pool: Pool, _: OpsAdmin) -> dict[str, Any]:
    return _user_view(await notifier.user(pool, subject))


@router.delete("/directory/users/{subject}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Remove a user's entry (204 whether or not there was one); their queued webhooks fail")
async def delete_user(subject: Subject, pool: Pool, _: OpsAdmin) -> Response:
    await notifier.delete_user(pool, subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/notifications", response_model=DeliveryList, summary="The delivery log, newest first")
async def list_deliveries(
    pool: Pool, _: OpsAdmin,
    status_: Annotated[Literal["pending", "sent", "failed"] | None, Query(alias="status")] = None,
    recipient: QueryText = None, campaign_id: QueryText = None, kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await repo.deliveries(conn, status=status_, recipient=recipient, campaign_id=campaign_id,
                                     kind=kind.value if kind else None, limit=limit)
    return {"items": [dict(r) for r in rows]}


@router.get("/notifications/{delivery_id}", response_model=DeliveryDetail, responses=problems(404),
            summary="One delivery with every attempt")
async def get_delivery(delivery_id: uuid.UUID, pool: Pool, _: OpsAdmin) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repo.delivery(conn, delivery_id)
        if row is None:
            raise NotFound(f"no notification delivery {delivery_id}")
        return {**dict(row), "attempt_log": [dict(a) for a in await repo.attempts(conn, delivery_id)]}


@router.post("/notifications/{delivery_id}/replay", status_code=status.HTTP_201_CREATED,
             response_model=DeliveryOut, responses=problems(404),
             summary="Send a delivery again (a new delivery of the same notice, due now; the log keeps both)")
async def replay_delivery(delivery_id: uuid.UUID, pool: Pool, clock: CurrentClock, actor: OpsAdmin) -> dict[str, Any]:
    return dict(await notifier.replay(pool, delivery_id, actor, clock))

