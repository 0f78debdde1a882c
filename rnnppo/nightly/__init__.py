"""Scheduled sweeps: the nightly file, the history of nights, regression decisions, and the night's whole
workflow (`rnnppo.nightly.run`).

The package is also the Python API's `rnnppo.nightly(config, date=None, fail_on_regression=False)`: calling
it runs `run.run_night` and returns its `NightOutcome`. (A function of that name in the package root would be
replaced by this subpackage the moment it is imported, so the subpackage itself is made callable.)
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _NightlyPackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from rnnppo.nightly.run import run_night

        return run_night(*args, **kwargs)


sys.modules[__name__].__class__ = _NightlyPackage
