"""Nightly sweeps: one study per night (`<prefix>-YYYY-MM-DD`) from a TOML file, the history of nights,
and regression checks (score and speed of a reference configuration against the previous nights)."""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import shutil
import statistics
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from rnnppo.core.config import ConfigError
from rnnppo.results import stats
from rnnppo.results.report import comparison_table
from rnnppo.results.store import StudyData, config_key, load_study
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
    seeds: int = 3
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
    speed_drop: float = 0.25  # a fractional drop in env steps/s that counts as a regression
    settings: dict[str, Any] = field(default_factory=dict)


_HINTS = typing.get_type_hints(NightlySpec)


def load_spec(path: Path) -> NightlySpec:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"nightly file {path} does not exist; see sweeps/nightly.toml for an example") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"nightly file {path} is not valid TOML: {err}") from None
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
        _check_type(path, name, value)
    check_study_name(f"{nightly['study_prefix']}-2000-01-01")
    return NightlySpec(**nightly, settings=dict(data.get("settings", {})))


_KINDS = {str: "text", int: "a whole number", float: "a number"}
_AT_LEAST_ONE = ("steps", "seeds", "jobs", "trials", "history_nights")


def _check_type(path: Path, name: str, value: Any) -> None:
    """A [nightly] value of the field's type (ints count as floats), with whole-number counts >= 1."""
    if name == "space":
        return
    kind = next(k for k in typing.get_args(_HINTS[name]) or [_HINTS[name]] if k is not type(None))
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise ConfigError(f"{path}: [nightly] {name} = {value!r} must be {_KINDS[kind]}")
    if name in _AT_LEAST_ONE and value < 1:
        raise ConfigError(f"{path}: [nightly] {name} = {value!r} must be 1 or more")
    if kind is float and value < 0:
        raise ConfigError(f"{path}: [nightly] {name} = {value!r} must not be negative")


def night_date(override: str | None = None) -> str:
    text = override or os.environ.get(DATE_ENV) or dt.date.today().isoformat()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ConfigError(f"night date {text!r} is not YYYY-MM-DD") from None


def night_name(prefix: str, date: str) -> str:
    return check_study_name(f"{prefix}-{date}")


def nights(storage: optuna.storages.BaseStorage, prefix: str) -> list[tuple[str, str]]:
    """(date, study name) of every night of this prefix in the storage, oldest first."""
    out = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        name = summary.study_name
        if name.startswith(prefix + "-"):
            date = name[len(prefix) + 1 :]
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                continue
            out.append((date, name))
    return sorted(out)


@dataclass
class Night:
    date: str
    data: StudyData
    table: pd.DataFrame


def load_nights(storage: optuna.storages.BaseStorage, prefix: str, upto: str) -> list[Night]:
    loaded = []
    for date, name in nights(storage, prefix):
        if date > upto:
            continue
        data = load_study(storage, name)
        loaded.append(Night(date, data, comparison_table(data)))
    return loaded


def _row(night: Night, config: str | None) -> pd.Series | None:
    if night.table.empty:
        return None
    if config is None:
        return night.table.iloc[0]
    match = night.table[night.table["config"] == config]
    return None if match.empty else match.iloc[0]


def history_table(history: list[Night], reference: str | None) -> pd.DataFrame:
    """One row per night: best configuration, the reference's IQM with its interval, speed, commit."""
    rows = []
    previous_iqm = math.nan
    for night in history:
        best = _row(night, None)
        ref = _row(night, reference)
        provenance = night.data.study.user_attrs.get("rnnppo_provenance", {})
        git = provenance.get("git", {})
        commit = (git.get("commit") or "?")[:10] + ("+dirty" if git.get("dirty") else "")
        iqm = float(ref["iqm"]) if ref is not None else math.nan
        counts = night.data.counts
        rows.append(
            {
                "night": night.date,
                "trials": f"{counts['complete']} done"
                + (
                    f", {counts['running'] + counts['waiting']} unfinished"
                    if counts["running"] + counts["waiting"]
                    else ""
                ),
                "best": best["config"] if best is not None else "–",
                "reference": reference or "(best)",
                "iqm": iqm,
                "ci": (
                    f"[{ref['ci_low']:.3g}, {ref['ci_high']:.3g}]"
                    if ref is not None and ref["ci_meaningful"]
                    else "n/a"
                ),
                "change": iqm - previous_iqm,
                "steps_per_s": float(ref["steps_per_s"]) if ref is not None else math.nan,
                "commit": commit,
                "torch": provenance.get("versions", {}).get("torch", "?"),
            }
        )
        previous_iqm = iqm
    return pd.DataFrame(rows)


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


def unchecked(history: list[Night], spec: NightlySpec, worker_errors: list[str]) -> list[str]:
    """Why tonight (the last night) could not be checked for regressions; empty when it could."""
    messages = [f"{error}; tonight's sweep did not finish" for error in worker_errors]
    tonight = history[-1] if history else None
    if tonight is None or tonight.data.counts["complete"] == 0:
        messages.append("no trial of tonight's sweep completed (see the failures above)")
    elif spec.reference is not None and _row(tonight, spec.reference) is None:
        messages.append(f"the reference configuration {spec.reference} has no finished trial tonight")
    return messages


def regressions(history: list[Night], spec: NightlySpec) -> list[str]:
    """Messages for tonight's (the last night's) regressions against the previous `history_nights`."""
    if len(history) < 2:
        return []
    tonight, before = history[-1], history[-1 - spec.history_nights : -1]
    ref = _row(tonight, spec.reference)
    if ref is None:
        return []
    config = ref["config"]
    mine = tonight.data.runs[tonight.data.runs["config"] == config]["final_return"]
    previous = [n for n in before if _row(n, config) is not None]
    if not previous:
        return []
    messages = []
    iqms = [float(_row(n, config)["iqm"]) for n in previous]
    median_night = previous[sorted(range(len(iqms)), key=lambda i: iqms[i])[len(iqms) // 2]]
    theirs = median_night.data.runs[median_night.data.runs["config"] == config]["final_return"]
    if stats.is_significantly_below(mine.to_numpy(), theirs.to_numpy(), "iqm", margin=spec.regression_margin):
        messages.append(
            f"score regression: {config} scored IQM {stats.iqm(mine):.4g} on {tonight.date}, "
            f"significantly below {stats.iqm(theirs):.4g} on {median_night.date} (the median of the "
            f"previous {len(previous)} nights)"
        )
    speeds = [float(_row(n, config)["steps_per_s"]) for n in previous]
    usual = statistics.median(speeds)
    now = float(ref["steps_per_s"])
    if usual > 0 and now < usual * (1 - spec.speed_drop):
        messages.append(
            f"speed regression: {config} ran at {now:,.0f} env steps/s on {tonight.date}, "
            f"{100 * (1 - now / usual):.0f}% below the median {usual:,.0f} of the previous "
            f"{len(previous)} nights (threshold {100 * spec.speed_drop:.0f}%)"
        )
    return messages


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
