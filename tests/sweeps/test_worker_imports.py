"""What a sweep's processes import before they start work: each of a sweep's --jobs workers pays for its
imports before its first step, and the coordinating `rnnppo sweep` (or `nightly`, `report`) process before
it starts them. A worker imports what training needs, not the reports' statistics, tables and plots (a
raced sweep's worker imports scipy when it first races); the coordinator trains nothing and imports no
torch (over a second of CPU on every command; a worker imports it as it starts its loop)."""

from __future__ import annotations

import json
import subprocess
import sys

WORKER = ("rnnppo.sweeps.runner", "rnnppo.sweeps.worker")
COMMANDS = (
    "rnnppo.cli.app",
    "rnnppo.cli.sweep_cmd",
    "rnnppo.cli.nightly_cmd",
    "rnnppo.cli.report_cmd",
    "rnnppo.sweeps.spec",
    "rnnppo.sweeps.plan",
    "rnnppo.nightly.run",
    "rnnppo.results.render",
)
IMPORTS = f"""
import importlib, json, sys

def loaded():
    return sorted({{name.split('.')[0] for name in sys.modules}} & {{'scipy', 'pandas', 'matplotlib', 'torch'}})

for name in {WORKER!r}:
    importlib.import_module(name)
worker = loaded()
for name in {COMMANDS!r}:
    importlib.import_module(name)
print(json.dumps({{"worker": worker, "commands": loaded()}}))
"""


def test_a_sweep_worker_starts_without_the_reports_libraries_and_the_commands_without_torch():
    result = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "torch" not in loaded["worker"], "the worker's modules (the coordinator imports them too) load torch"
    assert [name for name in loaded["worker"] if name != "torch"] == [], f"a worker's imports load {loaded['worker']}"
    assert "torch" not in loaded["commands"], "the sweep, nightly and report commands import torch"
