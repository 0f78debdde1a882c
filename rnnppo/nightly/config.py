"""A nightly sweep's TOML file: reading and checking it, the night's date and study name, the reference
configuration, and the crontab/systemd lines that schedule it."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import shlex
import shutil
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnppo.core.config import coerce_as, read_toml
from rnnppo.errors import ConfigError, InputError
from rnnppo.results.studies import config_key
from rnnppo.sweeps.request import SweepRequest, request_from
from rnnppo.sweeps.space import SearchSpace
from rnnppo.sweeps.study import check_study_name

DATE_ENV = "RNNPPO_NIGHTLY_DATE"  # tests and re-runs of a past night set the date this way


@dataclass(frozen=True)
class NightlySpec:
    """What `[nightly]` in the TOML file says. The sweep's own options (env, steps, seeds, jobs, sampler,
    storage, out, timeout, ...) are `rnnppo sweep`'s, by the same names (`request`); the keys below are the
    night's own. `settings` are NAME = VALUE config overrides."""

    space: tuple[str, ...]
    study_prefix: str
    request: SweepRequest = SweepRequest()
    reference: str | None = None  # a configuration as the report names it, e.g. "max_seq_len=8"; default: best
    history_nights: int = 7
    regression_margin: float = 0.0  # a score drop must exceed this (beyond its interval) to count
    speed_drop: float = 0.25  # a fractional rise in CPU time per env step (beyond the seed spread) that counts
    settings: dict[str, Any] = field(default_factory=dict)

    # the sweep's options as the history and regression code read them
    env = property(lambda self: self.request.env[0] if len(self.request.env) == 1 else None)
    steps = property(lambda self: self.request.steps)
    seeds = property(lambda self: int(str(self.request.seeds).split("..")[-1]))  # a raced night: its MAX
    jobs = property(lambda self: self.request.jobs)
    trials = property(lambda self: self.request.trials)
    sampler = property(lambda self: self.request.sampler)
    pruner = property(lambda self: self.request.pruner)
    storage = property(lambda self: self.request.storage)
    results = property(lambda self: str(self.request.out))
    time_budget_s = property(lambda self: self.request.timeout)


_HINTS = typing.get_type_hints(NightlySpec)
NIGHT_KEYS = ("space", "study_prefix", "reference", "history_nights", "regression_margin", "speed_drop")
"""The [nightly] keys that are the night's own; every other key is a `rnnppo sweep` option."""
RENAMED = {"time_budget_s": "timeout", "results": "out"}
"""Keys of nightly files written before the options were declared once: still read, as these options."""
DEFAULT_OUT = "results/nightly"
DEFAULT_SEEDS = "6"  # a night's score check needs 6 seeds (the exact paired test's floor for two nights)
NOT_FOR_A_NIGHT = ("study",)  # each night's study is <study_prefix>-<date>


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
    nightly = {RENAMED.get(key, key): value for key, value in data["nightly"].items()}
    shown = {RENAMED[key]: key for key in data["nightly"] if key in RENAMED}
    sweep_keys = set(SweepRequest.__dataclass_fields__) - set(NOT_FOR_A_NIGHT)
    known = set(NIGHT_KEYS) | sweep_keys
    extra = set(nightly) - known
    if extra:
        name = sorted(extra)[0]
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = "; each night's study is study_prefix-DATE" if name in NOT_FOR_A_NIGHT else ""
        raise ConfigError(
            f"{path}: unknown [nightly] key '{name}'" + (f"; did you mean '{close[0]}'?" if close else "") + hint
        )
    for required in ("env", "space", "study_prefix"):
        if required not in nightly:
            raise ConfigError(f"{path}: [nightly] needs '{required}'")
    if not isinstance(nightly["space"], list) or not all(isinstance(w, str) for w in nightly["space"]):
        raise ConfigError(f'{path}: space must be a list of NAME=SPACE strings, e.g. ["seq_len=4,8,16"]')
    options = {key: nightly.pop(key) for key in list(nightly) if key in sweep_keys}
    options.setdefault("out", DEFAULT_OUT)
    options.setdefault("seeds", DEFAULT_SEEDS)
    _check_seeds(path, options["seeds"])
    try:
        request = request_from(options, f"{path}: [nightly]", shown)
    except InputError as err:
        raise ConfigError(str(err)) from None
    own = {name: _checked(path, name, value) for name, value in nightly.items() if name != "space"}
    check_study_name(f"{own['study_prefix']}-2000-01-01")
    return NightlySpec(space=tuple(nightly["space"]), request=request, **own, settings=dict(data.get("settings", {})))


def _check_seeds(path: Path, value: Any) -> None:
    """[nightly] seeds: a count N >= 1 (or MIN..MAX, as on the command line)."""
    parts = str(value).split("..")
    if isinstance(value, bool | float) or len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"{path}: [nightly] seeds={value!r} is not an integer (N) or a range (MIN..MAX)")
    if len(parts) == 1 and int(parts[0]) < 1:
        raise ConfigError(f"{path}: [nightly] seeds={value!r} must be 1 or more")


_AT_LEAST_ONE = ("history_nights",)
_NOT_NEGATIVE = ("regression_margin", "speed_drop")


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


def _cron_words(*words: str) -> str:
    """Shell-quoted for cron's /bin/sh; a `%` ends cron's command (the rest becomes its input) unless escaped."""
    return " ".join(shlex.quote(word).replace("%", "\\%") for word in words)


def _systemd_word(word: str) -> str:
    """One word of a systemd ExecStart= line: `%` (specifiers) and `$` (variables) doubled, backslashes and
    quotes escaped, and the word double-quoted when it holds a space or a quote."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"' if any(char.isspace() or char in "\"'" for char in word) else escaped


def schedule_text(path: Path) -> str:
    """A crontab line and a systemd service + timer that run this nightly file at 02:00 (paths quoted for
    each: a space, `%` or `$` in them keeps its meaning)."""
    toml = Path(path).resolve()
    workdir = Path.cwd().resolve()
    executable = shutil.which("rnnppo") or str(Path(sys.executable).parent / "rnnppo")
    words = (executable, "nightly", str(toml), "--fail-on-regression")
    log = _cron_words(str(workdir / "nightly.log"))
    cron = f"cd {_cron_words(str(workdir))} && {_cron_words(*words)} >> {log} 2>&1"
    systemd = " ".join(_systemd_word(word) for word in words)
    unit_dir = str(workdir).replace("%", "%%")  # WorkingDirectory= takes the rest of the line as the path
    description = toml.name.replace("%", "%%")
    return f"""# crontab -e
0 2 * * * {cron}

# ~/.config/systemd/user/rnnppo-nightly.service
[Unit]
Description=rnnppo nightly sweep ({description})

[Service]
Type=oneshot
WorkingDirectory={unit_dir}
ExecStart={systemd}

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
