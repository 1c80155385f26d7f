"""What a service consumes, declared once, typed by the event's contract.

    subscriptions = Subscriptions("governance")

    @subscriptions.on(c.GateApproved, live_only=True)
    async def on_gate_approved(conn: asyncpg.Connection, event: Envelope[c.GateApproved]) -> None: ...

The declarations are the service's consumer handlers (``subscriptions.handlers()`` goes to
the ``ConsumerRunner``) and the AsyncAPI document's list of consumers
(``contracts_gen`` reads every service's ``SUBSCRIPTIONS``), so the two cannot differ.

A service whose handlers need something built from its settings (budget's thresholds)
declares ``Subscriptions("budget", deps=Rules)``: its handlers take that object as a third
argument and ``subscriptions.handlers(rules)`` binds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar, overload

import asyncpg
from pydantic import BaseModel

from . import registry
from .consumer import BatchHandler, Handler
from .envelope import Envelope

E = TypeVar("E", bound=BaseModel)
D = TypeVar("D")

TypedHandler = Callable[[asyncpg.Connection, Envelope[E]], Awaitable[None]]
DependentHandler = Callable[[asyncpg.Connection, Envelope[E], D], Awaitable[None]]


def live_only(handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Skip imported history (``event.is_historical``): the handler acts on live events only.
    Historical events are still claimed in the inbox, so a re-import stays a no-op. A
    ``BatchHandler`` stays one (it is handed the batch's live events)."""
    if isinstance(handler, BatchHandler):
        apply = handler.apply

        async def live_batch(conn: asyncpg.Connection, events: list[Envelope[Any]]) -> None:
            live_events = [e for e in events if not e.is_historical]
            if live_events:
                await apply(conn, live_events)

        return BatchHandler(live_batch)

    async def live(conn: asyncpg.Connection, event: Envelope[Any], *deps: Any) -> None:
        if not event.is_historical:
            await handler(conn, event, *deps)

    live.__name__ = getattr(handler, "__name__", "live")
    live.__doc__ = handler.__doc__
    return live


class Subscriptions(Generic[D]):
    """One service's consumed event types and their handlers (one handler per type)."""

    @overload
    def __init__(self: Subscriptions[None], consumer: str) -> None: ...

    @overload
    def __init__(self, consumer: str, *, deps: type[D]) -> None: ...

    def __init__(self, consumer: str, *, deps: type[D] | None = None) -> None:
        self.consumer = consumer
        self._takes_deps = deps is not None
        self._handlers: dict[str, Callable[..., Awaitable[None]]] = {}

    @overload
    def on(self: Subscriptions[None], model: type[E], *,
           live_only: bool = False) -> Callable[[TypedHandler[E]], TypedHandler[E]]: ...

    @overload
    def on(self, model: type[E], *,
           live_only: bool = False) -> Callable[[DependentHandler[E, D]], DependentHandler[E, D]]: ...

    def on(self, model: type[E], *, live_only: bool = False) -> Callable[[Any], Any]:
        """Register the decorated function as the handler of ``model``'s event type."""

        def register(handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
            self._add(model, handler, live_only=live_only)
            return handler

        return register

    def add(self, models: Iterable[type[BaseModel]], handler: Callable[..., Awaitable[None]], *,
            live_only: bool = False) -> None:
        """One handler for several event types (metrics' batch projection of every event; a
        ``BatchHandler`` is handed all of them in a batch at once)."""
        wrapped = _live_only(handler) if live_only else handler
        for model in models:
            self._add(model, wrapped, live_only=False)

    def _add(self, model: type[BaseModel], handler: Callable[..., Awaitable[None]], *, live_only: bool) -> None:
        event_type = registry.spec_for_model(model).type
        if event_type in self._handlers:
            raise ValueError(f"{self.consumer} already handles {event_type}")
        self._handlers[event_type] = _live_only(handler) if live_only else handler

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    @overload
    def handlers(self: Subscriptions[None]) -> dict[str, Handler]: ...

    @overload
    def handlers(self, deps: D) -> dict[str, Handler]: ...

    def handlers(self, deps: Any = None) -> dict[str, Handler]:
        """The ``ConsumerRunner``'s handler map (event type -> handler), ``deps`` bound."""
        if not self._takes_deps:
            return dict(self._handlers)
        return {event_type: _bind(handler, deps) for event_type, handler in self._handlers.items()}


_live_only = live_only


def _bind(handler: Callable[..., Awaitable[None]], deps: Any) -> Handler:
    async def bound(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        await handler(conn, event, deps)

    return bound
