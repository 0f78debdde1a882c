"""Sweeps: search-space parsing, Optuna studies, workers and nightly runs."""
