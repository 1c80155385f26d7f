"""The change-in-flight contracts refuse what no consumer could apply: decoded, such a
record is an InvalidEvent, which every consumer dead-letters with the reason."""

from __future__ import annotations

import json

import pytest

from marops_events import registry
from marops_events.registry import InvalidEvent, decode


def change_requested(**overrides: object) -> bytes:
    brief = {"campaign_id": "cmp-1", "version": 2, "title": "t", "team": "growth", "owner": "o", "requester": "o",
             "objective": "x", "channels": ["email"], "target_launch_date": "2026-04-01",
             "flight_start": "2026-04-01", "flight_end": "2026-04-30",
             "budget_request": {"amount": {"amount": "10.00", "currency": "EUR"}, "budget_line_id": "l"}}
    data = {"campaign_id": "cmp-1", "change_id": "chg-1", "base_version": 1, "changes": ["budget"], "reason": "r",
            "requested_by": "o", "brief": brief, **overrides}
    return json.dumps({"specversion": "1.0", "id": "6f1c2f7e-6a3f-4a43-9c55-0d1b7f3b1a11", "source": "marops/intake",
                       "type": "ChangeRequested", "time": "2026-03-01T09:00:00Z", "subject": "cmp-1",
                       "datacontenttype": "application/json", "correlationid": "cmp-1", "data": data}).encode()


def test_a_valid_change_request_decodes() -> None:
    event = decode(change_requested(), expected_type="ChangeRequested")
    assert (event.data.brief.version, event.data.base_amount) == (2, None)


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"campaign_id": "other"}, "brief.campaign_id must be the change's campaign_id"),
    ({"base_version": 2}, "brief.version must be later than base_version"),
    ({"changes": []}, "changes"),
    ({"changes": ["colour"]}, "changes"),
    ({"reason": ""}, "reason"),
])
def test_an_inconsistent_change_request_is_an_invalid_event(overrides: dict, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode(change_requested(**overrides), expected_type="ChangeRequested")


@pytest.mark.parametrize("event_type", ["CampaignPaused", "CampaignResumed"])
def test_a_pause_names_its_number(event_type: str) -> None:
    data = {"campaign_id": "cmp-1", "pause": 0, "reason": "r",
            ("paused_by" if event_type == "CampaignPaused" else "resumed_by"): "o"}
    value = json.dumps({"specversion": "1.0", "id": "6f1c2f7e-6a3f-4a43-9c55-0d1b7f3b1a12", "source": "marops/intake",
                        "type": event_type, "time": "2026-03-01T09:00:00Z", "subject": "cmp-1",
                        "datacontenttype": "application/json", "correlationid": "cmp-1", "data": data}).encode()
    with pytest.raises(InvalidEvent, match="pause"):
        decode(value, expected_type=event_type)
    assert registry.EVENTS[event_type].producer == "intake"
