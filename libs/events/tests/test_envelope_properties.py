"""Property: any valid SpendRecorded survives to_json/decode exactly (no float drift)."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from marops_events import contracts as c
from marops_events import contracts_gen as gen
from marops_events import registry
from marops_events.money import MAX_EVENT_DIGITS, format_amount

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "SEK", "BHD", "XXX"]

# NUL is the one character PostgreSQL text cannot hold, and a lone surrogate is not
# encodable text; the decoder refuses both (see test_decode_hostile.py), so a valid event
# never carries one.
no_nul = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
identifiers = st.text(no_nul, min_size=1, max_size=200)
two_places = st.decimals(
    min_value=Decimal("-1000000000.00"),
    max_value=Decimal("1000000000.00"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
# Any finite decimal the contract can carry: at most MAX_EVENT_DIGITS digits either side
# of the point (a reader refuses "1E+999999999" rather than print a gigabyte of zeros).
any_finite_decimal = st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: -d.as_tuple().exponent <= MAX_EVENT_DIGITS and (not d or d.adjusted() < MAX_EVENT_DIGITS))
currencies = st.sampled_from(CURRENCIES) | st.from_regex(r"\A[A-Z]{3}\Z")
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
times = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=offsets
)


def spend(amounts: st.SearchStrategy[Decimal]) -> st.SearchStrategy[c.SpendRecorded]:
    return st.builds(
        c.SpendRecorded,
        campaign_id=identifiers,
        source_system=identifiers,
        source_reference=identifiers,
        amount=st.builds(c.Money, amount=amounts, currency=currencies),
        incurred_on=st.dates(),
        budget_line_id=st.none() | identifiers,
        corrects_reference=st.none() | identifiers,
        description=st.none() | st.text(no_nul),
    )


_SCHEMA = gen.event_schema(registry.EVENTS["SpendRecorded"])
_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _round_trip(data: c.SpendRecorded, time: dt.datetime) -> None:
    event = registry.new_event(data, source="marops/budget", time=time)
    wire = event.to_json()
    decoded = registry.decode(wire)

    assert decoded.data == data
    assert decoded == event
    original, received = data.amount.amount, decoded.data.amount.amount
    assert received == original
    # the wire carries the one canonical text: plain, with the currency's minor-unit places
    # ("1.1" EUR -> "1.10", "2E+4" -> "20000.00", JPY "1500"), never rounded
    assert json.loads(wire)["data"]["amount"]["amount"] == format_amount(original, data.amount.currency)
    assert decoded.time == time and decoded.time.utcoffset() == dt.timedelta(0)

    raw = json.loads(wire)
    assert isinstance(raw["data"]["amount"]["amount"], str)
    assert re.search(gen.DECIMAL_PATTERN, raw["data"]["amount"]["amount"])
    _VALIDATOR.validate(raw)


@settings(max_examples=200, deadline=None)
@given(data=spend(two_places), time=times)
def test_spend_with_two_decimal_amounts_survives_the_wire_exactly(data: c.SpendRecorded, time: dt.datetime) -> None:
    _round_trip(data, time)


@settings(max_examples=200, deadline=None)
@given(data=spend(any_finite_decimal), time=times)
def test_spend_with_any_finite_decimal_survives_the_wire_exactly(data: c.SpendRecorded, time: dt.datetime) -> None:
    _round_trip(data, time)
