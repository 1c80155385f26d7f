"""One money representation: the formatter, the client parser and the event reader."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from marops_events import contracts as c
from marops_events import registry
from marops_events.money import (
    CURRENCIES,
    check_currency,
    format_amount,
    input_pattern,
    minor_units,
    parse_amount,
    parse_event_amount,
)

# --- the bug report: budget answered a line of "20000" with "2E+4" ---------------------------


@pytest.mark.parametrize(("stored", "written"), [
    ("2E+4", "20000.00"),      # asyncpg decodes numeric 20000 like this
    ("5.0E+5", "500000.00"),
    ("1E+4", "10000.00"),
    ("0", "0.00"),             # "0" and "0.00" for the same currency: one form
    ("0.00", "0.00"),
    ("0E-8", "0.00"),
    ("-0", "0.00"),            # no negative zero
    ("-12.5", "-12.50"),
    ("1.10", "1.10"),
    ("0.0125", "0.0125"),      # more places than the currency's minor unit: kept, never rounded
    ("100000000000000", "100000000000000.00"),
])
def test_money_is_a_plain_decimal_with_the_currency_minor_units(stored: str, written: str) -> None:
    money = c.Money(amount=Decimal(stored), currency="EUR")
    assert money.model_dump(mode="json") == {"amount": written, "currency": "EUR"}
    assert json.loads(money.model_dump_json())["amount"] == written
    assert format_amount(Decimal(stored), "EUR") == written


@pytest.mark.parametrize(("currency", "amount", "written"), [
    ("JPY", "1500", "1500"), ("JPY", "1.5E+3", "1500"), ("KWD", "1.25", "1.250"), ("BHD", "0", "0.000"),
    ("CLF", "1", "1.0000"), ("USD", "7", "7.00"),
])
def test_minor_units_follow_iso_4217(currency: str, amount: str, written: str) -> None:
    assert format_amount(Decimal(amount), currency) == written


def test_amounts_from_a_cent_to_ten_to_the_fourteenth_round_trip_exactly_through_an_event() -> None:
    amount = Decimal("0.01")
    while amount <= Decimal(10) ** 14:
        for value in (amount, amount + Decimal("0.01"), -amount):
            event = registry.new_event(c.BudgetReserved(campaign_id="c-1", brief_version=1, budget_line_id="l-1",
                                                        amount=c.Money(amount=value, currency="EUR")),
                                       source="marops/budget")
            wire = event.to_json()
            text = json.loads(wire)["data"]["amount"]["amount"]
            assert "E" not in text and "e" not in text
            assert text == format_amount(value, "EUR")
            assert Decimal(text) == value and parse_amount(text) == value
            assert registry.decode(wire).data.amount.amount == value
        amount *= 10


# --- the bug report: the parser accepted what the schema did not say --------------------------


@pytest.mark.parametrize("text", ["1e5", "1E+5", "1_000", "١٢٣", "１２", "+5", " 5", "5 ", "1.", ".5", "", "NaN",
                                  "Infinity", "0x10", "1,000.00"])
def test_client_amounts_are_only_ascii_decimal_strings(text: str) -> None:
    with pytest.raises(ValueError, match="decimal string"):
        parse_amount(text)
    with pytest.raises(ValidationError):
        c.MoneyInput(amount=text, currency="EUR")


@pytest.mark.parametrize("value", [5, 5.5, True, None, ["1"]])
def test_client_amounts_are_never_json_numbers(value: object) -> None:
    with pytest.raises(ValidationError, match="decimal string"):
        c.MoneyInput.model_validate_json(json.dumps({"amount": value, "currency": "EUR"}))


@pytest.mark.parametrize("text", ["0", "-1", "20000", "20000.00", "0.01", "007.50"])
def test_client_amounts_matching_the_pattern_are_accepted(text: str) -> None:
    assert c.MoneyInput.model_validate_json(json.dumps({"amount": text, "currency": "EUR"})).amount == Decimal(text)


@pytest.mark.parametrize("code", ["XYZ", "eur", "EURO", "XAU", "XTS", "XXX", "HRK", ""])
def test_currencies_are_iso_4217_with_minor_units(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        check_currency(code)
    with pytest.raises(ValidationError, match="ISO 4217"):
        c.MoneyInput(amount="1", currency=code)


def test_the_vendored_table_has_the_currencies_people_plan_in() -> None:
    assert {"EUR", "USD", "GBP", "JPY", "CHF", "SEK", "CNY", "INR", "BRL", "KWD"} <= set(CURRENCIES)
    assert minor_units("JPY") == 0 and minor_units("EUR") == 2 and minor_units("KWD") == 3
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in CURRENCIES)


def test_the_schemas_say_exactly_what_is_accepted() -> None:
    amount = c.MoneyInput.model_json_schema()["properties"]["amount"]
    # AMOUNT_PATTERN with the bounds every service applies (below 10^15, at most 4 places)
    assert amount["type"] == "string" and amount["pattern"] == input_pattern() == r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$"
    assert "anyOf" not in amount
    for cls, pattern in ((c.NonNegativeMoneyInput, r"^[0-9]{1,15}(\.[0-9]{1,4})?$"),
                         (c.PositiveMoneyInput, r"^[0-9]{1,15}(\.[0-9]{1,4})?$")):
        assert cls.model_json_schema()["properties"]["amount"]["pattern"] == pattern
    assert c.PositiveMoneyInput.model_json_schema()["properties"]["amount"]["not"] == {"pattern": r"^-?0+(\.0+)?$"}
    currency = c.MoneyInput.model_json_schema()["properties"]["currency"]
    assert currency["enum"] == list(CURRENCIES)


# --- events: readers keep accepting the topics' history ----------------------------------------


def test_event_readers_accept_history_written_in_exponent_form_and_write_it_plain() -> None:
    event = json.loads(registry.new_event(
        c.BudgetReserved(campaign_id="c-1", brief_version=1, budget_line_id="l-1",
                         amount=c.Money(amount=Decimal(20000), currency="EUR")), source="marops/budget").to_json())
    event["data"]["amount"]["amount"] = "2E+4"  # as budget published it before
    decoded = registry.decode(json.dumps(event))
    assert decoded.data.amount.amount == 20000
    assert json.loads(decoded.to_json())["data"]["amount"]["amount"] == "20000.00"


@pytest.mark.parametrize("value", ["1e5", "1_000", "١٢٣", 12, "1E+999999999", "1E-999999999"])
def test_event_readers_refuse_what_the_contract_does_not_describe(value: object) -> None:
    with pytest.raises(ValueError):
        parse_event_amount(value)


@pytest.mark.parametrize(("cls", "text", "accepted"), [
    (c.MoneyInput, "100000000000000.0000", True),  # 10^14 with 4 places
    (c.MoneyInput, "-0.01", True),
    (c.MoneyInput, "1000000000000000", False),  # 10^15
    (c.MoneyInput, "1.00001", False),
    (c.NonNegativeMoneyInput, "0.00", True),
    (c.NonNegativeMoneyInput, "-1", False),
    (c.PositiveMoneyInput, "0.01", True),
    (c.PositiveMoneyInput, "0.0000", False),
])
def test_client_money_is_refused_exactly_where_its_schema_says(cls: type[c.MoneyInput], text: str,
                                                               accepted: bool) -> None:
    schema = cls.model_json_schema()["properties"]["amount"]
    by_schema = bool(re.match(schema["pattern"], text)) and not (
        "not" in schema and re.match(schema["not"]["pattern"], text))
    try:
        cls(amount=text, currency="EUR")
        by_parser = True
    except ValidationError:
        by_parser = False
    assert by_schema == by_parser == accepted
