"""Environments: making them by id, the built-in tasks, wrappers, env worker processes."""
