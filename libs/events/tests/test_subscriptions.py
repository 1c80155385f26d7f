"""Typed subscriptions: one handler per declared event type, imported history skipped
where a handler is live-only, dependencies bound once (no I/O: handlers record calls)."""

from __future__ import annotations

from typing import Any

import pytest

from marops_events import contracts as c
from marops_events.envelope import HISTORICAL_SOURCE_PREFIX, Envelope
from marops_events.registry import UnknownEventType, new_event
from marops_events.subscriptions import Subscriptions


def spend(source: str = "marops/budget") -> Envelope[Any]:
    return new_event(c.SpendRecorded(
        campaign_id="cmp-1", source_system="ads", source_reference="r-1",
        amount=c.Money(amount="10.00", currency="EUR"), incurred_on="2026-01-05"), source=source)


def test_the_decorated_handler_is_the_handler_of_its_event_type() -> None:
    seen: list[str] = []
    subscriptions = Subscriptions("budget")

    @subscriptions.on(c.SpendRecorded)
    async def on_spend(conn: object, event: Envelope[c.SpendRecorded]) -> None:
        seen.append(event.data.campaign_id)

    assert subscriptions.event_types == {"SpendRecorded"}
    assert list(subscriptions.handlers()) == ["SpendRecorded"]


async def test_a_live_only_handler_skips_imported_history_and_handles_live_events() -> None:
    seen: list[str] = []
    subscriptions = Subscriptions("budget")

    @subscriptions.on(c.SpendRecorded, live_only=True)
    async def on_spend(conn: object, event: Envelope[c.SpendRecorded]) -> None:
        seen.append(event.source)

    handle = subscriptions.handlers()["SpendRecorded"]
    await handle(None, spend(source=f"{HISTORICAL_SOURCE_PREFIX}/history.csv"))
    await handle(None, spend())
    assert seen == ["marops/budget"]


async def test_dependencies_are_bound_once_for_every_handler() -> None:
    seen: list[tuple[str, int]] = []
    subscriptions = Subscriptions("budget", deps=int)

    @subscriptions.on(c.SpendRecorded)
    async def on_spend(conn: object, event: Envelope[c.SpendRecorded], limit: int) -> None:
        seen.append((event.type, limit))

    await subscriptions.handlers(42)["SpendRecorded"](None, spend())
    assert seen == [("SpendRecorded", 42)]


def test_a_second_handler_for_one_event_type_is_refused() -> None:
    subscriptions = Subscriptions("budget")

    async def first(conn: object, event: Envelope[Any]) -> None:
        return None

    subscriptions.add([c.SpendRecorded], first)
    with pytest.raises(ValueError, match="already handles SpendRecorded"):
        subscriptions.add([c.SpendRecorded], first)


def test_a_model_that_is_no_registered_event_is_refused() -> None:
    subscriptions = Subscriptions("budget")

    async def handle(conn: object, event: Envelope[Any]) -> None:
        return None

    with pytest.raises(UnknownEventType):
        subscriptions.add([c.Money], handle)
