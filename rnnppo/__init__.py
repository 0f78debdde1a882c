"""rnnppo: recurrent PPO experiment runner and sweeper.

The Python API (see docs/guides/python-api.md): `rnnppo.train(...)`, `rnnppo.sweep(...)`,
`rnnppo.load(run_dir)`, `rnnppo.nightly(config_toml)` (one night: sweep, report, history, regressions).
They are imported on first use, so `import rnnppo` stays fast (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["LoadedRun", "TrainConfig", "__version__", "load", "make_config", "nightly", "sweep", "train"]

if TYPE_CHECKING:
    from rnnppo.api import LoadedRun, load, make_config, sweep, train
    from rnnppo.core.config import TrainConfig

_LAZY = {
    "train": "rnnppo.api",
    "sweep": "rnnppo.api",
    "load": "rnnppo.api",
    "make_config": "rnnppo.api",
    "LoadedRun": "rnnppo.api",
    "TrainConfig": "rnnppo.core.config",
}


def __getattr__(name: str) -> Any:
    if name == "nightly":  # the subpackage, callable: rnnppo.nightly(config) runs one night
        import importlib

        return importlib.import_module("rnnppo.nightly")
    return _lazy(name)


def _lazy(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rnnppo' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
