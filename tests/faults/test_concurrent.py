"""Two sweeps writing the same SQLite study at once (SQLite's file lock between them): both finish,
and every grid point is complete exactly once; no trial is lost, failed or left behind.
(tests/sweeps/test_nightly.py runs one night twice at once through `rnnppo nightly`.)"""

from __future__ import annotations

import subprocess

from optuna.trial import TrialState

from rnnppo.cli.app import app
from tests.faults.harness import POINTS, point, runner, start, sweep_words, trials, wait_for

STEP_S = 0.005  # trials of 2.5 s or more: the two sweeps' workers take trials from the queue side by side


def test_two_sweeps_on_one_sqlite_study_at_once_both_finish_and_lose_nothing(tmp_path):
    words = sweep_words(tmp_path, "shared", step_s=STEP_S)
    other = start(words, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for((tmp_path / "rnnppo.db").exists, other, "the other sweep opened the storage")
    # This one in-process, the other a separate command, at once; both with the heartbeat the harness
    # gives `start` (workers with different heartbeat settings would take each other's trials for dead).
    here = runner.invoke(app, words, env={"RNNPPO_HEARTBEAT_S": "1"})
    output, _ = other.communicate(timeout=240)
    assert here.exit_code == 0, here.output
    assert other.returncode == 0, output
    for text in (here.output, output):
        assert "Traceback" not in text and "locked" not in text, text

    counted = [t for t in trials(tmp_path, "shared") if t.user_attrs.get("rnnppo_role") != "spare"]
    assert sorted(point(t) for t in counted if t.state == TrialState.COMPLETE) == POINTS
    assert [t.number for t in counted if t.state != TrialState.COMPLETE] == [], "nothing failed or left behind"
    workers = {tuple(sorted(t.user_attrs["worker"].items())) for t in counted}
    assert len(workers) == 2, "both sweeps ran trials"
