"""A sweep worker process imports what training needs and no more: each of a sweep's --jobs workers pays for
its imports before its first step (torch alone takes over a second of CPU), so the reports' statistics,
tables and plots stay out of it (a raced sweep's worker imports scipy when it first races)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "pandas", "matplotlib")


def test_a_sweep_worker_starts_without_scipy_pandas_or_matplotlib():
    code = (
        "import sys\n"
        "from rnnppo.sweeps.runner import worker_entry\n"
        "from rnnppo.sweeps.worker import run_worker\n"
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"a worker's imports load {result.stdout.strip()}"
