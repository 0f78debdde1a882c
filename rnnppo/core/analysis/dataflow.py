"""What the model does with this config: the data flow with its shapes, parameter counts, and a probe
rollout that measures what the LSTM sees in training."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from rnnppo.core.config import TrainConfig
from rnnppo.core.encoders import StructuredEncoder
from rnnppo.core.envs.make import describe_spaces, make_vector_env
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.rollout import Collector
from rnnppo.core.sequences import chunk, sequence_stats
from rnnppo.core.spaces import ActionHead, dropped_parts, flat_obs_size, obs_parts, space_text


@dataclass(frozen=True)
class FlowRow:
    stage: str
    shape: str
    note: str = ""


@dataclass(frozen=True)
class ModelDescription:
    rollout: list[FlowRow]
    training: list[FlowRow]
    parameters: list[tuple[str, int]]
    answers: list[str]


def _act(config: TrainConfig) -> str:
    return config.fcnet_activation


_CELLS = {"lstm": "LSTM", "gru": "GRU", "none": "dense (no memory)"}


def describe(config: TrainConfig, obs_space: gym.Space, action_space: gym.Space) -> ModelDescription:
    """The model this config builds: its data flow in rollouts and in training (with shapes), its
    parameter counts, and the answers to what max_seq_len does and does not do."""
    head = ActionHead.for_space(action_space, free_log_std=config.uses_free_log_std())
    obs_dim = flat_obs_size(obs_space) * config.frame_stack
    policy = RecurrentPolicy(obs_dim, head, config, obs_parts(obs_space))
    return ModelDescription(
        _rollout_rows(config, policy, head, obs_space, obs_dim),
        _training_rows(config, policy, obs_dim),
        _parameter_counts(policy),
        _answers(config, policy),
    )


def _rollout_rows(
    config: TrainConfig, policy: RecurrentPolicy, head: ActionHead, obs_space: gym.Space, obs_dim: int
) -> list[FlowRow]:
    """One step of a rollout, observation to heads, for the N envs at once."""
    s, n, cell = policy.shapes, config.num_envs, _CELLS[config.rnn_type]
    state_text = {"lstm": f"h, c [{n}, {s.hidden}] each", "gru": f"h [{n}, {s.hidden}]", "none": "none"}[
        config.rnn_type
    ]
    encoder = policy.actor.encoder
    encoder_in = encoder.concat_size if isinstance(encoder, StructuredEncoder) else obs_dim
    widths = (
        " → ".join(str(w) for w in (encoder_in, *config.encoder_widths)) if config.encoder_widths else str(encoder_in)
    )
    extra_in = []
    if config.lstm_use_prev_action:
        extra_in.append(f"prev action {s.prev_action}")
    if config.lstm_use_prev_reward:
        extra_in.append("prev reward 1")
    concat = f"{s.encoder_out} (encoder)" + "".join(f" + {part}" for part in extra_in)
    obs_note = _observation_note(config, obs_space)
    if isinstance(encoder, StructuredEncoder):
        obs_note += "; images pass the filter unnormalised" if config.observation_filter == "mean_std" else ""
        conv_rows = [FlowRow(stage, f"[{n}, {shape[1:]}", note) for stage, shape, note in encoder.stages()]
        conv_rows.append(FlowRow("concatenate", f"[{n}, {encoder.concat_size}]", "conv outputs and flat parts"))
    else:
        conv_rows = []
    return [
        FlowRow("observation", f"[{n}, {obs_dim}]", obs_note),
        *conv_rows,
        FlowRow("encoder MLP", f"[{n}, {s.encoder_out}]", f"{widths} ({_act(config)}); E = {s.encoder_out}"),
        FlowRow(f"{cell} input", f"[{n}, {s.rnn_in}]", concat),
        FlowRow(
            f"{cell} one step", f"[{n}, {s.hidden}]", f"state_in {state_text} → state_out, chained to the next step"
        ),
        *_head_rows(config, policy, n),
        FlowRow("policy head", _distribution(config, policy, head).format(B=n), ""),
        FlowRow("value head", f"[{n}]", "shared LSTM" if config.vf_share_layers else "separate encoder + LSTM critic"),
    ]


def _observation_note(config: TrainConfig, obs_space: gym.Space) -> str:
    """What the policy's observation is made of: flattening, wrappers, filter, frame stack, dropped parts."""
    return (
        f"flattened from {space_text(obs_space)}"
        + (f" (after {' → '.join(config.wrappers)})" if config.wrappers else "")
        + (", normalised by running mean/std, clipped to ±10" if config.observation_filter == "mean_std" else "")
        + (f", {config.frame_stack} frames stacked" if config.frame_stack > 1 else "")
        + "".join(f"; '{part}' (text) dropped" for part in dropped_parts(obs_space))
    )


def _distribution(config: TrainConfig, policy: RecurrentPolicy, head: ActionHead) -> str:
    """The policy head's output, with `{B}` for the rows."""
    s = policy.shapes
    if policy.use_sde:
        source = "head MLP's output" if config.head_fcnet_hiddens else f"{_CELLS[config.rnn_type]} features"
        return f"Gaussian mean [{{B}}, {head.action_dim}] (+ gSDE log-std from the {source})"
    if head.kind == "box":
        return (
            f"Gaussian mean [{{B}}, {s.dist}] (+ one learned log-std vector)"
            if head.free_log_std
            else f"Gaussian mean and log-std [{{B}}, {s.dist}]"
        )
    return f"logits [{{B}}, {s.dist}]"


def _head_rows(config: TrainConfig, policy: RecurrentPolicy, rows: int | str) -> list[FlowRow]:
    """head_fcnet_hiddens: the MLP between the cell and the heads (no row without one)."""
    if not config.head_fcnet_hiddens:
        return []
    s = policy.shapes
    head_widths = " → ".join(str(w) for w in (s.hidden, *config.head_fcnet_hiddens))
    return [FlowRow("head MLP", f"[{rows}, {s.features}]", f"{head_widths} ({_act(config)}), per step")]


def _training_rows(config: TrainConfig, policy: RecurrentPolicy, obs_dim: int) -> list[FlowRow]:
    """The update's forward: the rollout batch cut into sequences, through the cell over time, and back."""
    s, n, cell = policy.shapes, config.num_envs, _CELLS[config.rnn_type]
    batch = config.num_envs * config.rollout_len
    seq = config.max_seq_len
    # With no episode end each env's rollout is cut every max_seq_len steps on its own, so every env
    # ends with its own partial sequence: num_envs x ceil(rollout_len / max_seq_len), not ceil(B / T).
    per_env = -(-config.rollout_len // seq)
    no_end_seqs = n * per_env
    no_end_len = min(seq, config.rollout_len)  # L: sequences are padded to the longest real one
    encoder = policy.actor.encoder
    training_conv = (
        [FlowRow("conv stacks (all rows)", f"[S·L, {encoder.concat_size}]", "one conv call per part")]
        if isinstance(encoder, StructuredEncoder)
        else []
    )
    return [
        FlowRow(
            "rollout batch",
            f"[{batch}, {obs_dim}]",
            f"B = num_envs × rollout_len = {n} × {config.rollout_len} real steps",
        ),
        FlowRow(
            "cut into sequences",
            f"[S, L] = [{no_end_seqs}, {no_end_len}] with no episode end",
            f"S = {n} × ⌈{config.rollout_len}/{seq}⌉ = {no_end_seqs} when no episode ends (each env's rollout is "
            f"cut every max_seq_len = {seq} steps); every episode end inside a rollout adds one; right "
            "zero-padding, mask",
        ),
        *training_conv,
        FlowRow("encoder MLP (all rows)", f"[S·L, {s.encoder_out}]", "time does not matter to the encoder"),
        FlowRow(
            f"reshape for the {cell}",
            f"[S, L, {s.rnn_in}]",
            f"[{no_end_seqs}, {no_end_len}, {s.rnn_in}] when no episode ends "
            f"({no_end_seqs * no_end_len - batch} padded steps)",
        ),
        FlowRow(
            f"{cell} over time",
            f"[S, L, {s.hidden}]",
            "each sequence starts from its stored state_in [S, ·]; no gradient crosses sequences",
        ),
        *_head_rows(config, policy, "S, L"),
        FlowRow(
            "reshape back + heads",
            f"[S·L, {s.features}] → [S·L, {s.dist}], values [S·L]",
            "loss = mean over valid (unpadded) steps only",
        ),
    ]


def _parameter_counts(policy: RecurrentPolicy) -> list[tuple[str, int]]:
    """Trainable parameters per part, then the total."""
    encoder = policy.actor.encoder
    parameters = [
        *(
            [("conv stacks", _count(encoder.convs)), ("encoder MLP", _count(encoder.mlp))]
            if isinstance(encoder, StructuredEncoder)
            else [("encoder", _count(encoder))]
        ),
        (_CELLS[policy.config.rnn_type], _count(policy.actor.rnn)),
        *([("head MLP", _count(policy.actor.head))] if policy.actor.head is not None else []),
        (
            "policy head",
            _count(policy.pi) + sum(p.numel() for p in (policy.log_std, policy.sde_log_std) if p is not None),
        ),
        ("value head", _count(policy.vf)),
    ]
    if policy.critic is not None:
        critic = "critic encoder + cell" + (" + head MLP" if policy.critic.head is not None else "")
        parameters.append((critic, _count(policy.critic)))
    parameters.append(("total", _count(policy)))
    return parameters


def _answers(config: TrainConfig, policy: RecurrentPolicy) -> list[str]:
    """What max_seq_len does and does not do, in this model's numbers."""
    s, seq, cell = policy.shapes, config.max_seq_len, _CELLS[config.rnn_type]
    head_mlp = "head MLP → " if config.head_fcnet_hiddens else ""
    conv = "conv → " if isinstance(policy.actor.encoder, StructuredEncoder) else ""
    return [
        f"The flow is obs → {conv}encoder MLP → {cell} → {head_mlp}heads; each step's whole {s.encoder_out}-wide "
        f"embedding enters the {cell} (it is never split into {seq} pieces).",
        f"In rollouts the {cell} runs one step at a time and carries its state through the whole episode: "
        "max_seq_len is not a look-back window.",
        f"max_seq_len = {seq} only sets truncated back-propagation in training: gradients flow back at most "
        f"{seq} steps, and each sequence starts from the state recorded while sampling.",
    ]


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe_env(config: TrainConfig) -> ModelDescription:
    obs_space, action_space = describe_spaces(config)
    return describe(config, obs_space, action_space)


def synthetic_spaces(obs_shape: tuple[int, ...], actions: int) -> tuple[gym.Space, gym.Space]:
    return gym.spaces.Box(-np.inf, np.inf, shape=obs_shape, dtype=np.float32), gym.spaces.Discrete(actions)


def probe(config: TrainConfig, iterations: int = 1) -> dict[str, float]:
    """Roll out the untrained policy for `iterations` rollouts and measure the sequences it yields."""
    torch.manual_seed(config.seed)
    obs_space, action_space = describe_spaces(config)
    head = ActionHead.for_space(action_space, free_log_std=config.uses_free_log_std())
    policy = RecurrentPolicy(flat_obs_size(obs_space) * config.frame_stack, head, config, obs_parts(obs_space))
    env = make_vector_env(config, config.num_envs, config.seed)
    try:
        collector = Collector(env, policy, head, config.frame_stack, torch.device("cpu"))
        totals: dict[str, float] = {}
        for _ in range(iterations):
            rollout = collector.collect(config.rollout_len)
            stats = sequence_stats(chunk(rollout.episode_start, config.max_seq_len), rollout.dones, config.max_seq_len)
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value / iterations
        return totals
    finally:
        env.close()
