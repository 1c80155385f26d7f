"""The chassis every marops service runs on. See docs/conventions.md."""
