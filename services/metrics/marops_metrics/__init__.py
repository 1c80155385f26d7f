"""marops metrics service."""
