"""Domain refusals, mapped to problem+json once, at the edge.

The domain and the use cases raise ``Refusal(code, detail)``: a rule said no and nothing
was changed. They know nothing of HTTP. Each service's api module keeps the one table
``code -> Answer(status, title, slug)`` and ``install`` renders a refusal with it. A
refusal raised while consuming an event is an event that can never be applied: it is an
``marops_events.consumer.Unprocessable``, so the consumer runner dead-letters it with the
refusal's detail as the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from marops_events.consumer import Unprocessable

from .problems import problem_body, problem_response


class Refusal(Unprocessable):
    """A command or event the rules refuse; nothing was changed. ``extra`` explains it to the client."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


@dataclass(frozen=True)
class Answer:
    """How the edge answers a refusal code. Without a slug the code is the problem type."""

    status: int
    title: str
    slug: str | None = None


def answer_for(answers: Mapping[str, Answer], refusal: Refusal, instance: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``refusal``; a code the table lacks is a bug (500, logged by the caller)."""
    answer = answers[refusal.code]
    slug = answer.slug or (refusal.code.value if isinstance(refusal.code, StrEnum) else refusal.code)
    return problem_body(answer.status, answer.title, refusal.detail, slug=slug, instance=instance, **refusal.extra)


def install(app: FastAPI, answers: Mapping[str, Answer]) -> None:
    """Render every ``Refusal`` the app's routes raise with the service's table."""

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refusal)
        return problem_response(answer_for(answers, exc, instance=request.url.path))

    app.add_exception_handler(Refusal, refused)
