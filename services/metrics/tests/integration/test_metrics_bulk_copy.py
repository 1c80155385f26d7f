"""The rebuild's COPY text rows store what asyncpg's binary COPY of the same values stores
(the live path and the small rebuilds send values through asyncpg; a large rebuild's
worker processes write them as text): escapes, NULLs, numbers, instants, dates, JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest

from marops_metrics import bulk
from marops_service.db import RawJson

COLUMNS = ["t", "i", "n", "f", "b", "u", "ts", "d", "j"]
ROWS = [
    ("plain", 1, Decimal("12.30"), 0.1, True, uuid.UUID(int=1), datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
     date(2026, 2, 28), RawJson('{"a": "b"}')),
    ("back\\slash\ttab\nnew\rline \\N", -2_147_483_648, Decimal("1E+2"), 1e-310, False, uuid.uuid4(),
     datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))), date.max,
     RawJson('{"q": "say \\"hi\\"\\n", "u": "\\u00e9t\\u00e9", "s": "\\\\"}')),
    ("", 2_147_483_647, Decimal("-0.00"), -0.0, True, uuid.UUID(int=2**128 - 1),
     datetime(1970, 1, 1, tzinfo=UTC), date.min, RawJson("[]")),
    ("été ✓ 𝄞", 0, Decimal("123456789012345678.000000001"), 1 / 3, False, uuid.UUID(int=3),
     datetime(2025, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=8))), date(2000, 2, 29),
     RawJson('{"n": 1.50, "z": null}')),
    (None, None, None, None, None, None, None, None, None),
]


@pytest.mark.asyncio(loop_scope="function")
async def test_copy_text_stores_what_binary_copy_stores(module_pg_dsn: str) -> None:
    conn = await asyncpg.connect(module_pg_dsn)
    try:
        stored = {}
        for name in ("via_binary", "via_text"):
            await conn.execute(f"CREATE TEMP TABLE {name} (n_row serial, t text, i integer, n numeric, f float8, "
                               f"b boolean, u uuid, ts timestamptz, d date, j jsonb)")
        await conn.copy_records_to_table("via_binary", columns=COLUMNS, records=ROWS)
        await conn.copy_to_table("via_text", columns=COLUMNS, source=memoryview(bulk.copy_text(ROWS)), format="text")
        for name in ("via_binary", "via_text"):
            # Every value as PostgreSQL prints it, and the float's exact bits.
            stored[name] = [tuple(r) for r in await conn.fetch(
                f"SELECT t, i, n::text, float8send(f), b, u, ts::text, d::text, j::text FROM {name} ORDER BY n_row")]
        assert stored["via_text"] == stored["via_binary"]
        assert len(stored["via_text"]) == len(ROWS)
    finally:
        await conn.close()


def test_a_value_without_a_text_format_is_refused() -> None:
    # Refused as a value the database refuses: the rebuild then replays batch by batch.
    with pytest.raises(ValueError):
        bulk.copy_text([(object(),)])
