"""Return on spend is money over money: an exact decimal to 4 places (half-even), not a float."""

import datetime as dt
from decimal import Decimal

from marops_metrics.outcomes import Current, KpiSpec, outcome_of

REVENUE = KpiSpec(position=1, metric="revenue", target=Decimal("1000"), unit="EUR", kind="outcome")


def ros(actual: str, spend: str) -> Decimal | None:
    current = {"revenue": Current(Decimal(actual), dt.date(2026, 3, 1))}
    return outcome_of([REVENUE], current, {"EUR": Decimal(spend)}).money[0].return_on_spend


def test_exact_to_four_places_half_even() -> None:
    assert ros("1000.10", "300.03") == Decimal("2.3333")  # 700.07 / 300.03 = 2.33333...
    assert ros("0.1", "0.3") == Decimal("-0.6667")  # a float says -0.6666666666666667
    assert ros("1.00005", "1") == Decimal("0.0000")  # 0.00005: half-even rounds to the even 0
    assert ros("1.00015", "1") == Decimal("0.0002")
    assert isinstance(ros("5", "2"), Decimal)


def test_none_for_zero_spend() -> None:
    assert ros("5", "0") is None
