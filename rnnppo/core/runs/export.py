"""Exporting a trained policy's step as a self-contained program: torch.export (`.pt2`) or ONNX.

The exported step is what the rollout computes for one env step, with nothing left to the caller but
flattening the observation and keeping the state:

    inputs   obs          [B, F]  float32  this step's flat observation, raw (Box: reshaped; Discrete: one-hot)
                                           A Dict/Tuple observation, or an image (the conv encoder), is the
                                           env's own observation instead, one input per part: obs.NAME [B, ...]
                                           in the part's dtype (uint8 images channels last, int64 Discrete,
                                           float32 Box), flattened inside as training flattens it; text parts
                                           left out
             prev_action  [B, A]  float32  the previous action as the network reads it: one-hot (Discrete,
                                           MultiDiscrete) or the raw action (Box); zeros at an episode start
             prev_reward  [B]     float32  the previous reward; zero at an episode start
             state        [B, S]  float32  zeros at an episode start, else the last step's state_out
    outputs  dist_inputs  [B, D]  float32  logits (Discrete; MultiDiscrete: each sub-action's, concatenated)
                                           or the Gaussian's mean (Box)
             log_std      [B, D]  float32  Box only: the Gaussian's log-std (one learned vector, repeated; or
                                           the per-step one with free_log_std=false or use_sde)
             value        [B]     float32  the critic's value
             state_out    [B, S]  float32

The observation filter (`observation_filter=mean_std`) is inside, with its statistics frozen as they
were saved, computed in float64 as training did. With `frame_stack=k` the last k-1 filtered frames
ride in the state after the recurrent state (zeros at an episode start, as in training), so `obs`
is still one frame. The batch size is free. TorchScript is deprecated; torch.export replaces it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces as gym_spaces
from torch import nn
from torch.nn import functional as F

from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.obs_filter import CLIP, EPSILON, buffer
from rnnppo.errors import ExportError

FORMATS = ("onnx", "torch-export")
INPUT_NAMES = ("obs", "prev_action", "prev_reward", "state")
EXAMPLE_BATCH = 3  # not 1: an exporter would read a size-1 batch as a constant


class PolicyStep(nn.Module):
    """One env step of a trained policy, filter and frame stack included (see the module docstring)."""

    def __init__(self, policy: RecurrentPolicy):
        super().__init__()
        self.policy = policy
        self.box = policy.action_head.kind == "box"
        self.frame_stack = policy.config.frame_stack
        self.frame = policy.shapes.obs // self.frame_stack
        self.rnn_state = policy.state_size
        self.filtered = policy.obs_mean is not None
        if self.filtered:
            # float64, as the rollout's numpy filter: the float32 cast comes after the clip, as there
            self.register_buffer("obs_mean", buffer(policy, "obs_mean").detach().clone().double())
            self.register_buffer("obs_scale", torch.sqrt(buffer(policy, "obs_var").detach().double() + EPSILON))
        # Image columns pass the filter as they come (obs_filter.py); None without image parts (the MLP path)
        self.image_columns = list(policy.image_columns)
        if self.filtered and self.image_columns:
            filtered_columns = torch.ones(self.frame, dtype=torch.bool)
            for start, stop in self.image_columns:
                filtered_columns[start:stop] = False
            self.register_buffer("filtered_columns", filtered_columns)

    @property
    def state_size(self) -> int:
        return self.rnn_state + (self.frame_stack - 1) * self.frame

    def forward(self, obs, prev_action, prev_reward, state):
        if self.filtered:
            normalised = torch.clamp((obs.double() - self.obs_mean) / self.obs_scale, -CLIP, CLIP).float()
            obs = torch.where(self.filtered_columns, normalised, obs) if self.image_columns else normalised
        frames = state[:, self.rnn_state :]  # [B, (k-1) F] the last k-1 filtered frames, oldest first
        stacked = torch.cat([frames, obs], dim=-1) if self.frame_stack > 1 else obs  # [B, k F]
        dist_inputs, value, rnn_out = self.policy.step(stacked, prev_action, prev_reward, state[:, : self.rnn_state])
        state_out = torch.cat([rnn_out, stacked[:, self.frame :]], dim=-1) if self.frame_stack > 1 else rnn_out
        if self.box and self.policy.log_std is None:  # a per-step log-std: the head's [mean, log-std] halves
            mean, log_std = dist_inputs.chunk(2, dim=-1)
            return mean, log_std, value, state_out
        if self.box:
            return dist_inputs, self.policy.log_std.expand_as(dist_inputs), value, state_out
        return dist_inputs, value, state_out

    def input_names(self) -> tuple[str, ...]:
        return INPUT_NAMES

    def dynamic_shapes(self) -> tuple[Any, ...]:
        """The batch (dimension 0 of every input) is free; the exporter would otherwise fix it."""
        batch = torch.export.Dim("batch", min=1, max=1 << 20)
        return tuple({0: batch} for _ in INPUT_NAMES)

    def output_names(self) -> tuple[str, ...]:
        return ("dist_inputs", "log_std", "value", "state_out") if self.box else ("dist_inputs", "value", "state_out")

    def example_inputs(self, batch: int = EXAMPLE_BATCH) -> tuple[torch.Tensor, ...]:
        return (
            torch.zeros(batch, self.frame),
            torch.zeros(batch, self.policy.shapes.prev_action),
            torch.zeros(batch),
            torch.zeros(batch, self.state_size),
        )

    def describe(self) -> dict[str, Any]:
        """What a caller needs to drive the step, stored with the exported file."""
        head = self.policy.action_head
        return {
            "rnnppo_export": 1,
            "env": self.policy.config.env,
            "inputs": {
                "obs": self.frame,
                "prev_action": self.policy.shapes.prev_action,
                "prev_reward": 1,
                "state": self.state_size,
            },
            "outputs": list(self.output_names()),
            "action_kind": head.kind,
            "action_nvec": list(head.nvec),
            "action_shape": list(head.shape),
            "observation_filter": self.policy.config.observation_filter,
            "frame_stack": self.frame_stack,
            # the flat obs's layout: Dict/Tuple parts in this order; images (H, W, C) flattened channels last, raw
            "obs_parts": [
                {"name": p.name, "start": p.start, "size": p.size, "image": list(p.image) if p.image else None}
                for p in self.policy.parts or []
            ],
        }


class PartsPolicyStep(PolicyStep):
    """PolicyStep for a Dict/Tuple observation or an image (see takes_parts): `obs` is the env's own observation,
    one input per part (`obs.image` uint8 [B, H, W, C], `obs.direction` int64 [B], `obs.position` float32 [B, 2],
    ...), flattened inside as the rollout flattens it (spaces.flatten_batch: Discrete one-hot, Box reshaped;
    text parts left out)."""

    def __init__(self, policy: RecurrentPolicy):
        super().__init__(policy)
        self.obs_parts = list(policy.parts or [])

    def forward(self, obs, prev_action, prev_reward, state):  # obs: a tuple, one tensor per part
        flat = [_flatten_part(part.space, value) for part, value in zip(self.obs_parts, obs, strict=True)]
        return super().forward(torch.cat(flat, dim=-1), prev_action, prev_reward, state)

    def input_names(self) -> tuple[str, ...]:
        return (*(f"obs.{part.name}" for part in self.obs_parts), *INPUT_NAMES[1:])

    def example_inputs(self, batch: int = EXAMPLE_BATCH) -> tuple[Any, ...]:
        flat = super().example_inputs(batch)
        return (tuple(_example_part(part.space, batch) for part in self.obs_parts), *flat[1:])

    def dynamic_shapes(self) -> tuple[Any, ...]:
        batch = torch.export.Dim("batch", min=1, max=1 << 20)
        return (tuple({0: batch} for _ in self.obs_parts), {0: batch}, {0: batch}, {0: batch})

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["inputs"] = {
            **{f"obs.{p.name}": _part_input(p.space) for p in self.obs_parts},
            **{k: v for k, v in out["inputs"].items() if k != "obs"},
        }
        return out


def _flatten_part(space: Any, value: torch.Tensor) -> torch.Tensor:
    """One part's batch [B, ...] -> float32 [B, flat size], as spaces.flatten_batch does it."""
    batch = value.shape[0]
    if isinstance(space, gym_spaces.Discrete):
        return F.one_hot(value.reshape(batch).long() - int(space.start), int(space.n)).float()
    if isinstance(space, gym_spaces.MultiDiscrete):
        values = value.reshape(batch, -1).long() - torch.as_tensor(space.start.reshape(-1), dtype=torch.long)
        nvec = space.nvec.reshape(-1)
        return torch.cat([F.one_hot(values[:, i], int(n)).float() for i, n in enumerate(nvec)], dim=-1)
    return value.reshape(batch, -1).float()


def _example_part(space: Any, batch: int) -> torch.Tensor:
    if isinstance(space, gym_spaces.Discrete):
        return torch.full((batch,), int(space.start), dtype=torch.long)
    if isinstance(space, gym_spaces.MultiDiscrete):
        return torch.as_tensor(space.start).long().reshape(1, *space.shape).repeat(batch, *([1] * len(space.shape)))
    dtype = torch.from_numpy(np.zeros(0, dtype=space.dtype)).dtype
    return torch.zeros((batch, *space.shape), dtype=dtype)


def _part_input(space: Any) -> dict[str, Any]:
    """What the caller feeds for one part: its shape after the batch and its dtype."""
    example = _example_part(space, 1)
    return {"shape": list(example.shape[1:]), "dtype": str(example.dtype).removeprefix("torch.")}


def takes_parts(policy: RecurrentPolicy) -> bool:
    """Whether the exported step takes the env's observation part by part: an observation with an image (the conv
    encoder reads it as the env gives it) or a Dict/Tuple one (its parts are named by their keys, so the flat
    layout is not the caller's to rebuild); a single Box, Discrete, MultiDiscrete or MultiBinary observation is
    one flat `obs`. (A Dict whose only part is named 'obs' reads as the latter: one flat `obs`.)"""
    names = [part.name for part in policy.parts or []]
    return policy.actor.structured or names not in ([], ["obs"])


def policy_step(policy: RecurrentPolicy) -> PolicyStep:
    """The exportable step of a policy (a copy on the CPU in evaluation mode; the policy is not changed); for a
    Dict/Tuple observation or an image, one that takes the env's observation part by part (PartsPolicyStep)."""
    import copy

    kind = PartsPolicyStep if takes_parts(policy) else PolicyStep
    step = kind(copy.deepcopy(policy).cpu().float().eval())
    if step.state_size == 0:
        raise ExportError(
            "rnn_type=none with frame_stack=1 has no state; export needs a recurrent state (an LSTM, a GRU, "
            "or frame_stack > 1)"
        )
    return step


def export_program(step: PolicyStep) -> torch.export.ExportedProgram:
    """The step as a torch.export program with a free batch size."""
    with torch.no_grad():
        return torch.export.export(step, step.example_inputs(), dynamic_shapes=step.dynamic_shapes(), strict=False)


def export(policy: RecurrentPolicy, fmt: str, out: Path) -> dict[str, Any]:
    """Write the policy's step to `out` as `fmt` ("onnx" or "torch-export"); returns its description."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}")
    step = policy_step(policy)
    description = step.describe()
    out = Path(out)
    # Written beside `out` and renamed over it: a half-written file never carries the final name. A plain
    # open (not mkstemp's 0600) so the file gets the umask's mode, like any other tool's output.
    partial = out.with_name(f".{out.stem}.{os.getpid()}.partial{out.suffix}")  # torch.export wants .pt2
    try:
        if fmt == "torch-export":
            program = export_program(step)
            torch.export.save(program, str(partial), extra_files={"rnnppo.json": json.dumps(description)})
        else:
            _onnx_program(step).save(str(partial))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return description


def _onnx_program(step: PolicyStep) -> Any:
    """The step through torch.onnx's torch.export-based exporter (the ONNX metadata carries describe())."""
    try:
        import onnx  # noqa: F401 - the exporter needs it; say so before it fails deep inside
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ExportError(f"ONNX export needs the onnx extra: pip install 'rnnppo[onnx]' ({err})") from None
    # The exporter's notes on its own internals (e.g. torchvision ops it skips) are not the user's business.
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                step,
                step.example_inputs(),
                dynamo=True,
                input_names=list(step.input_names()),
                output_names=list(step.output_names()),
                dynamic_shapes=step.dynamic_shapes(),
                verbose=False,
            )
    finally:
        quiet.setLevel(level)
    assert program is not None  # dynamo=True: the exporter always returns its program
    program.model.metadata_props.update({"rnnppo": json.dumps(step.describe())})
    return program
