"""Reports as JSON or CSV, whichever the client asked for (``?format=csv`` or ``Accept: text/csv``)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from .aggregates import Report

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "").lower()


def respond(request: Request, report: Report, fmt: str | None, filename: str) -> Response:
    if wants_csv(request, fmt):
        return Response(to_csv(report), media_type=CSV_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
    return JSONResponse(jsonable_encoder(report.body))


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=report.columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: cell(row.get(k)) for k in report.columns})
    return out.getvalue()


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
    # A title like "=HYPERLINK(...)" must stay text in a spreadsheet; numbers stay numbers.
    if isinstance(value, str) and text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text
