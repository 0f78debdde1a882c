"""A sweep worker: pops or samples trials of one study and trains each configuration on every seed.

Workers run in their own processes (`--jobs J` starts J; other machines start more with the same
command). They share nothing but the storage. A failing trial is recorded with its error and the
worker goes on; Ctrl-C marks the running trial interrupted and queues it again for the next run.
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import socket
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from rnnppo.core.trainer import train
from rnnppo.sweeps.storage import HEARTBEAT_INTERVAL_S, open_storage, quiet_optuna
from rnnppo.sweeps.study import (
    QUEUED,
    SPARE,
    SweepSpec,
    counted_trials,
    create_or_load,
    iterations_per_run,
    requeue,
    resolve_sampler_name,
    study_folder,
)

CURVE_POINTS = 500
RUN_KEYS = (
    "final_return",
    "eval_return_std",
    "eval_success_mean",
    "final_train_return",
    "auc",
    "steps_per_s",
    "train_time_s",
    "env_steps",
    "lstm_saw",
)


class TrialTimeout(RuntimeError):
    """The trial ran past trial_timeout."""


def _downsample(points: list[list[float]], limit: int = CURVE_POINTS) -> list[list[float]]:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


class Objective:
    """Train one configuration on every seed of the spec; the value is the mean of the seeds' scores."""

    def __init__(self, spec: SweepSpec, grid: bool):
        self.spec = spec
        self.space = spec.space
        self.grid = grid
        self.folder = study_folder(spec.results_dir, spec.study_name)
        base = spec.base_config()
        # Intermediate values are indexed in iterations of the *base* config, so trials that sweep
        # num_envs or rollout_len still report comparable steps (equal env steps, equal step) to pruners.
        self.iterations = iterations_per_run(base)
        self.steps_per_unit = base.num_envs * base.rollout_len

    def __call__(self, trial: optuna.Trial) -> float:
        if self.grid and not trial.user_attrs.get(QUEUED):
            # A worker raced past the last queued grid point: this trial has no point to run.
            trial.set_user_attr("rnnppo_role", SPARE)
            raise optuna.TrialPruned("no grid point left")
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        try:
            return self._run(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            requeue(trial.study, trial_as_frozen(trial), reason="interrupted")
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            raise

    def _run(self, trial: optuna.Trial) -> float:
        params = self.space.suggest(trial)
        first_config = self.spec.config_for(params, self.spec.seeds[0])
        trial.set_user_attr("config", first_config.to_dict())
        scores: list[float] = []
        started = time.monotonic()
        for index, seed in enumerate(self.spec.seeds):
            config = first_config.replace(seed=seed)
            run_dir = self.folder / str(trial.number) / str(seed)
            curve: list[list[float]] = []

            last_step = [index * self.iterations]

            def on_iteration(
                row: dict[str, Any], index: int = index, seed: int = seed, curve: list = curve, last_step=last_step
            ) -> None:
                value = row["return_mean_100"]
                unit = min(self.iterations, -(-row["env_steps"] // self.steps_per_unit))
                step = index * self.iterations + unit
                if math.isfinite(value):
                    curve.append([row["env_steps"], value])
                if math.isfinite(value) and step > last_step[0]:
                    last_step[0] = step
                    trial.report(value, step)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned at {row['env_steps']} env steps of seed {seed}")
                limit = self.spec.trial_timeout_s
                if limit is not None and time.monotonic() - started > limit:
                    raise TrialTimeout(f"trial ran past trial_timeout={limit:g}s")

            try:
                result = train(
                    config,
                    out_dir=run_dir,
                    on_iteration=on_iteration,
                    extra_meta={"study": self.spec.study_name, "trial": trial.number},
                )
            finally:
                trial.set_user_attr(f"curve_{seed}", _downsample(curve))
            summary = result.summary
            run = {key: _finite_or_none(summary.get(key)) for key in RUN_KEYS}
            run["run_dir"] = str(run_dir.relative_to(Path(self.spec.results_dir).resolve()))
            trial.set_user_attr(f"run_{seed}", run)
            trial.set_user_attr("seeds_done", index + 1)
            score = summary["final_return"] if self.spec.objective == "final" else summary["auc"]
            if score is None or not math.isfinite(score):
                raise ValueError(f"seed {seed} gave a non-finite score ({score}); the run diverged")
            scores.append(float(score))
        trial.set_user_attr("scores", scores)
        return statistics.fmean(scores)


def trial_as_frozen(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return trial.study._storage.get_trial(trial._trial_id)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the coordinating process dies, so no orphan keeps training."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def budget_left(study: optuna.Study, spec: SweepSpec, grid: bool, mean_trial_s: float | None) -> bool:
    """Whether this worker may start another trial."""
    if grid and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return False
    if len(counted_trials(study)) >= spec.trials:
        return False
    if spec.timeout_s is not None:
        elapsed = time.time() - spec.started_at
        expected = mean_trial_s or 0.0
        if elapsed + expected > spec.timeout_s:
            return False
    return True


def run_worker(spec: SweepSpec, child: bool = True) -> None:
    """The worker loop: one trial at a time until the budget is spent or the queue is empty."""
    if child:
        _die_with_parent()
    quiet_optuna()
    storage = open_storage(spec.storage_url)
    study, _ = create_or_load(spec, storage)
    grid = resolve_sampler_name(spec.sampler, spec.space) == "grid"
    objective = Objective(spec, grid)
    durations: list[float] = []
    while True:
        if budget_left(study, spec, grid, statistics.fmean(durations) if durations else None):
            began = time.monotonic()
            study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
            durations.append(time.monotonic() - began)
            continue
        if not others_running(study, spec):
            break
        # Nothing left to start, but other workers (here or on other machines) still hold trials: stay
        # until they finish, so that a trial whose worker died (no heartbeat for GRACE_PERIOD_S) is
        # failed and retried by this surviving worker instead of being left unfinished.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        time.sleep(HEARTBEAT_INTERVAL_S)


def others_running(study: optuna.Study, spec: SweepSpec) -> bool:
    """Whether trials of other workers are still running and the time budget allows waiting for them."""
    if spec.timeout_s is not None and time.time() - spec.started_at >= spec.timeout_s:
        return False
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
