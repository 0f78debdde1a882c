"""How much memory a configuration needs, estimated before anything is allocated.

Sizes typed by hand (`lstm_cell_size = 1e9`, `num_envs = 100000000000`) would otherwise end in an
allocator's traceback, after the run folder was written. The estimate counts what dominates: the
networks' parameters with their gradients and Adam's two moments, and the rollout buffers (observations,
recurrent states and per-step scalars, with the padded training copy). It is a lower bound of what a run
uses, compared with this machine's memory: a configuration refused here could never have run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from gymnasium import spaces

from rnnppo.core.config import ConfigError, TrainConfig
from rnnppo.core.spaces import flat_obs_size

GATES = {"lstm": 4, "gru": 3, "none": 1}
BYTES = 4  # float32
PARAM_COPIES = 4  # the weights, their gradients and Adam's two moments
STEP_SCALARS = 12  # reward, value, log-prob, done, advantage, target, masks... per env step


@dataclass(frozen=True)
class Footprint:
    parameters: int  # of the policy (both towers)
    model_bytes: int
    rollout_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.rollout_bytes


def _dense(widths: list[int]) -> int:
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=False))


def _action_size(space: spaces.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(sum(int(n) for n in space.nvec.ravel()))
    if isinstance(space, spaces.Box):
        return 2 * math.prod(space.shape)  # mean and log-std
    return 1


def estimate(config: TrainConfig, obs_space: spaces.Space, action_space: spaces.Space) -> Footprint:
    obs = flat_obs_size(obs_space) * config.frame_stack
    actions = _action_size(action_space)
    encoder = [obs, *config.fcnet_hiddens]
    if config.encoder_out_size:
        encoder.append(config.encoder_out_size)
    cell = config.lstm_cell_size
    recurrent_in = encoder[-1] + (actions if config.lstm_use_prev_action else 0) + int(config.lstm_use_prev_reward)
    recurrent = GATES.get(config.rnn_type, 4) * cell * (recurrent_in + cell + 2)
    head = _dense([cell, *config.head_fcnet_hiddens, actions + 1])
    towers = 1 if config.vf_share_layers else 2
    parameters = towers * (_dense(encoder) + recurrent + head)
    state = towers * cell * (2 if config.rnn_type == "lstm" else 1)
    per_step = obs + state + actions + STEP_SCALARS
    steps = config.num_envs * config.rollout_len
    # the rollout, and the training batch padded to whole sequences (at least as large again)
    return Footprint(parameters, parameters * BYTES * PARAM_COPIES, 2 * steps * per_step * BYTES)


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n: int) -> str:
    gib = n / 2**30
    return f"{gib:,.0f} GiB" if gib >= 10 else f"{gib:.1f} GiB"


def check_fits(config: TrainConfig, obs_space: spaces.Space, action_space: spaces.Space) -> None:
    """ConfigError, naming the sizes to lower, when the model and rollout buffers cannot fit in memory."""
    memory = machine_memory()
    if memory is None:
        return
    need = estimate(config, obs_space, action_space)
    if need.total_bytes <= memory:
        return
    if need.model_bytes >= need.rollout_bytes:
        what = (
            f"a model of {need.parameters:,} parameters (lstm_cell_size={config.lstm_cell_size}, "
            f"fcnet_hiddens={list(config.fcnet_hiddens)}, head_fcnet_hiddens={list(config.head_fcnet_hiddens)})"
        )
        lower = "lstm_cell_size, fcnet_hiddens or head_fcnet_hiddens"
    else:
        what = f"rollout buffers of num_envs={config.num_envs:,} x rollout_len={config.rollout_len:,} steps"
        lower = "num_envs or rollout_len"
    raise ConfigError(
        f"{what} would need at least {_gib(need.total_bytes)} of memory, more than this machine's {_gib(memory)}; "
        f"lower {lower}"
    )
