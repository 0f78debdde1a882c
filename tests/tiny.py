"""The one tiny training configuration the tests share: two envs, 16-step rollouts, an 8-unit encoder and a
4-cell LSTM, one epoch. A run of a few hundred steps takes well under a second."""

from __future__ import annotations

from typing import Any

TINY_SETTINGS: dict[str, Any] = {
    "num_envs": 2,
    "rollout_len": 16,
    "fcnet_hiddens": (8,),
    "lstm_cell_size": 4,
    "minibatch_size": 16,
    "num_epochs": 1,
    "eval_episodes": 1,
}
"""As TrainConfig keyword arguments."""

TINY = [
    "num_envs=2",
    "rollout_len=16",
    "fcnet_hiddens=[8]",
    "cell=4",
    "minibatch_size=16",
    "num_epochs=1",
    "eval_episodes=1",
]
"""The same as NAME=VALUE words for the command line (`cell` is lstm_cell_size)."""
