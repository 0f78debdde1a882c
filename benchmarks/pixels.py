"""Speed on image observations: rnnppo's conv encoder + LSTM against sb3-contrib's RecurrentPPO
("CnnLstmPolicy") at matched settings, median of alternating pairs, peak RSS beside it.

    pip install -e '.[bench,envs]'
    python benchmarks/pixels.py --part minigrid --steps 16384 --repeats 5
    python benchmarks/pixels.py --part atari --steps 4096 --repeats 5

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
import subprocess
import sys
import time

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
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def rate(run: dict) -> float:
    return run["env_steps"] / run["wall_s"]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def compare(part: str, steps: int, threads: int, repeats: int) -> None:
    runs: dict[str, list[dict]] = {"sb3": [], "rnnppo": []}
    for _ in range(repeats):
        for which in ("sb3", "rnnppo"):
            runs[which].append(measure(which, part, steps, threads))
            print(f"# {which}: {rate(runs[which][-1]):,.0f} env steps/s", file=sys.stderr, flush=True)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=sorted(PARTS), default="minigrid")
    parser.add_argument("--steps", type=int, default=16_384)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["rnnppo", "sb3"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        result = (run_rnnppo if args.child == "rnnppo" else run_sb3)(args.part, args.steps, args.threads)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    compare(args.part, args.steps, args.threads, args.repeats)


if __name__ == "__main__":
    main()
