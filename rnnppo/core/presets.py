"""Presets: tuned configs shipped inside the package (rnnppo/presets/NAME.toml), each with its measured score.

A preset file is a config TOML (`name = value` settings, as `--config` reads them) plus one `[preset]`
table saying what it is for and what it reached:

    [preset]
    description = "..."      # one line
    score = "..."            # what it reaches: statistic, seeds, evaluation, budget, machine, date
    budget = 100000          # env steps the score was measured at (the preset's total_steps)
    seeds = [0, 1, 2, 3, 4]
    reproduce = "..."        # the command that measured it

`rnnppo train --preset NAME` / `sweep --preset NAME` use the settings as the base config, under any
--config file and NAME=VALUE words.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnppo.core.config import ConfigError, read_toml, settings_from_toml

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
_REQUIRED = {"description": str, "score": str, "budget": int, "seeds": list, "reproduce": str}


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    settings: dict[str, Any]  # full setting name -> typed value, as load_toml gives them
    description: str
    score: str
    budget: int
    seeds: tuple[int, ...]
    reproduce: str

    @property
    def env(self) -> str:
        return str(self.settings.get("env", ""))


def preset_names() -> list[str]:
    return sorted(path.stem for path in PRESET_DIR.glob("*.toml"))


def shipped_file(folder: Path, name: str, kind: str) -> Path:
    """folder/NAME.toml of a file shipped in the package (a preset, a suite); an unknown name raises a
    ConfigError with the closest name and the command that lists them (`rnnppo {kind}s`)."""
    path = folder / f"{name}.toml"
    if not name or "/" in name or not path.is_file():
        names = sorted(found.stem for found in folder.glob("*.toml"))
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"unknown {kind} '{name}'; {hint}`rnnppo {kind}s` lists them ({', '.join(names)})")
    return path


def load_preset(name: str) -> Preset:
    """The shipped preset NAME; an unknown name or a broken file raises ConfigError naming the fix."""
    path = shipped_file(PRESET_DIR, name, "preset")
    raw = read_toml(path)
    meta = raw.get("preset")
    if not isinstance(meta, dict):
        raise ConfigError(f"preset file {path} has no [preset] table")
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise ConfigError(f"preset file {path}: [preset] {key} must be a {kind.__name__}")
    settings = settings_from_toml(raw)
    if "env" not in settings:
        raise ConfigError(f"preset file {path} does not set env")
    return Preset(
        name=name,
        path=path,
        settings=settings,
        description=meta["description"],
        score=meta["score"],
        budget=meta["budget"],
        seeds=tuple(int(s) for s in meta["seeds"]),
        reproduce=meta["reproduce"],
    )


def all_presets() -> list[Preset]:
    return [load_preset(name) for name in preset_names()]


def presets_by_env() -> dict[str, list[str]]:
    """env id -> names of the presets that train on it."""
    out: dict[str, list[str]] = {}
    for preset in all_presets():
        out.setdefault(preset.env, []).append(preset.name)
    return out
