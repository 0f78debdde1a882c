"""Trials that go wrong inside: an env that raises, returns NaN rewards (in training or only in
evaluation), makes the PPO loss overflow to NaN, or hangs in step(). Each is recorded as failed with its
error, the sweep goes on to the healthy trial, and no NaN ever becomes a score or the best one."""

from __future__ import annotations

import io
import math
import subprocess
import time

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.sweeps.worker import StopRequest
from tests.faults.harness import TINY, kill, runner, start, storage

FAULTS = ["healthy", "raise", "nan", "nan_eval", "huge", "hang"]
STUDY = "faulty"
TRIAL_TIMEOUT_S = 5  # a healthy trial takes well under 1 s; a loaded machine may make it 2


# What each fault's error must say.
ERRORS = {
    "raise": ["RuntimeError", "faulty env raised"],
    "nan": ["NaN", "reward"],
    "nan_eval": ["NaN", "evaluation"],
    "huge": ["loss", "NaN"],
    "hang": ["TrialTimeout", f"trial_timeout={TRIAL_TIMEOUT_S}"],
}


def test_faulty_trials_fail_with_their_error_the_sweep_goes_on_and_no_nan_is_ever_a_score(tmp_path):
    # One sweep for every fault (each costs a worker start): the checks below are independent.
    words = [
        "sweep",
        f"env.fault={','.join(FAULTS)}",
        "env.after=20",
        *TINY,
        "cell=4",
        "--env",
        "tests.faults.faulty_env:Faulty",
        "--steps",
        "96",
        "--seeds",
        "1",
        "--trial-timeout",
        str(TRIAL_TIMEOUT_S),
        "--out",
        str(tmp_path),
        "--study",
        STUDY,
    ]
    began = time.monotonic()
    process = start(words, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        kill(process)
        pytest.fail("the sweep never ended: a hung trial was not stopped by --trial-timeout")
    assert time.monotonic() - began < 100

    # The sweep goes on past every faulty trial to the healthy one.
    assert process.returncode == 0, output
    assert "Traceback" not in output
    study = optuna.load_study(study_name=STUDY, storage=storage(tmp_path))
    by_fault = {t.params["env.fault"]: t for t in study.trials}
    assert sorted(by_fault) == sorted(FAULTS), "every trial ran"
    assert by_fault["healthy"].state == TrialState.COMPLETE

    # Each faulty trial is failed, has no value, and its error says what happened.
    for fault, words_in_error in ERRORS.items():
        trial = by_fault[fault]
        assert trial.state == TrialState.FAIL and trial.value is None, fault
        error = trial.user_attrs.get("error", "")
        assert all(word in error for word in words_in_error), (fault, error)
        assert f"trial {trial.number} failed: {error[:40]}" in output, "the summary names each failed trial"

    # A hanging env is ended by the trial time limit, not after its hour.
    hung = by_fault["hang"]
    ran = (hung.datetime_complete - hung.datetime_start).total_seconds()
    # (A step still running at the limit gets StopRequest.GRACE_S to return before it is cut where it is.)
    assert TRIAL_TIMEOUT_S <= ran < TRIAL_TIMEOUT_S + StopRequest.GRACE_S + 10

    # No NaN is a score, in the storage, the report or the best configuration.
    healthy = by_fault["healthy"].value
    assert healthy is not None and math.isfinite(healthy)
    result = runner.invoke(app, ["report", str(tmp_path), "--study", STUDY, "--format", "csv"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(io.StringIO(result.stdout))
    assert list(runs["env.fault"]) == ["healthy"], "only the healthy trial has runs"
    assert runs["final_return"].map(math.isfinite).all()
    as_json = runner.invoke(app, ["report", str(tmp_path), "--study", STUDY, "--format", "json"]).stdout
    assert "NaN" not in as_json and "Infinity" not in as_json
    best = runner.invoke(app, ["best", str(tmp_path), "--study", STUDY])
    assert best.exit_code == 0, best.output
    assert 'fault = "healthy"' in best.stdout
