"""A sweep over two tiny tasks end to end: every configuration runs on every task on the same seeds, the
random policy is measured per task, and `rnnppo report` prints per-task tables beside the cross-task
aggregate (normalised IQM with its interval, probability of improvement)."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.storage.contract import BASELINE_ATTR
from tests.shared import TINY, runner
from tests.sweeps.test_tasks import tiny_suite  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def test_a_suite_sweep_runs_on_every_task_and_reports_the_cross_task_aggregate(tiny_suite, tmp_path, wide_terminal):  # noqa: F811
    out = tmp_path / "results"
    words = ["sweep", "seq_len=1,4", *TINY, "--suite", tiny_suite, "--steps", "64", "--seeds", "3", "--out", str(out)]
    result = runner.invoke(app, words)
    assert result.exit_code == 0, result.output
    assert "across tasks" in result.output and "probability of improvement" in result.output

    study = optuna.load_study(study_name="tiny--max_seq_len", storage=f"sqlite:///{out / 'rnnppo.db'}")
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert sorted((t.params["task"], t.params["max_seq_len"]) for t in done) == [
        ("cue-2", 1),
        ("cue-2", 4),
        ("repeat-1", 1),
        ("repeat-1", 4),
    ]
    assert all(len(t.user_attrs["scores"]) == 3 for t in done)  # the same three seeds everywhere
    baselines = study.user_attrs[BASELINE_ATTR]["tasks"]
    assert set(baselines) == {"cue-2", "repeat-1"}
    assert abs(baselines["repeat-1"]["mean_return"] - 24.5) < 4 * baselines["repeat-1"]["sem_return"]

    table = runner.invoke(app, ["report", str(out)])
    assert table.exit_code == 0, table.output
    for title in ("tasks", "across tasks", "probability of improvement", "cue-2: comparison", "repeat-1: comparison"):
        assert title in table.output
    assert "verdict across tasks" in table.output

    payload = json.loads(runner.invoke(app, ["report", str(out), "--format", "json"]).stdout)
    assert len(payload["aggregate"]) == 2 and {row["tasks"] for row in payload["aggregate"]} == {2}
    assert {row["runs"] for row in payload["aggregate"]} == {6}
    assert len(payload["improvement"]) == 1
    words_ = payload["improvement"][0]["words"]
    assert words_.startswith("not separable") or " better than " in words_
    best = runner.invoke(app, ["best", str(out)])
    assert best.exit_code == 2 and "ran on several tasks" in best.output
    csv = runner.invoke(app, ["report", str(out), "--format", "csv"]).stdout
    header = "task,config,seed,final_return,cpu_s_per_step,steps_per_s,memory_horizon,normalised"
    assert csv.splitlines()[0] == header and len(csv.splitlines()) == 13
