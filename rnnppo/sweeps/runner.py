"""Running a sweep on this machine: prepare the study, start J worker processes, watch the storage.

The coordinating process trains nothing. It creates or resumes the study (so bad specs fail before
any worker starts), reclaims trials of workers on this host that were killed, starts the workers,
and polls the storage so the caller can draw live progress. Ctrl-C or SIGTERM stops everything
cleanly: finished trials are kept, running ones are marked interrupted and queued again.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnppo.storage.backend import (
    StorageError,
    mask_url,
    open_storage,
    quiet_optuna,
    sqlite_path,
    storage_write_error,
)
from rnnppo.storage.contract import counted
from rnnppo.sweeps.child import worker_main
from rnnppo.sweeps.study import (
    SweepSpec,
    check_new_study,
    create_or_load,
    distinct_run,
    ensure_baseline,
    reclaim_dead_local_trials,
    skipped_duplicates,
    validate_grid,
)

PollCallback = Callable[[list[FrozenTrial]], None]
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass
class SweepOutcome:
    study_name: str
    created: bool
    reclaimed: list[int]
    trials: list[FrozenTrial] = field(default_factory=list)
    interrupted: bool = False
    stop_signal: int = signal.SIGINT
    """The signal that stopped an interrupted sweep (Ctrl-C's SIGINT, or SIGTERM)."""
    worker_errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    duplicates: int = 0
    """Sampled trials skipped because their configuration had already run on the same seeds."""
    distinct: int = 0
    """Distinct configurations that ran."""
    workers_started: int = 0
    """Worker processes started: none when the study had nothing left to run."""
    workers_not_started: int = 0
    """Worker processes that ended before their first line ran: they could not load the program that
    started the sweep (a script that calls rnnppo.sweep without an `if __name__ == "__main__":` guard)."""

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
    return counted(study.get_trials(deepcopy=False))


def prepare(spec: SweepSpec) -> tuple[optuna.Study, bool, list[int]]:
    """Open the storage, create or resume the study (queueing the grid), reclaim dead local trials."""
    quiet_optuna()
    validate_grid(spec)
    # What must hold before a new study is created is checked before anything is written (a SQLite file
    # that is not there yet is not made).
    path = sqlite_path(spec.storage_url)
    storage = None if path is not None and not path.exists() else open_storage(spec.storage_url)
    check_new_study(spec, set() if storage is None else set(optuna.get_all_study_names(storage=storage)))
    if storage is None:
        storage = open_storage(spec.storage_url)
    try:
        study, created = create_or_load(spec, storage)
        reclaimed = [] if created else reclaim_dead_local_trials(study, storage)
        if spec.races_grid:
            from rnnppo.sweeps.racing import advance

            advance(study, spec)  # a resumed race: the round a killed sweep had not queued yet
        ensure_baseline(study, spec)
    except Exception as err:
        problem = storage_write_error(err)
        if problem is None:
            raise
        raise StorageError(f"storage {mask_url(spec.storage_url)} cannot be written: {problem}") from None
    return study, created, reclaimed


def worker_entry(spec: SweepSpec, index: int) -> None:
    """A worker process's life after sweeps/child.py tied it to the coordinator's. SIGINT and SIGTERM were
    held until here (see _stop_signals_held); the coordinator repeats its stop until this process ends."""
    from rnnppo.core.envs.workers import CONCURRENT_RUNS_ENV

    # torch, which the sweep modules leave out for this coordinating process: here, while the stops are still
    # held and before any trial's clock (--trial-timeout) starts
    from rnnppo.core.runs import trainer  # noqa: F401
    from rnnppo.sweeps.worker import ResultsUnwritable, run_worker, stop_request

    # vector_mode=async with env_workers=0 divides this machine's cores between the --jobs runs
    os.environ[CONCURRENT_RUNS_ENV] = str(spec.jobs)
    signal.signal(signal.SIGINT, stop_request)
    signal.signal(signal.SIGTERM, stop_request)
    try:
        _release_stop_signals()  # a stop held since the start arrives now, as a KeyboardInterrupt caught below
        run_worker(spec, index)
    except KeyboardInterrupt:
        sys.exit(130)
    except ResultsUnwritable as err:
        print(f"worker {os.getpid()} stopped: {err}; fix that and run the same command again", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - reported by the coordinator as one line
        print(f"worker {os.getpid()}: {mask_url(f'{type(err).__name__}: {err}')}", file=sys.stderr)
        sys.exit(1)


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the workers start, so a stop that comes meanwhile is neither lost nor
    breaks a start half-way. Here a handler only notes it (whichever thread the kernel hands it to, Python
    runs handlers in this one), and it is raised again when the starts are done. The processes started
    inside begin with the two blocked (this thread's mask, which they inherit): a Ctrl-C while Python starts
    them cannot break their start-up with a traceback, and they get it once their own handlers are set
    (worker_entry). Ignoring the two instead, as before, lost a stop that landed in those moments: the
    sweep ran on to its end."""
    noted: list[int] = []
    handlers = {signum: signal.signal(signum, lambda number, frame: noted.append(number)) for signum in STOP_SIGNALS}
    masked = hasattr(signal, "pthread_sigmask")
    if masked:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        if masked:
            _release_stop_signals()  # one that came to this thread while blocked is noted now
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if noted:
            signal.raise_signal(noted[0])


def _work_left(study: optuna.Study, spec: SweepSpec) -> bool:
    """Whether a worker would start or wait for anything: what its loop checks first (sweeps/worker.py). A raced
    grid always starts its workers: they queue the race's next round."""
    from rnnppo.sweeps.study import resolve_sampler_name
    from rnnppo.sweeps.worker import budget_left, others_running

    if spec.races_grid:
        return True
    grid = resolve_sampler_name(spec.sampler, spec.space) == "grid"
    return budget_left(study, spec, grid, None) or others_running(study, spec)


def _release_stop_signals() -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def run(
    spec: SweepSpec,
    on_poll: PollCallback | None = None,
    poll_s: float = 1.0,
    on_start: Callable[[], None] | None = None,
) -> SweepOutcome:
    """Prepare the study, call `on_start()`, run the workers until they finish or a signal stops them."""
    started = time.monotonic()
    study, created, reclaimed = prepare(spec)
    if on_start is not None:
        on_start()
    outcome = SweepOutcome(spec.study_name, created, reclaimed)
    ctx = mp.get_context("spawn")
    jobs = spec.jobs if _work_left(study, spec) else 0  # a finished study run again starts no worker (~3 s each)
    outcome.workers_started = jobs
    began = [ctx.Event() for _ in range(jobs)]
    workers = [
        ctx.Process(target=worker_main, args=(pickle.dumps(spec), i, os.getpid(), began[i]), name=f"rnnppo-worker-{i}")
        for i in range(jobs)
    ]

    def on_term(signum: int, frame: object) -> None:
        outcome.stop_signal = signum
        raise KeyboardInterrupt

    previous_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, on_term)
    try:
        with _stop_signals_held():
            for worker in workers:
                worker.start()
        while any(worker.is_alive() for worker in workers):
            if on_poll is not None:
                on_poll(visible_trials(study))
            for worker in workers:
                worker.join(timeout=poll_s / max(1, len(workers)))
    except KeyboardInterrupt:
        outcome.interrupted = True
        deadline = time.monotonic() + 60
        for worker in workers:
            if worker.pid is None:
                continue  # never started
            # Sent again until it ends: a worker still starting up ignores it (see above).
            while worker.is_alive() and time.monotonic() < deadline:
                try:
                    os.kill(worker.pid, signal.SIGINT)
                except ProcessLookupError:
                    break
                worker.join(timeout=0.5)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    for worker, first_line_ran in zip(workers, began, strict=True):
        if worker.exitcode not in (0, 130, -signal.SIGINT, None) and not outcome.interrupted:
            outcome.worker_errors.append(f"worker {worker.name} exited with code {worker.exitcode}")
            if not first_line_ran.is_set():
                outcome.workers_not_started += 1
    if outcome.worker_errors:
        # A worker that stopped mid-trial left it running: fail it and queue it again now (the next run
        # does it if the storage refuses).
        with contextlib.suppress(Exception):
            outcome.reclaimed += reclaim_dead_local_trials(study, study._storage, workers_crashed=True)
    outcome.trials = visible_trials(study)
    outcome.duplicates, outcome.distinct = skipped_duplicates(study), distinct_run(study)
    if on_poll is not None:
        on_poll(outcome.trials)
    outcome.elapsed_s = time.monotonic() - started
    return outcome
