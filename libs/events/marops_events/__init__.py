"""marops event contracts and delivery plumbing. See docs/conventions.md."""

from .envelope import Envelope
from .registry import EVENTS, InvalidEvent, decode, new_event

__all__ = ["EVENTS", "Envelope", "InvalidEvent", "decode", "new_event"]
