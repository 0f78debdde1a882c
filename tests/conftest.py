"""What every test shares: one torch thread per test process, SIGINT not ignored, a wide terminal, the
`slow` marker (shared values are in tests/shared.py).

Two pytest-xdist workers on two cores would otherwise each start a thread per core for torch and the BLAS
under it, and fight: one curiosity test took 84 s under `-n 2` and 0.65 s with one thread. The variables
are set before torch is imported (this file is imported before any test module) and are inherited by the
sweeps' worker processes the tests start."""

from __future__ import annotations

import os
import signal

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# The signal tests stop sweeps with SIGINT. A shell running a script in the background without job control
# (`... &`, nohup) starts it with SIGINT ignored, which every process it starts inherits, the sweeps the
# tests start included, so they would never get the SIGINT. Handled here, it is SIG_DFL for them again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def wide_terminal(monkeypatch):
    """rich wraps at 80 columns off a terminal, splitting the words the tests look for."""
    from rnnppo.cli import common

    monkeypatch.setattr(common.console, "width", 250)
    monkeypatch.setattr(common.err_console, "width", 250)


SLOW = ("faults/", "sweeps/test_sweep_e2e.py", "sweeps/test_sweep_options.py", "sweeps/test_nightly.py")
"""End-to-end tests (real sweeps in worker processes) and fault tests (kills, signals, full disks): marked
`slow`, so `pytest -m "not slow"` is the inner loop. Their own modules may mark more (pytestmark)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath / "tests"
    for item in items:
        where = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        if where.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
