"""Cursors: opaque, bound to their sort order, and refused when forged."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from marops_intake.listing import Cursor, InvalidCursor, Sort, decode_cursor, like_pattern


@pytest.mark.parametrize("cursor", [
    Cursor(Sort.last_changed_desc, dt.datetime(2026, 3, 1, 9, 30, 12, 345678, tzinfo=dt.UTC), "c-1"),
    Cursor(Sort.last_changed, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), "c-2"),
    Cursor(Sort.target_date, dt.date(2026, 4, 1), "c-3"),
    Cursor(Sort.target_date_desc, None, "c-4"),  # a draft without a date
])
def test_round_trip(cursor: Cursor) -> None:
    assert decode_cursor(cursor.encode(), cursor.sort) == cursor


def test_a_cursor_belongs_to_its_sort() -> None:
    text = Cursor(Sort.target_date, dt.date(2026, 4, 1), "c").encode()
    with pytest.raises(InvalidCursor, match="another sort order"):
        decode_cursor(text, Sort.last_changed_desc)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(("text", "sort"), [
    ("not-base64!", Sort.last_changed_desc),
    (_b64(b"[1, 2]"), Sort.last_changed_desc),
    (_b64(b"\xff\xfe"), Sort.last_changed_desc),
    (_b64(b'{"s": "-last_changed", "v": "2026-03-01T00:00:00", "i": "c"}'), Sort.last_changed_desc),  # naive
    (_b64(b'{"s": "-last_changed", "v": null, "i": "c"}'), Sort.last_changed_desc),
    (_b64(b'{"s": "sideways", "v": null, "i": "c"}'), Sort.last_changed_desc),
    (_b64(b'{"s": "target_launch_date", "v": "tomorrow", "i": "c"}'), Sort.target_date),
    (_b64(b'{"s": "target_launch_date", "v": null, "i": 7}'), Sort.target_date),
])
def test_forged_cursors_are_refused(text: str, sort: Sort) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text, sort)


def test_like_wildcards_are_literal() -> None:
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
