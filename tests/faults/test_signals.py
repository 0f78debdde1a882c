"""SIGINT and SIGTERM stop a sweep cleanly whenever they come: exit 128 + the signal's number, no
traceback, one line saying how many finished trials were kept, nothing left running in the storage,
and the same command finishes the study afterwards. (tests/sweeps/test_sweep_options.py sends SIGINT
to the coordinator alone, after a finished trial.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.faults.harness import (
    Snapshot,
    check_resumed,
    complete,
    kill,
    resume,
    snapshot,
    start,
    sweep_words,
    trials,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
STEP_S = 0.003  # a trial (one seed) takes 0.8 s or more on any machine: "mid-trial" is mid-trial
PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}


def stop(process: subprocess.Popen, signum: int, group: bool) -> str:
    if group:
        kill(process, signum)  # what Ctrl-C in a terminal or `systemctl stop` does
    else:
        process.send_signal(signum)  # what `kill PID` does
    try:
        output, _ = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        kill(process)
        pytest.fail(f"the sweep did not stop on {signal.Signals(signum).name}")
    return output


def check_clean_stop(out, study, process, output, signum) -> None:
    # A SIGTERM before the sweep set its handler (Python still importing) ends it the default way.
    assert process.returncode == 128 + signum or (signum == signal.SIGTERM and process.returncode == -signum), output
    assert "Traceback" not in output and "Error" not in output, output
    running = [t.number for t in trials(out, study) if t.state == TrialState.RUNNING]
    assert not running, f"trials {running} were left running"
    everything = trials(out, study)
    for trial in everything:
        if trial.user_attrs.get("interrupted"):
            assert trial.state == TrialState.FAIL
            retries = [t for t in everything if t.user_attrs.get("retry_of") == trial.number]
            assert len(retries) == 1, f"interrupted trial {trial.number} is queued again, once"


def test_sigterm_to_the_coordinator_mid_trial_stops_with_one_line_of_what_was_kept(tmp_path):
    study = "term"
    process = start(sweep_words(tmp_path, study, seeds=1, step_s=STEP_S), **PIPES)
    wait_for(lambda: len(complete(tmp_path, study)) >= 1, process, "the first trial finished", poll=0.3)
    time.sleep(0.3)  # into the second trial
    output = stop(process, signal.SIGTERM, group=False)
    check_clean_stop(tmp_path, study, process, output, signal.SIGTERM)
    kept = snapshot(tmp_path, study)
    assert 1 <= len(kept.finished) < 4
    lines = [line for line in output.splitlines() if re.search(r"\bkept\b", line)]
    assert lines == [f"{len(kept.finished)} finished trials kept; " + lines[0].split("; ", 1)[1]], output
    assert "stopped (SIGTERM)" in output


# (signal, seconds after the start): in the coordinator's start-up, in the worker's, and mid-trial
STOPS = [(signal.SIGTERM, 0.8), (signal.SIGINT, 2.5), (signal.SIGTERM, None)]


def test_stop_signals_to_the_whole_sweep_at_any_moment_stop_it_cleanly_and_it_resumes(tmp_path):
    study = "group"
    kept = Snapshot(finished={}, summaries={})
    for signum, after in STOPS:
        process = start(sweep_words(tmp_path, study, seeds=1, step_s=STEP_S), **PIPES)
        if after is None:
            done = len(kept.finished)
            finished = lambda done=done: len(complete(tmp_path, study)) > done  # noqa: E731
            wait_for(finished, process, "a trial finished", poll=0.3)
        else:
            time.sleep(after)
        output = stop(process, signum, group=True)
        check_clean_stop(tmp_path, study, process, output, signum)
        now = snapshot(tmp_path, study)
        assert all(now.finished.get(n) == f for n, f in kept.finished.items()), "a finished trial changed"
        kept = Snapshot({**now.finished, **kept.finished}, {**now.summaries, **kept.summaries})

    resume(tmp_path, study, seeds=1, step_s=STEP_S)
    check_resumed(tmp_path, study, kept, seeds=1)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="signal masks")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_that_lands_while_the_workers_start_is_held_not_lost(signum):
    """The coordinator starts its workers with SIGINT/SIGTERM held: one that comes meanwhile (to any of its
    threads) is delivered once the starts are done (it was ignored there, and the sweep then ran to its
    end, exit 0), and a process started meanwhile begins with the two blocked, not ignored, so it gets
    them once its handlers are set."""
    from rnnppo.sweeps.runner import _stop_signals_held

    got: list[int] = []
    previous = signal.signal(signum, lambda number, frame: got.append(number))
    try:
        with _stop_signals_held():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            os.kill(os.getpid(), signum)
            assert got == [], "held while the workers start"
        assert got == [signum], "delivered when the starts are done"
        status = Path(f"/proc/{child.pid}/status")
        if status.exists():
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            blocked, ignored = int(fields["SigBlk"], 16), int(fields["SigIgn"], 16)
            assert blocked & (1 << (signum - 1)) and not ignored & (1 << (signum - 1))
    finally:
        signal.signal(signum, previous)
        child.kill()
        child.wait()
