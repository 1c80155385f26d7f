"""Reports as JSON or CSV, whichever the client asked for (``?format=csv`` or ``Accept: text/csv``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from marops_service.exports import csv_response, wants_csv

from .aggregates import Report


def respond(request: Request, report: Report, fmt: str | None, filename: str) -> Response:
    if wants_csv(request, fmt):
        return csv_response(filename, report.columns, _rows(report))
    return JSONResponse(jsonable_encoder(report.body))


def _rows(report: Report) -> list[list[object]]:
    return [[row.get(column) for column in report.columns] for row in report.rows]
