"""SIGKILL of a whole sweep (coordinator and workers) at random moments and at chosen ones (while the
grid is queued, mid checkpoint write, mid storage transaction, between popping a trial and signing it),
then the same command again: finished trials keep their values and files, nothing runs twice, killed
trials are failed and retried, the report reads it all. (tests/sweeps/test_sweep_e2e.py kills once,
right after the first trial; these kill anywhere.)"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.harness import (
    Snapshot,
    check_resumed,
    kill,
    resume,
    snapshot,
    start,
    sweep_words,
    trials,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")


KILL_SEEDS = (0, 1, 5)  # kills 1.7 s, 0.3 s and 1.25 s after a run's first trial started
STEP_S = 0.003  # a trial (one seed) takes 0.8 s or more on any machine: each kill lands mid-grid


def trial_folders(out: Path, study: str) -> int:
    return len(list((out / study).glob("*"))) if (out / study).is_dir() else 0


def test_a_sweep_killed_at_random_moments_resumes_without_loss_or_repeats(tmp_path):
    study = "random"
    words = sweep_words(tmp_path, study, seeds=1, step_s=STEP_S)
    kept = Snapshot(finished={}, summaries={})
    landed = 0
    for seed in KILL_SEEDS:
        started = trial_folders(tmp_path, study)
        process = start(words)
        # The clock starts when this run has started a trial of its own (its worker is up); the kill
        # lands anywhere in the next 2 s: in training, evaluation, a file write or a storage write.
        wait_for(lambda started=started: trial_folders(tmp_path, study) > started, process, "a trial started")
        try:
            process.wait(timeout=random.Random(seed).uniform(0.0, 2.0))
        except subprocess.TimeoutExpired:
            landed += 1  # still running, as intended
        kill(process)
        now = snapshot(tmp_path, study)
        for number, finished in kept.finished.items():
            assert now.finished.get(number) == finished, f"kill {seed}: finished trial {number} changed"
        kept = Snapshot({**now.finished, **kept.finished}, {**now.summaries, **kept.summaries})
    assert landed == len(KILL_SEEDS), "every kill landed before its run ended"
    assert len(kept.finished) < 4, "the grid was not done"

    resume(tmp_path, study, seeds=1, step_s=STEP_S)
    check_resumed(tmp_path, study, kept, seeds=1)


def killed_at(tmp_path: Path, study: str, fault: str, marker: Path) -> None:
    """Run the sweep until the injected fault pauses it at `marker`, then SIGKILL the whole of it."""
    process = start(sweep_words(tmp_path, study), fault=f"{fault}:{marker}")
    wait_for(marker.exists, process, f"the pause at {fault}")
    kill(process)


def test_a_sweep_killed_mid_queueing_mid_checkpoint_and_mid_storage_write_resumes_each_time(tmp_path):
    study = "paused"
    # 1. While the study is created, between queueing its first and second grid point.
    killed_at(tmp_path, study, "pause-commit:enqueue:2", tmp_path / "queueing")
    assert len(trials(tmp_path, study)) == 1, "one grid point was queued when the kill came"

    # 2. Mid checkpoint write: the third model.pt (trial 1's first seed) has its temp file, not its rename.
    killed_at(tmp_path, study, "pause-write:model.pt:3", tmp_path / "checkpoint")
    first = snapshot(tmp_path, study)
    assert len(first.finished) == 1
    (half_written,) = list((tmp_path / study).glob("*/0/.model.pt.*.tmp"))
    assert not (half_written.parent / "model.pt").exists()
    killed_in_checkpoint = int(half_written.parent.parent.name)

    # 3. Mid storage write: the transaction that marks this run's first finished trial complete.
    killed_at(tmp_path, study, "pause-commit:complete:1", tmp_path / "commit")
    second = snapshot(tmp_path, study)
    assert second.finished == first.finished, "the trial was not complete: its commit never happened"
    (unfinished,) = [t for t in trials(tmp_path, study) if t.state.name == "RUNNING"]
    # Its files are all there, but the storage is the source of truth: the trial did not finish.
    assert len(list((tmp_path / study / str(unfinished.number)).glob("*/summary.json"))) == 2

    # 4. Between popping a queued trial and signing it: running, with no worker and no heartbeat.
    killed_at(tmp_path, study, "pause-popped:1", tmp_path / "popped")
    (unsigned,) = [t for t in trials(tmp_path, study) if t.state.name == "RUNNING" and "worker" not in t.user_attrs]

    # The same command again: the grid is queued whole, the killed trials are failed and run again (the
    # unsigned one after the heartbeat grace period: another machine's worker could have just popped it).
    resume(tmp_path, study)
    failed = check_resumed(tmp_path, study, second)
    assert sorted(t.number for t in failed) == sorted([killed_in_checkpoint, unfinished.number, unsigned.number])
