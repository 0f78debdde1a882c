"""Micro-benchmark: would training a configuration's K seeds as one batched model pay on the CPU?

    python benchmarks/batched_seeds.py              # K = 1 and 5, the default network, 1 torch thread
    python benchmarks/batched_seeds.py --k 1 3 5 --repeats 7

It measures, before anything of the kind is built into the trainer, the two costs that batching could
cut, for K seeds of the default configuration (obs of StatelessCartPole, encoder [64], 64 LSTM cells,
a separate critic, 8 envs, minibatches of 256 steps in sequences of at most 16):

* one update epoch: serial = the trainer's own `update()` (one epoch) once per seed, each on its own
  rollout; batched = the K seeds' actor and critic towers as one model with their weights stacked along
  a leading axis (encoder and heads as batched matmuls, the LSTM as a cell stepped over time with
  batched weights and a hand-written backward, since torch's fused LSTM cannot batch separate weights),
  a per-seed gradient clip and one fused Adam call over the stacked parameters (the loss is PPO's
  clipped surrogate + value loss without the logged extras, so the batched side is if anything
  flattered). The batched epoch runs as many minibatch steps as the seed with the most minibatches,
  each padded to the largest minibatch of the K seeds, on the seeds' real minibatches (so it is not
  flattered by equal shapes).
* one rollout step of the policy: serial = the rollout's `RolloutStep` + sampling once per seed on
  its 8 envs; batched = one batched step on K x 8 envs. Env stepping is the same in both and is left out.

Times are process CPU time (time.process_time, one torch thread): the least sensitive to other load on
the machine. Each figure is the median of --repeats. Then, with the share of the rollout's policy
forward and of the update in a training run (measured here on one seed at the default config), it
estimates trials per hour of the batched mode relative to serial (env stepping and bookkeeping taken
as unchanged). The batched code here is a measurement prototype, not a training path: it is not in the
trainer because it does not pay on the CPU (README, Benchmarks). Prints markdown; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.nn import functional as F

from rnnppo.core.config import build_config
from rnnppo.core.envs.make import describe_spaces, make_vector_env
from rnnppo.core.model import RecurrentPolicy, RolloutStep
from rnnppo.core.optim import Adam
from rnnppo.core.ppo import gae, normalize_advantages
from rnnppo.core.rollout import Collector
from rnnppo.core.runs.trainer import TrainBatch, build_policy, make_batch, seed_everything, train, update
from rnnppo.core.sequences import plan_minibatches


def seed_batch(config, seed: int) -> tuple[RecurrentPolicy, TrainBatch]:
    """One seed's policy and a real training batch from one rollout of its own envs."""
    seed_everything(seed)
    obs_space, action_space = describe_spaces(config)
    policy, head, _ = build_policy(config, obs_space, action_space)
    env = make_vector_env(config, config.num_envs, seed)
    collector = Collector(env, policy, head, config.frame_stack, torch.device("cpu"))
    rollout = collector.collect(config.rollout_len)
    env.close()
    advantages, targets = gae(
        rollout.rewards, rollout.values, rollout.dones, rollout.bootstrap, config.gamma, config.lambda_
    )
    return policy, make_batch(rollout, normalize_advantages(advantages), targets, config.max_seq_len)


def fast_tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2 sigmoid(2x) - 1: torch.tanh on this CPU build is ~10x slower than torch.sigmoid."""
    return torch.sigmoid(x * 2).mul_(2).sub_(1)


class StackedLSTM(torch.autograd.Function):
    """An LSTM over time for stacked weights with a hand-written backward (BPTT): per step one batched
    matmul and a few elementwise ops in each direction, the weight gradient as one matmul over all
    steps, and no autograd graph of per-step nodes (which cost more than the arithmetic here)."""

    @staticmethod
    def forward(ctx, x_proj, h, c, w_hh):
        """x_proj [R, M, L, 4H] (input projection + biases), h, c [R, M, H], w_hh [R, H, 4H] -> out [R, M, L, H]."""
        hidden = h.shape[-1]
        acts, dacts, cells, tanh_cells, hiddens = [], [], [c], [], [h]
        for x_t in x_proj.unbind(2):
            gates = torch.baddbmm(x_t, h, w_hh)  # [R, M, 4H]
            act = torch.sigmoid(gates)  # i, f, o; the g slice is overwritten with its tanh
            act[..., 2 * hidden : 3 * hidden] = fast_tanh(gates[..., 2 * hidden : 3 * hidden])
            i, f, g, o = act.chunk(4, dim=-1)
            c = torch.addcmul(f * c, i, g)
            tanh_c = fast_tanh(c)
            h = o * tanh_c
            dact = act * (1 - act)  # sigmoid'; the g slice gets tanh' below
            dact[..., 2 * hidden : 3 * hidden] = 1 - g * g
            acts.append(act), dacts.append(dact), cells.append(c), tanh_cells.append(tanh_c), hiddens.append(h)
        ctx.save_for_backward(w_hh, torch.stack(acts), torch.stack(dacts), torch.stack(cells), torch.stack(tanh_cells))
        ctx.hiddens = torch.stack(hiddens)  # [L + 1, R, M, H]
        return torch.stack(hiddens[1:], dim=2)

    @staticmethod
    def backward(ctx, grad_out):
        w_hh, acts, dacts, cells, tanh_cells = ctx.saved_tensors
        length = acts.shape[0]
        w_hh_t = w_hh.transpose(1, 2)  # [R, 4H, H]
        dh = torch.zeros_like(cells[0])
        dc = torch.zeros_like(cells[0])
        dgates = torch.empty_like(acts)  # [L, R, M, 4H]
        for t in range(length - 1, -1, -1):
            dh_t = grad_out[:, :, t] + dh
            i, f, g, o = acts[t].chunk(4, dim=-1)
            dc_t = dc + dh_t * o * (1 - tanh_cells[t] * tanh_cells[t])
            torch.cat([dc_t * g, dc_t * cells[t], dc_t * i, dh_t * tanh_cells[t]], dim=-1, out=dgates[t])
            dgates[t] *= dacts[t]
            dc = dc_t * f
            dh = torch.bmm(dgates[t], w_hh_t)
        rows = dgates.shape[1]
        flat_dgates = dgates.permute(1, 0, 2, 3).reshape(rows, -1, dgates.shape[-1])  # [R, L*M, 4H]
        previous = ctx.hiddens[:-1].permute(1, 0, 2, 3).reshape(rows, -1, dh.shape[-1])  # [R, L*M, H]
        grad_w_hh = torch.bmm(previous.transpose(1, 2), flat_dgates)
        return dgates.permute(1, 2, 0, 3), dh, dc, grad_w_hh


class StackedPolicy:
    """K seeds' actor-critic networks (LSTM, separate critic, discrete actions) as stacked tensors.

    Towers 0..K-1 are the actors, K..2K-1 the critics; every tower weight has a leading axis of 2K.
    The LSTM is stepped over time in Python with batched matmuls (gate order i, f, g, o as torch's).
    """

    def __init__(self, policies: list[RecurrentPolicy]):
        towers = [p.actor for p in policies] + [p.critic for p in policies]
        first = [t.encoder[0] for t in towers]

        def stack(tensors, transpose: bool = True) -> torch.Tensor:
            out = torch.stack([t.detach().t() if transpose else t.detach() for t in tensors]).clone()
            return out.requires_grad_()

        self.k, self.hidden = len(policies), policies[0].actor.hidden
        self.w1 = stack([layer.weight for layer in first])  # [2K, O, E]
        self.b1 = stack([layer.bias.unsqueeze(0) for layer in first], transpose=False)  # [2K, 1, E]
        self.w_ih = stack([t.rnn.weight_ih_l0 for t in towers])  # [2K, E, 4H]
        self.w_hh = stack([t.rnn.weight_hh_l0 for t in towers])  # [2K, H, 4H]
        self.b_ih = stack([t.rnn.bias_ih_l0.unsqueeze(0) for t in towers], transpose=False)  # [2K, 1, 4H]
        self.b_hh = stack([t.rnn.bias_hh_l0.unsqueeze(0) for t in towers], transpose=False)
        self.w_pi = stack([p.pi.weight for p in policies])  # [K, H, D]
        self.b_pi = stack([p.pi.bias.unsqueeze(0) for p in policies], transpose=False)  # [K, 1, D]
        self.w_vf = stack([p.vf.weight for p in policies])  # [K, H, 1]
        self.b_vf = stack([p.vf.bias.unsqueeze(0) for p in policies], transpose=False)
        self.params = [
            self.w1,
            self.b1,
            self.w_ih,
            self.w_hh,
            self.b_ih,
            self.b_hh,
            self.w_pi,
            self.b_pi,
            self.w_vf,
            self.b_vf,
        ]

    @staticmethod
    def _cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gates [.., 4H] (i, f, g, o), c [.., H] -> h, c. chunk(): one split node in the backward, where
        slicing would make a zero-filled gradient per slice."""
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(g))
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, obs: torch.Tensor, state_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [K, M, L, O], state_in [K, M, 4H] -> dist_inputs [K, M, L, D], values [K, M, L]."""
        k, m, length, _ = obs.shape
        h = self.hidden
        flat = obs.reshape(k, m * length, -1).repeat(2, 1, 1)  # [2K, M*L, O]: actors and critics read the same obs
        x = torch.tanh(torch.baddbmm(self.b1, flat, self.w1))  # [2K, M*L, E] (as the serial encoder)
        x_proj = torch.baddbmm(self.b_ih + self.b_hh, x, self.w_ih).reshape(2 * k, m, length, 4 * h)
        # state_in per seed: actor h, c then critic h, c
        h_t = torch.cat([state_in[..., :h], state_in[..., 2 * h : 3 * h]])  # [2K, M, H]
        c_t = torch.cat([state_in[..., h : 2 * h], state_in[..., 3 * h :]])
        features = StackedLSTM.apply(x_proj, h_t, c_t, self.w_hh).reshape(2 * k, m * length, h)  # [2K, M*L, H]
        dist_inputs = torch.baddbmm(self.b_pi, features[:k], self.w_pi).reshape(k, m, length, -1)
        values = torch.baddbmm(self.b_vf, features[k:], self.w_vf).reshape(k, m, length)
        return dist_inputs, values

    @torch.inference_mode()
    def step(self, obs: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One env step: obs [K, B, O], state [K, B, 4H] -> dist_inputs [K, B, D], values [K, B], state."""
        k, h = self.k, self.hidden
        x = torch.tanh(torch.baddbmm(self.b1, obs.repeat(2, 1, 1), self.w1))
        gates = torch.baddbmm(torch.baddbmm(self.b_ih + self.b_hh, x, self.w_ih), self.state_h(state), self.w_hh)
        h_t, c_t = self._cell(gates, torch.cat([state[..., h : 2 * h], state[..., 3 * h :]]))
        dist_inputs = torch.baddbmm(self.b_pi, h_t[:k], self.w_pi)
        values = torch.baddbmm(self.b_vf, h_t[k:], self.w_vf)[..., 0]
        return dist_inputs, values, torch.cat([h_t[:k], c_t[:k], h_t[k:], c_t[k:]], dim=-1)

    def state_h(self, state: torch.Tensor) -> torch.Tensor:
        h = self.hidden
        return torch.cat([state[..., :h], state[..., 2 * h : 3 * h]])


def ppo_terms(dist_inputs, values, actions, old_logp, advantages, targets, mask, clip, vf_coeff):
    """Per-seed PPO loss [K] on [K, M, L] inputs (the trainer's loss, with means per seed)."""
    log_p = torch.log_softmax(dist_inputs, dim=-1)
    new_logp = log_p.gather(-1, actions).squeeze(-1)
    log_ratio = torch.where(mask, new_logp - old_logp, 0.0)
    ratio = log_ratio.exp()
    surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip, 1 + clip))
    count = mask.sum((1, 2)).clamp(min=1)
    policy_loss = -torch.where(mask, surrogate, 0.0).sum((1, 2)) / count
    value_loss = torch.where(mask, (values - targets).pow(2), 0.0).sum((1, 2)) / count
    return policy_loss + vf_coeff * value_loss


def batched_epoch(stacked: StackedPolicy, batches: list[TrainBatch], config, generator, adam_state) -> None:
    """One epoch over K seeds' batches, all seeds stepping together (padded to the largest minibatch)."""
    k = len(batches)
    plans = [plan_minibatches(b.seqs.seq_lens, config.minibatch_size, generator) for b in batches]
    steps = max(len(p.bounds) for p in plans)
    for j in range(steps):
        parts = [p.order[p.bounds[j][0] : p.bounds[j][1]] if j < len(p.bounds) else p.order[:0] for p in plans]
        m = max(len(part) for part in parts)
        length = max(p.bounds[j][2] if j < len(p.bounds) else 1 for p in plans)

        def gather(name: str, parts=parts, m=m, length=length) -> torch.Tensor:
            rows = []
            for batch, part in zip(batches, parts, strict=True):
                x = getattr(batch, name) if name != "mask" else batch.seqs.mask
                x = x[part, :length]
                rows.append(F.pad(x, (0, 0) * (x.dim() - 2) + (0, 0, 0, m - len(part))))
            return torch.stack(rows)

        obs, actions, old_logp = gather("obs"), gather("actions"), gather("old_logp")
        advantages, targets, mask = gather("advantages"), gather("value_targets"), gather("mask")
        state_in = torch.stack(
            [F.pad(b.state_in[part], (0, 0, 0, m - len(part))) for b, part in zip(batches, parts, strict=True)]
        )
        dist_inputs, values = stacked.forward(obs, state_in)
        per_seed = ppo_terms(
            dist_inputs, values, actions, old_logp, advantages, targets, mask, config.clip_param, config.vf_loss_coeff
        )
        for p in stacked.params:
            p.grad = None
        per_seed.sum().backward()  # seeds share no weights: each seed's gradient is its own loss's
        with torch.no_grad():  # the gradient clip per seed: tower rows k and K + k belong to seed k
            squares = torch.zeros(k)
            for p in stacked.params:
                rows = p.grad.reshape(p.shape[0], -1).pow(2).sum(1)
                squares += rows if p.shape[0] == k else rows[:k] + rows[k:]
            coef = (config.grad_clip / (squares.sqrt() + 1e-6)).clamp(max=1.0)
            for p in stacked.params:
                scale = coef if p.shape[0] == k else coef.repeat(2)
                p.grad.mul_(scale.reshape(-1, *([1] * (p.dim() - 1))))
        adam_state.step()


def median_cpu_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.process_time()
        fn()
        times.append(time.process_time() - began)
    return statistics.median(times)


def measure_k(config, k: int, repeats: int, rollout_steps: int) -> tuple[float, float, float, float]:
    """CPU seconds of one update epoch and of one rollout policy step, serial and batched, for K seeds."""
    seeds = [seed_batch(config, seed) for seed in range(k)]
    policies = [policy for policy, _ in seeds]
    batches = [batch for _, batch in seeds]
    trained = [copy.deepcopy(policy) for policy in policies]  # epochs keep training these (values do not matter)
    optimizers = [Adam(policy.parameters(), lr=config.lr, eps=1e-5) for policy in trained]
    stacked = StackedPolicy(policies)
    stacked_adam = Adam(stacked.params, lr=config.lr, eps=1e-5)
    generator = torch.Generator().manual_seed(0)

    def serial_epoch() -> None:
        for policy, optimizer, batch in zip(trained, optimizers, batches, strict=True):
            update(policy, optimizer, batch, config, generator)

    def stacked_epoch() -> None:
        batched_epoch(stacked, batches, config, generator, stacked_adam)

    serial_epoch(), stacked_epoch()  # warm-up
    serial_update = median_cpu_time(serial_epoch, repeats)
    batched_update = median_cpu_time(stacked_epoch, repeats)

    n, obs_dim, head = config.num_envs, policies[0].shapes.obs, policies[0].action_head
    steps = [RolloutStep(policy) for policy in policies]
    for_steps = StackedPolicy(policies)

    def serial_steps() -> None:
        obs = torch.zeros(n, obs_dim)
        no_action, no_reward = torch.zeros(n, head.prev_action_dim), torch.zeros(n)
        states = [policy.initial_state(n) for policy in policies]
        with torch.inference_mode():
            for _ in range(rollout_steps):
                for i, step in enumerate(steps):
                    dist_inputs, _, states[i] = step(obs, no_action, no_reward, states[i])
                    head.sample(dist_inputs, None)[0].numpy()

    def batched_steps() -> None:
        obs, state = torch.zeros(k, n, obs_dim), torch.zeros(k, n, policies[0].state_size)
        with torch.inference_mode():
            for _ in range(rollout_steps):
                dist_inputs, _, state = for_steps.step(obs, state)
                head.sample(dist_inputs, None)[0].numpy()

    serial_steps(), batched_steps()
    serial_step = median_cpu_time(serial_steps, repeats) / rollout_steps
    batched_step = median_cpu_time(batched_steps, repeats) / rollout_steps
    return serial_update, batched_update, serial_step, batched_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5], help="numbers of seeds trained together")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rollout-steps", type=int, default=128, help="policy steps timed per repeat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = build_config({"num_epochs": 1, "eval_episodes": 0, "anneal_lr": False, "total_steps": 1024})

    # shares of a whole training run at the default config (10 epochs), one seed: where batching can act
    run = train(build_config({"eval_episodes": 0, "total_steps": 8192, "seed": 0}))
    wall = run.summary["train_time_s"]
    policy_share = sum(row["time_rollout_policy"] for row in run.metrics) / wall
    update_share = sum(row["time_update"] for row in run.metrics) / wall
    rest = 1.0 - policy_share - update_share

    print(f"\n## Seeds trained together: CPU time, default config, 1 torch thread, median of {args.repeats}")
    print("| K | update epoch serial (ms) | batched (ms) | speed-up | rollout policy step serial (us) ", end="")
    print("| batched (us) | speed-up | est. trials/hour batched / serial |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in args.k:
        serial_update, batched_update, serial_step, batched_step = measure_k(
            config, k, args.repeats, args.rollout_steps
        )
        # A trial's time: everything else unchanged, the policy forward and the update scaled by their speed-ups.
        batched_time = rest + policy_share * batched_step / serial_step + update_share * batched_update / serial_update
        print(
            f"| {k} | {serial_update * 1e3:.1f} | {batched_update * 1e3:.1f} | {serial_update / batched_update:.2f}x | "
            f"{serial_step * 1e6:.0f} | {batched_step * 1e6:.0f} | {serial_step / batched_step:.2f}x | "
            f"{1.0 / batched_time:.2f}x |"
        )
    print(
        f"\nShares of one serial training run (default config, 8,192 steps): rollout policy forward "
        f"{policy_share:.0%}, update {update_share:.0%}, the rest (env stepping, bookkeeping) {rest:.0%}."
    )


if __name__ == "__main__":
    main()
