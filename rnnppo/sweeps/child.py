"""The first code a sweep worker process runs: tie its life to the coordinator's before anything heavy.

Importing torch takes seconds (more on a busy machine); a worker whose coordinator died in that time
would train on as an orphan. So this module imports nothing heavy, the spec comes pickled as bytes
(unpickling a SweepSpec imports the sweep modules; runner.worker_entry then imports torch), and the
parent-death signal is set before they are loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent(parent: int) -> None:
    """Linux: get SIGKILL when the coordinating process dies, so no orphan keeps training. Then the parent
    is checked: one that died before the signal was set (while this process started) is gone already, and
    its death signal will never come."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the coordinator is gone: this process was handed to another parent


def worker_main(spec_bytes: bytes, index: int, parent: int, started: Any) -> None:
    """The target of a worker process (`index` among the sweep's --jobs, started by process `parent`).
    `started` (a multiprocessing Event) is set once the process got this far: one that ends without it
    could not even load the program that started the sweep (see runner.run)."""
    die_with_parent(parent)
    started.set()
    from rnnppo.sweeps.runner import worker_entry

    worker_entry(pickle.loads(spec_bytes), index)
