"""The decoder against what other systems may put on a topic: anything becomes
``InvalidEvent`` with a readable reason; nothing else ever escapes ``registry.decode``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marops_events import contracts as c
from marops_events import registry
from marops_events.registry import (
    MAX_JSON_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_STRING_CHARS,
    MAX_VALUE_BYTES,
    InvalidEvent,
)


def good_spend() -> dict:
    event = registry.new_event(
        c.SpendRecorded(campaign_id="c-1", source_system="erp", source_reference=uuid.uuid4().hex,
                        amount=c.Money(amount=Decimal("10.00"), currency="EUR"), incurred_on=dt.date(2026, 5, 1)),
        source="erp/test",
    )
    return event.to_dict()


def wire(raw: object) -> bytes:
    return json.dumps(raw).encode()


def reason_of(value: bytes | None, headers: dict[str, bytes] | None = None, **kw: object) -> str:
    with pytest.raises(InvalidEvent) as caught:
        registry.decode(value, headers, **kw)
    reason = str(caught.value)
    assert reason, "a dead letter needs a readable reason"
    return reason


@pytest.mark.parametrize("time", [
    "0001-01-01T00:30:00+01:00",   # the bug report: astimezone overflows below year 1
    "9999-12-31T23:30:00-01:00",   # and above year 9999
    "0001-01-01T00:00:00+23:59",
])
def test_times_at_the_edges_of_the_calendar_are_dead_letters_not_crashes(time: str) -> None:
    raw = good_spend()
    raw["time"] = time
    assert "time" in reason_of(wire(raw))


def test_the_edges_of_the_calendar_in_utc_still_decode() -> None:
    raw = good_spend()
    raw["time"] = "0001-01-01T00:00:00Z"
    assert registry.decode(wire(raw)).time.year == 1


def test_deeply_nested_json_is_refused() -> None:
    value = b'{"type": "SpendRecorded", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "deep" in reason_of(value)


def test_nesting_just_past_the_limit_is_refused_and_at_the_limit_accepted() -> None:
    def nested(depth: int) -> dict:
        raw = good_spend()
        inner: object = 1
        for _ in range(depth - 1):  # the envelope object is the first level
            inner = [inner]
        raw["x"] = inner
        return raw

    registry.decode(wire(nested(MAX_JSON_DEPTH)))
    assert "deep" in reason_of(wire(nested(MAX_JSON_DEPTH + 1)))


def test_a_5000_digit_integer_is_refused() -> None:
    raw = good_spend()
    value = wire(raw)[:-1] + b', "big": ' + b"9" * 5000 + b"}"
    assert "number" in reason_of(value)
    value = wire(raw)[:-1] + b', "big": 1.' + b"5" * (MAX_NUMBER_CHARS + 1) + b"}"
    assert "number" in reason_of(value)


def test_nan_and_infinity_are_not_json() -> None:
    raw = good_spend()
    assert "number" in reason_of(wire(raw)[:-1] + b', "x": NaN}')
    assert "number" in reason_of(wire(raw)[:-1] + b', "x": -Infinity}')


def test_long_strings_are_refused() -> None:
    raw = good_spend()
    raw["data"]["description"] = "x" * (MAX_STRING_CHARS + 1)
    assert "string" in reason_of(wire(raw))


def test_nul_characters_and_lone_surrogates_are_refused() -> None:
    raw = good_spend()
    raw["data"]["description"] = "before\x00after"
    assert "NUL" in reason_of(wire(raw))
    value = wire(good_spend())[:-1] + b', "\\ud800": "lone surrogate"}'
    assert "surrogate" in reason_of(value)


def test_bad_utf8_and_other_encodings_are_refused() -> None:
    value = wire(good_spend()).replace(b"erp/test", b"erp/\xff\xfe")
    assert "UTF-8" in reason_of(value)
    assert "UTF-8" in reason_of(json.dumps(good_spend()).encode("utf-16"))


def test_a_2mb_value_is_refused_before_parsing() -> None:
    raw = good_spend()
    raw["padding"] = ["x" * 1000] * 2000
    value = wire(raw)
    assert len(value) > MAX_VALUE_BYTES
    assert "bytes" in reason_of(value)


def test_tombstones_and_empty_values() -> None:
    assert "tombstone" in reason_of(None)
    assert "not JSON" in reason_of(b"")


def test_headers_that_lie_about_the_type() -> None:
    value = wire(good_spend())
    assert "ce_type" in reason_of(value, {"ce_type": b"BudgetReserved"})
    assert registry.decode(value, {"ce_type": b"SpendRecorded"}).type == "SpendRecorded"
    # a header with no value, or undecodable bytes, is no reason to crash either
    assert "ce_type" in reason_of(value, {"ce_type": b"\xff"})
    registry.decode(value, {"ce_type": None, "traceparent": b"\xff\x00"})  # type: ignore[dict-item]


def test_the_wrong_event_type_for_the_topic() -> None:
    reason = reason_of(wire(good_spend()), expected_type="BudgetReserved")
    assert "SpendRecorded" in reason and "BudgetReserved" in reason


@pytest.mark.parametrize("value", [
    b"[]", b"1", b'"a string"', b"null", b"true", b'{"type": 5}', b'{"type": "SpendRecorded"}',
    b'{"type": "SpendRecorded", "data": []}', b'{"type": "Nope", "data": {}}',
    b'{"type": "SpendRecorded", "time": "2026-13-45T99:99:99Z"}',
    b'{"type": "SpendRecorded", "id": "not-a-uuid"}',
    b"\xef\xbb\xbf{}",  # a byte order mark
])
def test_assorted_garbage(value: bytes) -> None:
    reason_of(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
offsets = st.integers(min_value=-1439, max_value=1439).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
envelope_keys = st.sampled_from(["specversion", "id", "source", "type", "time", "subject", "datacontenttype",
                                 "correlationid", "causationid", "data", "dataschema"])


@st.composite
def adversarial_envelopes(draw: st.DrawFn) -> bytes:
    """A valid envelope with some attributes (or data fields) replaced by anything."""
    raw = good_spend()
    for key in draw(st.lists(st.sampled_from(sorted(raw["data"])), max_size=3)):
        raw["data"][key] = draw(json_values)
    for key in draw(st.lists(envelope_keys, max_size=3)):
        raw[key] = draw(json_values | st.datetimes(timezones=offsets).map(lambda t: t.isoformat()))
    return json.dumps(raw).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.binary(max_size=300) | adversarial_envelopes(),
       headers=st.dictionaries(st.sampled_from(["ce_type", "traceparent", "x"]), st.binary(max_size=30), max_size=2))
def test_decode_either_returns_a_valid_event_or_raises_invalid_event(value: bytes, headers: dict) -> None:
    try:
        event = registry.decode(value, headers)
    except InvalidEvent as exc:
        assert str(exc)
        return
    # whatever decodes can be re-encoded and stored (no surrogates, no NUL)
    event.to_json().decode("utf-8")
    assert event.time.utcoffset() == dt.timedelta(0)


def test_the_limits_are_published_where_other_systems_read_them() -> None:
    from pathlib import Path

    from marops_events import contracts_gen

    root = Path(__file__).resolve().parents[3]
    readme = (root / "README.md").read_text()
    section = readme.split("## Events for other systems")[1].split("\n## ")[0]
    asyncapi = contracts_gen.asyncapi_document()["info"]["description"]
    for text in (section, asyncapi):
        assert f"{MAX_JSON_DEPTH} levels" in text
        assert f"{MAX_NUMBER_CHARS} characters" in text
        assert f"{MAX_STRING_CHARS:,}" in text or str(MAX_STRING_CHARS) in text
    assert f"{MAX_VALUE_BYTES // 1024} KiB" in section and f"{MAX_VALUE_BYTES} bytes" in asyncapi
