"""No orphans: a sweep's workers end when the coordinating process dies, at any moment, the workers' own
start-up included (the parent-death signal is set first thing in a worker, then the parent is checked:
one that died before that is gone already and its death signal never comes)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.faults.harness import kill, start, sweep_words

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG are Linux's"),
]


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process; None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = text.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else (int(ppid), state)


def workers_of(parent: int) -> list[int]:
    """The spawned worker processes of `parent` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        info = _stat(int(entry.name))
        if info is None or info[0] != parent:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("moment", ["as the workers start", "once a worker is set up"])
def test_sigkill_of_the_sweep_ends_its_workers_within_seconds(tmp_path, moment):
    words = sweep_words(tmp_path, "orphans", steps=4096, seeds=1, step_s=0.003, extra=("--jobs", "2"))
    process = start(words)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2:
        assert process.poll() is None, "the sweep ended before its workers started"
        assert time.monotonic() < deadline, "the workers never started"
        workers = workers_of(process.pid)
        time.sleep(0.005)
    if moment != "as the workers start":
        run_dirs = tmp_path / "orphans"
        while not list(run_dirs.glob("*/0/config.json")):
            assert time.monotonic() < deadline, "no worker started a trial"
            time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # the coordinator alone, as the OOM killer would
    process.wait(timeout=10)
    gone_by = time.monotonic() + 10
    while any(_stat(pid) is not None for pid in workers) and time.monotonic() < gone_by:
        time.sleep(0.05)
    left = [pid for pid in workers if _stat(pid) is not None]
    if left:
        kill(process)  # the process group: clean up before failing
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived the sweep process {moment}"
