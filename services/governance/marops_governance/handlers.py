"""Consumed events -> use cases. Each handler runs inside the consumer's batch transaction."""

from marops_events.consumer import Handler

HANDLERS: dict[str, Handler] = {}
