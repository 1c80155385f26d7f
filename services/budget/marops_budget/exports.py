"""CSV responses: what finance opens in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi import Request
from fastapi.responses import Response

CSV = "text/csv; charset=utf-8"


def wants_csv(request: Request, format: str | None) -> bool:
    """``?format=csv`` wins; otherwise an Accept header asking for text/csv."""
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(_cell(value) for value in row)
    return Response(buffer.getvalue(), media_type=CSV,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _cell(value: object) -> object:
    if value is None:
        return ""
    # Text a spreadsheet would run as a formula is quoted (CSV injection); numbers stay numbers.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
