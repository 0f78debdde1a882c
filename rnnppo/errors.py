"""rnnppo's exceptions: one base for bad input (the CLI turns it into one line and exit code 2) and the
training error. Every layer raises these; nothing here imports the rest of the package."""

from __future__ import annotations


class InputError(ValueError):
    """The user's input cannot be used; the message names what is wrong and how to fix it (exit code 2)."""


class ConfigError(InputError):
    """A configuration value or name that cannot be used; the message says what to change."""


class EnvError(InputError):
    """An environment that cannot be made or used; the message says what to change."""


class UnsupportedSpaceError(InputError):
    """A gymnasium space rnnppo cannot handle; the message names it."""


class RunFileError(InputError):
    """A run file that is missing, truncated or not what rnnppo wrote; the message names the file."""


class StorageError(InputError):
    """A storage URL that cannot be used; the message has the password masked."""


class SweepError(InputError):
    """A sweep that cannot start as asked; the message says what to change."""


class ReportError(InputError):
    """Nothing to report (no results folder, no study of that name...); the message says what to do."""


class ExportError(InputError):
    """A policy that cannot be exported as asked (a missing extra, a policy without state); says why."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a NaN loss); the message says where it happened."""
