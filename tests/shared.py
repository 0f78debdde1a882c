"""What test modules share (fixtures are in conftest.py): the one tiny training configuration and the CLI
runner. TINY: two envs, 16-step rollouts, an 8-unit encoder, one epoch, one evaluation episode; a run of a
few hundred steps takes well under a second. (The LSTM's size is left to each test: sweeps put it in their
grids.)"""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

runner = CliRunner()

TINY_SETTINGS: dict[str, Any] = {
    "num_envs": 2,
    "rollout_len": 16,
    "fcnet_hiddens": (8,),
    "minibatch_size": 16,
    "num_epochs": 1,
    "eval_episodes": 1,
    "memory_horizon": False,  # the end-of-training memory measurement is tested in tests/core/test_memory.py
}
"""As TrainConfig keyword arguments."""


def _word(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{name}={str(value).lower()}"
    return f"{name}={list(value) if isinstance(value, tuple) else value}"


TINY = [_word(name, value) for name, value in TINY_SETTINGS.items()]
"""The same as NAME=VALUE words for the command line."""


class Stop(Exception):
    """Raised by stop_at's callback: a run killed at an iteration, in-process."""


def stop_at(iteration: int):
    """An on_iteration callback that raises Stop once `iteration` has been trained."""

    def on_iteration(row):
        if row["iteration"] == iteration:
            raise Stop

    return on_iteration
