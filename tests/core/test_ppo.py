"""GAE on hand-computed rollouts and the masked PPO loss: padded steps never reach the loss or a gradient."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.core.config import TrainConfig
from rnnppo.core.model import RecurrentPolicy
from rnnppo.core.optim import FOREACH_OPS, Adam, GradClip, available_kernel
from rnnppo.core.ppo import gae, masked_mean, next_values, normalize_advantages, ppo_loss
from rnnppo.core.runs.trainer import train
from rnnppo.core.sequences import chunk
from rnnppo.core.spaces import ActionHead
from tests.shared import TINY_SETTINGS

GAMMA, LAMBDA = 0.9, 0.8  # gamma * lambda = 0.72
GARBAGE = 99.0  # a bootstrap entry that must never be read


def col(*values: float) -> torch.Tensor:
    """A one-env [T, 1] column."""
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)


def flags(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool).unsqueeze(1)


# --- GAE, by hand ----------------------------------------------------------------------------------


def test_gae_terminated_episode_does_not_bootstrap():
    rewards, values = col(1, 2, 3), col(0.5, 0.4, 0.3)
    advantages, targets = gae(rewards, values, flags(0, 0, 1), col(GARBAGE, GARBAGE, 0.0), GAMMA, LAMBDA)
    d2 = 3 - 0.3
    d1 = 2 + 0.9 * 0.3 - 0.4
    d0 = 1 + 0.9 * 0.4 - 0.5
    expected = [d0 + 0.72 * (d1 + 0.72 * d2), d1 + 0.72 * d2, d2]  # 3.60608, 3.814, 2.7
    assert advantages[:, 0].tolist() == pytest.approx(expected, abs=1e-6)
    assert targets[:, 0].tolist() == pytest.approx(
        [a + v for a, v in zip(expected, [0.5, 0.4, 0.3], strict=True)], abs=1e-6
    )


def test_gae_truncated_episode_bootstraps_from_final_observation_value():
    # Truncated at t=1 with V(final obs) = 0.7; a new episode at t=2 is cut by the rollout end (V(next) 0.6).
    rewards, values = col(1, 2, 3), col(0.5, 0.4, 0.3)
    advantages, _ = gae(rewards, values, flags(0, 1, 0), col(GARBAGE, 0.7, 0.6), GAMMA, LAMBDA)
    d0 = 1 + 0.9 * 0.4 - 0.5  # 0.86
    d1 = 2 + 0.9 * 0.7 - 0.4  # 2.23: bootstraps from the final observation, not from values[2]
    d2 = 3 + 0.9 * 0.6 - 0.3  # 3.24
    assert advantages[:, 0].tolist() == pytest.approx([d0 + 0.72 * d1, d1, d2], abs=1e-6)


def test_gae_terminated_mid_rollout_cuts_the_chain_without_bootstrap():
    rewards, values = col(1, 2, 3), col(0.5, 0.4, 0.3)
    advantages, _ = gae(rewards, values, flags(0, 1, 0), col(GARBAGE, 0.0, 0.6), GAMMA, LAMBDA)
    d1 = 2 - 0.4
    assert advantages[:, 0].tolist() == pytest.approx([0.86 + 0.72 * d1, d1, 3.24], abs=1e-6)


def test_gae_rollout_end_mid_episode_bootstraps_from_next_observation_value():
    rewards, values = col(1, 1), col(0.2, 0.3)
    advantages, targets = gae(rewards, values, flags(0, 0), col(GARBAGE, 0.5), GAMMA, LAMBDA)
    d1 = 1 + 0.9 * 0.5 - 0.3  # 1.15
    d0 = 1 + 0.9 * 0.3 - 0.2  # 1.07
    assert advantages[:, 0].tolist() == pytest.approx([d0 + 0.72 * d1, d1], abs=1e-6)
    assert targets[:, 0].tolist() == pytest.approx([d0 + 0.72 * d1 + 0.2, d1 + 0.3], abs=1e-6)


def test_gae_two_envs_one_ending_mid_rollout_are_independent():
    rewards = torch.tensor([[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    values = torch.tensor([[0.5, 1.0], [0.4, 0.5], [0.3, 0.2]])
    dones = torch.tensor([[False, False], [False, True], [False, False]])
    bootstrap = torch.tensor([[GARBAGE, GARBAGE], [GARBAGE, 0.0], [0.6, 0.4]])
    advantages, _ = gae(rewards, values, dones, bootstrap, GAMMA, LAMBDA)
    # env 0: one piece cut by the rollout end
    e0_d = [1 + 0.9 * 0.4 - 0.5, 2 + 0.9 * 0.3 - 0.4, 3 + 0.9 * 0.6 - 0.3]
    e0 = [e0_d[0] + 0.72 * (e0_d[1] + 0.72 * e0_d[2]), e0_d[1] + 0.72 * e0_d[2], e0_d[2]]
    # env 1: terminated at t=1, a new episode at t=2 cut by the rollout end
    e1_d = [1 + 0.9 * 0.5 - 1.0, 0 - 0.5, 1 + 0.9 * 0.4 - 0.2]
    e1 = [e1_d[0] + 0.72 * e1_d[1], e1_d[1], e1_d[2]]
    assert advantages[:, 0].tolist() == pytest.approx(e0, abs=1e-6)
    assert advantages[:, 1].tolist() == pytest.approx(e1, abs=1e-6)
    for n in range(2):
        alone, _ = gae(
            rewards[:, n : n + 1],
            values[:, n : n + 1],
            dones[:, n : n + 1],
            bootstrap[:, n : n + 1],
            GAMMA,
            LAMBDA,
        )
        assert torch.equal(alone[:, 0], advantages[:, n])


def test_next_values_reads_the_next_value_inside_an_episode_and_bootstrap_at_cuts():
    values = col(0.5, 0.4, 0.3, 0.2)
    bootstrap = col(GARBAGE, 0.7, GARBAGE, 0.1)
    following = next_values(values, flags(0, 1, 0, 0), bootstrap)
    assert following[:, 0].tolist() == pytest.approx([0.4, 0.7, 0.2, 0.1])


@st.composite
def random_rollouts(draw):
    num_steps = draw(st.integers(1, 30))
    num_envs = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    rewards = torch.as_tensor(rng.normal(size=(num_steps, num_envs)), dtype=torch.float32)
    values = torch.as_tensor(rng.normal(size=(num_steps, num_envs)), dtype=torch.float32)
    dones = torch.as_tensor(rng.random((num_steps, num_envs)) < draw(st.sampled_from([0.0, 0.1, 0.4])))
    bootstrap = torch.as_tensor(rng.normal(size=(num_steps, num_envs)), dtype=torch.float32)
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
    return rewards, values, dones, bootstrap, gamma


def discounted_returns(rewards, dones, bootstrap, gamma):
    """G_t = r_t + gamma * (G_{t+1} inside the episode, else the bootstrap value), per env."""
    num_steps, num_envs = rewards.shape
    returns = torch.zeros_like(rewards)
    for n in range(num_envs):
        following = 0.0
        for t in reversed(range(num_steps)):
            if dones[t, n] or t == num_steps - 1:
                following = float(bootstrap[t, n])
            following = float(rewards[t, n]) + gamma * following
            returns[t, n] = following
    return returns


@settings(max_examples=80, deadline=None)
@given(random_rollouts())
def test_gae_with_lambda_1_is_discounted_return_minus_value(rollout):
    rewards, values, dones, bootstrap, gamma = rollout
    advantages, targets = gae(rewards, values, dones, bootstrap, gamma, 1.0)
    expected = discounted_returns(rewards, dones, bootstrap, gamma)
    torch.testing.assert_close(advantages, expected - values, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(targets, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=80, deadline=None)
@given(random_rollouts())
def test_gae_with_lambda_0_is_the_one_step_td_error(rollout):
    rewards, values, dones, bootstrap, gamma = rollout
    advantages, _ = gae(rewards, values, dones, bootstrap, gamma, 0.0)
    torch.testing.assert_close(advantages, rewards + gamma * next_values(values, dones, bootstrap) - values)


@settings(max_examples=80, deadline=None)
@given(random_rollouts(), st.integers(0, 2**31 - 1))
def test_gae_chain_never_crosses_a_done(rollout, seed):
    rewards, values, dones, bootstrap, gamma = rollout
    num_steps = rewards.shape[0]
    advantages, _ = gae(rewards, values, dones, bootstrap, gamma, 0.95)
    rng = np.random.default_rng(seed)
    for n in range(rewards.shape[1]):
        done_at = torch.nonzero(dones[:, n]).flatten().tolist()
        if not done_at:
            continue
        d = done_at[0]
        # Change everything after the first done of env n, and the bootstraps of non-cut steps.
        r2, v2, b2 = rewards.clone(), values.clone(), bootstrap.clone()
        later = torch.as_tensor(rng.normal(size=num_steps - d - 1) * 100)
        r2[d + 1 :, n] += later
        v2[d + 1 :, n] -= later
        b2[d + 1 :, n] += later
        b2[:d, n] += 1000.0  # not done, not the last step: never read
        changed, _ = gae(r2, v2, dones, b2, gamma, 0.95)
        assert torch.equal(changed[: d + 1, n], advantages[: d + 1, n])


# --- the masked loss -------------------------------------------------------------------------------

SEQ_LENS = [5, 2, 3, 1]
LOSS_KW = dict(clip_param=0.2, vf_clip_param=10.0, vf_loss_coeff=0.5, entropy_coeff=0.01)


def _mask(seq_lens: list[int]) -> torch.Tensor:
    length = max(seq_lens)
    return torch.arange(length).unsqueeze(0) < torch.tensor(seq_lens).unsqueeze(1)


def _loss_inputs(generator: torch.Generator, mask: torch.Tensor, garbage: bool) -> list[torch.Tensor]:
    """new_logp, old_logp, advantages, values, targets, entropy: [S, L], padded entries zero or garbage."""
    shape = mask.shape
    tensors = [
        -torch.rand(shape, generator=generator),  # new_logp
        -torch.rand(shape, generator=generator),  # old_logp
        torch.randn(shape, generator=generator),  # advantages
        torch.randn(shape, generator=generator),  # values
        torch.randn(shape, generator=generator),  # targets
        torch.rand(shape, generator=generator),  # entropy
    ]
    huge = torch.tensor([1e4, -1e4, 1e30, 1e15, -1e15, 1e30])
    out = []
    for value, scale in zip(tensors, huge, strict=True):
        fill = scale * (1 + torch.rand(shape, generator=generator)) if garbage else torch.zeros(shape)
        out.append(torch.where(mask, value, fill).requires_grad_(True))
    return out


def test_padded_steps_change_neither_loss_nor_any_input_gradient():
    mask = _mask(SEQ_LENS)
    clean = _loss_inputs(torch.Generator().manual_seed(0), mask, garbage=False)
    dirty = _loss_inputs(torch.Generator().manual_seed(0), mask, garbage=True)
    terms = [ppo_loss(*inputs, mask, **LOSS_KW) for inputs in (clean, dirty)]
    for name in ("total", "policy", "value", "entropy", "approx_kl", "clip_frac"):
        assert torch.equal(getattr(terms[0], name), getattr(terms[1], name)), name
    assert torch.isfinite(terms[1].total)
    grads = [torch.autograd.grad(t.total, inputs) for t, inputs in zip(terms, (clean, dirty), strict=True)]
    for g_clean, g_dirty in zip(*grads, strict=True):
        assert torch.isfinite(g_dirty).all()
        assert torch.equal(g_clean, g_dirty)
        assert torch.equal(g_dirty[~mask], torch.zeros(int((~mask).sum())))


def test_loss_is_one_global_mean_over_valid_steps():
    mask = _mask(SEQ_LENS)
    new_logp, old_logp, advantages, values, targets, entropy = _loss_inputs(
        torch.Generator().manual_seed(1), mask, garbage=True
    )
    terms = ppo_loss(
        new_logp,
        old_logp,
        advantages,
        values,
        targets,
        entropy,
        mask,
        clip_param=0.2,
        vf_clip_param=None,
        vf_loss_coeff=0.5,
        entropy_coeff=0.01,
    )
    with torch.no_grad():
        ratio = (new_logp[mask] - old_logp[mask]).exp()
        adv = advantages[mask]
        surrogate = torch.min(adv * ratio, adv * ratio.clamp(0.8, 1.2))
        value_error = (values[mask] - targets[mask]).pow(2)
        expected_total = -surrogate.sum() / 11 + 0.5 * value_error.sum() / 11 - 0.01 * entropy[mask].sum() / 11
    assert int(mask.sum()) == sum(SEQ_LENS) == 11
    torch.testing.assert_close(terms.total.detach(), expected_total)
    torch.testing.assert_close(terms.value.detach(), value_error.mean())


def test_vf_clip_param_clamps_the_squared_error_and_stops_its_gradient():
    mask = torch.ones(1, 2, dtype=torch.bool)
    values = torch.tensor([[0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 5.0]])  # squared errors 1 and 25; clamp at 4
    zeros = torch.zeros(1, 2)
    terms = ppo_loss(
        zeros,
        zeros,
        zeros,
        values,
        targets,
        zeros,
        mask,
        clip_param=0.2,
        vf_clip_param=4.0,
        vf_loss_coeff=1.0,
        entropy_coeff=0.0,
    )
    assert float(terms.value.detach()) == pytest.approx((1 + 4) / 2)
    (grad,) = torch.autograd.grad(terms.total, values)
    assert grad[0].tolist() == pytest.approx([-1.0, 0.0])


def test_ratio_of_one_gives_zero_kl_and_zero_clip_fraction():
    mask = _mask(SEQ_LENS)
    logp = -torch.rand(mask.shape)
    terms = ppo_loss(
        logp,
        logp,
        torch.randn(mask.shape),
        torch.zeros(mask.shape),
        torch.zeros(mask.shape),
        torch.zeros(mask.shape),
        mask,
        **LOSS_KW,
    )
    assert float(terms.approx_kl) == 0.0
    assert float(terms.clip_frac) == 0.0


def test_masked_mean_ignores_padded_entries():
    mask = torch.tensor([[True, False], [True, True]])
    values = torch.tensor([[1.0, 1e30], [2.0, 3.0]])
    assert float(masked_mean(values, mask)) == pytest.approx(2.0)


# --- the whole model: padded observations never reach a parameter gradient -------------------------

HEADS = {
    "discrete": spaces.Discrete(3),
    "multi_discrete": spaces.MultiDiscrete([2, 3]),
    "box": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32),
}


def _random_actions(head: ActionHead, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    if head.kind == "box":
        return torch.randn(*shape, head.action_dim, generator=generator)
    columns = [torch.randint(0, n, (*shape, 1), generator=generator) for n in head.nvec]
    return torch.cat(columns, dim=-1)


@pytest.mark.parametrize("head_name", sorted(HEADS))
@pytest.mark.parametrize(("rnn_type", "vf_share_layers"), [("lstm", True), ("gru", False), ("lstm", False)])
def test_padded_steps_have_zero_gradient(head_name, rnn_type, vf_share_layers):
    torch.manual_seed(0)
    config = TrainConfig(
        fcnet_hiddens=(8,),
        lstm_cell_size=6,
        max_seq_len=5,
        minibatch_size=5,
        rnn_type=rnn_type,
        vf_share_layers=vf_share_layers,
        lstm_use_prev_action=True,
        lstm_use_prev_reward=True,
    )
    head = ActionHead.for_space(HEADS[head_name])
    policy = RecurrentPolicy(4, head, config)
    episode_start = np.zeros((9, 2), dtype=bool)
    episode_start[[0, 5, 6], 0] = True
    episode_start[[0, 3], 1] = True
    seqs = chunk(episode_start, config.max_seq_len)
    assert not seqs.mask.all()  # there is padding to test
    rows = episode_start.size
    g = torch.Generator().manual_seed(1)
    flat = {
        "obs": torch.randn(rows, 4, generator=g),
        "prev_actions": head.encode_prev(_random_actions(head, (rows,), g)),
        "prev_rewards": torch.randn(rows, generator=g),
        "actions": _random_actions(head, (rows,), g),
        "old_logp": -torch.rand(rows, generator=g),
        "advantages": torch.randn(rows, generator=g),
        "targets": torch.randn(rows, generator=g),
    }
    state_in = torch.randn(seqs.num_seqs, policy.state_size, generator=g)
    clean = {name: seqs.pad(x) for name, x in flat.items()}
    dirty = {}
    for name, x in clean.items():
        if name == "actions":
            junk = _random_actions(head, tuple(seqs.mask.shape), g).to(x.dtype)
        else:
            junk = 50 * torch.randn(x.shape, generator=g)
        mask = seqs.mask.reshape(*seqs.mask.shape, *([1] * (x.dim() - 2)))
        dirty[name] = torch.where(mask, x, junk)
    assert not torch.equal(dirty["obs"], clean["obs"])

    def loss_and_grads(batch):
        policy.zero_grad(set_to_none=True)
        dist_inputs, values, _ = policy(batch["obs"], batch["prev_actions"], batch["prev_rewards"], state_in)
        new_logp = head.log_prob(dist_inputs, policy.log_std, batch["actions"])
        entropy = head.entropy(dist_inputs, policy.log_std)
        terms = ppo_loss(
            new_logp,
            batch["old_logp"],
            batch["advantages"],
            values,
            batch["targets"],
            entropy,
            seqs.mask,
            **LOSS_KW,
        )
        terms.total.backward()
        return terms.total.detach(), {name: p.grad.clone() for name, p in policy.named_parameters()}

    loss_clean, grads_clean = loss_and_grads(clean)
    loss_dirty, grads_dirty = loss_and_grads(dirty)
    assert torch.equal(loss_clean, loss_dirty)
    assert grads_clean.keys() == grads_dirty.keys()
    for name in grads_clean:
        assert torch.isfinite(grads_dirty[name]).all(), name
        assert torch.equal(grads_clean[name], grads_dirty[name]), name


@pytest.mark.parametrize("kernel", ["fused", "foreach"])
def test_adam_takes_torch_adams_steps(kernel):
    """rnnppo's Adam (fused kernel, or the multi-tensor fallback) moves every parameter as
    torch.optim.Adam does, also when a parameter misses a step (it keeps its own step count)."""
    if kernel == "fused" and available_kernel() != "fused":
        pytest.skip("this torch has no fused Adam kernel")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    twin, start = copy.deepcopy(net), copy.deepcopy(net)
    ours = Adam(net.parameters(), lr=1e-2, eps=1e-5)
    ours.kernel = kernel
    reference = torch.optim.Adam(twin.parameters(), lr=1e-2, eps=1e-5, foreach=False)
    for step in range(6):
        x = torch.randn(6, 3)
        for model, optimizer in ((net, ours), (twin, reference)):
            optimizer.param_groups[0]["lr"] = 1e-2 * (1 - step / 10)  # annealing, as the trainer does
            loss = model(x).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            if step == 2:  # the last layer's bias sits this step out
                model[2].bias.grad = None
            optimizer.step()
    assert ours.kernel == kernel
    for a, b, before in zip(net.parameters(), twin.parameters(), start.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert (a - before).abs().max() > 1e-3  # six steps of ~1e-2 moved every parameter


def _adam_trajectory(kernel_check: str) -> list[torch.Tensor]:
    """Six annealed Adam steps on a small net (one parameter skips a step); the parameters at the end."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    optimizer = Adam(net.parameters(), lr=1e-2, eps=1e-5)
    assert optimizer.kernel == kernel_check
    for step in range(6):
        optimizer.param_groups[0]["lr"] = 1e-2 * (1 - step / 10)
        optimizer.zero_grad()
        net(torch.randn(6, 3)).pow(2).mean().backward()
        if step == 2:
            net[2].bias.grad = None
        optimizer.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("missing", ["fused", "all"])
def test_adam_falls_back_to_the_public_kernels_with_the_same_steps(monkeypatch, missing):
    """A torch without the private ops (they are not torch's API) still trains, and takes the steps the
    fast path takes: without the fused kernel the multi-tensor ops run; without those, torch.optim.Adam."""
    fast = _adam_trajectory(available_kernel())
    monkeypatch.delattr(torch, "_fused_adam_", raising=False)
    if missing == "all":
        for op in FOREACH_OPS:
            monkeypatch.delattr(torch, op)
    slow = _adam_trajectory("foreach" if missing == "fused" else "public")
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_adam_state_follows_a_module_moved_after_the_optimizer_was_built():
    """The trainer builds the curiosity module's optimizer before moving the module to its device; the
    moments must be made where the parameters are at the first step (here: moved to float64)."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    twin = copy.deepcopy(net).double()
    ours = Adam(net.parameters(), lr=1e-2)
    net.double()
    reference = torch.optim.Adam(twin.parameters(), lr=1e-2, foreach=False)
    x = torch.randn(4, 3, dtype=torch.float64)
    for model, optimizer in ((net, ours), (twin, reference)):
        for _ in range(3):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
    assert all(m.dtype == torch.float64 for m in ours.exp_avg + ours.exp_avg_sq)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


# --- advantage normalisation ----------------------------------------------------------------------


def test_advantages_are_standardised_with_torchs_unbiased_std():
    advantages = torch.tensor([[1.0, 4.0], [2.0, -3.0]])
    expected = (advantages - advantages.mean()) / advantages.std()
    assert torch.equal(normalize_advantages(advantages), expected)


def test_a_single_advantage_is_centred_to_zero_not_nan():
    assert torch.equal(normalize_advantages(torch.tensor([[3.5]])), torch.tensor([[0.0]]))


def test_a_one_step_rollout_trains_without_a_nan_loss():
    """num_envs=1, rollout_len=1: one advantage per iteration (its unbiased std is NaN)."""
    config = TrainConfig(
        env="rnnppo/CueRecall-v0",
        total_steps=6,
        **{**TINY_SETTINGS, "num_envs": 1, "rollout_len": 1, "max_seq_len": 1, "minibatch_size": 1, "eval_episodes": 0},
        lstm_cell_size=4,
    )
    metrics = train(config).metrics
    assert len(metrics) == 6
    assert all(np.isfinite(row["policy_loss"]) and np.isfinite(row["value_loss"]) for row in metrics)


@pytest.mark.parametrize("max_norm", [0.05, 100.0])
def test_grad_clip_scales_gradients_exactly_as_torchs_clip_grad_norm(max_norm):
    """GradClip is torch.nn.utils.clip_grad_norm_(foreach=True) bit for bit, clipping or not, with a
    parameter that has no gradient in the list."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    unused = torch.nn.Parameter(torch.ones(2))
    twin = copy.deepcopy(net)
    x = torch.randn(6, 3)
    for model in (net, twin):
        model(x).pow(2).sum().backward()
    ours = GradClip([*net.parameters(), unused], max_norm)()
    theirs = torch.nn.utils.clip_grad_norm_([*twin.parameters(), unused], max_norm, foreach=True)
    assert torch.equal(ours, theirs)
    assert (float(theirs) > max_norm) == (max_norm == 0.05)  # one case clips, the other does not
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)
    assert unused.grad is None
