"""marops intake service."""
