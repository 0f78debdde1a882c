"""One night's whole workflow as a Python call: tonight's sweep → its report → the history of nights → the
regression decision. `rnnppo nightly` and `rnnppo.nightly(...)` both call `run_night`; neither holds logic
of its own."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from optuna.trial import TrialState

from rnnppo.core.config import format_value
from rnnppo.core.runs import files as run_files
from rnnppo.nightly import config as night_config
from rnnppo.nightly import history as night_history
from rnnppo.results import plots
from rnnppo.results.render import render
from rnnppo.results.report import build_report
from rnnppo.results.studies import load_study, open_readonly
from rnnppo.storage.race import RaceSummary
from rnnppo.sweeps import runner
from rnnppo.sweeps.spec import build_spec
from rnnppo.sweeps.study import SweepSpec


@dataclass
class NightOutcome:
    """What a night found. `exit_code` is the command's: 0 good, 1 a regression (when failing on one) or a
    night that could not be checked, 128 + N stopped by signal N."""

    night: str
    study_name: str
    complete: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    stop_signal: int = 0
    report_paths: tuple[Path, ...] = ()
    race: RaceSummary | None = None
    """A raced night's race: per configuration its seeds and why it stopped."""
    history: pd.DataFrame | None = None
    commit: str | None = None
    unchecked: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)
    too_few_seeds: str | None = None
    not_compared: list[str] = field(default_factory=list)
    """Previous nights tonight's score is not compared with: they share too few checked seeds with it."""
    regressions: list[str] = field(default_factory=list)
    previous_nights: int = 0
    """Previous comparable nights tonight's score was compared with."""
    exit_code: int = 0

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.too_few_seeds)


def night_spec(config_path: Path, date: str | None = None) -> tuple[night_config.NightlySpec, str, SweepSpec]:
    """Read and check the nightly file: (its contents, tonight's date, tonight's sweep). Bad input raises an
    InputError before anything runs or is written."""
    spec_file = night_config.load_spec(config_path)
    tonight = night_config.night_date(date)
    name = night_config.night_name(spec_file.study_prefix, tonight)
    words = [*spec_file.space, *(f"{k}={format_value(v)}" for k, v in spec_file.settings.items())]
    spec = build_spec(words, dataclasses.replace(spec_file.request, study=name))
    night_config.check_reference(spec_file, spec.space, config_path)
    return spec_file, tonight, spec


def run_night(
    config_path: Path,
    date: str | None = None,
    fail_on_regression: bool = False,
    on_start: Callable[[str, str], None] | None = None,
) -> NightOutcome:
    """Run (or join, or continue) tonight's sweep, write its report, and decide. `on_start(night, study)` is
    called once the inputs are checked, before the sweep starts."""
    spec_file, tonight, spec = night_spec(Path(config_path), date)
    results = Path(spec_file.results)
    if on_start is not None:
        on_start(tonight, spec.study_name)
    sweep = runner.run(spec)
    outcome = NightOutcome(
        night=tonight,
        study_name=spec.study_name,
        complete=sweep.count(TrialState.COMPLETE),
        failures=list(sweep.failures),
        worker_errors=list(sweep.worker_errors),
        interrupted=sweep.interrupted,
        stop_signal=sweep.stop_signal,
    )
    if sweep.interrupted:  # no regression check on a partial night: running it again continues it
        outcome.exit_code = 128 + sweep.stop_signal
        return outcome
    storage = open_readonly(spec.storage_url)
    outcome.report_paths, outcome.race = _write_report(storage, spec.study_name, results)
    history = night_history.load_nights(storage, spec_file.study_prefix, upto=tonight)
    outcome.history = night_history.history_table(history, spec_file.reference)
    outcome.commit = night_history.commit_of(history[-1]) if history else None
    # A night that could not be checked is no good night: nothing finished, a worker died, or the reference
    # configuration did not finish.
    outcome.unchecked = night_history.unchecked(history, spec_file, outcome.worker_errors)
    previous, outcome.settings_changed = night_history.comparable(history, spec_file)
    check = night_history.score_check(history, spec_file)
    outcome.previous_nights = len(previous) if check is None else len(check.tested)
    outcome.too_few_seeds = None if outcome.unchecked else night_history.too_few_seeds(history, spec_file)
    outcome.not_compared = night_history.short_nights(history, spec_file)
    outcome.regressions = night_history.regressions(history, spec_file)
    if outcome.unchecked or (outcome.regressed and fail_on_regression):
        outcome.exit_code = 1
    return outcome


def _write_report(storage, study_name: str, results: Path) -> tuple[tuple[Path, Path], RaceSummary | None]:
    """The night's report.md and report.html, and its race (None: the night was not raced)."""
    report = build_report(load_study(storage, study_name, results))
    folder = results / study_name
    folder.mkdir(parents=True, exist_ok=True)
    run_files.atomic_write_bytes(folder / "report.md", render(report, "markdown").encode())
    with tempfile.TemporaryDirectory(prefix="rnnppo-nightly-") as scratch:  # the PNGs live on inside the HTML
        images = plots.write_all(report, Path(scratch))
        run_files.atomic_write_bytes(folder / "report.html", render(report, "html", images).encode())
    return (folder / "report.md", folder / "report.html"), report.race
