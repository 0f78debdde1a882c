"""Speed on image observations: rnnppo's conv encoder + LSTM against sb3-contrib's RecurrentPPO
("CnnLstmPolicy") at matched settings, median of alternating pairs, peak RSS beside it; and on 84x84 frames,
the run's time against the time its conv and LSTM kernels need alone.

    pip install -e '.[bench,envs]'
    python benchmarks/pixels.py --part minigrid --steps 16384 --repeats 5
    python benchmarks/pixels.py --part atari --steps 4096 --repeats 5
    python benchmarks/pixels.py --part kernels84 --repeats 7     # about 2 minutes (2 shared, loaded cores)

Matched settings: 8 envs; rollouts of 128 steps per env (sb3 n_steps=128); minibatches of 256 env steps
(sb3 batch_size=256; rnnppo cuts them into whole sequences of at most max_seq_len=16 steps, sb3-contrib
pads whole episodes); 4 epochs; the same conv layers on both sides (sb3 gets a features extractor built
from rnnppo's own conv plan: 'same' padding on all but the last layer, ReLU after each), then one dense
layer (64 units, tanh) and an LSTM of 64 cells; a separate critic (conv + dense + LSTM) on both sides
(sb3 share_features_extractor=False, enable_critic_lstm=True; rnnppo vf_share_layers=false); no head
MLP (sb3 net_arch=[]); sb3's PPO defaults on both sides (lr 3e-4, gamma 0.99, lambda 0.95, clip 0.2,
value coefficient 0.5, no entropy bonus, gradient clip 0.5); uint8 pixels divided by 255 on both sides,
no other observation normalisation; 1 torch thread; no evaluation episodes, no run folder.

  minigrid: MiniGrid-MemoryS7-v0 through minigrid's ImgObsWrapper (the 7x7x3 image only, on both
            sides), rnnppo's default 7x7 filters [[16,[3,3],1],[32,[3,3],2],[64,[4,4],1]].
  atari:    ALE/Pong-v5 through gymnasium's AtariPreprocessing(frame_skip=1, grayscale_newaxis=True)
            (84x84x1), RLlib's 84x84 filters [[16,[8,8],4],[32,[4,4],2],[256,[11,11],1]].

kernels84: no sb3-contrib; the same matched settings on Frames84 (below: uint8 84x84x1 frames at the price of an
            index, so env stepping is about 1% of an iteration and is reported and subtracted apart) with RLlib's
            84x84 filters, which are rnnppo's default there. In one process, alternating: one training iteration
            (rollout + GAE and chunking + update, the trainer's own one_iteration) and the same arithmetic as bare
            torch calls (Kernels: every rollout step's forward of both towers' conv + dense + LSTM cell + head on
            the 8 envs' frames, then every epoch's minibatches of 16 whole 16-step sequences forward and backward
            through both towers' conv + dense + LSTM + head), on float frames already laid out [N, C, H, W]. The
            ratio is the learner's time (the iteration less its env stepping) over the kernels'; the kernels leave
            out everything else the learner does (flattening, buffers, sampling, GAE, the loss, clipping, Adam).

Every run is a fresh process (its peak RSS is its own), the two trainers alternate within each repeat,
and the table shows each one's median env steps/s (with every run listed) and the ratio of the medians.
Each run's clock starts before its envs and model are built and stops when training returns. Prints a
markdown table; asserts nothing. A loaded machine slows both sides; the alternation keeps that fair only
on average, so read the per-run list as well as the median.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from functools import partial

from _timing import alternate, child_result, median, rate  # benchmarks/ is the script's folder, on sys.path

PARTS = {
    "minigrid": {
        "env": "minigrid:MiniGrid-MemoryS7-v0",
        "gym_id": "MiniGrid-MemoryS7-v0",
        "wrapper": "minigrid.wrappers:ImgObsWrapper",
        "image": (7, 7, 3),
    },
    "atari": {
        "env": "ale_py:ALE/Pong-v5",
        "gym_id": "ALE/Pong-v5",
        "wrapper": "gymnasium.wrappers:AtariPreprocessing(frame_skip=1, grayscale_newaxis=True)",
        "image": (84, 84, 1),
    },
}
MATCHED = {
    "num_envs": 8,
    "rollout_len": 128,
    "num_epochs": 4,
    "minibatch_size": 256,
    "fcnet_hiddens": (64,),
    "lstm_cell_size": 64,
    "max_seq_len": 16,
    "eval_episodes": 0,
    "memory_horizon": False,
    "lr": 3e-4,
    "anneal_lr": False,
    "gamma": 0.99,
    "lambda_": 0.95,
    "clip_param": 0.2,
    "vf_loss_coeff": 0.5,
    "entropy_coeff": 0.0,
    "grad_clip": 0.5,
    "observation_filter": "none",
    "conv_activation": "relu",
}


def run_rnnppo(part: str, steps: int, threads: int) -> dict:
    from rnnppo.core.config import build_config
    from rnnppo.core.runs.trainer import train

    spec = PARTS[part]
    config = build_config(
        {**MATCHED, "env": spec["env"], "wrappers": (spec["wrapper"],), "total_steps": steps, "num_threads": threads}
    )
    began = time.perf_counter()
    result = train(config)
    return {"env_steps": result.summary["env_steps"], "wall_s": time.perf_counter() - began}


def sb3_extractor(image: tuple[int, int, int]):
    """An sb3 features extractor with rnnppo's conv layers for this image (so both run the same arithmetic),
    then the matched dense layer (64, tanh)."""
    import torch
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    from rnnppo.core.encoders import DEFAULT_FILTERS, ConvStack

    class MatchedCnn(BaseFeaturesExtractor):
        def __init__(self, observation_space, features_dim: int = 64):
            super().__init__(observation_space, features_dim)
            self.conv = ConvStack(DEFAULT_FILTERS[image[:2]], image, "image", "relu")
            self.dense = nn.Sequential(nn.Linear(self.conv.out_size, features_dim), nn.Tanh())

        def forward(self, observations: torch.Tensor) -> torch.Tensor:  # [N, C, H, W], already / 255 by sb3
            return self.dense(self.conv(observations))

    return MatchedCnn


def run_sb3(part: str, steps: int, threads: int) -> dict:
    import gymnasium as gym
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env

    from rnnppo.core.wrapper_spec import parse_wrapper

    spec = PARTS[part]
    module, _, _ = spec["env"].partition(":")
    __import__(module)
    wrapper = parse_wrapper(spec["wrapper"])
    wrapper_class = getattr(__import__(wrapper.module, fromlist=[wrapper.name]), wrapper.name)
    torch.set_num_threads(threads)
    began = time.perf_counter()
    vec = make_vec_env(
        lambda: wrapper_class(gym.make(spec["gym_id"]), **wrapper.kwargs), n_envs=MATCHED["num_envs"], seed=0
    )
    model = RecurrentPPO(
        "CnnLstmPolicy",
        vec,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        policy_kwargs={
            "features_extractor_class": sb3_extractor(spec["image"]),
            "features_extractor_kwargs": {"features_dim": 64},
            "share_features_extractor": False,
            "lstm_hidden_size": 64,
            "net_arch": [],
        },
        device="cpu",
        seed=0,
        verbose=0,
    )
    model.learn(total_timesteps=steps)
    return {"env_steps": int(model.num_timesteps), "wall_s": time.perf_counter() - began}


def measure(which: str, part: str, steps: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", which, "--part", part, "--steps", str(steps)]
    command += ["--threads", str(threads)]
    return child_result(command)


def compare(part: str, steps: int, threads: int, repeats: int) -> None:
    def progress(which: str, run: dict) -> None:
        print(f"# {which}: {rate(run):,.0f} env steps/s", file=sys.stderr, flush=True)

    trainers = {which: partial(measure, which, part, steps, threads) for which in ("sb3", "rnnppo")}
    runs = alternate(trainers, repeats, progress)
    anchor = median([rate(r) for r in runs["sb3"]])
    print(f"\n## {part} ({PARTS[part]['env']} + {PARTS[part]['wrapper']}): {steps:,} env steps, ", end="")
    print(f"{threads} torch thread(s), median of {repeats} alternating pairs")
    print("| trainer | env steps/s (median) | all runs | / sb3-contrib | peak RSS MB (median) |")
    print("|---|---:|---|---:|---:|")
    for which, name in (("sb3", "sb3-contrib RecurrentPPO CnnLstmPolicy"), ("rnnppo", "rnnppo train")):
        rates = [rate(r) for r in runs[which]]
        every = ", ".join(f"{r:,.0f}" for r in rates)
        rss = median([r["peak_rss_mb"] for r in runs[which]])
        print(f"| {name} | {median(rates):,.0f} | {every} | {median(rates) / anchor:.2f}× | {rss:,.0f} |")


# --- 84x84 frames: the run's learner against its conv and LSTM kernels alone ---------------------------

FRAMES_ENV = "rnnppo-bench/Frames84-v0"
FRAMES_EPISODE = 512  # a multiple of the rollout (128) and of max_seq_len (16): every sequence is a whole 16 steps


def register_frames_env() -> None:
    """Frames84: Atari's preprocessed observation (Box(0, 255, (84, 84, 1), uint8)) for the price of an index.

    A bank of 64 random frames played in turn, Pong's 6 actions, a reward now and then, episodes of
    FRAMES_EPISODE steps that terminate. Stepping it costs microseconds, so the iteration's time is the
    learner's; Pong through AtariPreprocessing (the atari part) would add ALE's emulation and the resize, which
    say nothing about the learner and vary with the machine's load more than the conv does."""
    import gymnasium as gym
    import numpy as np

    class Frames84(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (84, 84, 1), dtype=np.uint8)
        action_space = gym.spaces.Discrete(6)

        def __init__(self) -> None:
            self.bank = np.random.default_rng(0).integers(0, 256, (64, 84, 84, 1), dtype=np.uint8)
            self.frame, self.t = 0, 0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.frame, self.t = int(self.np_random.integers(len(self.bank))), 0  # each env its own frames
            return self.bank[self.frame], {}

        def step(self, action):
            self.frame, self.t = (self.frame + 1) % len(self.bank), self.t + 1
            reward = float(self.t % 97 == 0) - float(self.t % 89 == 0)
            return self.bank[self.frame], reward, self.t == FRAMES_EPISODE, False, {}

    if FRAMES_ENV not in gym.registry:
        gym.register(FRAMES_ENV, entry_point=Frames84)


class Kernels:
    """The run's conv and LSTM arithmetic as bare torch calls, on copies of its policy's weights: per tower (actor
    and critic), the conv layers (RLlib's 'same' padding as F.pad, ReLU), the dense layer (tanh), the LSTM and the
    tower's head. Frames come as float32 [N, C, H, W] in [0, 1], ready for the first conv (no flattening, no
    scaling, no copies: those are the product's overhead)."""

    def __init__(self, policy, config):
        import torch
        from torch import nn

        self.params: list[torch.Tensor] = []

        def leaf(param):
            self.params.append(param.detach().clone().requires_grad_(True))
            return self.params[-1]

        self.config = config
        self.towers = []
        for tower, head in ((policy.actor, policy.pi), (policy.critic, policy.vf)):
            stack = next(iter(tower.encoder.convs.values()))
            convs = [m for m in stack.layers if isinstance(m, nn.Conv2d)]
            rnn = tower.rnn
            planned = zip(convs, stack.plan, strict=True)
            self.towers.append(
                {
                    "convs": [(leaf(c.weight), leaf(c.bias), c.stride, p.padding) for c, p in planned],
                    "dense": [(leaf(m.weight), leaf(m.bias)) for m in tower.encoder.mlp if isinstance(m, nn.Linear)],
                    "lstm": [leaf(w) for w in (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)],
                    "head": (leaf(head.weight), leaf(head.bias)),
                }
            )
        self.hidden = config.lstm_cell_size
        height, width, channels = policy.parts[0].image
        steps, envs = config.rollout_len, config.num_envs
        # one rollout's frames [T, N, C, H, W]; the update reads them as [T N, C, H, W] rows
        self.frames = torch.rand(steps, envs, channels, height, width)
        self.torch = torch

    def encode(self, tower: dict, images):
        """images [N, C, H, W] -> [N, E]."""
        functional = self.torch.nn.functional
        x = images
        for weight, bias, stride, padding in tower["convs"]:
            if any(padding):
                x = functional.pad(x, padding)
            x = self.torch.relu(functional.conv2d(x, weight, bias, stride))
        x = x.flatten(1)
        for weight, bias in tower["dense"]:
            x = self.torch.tanh(functional.linear(x, weight, bias))
        return x

    def rollout(self) -> None:
        """The rollout's forward passes: every step, both towers on the N envs' frames, the LSTM one step."""
        torch = self.torch
        envs = self.config.num_envs
        states = [(torch.zeros(envs, self.hidden), torch.zeros(envs, self.hidden)) for _ in self.towers]
        with torch.inference_mode():
            for frames in self.frames:  # [N, C, H, W]
                for i, tower in enumerate(self.towers):
                    h, c = torch.lstm_cell(self.encode(tower, frames), states[i], *tower["lstm"])
                    states[i] = (h, c)
                    torch.nn.functional.linear(h, *tower["head"])

    def update(self) -> None:
        """The update's forward and backward passes: every epoch, every minibatch of whole max_seq_len sequences
        through both towers (the LSTM over time from a start state), a scalar of the heads' outputs, backward."""
        torch, config = self.torch, self.config
        seq_len = config.max_seq_len
        seqs = config.minibatch_size // seq_len  # M sequences of seq_len steps per minibatch
        rows = self.frames.reshape(-1, *self.frames.shape[2:])  # [T N, C, H, W]
        minibatches = rows.shape[0] // (seqs * seq_len)
        zeros = torch.zeros(1, seqs, self.hidden)
        for _ in range(config.num_epochs):
            for k in range(minibatches):
                images = rows[k * seqs * seq_len : (k + 1) * seqs * seq_len]  # [M L, C, H, W]
                loss = images.new_zeros(())
                for tower in self.towers:
                    x = self.encode(tower, images).reshape(seqs, seq_len, -1)  # [M, L, E]
                    out = torch.lstm(x, (zeros, zeros), tower["lstm"], True, 1, 0.0, True, False, True)[0]
                    loss = loss + torch.nn.functional.linear(out, *tower["head"]).square().mean()
                loss.backward()
                for param in self.params:
                    param.grad = None


NATURE_FILTERS = [[32, [8, 8], 4], [64, [4, 4], 2], [64, [3, 3], 1]]
"""The Nature DQN's conv layers (Mnih et al. 2015); rnnppo pads 'same' on all but the last, as RLlib's VisionNet,
so the flattened output is 64 x 9 x 9 = 5,184 (the paper's 'valid' padding everywhere gives 64 x 7 x 7 = 3,136)."""
FILTERS = {"rllib": None, "nature": NATURE_FILTERS}
"""--filters: RLlib's default for 84x84 ([[16,[8,8],4],[32,[4,4],2],[256,[11,11],1]]) or the Nature CNN's layers."""


def kernel_bound(threads: int, repeats: int, filters: str = "rllib") -> None:
    """One training run on Frames84 and its Kernels in one process, an iteration of each in alternating rounds
    (after one round of warm-up); prints each round and the medians."""
    import os
    from collections import deque

    from rnnppo.core.config import build_config
    from rnnppo.core.runs.trainer import one_iteration, start_run

    register_frames_env()
    settings = {**MATCHED, "env": FRAMES_ENV, "total_steps": 1 << 30, "num_threads": threads, "vector_mode": "sync"}
    if FILTERS[filters] is not None:
        settings["conv_filters"] = FILTERS[filters]
    config = build_config(settings)
    run = start_run(config, None, None, False)
    kernels = Kernels(run.policy, config)
    steps = config.num_envs * config.rollout_len
    progress = {"iteration": 0, "env_steps": 0}
    recent: deque[float] = deque(maxlen=100)

    def run_iteration() -> dict:
        progress["iteration"] += 1
        began, began_cpu = time.perf_counter(), time.process_time()
        row = one_iteration(run, config, progress["iteration"], progress["env_steps"], recent, began)
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        progress["env_steps"] = row["env_steps"]
        # the Kernels' shapes: every sequence a whole max_seq_len (Frames84's episodes are cut at rollout ends)
        assert row["num_seqs"] == steps // config.max_seq_len and row["pad_frac"] == 0.0, row
        env = row["time_rollout_env"]
        rollout = row["time_rollout"] - env
        return {"wall_s": wall, "cpu_s": cpu, "env_s": env, "rollout_s": rollout, "update_s": row["time_update"]}

    def kernel_iteration() -> dict:
        began, began_cpu = time.perf_counter(), time.process_time()
        kernels.rollout()
        middle = time.perf_counter()
        kernels.update()
        ended = time.perf_counter()
        cpu = time.process_time() - began_cpu
        return {"wall_s": ended - began, "cpu_s": cpu, "rollout_s": middle - began, "update_s": ended - middle}

    def report(which: str, result: dict) -> None:
        print(f"# {which}: {result['wall_s']:.2f} s", file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    measurements = {"run": run_iteration, "kernels": kernel_iteration}
    alternate(measurements, 1, report)  # warm-up: oneDNN's first calls, the allocator's first buffers
    rounds = alternate(measurements, repeats, report)
    load_after = os.getloadavg()
    print_kernel_bound(config, threads, rounds, (load_before[0], load_after[0]))


def print_kernel_bound(config, threads: int, rounds: dict[str, list[dict]], load: tuple[float, float]) -> None:
    from rnnppo.core.config import format_value
    from rnnppo.core.encoders import DEFAULT_FILTERS

    steps = config.num_envs * config.rollout_len
    filters = format_value(config.conv_filters or DEFAULT_FILTERS[84, 84])
    which = "the Nature CNN's layers, 'same' padding but the last" if config.conv_filters else "RLlib's default"
    print(
        f"\n## 84x84 frames (Frames84, uint8 84x84x1), conv_filters={filters} ({which}): "
        f"the run's iteration against its conv + LSTM kernels alone, one process, {threads} torch thread(s)"
    )
    print(
        f"{steps:,} env steps per iteration ({config.num_envs} envs x {config.rollout_len}), {config.num_epochs} "
        f"epochs of {config.minibatch_size}-step minibatches, separate critic; {len(rounds['run'])} alternating "
        f"pairs after a warm-up pair; load average {load[0]:.2f} before, {load[1]:.2f} after"
    )
    print(
        "| pair | run iteration s | of it env stepping s | learner s (run - env) | kernels alone s | "
        "learner / kernels | in CPU time | rollout: learner / kernels | update: run / kernels |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    pairs = list(zip(rounds["run"], rounds["kernels"], strict=True))
    ratios = {  # per pair: within a pair the two ran back to back, under the same load
        "learner": [(r["wall_s"] - r["env_s"]) / k["wall_s"] for r, k in pairs],
        "cpu": [(r["cpu_s"] - r["env_s"]) / k["cpu_s"] for r, k in pairs],  # env stepping: wall time, ~1% here
        "rollout": [r["rollout_s"] / k["rollout_s"] for r, k in pairs],
        "update": [r["update_s"] / k["update_s"] for r, k in pairs],
    }
    for i, (run, kernels) in enumerate(pairs):
        cells = [run["wall_s"], run["env_s"], run["wall_s"] - run["env_s"], kernels["wall_s"]]
        print(_kernel_row(str(i + 1), cells, [ratios[name][i] for name in ratios]))
    times = [
        median([r["wall_s"] for r in rounds["run"]]),
        median([r["env_s"] for r in rounds["run"]]),
        median([r["wall_s"] - r["env_s"] for r in rounds["run"]]),
        median([k["wall_s"] for k in rounds["kernels"]]),
    ]
    print(_kernel_row("median", times, [median(values) for values in ratios.values()]))
    print(
        f"\nlearner / kernels per pair: {', '.join(f'{x:.2f}' for x in sorted(ratios['learner']))}: median "
        f"**{median(ratios['learner']):.2f}x** (target <= 1.25x); in CPU time (what other load on the machine tilts "
        f"least): {', '.join(f'{x:.2f}' for x in sorted(ratios['cpu']))}: median **{median(ratios['cpu']):.2f}x**. "
        "The ratio columns' medians are the medians of the per-pair ratios (not ratios of the time columns' "
        "medians). The kernels leave out, and the learner's time holds: the rollout's flattening, buffers, sampling "
        "and episode bookkeeping, GAE and chunking, the PPO loss, gradient clipping and Adam."
    )


def _kernel_row(label: str, times: list[float], ratios: list[float]) -> str:
    """A row of the kernel-bound table: run s, env s, learner s, kernels s, then the four ratios."""
    run, env, learner, kernels = times
    return (
        f"| {label} | {run:.2f} | {env:.3f} | {learner:.2f} | {kernels:.2f} | "
        + " | ".join(f"{x:.2f}x" for x in ratios)
        + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=[*sorted(PARTS), "kernels84"], default="minigrid")
    parser.add_argument("--steps", type=int, default=16_384)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--filters", choices=sorted(FILTERS), default="rllib", help="kernels84's conv layers")
    parser.add_argument("--child", choices=["rnnppo", "sb3"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        result = (run_rnnppo if args.child == "rnnppo" else run_sb3)(args.part, args.steps, args.threads)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    if args.part == "kernels84":
        kernel_bound(args.threads, args.repeats, args.filters)
        return
    compare(args.part, args.steps, args.threads, args.repeats)


if __name__ == "__main__":
    main()
