"""Maintenance scripts for the book (run from the repository root: ``python -m tools.<name>``)."""
