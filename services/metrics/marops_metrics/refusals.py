"""Why metrics refuses a request (api.REFUSALS answers each over HTTP)."""

from enum import StrEnum


class MetricsRefusal(StrEnum):
    not_found = "not-found"  # no such campaign history or rebuild run (or not visible): 404
    rebuild_running = "rebuild-running"  # a rebuild is already running: 409
    invalid_cursor = "invalid-cursor"  # a cursor this service did not give out: 422
