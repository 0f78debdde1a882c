"""Continuous control without velocities: rnnppo's presets side by side with sb3-contrib's RecurrentPPO.

    python benchmarks/continuous.py                          # every task, both sides, 5 seeds, 1 process
    python benchmarks/continuous.py --tasks pendulum-novel --sides rnnppo --seeds 5
    python benchmarks/continuous.py --sides sb3 --cache runs.jsonl    # append each finished run to a file
    python benchmarks/continuous.py --table-only --cache runs.jsonl   # print the table from that file
    python benchmarks/continuous.py --tasks pendulum-novel --sides rnnppo free_log_std=false   # a variant
    python benchmarks/continuous.py --speed                  # policy forward + update: Box vs Discrete

Each task runs rnnppo's shipped preset (`rnnppo train --preset NAME`) and, where the RL Zoo has a tuned
RecurrentPPO entry, sb3-contrib's RecurrentPPO at the Zoo's hyperparameters (hyperparams/ppo_lstm.yml:
VecNormalize on observations and rewards, gSDE, a separate critic LSTM) on the same env ids (rnnppo's
masked built-ins, the Zoo's MaskVelocityWrapper semantics), seeds and budgets. Scores are greedy
evaluation returns over >= 20 episodes after training, raw (no reward scaling); per task the IQM over
seeds with a 95% percentile-bootstrap interval. Needs the `bench` extra (sb3-contrib). Asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVAL_EPISODES = 20
EVAL_SEED_OFFSET = 1_000_003  # the trainer's own evaluation seed offset, used for both sides


@dataclass(frozen=True)
class Task:
    name: str  # the preset's name
    env: str
    budget: int
    target: str
    zoo: dict[str, Any] | None  # RecurrentPPO kwargs from the Zoo's ppo_lstm.yml, None: no Zoo entry
    zoo_envs: int = 1
    zoo_policy: dict[str, Any] | None = None


# hyperparams/ppo_lstm.yml (rl-baselines3-zoo, "# Tuned" entries); `normalize: true` -> VecNormalize with the
# algorithm's gamma, as the Zoo's ExperimentManager sets it.
TASKS = {
    "pendulum-novel": Task(
        "pendulum-novel",
        "rnnppo/PendulumNoVel-v0",
        100_000,
        "IQM >= -300 and >= sb3-contrib",
        dict(
            n_steps=1024,
            gae_lambda=0.95,
            gamma=0.9,
            n_epochs=10,
            ent_coef=0.0,
            learning_rate=1e-3,
            clip_range=0.2,
            use_sde=True,
            sde_sample_freq=4,
        ),
        zoo_envs=4,
        zoo_policy=dict(ortho_init=False, activation="relu", lstm_hidden_size=64, net_arch=[64]),
    ),
    "mountaincar-novel": Task(
        "mountaincar-novel",
        "rnnppo/MountainCarContinuousNoVel-v0",
        300_000,
        "IQM >= sb3-contrib's",
        dict(
            batch_size=256,
            n_steps=1024,
            gamma=0.9999,
            learning_rate=7.77e-05,
            ent_coef=0.00429,
            clip_range=0.1,
            n_epochs=10,
            gae_lambda=0.9,
            max_grad_norm=5,
            vf_coef=0.19,
            use_sde=True,
            sde_sample_freq=8,
        ),
        zoo_envs=8,
        zoo_policy=dict(ortho_init=False, activation="tanh", lstm_hidden_size=32, net_arch=[64], log_std_init=0.0),
    ),
    "pendulum": Task("pendulum", "Pendulum-v1", 100_000, "IQM >= -300 (rnn_type=none)", None),
    # a discrete built-in without a figure elsewhere, for its preset's score (no Zoo entry)
    "repeat-previous": Task(
        "repeat-previous", "rnnppo/RepeatPrevious-v0", 50_000, "49 = every step, 24.5 = chance", None
    ),
}


# --- one run per side --------------------------------------------------------------------------------


def run_rnnppo(task: Task, seed: int, words: tuple[str, ...] = ()) -> dict[str, Any]:
    from rnnppo.core.config import build_config, parse_overrides
    from rnnppo.core.presets import load_preset
    from rnnppo.core.runs.trainer import train

    preset = load_preset(task.name)
    settings = {**preset.settings, **parse_overrides(words)}
    config = build_config(settings, seed=seed, total_steps=task.budget, eval_episodes=EVAL_EPISODES)
    began = time.perf_counter()
    result = train(config)
    return {
        "score": result.summary["eval_return_mean"],
        "wall_s": time.perf_counter() - began,
        "returns": result.summary["eval_returns"],
    }


def run_sb3(task: Task, seed: int) -> dict[str, Any]:
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    from rnnppo.core.envs import builtin as builtin_envs

    torch.set_num_threads(1)
    builtin_envs.register()
    hp = dict(task.zoo or {})
    policy = dict(task.zoo_policy or {})
    activation = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[policy.pop("activation")]
    widths = policy.pop("net_arch")
    policy_kwargs = dict(
        activation_fn=activation, enable_critic_lstm=True, net_arch=dict(pi=widths, vf=widths), **policy
    )
    began = time.perf_counter()
    venv = VecNormalize(make_vec_env(task.env, n_envs=task.zoo_envs, seed=seed), gamma=hp["gamma"])
    model = RecurrentPPO("MlpLstmPolicy", venv, seed=seed, device="cpu", policy_kwargs=policy_kwargs, **hp)
    model.learn(task.budget)
    # Evaluation: observation statistics frozen, raw rewards (the Monitor under VecNormalize reports them).
    eval_env = VecNormalize(make_vec_env(task.env, n_envs=1, seed=seed + EVAL_SEED_OFFSET), training=False)
    eval_env.obs_rms = venv.obs_rms
    eval_env.norm_reward = False
    returns, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True, return_episode_rewards=True
    )
    return {
        "score": float(sum(returns) / len(returns)),
        "wall_s": time.perf_counter() - began,
        "returns": [float(r) for r in returns],
    }


def run_job(job: tuple[str, str, int, tuple[str, ...]]) -> dict[str, Any]:
    side, task_name, seed, words = job
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    task = TASKS[task_name]
    out = run_rnnppo(task, seed, words) if side == "rnnppo" else run_sb3(task, seed)
    return {"side": side, "task": task_name, "seed": seed, "budget": task.budget, "words": list(words), **out}


# --- the table ---------------------------------------------------------------------------------------


def iqm_with_interval(scores: list[float]) -> str:
    from rnnppo.results.stats import bootstrap_ci, iqm

    interval = bootstrap_ci(scores, "iqm")
    return f"{iqm(scores):.1f} [{interval.low:.1f}, {interval.high:.1f}]"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\nmachine: {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}")
    print(
        f"greedy evaluation, {EVAL_EPISODES} episodes per seed; IQM over seeds with 95% bootstrap interval\n"
        "\n| task | budget | side | seeds | IQM [95% CI] | per-seed scores | wall s / run | target |"
        "\n|---|---:|---|---:|---|---|---:|---|"
    )
    variants = sorted({(r["side"], tuple(r.get("words", ()))) for r in rows}, key=lambda v: (v[0] != "rnnppo", v[1]))
    for task in TASKS.values():
        for side, words in variants:
            mine = [
                r for r in rows if r["task"] == task.name and (r["side"], tuple(r.get("words", ()))) == (side, words)
            ]
            mine.sort(key=lambda r: r["seed"])
            if not mine:
                continue
            scores = [r["score"] for r in mine]
            label = f"rnnppo --preset {task.name}" if side == "rnnppo" else "sb3-contrib RecurrentPPO (Zoo)"
            if words:
                label += " " + " ".join(words)
            wall = sum(r["wall_s"] for r in mine) / len(mine)
            print(
                f"| {task.env} | {task.budget // 1000}k | {label} | {len(mine)} | {iqm_with_interval(scores)} | "
                f"{', '.join(f'{s:.1f}' for s in scores)} | {wall:.0f} | {task.target} |"
            )


def print_paired(rows: list[dict[str, Any]]) -> None:
    """Each rnnppo variant against sb3-contrib on the seeds both ran (the same seed numbers): the paired
    test of rnnppo's per-seed score minus sb3-contrib's (rnnppo.results.paired's exact sign-flip test, as
    reports use), and the smallest margin an equivalence test (two one-sided sign-flip tests, alpha 0.05
    each) accepts: the farther end of the test's 90% interval."""
    import pandas as pd

    from rnnppo.results.paired import ALPHA, TIE, TOO_FEW, paired_test

    lines = []
    for task in TASKS.values():
        sb3 = {r["seed"]: r["score"] for r in rows if r["task"] == task.name and r["side"] == "sb3"}
        variants = sorted({tuple(r.get("words", ())) for r in rows if r["task"] == task.name and r["side"] == "rnnppo"})
        for words in variants:
            ours = {
                r["seed"]: r["score"]
                for r in rows
                if r["task"] == task.name and r["side"] == "rnnppo" and tuple(r.get("words", ())) == words
            }
            if not set(ours) & set(sb3):
                continue
            test = paired_test(pd.Series(ours), pd.Series(sb3))
            # the reports' wording (results/report.py): a tie, too few seeds, or a direction at alpha
            if test.kind == TIE:
                verdict = "tie"
            elif not test.decided:
                verdict = test.kind
            elif test.p < ALPHA:
                verdict = "rnnppo higher" if test.mean_diff > 0 else "sb3-contrib higher"
            else:
                verdict = "not separable"
            p_text, equivalent = "-", "-"
            if test.kind not in (TIE, TOO_FEW):
                p_text = "< 0.001" if test.p < 0.001 else f"{test.p:.2g}"  # as the reports print it
                # Two one-sided tests at alpha pass for any margin beyond the 90% interval's farther end: the
                # smallest margin within which the two are shown equivalent (the reader judges if it is small)
                ninety = paired_test(pd.Series(ours), pd.Series(sb3), confidence=1 - 2 * ALPHA)
                far = max(abs(ninety.low), abs(ninety.high))
                equivalent = f"±{far:.2f}" if far < float("inf") else "not shown (too few seeds)"
            label = f"--preset {task.name}" + (" " + " ".join(words) if words else "")
            lines.append(
                f"| {task.env} | {label} | {test.n} | {test.mean_diff:+.2f} | {test.interval_text()} | {p_text} | "
                f"{verdict} | {equivalent} |"
            )
    if lines:
        print(
            "\nrnnppo minus sb3-contrib, seed by seed (exact sign-flip test, two-sided, its 95% interval):\n"
            "\n| task | rnnppo | pairs | mean difference | 95% interval | p | verdict | equivalent within (TOST) |"
            "\n|---|---|---:|---:|---|---:|---|---:|"
        )
        print("\n".join(lines))


# --- speed: Box vs Discrete at matched sizes ---------------------------------------------------------


INSTANCES = 3


def speed(rounds: int) -> None:
    """Policy forward + sampling (the rollout's one step) and one PPO update on a fixed batch, for a Discrete(2)
    and a Box(1) action space at the same sizes (3 observation entries, [64] encoder, 64 cells, separate critic,
    8 envs x 128 steps, minibatch 256, 10 epochs). The models alternate, and each model's figure is the fastest
    of `rounds` blocks, so that other load on the machine inflates neither side more than the other; each kind's
    figure is the median over INSTANCES models of it."""
    import numpy as np
    import torch
    from gymnasium import spaces

    from rnnppo.core.config import build_config
    from rnnppo.core.model import RolloutStep, build_policy
    from rnnppo.core.optim import Adam
    from rnnppo.core.ppo import gae, normalize_advantages
    from rnnppo.core.rollout import Rollout
    from rnnppo.core.runs.trainer import make_batch, update

    torch.set_num_threads(1)
    obs_space = spaces.Box(-1, 1, (3,), np.float32)
    steps, n, block = 128, 8, 50
    cases = {}
    kinds = (
        ("Discrete(2)", spaces.Discrete(2), {}),
        ("Box(1)", spaces.Box(-2, 2, (1,), np.float32), {}),
        ("Box(1), free_log_std=false", spaces.Box(-2, 2, (1,), np.float32), {"free_log_std": False}),
    )
    # Each kind built INSTANCES times, interleaved: one model's speed varies by up to 40% with where its
    # tensors happen to land in memory (the same weights built twice ran at 142 and 102 us a step).
    for instance, (name, action_space, extra) in itertools.product(range(INSTANCES), kinds):
        config = build_config({"env": "Pendulum-v1", "num_envs": n, "rollout_len": steps, **extra}, seed=0)
        torch.manual_seed(0)
        policy, head, obs_dim = build_policy(config, obs_space, action_space)
        actions = (
            torch.randint(0, 2, (steps, n, 1)) if head.kind == "discrete" else torch.randn(steps, n, head.action_dim)
        )
        rollout = Rollout(
            obs=torch.randn(steps, n, obs_dim),
            prev_actions=torch.zeros(steps, n, head.prev_action_dim),
            prev_rewards=torch.zeros(steps, n),
            states=torch.zeros(steps, n, policy.state_size),
            actions=actions,
            logp=torch.full((steps, n), -0.7),
            values=torch.zeros(steps, n),
            rewards=torch.randn(steps, n),
            terminated=torch.zeros(steps, n, dtype=torch.bool),
            truncated=torch.zeros(steps, n, dtype=torch.bool),
            episode_start=torch.zeros(steps, n, dtype=torch.bool),
            bootstrap=torch.zeros(steps, n),
            next_obs=None,
            final_state=torch.zeros(n, policy.state_size),
        )
        adv, targets = gae(rollout.rewards, rollout.values, rollout.dones, rollout.bootstrap, 0.9, 0.95)
        batch = make_batch(rollout, normalize_advantages(adv), targets, config.max_seq_len)
        inputs = (
            torch.randn(n, obs_dim),
            torch.zeros(n, head.prev_action_dim),
            torch.zeros(n),
            policy.initial_state(n),
        )
        cases[name, instance] = (config, policy, head, batch, inputs, Adam(policy.parameters(), lr=1e-5, eps=1e-5))
    fastest = {key: [float("inf"), float("inf")] for key in cases}
    for _ in range(rounds):
        for key, (config, policy, head, batch, inputs, optimizer) in cases.items():
            step = RolloutStep(policy)
            with torch.inference_mode():
                began = time.perf_counter()
                for _ in range(block):
                    dist_inputs, _, _ = step(*inputs)
                    head.sample(dist_inputs, policy.log_std)
                fastest[key][0] = min(fastest[key][0], (time.perf_counter() - began) / block * 1e6)
            began = time.perf_counter()
            update(policy, optimizer, batch, config, torch.Generator().manual_seed(0))
            fastest[key][1] = min(fastest[key][1], (time.perf_counter() - began) * 1e3)
    best = {
        name: [statistics.median(fastest[name, i][part] for i in range(INSTANCES)) for part in (0, 1)]
        for name, _, _ in kinds
    }
    print(f"\nfastest of {rounds} alternating blocks per model, median over {INSTANCES} models of each, 1 torch thread")
    print("\n| action space | policy step + sample (8 envs) us | update (1,024 steps, 10 epochs) ms | vs Discrete |")
    print("|---|---:|---:|---|")
    step_d, update_d = best["Discrete(2)"]
    for name, (step_us, update_ms) in best.items():
        ratio = f"step {step_us / step_d:.2f}x, update {update_ms / update_d:.2f}x"
        print(f"| {name} | {step_us:.1f} | {update_ms:.0f} | {ratio} |")
    print("\ntarget: Box within 1.20x of Discrete on both")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated preset names")
    parser.add_argument("--sides", default="rnnppo,sb3", help="rnnppo, sb3 or both")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-list", default=None, help="comma-separated seeds instead of 0..seeds-1")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None, help="JSON-lines file: each finished run is appended")
    parser.add_argument("--table-only", action="store_true", help="print the table from --cache, run nothing")
    parser.add_argument("--speed", action="store_true", help="only the Box vs Discrete timing")
    parser.add_argument("overrides", nargs="*", help="NAME=VALUE settings over the presets (rnnppo side only)")
    args = parser.parse_args()
    words = tuple(args.overrides)
    seeds = [int(x) for x in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    if args.speed:
        speed(60)
        return
    rows: list[dict[str, Any]] = []
    if args.cache is not None and args.cache.exists():
        rows = [json.loads(line) for line in args.cache.read_text().splitlines() if line.strip()]
    if not args.table_only:
        done = {(r["side"], r["task"], r["seed"], tuple(r.get("words", ()))) for r in rows}
        jobs = [
            (side, name, seed, words if side == "rnnppo" else ())
            for name in args.tasks.split(",")
            for side in args.sides.split(",")
            if side == "rnnppo" or TASKS[name].zoo is not None
            for seed in seeds
            if (side, name, seed, words if side == "rnnppo" else ()) not in done
        ]
        with mp.get_context("spawn").Pool(args.processes) as pool:
            for row in pool.imap_unordered(run_job, jobs):
                rows.append(row)
                print(f"{row['side']} {row['task']} seed {row['seed']}: {row['score']:.1f} ({row['wall_s']:.0f} s)")
                if args.cache is not None:
                    with args.cache.open("a") as out:
                        out.write(json.dumps(row) + "\n")
    print_table(rows)
    print_paired(rows)


if __name__ == "__main__":
    main()
