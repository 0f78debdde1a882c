"""What the fault tests share: tiny sweep commands, a way to start and kill a sweep, and the invariants a
resumed sweep must keep (every grid point complete exactly once, finished trials and their files
untouched, the killed trial failed and retried, a report that reads everything back)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState

from rnnppo.cli.app import app
from rnnppo.core.runs import files as run_files
from rnnppo.errors import InputError
from rnnppo.results.studies import open_readonly
from tests.shared import TINY, runner

CLI = [sys.executable, "-c", "from rnnppo.cli.app import main; main()"]
GRID = ["seq_len=2,4", "cell=4,8"]
POINTS = [(2, 4), (2, 8), (4, 4), (4, 8)]
INJECT = ["--wrapper", "tests.faults.inject:Passthrough"]


def sweep_words(
    out: Path,
    study: str,
    *,
    steps: int = 256,
    seeds: int = 2,
    step_s: float = 0.0,
    extra: tuple[str, ...] = (),
    grid: tuple[str, ...] = tuple(GRID),
) -> list[str]:
    """`rnnppo sweep` arguments for the 2x2 grid (or `grid`) on a small CueRecall, with the fault-injection
    wrapper; with `step_s`, on an env whose steps take that long (trials that take as long on any machine)."""
    env = ["rnnppo/CueRecall-v0", "env.cue_distance=2"]
    if step_s:
        env = ["tests.faults.faulty_env:Faulty", f"env.step_s={step_s}"]
    return [
        "sweep",
        *grid,
        *TINY,
        "--env",
        *env,
        "--steps",
        str(steps),
        "--seeds",
        str(seeds),
        *INJECT,
        "--out",
        str(out),
        "--study",
        study,
        *extra,
    ]


def resume(out: Path, study: str, **options):
    """Run the same sweep command again, in this process, to the end; its workers check heartbeats every
    second (a trial a killed worker left unsigned is failed after 4 s, not 20) and --timeout guards
    against a worker that waits forever (it is no part of the study: the same command otherwise)."""
    words = sweep_words(out, study, extra=("--timeout", "120"), **options)
    result = runner.invoke(app, words, env={"RNNPPO_HEARTBEAT_S": "1"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def storage(out: Path) -> str:
    return f"sqlite:///{out / 'rnnppo.db'}"


def trials(out: Path, study: str) -> list[FrozenTrial]:
    """The study's trials; none when it (or its storage) was not created yet. (Opened as rnnppo opens a
    storage to read, which waits out a sweep creating the tables at that moment.)"""
    if not (out / "rnnppo.db").exists():
        return []
    try:
        store = open_readonly(storage(out))
    except InputError:  # the sweep is still creating it: empty, or its tables not yet committed
        return []
    if study not in optuna.get_all_study_names(store):
        return []
    return optuna.load_study(study_name=study, storage=store).get_trials()


def complete(out: Path, study: str) -> list[FrozenTrial]:
    return [t for t in trials(out, study) if t.state == TrialState.COMPLETE]


def point(trial: FrozenTrial) -> tuple:
    return (trial.params["max_seq_len"], trial.params["lstm_cell_size"])


def start(words: list[str], fault: str | None = None, **popen) -> subprocess.Popen:
    """Start `rnnppo WORDS` in its own process group (so a kill reaches its workers too)."""
    env = {k: v for k, v in os.environ.items() if k != "RNNPPO_TEST_FAULT"}
    if fault is not None:
        env["RNNPPO_TEST_FAULT"] = fault
    env["RNNPPO_HEARTBEAT_S"] = "1"  # a worker waiting for another's last trial looks every second, not 5
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen([*CLI, *words], env=env, start_new_session=True, **popen)


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 120, poll: float = 0.05
) -> None:
    """Check `condition` every `poll` seconds, or after 4 times as long as the check took (up to 0.5 s): a check
    that reads the storage (~50 ms of CPU to open it) then leaves the sweep it waits on most of a core."""
    deadline = time.monotonic() + timeout
    while True:
        began = time.monotonic()
        if condition():
            return
        took = time.monotonic() - began
        if process.poll() is not None:
            pytest.fail(f"the sweep exited (code {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            kill(process)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(max(poll, min(4 * took, 0.5)))


def kill(process: subprocess.Popen, signum: int = signal.SIGKILL) -> None:
    """Send `signum` to the whole process group: the coordinator and its workers."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    if signum == signal.SIGKILL:
        process.wait(timeout=30)


@dataclass
class Snapshot:
    """What was finished when the sweep was killed."""

    finished: dict[int, tuple]  # trial number -> (grid point, value, datetime_complete)
    summaries: dict[Path, int]  # summary.json of a finished trial -> its mtime in ns


def snapshot(out: Path, study: str) -> Snapshot:
    done = complete(out, study)
    finished = {t.number: (point(t), t.value, t.datetime_complete) for t in done}
    summaries = {
        path: path.stat().st_mtime_ns
        for number in finished
        for path in (out / study / str(number)).glob("*/summary.json")
    }
    return Snapshot(finished, summaries)


def check_resumed(out: Path, study: str, before: Snapshot, seeds: int = 2) -> list[FrozenTrial]:
    """The invariants after a killed sweep was run again to the end; returns the failed trials."""
    everything = trials(out, study)
    done = [t for t in everything if t.state == TrialState.COMPLETE]
    states = [(t.number, t.state.name, t.params, t.user_attrs.get("retry_of")) for t in everything]
    assert sorted(point(t) for t in done) == POINTS, f"every grid point complete exactly once: {states}"
    left = [t.number for t in everything if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not left, f"trials {left} were left running or queued"
    for number, kept in before.finished.items():
        trial = next(t for t in everything if t.number == number)
        assert (point(trial), trial.value, trial.datetime_complete) == kept, f"finished trial {number} changed"
    for path, mtime in before.summaries.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten: a finished trial ran twice"
    failed = [t for t in everything if t.state == TrialState.FAIL]
    retried = {t.user_attrs.get("retry_of") for t in everything} | {
        t.system_attrs.get("failed_trial") for t in everything
    }
    for trial in failed:
        assert trial.number in retried, f"failed trial {trial.number} was not queued again"
    for trial in done:
        for seed in range(seeds):
            folder = out / trial.user_attrs[f"run_{seed}"]["run_dir"]
            assert run_files.read_json(folder / "summary.json")["seed"] == seed
            assert len(pd.read_csv(folder / "metrics.csv")) >= 1
            assert "state_dict" in run_files.load_checkpoint(folder / "model.pt")
    report = runner.invoke(app, ["report", str(out), "--study", study, "--format", "csv"])
    assert report.exit_code == 0, report.output
    runs = pd.read_csv(io.StringIO(report.stdout))
    assert len(runs) == len(POINTS) * seeds, "the report reads every finished run back, once"
    assert sorted(set(runs["trial"])) == sorted(t.number for t in done)
    return failed
