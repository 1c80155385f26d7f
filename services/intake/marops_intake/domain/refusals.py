"""Why intake refuses a command (api.REFUSALS answers each over HTTP)."""

from enum import StrEnum


class IntakeRefusal(StrEnum):
    forbidden = "forbidden"  # the caller may not do this to this campaign: 403
    not_found = "not-found"  # no such campaign (or not visible), version: 404
    conflict = "conflict"  # the campaign's status does not allow it: 409
    invalid = "invalid"  # the input is wrong: 422
    brief_incomplete = "brief-incomplete"  # submission with missing or invalid fields: 422
    invalid_cursor = "invalid-cursor"  # 400
