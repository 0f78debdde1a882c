"""Observation flattening and action distributions for the gymnasium spaces rnnppo supports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from rnnppo.errors import UnsupportedSpaceError

if TYPE_CHECKING:
    import torch  # imported where the action methods use it: envs and sweeps check spaces without loading torch

# --- observations --------------------------------------------------------------------------------


def _kept(space: spaces.Space) -> bool:
    """Whether a Dict/Tuple part reaches the policy: text parts (gymnasium's Text, MiniGrid's MissionSpace,
    any space of str samples) are dropped."""
    return not (isinstance(space, spaces.Text) or space.dtype is str or space.dtype == np.dtype(str))


def _items(space: spaces.Dict | spaces.Tuple) -> list[tuple[str | int, spaces.Space]]:
    """(key, part) of a Dict or Tuple in flattening order, dropped parts left out."""
    pairs = space.spaces.items() if isinstance(space, spaces.Dict) else enumerate(space.spaces)
    return [(key, sub) for key, sub in pairs if _kept(sub)]


def dropped_parts(space: spaces.Space, prefix: str = "") -> list[str]:
    """The names of the Dict/Tuple parts the policy never sees (text), e.g. ['mission']."""
    if not isinstance(space, spaces.Dict | spaces.Tuple):
        return []
    pairs = space.spaces.items() if isinstance(space, spaces.Dict) else enumerate(space.spaces)
    out = []
    for key, sub in pairs:
        name = f"{prefix}{key}"
        out += dropped_parts(sub, f"{name}.") if _kept(sub) else [name]
    return out


def space_text(space: spaces.Space) -> str:
    """The space as gymnasium prints it, but a text part as its class name: MiniGrid's MissionSpace prints
    the function that makes its missions, with a memory address that differs from run to run."""
    if isinstance(space, spaces.Dict):
        return "Dict(" + ", ".join(f"'{key}': {space_text(sub)}" for key, sub in space.spaces.items()) + ")"
    if isinstance(space, spaces.Tuple):
        return "Tuple(" + ", ".join(space_text(sub) for sub in space.spaces) + ")"
    return str(space) if _kept(space) else f"{type(space).__name__} (text)"


def is_image(space: spaces.Space) -> bool:
    """A 3-D Box is an image, channels last as gymnasium gives them [H, W, C] (RLlib's VisionNet rule)."""
    return isinstance(space, spaces.Box) and len(space.shape) == 3


@dataclass(frozen=True)
class ObsPart:
    """One part of the flat observation: columns [start, start + size) of a frame. `image`: (H, W, C) for an
    image part (the conv encoder's input), None for a part that stays flat; `scale`: what the encoder
    multiplies an image by (1/255 for uint8, so pixels reach it in [0, 1])."""

    name: str
    start: int
    size: int
    image: tuple[int, int, int] | None = None
    scale: float = 1.0
    space: spaces.Space | None = field(default=None, compare=False, repr=False)  # the part's own space (export)


def obs_parts(space: spaces.Space, prefix: str = "", start: int = 0) -> list[ObsPart]:
    """The parts of one flat frame of `space`, in flattening order (flatten_batch's): Dict/Tuple parts one by one
    (nested names joined by '.'), any other space one part named `prefix` ('obs' at the top)."""
    if isinstance(space, spaces.Dict | spaces.Tuple):
        parts: list[ObsPart] = []
        for key, sub in _items(space):
            parts += obs_parts(sub, f"{prefix}{key}.", start + sum(p.size for p in parts))
        return parts
    name = prefix[:-1] if prefix else "obs"
    if is_image(space):
        height, width, channels = (int(d) for d in space.shape or ())
        scale = 1 / 255 if space.dtype == np.uint8 else 1.0
        return [ObsPart(name, start, flat_obs_size(space), (height, width, channels), scale, space)]
    return [ObsPart(name, start, flat_obs_size(space), space=space)]


def flat_obs_size(space: spaces.Space) -> int:
    """Length of the flat float vector an observation of `space` becomes."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)) if space.shape else 1
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, spaces.MultiBinary):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Dict):
        return sum(flat_obs_size(sub) for _, sub in _items(space))
    if isinstance(space, spaces.Tuple):
        return sum(flat_obs_size(sub) for _, sub in _items(space))
    raise UnsupportedSpaceError(
        f"observation space {space} is not supported: use Box, Discrete, MultiDiscrete, MultiBinary, "
        "Dict or Tuple (text parts of a Dict/Tuple are dropped), or add a --wrapper that converts it"
    )


def _one_hot(indices: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((indices.shape[0], n), dtype=np.float32)
    out[np.arange(indices.shape[0]), indices] = 1.0
    return out


def flatten_batch(space: spaces.Space, obs: Any, batch: int) -> np.ndarray:
    """A batch of observations (as a gymnasium vector env returns them) -> float32 [batch, flat_obs_size]."""
    if isinstance(space, spaces.Box):
        return np.asarray(obs, dtype=np.float32).reshape(batch, -1)
    if isinstance(space, spaces.Discrete):
        return _one_hot(np.asarray(obs, dtype=np.int64).reshape(batch) - int(space.start), int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        values = np.asarray(obs, dtype=np.int64).reshape(batch, -1) - space.start.reshape(1, -1)
        nvec = space.nvec.reshape(-1)
        return np.concatenate([_one_hot(values[:, i], int(n)) for i, n in enumerate(nvec)], axis=1)
    if isinstance(space, spaces.MultiBinary):
        return np.asarray(obs, dtype=np.float32).reshape(batch, -1)
    if isinstance(space, spaces.Dict):
        return np.concatenate([flatten_batch(sub, obs[key], batch) for key, sub in _items(space)], axis=1)
    if isinstance(space, spaces.Tuple):
        return np.concatenate([flatten_batch(sub, obs[i], batch) for i, sub in _items(space)], axis=1)
    flat_obs_size(space)  # raises the clear error
    raise AssertionError("unreachable")


def flatten_single(space: spaces.Space, obs: object) -> np.ndarray:
    """One observation -> float32 [flat_obs_size]."""
    return flatten_batch(space, _add_batch_dim(space, obs), 1)[0]


def _add_batch_dim(space: spaces.Space, obs: Any) -> object:
    if isinstance(space, spaces.Dict):
        return {key: _add_batch_dim(sub, obs[key]) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(_add_batch_dim(sub, obs[i]) for i, sub in enumerate(space.spaces))
    return np.asarray(obs)[None]


# --- actions -------------------------------------------------------------------------------------

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def normal_log_prob(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian log-density summed over the action dims: [..., action_dim] -> [...]."""
    import torch

    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(-1)


@dataclass(frozen=True)
class ActionHead:
    """How the policy head's output becomes a distribution over one action space.

    kind: "discrete", "multi_discrete" or "box". `dist_dim` is the policy head's width,
    `action_dim` the width of a stored action (1 for Discrete, len(nvec) for MultiDiscrete,
    prod(shape) for Box), `prev_action_dim` the width of the encoded previous action.
    Box with `free_log_std`: the head outputs the mean and the log-std is one learned vector (passed in
    as `log_std`); without: the head outputs [mean, log_std] per step (RLlib's default) and `log_std`
    is None.
    """

    kind: str
    nvec: tuple[int, ...]
    shape: tuple[int, ...]
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    start: np.ndarray | None = None
    free_log_std: bool = True

    @staticmethod
    def for_space(space: spaces.Space, free_log_std: bool = True) -> ActionHead:
        if isinstance(space, spaces.Discrete):
            return ActionHead("discrete", (int(space.n),), (), start=np.asarray([int(space.start)]))
        if isinstance(space, spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise UnsupportedSpaceError(f"action space {space} is not supported: MultiDiscrete must be 1-D")
            return ActionHead(
                "multi_discrete",
                tuple(int(n) for n in space.nvec),
                space.shape,
                start=np.asarray(space.start).reshape(-1),
            )
        if isinstance(space, spaces.Box):
            if not np.issubdtype(space.dtype, np.floating):
                raise UnsupportedSpaceError(f"action space {space} is not supported: Box actions must be float")
            return ActionHead(
                "box",
                (),
                space.shape,
                low=space.low.reshape(-1).astype(np.float32),
                high=space.high.reshape(-1).astype(np.float32),
                free_log_std=free_log_std,
            )
        raise UnsupportedSpaceError(f"action space {space} is not supported: use Discrete, MultiDiscrete or Box")

    @property
    def dist_dim(self) -> int:
        if self.kind == "box":
            return self.action_dim if self.free_log_std else 2 * self.action_dim
        return sum(self.nvec)

    @property
    def action_dim(self) -> int:
        if self.kind == "discrete":
            return 1
        if self.kind == "multi_discrete":
            return len(self.nvec)
        return int(math.prod(self.shape)) if self.shape else 1

    @property
    def prev_action_dim(self) -> int:
        return self.action_dim if self.kind == "box" else sum(self.nvec)

    # All methods below take dist_inputs [..., dist_dim] and actions [..., action_dim].

    def _split_logits(self, dist_inputs: torch.Tensor) -> list[torch.Tensor]:
        import torch

        return list(torch.split(dist_inputs, list(self.nvec), dim=-1))

    def _gaussian(self, dist_inputs: torch.Tensor, log_std: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Box: (mean, log_std), both [..., action_dim]."""
        if self.free_log_std:
            assert log_std is not None, "free_log_std: the policy passes its log-std vector"
            return dist_inputs, log_std.expand_as(dist_inputs)
        mean, per_step = dist_inputs.chunk(2, dim=-1)
        return mean, per_step

    def sample(self, dist_inputs: torch.Tensor, log_std: torch.Tensor | None, deterministic: bool = False):
        """-> (actions [..., action_dim], log_prob [...])."""
        import torch

        if self.kind == "box":  # the log-density from the standard-normal draw itself: fewer tensor calls per step
            mean, log_std = self._gaussian(dist_inputs, log_std)
            if deterministic:
                return mean, -(log_std + _HALF_LOG_2PI).sum(-1)
            noise = torch.randn_like(mean)
            actions = mean + log_std.exp() * noise
            return actions, -(0.5 * noise * noise + log_std + _HALF_LOG_2PI).sum(-1)
        if self.kind == "discrete":  # the rollout's common case, in the fewest tensor calls
            if deterministic:
                actions = dist_inputs.argmax(dim=-1, keepdim=True)
            else:  # Gumbel-max: argmax(logits + Gumbel noise) ~ Categorical(logits), with -log(Exp(1)) ~ Gumbel;
                # a fraction of the cost of Categorical(...).sample() in the rollout's hot path
                noise = torch.empty_like(dist_inputs).exponential_().log()
                actions = (dist_inputs - noise).argmax(dim=-1, keepdim=True)
            return actions, torch.log_softmax(dist_inputs, dim=-1).gather(-1, actions).squeeze(-1)
        chosen = []
        for logits in self._split_logits(dist_inputs):
            if deterministic:
                chosen.append(logits.argmax(dim=-1))
            else:  # Gumbel-max, as above
                noise = torch.empty_like(logits).exponential_().log()
                chosen.append((logits - noise).argmax(dim=-1))
        actions = torch.stack(chosen, dim=-1)
        return actions, self.log_prob(dist_inputs, log_std, actions)

    def log_prob(self, dist_inputs: torch.Tensor, log_std: torch.Tensor | None, actions: torch.Tensor):
        import torch

        if self.kind == "box":
            mean, log_std = self._gaussian(dist_inputs, log_std)
            return normal_log_prob(mean, log_std, actions)
        total = torch.zeros(dist_inputs.shape[:-1], device=dist_inputs.device)
        for i, logits in enumerate(self._split_logits(dist_inputs)):
            log_p = torch.log_softmax(logits, dim=-1)
            total = total + log_p.gather(-1, actions[..., i : i + 1].long()).squeeze(-1)
        return total

    def log_prob_and_entropy(
        self, dist_inputs: torch.Tensor, log_std: torch.Tensor | None, actions: torch.Tensor, entropy_grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log_prob() and entropy() for the update; the entropy without a gradient unless `entropy_grad`. A
        single Discrete head takes one log-softmax for both (the same values as the two calls)."""
        import torch

        if self.kind == "discrete" and not entropy_grad:
            log_p = torch.log_softmax(dist_inputs, dim=-1)
            logp = log_p.gather(-1, actions.long()).squeeze(-1)
            with torch.no_grad():
                return logp, -(log_p.exp() * log_p).sum(-1)
        logp = self.log_prob(dist_inputs, log_std, actions)
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            return logp, self.entropy(dist_inputs, log_std)

    def entropy(self, dist_inputs: torch.Tensor, log_std: torch.Tensor | None) -> torch.Tensor:
        import torch

        if self.kind == "box":
            _, log_std = self._gaussian(dist_inputs, log_std)
            return (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)
        total = torch.zeros(dist_inputs.shape[:-1], device=dist_inputs.device)
        for logits in self._split_logits(dist_inputs):
            log_p = torch.log_softmax(logits, dim=-1)
            total = total - (log_p.exp() * log_p).sum(-1)
        return total

    def encode_prev(self, actions: torch.Tensor) -> torch.Tensor:
        """Stored actions [..., action_dim] -> previous-action input [..., prev_action_dim]."""
        import torch

        if self.kind == "box":
            return actions.float()
        parts = [torch.nn.functional.one_hot(actions[..., i].long(), n).float() for i, n in enumerate(self.nvec)]
        return torch.cat(parts, dim=-1)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """Batched policy actions [N, action_dim] -> what the vector env's step() expects.

        Box actions are clipped to the bounds here; the log-prob stays that of the unclipped sample.
        """
        if self.kind == "discrete":
            assert self.start is not None  # for_space sets it for both discrete kinds
            return actions[:, 0] + self.start[0]
        if self.kind == "multi_discrete":
            assert self.start is not None
            return actions + self.start.reshape(1, -1)
        clipped = np.clip(actions, self.low, self.high)
        return clipped.reshape((actions.shape[0], *self.shape))
