"""A retried trial takes over the seed runs its killed attempts left: resumed from their checkpoints, or
kept whole when they had finished, instead of trained again from the start.

A killed trial is failed and queued again as a new trial (a new number), which records the one it
retries (`retry_of`, or Optuna's `retry_history` for a heartbeat retry). Its seed runs are found in
those earlier attempts' folders, `<study>/<earlier trial>/<seed>/`, by trial and seed, and used only
when their config.json holds exactly this configuration. The folder is moved (one rename) to
`<study>/<this trial>/<seed>/`, so the results layout stays one trial per folder, and a retry of the
retry finds it there. Only a finished (failed) attempt's folders are taken: no live worker writes to
them. This needs the results folder that the killed worker wrote, i.e. the same machine or a shared
filesystem; elsewhere the seed runs start again.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

import optuna

from rnnppo.core.runs import files as run_files


class Adopted(Enum):
    NOTHING = "nothing"  # no earlier run of this seed: train from the start
    RESUME = "resume"  # a killed run, moved here: train(resume=True) goes on from its checkpoint
    FINISHED = "finished"  # a finished run, moved here: its summary and metrics are the seed's result


def earlier_attempts(trial: optuna.Trial) -> list[int]:
    """The numbers of the trials this one retries, most recent first (a retry of a retry reaches back)."""
    by_number = {t.number: t for t in trial.study.get_trials(deepcopy=False)}
    found: list[int] = []
    pending = [trial.number]
    while pending:
        current = by_number.get(pending.pop(0))
        if current is None:
            continue
        links = [current.user_attrs.get("retry_of"), current.system_attrs.get("failed_trial")]
        links += list(reversed(current.system_attrs.get("retry_history") or []))
        for number in links:
            if isinstance(number, int) and number != trial.number and number not in found:
                found.append(number)
                pending.append(number)
    return [n for n in found if n in by_number and by_number[n].state.is_finished()]


def _same_config(run_dir: Path, config: dict[str, Any]) -> bool:
    try:
        stored = run_files.read_json(run_dir / "config.json").get("config")
    except run_files.RunFileError:
        return False
    return stored == json.loads(json.dumps(config))


def adopt(study_folder: Path, trial: optuna.Trial, seed: int, config: dict[str, Any], run_dir: Path) -> Adopted:
    """Move the most advanced earlier run of `seed` with this config to `run_dir` and say what it is."""
    if run_dir.exists():
        return Adopted.NOTHING
    candidates = []
    for number in earlier_attempts(trial):
        folder = study_folder / str(number) / str(seed)
        if folder.is_dir() and _same_config(folder, config):
            candidates.append(folder)
    if not candidates:
        return Adopted.NOTHING
    best = max(candidates, key=_progress)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(best, run_dir)
    except FileNotFoundError:  # another retry of the same attempt took it first: this one starts afresh
        return Adopted.NOTHING
    return Adopted.FINISHED if (run_dir / "summary.json").exists() else Adopted.RESUME


def _progress(folder: Path) -> tuple[int, int]:
    """Finished first, then the one with a checkpoint (its mtime orders among several)."""
    from rnnppo.core.runs.checkpoint import CHECKPOINT_FILE  # here: its module imports torch

    if (folder / "summary.json").exists():
        return (2, 0)
    checkpoint = folder / CHECKPOINT_FILE
    return (1, checkpoint.stat().st_mtime_ns) if checkpoint.exists() else (0, 0)
