"""CSV exports for every service: content negotiation and spreadsheet-safe cells."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request: Request, fmt: str | None) -> bool:
    """``?format=csv`` wins; otherwise an Accept header asking for text/csv."""
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "").lower()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "; ".join(" ".join(str(v) for v in item.values()) if isinstance(item, dict) else str(item)
                         for item in value)
    text = str(value)
    # Text a spreadsheet would run as a formula stays text (CSV injection); numbers stay numbers.
    if isinstance(value, str) and text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    if not filename.endswith(".csv"):
        filename += ".csv"
    return Response(csv_text(header, rows), media_type=CSV_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
