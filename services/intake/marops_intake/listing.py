"""Campaign list queries: filters, sort orders and opaque keyset cursors.

Keyset pagination (``WHERE (sort value, id) > (last seen)``) instead of offsets, so a page
never repeats or skips a campaign because others were created meanwhile; the id breaks
ties, which makes every order total and therefore stable.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from marops_events.contracts import Channel

from .domain.status import Status


class Sort(StrEnum):
    last_changed_desc = "-last_changed"
    last_changed = "last_changed"
    target_date = "target_launch_date"
    target_date_desc = "-target_launch_date"

    @property
    def by_target_date(self) -> bool:
        return self in (Sort.target_date, Sort.target_date_desc)


@dataclass(frozen=True)
class Filters:
    statuses: tuple[Status, ...] = ()
    team: str | None = None
    owner: str | None = None
    channel: Channel | None = None
    target_from: dt.date | None = None
    target_to: dt.date | None = None
    text: str | None = None


@dataclass(frozen=True)
class Cursor:
    sort: Sort
    value: dt.date | dt.datetime | None  # the sort value of the last row of the page
    id: str

    def encode(self) -> str:
        raw = json.dumps({"s": self.sort.value, "v": self.value.isoformat() if self.value else None, "i": self.id})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class InvalidCursor(ValueError):
    pass


def decode_cursor(text: str, sort: Sort) -> Cursor:
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if Sort(raw["s"]) is not sort:
            raise InvalidCursor("the cursor belongs to another sort order; keep `sort` unchanged while paging")
        value: Any = raw["v"]
        if value is not None:
            value = dt.date.fromisoformat(value) if sort.by_target_date else dt.datetime.fromisoformat(value)
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                raise ValueError("naive time")
        if not isinstance(raw["i"], str) or (value is None and not sort.by_target_date):
            raise ValueError("bad cursor fields")
        return Cursor(sort, value, raw["i"])
    except InvalidCursor:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this service issued") from None


def like_pattern(text: str) -> str:
    """A case-insensitive substring pattern with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class LessonCursor:
    """Where a page of lessons ended: the last lesson's retrospective time, campaign and position."""

    recorded_at: dt.datetime
    campaign_id: str
    position: int

    def encode(self) -> str:
        raw = json.dumps({"t": self.recorded_at.isoformat(), "c": self.campaign_id, "p": self.position})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> LessonCursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            at = dt.datetime.fromisoformat(raw["t"])
            if at.tzinfo is None or not isinstance(raw["c"], str) or type(raw["p"]) is not int:
                raise ValueError("bad cursor fields")
            if not -2**31 <= raw["p"] < 2**31:
                raise ValueError("position out of range")
            return cls(at, raw["c"], raw["p"])
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
            raise InvalidCursor("the cursor is not one this service issued") from None
