"""marops budget service."""
