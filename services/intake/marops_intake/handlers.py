"""Consumed events -> use cases. Each handler runs inside the consumer's batch transaction.

Intake consumes governance's decisions and launches only to show requesters where their
campaign stands; each is kept as a fact and the status re-derived (see domain/status.py).
"""

from marops_events.consumer import Handler

from .service import GOVERNANCE_EVENTS, record_governance_fact

HANDLERS: dict[str, Handler] = {event_type: record_governance_fact for event_type in GOVERNANCE_EVENTS}
