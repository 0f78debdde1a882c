"""A sweep worker: pops or samples trials of one study and trains each configuration on every seed.

Workers run in their own processes (`--jobs J` starts J; other machines start more with the same
command). They share nothing but the storage. A failing trial is recorded with its error and the
worker goes on; a trial past --trial-timeout is ended, even inside a hung env step. Ctrl-C marks the
running trial interrupted and queues it again for the next run. A full disk or a storage that refuses
writes is no trial's fault: the worker stops, and its trial is failed and queued again.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import socket
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from rnnppo.core.runs import files as run_files
from rnnppo.core.runs.loggers import make_loggers
from rnnppo.storage.backend import HEARTBEAT_INTERVAL_S, mask_url, open_storage, quiet_optuna, storage_write_error
from rnnppo.storage.contract import DUPLICATE, ROLE_ATTR, RUN_ATTR_KEYS, SPARE, curve_attr, run_attr
from rnnppo.sweeps.alarm import sigalrm
from rnnppo.sweeps.race_trial import race_look
from rnnppo.sweeps.racing import design_of
from rnnppo.sweeps.resume import Adopted, adopt
from rnnppo.sweeps.study import (
    QUEUED,
    RACE_SEED,
    SweepSpec,
    counted_trials,
    create_or_load,
    distinct_run,
    iterations_per_run,
    reclaim_dead_local_trials,
    requeue,
    resolve_sampler_name,
    same_configuration,
    study_folder,
    worker_sampler_seed,
)

CURVE_POINTS = 500
LIVE_EVERY_S = 2.0  # how often a running trial's live progress is written to the storage
MAX_DUPLICATES_IN_A_ROW = 50
"""A sampler that proposes only configurations already run this many times in a row has nothing new."""
WAIT_POLL_S = 0.5  # how often a worker with nothing to start looks whether others' trials are done

UNWRITABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


class TrialTimeout(RuntimeError):
    """The trial ran past trial_timeout."""


class StopRequest:
    """The worker's SIGINT/SIGTERM handler. Where the worker is decides when the stop takes effect:

    * between trials and in a trial's own bookkeeping (`interruptible_if(True)`): at once, as a
      KeyboardInterrupt (the trial is then queued again);
    * while training (`between_iterations()`): at the end of the current iteration, when the iteration
      callback calls `check()`. A KeyboardInterrupt raised at once would land anywhere, also in Python code
      that torch's C++ is calling back, where it aborts the process ("terminate called after throwing an
      instance of 'pybind11::error_already_set'") or leaves torch's grad mode switched off. Only a training
      step still running GRACE_S after the request (a hung env step) is interrupted where it is;
    * inside Optuna's own bookkeeping (popping a queued trial, recording a finished one,
      `interruptible_if(False)`): as soon as that is done; an interrupt there would leave a running trial
      that no worker owns.
    """

    NOW, BETWEEN_ITERATIONS, LATER = "now", "between iterations", "later"
    GRACE_S = 10.0

    def __init__(self) -> None:
        self.requested_at: float | None = None
        self.mode = self.NOW

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def __call__(self, signum: int, frame: object) -> None:
        if self.requested_at is None:
            self.requested_at = time.monotonic()
            if self.mode == self.NOW:
                raise KeyboardInterrupt
        elif self.mode == self.BETWEEN_ITERATIONS and time.monotonic() - self.requested_at > self.GRACE_S:
            # The coordinator repeats its stop until this process ends: a step that never returns is cut.
            self.mode = self.NOW
            raise KeyboardInterrupt
        # else: one is enough; a repeat must not break the clean-up

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was requested (called where stopping is safe)."""
        if self.requested:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def _mode(self, mode: str) -> Iterator[None]:
        before = self.mode
        self.mode = mode
        if mode == self.NOW:
            self.check()
        try:
            yield
        except BaseException:
            self.mode = before
            raise
        self.mode = before
        if before == self.NOW:
            self.check()

    def interruptible_if(self, interruptible: bool) -> contextlib.AbstractContextManager[None]:
        return self._mode(self.NOW if interruptible else self.LATER)

    def between_iterations(self) -> contextlib.AbstractContextManager[None]:
        """Training: a stop takes effect at `check()` (or after GRACE_S, see the class docstring)."""
        return self._mode(self.BETWEEN_ITERATIONS)


stop_request = StopRequest()


class ResultsUnwritable(BaseException):
    """Nothing more can be stored: a full disk, a read-only results folder, a storage refusing writes. Not
    the trial's failure, so not an Exception that Optuna would record as one: the trial is left running,
    as if its worker was killed, and the coordinator fails it and queues it again (now, or on the next
    run if the storage refuses that too). The worker stops."""


def unwritable_reason(err: BaseException, spec: SweepSpec) -> str | None:
    """Why nothing more can be stored, when `err` says so; None for an error of the trial itself."""
    if isinstance(err, OSError) and err.errno in UNWRITABLE_ERRNOS and err.filename:
        if str(err.filename).startswith(spec.results_dir):
            return f"cannot write {err.filename}: {err.strerror}"
    problem = storage_write_error(err)
    if problem is not None:
        return f"cannot write to storage {mask_url(spec.storage_url)}: {problem}"
    return None


def _downsample(points: list[list[float]], limit: int = CURVE_POINTS) -> list[list[float]]:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, list):  # memory_influence: NaN at a lag no episode reached
        return [_finite_or_none(item) for item in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


class Objective:
    """Train one configuration on every seed of the spec; the value is the mean of the seeds' scores (of the
    seeds it ran, when a raced sampler's trial stopped early)."""

    def __init__(self, spec: SweepSpec, grid: bool, worker: int = 0):
        self.spec = spec
        self.worker = {"index": worker, "sampler_seed": worker_sampler_seed(spec.sampler_seed, worker)}
        self.space = spec.space
        self.grid = grid
        self.folder = study_folder(spec.results_dir, spec.study_name)
        base = spec.base_config()
        # Intermediate values are indexed in iterations of the *base* config, so trials that sweep
        # num_envs or rollout_len still report comparable steps (equal env steps, equal step) to pruners.
        self.iterations = iterations_per_run(base)
        self.steps_per_unit = base.num_envs * base.rollout_len
        self.duplicate = False
        """Whether the last trial was a skipped duplicate."""
        self.race = design_of(spec) if spec.races_samples else None
        """A raced sampler's design: each trial races the leader after each seed from MIN (race_trial.py)."""

    def __call__(self, trial: optuna.Trial) -> float:
        if self.grid and not trial.user_attrs.get(QUEUED):
            # A worker raced past the last queued grid point: this trial has no point to run.
            trial.set_user_attr(ROLE_ATTR, SPARE)
            raise optuna.TrialPruned("no grid point left")
        if not self.grid and not self.spec.races_grid and self._past_the_budget(trial):
            # Two workers both saw room for one more trial and both started one: the later one stands down.
            trial.set_user_attr(ROLE_ATTR, SPARE)
            raise optuna.TrialPruned("the study has its --trials")
        try:
            with stop_request.interruptible_if(True):
                trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid(), **self.worker})
                with time_limit(self.spec.trial_timeout_s):
                    return self._run(trial)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            requeue(trial.study, trial_as_frozen(trial), reason="interrupted")
            raise
        except Exception as err:
            reason = unwritable_reason(err, self.spec)
            if reason is None:
                trial.set_user_attr("error", mask_url(f"{type(err).__name__}: {err}")[:2000])
                raise
            with contextlib.suppress(Exception):  # the storage may refuse this too
                trial.set_user_attr("error", reason)
            raise ResultsUnwritable(reason) from None

    def _run(self, trial: optuna.Trial) -> float:
        params = self.space.suggest(trial)
        self.duplicate = False
        if not self.grid:
            # Same params, same seeds: a re-run would train bit-identical models and count a repeat as
            # new evidence. Skip it (it counts for nothing) and let the sampler propose again.
            earlier = same_configuration(trial.study, trial.number, trial.params)
            if earlier is not None:
                self.duplicate = True
                trial.set_user_attr(ROLE_ATTR, DUPLICATE)
                trial.set_user_attr("duplicate_of", earlier)
                raise optuna.TrialPruned(f"trial {earlier} already ran this configuration on the same seeds")
        seeds = self._race_seeds(trial) if self.spec.races_grid else self.spec.seeds
        first_config = self.spec.config_for(params, seeds[0])
        trial.set_user_attr("config", first_config.to_dict())
        scores: list[float] = []
        started = time.monotonic()
        for index, seed in enumerate(seeds):
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
                stop_request.check()

            try:
                with stop_request.between_iterations():
                    summary = self._train_seed(trial, config, run_dir, on_iteration)
            finally:
                trial.set_user_attr(curve_attr(seed), _downsample(curve))
            run = {key: _finite_or_none(summary.get(key)) for key in RUN_ATTR_KEYS}
            run["run_dir"] = str(run_dir.relative_to(Path(self.spec.results_dir).resolve()))
            trial.set_user_attr(run_attr(seed), run)
            trial.set_user_attr("seeds_done", index + 1)
            score = summary["final_return"] if self.spec.objective == "final" else summary["auc"]
            if score is None or not math.isfinite(score):
                cause = _no_score_cause(summary, config, self.spec.objective)
                raise ValueError(f"seed {seed} gave no finite score ({score}): {cause}")
            scores.append(float(score))
            if self.race is not None and len(scores) >= self.race.min_seeds:
                decision = race_look(trial, scores, self.race)
                if decision is not None and decision.stopped:
                    break  # shown worse than the leader, or equivalent: its value is the mean of these seeds
        trial.set_user_attr("scores", scores)
        return statistics.fmean(scores)

    def _past_the_budget(self, trial: optuna.Trial) -> bool:
        """Whether --trials counted trials numbered before this one exist already."""
        earlier = [t for t in counted_trials(trial.study) if t.number < trial.number]
        return len(earlier) >= self.spec.trials

    def _race_seeds(self, trial: optuna.Trial) -> tuple[int]:
        """A raced sweep's trial trains the one seed it was queued with (sweeps/racing.py); one whose
        (configuration, seed) an earlier trial holds is a duplicate of two racing queuers: skipped."""
        from rnnppo.sweeps.racing import earlier_holder

        seed = trial.user_attrs.get(RACE_SEED)
        if seed is None:
            trial.set_user_attr(ROLE_ATTR, SPARE)
            raise optuna.TrialPruned("no seed run left")
        earlier = earlier_holder(trial.study, trial.number, trial.params, int(seed))
        if earlier is not None:
            trial.set_user_attr(ROLE_ATTR, DUPLICATE)
            trial.set_user_attr("duplicate_of", earlier)
            raise optuna.TrialPruned(f"trial {earlier} holds seed {seed} of this configuration")
        return (int(seed),)

    def _train_seed(
        self, trial: optuna.Trial, config: Any, run_dir: Path, on_iteration: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Train one seed run, or finish the one a killed attempt of this trial left (see sweeps/resume.py)."""
        adopted = adopt(self.folder, trial, config.seed, config.to_dict(), run_dir)
        live = LiveProgress(trial, config.seed, config.total_steps)
        if adopted is Adopted.FINISHED:
            summary = run_files.read_json(run_dir / "summary.json")
            for row in run_files.truncate_metrics(run_dir / "metrics.csv", int(summary["iterations"])):
                on_iteration(row)
            return summary

        def on_row(row: dict[str, Any]) -> None:
            live(row)
            on_iteration(row)

        from rnnppo.core.runs.trainer import train  # loaded as the worker starts (runner.worker_entry)

        loggers = make_loggers(
            self.spec.loggers, run_dir, results_dir=Path(self.spec.results_dir), mlflow_uri=self.spec.mlflow_uri
        )
        result = train(
            config,
            out_dir=run_dir,
            on_iteration=on_row,
            extra_meta={"study": self.spec.study_name, "trial": trial.number},
            resume=adopted is Adopted.RESUME,
            loggers=loggers,
        )
        return result.summary


class LiveProgress:
    """A running trial's seed, env steps and recent return as the trial's `live` user attribute, written at
    most every LIVE_EVERY_S seconds (one small storage write; the coordinator's live table reads it)."""

    def __init__(self, trial: optuna.Trial, seed: int, total_steps: int):
        self.trial, self.seed, self.total_steps = trial, seed, total_steps
        self.last = -math.inf

    def __call__(self, row: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last < LIVE_EVERY_S and row["env_steps"] < self.total_steps:
            return
        self.last = now
        value = row["return_mean_100"]
        self.trial.set_user_attr(
            "live",
            {
                "seed": self.seed,
                "env_steps": int(row["env_steps"]),
                "total_steps": self.total_steps,
                "return": float(value) if math.isfinite(value) else None,
                "steps_per_s": float(row["steps_per_s"]),
            },
        )


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TrialTimeout after `seconds`, even inside an env step() that never returns (SIGALRM; the check
    between iterations alone cannot end that: while training, a step still running StopRequest.GRACE_S
    later is). Only in a main thread on POSIX: elsewhere that check is all."""

    def expire(signum: int, frame: object) -> None:
        if stop_request.mode == stop_request.BETWEEN_ITERATIONS and not late:
            # Training: the iteration callback ends the trial (raising here could land in Python code that
            # torch's C++ calls back, see StopRequest); a step that has not returned by then is cut here.
            late.append(True)
            signal.setitimer(signal.ITIMER_REAL, stop_request.GRACE_S)
            return
        raise TrialTimeout(f"trial ran past trial_timeout={seconds:g}s")

    late: list[bool] = []

    with sigalrm(seconds, expire):
        yield


def trial_as_frozen(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return trial.study._storage.get_trial(trial._trial_id)


def budget_left(study: optuna.Study, spec: SweepSpec, grid: bool, mean_trial_s: float | None) -> bool:
    """Whether this worker may start another trial."""
    if grid and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return False
    if not spec.races_grid and len(counted_trials(study)) >= spec.trials:
        return False
    size = spec.space.distinct_points
    if not grid and size is not None and distinct_run(study) >= size:
        return False  # every configuration of the space has run on these seeds: nothing new to sample
    if spec.timeout_s is not None:
        elapsed = time.time() - spec.started_at
        expected = mean_trial_s or 0.0
        if elapsed + expected > spec.timeout_s:
            return False
    return True


def run_worker(spec: SweepSpec, index: int = 0) -> None:
    """The worker loop: one trial at a time until the budget is spent or the queue is empty. `index`: this
    worker's number among the sweep's --jobs (its sampler's seed is derived from it). A worker process ties
    its life to the coordinator's first (sweeps/runner.py)."""
    quiet_optuna()
    storage = open_storage(spec.storage_url)
    study, _ = create_or_load(spec, storage, worker=index)
    grid = resolve_sampler_name(spec.sampler, spec.space) == "grid"
    objective = Objective(spec, grid, index)
    durations: list[float] = []
    last_stale_check = time.monotonic()
    duplicates_in_a_row = 0
    while True:
        if spec.races_grid:
            from rnnppo.sweeps.racing import advance

            with stop_request.interruptible_if(False):
                advance(study, spec)  # the next round's seed runs, once this one is done
        if duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
            print(
                f"worker {os.getpid()}: the sampler proposed {duplicates_in_a_row} configurations in a row that had "
                "already run; stopping",
                file=sys.stderr,
            )
            break
        if budget_left(study, spec, grid, statistics.fmean(durations) if durations else None):
            began = time.monotonic()
            try:
                with stop_request.interruptible_if(False):  # the objective allows it inside the trial
                    study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
            except Exception as err:  # outside the trial: Optuna could not create or finish it
                if isinstance(err, ValueError) and "Cannot tell a" in str(err):
                    # Another process already ended this trial (e.g. failed it as stale while this
                    # worker was stalled on a lock) and queued it again: its retry runs; go on.
                    print(f"worker {os.getpid()}: {err}; its retry runs instead", file=sys.stderr)
                    continue
                reason = unwritable_reason(err, spec)
                if reason is None:
                    raise
                raise ResultsUnwritable(reason) from None
            if objective.duplicate:
                duplicates_in_a_row += 1
            else:
                duplicates_in_a_row = 0
                durations.append(time.monotonic() - began)
            continue
        if not others_running(study, spec):
            break
        # Nothing left to start, but other workers (here or on other machines) still hold trials: stay
        # until they finish, so that a trial whose worker died (no heartbeat for GRACE_PERIOD_S) is
        # failed and retried by this surviving worker instead of being left unfinished.
        # Poll often (the coordinator waits for this worker to exit), check heartbeats once per interval.
        if time.monotonic() - last_stale_check >= HEARTBEAT_INTERVAL_S:
            last_stale_check = time.monotonic()
            with warnings.catch_warnings(), stop_request.interruptible_if(False):
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
                reclaim_dead_local_trials(study, study._storage)  # also trials a killed worker left unsigned
        time.sleep(WAIT_POLL_S)


def others_running(study: optuna.Study, spec: SweepSpec) -> bool:
    """Whether trials of other workers are still running and the time budget allows waiting for them."""
    if spec.timeout_s is not None and time.time() - spec.started_at >= spec.timeout_s:
        return False
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _no_score_cause(summary: dict[str, Any], config: Any, objective: str) -> str:
    """Why a run has no score: most often no episode finished (a NaN return), not a diverged run."""
    if summary.get("after_training_errors"):  # e.g. the evaluation that gives the final return failed
        return "; ".join(summary["after_training_errors"])
    train_return = summary.get("final_train_return")
    if train_return is None or not math.isfinite(train_return):
        evaluation_helps = objective == "final" and config.eval_episodes == 0
        hint = "give more --steps" + (" or eval_episodes > 0" if evaluation_helps else "")
        return f"no training episode finished in {summary.get('env_steps')} env steps; {hint}"
    return "the run diverged"
