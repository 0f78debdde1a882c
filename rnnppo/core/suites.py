"""Suites: named sets of tasks shipped inside the package (rnnppo/suites/NAME.toml), for sweeps across envs.

A suite file has one `[suite]` table (a one-line `description`) and one `[[task]]` table per task:

    [[task]]
    name = "cue-8"                     # the task's name in reports (letters, digits, '.', '_', '-')
    env = "rnnppo/CueRecall-v0"        # the env id, as --env takes it
    env_kwargs = { cue_distance = 8 }  # optional: the env's arguments
    budget = 60000                     # env steps per run (--steps overrides it for every task)
    reference = 1.0                    # the score normalised to 1 (the maximum success or return) ...
    reference_note = "..."             # ... and what it is, in words
    random = "measured"                # optional: the score normalised to 0; "measured" (the default): the
                                       # sweep measures a uniformly random policy; or a stated number
    memory = 8                         # optional: how many steps back the task needs to remember (0: none)
    requires = "minigrid"              # optional: a module the task needs; left out when it is not installed
    settings = { gamma = 0.9 }         # optional: settings for this task, under the sweep's own words

`rnnppo sweep SPACE --suite NAME` runs the same configurations on the same seeds on every available task.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnppo.core.config import ConfigError, parse_mapping, read_toml
from rnnppo.core.presets import shipped_file

SUITE_DIR = Path(__file__).resolve().parent.parent / "suites"
MEASURED = "measured"
TASK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
_TASK_KEYS = {
    "name",
    "env",
    "env_kwargs",
    "budget",
    "reference",
    "reference_note",
    "random",
    "memory",
    "requires",
    "settings",
}
_OWN_FIELDS = ("env", "env_kwargs", "total_steps")
"""Settings a task sets through its own keys, not through `settings`."""


@dataclass(frozen=True)
class SuiteTask:
    """One env of a suite, with what its scores mean."""

    name: str
    env: str
    budget: int
    reference: float
    reference_note: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    random: float | None = None
    """The stated random-policy score; None: measured by the sweep."""
    memory: int | None = None
    requires: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Full setting name -> typed value, for this task only."""

    @property
    def available(self) -> bool:
        """Whether the module the task needs (if any) can be imported here."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    def overrides(self, budget: bool = True) -> dict[str, Any]:
        """The full-name settings this task lays over a sweep's base config (its budget unless --steps)."""
        out = {**self.settings, "env": self.env, "env_kwargs": dict(self.env_kwargs)}
        if budget:
            out["total_steps"] = self.budget
        return out

    def describe(self) -> dict[str, Any]:
        """What a study stores about the task (JSON), for reports."""
        return {
            "name": self.name,
            "env": self.env,
            "env_kwargs": dict(self.env_kwargs),
            "budget": self.budget,
            "reference": self.reference,
            "reference_note": self.reference_note,
            "random": self.random,
            "memory": self.memory,
        }


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    tasks: tuple[SuiteTask, ...]

    @property
    def available(self) -> tuple[SuiteTask, ...]:
        return tuple(task for task in self.tasks if task.available)


def suite_names() -> list[str]:
    return sorted(path.stem for path in SUITE_DIR.glob("*.toml"))


def load_suite(name: str) -> Suite:
    """The shipped suite NAME; an unknown name or a broken file raises ConfigError naming the fix."""
    path = shipped_file(SUITE_DIR, name, "suite")
    raw = read_toml(path, "suite file")
    meta = raw.get("suite")
    if not isinstance(meta, dict) or not isinstance(meta.get("description"), str):
        raise ConfigError(f"suite file {path} needs a [suite] table with a description")
    entries = raw.get("task")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"suite file {path} has no [[task]] tables")
    tasks = tuple(_task(entry, path) for entry in entries)
    names = [task.name for task in tasks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"suite file {path} names task {repeated[0]!r} twice")
    return Suite(name, path, meta["description"], tasks)


def _task(entry: Any, path: Path) -> SuiteTask:
    """One [[task]] table, checked; every problem names the file and the task."""
    if not isinstance(entry, dict):
        raise ConfigError(f"suite file {path}: every [[task]] must be a table")
    where = f"suite file {path}, task {entry.get('name', '?')!r}"
    unknown = sorted(set(entry) - _TASK_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_TASK_KEYS))}")
    kinds: dict[str, tuple[type, ...]] = {
        "name": (str,),
        "env": (str,),
        "budget": (int,),
        "reference": (int, float),
        "reference_note": (str,),
    }
    for key, kind in kinds.items():
        if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
            raise ConfigError(
                f"{where}: {key} is required and must be a {'number' if float in kind else kind[0].__name__}"
            )
    if not TASK_NAME_RE.match(entry["name"]):
        raise ConfigError(f"{where}: a task name is letters, digits, '.', '_' and '-' (at most 60)")
    if entry["budget"] < 1 or not math.isfinite(entry["reference"]):
        raise ConfigError(f"{where}: budget must be >= 1 and reference a finite number")
    random = entry.get("random", MEASURED)
    if random != MEASURED and (not isinstance(random, int | float) or isinstance(random, bool)):
        raise ConfigError(f'{where}: random is "{MEASURED}" or a number')
    if random != MEASURED and random >= entry["reference"]:
        raise ConfigError(f"{where}: the random score {random} must be below the reference {entry['reference']}")
    memory = entry.get("memory")
    if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool) or memory < 0):
        raise ConfigError(f"{where}: memory is a number of steps >= 0")
    settings = entry.get("settings", {})
    if not isinstance(settings, dict) or any(name in settings for name in _OWN_FIELDS):
        raise ConfigError(f"{where}: settings is a table without {', '.join(_OWN_FIELDS)} (the task's own keys)")
    env_kwargs = entry.get("env_kwargs", {})
    if not isinstance(env_kwargs, dict):
        raise ConfigError(f"{where}: env_kwargs is a table, e.g. {{ cue_distance = 8 }}")
    return SuiteTask(
        name=entry["name"],
        env=entry["env"],
        budget=entry["budget"],
        reference=float(entry["reference"]),
        reference_note=entry["reference_note"],
        env_kwargs=dict(env_kwargs),
        random=None if random == MEASURED else float(random),
        memory=memory,
        requires=entry.get("requires"),
        settings=parse_mapping(settings),
    )


def all_suites() -> list[Suite]:
    return [load_suite(name) for name in suite_names()]


def known_task(env: str, env_kwargs: dict[str, Any] | None = None) -> SuiteTask | None:
    """The first shipped task on this env with these env arguments (its reference score), if any."""
    for suite in all_suites():
        for task in suite.tasks:
            if task.env == env and task.env_kwargs == dict(env_kwargs or {}):
                return task
    return None
