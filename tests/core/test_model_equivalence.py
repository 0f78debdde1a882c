"""The chunked training forward reproduces the step-by-step rollout forward on every valid step.

With the parameters that sampled a rollout, running each `max_seq_len` sequence from its stored
`state_in` must give the rollout's logits, values and log-probs (so PPO's first ratio is exactly 1),
across episode boundaries and rollout boundaries, for every cell type, head and input option.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rnnppo.core.config import TrainConfig
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.ppo import gae, normalize_advantages, ppo_loss
from rnnppo.core.rollout import Collector, Rollout
from rnnppo.core.runs.trainer import make_batch, refresh_state_in, update
from rnnppo.core.sequences import chunk
from rnnppo.core.spaces import ActionHead, flat_obs_size, obs_parts
from tests.core.space_envs import IMAGE_FILTERS, OBSERVATION_SPACES

TOL = dict(rtol=0.0, atol=1e-5)
ACTION_SPACES = {
    "discrete": spaces.Discrete(3),
    "multi_discrete": spaces.MultiDiscrete([2, 3]),
    "box": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32),
}

IMAGE_OBS = {"image": spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8), "dict_image": OBSERVATION_SPACES["dict_image"]}


def tiny_config(**changes) -> TrainConfig:
    base = dict(
        fcnet_hiddens=(8,),
        lstm_cell_size=6,
        max_seq_len=5,
        minibatch_size=16,
        num_epochs=1,
        grad_clip=None,
        kl_target=None,
    )
    return TrainConfig(**{**base, **changes})


# --- pure model: a simulated rollout, no env ------------------------------------------------------


def step_by_step(
    policy: RecurrentPolicy, head: ActionHead, obs, rewards, episode_start, carried_state, carried_prev_action
):
    """Chain the state one step at a time (zeros and zero prev action/reward at episode starts).

    Returns per-step dist_inputs [T, N, D], values [T, N], and the stored inputs
    (states before each step, prev actions, prev rewards) as the Collector keeps them.
    """
    num_steps, num_envs = episode_start.shape
    state, prev_action = carried_state.clone(), carried_prev_action.clone()
    prev_reward = torch.ones(num_envs)  # a continued episode's last reward
    out = {"dist": [], "values": [], "states": [], "prev_actions": [], "prev_rewards": []}
    for t in range(num_steps):
        keep = (~episode_start[t]).float().unsqueeze(1)
        state, prev_action, prev_reward = state * keep, prev_action * keep, prev_reward * keep[:, 0]
        out["states"].append(state)
        out["prev_actions"].append(prev_action)
        out["prev_rewards"].append(prev_reward)
        dist_inputs, value, state = policy.step(obs[t], prev_action, prev_reward, state)
        action, _ = head.sample(dist_inputs, policy.log_std)
        prev_action, prev_reward = head.encode_prev(action), rewards[t]
        out["dist"].append(dist_inputs)
        out["values"].append(value)
    return {name: torch.stack(items) for name, items in out.items()}


@pytest.mark.parametrize("head_name", sorted(ACTION_SPACES))
@pytest.mark.parametrize("vf_share_layers", [True, False])
@pytest.mark.parametrize(("use_prev_action", "use_prev_reward"), [(False, False), (True, True), (True, False)])
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_chunked_forward_equals_step_by_step_forward(
    rnn_type, use_prev_action, use_prev_reward, vf_share_layers, head_name
):
    config = tiny_config(
        rnn_type=rnn_type,
        lstm_use_prev_action=use_prev_action,
        lstm_use_prev_reward=use_prev_reward,
        vf_share_layers=vf_share_layers,
    )
    check_chunked_forward(config, head_name)


@pytest.mark.parametrize("head_name", sorted(ACTION_SPACES))
@pytest.mark.parametrize("vf_share_layers", [True, False])
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_chunked_forward_equals_step_by_step_forward_with_a_head_mlp(rnn_type, vf_share_layers, head_name):
    """head_fcnet_hiddens: the MLP after the cell runs per step, so chunking still changes nothing (and
    gSDE's std, read from its output, matches too)."""
    config = tiny_config(
        rnn_type=rnn_type, vf_share_layers=vf_share_layers, head_fcnet_hiddens=(7, 5), use_sde=head_name == "box"
    )
    check_chunked_forward(config, head_name)


@pytest.mark.parametrize("obs_name", ["image", "dict_image"])
@pytest.mark.parametrize("vf_share_layers", [True, False])
@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("frame_stack", [1, 2])
def test_chunked_forward_equals_step_by_step_forward_with_a_conv_encoder(
    rnn_type, vf_share_layers, obs_name, frame_stack
):
    """Image and Dict observations: the conv runs once over all S·L rows in training and over the envs per
    step in the rollout; both give the same numbers (frames stacked on the channel axis included)."""
    config = tiny_config(
        rnn_type=rnn_type,
        vf_share_layers=vf_share_layers,
        conv_filters=IMAGE_FILTERS,
        frame_stack=frame_stack,
        lstm_use_prev_action=True,
    )
    check_chunked_forward(config, "discrete", IMAGE_OBS[obs_name])


def check_chunked_forward(config: TrainConfig, head_name: str, obs_space: spaces.Space | None = None) -> None:
    torch.manual_seed(0)
    head = ActionHead.for_space(ACTION_SPACES[head_name], free_log_std=config.uses_free_log_std())
    obs_dim = 4 if obs_space is None else flat_obs_size(obs_space) * config.frame_stack
    policy = RecurrentPolicy(obs_dim, head, config, None if obs_space is None else obs_parts(obs_space))
    assert policy.actor.structured == (obs_space is not None)
    num_steps, num_envs, max_seq_len = 23, 3, 5
    rng = np.random.default_rng(1)
    episode_start = torch.as_tensor(rng.random((num_steps, num_envs)) < 0.12)
    episode_start[:, 2] = False  # one env runs a single long piece: cut by max_seq_len only
    episode_start[0, 0] = True  # env 0 starts fresh; envs 1, 2 continue an episode from a carried state
    obs = torch.randn(num_steps, num_envs, obs_dim)
    rewards = torch.randn(num_steps, num_envs)
    carried_state = torch.randn(num_envs, policy.state_size)
    carried_prev_action = head.encode_prev(head.sample(torch.zeros(num_envs, head.dist_dim), policy.log_std)[0])
    with torch.no_grad():
        ref = step_by_step(policy, head, obs, rewards, episode_start, carried_state, carried_prev_action)

        seqs = chunk(episode_start, max_seq_len)
        rows = num_steps * num_envs

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(rows, *x.shape[2:])

        state_in = flat(ref["states"])[seqs.start_rows]  # [S, state_size]
        dist_inputs, values, _ = policy(
            seqs.pad(flat(obs)),
            seqs.pad(flat(ref["prev_actions"])),
            seqs.pad(flat(ref["prev_rewards"])),
            state_in,
        )  # [S, L, ·]
    assert seqs.mask.shape[1] == max_seq_len and not seqs.mask.all()
    torch.testing.assert_close(seqs.unpad(dist_inputs, rows), flat(ref["dist"]), **TOL)
    torch.testing.assert_close(seqs.unpad(values, rows), flat(ref["values"]), **TOL)


def test_chunked_forward_from_zero_state_differs_from_stored_state_in():
    """Guards the test above: the stored state_in matters, so a wrong start row would be caught."""
    torch.manual_seed(0)
    head = ActionHead.for_space(ACTION_SPACES["discrete"])
    policy = RecurrentPolicy(4, head, tiny_config())
    episode_start = torch.zeros(10, 1, dtype=torch.bool)
    obs, rewards = torch.randn(10, 1, 4), torch.randn(10, 1)
    with torch.no_grad():
        ref = step_by_step(
            policy, head, obs, rewards, episode_start, torch.zeros(1, policy.state_size), torch.zeros(1, 3)
        )
        seqs = chunk(episode_start, 5)
        zeros = torch.zeros(seqs.num_seqs, policy.state_size)
        dist_inputs, _, _ = policy(
            seqs.pad(obs.reshape(10, 4)),
            seqs.pad(ref["prev_actions"].reshape(10, 3)),
            seqs.pad(ref["prev_rewards"].reshape(10)),
            zeros,
        )
    second = seqs.unpad(dist_inputs, 10)[5:]
    assert (second - ref["dist"].reshape(10, 3)[5:]).abs().max() > 1e-4


# --- the real Collector -----------------------------------------------------------------------------


class RandomLengthEnv(gym.Env):
    """Random observations and rewards; episodes end by termination (p per step) or truncation."""

    def __init__(self, action_space: gym.Space, p_terminate: float = 0.08, max_len: int = 14):
        self.observation_space = spaces.Box(-np.inf, np.inf, (3,), dtype=np.float32)
        self.action_space = action_space
        self.p_terminate, self.max_len = p_terminate, max_len
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.normal(size=3).astype(np.float32), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype))
        self.t += 1
        terminated = bool(self.np_random.random() < self.p_terminate)
        truncated = self.t >= self.max_len
        obs = self.np_random.normal(size=3).astype(np.float32)
        return obs, float(self.np_random.normal()), terminated, truncated, {}


def vector_env(make, num_envs: int, seed: int) -> SyncVectorEnv:
    env = SyncVectorEnv([make] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=seed)
    return env


def collect(env_name: str, config: TrainConfig, steps: int, iterations: int = 2, num_envs: int = 3):
    """A policy and its Collector's rollouts (the last `iterations` of them, in order)."""
    if env_name == "CartPole-v1":

        def make():
            return gym.make("CartPole-v1")

        space = spaces.Discrete(2)
    else:
        space = ACTION_SPACES[env_name]

        def make():
            return RandomLengthEnv(space)

    env = vector_env(make, num_envs, seed=3)
    head = ActionHead.for_space(space, free_log_std=config.uses_free_log_std())
    policy = RecurrentPolicy(int(np.prod(env.single_observation_space.shape)) * config.frame_stack, head, config)
    collector = Collector(env, policy, head, config.frame_stack, torch.device("cpu"))
    rollouts = [collector.collect(steps) for _ in range(iterations)]
    env.close()
    return policy, head, rollouts


def batch_for(rollout: Rollout, config: TrainConfig):
    advantages, targets = gae(
        rollout.rewards, rollout.values, rollout.dones, rollout.bootstrap, config.gamma, config.lambda_
    )
    return make_batch(rollout, normalize_advantages(advantages), targets, config.max_seq_len)


def recompute(policy: RecurrentPolicy, batch, state_in: torch.Tensor):
    """The training forward over the whole padded batch: (new_logp, entropy, values), [S, L] each."""
    dist_inputs, values, _ = policy(batch.obs, batch.prev_actions, batch.prev_rewards, state_in)
    new_logp = policy.action_head.log_prob(dist_inputs, policy.log_std, batch.actions)
    entropy = policy.action_head.entropy(dist_inputs, policy.log_std)
    return new_logp, entropy, values


COLLECTOR_CASES = [
    ("CartPole-v1", dict(rnn_type="lstm")),
    ("CartPole-v1", dict(rnn_type="gru", lstm_use_prev_action=True, lstm_use_prev_reward=True)),
    (
        "discrete",
        dict(rnn_type="lstm", lstm_use_prev_action=True, lstm_use_prev_reward=True, vf_share_layers=False),
    ),
    ("multi_discrete", dict(rnn_type="gru", lstm_use_prev_action=True, vf_share_layers=False)),
    ("multi_discrete", dict(rnn_type="lstm", lstm_use_prev_reward=True)),
    ("box", dict(rnn_type="lstm", lstm_use_prev_action=True, lstm_use_prev_reward=True)),
    ("box", dict(rnn_type="gru", vf_share_layers=False, frame_stack=2)),
    ("box", dict(rnn_type="lstm", free_log_std=False, vf_share_layers=False)),
    ("box", dict(rnn_type="lstm", use_sde=True, sde_sample_freq=3, vf_share_layers=False)),
    ("box", dict(rnn_type="gru", use_sde=True, lstm_use_prev_action=True)),
]


@pytest.mark.parametrize(("env_name", "changes"), COLLECTOR_CASES)
def test_first_epoch_recomputes_the_rollout_logp_and_values(env_name, changes):
    """What PPO's first epoch relies on: ratio == 1 on every valid step, values unchanged."""
    torch.manual_seed(0)
    config = tiny_config(**changes)
    policy, _, rollouts = collect(env_name, config, steps=32)
    for rollout in rollouts:  # the second rollout continues episodes from carried states
        batch = batch_for(rollout, config)
        mask = batch.seqs.mask
        assert rollout.episode_start[1:].any() and batch.continues.any() and not mask.all()
        with torch.no_grad():
            new_logp, entropy, values = recompute(policy, batch, batch.state_in)
        torch.testing.assert_close(new_logp[mask], batch.old_logp[mask], **TOL)
        torch.testing.assert_close(values[mask], batch.seqs.pad(rollout.values.reshape(-1))[mask], **TOL)
        terms = ppo_loss(
            new_logp,
            batch.old_logp,
            batch.advantages,
            values,
            batch.value_targets,
            entropy,
            mask,
            clip_param=config.clip_param,
            vf_clip_param=config.vf_clip_param,
            vf_loss_coeff=config.vf_loss_coeff,
            entropy_coeff=config.entropy_coeff,
        )
        assert float(terms.clip_frac) == 0.0
        assert abs(float(terms.approx_kl)) < 1e-6
    assert not rollouts[1].episode_start[0].all()  # some env carried its episode over


def test_collector_stores_zero_state_and_inputs_at_episode_starts():
    torch.manual_seed(0)
    config = tiny_config(lstm_use_prev_action=True, lstm_use_prev_reward=True)
    _, _, rollouts = collect("discrete", config, steps=40, iterations=1)
    rollout = rollouts[0]
    starts = rollout.episode_start
    assert starts[0].all() and starts[1:].any()
    assert torch.equal(starts[1:], rollout.dones[:-1])
    assert (rollout.states[starts] == 0).all()
    assert (rollout.prev_actions[starts] == 0).all()  # all-zero, not one-hot(0)
    assert (rollout.prev_rewards[starts] == 0).all()
    inside = ~starts[1:]
    assert torch.equal(rollout.prev_rewards[1:][inside], rollout.rewards[:-1][inside])


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_refresh_state_in_with_unchanged_parameters_reproduces_stored_state_in(rnn_type):
    torch.manual_seed(0)
    config = tiny_config(rnn_type=rnn_type, vf_share_layers=False, lstm_use_prev_action=True)
    policy, _, rollouts = collect("box", config, steps=32)
    for rollout in rollouts:
        batch = batch_for(rollout, config)
        assert batch.continues.any()
        refreshed = refresh_state_in(policy, batch)
        torch.testing.assert_close(refreshed, batch.state_in, **TOL)
        # Only continued sequences are recomputed; the others keep their stored state bit for bit.
        assert torch.equal(refreshed[~batch.continues], batch.state_in[~batch.continues])


def test_refresh_state_in_without_continued_sequences_keeps_stored_state():
    # max_seq_len >= rollout_len: no sequence continues another, so there is nothing to recompute.
    torch.manual_seed(0)
    config = tiny_config(max_seq_len=16, minibatch_size=16)
    policy, _, rollouts = collect("discrete", config, steps=12, iterations=2)
    batch = batch_for(rollouts[1], config)
    assert not batch.continues.any()
    assert torch.equal(refresh_state_in(policy, batch), batch.state_in)


def test_refresh_state_in_follows_changed_parameters():
    """After a parameter change the refreshed state differs from the stale stored one (it is not a no-op)."""
    torch.manual_seed(0)
    config = tiny_config()
    policy, _, rollouts = collect("discrete", config, steps=32, iterations=1)
    batch = batch_for(rollouts[0], config)
    with torch.no_grad():
        for param in policy.actor.rnn.parameters():
            param.add_(0.1)
    refreshed = refresh_state_in(policy, batch)
    assert (refreshed[batch.continues] - batch.state_in[batch.continues]).abs().max() > 1e-3


@pytest.mark.parametrize(("max_seq_len", "steps"), [(5, 32), (16, 12)])
def test_state_in_refresh_and_stored_give_identical_first_epoch(max_seq_len, steps):
    torch.manual_seed(0)
    stored_config = tiny_config(max_seq_len=max_seq_len, minibatch_size=16, lstm_use_prev_reward=True)
    policy, _, rollouts = collect("discrete", stored_config, steps=steps)
    batch = batch_for(rollouts[1], stored_config)
    with torch.no_grad():
        losses = []
        for state_in in (batch.state_in, refresh_state_in(policy, batch)):
            new_logp, entropy, values = recompute(policy, batch, state_in)
            losses.append(
                ppo_loss(
                    new_logp,
                    batch.old_logp,
                    batch.advantages,
                    values,
                    batch.value_targets,
                    entropy,
                    batch.seqs.mask,
                    clip_param=0.2,
                    vf_clip_param=None,
                    vf_loss_coeff=0.5,
                    entropy_coeff=0.01,
                ).total
            )
    torch.testing.assert_close(losses[0], losses[1], rtol=0.0, atol=1e-6)

    stats = []
    for mode in ("stored", "refresh"):
        model = copy.deepcopy(policy)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        config = stored_config.replace(state_in=mode)
        stats.append(update(model, optimizer, batch, config, torch.Generator().manual_seed(7)))
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl"):
        assert stats[0][name] == pytest.approx(stats[1][name], abs=1e-5), name


# --- bootstrap values from the Collector -----------------------------------------------------------


class ScriptedEndEnv(gym.Env):
    """Episodes of exactly `length` steps ending by `ending`: terminated, truncated, or both at once."""

    def __init__(self, ending: str, length: int = 4):
        self.observation_space = spaces.Box(-np.inf, np.inf, (3,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.ending, self.length = ending, length
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([0.3 * self.t, -0.2 * self.t, 1.0], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.length
        terminated = end and self.ending in ("terminated", "both")
        truncated = end and self.ending in ("truncated", "both")
        return self._obs(), 1.0 + 0.1 * self.t, terminated, truncated, {}


@pytest.mark.parametrize("ending", ["terminated", "truncated", "both"])
def test_collector_bootstrap_at_episode_ends(ending):
    torch.manual_seed(0)  # raw observations, so that the final one can be written down below
    config = tiny_config(lstm_use_prev_action=True, lstm_use_prev_reward=True, observation_filter="none")
    env = vector_env(lambda: ScriptedEndEnv(ending), 2, seed=0)
    head = ActionHead.for_space(env.single_action_space)
    policy = RecurrentPolicy(3, head, config)
    rollout = Collector(env, policy, head, 1, torch.device("cpu")).collect(10)
    env.close()
    end_steps = [3, 7]
    assert rollout.dones[:, 0].nonzero().flatten().tolist() == end_steps
    for t in end_steps:
        if ending == "truncated":  # V(final observation) from the state after the last step
            with torch.no_grad():
                _, _, state_out = policy.step(
                    rollout.obs[t], rollout.prev_actions[t], rollout.prev_rewards[t], rollout.states[t]
                )
                final_obs = torch.tensor([[0.3 * 4, -0.2 * 4, 1.0]]).expand(2, 3)
                _, expected, _ = policy.step(
                    final_obs, head.encode_prev(rollout.actions[t]), rollout.rewards[t], state_out
                )
            torch.testing.assert_close(rollout.bootstrap[t], expected, **TOL)
            assert (expected.abs() > 1e-6).all()
        else:  # a terminated episode (even when also truncated) has no future value
            assert torch.equal(rollout.bootstrap[t], torch.zeros(2))


def test_rollout_end_bootstraps_from_the_next_rollouts_first_value():
    torch.manual_seed(0)
    config = tiny_config(lstm_use_prev_action=True, lstm_use_prev_reward=True)
    policy, _, (first, second) = collect("discrete", config, steps=20)
    carried = ~first.dones[-1]
    assert carried.any()
    assert torch.equal(second.episode_start[0], first.dones[-1])
    torch.testing.assert_close(first.bootstrap[-1][carried], second.values[0][carried], **TOL)
    torch.testing.assert_close(second.states[0][carried], first.final_state[carried], rtol=0.0, atol=0.0)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "none"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("prev", [True, False])
def test_the_rollouts_one_step_path_equals_the_sequence_forward(rnn_type, shared, prev):
    """Two calls of step() (fused cell kernels) against forward() on a sequence of two (nn.LSTM/GRU)."""
    config = tiny_config(
        rnn_type=rnn_type, vf_share_layers=shared, lstm_use_prev_action=prev, lstm_use_prev_reward=prev
    )
    torch.manual_seed(1)
    head = ActionHead.for_space(ACTION_SPACES["multi_discrete"])
    policy = RecurrentPolicy(4, head, config)
    obs, prev_action = torch.randn(5, 2, 4), torch.randn(5, 2, head.prev_action_dim)
    prev_reward, state = torch.randn(5, 2), torch.randn(5, policy.state_size)
    ref_dist, ref_value, ref_state = policy(obs, prev_action, prev_reward, state)
    for t in range(2):
        dist, value, state = policy.step(obs[:, t], prev_action[:, t], prev_reward[:, t], state)
        torch.testing.assert_close(dist, ref_dist[:, t], **TOL)
        torch.testing.assert_close(value, ref_value[:, t], **TOL)
    torch.testing.assert_close(state, ref_state, **TOL)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "none"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("seq_len", [1, 3])
@pytest.mark.parametrize("head_widths", [(), (7,)])
def test_the_updates_forward_equals_forward_without_the_state_out(rnn_type, shared, seq_len, head_widths):
    """train_outputs() is forward() less the state after the last step: the same numbers, bit for bit (with
    and without a head MLP)."""
    config = tiny_config(
        rnn_type=rnn_type, vf_share_layers=shared, lstm_use_prev_action=True, head_fcnet_hiddens=head_widths
    )
    torch.manual_seed(2)
    head = ActionHead.for_space(ACTION_SPACES["discrete"])
    policy = RecurrentPolicy(4, head, config)
    obs, prev_action = torch.randn(5, seq_len, 4), torch.randn(5, seq_len, head.prev_action_dim)
    prev_reward, state = torch.randn(5, seq_len), torch.randn(5, policy.state_size)
    ref_dist, ref_value, _ = policy(obs, prev_action, prev_reward, state)
    dist, value = policy.train_outputs(obs, prev_action, prev_reward, state)
    assert torch.equal(dist, ref_dist)
    assert torch.equal(value, ref_value)
