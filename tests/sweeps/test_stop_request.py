"""A stop (SIGINT/SIGTERM) that reaches a sweep worker while it trains takes effect between iterations, never
inside a torch call: a KeyboardInterrupt raised in Python code that torch's C++ is calling back aborts the
process ("terminate called after throwing an instance of 'pybind11::error_already_set'"), and one raised
inside `torch.no_grad()`'s exit leaves gradients switched off for the rest of the process."""

from __future__ import annotations

import random
import signal
import sys
import traceback

import optuna
import pytest
import torch

from rnnppo.sweeps import worker
from rnnppo.sweeps.study import SweepSpec
from tests.shared import TINY_SETTINGS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]
REPEAT_S = 0.0007  # a stop repeated far more often than the coordinator's (every 0.5 s)


def spec(tmp_path) -> SweepSpec:
    return SweepSpec(
        base={
            **TINY_SETTINGS,
            "env": "rnnppo/CueRecall-v0",
            "env_kwargs": {"cue_distance": 2},
            "total_steps": 20_000,
            "lstm_cell_size": 4,
        },
        space_words=("max_seq_len=4",),
        study_name="stop",
        storage_url="sqlite:///:memory:",
        results_dir=str(tmp_path),
        seeds=(0,),
        trials=1,
        sampler="random",
        sampler_seed=0,
        pruner="none",
        objective="final",
    )


def where_it_was_raised(err: BaseException) -> tuple[str, str]:
    """(the function that raised, the function it interrupted): a signal handler's frame is the innermost."""
    frames = traceback.extract_tb(err.__traceback__)
    raised, below = frames[-1], frames[-2]
    return raised.name, f"{below.filename}:{below.name}"


def test_stops_during_training_are_raised_between_iterations_and_leave_torch_as_it_was(tmp_path, monkeypatch):
    objective = worker.Objective(spec(tmp_path), grid=False)
    rng = random.Random(0)
    previous = signal.signal(signal.SIGALRM, signal.SIG_DFL)
    try:
        for attempt in range(6):
            stop_request = worker.StopRequest()
            monkeypatch.setattr(worker, "stop_request", stop_request)
            signal.signal(signal.SIGALRM, stop_request)
            study = optuna.create_study(direction="maximize")
            # From a random moment of the trial (which mostly trains) on, the stop comes again and again.
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.01, 0.3), REPEAT_S)
            try:
                with pytest.raises(KeyboardInterrupt) as stopped:
                    study.optimize(objective, n_trials=1)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            raised, interrupted = where_it_was_raised(stopped.value)
            assert raised == "check" or "torch" not in interrupted and "rnnppo/core" not in interrupted, (
                f"attempt {attempt}: a stop was raised inside training, in {interrupted}"
            )
            assert torch.is_grad_enabled(), f"attempt {attempt}: the stop left torch's grad mode off"
    finally:
        signal.signal(signal.SIGALRM, previous)
        torch.set_grad_enabled(True)
