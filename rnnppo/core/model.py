"""The recurrent policy: encoder MLP -> [prev action, prev reward] -> LSTM/GRU -> [head MLP] -> policy and
value heads.

One code path serves rollout and training: a tower runs over `[S, L, ·]` inputs from a per-sequence
start state. The rollout calls it with L = 1 (one env step, state chained by the caller); training
calls it with L = the padded sequence length, so the LSTM runs over time in one kernel call.

The recurrent state is one flat tensor `[B, state_size]` (LSTM: h then c; with a separate critic,
the actor's then the critic's), so buffers and chunking never need to know the cell type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from rnnppo.core.config import TrainConfig
from rnnppo.core.encoders import StructuredEncoder
from rnnppo.core.spaces import ActionHead, ObsPart, flat_obs_size, obs_parts

SDE_EPSILON = 1e-6  # added to gSDE's variance (sb3's epsilon)

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


def _layer(inputs: int, outputs: int, gain: float) -> nn.Linear:
    linear = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(linear.weight, gain=gain)
    nn.init.zeros_(linear.bias)
    return linear


def mlp(inputs: int, widths: tuple[int, ...], activation: str) -> nn.Sequential:
    """Linear+activation for every width, the last layer included (RLlib's fcnet without logits)."""
    layers: list[nn.Module] = []
    gain = math.sqrt(2) if activation in ("relu", "elu", "gelu", "silu") else 5 / 3
    if activation == "linear":
        gain = 1.0
    for width in widths:
        layers.append(_layer(inputs, width, gain))
        if activation != "linear":
            layers.append(_ACTIVATIONS[activation]())
        inputs = width
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Shapes:
    """The sizes of the data flow, for `inspect` and for tests."""

    obs: int  # O: flattened (and frame-stacked) observation
    encoder_out: int  # E
    prev_action: int  # A, 0 when off
    prev_reward: int  # 1 or 0
    rnn_in: int  # E + A + 1
    hidden: int  # H
    features: int  # F: the heads' input, the last head_fcnet_hiddens width (H without a head MLP)
    dist: int  # policy head width
    state: int  # flat state width per env


class Tower(nn.Module):
    """Encoder + recurrent core (+ head MLP) for one network (the actor, or the critic when not shared)."""

    def __init__(self, obs_dim: int, prev_action_dim: int, config: TrainConfig, parts: list[ObsPart] | None = None):
        super().__init__()
        # An observation with image parts: conv stacks, then the MLP (encoders.py); else the plain MLP
        self.structured = parts is not None and any(part.image is not None for part in parts)
        if parts is not None and self.structured:
            self.encoder: nn.Sequential | StructuredEncoder = StructuredEncoder(parts, config.frame_stack, config, mlp)
            self.encoder_out = self.encoder.out_size
        else:
            self.encoder = mlp(obs_dim, config.encoder_widths, config.fcnet_activation)
            self.encoder_out = config.encoder_widths[-1] if config.encoder_widths else obs_dim
        self.use_prev_action = config.lstm_use_prev_action
        self.use_prev_reward = config.lstm_use_prev_reward
        self.rnn_in = self.encoder_out + prev_action_dim * self.use_prev_action + int(self.use_prev_reward)
        self.hidden = config.lstm_cell_size
        self.rnn_type = config.rnn_type
        if self.rnn_type == "lstm":
            self.rnn: nn.Module = nn.LSTM(self.rnn_in, self.hidden, batch_first=True)
        elif self.rnn_type == "gru":
            self.rnn = nn.GRU(self.rnn_in, self.hidden, batch_first=True)
        else:  # memory-off control: a dense layer of the same width, no state
            self.rnn = nn.Sequential(_layer(self.rnn_in, self.hidden, 5 / 3), nn.Tanh())
        if self.rnn_type != "none":
            for name, param in self.rnn.named_parameters():
                if name.startswith("weight"):
                    nn.init.orthogonal_(param, gain=1.0)
                else:
                    nn.init.zeros_(param)
        # head_fcnet_hiddens: an MLP on the cell's output, per step (None: the heads read the cell's output)
        widths = config.head_fcnet_hiddens
        self.head = mlp(self.hidden, widths, config.fcnet_activation) if widths else None
        self.features_out = widths[-1] if widths else self.hidden

    @property
    def state_size(self) -> int:
        return {"lstm": 2 * self.hidden, "gru": self.hidden, "none": 0}[self.rnn_type]

    def forward(self, obs, prev_action, prev_reward, state_in):
        """obs [S, L, O], prev_action [S, L, A], prev_reward [S, L], state_in [S, state_size]
        -> features [S, L, F], state_out [S, state_size] (after the L-th step, padding included)."""
        out, state_out = self._core(obs, prev_action, prev_reward, state_in)
        return self._head(out), state_out

    def _core(self, obs, prev_action, prev_reward, state_in):
        """The encoder and the cell: the cell's output [S, L, H] and state_out [S, state_size]."""
        x = self._rnn_inputs(obs, prev_action, prev_reward)  # [S, L, E + A + 1]
        if self.rnn_type == "none":
            return self.rnn(x), state_in
        if x.shape[1] == 1:
            return self._one_step(x[:, 0], state_in)
        if self.rnn_type == "lstm":
            out, h, c = self._lstm(x, state_in)
            return out, torch.cat([h[0], c[0]], dim=-1)
        out, h = self.rnn(x, state_in.unsqueeze(0).contiguous())
        return out, h[0]

    def features(self, obs, prev_action, prev_reward, state_in, valid=None):
        """forward() without the state after the last step (the update's loss never reads it): the
        same features [S, L, F] in fewer tensor calls. `valid` [S, L] (the update's mask): see _rnn_inputs."""
        x = self._rnn_inputs(obs, prev_action, prev_reward, valid)
        if self.rnn_type == "none":
            out = self.rnn(x)
        elif x.shape[1] == 1:
            out = self._one_step(x[:, 0], state_in)[0]
        elif self.rnn_type == "lstm":
            out = self._lstm(x, state_in)[0]
        else:
            out = self.rnn(x, state_in.unsqueeze(0).contiguous())[0]
        return self._head(out)

    def _head(self, out: torch.Tensor) -> torch.Tensor:
        """The cell's output [..., H] -> the heads' input [..., F]: through the head MLP when there is one."""
        return out if self.head is None else self.head(out)

    def _rnn_inputs(self, obs, prev_action, prev_reward, valid=None):
        """obs [S, L, O], prev_action [S, L, A], prev_reward [S, L] -> the recurrent core's input [S, L, E + A + 1].

        With `valid` [S, L] (True on real steps; padding is on the right) a conv encoder runs on the real
        rows only and the padded rows get zeros: they come after every real step of their sequence, so
        no real step's output depends on them, and the loss never reads them. Short episodes pad a lot
        (MiniGrid's 7-step episodes in 16-step sequences: ~60% of rows), and the conv is the costly part.
        The MLP encoder keeps running on every row (its numbers stay bit for bit as they were)."""
        num_seqs, seq_len = obs.shape[:2]
        rows = obs.reshape(num_seqs * seq_len, -1)
        if valid is not None and isinstance(self.encoder, StructuredEncoder):
            real = valid.reshape(-1)
            encoded = self.encoder(rows[real])  # [V, E]
            x = encoded.new_zeros(num_seqs * seq_len, encoded.shape[-1])
            x[real] = encoded
            x = x.reshape(num_seqs, seq_len, -1)  # [S, L, E]
        else:
            # Time does not matter to the encoder: run it on all S*L rows at once.
            x = self.encoder(rows).reshape(num_seqs, seq_len, -1)  # [S, L, E]
        extra = []
        if self.use_prev_action:
            extra.append(prev_action)
        if self.use_prev_reward:
            extra.append(prev_reward.unsqueeze(-1))
        if extra:
            x = torch.cat([x, *extra], dim=-1)  # [S, L, E + A + 1]
        return x

    def _lstm(self, x, state_in):
        """The LSTM over time from state_in [S, 2H]: out [S, L, H], h [1, S, H], c [1, S, H]. The same kernel
        call nn.LSTM.forward makes, without its per-call argument checks."""
        rnn = self.rnn
        h0, c0 = state_in.unsqueeze(0).split(self.hidden, dim=-1)  # [1, S, H] each
        if x.is_cuda or not hasattr(torch, "lstm"):
            # nn.LSTM itself: on a GPU it hands cuDNN its flattened weights; and torch.lstm is not public API
            out, (h, c) = rnn(x, (h0.contiguous(), c0.contiguous()))
            return out, h, c
        weights = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0]
        # (input, hx, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        return torch.lstm(x, (h0.contiguous(), c0.contiguous()), weights, True, 1, 0.0, self.training, False, True)

    def step(self, obs, prev_action, prev_reward, state_in):
        """One step of an LSTM/GRU tower on [B, ·] inputs -> features [B, F], state_out [B, state_size]."""
        if isinstance(self.encoder, StructuredEncoder):
            x = self.encoder(obs)
        else:
            x = obs
            for layer in self.encoder:
                x = F.linear(x, layer.weight, layer.bias) if isinstance(layer, nn.Linear) else layer(x)
        if self.use_prev_action or self.use_prev_reward:
            extra = [prev_action] if self.use_prev_action else []
            if self.use_prev_reward:
                extra.append(prev_reward.unsqueeze(-1))
            x = torch.cat([x, *extra], dim=-1)
        features, state_out = self._one_step(x, state_in)
        return self._head(features[:, 0]), state_out

    def _one_step(self, x, state_in):
        """The rollout's L = 1 case through the fused cell kernels with the same weights: several times
        cheaper than nn.LSTM/nn.GRU on a sequence of one (their per-call setup dominates at this size)."""
        rnn = self.rnn
        weights = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
        if self.rnn_type == "lstm":
            h0, c0 = state_in.split(self.hidden, dim=-1)
            h, c = torch.lstm_cell(x, (h0, c0), *weights)
            return h.unsqueeze(1), torch.cat([h, c], dim=-1)
        h = torch.gru_cell(x, state_in, *weights)
        return h.unsqueeze(1), h


class RecurrentPolicy(nn.Module):
    """Actor-critic with a recurrent core; see the module docstring for the data flow."""

    def __init__(self, obs_dim: int, action_head: ActionHead, config: TrainConfig, parts: list[ObsPart] | None = None):
        super().__init__()
        self.config = config
        self.action_head = action_head
        # parts: the flat frame's layout (spaces.obs_parts); None: one flat part (the MLP encoder)
        self.parts = parts
        self.actor = Tower(obs_dim, action_head.prev_action_dim, config, parts)
        self.critic = None if config.vf_share_layers else Tower(obs_dim, action_head.prev_action_dim, config, parts)
        box = action_head.kind == "box"
        # use_sde: the head outputs the mean only; the per-step log-std comes from the features (sde_dist_inputs)
        self.use_sde = box and config.use_sde
        pi_width = action_head.action_dim if self.use_sde else action_head.dist_dim
        features = self.actor.features_out  # F: the cell's size, or the head MLP's last width
        self.pi = _layer(features, pi_width, 0.01)
        self.vf = _layer(features, 1, 1.0)
        # Box actions with free_log_std: one learned, state-independent log-std vector (else the head outputs it)
        free = box and action_head.free_log_std
        self.log_std = nn.Parameter(torch.full((action_head.action_dim,), config.log_std_init)) if free else None
        if self.use_sde:  # gSDE's log-std of the exploration matrix's entries [F, D] (sb3's full_std)
            self.sde_log_std: nn.Parameter | None = nn.Parameter(
                torch.full((features, action_head.action_dim), config.log_std_init)
            )
        else:
            self.sde_log_std = None
        # observation_filter=mean_std: the running statistics of one flat frame (see obs_filter.py); buffers,
        # so checkpoints carry them. None (and absent from the state dict) when the filter is off.
        filtered = config.observation_filter == "mean_std"
        frame = obs_dim // config.frame_stack
        # Image columns (start, stop) of a frame: the filter passes them through (the conv encoder scales them)
        self.image_columns = [(p.start, p.start + p.size) for p in parts or [] if p.image is not None]
        self.register_buffer("obs_mean", torch.zeros(frame, dtype=torch.float64) if filtered else None)
        self.register_buffer("obs_var", torch.ones(frame, dtype=torch.float64) if filtered else None)
        self.register_buffer("obs_count", torch.zeros((), dtype=torch.float64) if filtered else None)
        # reward_scaling: the running statistics of the discounted return (see reward_scaling.py); buffers, so
        # checkpoints carry them; absent when scaling is off (every discrete run by default).
        scaled = config.uses_reward_scaling(action_head.kind == "box")
        self.register_buffer("ret_mean", torch.zeros(1, dtype=torch.float64) if scaled else None)
        self.register_buffer("ret_var", torch.ones(1, dtype=torch.float64) if scaled else None)
        self.register_buffer("ret_count", torch.zeros((), dtype=torch.float64) if scaled else None)
        self.shapes = Shapes(
            obs=obs_dim,
            encoder_out=self.actor.encoder_out,
            prev_action=action_head.prev_action_dim if config.lstm_use_prev_action else 0,
            prev_reward=int(config.lstm_use_prev_reward),
            rnn_in=self.actor.rnn_in,
            hidden=config.lstm_cell_size,
            features=features,
            dist=action_head.dist_dim,
            state=self.state_size,
        )

    @property
    def state_size(self) -> int:
        return self.actor.state_size + (self.critic.state_size if self.critic is not None else 0)

    def sde_dist_inputs(self, features: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """use_sde: features [..., F], mean [..., D] -> [mean, per-step log-std] [..., 2D].

        gSDE's noise is features @ W with W [F, D] ~ N(0, exp(sde_log_std)^2) entry-wise, so given the
        features each action dim is Gaussian with variance sum_j features_j^2 exp(2 sde_log_std_jd). As in
        sb3 (learn_features=False), the features are detached here: the std trains only sde_log_std."""
        assert self.sde_log_std is not None, "sde_dist_inputs is for use_sde policies"
        variance = features.detach().pow(2) @ torch.exp(2 * self.sde_log_std) + SDE_EPSILON  # [..., D]
        return torch.cat([mean, 0.5 * torch.log(variance)], dim=-1)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The state at an episode start: zeros [batch, state_size]."""
        return torch.zeros(batch, self.state_size, device=device)

    def forward(self, obs, prev_action, prev_reward, state_in):
        """Sequences: obs [S, L, O], prev_action [S, L, A], prev_reward [S, L], state_in [S, state_size]
        -> dist_inputs [S, L, D], values [S, L], state_out [S, state_size]."""
        actor_state = state_in[:, : self.actor.state_size]
        features, actor_out = self.actor(obs, prev_action, prev_reward, actor_state)  # [S, L, F]
        dist_inputs = self.pi(features)
        if self.sde_log_std is not None:
            dist_inputs = self.sde_dist_inputs(features, dist_inputs)
        if self.critic is None:
            values = self.vf(features).squeeze(-1)
            return dist_inputs, values, actor_out
        critic_state = state_in[:, self.actor.state_size :]
        critic_features, critic_out = self.critic(obs, prev_action, prev_reward, critic_state)
        values = self.vf(critic_features).squeeze(-1)
        return dist_inputs, values, torch.cat([actor_out, critic_out], dim=-1)

    def train_outputs(self, obs, prev_action, prev_reward, state_in, valid=None):
        """forward() as the update needs it: dist_inputs [S, L, D], values [S, L], without the state after
        the last step (same values as forward() on the `valid` [S, L] steps; fewer tensor calls per minibatch)."""
        size = self.actor.state_size
        features = self.actor.features(obs, prev_action, prev_reward, state_in[:, :size], valid)  # [S, L, F]
        dist_inputs = self.pi(features)
        if self.sde_log_std is not None:
            dist_inputs = self.sde_dist_inputs(features, dist_inputs)
        if self.critic is not None:
            features = self.critic.features(obs, prev_action, prev_reward, state_in[:, size:], valid)
        return dist_inputs, self.vf(features).squeeze(-1)

    def step(self, obs, prev_action, prev_reward, state):
        """One env step for a batch of envs: obs [B, O], prev_action [B, A], prev_reward [B],
        state [B, state_size] -> dist_inputs [B, D], value [B], state_out [B, state_size].

        The same computation as forward() with L = 1 (tests pin the equality), written as plain tensor
        calls without the sequence reshapes: the rollout calls it once per env step, where Python
        overhead is a large share of the cost."""
        if self.actor.rnn_type == "none":
            dist_inputs, values, state_out = self(
                obs.unsqueeze(1), prev_action.unsqueeze(1), prev_reward.unsqueeze(1), state
            )
            return dist_inputs[:, 0], values[:, 0], state_out
        size = self.actor.state_size
        features, actor_out = self.actor.step(obs, prev_action, prev_reward, state[:, :size])
        dist_inputs = F.linear(features, self.pi.weight, self.pi.bias)
        if self.sde_log_std is not None:
            dist_inputs = self.sde_dist_inputs(features, dist_inputs)
        if self.critic is None:
            return dist_inputs, F.linear(features, self.vf.weight, self.vf.bias)[:, 0], actor_out
        critic_features, critic_out = self.critic.step(obs, prev_action, prev_reward, state[:, size:])
        values = F.linear(critic_features, self.vf.weight, self.vf.bias)[:, 0]
        return dist_inputs, values, torch.cat([actor_out, critic_out], dim=-1)


_ELEMENTWISE = {"tanh": torch.tanh, "relu": torch.relu, "elu": F.elu, "gelu": F.gelu, "silu": F.silu}


class RolloutStep:
    """`RecurrentPolicy.step` as the rollout runs it: the same computation in fewer tensor calls.

    At rollout sizes (8 envs, 64 cells) a small tensor call costs more in dispatch than in arithmetic,
    and policy.step makes two dozen of them, half of them for a separate critic. Here the towers' first
    encoder layers, which read the same observation, are one stacked matmul; a shared tower's two heads
    are one matrix; the weights are held as plain tensors (no module lookups per call). The cells stay
    one per tower: merging them into one block-diagonal cell was no faster at 64 cells and twice the
    arithmetic above that. Same results as policy.step (tests pin it), same state layout. The stacked
    weights are copies: build one per rollout, after the update has changed the parameters.
    """

    def __init__(self, policy: RecurrentPolicy):
        self.policy = policy
        actor = policy.actor
        self.rnn_type = actor.rnn_type
        self.towers = [actor] if policy.critic is None else [actor, policy.critic]
        self.dist_dim = policy.pi.out_features  # the head's width (the mean only under use_sde)
        self.use_sde = policy.sde_log_std is not None
        self.last_features: torch.Tensor | None = None  # use_sde: the actor's features [B, F] of the last call
        self.hidden = actor.hidden
        self.use_prev_action, self.use_prev_reward = actor.use_prev_action, actor.use_prev_reward
        activation = policy.config.fcnet_activation
        self.activation = None if activation == "linear" else _ELEMENTWISE[activation]
        # Image/Dict observations: each tower's StructuredEncoder runs as a module (its convs are batched over
        # the envs already); the MLP encoder's layers are unrolled below
        self.structured = [t.encoder for t in self.towers] if actor.structured else []
        with torch.no_grad():
            linears = [
                [m for m in tower.encoder if isinstance(m, nn.Linear)]
                if isinstance(tower.encoder, nn.Sequential)
                else []
                for tower in self.towers
            ]
            self.first = (
                (torch.cat([layers[0].weight for layers in linears]), torch.cat([layers[0].bias for layers in linears]))
                if linears[0]
                else None
            )
            self.first_width = linears[0][0].out_features if linears[0] else 0
            self.later = [[(m.weight, m.bias) for m in layers[1:]] for layers in linears]
            # head_fcnet_hiddens: each tower's MLP after the cell ([] without one)
            self.head_layers = [
                [(m.weight, m.bias) for m in t.head if isinstance(m, nn.Linear)] if t.head is not None else []
                for t in self.towers
            ]
            self.cells = (
                [(t.rnn.weight_ih_l0, t.rnn.weight_hh_l0, t.rnn.bias_ih_l0, t.rnn.bias_hh_l0) for t in self.towers]
                if self.rnn_type != "none"
                else []
            )
            if policy.critic is None:  # both heads read the same features: one matrix [D + 1, H]
                self.heads = [
                    (torch.cat([policy.pi.weight, policy.vf.weight]), torch.cat([policy.pi.bias, policy.vf.bias]))
                ]
            else:
                self.heads = [(policy.pi.weight, policy.pi.bias), (policy.vf.weight, policy.vf.bias)]

    def _dense(self, x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """x through (weight, bias) layers, each followed by the activation (an encoder's later layers, a head MLP)."""
        for weight, bias in layers:
            x = F.linear(x, weight, bias)
            if self.activation is not None:
                x = self.activation(x)
        return x

    def __call__(self, obs, prev_action, prev_reward, state):
        """obs [B, O], prev_action [B, A], prev_reward [B], state [B, state_size]
        -> dist_inputs [B, D], value [B], state_out [B, state_size]."""
        if self.rnn_type == "none":
            if self.use_sde:  # the (rare) memory-off gSDE case: the features once more, for the noise
                features, _ = self.policy.actor(
                    obs.unsqueeze(1), prev_action.unsqueeze(1), prev_reward.unsqueeze(1), state
                )
                self.last_features = features[:, 0]
            return self.policy.step(obs, prev_action, prev_reward, state)
        activation, width = self.activation, self.first_width
        if self.structured:
            inputs = [encoder(obs) for encoder in self.structured]  # [B, E] each
        elif self.first is not None:
            stacked = F.linear(obs, *self.first)  # [B, towers * E1]
            if activation is not None:
                stacked = activation(stacked)
            inputs = [stacked[:, t * width : (t + 1) * width] for t in range(len(self.towers))]
        else:
            inputs = [obs] * len(self.towers)
        features, states = [], []
        size = self.towers[0].state_size
        for t, x in enumerate(inputs):
            if self.later[t]:  # (a call per step saved when there is nothing to run)
                x = self._dense(x, self.later[t])
            if self.use_prev_action or self.use_prev_reward:
                extra = [x, prev_action] if self.use_prev_action else [x]
                if self.use_prev_reward:
                    extra.append(prev_reward.unsqueeze(-1))
                x = torch.cat(extra, dim=-1)  # [B, E + A + 1]
            if self.rnn_type == "lstm":
                hc = (state[:, t * size : t * size + self.hidden], state[:, t * size + self.hidden : (t + 1) * size])
                h, c = torch.lstm_cell(x, hc, *self.cells[t])
                states += [h, c]
            else:
                h = torch.gru_cell(x, state[:, t * size : (t + 1) * size], *self.cells[t])
                states.append(h)
            features.append(self._dense(h, self.head_layers[t]) if self.head_layers[t] else h)
        state_out = states[0] if len(states) == 1 else torch.cat(states, dim=-1)
        if len(self.heads) == 1:
            out = F.linear(features[0], *self.heads[0])  # [B, D + 1]
            dist_inputs, value = out[:, : self.dist_dim], out[:, self.dist_dim]
        else:
            dist_inputs, value = F.linear(features[0], *self.heads[0]), F.linear(features[1], *self.heads[1])[:, 0]
        if self.use_sde:
            self.last_features = features[0]
            dist_inputs = self.policy.sde_dist_inputs(features[0], dist_inputs)
        return dist_inputs, value, state_out


def build_policy(config: TrainConfig, obs_space, action_space) -> tuple[RecurrentPolicy, ActionHead, int]:
    """The policy a config gives for these spaces, its action head, and its input width (frames stacked)."""
    head = ActionHead.for_space(action_space, free_log_std=config.uses_free_log_std())
    obs_dim = flat_obs_size(obs_space) * config.frame_stack
    return RecurrentPolicy(obs_dim, head, config, obs_parts(obs_space)), head, obs_dim
