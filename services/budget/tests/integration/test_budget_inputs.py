"""Strict inputs: a date is an ISO string, an integer is an integer, and nothing is stored otherwise.

The bug report: ``incurred_on: 0`` stored 1970-01-01 and ``as_of=0`` was taken as a date.
"""

from __future__ import annotations

import pytest
from budget_harness import Harness, uid

pytestmark = pytest.mark.asyncio(loop_scope="module")


def spend(**fields: object) -> dict[str, object]:
    return {"campaign_id": uid("cmp"), "source_system": "erp", "source_reference": uid("inv"),
            "amount": {"amount": "10.00", "currency": "EUR"}, "incurred_on": "2026-03-05", **fields}


@pytest.mark.parametrize("incurred_on", [0, 1767225600, "0", "20260305", "2026-03-05T00:00:00", True, "2026-3-5"])
async def test_dates_are_iso_strings_only(harness: Harness, incurred_on: object) -> None:
    body = spend(incurred_on=incurred_on)
    response = await harness.client.post("/spend", json=body, headers=harness.finance)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["body.incurred_on"]
    ledger = await harness.client.get("/spend", params={"campaign_id": body["campaign_id"]}, headers=harness.viewer)
    assert ledger.json()["items"] == []


@pytest.mark.parametrize("as_of", ["0", "1767225600", "2026-03-05T00:00:00"])
async def test_date_query_parameters_are_iso_strings_only(harness: Harness, as_of: str) -> None:
    response = await harness.client.get("/campaigns/any/budget", params={"as_of": as_of}, headers=harness.viewer)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["query.as_of"]
    response = await harness.client.get("/spend", params={"incurred_from": as_of}, headers=harness.viewer)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(("field", "value"), [("fiscal_year", "2026"), ("fiscal_year", 2026.5), ("quarter", True),
                                              ("quarter", "1")])
async def test_integers_are_json_integers(harness: Harness, field: str, value: object) -> None:
    body = {"id": uid("line"), "fiscal_year": 2026, "quarter": 1, "team": "growth", "channel": "email",
            "amount": {"amount": "100.00", "currency": "EUR"}, field: value}
    response = await harness.client.post("/budget-lines", json=body, headers=harness.finance)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == [f"body.{field}"]


async def test_a_valid_date_is_still_accepted(harness: Harness) -> None:
    response = await harness.client.post("/spend", json=spend(), headers=harness.finance)
    assert response.status_code == 201, response.text
    assert response.json()["incurred_on"] == "2026-03-05"


@pytest.mark.parametrize("month", ["0000-01", "٢٠٢٦-03", "2026-13", "2026-3"])
async def test_a_month_outside_the_calendar_is_a_validation_error(harness: Harness, month: str) -> None:
    response = await harness.client.get("/reports/monthly", params={"from_month": month}, headers=harness.viewer)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["query.from_month"]
