"""A nightly sweep's TOML file: reading and checking it, the night's date and study name, the reference
configuration, and the crontab/systemd lines that schedule it."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import shutil
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnppo.core.config import coerce_as, read_toml
from rnnppo.errors import ConfigError
from rnnppo.results.studies import config_key
from rnnppo.sweeps.space import SearchSpace
from rnnppo.sweeps.study import check_study_name

DATE_ENV = "RNNPPO_NIGHTLY_DATE"  # tests and re-runs of a past night set the date this way


@dataclass(frozen=True)
class NightlySpec:
    """What `[nightly]` in the TOML file says; `settings` are NAME = VALUE config overrides."""

    env: str
    space: tuple[str, ...]
    study_prefix: str
    steps: int | None = None
    seeds: int = 6
    jobs: int = 1
    sampler: str = "auto"
    pruner: str = "none"
    trials: int | None = None
    time_budget_s: float | None = None
    storage: str | None = None
    results: str = "results/nightly"
    reference: str | None = None  # a configuration as the report names it, e.g. "max_seq_len=8"; default: best
    history_nights: int = 7
    regression_margin: float = 0.0  # a score drop must exceed this (beyond its interval) to count
    speed_drop: float = 0.25  # a fractional rise in CPU time per env step (beyond the seed spread) that counts
    settings: dict[str, Any] = field(default_factory=dict)


_HINTS = typing.get_type_hints(NightlySpec)


def load_spec(path: Path) -> NightlySpec:
    data = read_toml(path, "nightly file", hint="; see examples/nightly.toml for an example")
    unknown_tables = set(data) - {"nightly", "settings"}
    if unknown_tables or not isinstance(data.get("nightly"), dict):
        name = sorted(unknown_tables)[0] if unknown_tables else ""
        close = difflib.get_close_matches(name, ["nightly", "settings"], n=1)
        raise ConfigError(
            f"{path} needs a [nightly] table (and optionally [settings]); "
            f"unexpected: {', '.join(sorted(unknown_tables)) or 'no [nightly] table'}"
            + (f"; did you mean [{close[0]}]?" if close else "")
        )
    if not isinstance(data.get("settings", {}), dict):
        raise ConfigError(f"{path}: [settings] must be a table of NAME = VALUE")
    nightly = dict(data["nightly"])
    known = set(NightlySpec.__dataclass_fields__) - {"settings"}
    extra = set(nightly) - known
    if extra:
        name = sorted(extra)[0]
        close = difflib.get_close_matches(name, sorted(known), n=1)
        raise ConfigError(
            f"{path}: unknown [nightly] key '{name}'" + (f"; did you mean '{close[0]}'?" if close else "")
        )
    for required in ("env", "space", "study_prefix"):
        if required not in nightly:
            raise ConfigError(f"{path}: [nightly] needs '{required}'")
    if not isinstance(nightly["space"], list) or not all(isinstance(w, str) for w in nightly["space"]):
        raise ConfigError(f'{path}: space must be a list of NAME=SPACE strings, e.g. ["seq_len=4,8,16"]')
    nightly["space"] = tuple(nightly["space"])
    for name, value in nightly.items():
        if name != "space":
            nightly[name] = _checked(path, name, value)
    check_study_name(f"{nightly['study_prefix']}-2000-01-01")
    return NightlySpec(**nightly, settings=dict(data.get("settings", {})))


_AT_LEAST_ONE = ("steps", "seeds", "jobs", "trials", "history_nights")
_NOT_NEGATIVE = ("time_budget_s", "regression_margin", "speed_drop")


def _checked(path: Path, name: str, value: Any) -> Any:
    """A [nightly] value coerced to its field's type by the settings' own rule, counts >= 1."""
    try:
        value = coerce_as(_HINTS[name], f"[nightly] {name}", value)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if name in _AT_LEAST_ONE and value is not None and value < 1:
        raise ConfigError(f"{path}: [nightly] {name}={value!r} must be 1 or more")
    if name in _NOT_NEGATIVE and value is not None and value < 0:
        raise ConfigError(f"{path}: [nightly] {name}={value!r} must not be negative")
    return value


def night_date(override: str | None = None) -> str:
    text = override or os.environ.get(DATE_ENV) or dt.date.today().isoformat()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ConfigError(f"night date {text!r} is not YYYY-MM-DD") from None


def night_name(prefix: str, date: str) -> str:
    return check_study_name(f"{prefix}-{date}")


def check_reference(spec: NightlySpec, space: SearchSpace, path: Path) -> None:
    """The reference must name a configuration of the space as the tables name it (a grid's points are
    known before the sweep; for ranges, at least the names must be the swept ones)."""
    if spec.reference is None:
        return
    swept = list(space.swept_names)
    if space.is_grid:
        known = [config_key(point, swept) for point in space.grid_points()]
        if spec.reference in known:
            return
        close = difflib.get_close_matches(spec.reference, known, n=1, cutoff=0.3)
        shown = "; ".join(known[:6]) + ("; ..." if len(known) > 6 else "")
        raise ConfigError(
            f"{path}: reference = {spec.reference!r} is no configuration of the space ({shown})"
            + (f"; did you mean {close[0]!r}?" if close else "")
        )
    names = [part.split("=", 1)[0].strip() for part in spec.reference.split(",")]
    if names != swept:
        example = ", ".join(f"{name}=VALUE" for name in swept)
        raise ConfigError(f"{path}: reference = {spec.reference!r} must name the swept settings as {example!r}")


def schedule_text(path: Path) -> str:
    """A crontab line and a systemd service + timer that run this nightly file at 02:00."""
    toml = Path(path).resolve()
    workdir = Path.cwd().resolve()
    executable = shutil.which("rnnppo") or str(Path(sys.executable).parent / "rnnppo")
    command = f"{executable} nightly {toml} --fail-on-regression"
    return f"""# crontab -e
0 2 * * * cd {workdir} && {command} >> {workdir}/nightly.log 2>&1

# ~/.config/systemd/user/rnnppo-nightly.service
[Unit]
Description=rnnppo nightly sweep ({toml.name})

[Service]
Type=oneshot
WorkingDirectory={workdir}
ExecStart={command}

# ~/.config/systemd/user/rnnppo-nightly.timer
[Unit]
Description=Run the rnnppo nightly sweep every night

[Timer]
OnCalendar=*-*-* 02:00:00
Persistent=true

[Install]
WantedBy=timers.target

# enable with: systemctl --user daemon-reload && systemctl --user enable --now rnnppo-nightly.timer
"""
