"""Speed benchmark: end-to-end env steps per second of training, rnnppo against sb3-contrib's RecurrentPPO.

    pip install -e '.[bench]'
    python benchmarks/speed.py                 # 50k env steps each, 1 torch thread
    python benchmarks/speed.py --steps 100000 --threads 2

Both train recurrent PPO on StatelessCartPole with the same shape of work: 8 envs, 128-step rollouts,
4 epochs, minibatches of 256 steps, an MLP encoder [64], an LSTM of 64 cells (sb3-contrib: separate
actor and critic LSTMs, its default; rnnppo: shared, its default), sequences of at most 16 steps for
rnnppo (sb3-contrib pads whole episodes instead). Each run happens in a fresh process so peak memory
(max RSS) is its own. Prints a table and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_rnnppo(steps: int, threads: int, extra: list[str]) -> dict:
    from rnnppo.core.config import build_config, parse_overrides
    from rnnppo.core.trainer import train

    config = build_config(
        {
            "env": "rnnppo/StatelessCartPole-v0",
            "total_steps": steps,
            "num_envs": 8,
            "rollout_len": 128,
            "num_epochs": 4,
            "minibatch_size": 256,
            "fcnet_hiddens": (64,),
            "lstm_cell_size": 64,
            "max_seq_len": 16,
            "num_threads": threads,
            "eval_episodes": 0,
            **parse_overrides(extra),
        }
    )
    began = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - began
    return {"env_steps": result.summary["env_steps"], "wall_s": wall}


def run_sb3(steps: int, threads: int) -> dict:
    import gymnasium as gym
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env

    from rnnppo.core import builtin_envs

    builtin_envs.register()
    torch.set_num_threads(threads)
    env = make_vec_env(lambda: gym.make("rnnppo/StatelessCartPole-v0"), n_envs=8, seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        policy_kwargs={"lstm_hidden_size": 64, "net_arch": [64]},
        device="cpu",
        seed=0,
        verbose=0,
    )
    began = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - began
    return {"env_steps": int(model.num_timesteps), "wall_s": wall}


def child(which: str, steps: int, threads: int, extra: list[str]) -> None:
    result = run_rnnppo(steps, threads, extra) if which == "rnnppo" else run_sb3(steps, threads)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(which: str, steps: int, threads: int, extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", which, "--steps", str(steps), "--threads", str(threads), *extra]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=("rnnppo", "sb3"), help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra NAME=VALUE settings for the rnnppo run")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.threads, args.overrides)
        return

    rows = {}
    for which in ("sb3", "rnnppo"):
        rows[which] = measure(which, args.steps, args.threads, args.overrides)
    print(f"\n## Training speed, StatelessCartPole, {args.steps:,} env steps, {args.threads} torch thread(s)")
    print("| trainer | env steps | wall s | env steps/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for which, r in rows.items():
        name = "sb3-contrib RecurrentPPO" if which == "sb3" else "rnnppo train"
        rate = r["env_steps"] / r["wall_s"]
        print(f"| {name} | {r['env_steps']:,} | {r['wall_s']:.1f} | {rate:,.0f} | {r['peak_rss_mb']:.0f} |")
    rates = {which: r["env_steps"] / r["wall_s"] for which, r in rows.items()}
    ratio = rates["rnnppo"] / rates["sb3"]
    print(f"\nrnnppo / sb3-contrib env steps per second: {ratio:.2f}x")


if __name__ == "__main__":
    main()
