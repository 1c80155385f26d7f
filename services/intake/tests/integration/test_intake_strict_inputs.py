"""Strict inputs in intake: a date is an ISO string and money an ASCII decimal string.

The bug report: ``flight_end: 0`` stored 1970-01-01; ``"1e5"``, ``"1_000"`` and
Arabic-Indic digits were accepted as amounts.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


def team() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(("field", "value"), [
    ("flight_end", 0), ("flight_start", 1767225600), ("target_launch_date", "0"),
    ("target_launch_date", "2026-12-20T00:00:00"), ("flight_end", True),
])
async def test_dates_are_iso_strings_only(intake, field: str, value: object) -> None:
    rita = intake.as_("rita", "requester", team=team())
    campaign = await intake.create(rita, title="Strict dates")
    response = await intake.http.patch(f"/campaigns/{campaign['id']}/brief", json={field: value}, headers=rita)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == [f"body.{field}"]
    assert (await intake.get(campaign["id"], rita))["brief"].get(field) is None


@pytest.mark.parametrize("amount", ["1e5", "1_000", "١٢٣", "1,000", 100])
async def test_amounts_are_ascii_decimal_strings_only(intake, amount: object) -> None:
    rita = intake.as_("rita", "requester", team=team())
    response = await intake.http.post("/campaigns", headers=rita, json={
        "title": "Strict money", "budget_request": {"amount": {"amount": amount, "currency": "EUR"}}})
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["body.budget_request.amount.amount"]


async def test_a_date_query_parameter_is_an_iso_string(intake) -> None:
    viewer = intake.as_("vic", "viewer")
    for value in ("0", "1767225600"):
        response = await intake.http.get("/campaigns", params={"target_from": value}, headers=viewer)
        assert response.status_code == 422, response.text
        assert [e["path"] for e in response.json()["errors"]] == ["query.target_from"]
