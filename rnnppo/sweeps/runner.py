"""Running a sweep on this machine: prepare the study, start J worker processes, watch the storage.

The coordinating process trains nothing. It creates or resumes the study (so bad specs fail before
any worker starts), reclaims trials of workers on this host that were killed, starts the workers,
and polls the storage so the caller can draw live progress. Ctrl-C or SIGTERM stops everything
cleanly: finished trials are kept, running ones are marked interrupted and queued again.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnppo.sweeps.storage import open_storage, quiet_optuna
from rnnppo.sweeps.study import SPARE, SweepSpec, create_or_load, reclaim_dead_local_trials, validate_grid

PollCallback = Callable[[list[FrozenTrial]], None]


@dataclass
class SweepOutcome:
    study_name: str
    created: bool
    reclaimed: list[int]
    trials: list[FrozenTrial] = field(default_factory=list)
    interrupted: bool = False
    worker_errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def count(self, state: TrialState) -> int:
        return sum(1 for t in self.trials if t.state == state)

    @property
    def failures(self) -> list[tuple[int, str]]:
        return [
            (
                t.number,
                t.user_attrs.get("error") or ("interrupted" if t.user_attrs.get("interrupted") else "worker died"),
            )
            for t in self.trials
            if t.state == TrialState.FAIL
        ]


def visible_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("rnnppo_role") != SPARE]


def prepare(spec: SweepSpec) -> tuple[optuna.Study, bool, list[int]]:
    """Open the storage, create or resume the study (queueing the grid), reclaim dead local trials."""
    quiet_optuna()
    validate_grid(spec)
    storage = open_storage(spec.storage_url)
    study, created = create_or_load(spec, storage)
    reclaimed = [] if created else reclaim_dead_local_trials(study, storage)
    return study, created, reclaimed


def _worker_entry(spec: SweepSpec) -> None:
    from rnnppo.sweeps.worker import run_worker

    state = {"stopping": False}

    def stop(signum: int, frame: object) -> None:
        if state["stopping"]:
            return  # one interrupt is enough; a second must not break the clean-up
        state["stopping"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        run_worker(spec)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - reported by the coordinator as one line
        print(f"worker {os.getpid()}: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)


def run(spec: SweepSpec, on_poll: PollCallback | None = None, poll_s: float = 1.0) -> SweepOutcome:
    started = time.monotonic()
    study, created, reclaimed = prepare(spec)
    outcome = SweepOutcome(spec.study_name, created, reclaimed)
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_worker_entry, args=(spec,), name=f"rnnppo-worker-{i}") for i in range(spec.jobs)]

    previous_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            if on_poll is not None:
                on_poll(visible_trials(study))
            for worker in workers:
                worker.join(timeout=poll_s / max(1, len(workers)))
    except KeyboardInterrupt:
        outcome.interrupted = True
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                try:
                    os.kill(worker.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    for worker in workers:
        if worker.exitcode not in (0, 130, -signal.SIGINT, None) and not outcome.interrupted:
            outcome.worker_errors.append(f"worker {worker.name} exited with code {worker.exitcode}")
    outcome.trials = visible_trials(study)
    if on_poll is not None:
        on_poll(outcome.trials)
    outcome.elapsed_s = time.monotonic() - started
    return outcome
