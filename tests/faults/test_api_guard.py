"""The Python API fails loudly: `rnnppo.sweep(jobs=2)` in a script without an `if __name__ == "__main__":`
guard cannot start its workers (each imports the script again, which calls the sweep again), and the call
raises an error saying to add the guard instead of returning a sweep with "no failures"."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import rnnppo

outcome = rnnppo.sweep(
    ["seq_len=2,4"], env="rnnppo/CueRecall-v0", steps=32, seeds=1, jobs=2, out={out!r},
    config={config!r},
)
print("failures:", outcome.failures)
"""
TINY_TOML = """
num_envs = 2
rollout_len = 16
fcnet_hiddens = [8]
minibatch_size = 16
num_epochs = 1
eval_episodes = 1
memory_horizon = false
"""


def test_a_sweep_with_jobs_2_in_a_script_without_the_main_guard_raises_an_error_naming_it(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(SCRIPT.format(out=str(tmp_path / "results"), config=str(config))))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0, done.stdout
    assert "failures:" not in done.stdout, "it returned as if the sweep had run"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnppo.errors.SweepError: 2 of 2 worker processes could not start"), done.stderr
    assert 'if __name__ == "__main__":' in last
