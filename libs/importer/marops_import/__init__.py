"""History import: CSV of past campaigns -> historical marops events."""
