"""``GET /me``: who the service takes the caller to be, on every service.

Lets a client (and a person debugging a 403/404) see the subject, roles and team the
service read from the token, and whether lists shown to them leave campaigns out.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .access import is_filtered
from .auth import CurrentPrincipal


class Me(BaseModel):
    subject: str
    roles: list[str] = Field(description="the known roles of the token, sorted")
    team: str | None
    reads_every_campaign: bool = Field(description="false: lists and reports leave out campaigns of other teams")


router = APIRouter(tags=["operations"])


@router.get("/me", response_model=Me, summary="Who am I: the subject, roles and team of the bearer token")
async def me(who: CurrentPrincipal) -> Me:
    return Me(subject=who.subject, roles=sorted(r.value for r in who.roles), team=who.team,
              reads_every_campaign=not is_filtered(who))
