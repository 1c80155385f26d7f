"""marops governance service."""
