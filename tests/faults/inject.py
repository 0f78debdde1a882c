"""Faults injected into a sweep's own processes, for tests that must hit one exact moment.

Loaded with `--wrapper tests.faults.inject:Passthrough`, so it is imported by the coordinating process
(which checks the env) and by every spawned worker (which makes envs). It does nothing unless the
RNNPPO_TEST_FAULT environment variable is set, which only the subprocesses the tests start have:

* `pause-write:<file name>:<n>:<marker>` (worker): the n-th atomic write of <file name> (e.g. model.pt)
  has written its temp file but not renamed it; it creates <marker> and sleeps, for a SIGKILL mid-write.
* `pause-commit:complete:<n>:<marker>` (worker): the transaction that marks the n-th trial complete is
  flushed but not committed when it creates <marker> and sleeps.
* `pause-commit:enqueue:<n>:<marker>` (coordinator): the same, in the transaction that queues the
  n-th grid point while the study is being created.
* `pause-popped:<n>:<marker>` (worker): the n-th trial popped from the queue is running in the storage
  but not yet signed by its worker (nor given a heartbeat) when it creates <marker> and sleeps.
* `oserror:<errno name>:<file name>:<n>` (worker): the n-th atomic write of <file name> fails with that
  error, as a full disk (ENOSPC) or a folder turned read-only (EROFS) would make it.
* `pause-step:<n>:<marker>` (worker or `rnnppo train`): the n-th env step (over all the run's envs) pauses,
  for a SIGKILL in the middle of a rollout.
* `pause-adam:<n>:<marker>` (worker or `rnnppo train`): the n-th optimizer step pauses, for a SIGKILL in the
  middle of a PPO update.
* `pause-append:<n>:<marker>` (worker or `rnnppo train`): the n-th row appended to metrics.csv has written
  half of its bytes when it pauses, for a SIGKILL that leaves a torn row.

`pause-write` also works in an `rnnppo train` process (e.g. `pause-write:checkpoint.pt:2:<marker>`).

A pause whose marker exists does nothing, so running the same command again goes through.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

import gymnasium as gym

VARIABLE = "RNNPPO_TEST_FAULT"


class Passthrough(gym.Wrapper):
    """A wrapper that changes nothing: its import is what installs the fault."""


def _in_worker() -> bool:
    return multiprocessing.current_process().name.startswith("rnnppo-worker")


def _in_trainer() -> bool:
    """A process that trains: a sweep worker, or the `rnnppo train` command itself."""
    return _in_worker() or sys.argv[1:2] == ["train"]


def _pause_nth_call(owner: type, name: str, n: int, marker: str) -> None:
    real = getattr(owner, name)
    seen = [0]

    def paused(*args, **kwargs):
        seen[0] += 1
        if seen[0] == n:
            _pause(marker)
        return real(*args, **kwargs)

    setattr(owner, name, paused)


def _pause_nth_append(n: int, marker: str) -> None:
    """The n-th metrics.csv row: write half of its bytes, then pause (a kill leaves a torn last line)."""
    from rnnppo.core.runs.files import MetricsFile

    real_write = MetricsFile._write
    rows = [0]

    def write(self, text: str) -> None:
        if not text.startswith("iteration,"):  # a data row, not the header
            rows[0] += 1
            if rows[0] == n:
                data = text.encode()
                os.write(self.fd, data[: len(data) // 2])
                _pause(marker)
        real_write(self, text)

    MetricsFile._write = write


def _pause(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(600)  # the test kills the process group long before this ends


def _on_nth_write(file_name: str, n: int, action) -> None:
    """Run `action()` in the n-th os.replace onto a file called `file_name` (the rename that ends an
    atomic write), before the rename happens."""
    real_replace = os.replace
    seen = [0]

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == file_name:
            seen[0] += 1
            if seen[0] == n:
                action()
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace


def _pause_nth_commit(kind: str, n: int, marker: str) -> None:
    """Flush, then pause before committing, the transaction of the n-th matching storage call."""
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState
    from sqlalchemy.orm import Session

    armed: dict[str, int | None] = {"thread": None}
    seen = [0]
    real_commit = Session.commit

    def commit(self):
        if armed["thread"] == threading.get_ident():
            self.flush()  # the rows are written inside the open transaction; only the commit is missing
            _pause(marker)
        return real_commit(self)

    Session.commit = commit

    def arm() -> None:
        seen[0] += 1
        if seen[0] == n:
            armed["thread"] = threading.get_ident()

    if kind == "complete":
        real_set_state = RDBStorage.set_trial_state_values

        def set_trial_state_values(self, trial_id, state, values=None):
            if state == TrialState.COMPLETE:
                arm()
            return real_set_state(self, trial_id, state, values)

        RDBStorage.set_trial_state_values = set_trial_state_values
    elif kind == "enqueue":
        real_create = RDBStorage._create_new_trial  # what Optuna's cached storage calls

        def create_new_trial(self, study_id, template_trial=None):
            if template_trial is not None:
                arm()
            return real_create(self, study_id, template_trial)

        RDBStorage._create_new_trial = create_new_trial
    else:
        raise ValueError(f"{VARIABLE}: unknown commit kind {kind!r}")


def _pause_after_nth_pop(n: int, marker: str) -> None:
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState

    real_set_state = RDBStorage.set_trial_state_values
    seen = [0]

    def set_trial_state_values(self, trial_id, state, values=None):
        done = real_set_state(self, trial_id, state, values)
        if state == TrialState.RUNNING and done:
            seen[0] += 1
            if seen[0] == n:
                _pause(marker)
        return done

    RDBStorage.set_trial_state_values = set_trial_state_values


def _install(text: str) -> None:
    kind, _, rest = text.partition(":")
    if kind == "pause-write":
        file_name, n, marker = rest.split(":", 2)
        if _in_trainer() and not Path(marker).exists():
            _on_nth_write(file_name, int(n), lambda: _pause(marker))
    elif kind == "pause-commit":
        what, n, marker = rest.split(":", 2)
        in_right_process = _in_worker() if what == "complete" else not _in_worker()
        if in_right_process and not Path(marker).exists():
            _pause_nth_commit(what, int(n), marker)
    elif kind == "pause-popped":
        n, marker = rest.split(":", 1)
        if _in_worker() and not Path(marker).exists():
            _pause_after_nth_pop(int(n), marker)
    elif kind in ("pause-step", "pause-adam"):
        n, marker = rest.split(":", 1)
        if _in_trainer() and not Path(marker).exists():
            from rnnppo.core.optim import Adam

            owner, name = (Passthrough, "step") if kind == "pause-step" else (Adam, "step")
            _pause_nth_call(owner, name, int(n), marker)
    elif kind == "pause-append":
        n, marker = rest.split(":", 1)
        if _in_trainer() and not Path(marker).exists():
            _pause_nth_append(int(n), marker)
    elif kind == "oserror":
        name, file_name, n = rest.split(":", 2)
        code = getattr(errno, name)

        def fail() -> None:
            raise OSError(code, os.strerror(code))  # no file name: a failing write() names none

        if _in_worker():
            _on_nth_write(file_name, int(n), fail)
    else:
        raise ValueError(f"{VARIABLE}={text!r}: unknown fault")


if os.environ.get(VARIABLE):
    _install(os.environ[VARIABLE])
