"""The run configuration: one frozen dataclass, `name=value` parsing, aliases and validation."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnppo.core.wrapper_spec import WrapperSpecError, parse_wrapper, split_specs
from rnnppo.errors import ConfigError

ALIASES: dict[str, str] = {
    "seq_len": "max_seq_len",
    "cell": "lstm_cell_size",
    "emb": "encoder_out_size",
    "lambda": "lambda_",
    "steps": "total_steps",
}

ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "silu", "linear")
RNN_TYPES = ("lstm", "gru", "none")
STATE_IN_MODES = ("stored", "refresh")
OBSERVATION_FILTERS = ("none", "mean_std")
RLLIB_FILTER_NAMES = {"NoFilter": "none", "MeanStdFilter": "mean_std"}
DEVICES = ("cpu", "cuda", "auto")
VECTOR_MODES = ("sync", "async", "overlap")

ENV_KWARG_PREFIX = "env."

# Box actions without `free_log_std` set: one learned log-std vector (chosen by measurement, see
# benchmarks/continuous.py and the presets; RLlib's default is the per-step head output).
DEFAULT_FREE_LOG_STD = True


def _f(default: Any, group: str, doc: str) -> Any:
    if isinstance(default, list | dict):
        raise TypeError("use a tuple or a default_factory for mutable defaults")
    return field(default=default, metadata={"group": group, "doc": doc})


# What the LSTM saw per iteration (metrics.csv columns, averaged into summary.json's "lstm_saw"); kept
# here, free of torch, so the report reads the same names the trainer writes.
LSTM_SAW_KEYS = (
    "num_seqs",
    "seq_len_mean",
    "seq_len_max",
    "pad_frac",
    "pad_frac_max_seq_len",
    "cut_by_episode_end",
    "cut_by_max_seq_len",
    "cut_by_rollout_end",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run. Names follow RLlib where RLlib has one."""

    # --- environment -------------------------------------------------------------------------
    env: str = _f("rnnppo/StatelessCartPole-v0", "env", "gymnasium id or package.module:ClassName")
    env_kwargs: Mapping[str, Any] = field(
        default_factory=dict,
        metadata={"group": "env", "doc": "keyword arguments for the env, set as env.NAME=VALUE"},
    )
    wrappers: tuple[str, ...] = _f(
        (), "env", "gymnasium wrappers applied in order: package.module:Wrapper or ...:Wrapper(key=literal, ...)"
    )
    total_steps: int = _f(100_000, "env", "env steps to train for (over all envs)")

    vector_mode: str = _f(
        "sync",
        "env",
        "sync: step the envs in this process; async: in env_workers processes (costly env steps); overlap: as"
        " async, in two halves, one half's policy step computed while the other half's envs step",
    )
    env_workers: int = _f(
        0, "env", "processes stepping the envs with vector_mode=async or overlap; 0: one per usable core"
    )

    # --- model -------------------------------------------------------------------------------
    fcnet_hiddens: tuple[int, ...] = _f(
        (64,), "model", "encoder MLP widths; E is the last one unless encoder_out_size is set"
    )
    fcnet_activation: str = _f("tanh", "model", f"encoder activation: {', '.join(ACTIVATIONS)}")
    conv_filters: tuple[tuple[Any, ...], ...] | None = _f(
        None,
        "model",
        "image observations (3-D Box, channels last): conv layers [[out_channels, [kh, kw], stride], ...] before"
        " fcnet_hiddens, 'same' padding except the last layer's 'valid' (RLlib's); none: RLlib's default for"
        " 84x84, 42x42, 64x64, 96x96, 10x10, 240x320, 480x640 (and rnnppo's for MiniGrid's 7x7)",
    )
    conv_activation: str = _f("relu", "model", f"activation after every conv layer: {', '.join(ACTIVATIONS)}")
    normalize_images: bool = _f(
        True,
        "model",
        "uint8 images divided by 255 before the conv (sb3's normalize_images); false: the raw values (MiniGrid's"
        " images hold small object/colour/state codes, which 1/255 would squeeze into [0, 0.04])",
    )
    image_onehot: int = _f(
        0,
        "model",
        "images of category codes (MiniGrid's object/colour/state view): each channel's value one-hot into this"
        " many planes before the conv (C x N input channels, from the raw codes: normalize_images does not apply;"
        " a code >= N stops the run); 0: off. MiniGrid: 11",
    )
    encoder_out_size: int | None = _f(
        None, "model", "E: if set, one more encoder layer of this width after fcnet_hiddens (the LSTM's input)"
    )
    lstm_cell_size: int = _f(64, "model", "H: hidden size of the recurrent cell")
    head_fcnet_hiddens: tuple[int, ...] = _f(
        (),
        "model",
        "MLP widths after the cell, before the policy and value heads, activation fcnet_activation (RLlib's"
        " head_fcnet_hiddens, sb3's net_arch); each tower has its own; the gSDE features are its output",
    )
    max_seq_len: int = _f(16, "model", "T: truncated-BPTT chunk length in training (not a look-back window)")
    lstm_use_prev_action: bool = _f(False, "model", "feed the previous action to the LSTM (zeros at episode start)")
    lstm_use_prev_reward: bool = _f(False, "model", "feed the previous reward to the LSTM (zero at episode start)")
    vf_share_layers: bool = _f(False, "model", "true: value head on the shared LSTM; false: a separate critic")
    rnn_type: str = _f("lstm", "model", "recurrent cell: lstm, gru, or none (a dense layer of the same width)")
    state_in: str = _f("stored", "model", "sequence start state: stored (RLlib) or refresh (recomputed each epoch)")
    frame_stack: int = _f(1, "model", "feed the last k observations (memory-off controls use k > 1)")
    free_log_std: bool | None = _f(
        None,
        "model",
        "Box actions: true = one learned log-std vector (state-independent); false = the policy head outputs the "
        "log-std per step (RLlib's default); none = the Box default (true); Discrete actions: leave unset",
    )
    log_std_init: float = _f(0.0, "model", "Box actions: initial value of the learned log-std (sb3's log_std_init)")
    use_sde: bool = _f(
        False,
        "model",
        "Box actions: generalised state-dependent exploration (sb3's gSDE): noise = LSTM features x a random "
        "matrix redrawn every sde_sample_freq steps, so exploration is correlated in time",
    )
    sde_sample_freq: int = _f(
        -1, "model", "use_sde: redraw the noise matrix every this many env steps; -1: once per rollout (sb3's)"
    )

    # --- rollout -----------------------------------------------------------------------------
    num_envs: int = _f(8, "rollout", "parallel environments")
    rollout_len: int = _f(128, "rollout", "steps per env per iteration")
    observation_filter: str = _f(
        "mean_std", "rollout", "mean_std: normalise observations by running mean/std (RLlib's MeanStdFilter); none"
    )
    reward_scaling: bool | None = _f(
        None,
        "rollout",
        "divide rewards by a running std of the discounted return (sb3's VecNormalize norm_reward) for training; "
        "reported returns stay raw; none = on for Box actions, off otherwise",
    )

    # --- PPO ---------------------------------------------------------------------------------
    lr: float = _f(1e-3, "ppo", "Adam learning rate")
    gamma: float = _f(0.98, "ppo", "discount factor")
    lambda_: float = _f(0.8, "ppo", "GAE lambda")
    clip_param: float = _f(0.2, "ppo", "PPO ratio clip epsilon")
    vf_clip_param: float | None = _f(
        None, "ppo", "clamp the squared value error to [0, vf_clip_param] (RLlib); none: off"
    )
    vf_loss_coeff: float = _f(0.5, "ppo", "value loss weight")
    entropy_coeff: float = _f(0.0, "ppo", "entropy bonus weight")
    num_epochs: int = _f(10, "ppo", "passes over each rollout")
    minibatch_size: int = _f(256, "ppo", "env steps per minibatch (whole sequences; >= max_seq_len)")
    grad_clip: float | None = _f(0.5, "ppo", "global gradient-norm clip; none: off")
    kl_target: float | None = _f(None, "ppo", "stop the update when approx KL exceeds 1.5 x this; none: off")
    anneal_lr: bool = _f(True, "ppo", "anneal the learning rate linearly to zero over total_steps")

    # --- curiosity (ICM) -----------------------------------------------------------------------
    curiosity: bool = _f(False, "curiosity", "add an Intrinsic Curiosity Module reward")
    curiosity_feature_dim: int = _f(288, "curiosity", "ICM feature size")
    curiosity_feature_hiddens: tuple[int, ...] = _f((), "curiosity", "ICM feature net hidden widths ([] = linear)")
    curiosity_inverse_hiddens: tuple[int, ...] = _f((256,), "curiosity", "ICM inverse model hidden widths")
    curiosity_forward_hiddens: tuple[int, ...] = _f((256,), "curiosity", "ICM forward model hidden widths")
    curiosity_beta: float = _f(0.2, "curiosity", "forward-loss weight in (1-beta)*L_inv + beta*L_fwd")
    curiosity_eta: float = _f(1.0, "curiosity", "intrinsic reward scale")
    curiosity_lr: float = _f(1e-3, "curiosity", "ICM Adam learning rate")
    curiosity_updates: int = _f(
        16,
        "curiosity",
        "ICM optimizer steps per rollout: one on the whole rollout (RLlib's only one), then minibatches",
    )

    # --- run ---------------------------------------------------------------------------------
    seed: int = _f(0, "run", "random seed (torch, numpy, envs)")
    device: str = _f("cpu", "run", "cpu, cuda or auto")
    eval_episodes: int = _f(30, "run", "evaluation episodes after training (a seed's score averages them)")
    eval_deterministic: bool = _f(True, "run", "greedy actions in evaluation")
    num_threads: int = _f(1, "run", "torch intra-op threads")
    memory_horizon: bool = _f(
        True, "run", "after training, measure how far back the policy remembers (rnnppo memory) into summary.json"
    )
    memory_episodes: int = _f(16, "run", "episodes played for the end-of-training memory measurement")
    checkpoint_every: str = _f(
        "5m",
        "run",
        "write a resumable checkpoint.pt every N iterations (50), or minutes/seconds (10m, 90s); none: never",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))
        # RLlib's spellings carry over: observation_filter=MeanStdFilter / NoFilter
        rllib_filter = RLLIB_FILTER_NAMES.get(self.observation_filter)
        if rllib_filter is not None:
            object.__setattr__(self, "observation_filter", rllib_filter)
        # conv_filters given as text or lists (a TOML file, an API call): the one typed, hashable form
        object.__setattr__(self, "conv_filters", coerce("conv_filters", self.conv_filters))
        _validate(self)

    # Convenience -------------------------------------------------------------------------------
    @property
    def encoder_widths(self) -> tuple[int, ...]:
        """Widths of the encoder's layers, last one = E (empty: the flattened observation is E)."""
        if self.encoder_out_size is None:
            return self.fcnet_hiddens
        return (*self.fcnet_hiddens, self.encoder_out_size)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-friendly dict (lists instead of tuples; None kept)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = _plain_list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def uses_reward_scaling(self, box_actions: bool) -> bool:
        """Whether rewards are scaled for this run; `box_actions`: the env's action space is a Box."""
        return box_actions if self.reward_scaling is None else self.reward_scaling

    def uses_free_log_std(self) -> bool:
        """Box actions: whether the log-std is one learned vector (true) or a per-step output (false; use_sde's
        policy emits [mean, per-step log-std] too)."""
        if self.use_sde:
            return False
        return DEFAULT_FREE_LOG_STD if self.free_log_std is None else self.free_log_std

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict of full names (as written by to_dict); values are type-checked.

        A stored config without `observation_filter` was written before the field existed (before
        2026-11-26), when every run saw raw observations: it reads as `none`, not today's default.
        Likewise one without `reward_scaling` (before 2026-11-30) trained on unscaled rewards. (One without
        `free_log_std` learned one log-std vector, which is what `none` still means for Box actions.)"""
        data = {"observation_filter": "none", "reward_scaling": False, **data}
        return cls(**{name: coerce(name, value) for name, value in _canonical_items(data)})


def _plain_list(value: tuple) -> list[Any]:
    """Nested tuples (conv_filters) as nested lists, as JSON and TOML read them back."""
    return [_plain_list(item) if isinstance(item, tuple) else item for item in value]


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


# --- names ---------------------------------------------------------------------------------------


class Setting(typing.NamedTuple):
    """One setting as `rnnppo settings` lists it, read from the field's own metadata."""

    name: str
    aliases: tuple[str, ...]
    default: str  # in the `name=value` form
    group: str
    doc: str


def settings() -> list[Setting]:
    """Every TrainConfig field in declaration order, with its aliases, default and one-line help."""
    out = []
    for f in dataclasses.fields(TrainConfig):
        # env_kwargs is the one field with a factory default (no keywords); it is set as env.NAME=VALUE
        default = format_value(f.default) if f.default is not dataclasses.MISSING else "-"
        aliases = tuple(alias for alias, full in ALIASES.items() if full == f.name)
        name = f"{ENV_KWARG_PREFIX}NAME" if f.name == "env_kwargs" else f.name
        out.append(Setting(name, aliases, default, f.metadata["group"], f.metadata["doc"]))
    return out


def canonical_name(name: str) -> str:
    """Full field name for a name or alias; `env.X` stays as is. Unknown names raise ConfigError."""
    name = name.strip()
    if name.startswith(ENV_KWARG_PREFIX) and len(name) > len(ENV_KWARG_PREFIX):
        return name
    if name in FIELDS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    candidates = [*FIELDS, *ALIASES]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else "; `rnnppo settings` lists them"
    raise ConfigError(f"unknown setting '{name}'{hint}")


def _canonical_items(data: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    env_kwargs: dict[str, Any] = {}
    for name, value in data.items():
        full = canonical_name(name)
        if full.startswith(ENV_KWARG_PREFIX):
            env_kwargs[full[len(ENV_KWARG_PREFIX) :]] = value
        elif full == "env_kwargs":
            if not isinstance(value, Mapping):
                raise ConfigError("env_kwargs must be a table of NAME = VALUE")
            env_kwargs.update(value)
        else:
            yield full, value
    if env_kwargs:
        yield "env_kwargs", env_kwargs


# --- values --------------------------------------------------------------------------------------

_NONE_WORDS = ("none", "null")


def field_kind(name: str) -> tuple[type, bool, bool]:
    """(base type, optional?, is a tuple?) for a TrainConfig field."""
    return _hint_kind(_HINTS[name])


def _hint_kind(hint: Any) -> tuple[type, bool, bool]:
    """(base type, optional?, is a tuple?) for a type hint."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return item, optional, True
    if typing.get_origin(hint) is not None:  # Mapping
        return dict, optional, False
    return hint, optional, False


def parse_scalar(text: str) -> Any:
    """Best-effort literal for env kwargs: bool, int, finite float, none, else the string. `nan` and `inf`
    stay text: a NaN is not equal to itself, so a study storing one would conflict with its own re-run."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in _NONE_WORDS:
        return None
    for cast in (int, float):
        try:
            value = cast(text)
        except ValueError:
            continue
        if not (isinstance(value, float) and not math.isfinite(value)):
            return value
    return text.strip()


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = math.nan
            if math.isfinite(as_float) and as_float.is_integer():
                return int(as_float)
    raise ConfigError(f"{name}={value!r} is not an integer")


def _to_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is not a number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name}={value!r} must be a finite number")
    return out


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"{name}={value!r} must be true or false")


def _to_int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise ConfigError(f"{name}={value!r} must be a bracketed list, e.g. {name}=[64,64]")
        inner = text[1:-1].strip()
        items: list[Any] = [] if not inner else [part.strip() for part in inner.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigError(f"{name}={value!r} must be a bracketed list, e.g. {name}=[64,64]")
    if any(item == "" for item in items):
        raise ConfigError(f"{name}={value!r} has an empty list item")
    return tuple(_to_int(name, item) for item in items)


def _to_str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # commas inside a wrapper's (arguments) do not split it
        return split_specs(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise ConfigError(f"{name}={value!r} must be a list of names")


def _to_conv_filters(name: str, value: Any) -> tuple[tuple[Any, ...], ...]:
    """`[[16,[8,8],4],[32,[4,4],2]]` (text or lists) -> ((16, (8, 8), 4), (32, (4, 4), 2)): each layer
    [out_channels, kernel, stride], kernel and stride one integer or [height, width]."""
    example = f"e.g. {name}=[[16,[3,3],1],[32,[3,3],2]]"
    if isinstance(value, str):
        try:
            value = json.loads(value.strip())
        except json.JSONDecodeError:
            raise ConfigError(
                f"{name}={value!r} must be a list of [out_channels, [kh, kw], stride], {example}"
            ) from None

    def size(item: Any) -> int | tuple[int, int]:
        if isinstance(item, list | tuple) and len(item) == 2:
            return (_to_int(name, item[0]), _to_int(name, item[1]))
        return _to_int(name, item)

    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{name}={value!r} must be a non-empty list of layers, {example}")
    layers = []
    for layer in value:
        if not isinstance(layer, list | tuple) or len(layer) != 3 or isinstance(layer[0], list | tuple):
            raise ConfigError(f"{name}: layer {layer!r} must be [out_channels, [kh, kw], stride], {example}")
        layers.append((_to_int(name, layer[0]), size(layer[1]), size(layer[2])))
    return tuple(layers)


def coerce(name: str, value: Any) -> Any:
    """Convert a raw value (a CLI string or a TOML/JSON value) to the field's type."""
    if name == "conv_filters":
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            return None
        return _to_conv_filters(name, value)
    if name == "env_kwargs":
        if not isinstance(value, Mapping):
            raise ConfigError("env_kwargs must be a table of NAME = VALUE")
        return {str(k): (parse_scalar(v) if isinstance(v, str) else v) for k, v in value.items()}
    if name == "checkpoint_every" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # TOML's checkpoint_every = 50
    return coerce_as(_HINTS[name], name, value)


def coerce_as(hint: Any, name: str, value: Any) -> Any:
    """Convert `value` to the type `hint` (bool, int, float, str, a tuple of them, or one of those or None);
    `name` is what an error names. The one coercion rule for settings and for other typed files (nightly)."""
    base, optional, is_tuple = _hint_kind(hint)
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)):
        return None
    if is_tuple:
        return _to_int_tuple(name, value) if base is int else _to_str_tuple(name, value)
    if base is bool:
        return _to_bool(name, value)
    if base is int:
        return _to_int(name, value)
    if base is float:
        return _to_float(name, value)
    if base is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} must be text")
        return value.strip()
    raise ConfigError(f"{name} cannot be set from {value!r}")


def format_value(value: Any) -> str:
    """The `name=value` text form of a value (inverse of coerce for CLI words)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


# --- validation ----------------------------------------------------------------------------------


def _require(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={format_value(value)} is invalid: {why}")


def _validate(c: TrainConfig) -> None:
    """Refuse the first invalid setting, one group of settings after another. The groups run in the order
    the checks always ran, so a config with several bad values is refused for the same one."""
    _check_counts(c)
    _check_exploration_and_evaluation(c)
    _check_network_choices(c)
    _check_ppo(c)
    _check_curiosity(c)
    _check_rollout_and_env(c)


def _check_counts(c: TrainConfig) -> None:
    """Step counts, sizes and layer widths."""
    positive_ints = (
        "total_steps",
        "lstm_cell_size",
        "max_seq_len",
        "frame_stack",
        "num_envs",
        "rollout_len",
        "num_epochs",
        "minibatch_size",
        "curiosity_feature_dim",
        "num_threads",
        "memory_episodes",
    )
    for name in positive_ints:
        value = getattr(c, name)
        _require(
            isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            name,
            value,
            "must be an integer >= 1",
        )
    for name in (
        "fcnet_hiddens",
        "head_fcnet_hiddens",
        "curiosity_feature_hiddens",
        "curiosity_inverse_hiddens",
        "curiosity_forward_hiddens",
    ):
        widths = getattr(c, name)
        _require(all(w >= 1 for w in widths), name, widths, "every width must be >= 1")


def _check_exploration_and_evaluation(c: TrainConfig) -> None:
    """gSDE's settings, the encoder's output size and the evaluation episodes."""
    _require(
        c.sde_sample_freq == -1 or c.sde_sample_freq >= 1,
        "sde_sample_freq",
        c.sde_sample_freq,
        "must be -1 (once per rollout) or >= 1",
    )
    if c.use_sde:
        _require(
            c.free_log_std is None,
            "free_log_std",
            c.free_log_std,
            "use_sde=true derives the std from the LSTM features; leave free_log_std unset",
        )
    if c.encoder_out_size is not None:
        _require(c.encoder_out_size >= 1, "encoder_out_size", c.encoder_out_size, "must be >= 1 (or none)")
    _require(c.eval_episodes >= 0, "eval_episodes", c.eval_episodes, "must be >= 0")


def _check_network_choices(c: TrainConfig) -> None:
    """The network's named choices (activations, conv filters, recurrence, state input, observation filter)
    and the device."""
    _require(
        c.fcnet_activation in ACTIVATIONS,
        "fcnet_activation",
        c.fcnet_activation,
        f"choose one of {', '.join(ACTIVATIONS)}",
    )
    _require(
        c.conv_activation in ACTIVATIONS,
        "conv_activation",
        c.conv_activation,
        f"choose one of {', '.join(ACTIVATIONS)}",
    )
    if c.conv_filters is not None:
        numbers = [n for layer in c.conv_filters for n in _flat_ints(layer)]
        _require(all(n >= 1 for n in numbers), "conv_filters", c.conv_filters, "every size must be >= 1")
    _require(
        0 <= c.image_onehot <= 256,
        "image_onehot",
        c.image_onehot,
        "must be 0 (off) or the number of codes per image channel (1..256; MiniGrid: 11)",
    )
    _require(c.rnn_type in RNN_TYPES, "rnn_type", c.rnn_type, f"choose one of {', '.join(RNN_TYPES)}")
    _require(c.state_in in STATE_IN_MODES, "state_in", c.state_in, f"choose one of {', '.join(STATE_IN_MODES)}")
    _require(
        c.observation_filter in OBSERVATION_FILTERS,
        "observation_filter",
        c.observation_filter,
        f"choose one of {', '.join(OBSERVATION_FILTERS)}",
    )
    _require(
        c.device in DEVICES or c.device.startswith("cuda:"), "device", c.device, "choose cpu, cuda, cuda:N or auto"
    )


def _check_ppo(c: TrainConfig) -> None:
    """PPO's loss and optimiser settings."""
    _require(c.lr > 0, "lr", c.lr, "must be > 0")
    _require(0 <= c.gamma <= 1, "gamma", c.gamma, "must be in [0, 1]")
    _require(0 <= c.lambda_ <= 1, "lambda_", c.lambda_, "must be in [0, 1]")
    _require(c.clip_param > 0, "clip_param", c.clip_param, "must be > 0")
    if c.vf_clip_param is not None:
        _require(c.vf_clip_param > 0, "vf_clip_param", c.vf_clip_param, "must be > 0 (or none)")
    _require(c.vf_loss_coeff >= 0, "vf_loss_coeff", c.vf_loss_coeff, "must be >= 0")
    _require(c.entropy_coeff >= 0, "entropy_coeff", c.entropy_coeff, "must be >= 0")
    if c.grad_clip is not None:
        _require(c.grad_clip > 0, "grad_clip", c.grad_clip, "must be > 0 (or none)")
    if c.kl_target is not None:
        _require(c.kl_target > 0, "kl_target", c.kl_target, "must be > 0 (or none)")


def _check_curiosity(c: TrainConfig) -> None:
    """The curiosity module's loss weights, learning rate and updates."""
    _require(0 <= c.curiosity_beta <= 1, "curiosity_beta", c.curiosity_beta, "must be in [0, 1]")
    _require(c.curiosity_eta >= 0, "curiosity_eta", c.curiosity_eta, "must be >= 0")
    _require(c.curiosity_lr > 0, "curiosity_lr", c.curiosity_lr, "must be > 0")
    _require(c.curiosity_updates >= 1, "curiosity_updates", c.curiosity_updates, "must be >= 1")


def _check_rollout_and_env(c: TrainConfig) -> None:
    """Minibatches against sequences, checkpoints, the env, its vectorisation and its wrappers."""
    _require(
        c.minibatch_size >= c.max_seq_len,
        "minibatch_size",
        c.minibatch_size,
        f"must be >= max_seq_len ({c.max_seq_len}): a minibatch holds whole sequences",
    )
    checkpoint_interval(c.checkpoint_every)
    _require(bool(c.env.strip()), "env", c.env, "give a gymnasium id or package.module:ClassName")
    _require(c.vector_mode in VECTOR_MODES, "vector_mode", c.vector_mode, f"choose one of {', '.join(VECTOR_MODES)}")
    _require(c.env_workers >= 0, "env_workers", c.env_workers, "must be >= 0 (0: one per usable core)")
    for text in c.wrappers:
        try:
            parse_wrapper(text)
        except WrapperSpecError as err:
            raise ConfigError(str(err)) from None


def _flat_ints(value: Any) -> list[Any]:
    return [n for item in value for n in _flat_ints(item)] if isinstance(value, list | tuple) else [value]


def checkpoint_interval(text: str) -> tuple[int | None, float | None]:
    """`checkpoint_every` -> (every N iterations, every S seconds); (None, None) means never.
    `50` is iterations; `10m`, `90s`, `1h` are wall-clock time; `none`, `off` or `0` turn it off."""
    word = str(text).strip().lower()
    if word in ("none", "off", "0", "never", ""):
        return None, None
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        if word[-1] in units:
            seconds = float(word[:-1]) * units[word[-1]]
            if math.isfinite(seconds) and seconds > 0:
                return None, seconds
        else:
            iterations = int(word)
            if iterations > 0:
                return iterations, None
    except ValueError:
        pass
    raise ConfigError(f"checkpoint_every={text} is invalid: give iterations (50), a time (10m, 90s, 1h) or none")


# --- building configs from words and files ---------------------------------------------------------


def split_assignment(word: str) -> tuple[str, str]:
    """'name=value' -> (name, value); a word without '=' raises ConfigError."""
    if "=" not in word:
        raise ConfigError(f"'{word}' is not NAME=VALUE (e.g. max_seq_len=16)")
    name, value = word.split("=", 1)
    if not name.strip():
        raise ConfigError(f"'{word}' has no name before '='")
    return name.strip(), value.strip()


def parse_overrides(words: Iterable[str]) -> dict[str, Any]:
    """CLI words `name=value` -> {full name: typed value}; env.X words go into env_kwargs."""
    out: dict[str, Any] = {}
    env_kwargs: dict[str, Any] = {}
    for word in words:
        name, text = split_assignment(word)
        full = canonical_name(name)
        if full.startswith(ENV_KWARG_PREFIX):
            env_kwargs[full[len(ENV_KWARG_PREFIX) :]] = parse_scalar(text)
        else:
            out[full] = coerce(full, text)
    if env_kwargs:
        out["env_kwargs"] = {**out.get("env_kwargs", {}), **env_kwargs}
    return out


def read_toml(path: Path, what: str = "config file", hint: str = "") -> dict[str, Any]:
    """A TOML file's tables; a missing or malformed file is a ConfigError naming `what` and `path` (+ hint)."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist{hint}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {path} is not valid TOML: {err}") from None


def load_toml(path: Path) -> dict[str, Any]:
    """A config TOML (flat `name = value`, or grouped in tables) -> {full name: typed value}. A `[preset]`
    table (a shipped preset's description and score, see presets.py) is not settings and is skipped,
    so a copied preset file works as a --config file."""
    return settings_from_toml(read_toml(path))


def settings_from_toml(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed TOML tables -> {full name: typed value}; see load_toml."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "preset" and isinstance(value, dict):
            continue
        if isinstance(value, dict) and key not in ("env_kwargs",) and key not in FIELDS:
            flat.update(value)  # a [group] table
        else:
            flat[key] = value
    return parse_mapping(flat)


def parse_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """{name or alias: raw value} (a TOML table, Python keywords) -> {full name: typed value}; `env.X`
    names and an `env_kwargs` table both go into env_kwargs."""
    return {name: coerce(name, value) for name, value in _canonical_items(data)}


def with_env_kwargs(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`base` (full names) with `values` laid over it: an `env.X` name sets keyword X in `env_kwargs`
    (merged with the base's), every other name replaces the base's value."""
    out = dict(base)
    env_kwargs = dict(out.get("env_kwargs") or {})
    for name, value in values.items():
        if name.startswith(ENV_KWARG_PREFIX):
            env_kwargs[name[len(ENV_KWARG_PREFIX) :]] = value
        else:
            out[name] = value
    if env_kwargs or "env_kwargs" in out:
        out["env_kwargs"] = env_kwargs
    return out


def assemble_config(
    words: Iterable[str] | None, config_file: Path | None = None, preset: str | None = None, **options: Any
) -> TrainConfig:
    """Defaults <- --preset <- --config file <- NAME=VALUE words <- explicit options (those not None).

    A preset's env arguments belong to its env: a preset that sets some, with another env (from --env, the
    config file or env=...), is refused in one line (its training settings were tuned with those arguments).
    An option and a NAME=VALUE word for the same setting must agree."""
    base = load_toml(config_file) if config_file is not None else {}
    overrides = parse_overrides(words or [])
    explicit = {name: value for name, value in options.items() if value is not None}
    if "wrappers" in explicit:
        explicit["wrappers"] = tuple(explicit["wrappers"])
    _check_agree(explicit, overrides)
    if preset is not None:
        from rnnppo.core.presets import load_preset  # presets read TOML files through this module

        preset_settings = dict(load_preset(preset).settings)
        env = explicit.get("env", overrides.get("env", base.get("env", preset_settings.get("env"))))
        if env != preset_settings.get("env") and preset_settings.get("env_kwargs"):
            shown = " ".join(f"env.{k}={format_value(v)}" for k, v in preset_settings["env_kwargs"].items())
            raise ConfigError(
                f"--preset {preset} sets {shown} for {preset_settings.get('env')}, not for {env}; give --env "
                f"{preset_settings.get('env')}, or drop --preset and set its training settings yourself "
                "(`rnnppo presets` lists them)"
            )
        if "env_kwargs" in preset_settings and "env_kwargs" in base:
            base["env_kwargs"] = {**preset_settings["env_kwargs"], **base["env_kwargs"]}
        base = {**preset_settings, **base}
    merged = {**base, **overrides}
    if "env_kwargs" in base and "env_kwargs" in overrides:
        merged["env_kwargs"] = {**base["env_kwargs"], **overrides["env_kwargs"]}
    return build_config(merged, **explicit)


OPTION_FLAGS = {
    "env": "--env",
    "total_steps": "--steps",
    "seed": "--seed",
    "device": "--device",
    "wrappers": "--wrapper",
}


def _check_agree(explicit: Mapping[str, Any], words: Mapping[str, Any]) -> None:
    """`--steps 2048 total_steps=1024`: two values for one setting; ConfigError instead of picking one."""
    for name, flag in OPTION_FLAGS.items():
        if name in explicit and name in words and words[name] != explicit[name]:
            given = f"{flag} {format_value(explicit[name])} and {name}={format_value(words[name])}"
            raise ConfigError(f"{given} disagree; give one of them")


def build_config(base: Mapping[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """Defaults <- base <- overrides, all by full name; returns a validated TrainConfig."""
    values: dict[str, Any] = {}
    for layer in (base or {}), overrides:
        for name, value in layer.items():
            if name == "env_kwargs":
                values["env_kwargs"] = {**values.get("env_kwargs", {}), **value}
            else:
                values[name] = value
    try:
        return TrainConfig(**values)
    except TypeError as err:  # should not happen after canonical_name, but say it plainly
        raise ConfigError(str(err)) from None


def to_toml(config: TrainConfig) -> str:
    """Serialise a config to TOML that load_toml reads back unchanged."""
    lines = []
    data = config.to_dict()
    env_kwargs = data.pop("env_kwargs")
    for name, value in data.items():
        if value is None:
            value = "none"  # TOML has no null; coerce() reads "none" back as None
        lines.append(f"{name} = {_toml_value(value)}")
    if env_kwargs:
        lines.append("")
        lines.append("[env_kwargs]")
        for key, value in env_kwargs.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")
