"""Money, written one way everywhere: APIs, CSV exports, events.

- ``format_amount(amount, currency)``: a plain decimal string with at least the currency's
  ISO 4217 minor-unit places (``"20000.00"``, ``"0.00"``, JPY ``"1500"``, KWD ``"1.250"``),
  never exponent notation and never rounded: an amount with more significant places than
  the currency's minor unit keeps them (``"0.0125"`` EUR), because dropping them would
  change a figure finance reconciles against.
- ``parse_amount(text)``: the only accepted input is a JSON string matching
  ``AMOUNT_PATTERN`` in ASCII digits; no numbers, no exponent, no ``_`` separators, no
  other scripts' digits (Python's ``Decimal`` accepts all of those).
- ``CURRENCIES``: ISO 4217 codes with their minor units, vendored in ``iso4217.py``.

The pure functions here are what the pydantic types in ``contracts`` (``Money``,
``MoneyInput``) and every service's CSV writer use.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .iso4217 import CURRENCIES

__all__ = [
    "AMOUNT_PATTERN",
    "CURRENCIES",
    "EVENT_AMOUNT_PATTERN",
    "check_currency",
    "format_amount",
    "input_pattern",
    "minor_units",
    "parse_amount",
    "parse_bounded_amount",
]

# What clients may send: digits, an optional sign and an optional fraction. ``[0-9]`` and
# not ``\d``: Python's ``\d`` also matches Arabic-Indic and other digits.
AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)

# What v1 events may carry: ``str(Decimal)`` of a finite value, plain or exponent form.
# marops producers write ``format_amount`` (plain) but the topics keep their history
# forever and that history has exponent forms ("2E+4"), so readers accept both.
EVENT_AMOUNT_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?(E[+-][0-9]+)?$"
_EVENT_AMOUNT = re.compile(EVENT_AMOUNT_PATTERN)

# Minor units assumed for a code outside the table (only possible in old events).
DEFAULT_MINOR_UNITS = 2
# Longest amount text a client may send: 10^15 with 4 places is 21 characters; this
# leaves room for every sane value while keeping Decimal's work per value bounded.
MAX_AMOUNT_CHARS = 40
# What an event may carry, in digits of its plain form (either side of the point). The
# schema's pattern has no bound, but "1E+999999999" would print as a gigabyte of zeros:
# a reader refuses it (a dead letter with the reason) rather than exhaust memory later.
MAX_EVENT_DIGITS = 100


def minor_units(currency: str) -> int:
    return CURRENCIES.get(currency, DEFAULT_MINOR_UNITS)


def check_currency(code: object) -> str:
    """``code`` if it is an ISO 4217 currency (with minor units), else ``ValueError``."""
    if not isinstance(code, str) or code not in CURRENCIES:
        raise ValueError(f"currency must be an ISO 4217 code such as EUR or USD, not {code!r}")
    return code


def _not(value: object) -> str:
    # A JSON number with a fraction reaches us as a binary float and would carry its drift
    # into the ledger; an integer is refused too, so there is exactly one way to write money.
    return "not a float" if isinstance(value, float) else f"not {type(value).__name__}"


def parse_amount(text: object) -> Decimal:
    """The Decimal of a client's amount string, or ``ValueError`` saying what is accepted."""
    if not isinstance(text, str):
        raise ValueError(f'money amount must be a decimal string such as "1250.50", {_not(text)}')
    if len(text) > MAX_AMOUNT_CHARS or not _AMOUNT.match(text):
        raise ValueError('money amount must be a decimal string of ASCII digits such as "1250.50" '
                         "(optional leading -, no exponent, no separators)")
    return Decimal(text)


# The bounds every service applies to the money clients send: below 10^15 in absolute
# value (far above any budget, far below overflow) with at most 4 decimal places.
MAX_WHOLE_DIGITS = 15
MAX_INPUT_PLACES = 4


def input_pattern(*, signed: bool = True, whole_digits: int = MAX_WHOLE_DIGITS, places: int = MAX_INPUT_PLACES) -> str:
    """``AMOUNT_PATTERN`` with the bounds written into it, so a schema says what is accepted."""
    sign = "-?" if signed else ""
    return rf"^{sign}[0-9]{{1,{whole_digits}}}(\.[0-9]{{1,{places}}})?$"


def parse_bounded_amount(text: object, *, signed: bool = True, nonzero: bool = False,
                         whole_digits: int = MAX_WHOLE_DIGITS, places: int = MAX_INPUT_PLACES) -> Decimal:
    """``parse_amount`` within the bounds of ``input_pattern`` (and not zero, if asked)."""
    amount = parse_amount(text)
    assert isinstance(text, str)
    if not re.match(input_pattern(signed=signed, whole_digits=whole_digits, places=places), text):
        sign = "a" if signed else "a non-negative"
        raise ValueError(f"money amount must be {sign} decimal string with at most {whole_digits} digits before "
                         f"the point and {places} decimal places")
    if nonzero and amount == 0:
        raise ValueError("money amount must not be zero")
    return amount


def parse_event_amount(value: object) -> Decimal:
    """The Decimal of an amount read from an event (plain or ``str(Decimal)`` exponent form)."""
    if isinstance(value, Decimal):
        amount = value
    elif not isinstance(value, str):
        raise ValueError(f'money amount must be a decimal string such as "1250.50", {_not(value)}')
    elif len(value) > 2 * MAX_EVENT_DIGITS + 8 or not _EVENT_AMOUNT.match(value):
        raise ValueError(f"money amount {value[:MAX_AMOUNT_CHARS]!r} is not a decimal string")
    else:
        amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError("money amount must be finite")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > MAX_EVENT_DIGITS or (amount and amount.adjusted() >= MAX_EVENT_DIGITS):
        raise ValueError(f"money amount must have at most {MAX_EVENT_DIGITS} digits on either side of the point")
    return amount


def format_amount(amount: Decimal, currency: str) -> str:
    """The canonical text of ``amount`` in ``currency`` (see the module docstring)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"cannot format {amount!r} as money")
    places = minor_units(currency)
    # format(..., "f") never uses exponent notation; the rest is string work, so no
    # Decimal context (precision, rounding) is involved at any size.
    text = format(amount, "f")
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0").ljust(places, "0")
    if negative and (whole != "0" or fraction.strip("0")):
        whole = "-" + whole
    return f"{whole}.{fraction}" if fraction else whole
