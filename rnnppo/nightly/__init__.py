"""Scheduled sweeps: the nightly file, the history of nights, regression decisions."""
