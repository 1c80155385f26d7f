"""One registry: event type -> topic -> partition key -> model.

Topics are ``marops.<kebab-type>.v1``, one per event type. A deployment-wide
``topic_prefix`` (empty in production) lets tests and side-by-side environments share
one broker without seeing each other's events.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from . import contracts as c
from .envelope import Envelope, utcnow

CONTENT_TYPE = "application/cloudevents+json"
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: type[BaseModel]
    producer: str
    key: Callable[[Any], str]
    version: int = 1
    description: str = ""

    @property
    def base_topic(self) -> str:
        kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", self.type).lower()
        return f"marops.{kebab}.v{self.version}"

    def topic(self, prefix: str = "") -> str:
        return f"{prefix}{self.base_topic}"


def _campaign(data: Any) -> str:
    return data.campaign_id


def _spec(model: type[BaseModel], producer: str, key: Callable[[Any], str] = _campaign) -> EventSpec:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return EventSpec(type=model.__name__, model=model, producer=producer, key=key, description=doc)


EVENTS: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        _spec(c.BriefSubmitted, "intake"),
        _spec(c.CampaignCancelled, "intake"),
        _spec(c.CampaignCompleted, "intake"),
        _spec(c.GateApproved, "governance"),
        _spec(c.GateRejected, "governance"),
        _spec(c.CampaignLaunched, "governance"),
        _spec(c.BudgetReserved, "budget"),
        _spec(c.BudgetReservationRejected, "budget"),
        _spec(c.BudgetCommitted, "budget"),
        _spec(c.BudgetReleased, "budget"),
        _spec(c.SpendRecorded, "budget"),
        _spec(c.BudgetReallocated, "budget", key=lambda d: d.from_line_id),
        _spec(c.BudgetThresholdExceeded, "budget"),
        _spec(c.SpendReconciliationChanged, "budget"),
    )
}

_BY_MODEL: dict[type[BaseModel], EventSpec] = {spec.model: spec for spec in EVENTS.values()}


class UnknownEventType(LookupError):
    pass


class InvalidEvent(ValueError):
    """A record that cannot be decoded into a known, valid event. Goes to the DLQ."""


def spec_for(event_type: str) -> EventSpec:
    try:
        return EVENTS[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def spec_of(data: BaseModel) -> EventSpec:
    try:
        return _BY_MODEL[type(data)]
    except KeyError:
        raise UnknownEventType(type(data).__name__) from None


def topics(prefix: str = "", types: Iterable[str] | None = None) -> list[str]:
    return [EVENTS[t].topic(prefix) for t in (types if types is not None else EVENTS)]


def type_for_topic(topic: str, prefix: str = "") -> str | None:
    for spec in EVENTS.values():
        if spec.topic(prefix) == topic:
            return spec.type
    return None


def new_event(
    data: BaseModel,
    *,
    source: str,
    time: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Wrap a payload in an envelope; subject and type come from the registry."""
    spec = spec_of(data)
    return Envelope[spec.model](  # type: ignore[name-defined]
        id=event_id or uuid.uuid4(),
        source=source,
        type=spec.type,
        time=time or utcnow(),
        subject=spec.key(data),
        correlationid=correlation_id or spec.key(data),
        causationid=causation_id,
        data=data,
    )


def partition_key(event: Envelope) -> str:
    return spec_of(event.data).key(event.data)


def decode(value: bytes | str | None, headers: Mapping[str, bytes] | None = None) -> Envelope:
    """Parse and validate one record value into a typed envelope.

    Raises ``InvalidEvent`` with a human-readable reason for anything that is not a
    valid v1 event: bad JSON, unknown type, or a payload that fails its contract.
    """
    if value is None:
        raise InvalidEvent("empty record value (tombstone)")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"value is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidEvent("value is not a JSON object")
    event_type = raw.get("type")
    if not isinstance(event_type, str) and headers and headers.get("ce_type"):
        event_type = headers["ce_type"].decode(errors="replace")
    if not isinstance(event_type, str):
        raise InvalidEvent("missing CloudEvents attribute 'type'")
    try:
        spec = spec_for(event_type)
    except UnknownEventType:
        raise InvalidEvent(f"unknown event type {event_type!r}") from None
    try:
        return Envelope[spec.model].model_validate(raw)  # type: ignore[name-defined]
    except ValidationError as exc:
        raise InvalidEvent(f"{event_type} failed validation: {_summarise(exc)}") from None


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)
