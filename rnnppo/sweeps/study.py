"""A sweep's specification and its Optuna study: create or resume, check conflicts, queue the grid.

A grid is queued whole, in a seeded shuffled order, by whichever process creates the study; every
worker then pops queued trials (an atomic state change in the RDB storage), so each grid point is
run once however many workers join. See docs/storage-contract.md for what each trial stores.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
from optuna.trial import TrialState

from rnnppo.core.analysis.baseline import random_policy_returns
from rnnppo.core.analysis.inert import inert_settings
from rnnppo.core.config import ConfigError, TrainConfig, build_config, with_env_kwargs
from rnnppo.core.runs import files as run_files
from rnnppo.errors import SweepError
from rnnppo.storage.backend import GRACE_PERIOD_S
from rnnppo.storage.contract import (
    BASELINE_ATTR,
    DUPLICATE,
    GIVEN_UP,
    RACE_SEED,
    RECLAIMED,
    ROLE_ATTR,
    SPEC_ATTR,
    decode_param,
    is_spare,
)
from rnnppo.sweeps.alarm import sigalrm
from rnnppo.sweeps.space import SearchSpace
from rnnppo.sweeps.tasks import TASK, SweepTask, task_settings, with_tasks

SPEC_VERSION = 1
SAMPLERS = ("auto", "grid", "tpe", "random", "cmaes")
PRUNERS = ("none", "median", "hyperband")
OBJECTIVES = ("final", "auc")
DEFAULT_TRIALS = 20
STUDY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
QUEUED = "rnnppo_queued"  # user attr of every trial rnnppo enqueued (grid points, warm starts, retries)
CREATOR = "rnnppo_creator"  # study user attr: {"host", "pid"} of the process that created it
FOREIGN_AFTER_S = 5.0  # a study without a creator attr this long after it was found is not rnnppo's
CRASHED = "rnnppo_crashed"  # trial user attr: its worker died while the sweep's coordinator lived
MAX_WORKER_DEATHS = 2
WORKER_DIED = "worker process died"


def check_study_name(name: str) -> str:
    if not STUDY_NAME_RE.match(name) or ".." in name:
        raise SweepError(
            f"study name {name[:60]!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(at most 120, starting with a letter or digit)"
        )
    return name


def default_study_name(env: str, swept: list[str]) -> str:
    env_part = re.sub(r"[^A-Za-z0-9._-]+", "-", env.split(":")[-1]).strip("-.") or "env"
    return check_study_name((f"{env_part}--{'-'.join(swept) or 'fixed'}")[:120])


@dataclass(frozen=True)
class SweepSpec:
    """Everything a worker needs to run trials of one study (plain data: it crosses process boundaries)."""

    base: dict[str, Any]  # full-name config values from --config, options and fixed dims (not swept)
    space_words: tuple[str, ...]
    study_name: str
    storage_url: str
    results_dir: str
    seeds: tuple[int, ...]
    trials: int
    sampler: str
    sampler_seed: int
    pruner: str
    objective: str
    jobs: int = 1
    timeout_s: float | None = None
    trial_timeout_s: float | None = None
    warm_start: str | None = None
    started_at: float = field(default_factory=time.time)
    loggers: tuple[str, ...] = ()  # --logger names (rnnppo.core.runs.loggers), for every seed run
    mlflow_uri: str | None = None  # --mlflow-uri; None: SQLite in the results folder
    tasks: tuple[SweepTask, ...] = ()  # --suite / repeated --env: the grid's outer `task` dimension (tasks.py)
    suite: str | None = None
    race_min: int | None = None
    """--seeds MIN..MAX: the seeds every configuration starts on (`seeds` holds 0..MAX-1); None: no race."""
    min_effect: float | None = None
    """--min-effect D (score units): a raced configuration within ±D of the leader stops as equivalent."""

    @property
    def space(self) -> SearchSpace:
        return with_tasks(SearchSpace.parse(list(self.space_words)), self.tasks)

    @property
    def races_grid(self) -> bool:
        """A raced grid: one queued trial per (configuration, seed), rounds of looks (sweeps/racing.py)."""
        return self.race_min is not None and resolve_sampler_name(self.sampler, self.space) == "grid"

    @property
    def races_samples(self) -> bool:
        """A raced sampler: each trial runs its seeds in turn and races the leader (sweeps/race_trial.py)."""
        return self.race_min is not None and not self.races_grid

    def base_config(self) -> TrainConfig:
        """The base config completed with the space's first point (swept fields' defaults may not fit the
        fixed values: `seq_len=2,4 minibatch_size=8`)."""
        return build_config(task_settings(self.base, self.tasks, self.space.first_point()))

    def config_for(self, params: dict[str, Any], seed: int) -> TrainConfig:
        if self.tasks:
            return build_config(task_settings(self.base, self.tasks, params), seed=seed)
        return build_config(with_env_kwargs(self.base, params), seed=seed)

    def stored_spec(self) -> dict[str, Any]:
        base = self.base_config()
        space = self.space
        return {
            "version": SPEC_VERSION,
            "env": base.env,
            "env_kwargs": dict(base.env_kwargs),
            "total_steps": base.total_steps,
            "space": space.spec(),
            "swept": list(space.swept_names),
            "fixed": {k: _jsonable(v) for k, v in space.fixed().items()},
            "seeds": list(self.seeds),
            "objective": self.objective,
            "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
            "pruner": self.pruner,
            "base_config": base.to_dict(),
            **({"suite": self.suite, "tasks": [{**t.info, "name": t.name} for t in self.tasks]} if self.tasks else {}),
            **({"race": self.race_spec()} if self.race_min is not None else {}),
            **({"min_effect": self.min_effect} if self.min_effect is not None and self.race_min is None else {}),
        }

    def race_spec(self) -> dict[str, Any]:
        from rnnppo.core.sequential import ALPHA, SHAPE

        return {
            "min_seeds": self.race_min,
            "max_seeds": len(self.seeds),
            "min_effect": self.min_effect,
            "alpha": ALPHA,
            "shape": SHAPE,
            # a sampled race splits α over every pair of the --trials it may run (storage/race.py)
            **({"sampled": True, "configs": self.trials} if self.races_samples else {}),
        }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def resolve_sampler_name(sampler: str, space: SearchSpace) -> str:
    if sampler not in SAMPLERS:
        raise SweepError(f"--sampler {sampler!r} is unknown; choose one of {', '.join(SAMPLERS)}")
    if sampler == "auto":
        return "grid" if space.is_grid else "tpe"
    if sampler == "grid" and not space.is_grid:
        raise SweepError(
            "--sampler grid needs every swept setting to be a list of choices (v1,v2,...); "
            "ranges (lo..hi) need tpe, random or cmaes"
        )
    return sampler


def worker_sampler_seed(sampler_seed: int, worker: int) -> int:
    """The sampler seed of the `worker`-th parallel worker (0-based): worker 0 uses the study's own seed, each
    other one a seed drawn from (study seed, worker index). With one seed for all, J workers of a random or
    TPE sampler would propose the same configurations in lockstep (each repeat then skipped as a duplicate)."""
    if worker == 0:
        return sampler_seed
    state = np.random.SeedSequence(entropy=sampler_seed % 2**63, spawn_key=(worker,)).generate_state(1)
    return int(state[0])


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)  # grid trials are queued; random covers the rest


def make_pruner(name: str, iterations: int) -> optuna.pruners.BasePruner:
    if name not in PRUNERS:
        raise SweepError(f"--pruner {name!r} is unknown; choose one of {', '.join(PRUNERS)}")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max(1, iterations // 3))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, iterations // 9), max_resource=max(2, iterations))
    return optuna.pruners.NopPruner()


def iterations_per_run(config: TrainConfig) -> int:
    return max(1, -(-config.total_steps // (config.num_envs * config.rollout_len)))


def validate_grid(spec: SweepSpec) -> None:
    """Every grid point, or every corner of a space with ranges (choices and range ends), must make a
    valid config (e.g. minibatch_size >= max_seq_len) before anything runs."""
    space = spec.space
    grid = space.is_grid
    for point in space.grid_points() if grid else space.corner_points():
        try:
            spec.config_for(point, spec.seeds[0])
        except ConfigError as err:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            if grid:
                raise SweepError(f"grid point {shown} is invalid: {err}") from None
            raise SweepError(
                f"the space reaches {shown}, which is invalid: {err}; narrow the range or change the fixed settings"
            ) from None


# Settings that say how a run executes, not what it measures: a re-run of a study may change them. Some change
# a run's numbers without changing what it measures: device and num_threads the float rounding,
# vector_mode=overlap the order of the random draws (actions are sampled half by half).
EXECUTION_SETTINGS = (
    "seed",
    "device",
    "num_threads",
    "checkpoint_every",
    "vector_mode",
    "env_workers",
    "memory_horizon",
    "memory_episodes",
)


def describe_conflict(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between a stored study spec and this sweep's: the env, the space, the seeds, the
    objective and every fixed setting (from --config, options and NAME=value words)."""
    keys = ("env", "env_kwargs", "total_steps", "space", "fixed", "seeds", "objective", "tasks", "race")
    diffs = []
    trials = [(spec.get("race") or {}).get("configs") for spec in (stored, new)]
    if trials[0] != trials[1]:  # a raced sampler's design splits α over the pairs of its --trials
        diffs.append(f"--trials of the race: stored {trials[0]}, now {trials[1]}")
    for key in keys:
        old, now = (
            {k: v for k, v in (spec.get(key) or {}).items() if k != "configs"} if key == "race" else spec.get(key)
            for spec in (stored, new)
        )
        if old != now:
            diffs.append(f"{key}: stored {_short(stored.get(key))}, now {_short(new.get(key))}")
    stored_base, new_base = stored.get("base_config"), json.loads(json.dumps(new.get("base_config")))
    if isinstance(stored_base, dict) and isinstance(new_base, dict):
        # Only settings both know: a setting added in a later version is not a difference.
        for name in sorted(set(stored_base) & set(new_base)):
            if name in keys or name in EXECUTION_SETTINGS or stored_base[name] == new_base[name]:
                continue
            diffs.append(f"{name}: stored {_short(stored_base[name])}, now {_short(new_base[name])}")
    return diffs


def check_new_study(spec: SweepSpec, existing: set[str]) -> None:
    """Before a study is created (`existing`: the storage's study names): a warm start must name a study
    that is there, and the results folder must not hold another study's runs under the same name (a new
    study numbers its trials from 0 again and would overwrite them)."""
    if spec.warm_start and spec.warm_start not in existing:
        raise SweepError(f"--warm-start study {spec.warm_start!r} does not exist in this storage")
    if spec.study_name in existing:
        return
    folder = study_folder(spec.results_dir, spec.study_name)
    if folder.is_dir() and any(folder.iterdir()):
        raise SweepError(
            f"results folder {folder} holds the runs of a study {spec.study_name!r} that this storage does not "
            "have (another --storage, or a deleted database); a new study would overwrite them: "
            "use another --out or --study, or move that folder away"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def create_or_load(spec: SweepSpec, storage: optuna.storages.BaseStorage, worker: int = 0) -> tuple[optuna.Study, bool]:
    """The study for this spec: created (and its grid queued) if new, else loaded and checked. `worker`: the
    index of the parallel worker that samples with it (see worker_sampler_seed)."""
    sampler_name = resolve_sampler_name(spec.sampler, spec.space)
    base = spec.base_config()
    sampler = make_sampler(sampler_name, worker_sampler_seed(spec.sampler_seed, worker))
    pruner = make_pruner(spec.pruner, iterations_per_run(base) * len(spec.seeds))
    new_spec = spec.stored_spec()  # a --warm-start study was checked by check_new_study, before anything was written
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=spec.study_name,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
            load_if_exists=False,
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=spec.study_name, sampler=sampler, pruner=pruner)
        created = False
    if created:
        study.set_user_attr(CREATOR, {"host": socket.gethostname(), "pid": os.getpid()})
    else:
        stored = wait_for_spec(study)
        if stored is not None:
            diffs = describe_conflict(stored, new_spec)
            if diffs:
                raise SweepError(
                    f"study {spec.study_name!r} already exists with a different spec ({'; '.join(diffs)}); "
                    "name a new study with --study NAME"
                )
            if study.user_attrs.get("rnnppo_ready"):
                return study, False
        # The process creating the study was killed before it stored the spec or queued the whole grid:
        # finish its work (what it already queued is not queued twice).
    finish_creation(study, spec, storage, sampler_name, resume=not created)
    return study, created


def finish_creation(
    study: optuna.Study, spec: SweepSpec, storage: optuna.storages.BaseStorage, sampler_name: str, resume: bool
) -> None:
    """Store the spec and provenance, queue the grid (or warm-start points), then mark the study ready."""
    attrs = study.user_attrs
    if "rnnppo_created" not in attrs:
        study.set_user_attr("rnnppo_created", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    if "rnnppo_provenance" not in attrs:
        study.set_user_attr(
            "rnnppo_provenance", {"git": run_files.git_commit(), "versions": run_files.package_versions()}
        )
    if SPEC_ATTR not in attrs:
        study.set_user_attr(SPEC_ATTR, spec.stored_spec())
    if spec.races_grid:
        from rnnppo.sweeps.racing import queue_first_round

        queue_first_round(study, spec)
    elif sampler_name == "grid":
        queue_grid(study, spec, skip_queued=resume)
    elif spec.warm_start:
        queue_warm_start(study, spec, storage, limit=3, skip_queued=resume)
    study.set_user_attr("rnnppo_ready", True)


def wait_for_spec(study: optuna.Study, timeout_s: float = 60.0) -> dict[str, Any] | None:
    """A study created a moment ago by another worker gets its spec and queue just after creation.
    Returns the stored spec, or None when its creator died before storing one."""
    began = time.time()
    deadline = began + timeout_s
    while True:
        attrs = study.user_attrs
        if SPEC_ATTR in attrs and attrs.get("rnnppo_ready"):
            return attrs[SPEC_ATTR]
        creator_died = _local_process_died(attrs.get(CREATOR))
        # rnnppo names a study's creator the moment after creating it: a study that has none after a few
        # seconds was made by something else.
        foreign = CREATOR not in attrs and time.time() > began + FOREIGN_AFTER_S
        if time.time() > deadline or creator_died or foreign:
            if SPEC_ATTR in attrs:
                return attrs[SPEC_ATTR]
            if creator_died:
                return None
            raise SweepError(
                f"study {study.study_name!r} exists but is not an rnnppo study (no spec stored); "
                "name another study with --study NAME"
            )
        time.sleep(0.5)


def queue_grid(study: optuna.Study, spec: SweepSpec, skip_queued: bool = False) -> None:
    """Enqueue every grid point once, in a seeded shuffled order (warm-start configurations first);
    with `skip_queued`, points some trial already holds are left out."""
    space = spec.space
    points = space.grid_points()
    random.Random(spec.sampler_seed).shuffle(points)
    if spec.warm_start:
        preferred = [_encode(space, p) for p in best_params(study, spec.warm_start, limit=3)]
        encoded = [_encode(space, p) for p in points]
        first = [i for i, e in enumerate(encoded) if e in preferred]
        points = [points[i] for i in first] + [p for i, p in enumerate(points) if i not in first]
    for point in points:
        study.enqueue_trial(_encode(space, point), user_attrs={QUEUED: True}, skip_if_exists=skip_queued)


def _encode(space: SearchSpace, point: dict[str, Any]) -> dict[str, Any]:
    return {name: space.encode_param(name, value) for name, value in point.items()}


def best_params(study: optuna.Study, other_name: str, limit: int) -> list[dict[str, Any]]:
    """Decoded params of the `limit` best finished trials of another study in the same storage."""
    try:
        other = optuna.load_study(study_name=other_name, storage=study._storage)
    except KeyError:
        raise SweepError(f"--warm-start study {other_name!r} does not exist in this storage") from None
    done = [t for t in other.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    done.sort(key=lambda t: cast(float, t.value), reverse=True)  # not None: filtered above
    return [{k: decode_param(k, v) for k, v in t.params.items()} for t in done[:limit]]


def queue_warm_start(study: optuna.Study, spec: SweepSpec, storage: Any, limit: int, skip_queued: bool = False) -> None:
    space = spec.space
    names = set(space.swept_names)
    for params in best_params(study, spec.warm_start or "", limit):
        kept = {k: v for k, v in params.items() if k in names}
        if set(kept) == names:
            study.enqueue_trial(_encode(space, kept), user_attrs={QUEUED: True}, skip_if_exists=skip_queued)


def ensure_baseline(study: optuna.Study, spec: SweepSpec) -> None:
    """Measure a uniformly random policy on the study's env once (core/analysis/baseline.py) and store it, so a
    report can say when nothing was learned. An env that fails here fails the trials too: the error is
    stored and the report says the baseline was not measured."""
    if BASELINE_ATTR in study.user_attrs:
        return
    if spec.tasks:  # one per task, by name (a stated random score is the suite's, results/suite_report.py)
        first = spec.space.first_point()
        configs = {t.name: spec.config_for({**first, TASK: t.name}, spec.seeds[0]) for t in spec.tasks}
        study.set_user_attr(BASELINE_ATTR, {"tasks": {name: _measure(c) for name, c in configs.items()}})
        return
    study.set_user_attr(BASELINE_ATTR, _measure(spec.base_config()))


def _measure(config: TrainConfig) -> dict[str, Any]:
    try:
        with _alarm(BASELINE_HANG_S):
            return random_policy_returns(config)
    except Exception as err:  # noqa: BLE001 - the trials will report the env's error in full
        return {"error": f"{type(err).__name__}: {err}"[:500]}


BASELINE_HANG_S = 60.0
"""An env step that does not return within this is a hung env: no baseline, the sweep goes on."""


class _Hung(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise _Hung after `seconds` even inside an env step that never returns (SIGALRM; main thread only)."""

    def expire(signum: int, frame: object) -> None:
        raise _Hung(f"the env did not finish its random-policy episodes within {seconds:g} s")

    with sigalrm(seconds, expire):
        yield


def inert_warnings(spec: SweepSpec) -> list[str]:
    """A line per swept setting that cannot change training at any point of the space (core/analysis/inert.py)."""
    space = spec.space
    points = space.grid_points() if space.is_grid else space.corner_points()
    configs = []
    for point in points:
        try:
            configs.append(spec.config_for(point, spec.seeds[0]))
        except ConfigError:
            continue  # validate_grid names an invalid point with the fix; this is only a warning
    lines = []
    for name in space.swept_names:
        reasons = [inert_settings(config, [name]).get(name) for config in configs]
        if configs and all(reasons):
            lines.append(f"swept setting {name} {reasons[0]}; every value trains the same model")
    return lines


def seeds_warning(spec: SweepSpec) -> str | None:
    """What a sweep with fewer than 3 seeds cannot do."""
    if len(spec.seeds) >= 3:
        return None
    count = f"{len(spec.seeds)} seed{'s' if len(spec.seeds) > 1 else ''}"
    return (
        f"with {count} per configuration no comparison can be made (a paired test needs 3); "
        "the report will rank by score only; use --seeds 3 or more"
    )


def same_configuration(study: optuna.Study, number: int, params: dict[str, Any]) -> int | None:
    """The number of an earlier trial that ran (or runs) these exact params on the same seeds; None if
    none. Failed trials do not count (their retry runs them); skipped duplicates and spares ran nothing."""
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number or trial.user_attrs.get(ROLE_ATTR) is not None:
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED) and trial.params == params:
            return trial.number
    return None


def distinct_run(study: optuna.Study) -> int:
    """How many distinct configurations have run or are running (not failed, not skipped)."""
    states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED)
    seen = {
        json.dumps(t.params, sort_keys=True, default=str)
        for t in study.get_trials(deepcopy=False)
        if t.state in states and t.user_attrs.get(ROLE_ATTR) is None and t.params
    }
    return len(seen)


def skipped_duplicates(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get(ROLE_ATTR) == DUPLICATE)


# --- bookkeeping shared by workers and the coordinator ------------------------------------------------


def counted_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that count towards --trials: everything but queued (WAITING) ones, race spares, and
    failed trials that were queued again (their retry counts instead)."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials} | {t.system_attrs.get("failed_trial") for t in trials}
    return [t for t in trials if t.state != TrialState.WAITING and not is_spare(t) and t.number not in retried]


def reclaim_dead_local_trials(
    study: optuna.Study, storage: optuna.storages.BaseStorage, workers_crashed: bool = False
) -> list[int]:
    """RUNNING trials started on this host by a process that no longer exists (killed), or left unsigned
    by a worker killed as it popped them: mark them failed and queue their params again. Signed trials of
    other hosts are left to the heartbeat.

    `workers_crashed`: the caller saw its own workers die while it lived (not the whole sweep killed):
    the trials they ran count as crashes, and params that crashed their worker MAX_WORKER_DEATHS times in
    a row are failed for good instead of queued again."""
    host = socket.gethostname()
    reclaimed = []
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        if (
            trial.state == TrialState.FAIL
            and trial.user_attrs.get(RECLAIMED)
            and trial.number not in retried
            and not trial.user_attrs.get(GIVEN_UP)
        ):
            # Failed by an earlier reclaim whose retry the storage refused (a full disk): queue it now.
            requeue(study, trial, reason=WORKER_DIED)
            reclaimed.append(trial.number)
            continue
        if trial.state != TrialState.RUNNING or not _owner_gone(trial, host):
            continue
        deaths = worker_deaths(trial, by_number) if workers_crashed else 0
        try:
            # Marked before it is failed: if the storage then refuses the retry, the next run queues it.
            storage.set_trial_user_attr(trial._trial_id, RECLAIMED, True)
            if workers_crashed:
                storage.set_trial_user_attr(trial._trial_id, CRASHED, True)
            if deaths >= MAX_WORKER_DEATHS:
                # The same params killed their worker every time (a segfault, os._exit in the env): run
                # them again and they would do it again, on every re-run of the sweep.
                storage.set_trial_user_attr(trial._trial_id, GIVEN_UP, True)
                storage.set_trial_user_attr(
                    trial._trial_id,
                    "error",
                    f"its worker process died {deaths} times running these settings (a crash inside the env "
                    "or a native library); not queued again",
                )
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another process got there first
        if deaths < MAX_WORKER_DEATHS:
            requeue(study, trial, reason=WORKER_DIED)
            reclaimed.append(trial.number)
    return reclaimed


def worker_deaths(trial: optuna.trial.FrozenTrial, by_number: dict[int, optuna.trial.FrozenTrial]) -> int:
    """How many times in a row these params have now crashed their worker: this trial, and the trials it
    retries that crashed theirs (a whole sweep killed from outside, or a Ctrl-C, breaks the run)."""
    deaths, current = 1, trial
    while current.user_attrs.get("retry_of") in by_number:
        current = by_number[current.user_attrs["retry_of"]]
        if not current.user_attrs.get(CRASHED):
            break
        deaths += 1
    return deaths


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str) -> None:
    # A trial that died before suggesting still holds its queued grid point in fixed_params.
    params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})
    if params:
        attrs = {QUEUED: True, "retry_of": trial.number, "retry_reason": reason}
        if trial.user_attrs.get(RACE_SEED) is not None:
            attrs[RACE_SEED] = trial.user_attrs[RACE_SEED]
        study.enqueue_trial(params, user_attrs=attrs)


def _owner_gone(trial: optuna.trial.FrozenTrial, host: str) -> bool:
    """Whether a running trial's worker is gone: a process of this host that no longer exists, or none
    at all after 3 x GRACE_PERIOD_S (a worker signs the trial it pops at once, so only one killed in between
    leaves it unsigned, and without the heartbeat that would let Optuna fail it)."""
    worker = trial.user_attrs.get("worker")
    if worker is None:
        started = trial.datetime_start
        # Three grace periods: a live worker stalled on a busy SQLite lock must not lose its trial.
        return started is not None and (dt.datetime.now() - started).total_seconds() > 3 * GRACE_PERIOD_S
    return isinstance(worker, dict) and worker.get("host") == host and not _pid_alive(worker.get("pid"))


def _local_process_died(process: Any) -> bool:
    """Whether `{"host", "pid"}` names a process of this host that no longer exists."""
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return False
    return not _pid_alive(process.get("pid"))


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed worker whose parent died too can linger as a zombie until init reaps it.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def study_folder(results_dir: str | Path, study_name: str) -> Path:
    folder = (Path(results_dir) / check_study_name(study_name)).resolve()
    if Path(results_dir).resolve() not in folder.parents:
        raise SweepError(f"study folder {folder} would leave the results folder")
    return folder
