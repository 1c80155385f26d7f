"""The CloudEvents 1.0 envelope every marops event travels in.

On Kafka an event is one record in CloudEvents *structured* mode: the value is this
envelope as JSON (``application/cloudevents+json``), the key is the partition key
(campaign id, or budget-line id for line events), and the W3C trace context travels
in the ``traceparent``/``tracestate`` headers.

``time`` is when the business fact happened, in UTC. Consumers compute metrics from it,
never from processing time. ``correlationid`` ties all events of one journey together;
``causationid`` is the id of the event (or request) that caused this one.

Events whose ``source`` starts with ``marops/import`` are *historical*: facts from
before marops, replayed with their original business times. Consumers that act on
events (open gates, reserve funds) ignore them; projections treat them like any other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

HISTORICAL_SOURCE_PREFIX = "marops/import"

DataT = TypeVar("DataT", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise an aware time to UTC. ``astimezone`` raises ``OverflowError`` when the
    result leaves years 1..9999 (``0001-01-01T00:30:00+01:00``); as a validation error
    it becomes a dead letter with a reason instead of a crash."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is outside years 1-9999 once converted to UTC") from None


class Envelope(BaseModel, Generic[DataT]):
    """CloudEvents 1.0 attributes plus marops' correlation and causation extensions."""

    # Unknown attributes (future CloudEvents extensions) are tolerated and ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str = Field(min_length=1, description="Producer, e.g. 'marops/intake'.")
    type: str = Field(min_length=1, description="Event type, e.g. 'BriefSubmitted'.")
    time: AwareDatetime = Field(description="When the business fact happened (UTC).")
    subject: str = Field(min_length=1, description="Campaign id (budget-line id for line events).")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    correlationid: str = Field(min_length=1)
    causationid: str | None = None
    data: DataT

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @property
    def is_historical(self) -> bool:
        return self.source.startswith(HISTORICAL_SOURCE_PREFIX)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
