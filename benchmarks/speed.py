"""Speed benchmark: rnnppo against sb3-contrib's RecurrentPPO, where rnnppo's time goes, and how its
cost grows with max_seq_len, lstm_cell_size and num_envs.

    pip install -e '.[bench]'
    python benchmarks/speed.py                              # all parts, 50k env steps, 3 repeats
    python benchmarks/speed.py --part compare --repeats 5   # only the side-by-side table
    python benchmarks/speed.py --part scaling --scaling-steps 20000
    python benchmarks/speed.py --device cuda --envs StatelessCartPole
        # adds sb3-contrib and rnnppo on the GPU to the table, next to both on the CPU

Matched settings (the issue's anchor): 8 envs; rollouts of 128 steps per env (sb3 n_steps=128);
minibatches of 256 env steps (sb3 batch_size=256; rnnppo cuts them into whole sequences of at most
max_seq_len=16 steps, sb3-contrib pads whole episodes instead); 4 epochs; an MLP encoder [64] and an
LSTM of 64 cells, with a separate critic encoder + LSTM on both sides (sb3 enable_critic_lstm=True, its
default; rnnppo vf_share_layers=false, its default); sb3's PPO defaults on both sides (lr 3e-4 constant,
gamma 0.99, GAE lambda 0.95, clip 0.2, value coefficient 0.5, no entropy bonus, gradient clip 0.5, no
observation normalisation); 1 torch thread; no evaluation episodes in the timed runs, and none of what
rnnppo adds around training (memory measurement off; no run folder, so no checkpoints or run files; no
loggers; no random baseline, which only sweeps run).

Every run is a fresh process (so peak RSS is its own), the two trainers alternate within each repeat,
and the table shows the median of the repeats. Each run's clock starts before its envs and model are
built and stops when training returns (imports and process start-up are outside it, on both sides).
The breakdown splits rnnppo's wall time into env stepping, policy forward in the rollout, the rest
of the rollout, chunking (GAE + sequences), the update (forward + backward + optimizer) and
everything else (logging, setup). The bounds are measured in the same sitting: raw vectorised env
stepping with random actions, and the policy's single-step forward alone on a batch of 8 (the same
`RolloutStep` forward and sampling the rollout runs; each bound the median of --repeats runs). The
serial ceiling is what a rollout with no overhead at all would reach, stepping the envs and then the
policy one after the other: 1 / (1/env + 1/forward). The bare serial loop is measured: the envs and the
policy stepped one after the other with nothing else (no buffers, no episode handling), what a rollout
with no bookkeeping reaches when the two share one core's caches. The training run's rollout and that
bare loop run in different processes at different times; so the rollout (the trainer's Collector, a
fresh policy) and the bare loop are also measured side by side in one process, in alternating rounds of
rollout_len steps on twin envs: the "interleaved" ratio, which load on the machine cannot tilt.

--part learning trains both at the same settings for --learn-steps env steps over --learn-seeds seeds
(two at a time; not timed) and prints each one's mean return over 20 greedy evaluation episodes.
Prints markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from functools import partial

from _timing import alternate, child_result, median_run, rate  # benchmarks/ is the script's folder, on sys.path

ENVS = {"StatelessCartPole": "rnnppo/StatelessCartPole-v0", "CartPole-v1": "CartPole-v1"}
MATCHED = {
    "num_envs": 8,
    "rollout_len": 128,
    "num_epochs": 4,
    "minibatch_size": 256,
    "fcnet_hiddens": (64,),
    "lstm_cell_size": 64,
    "max_seq_len": 16,
    "eval_episodes": 0,
    # what rnnppo adds after training, off in the timed runs (sb3 has none of it): the memory measurement.
    # Checkpoints and run files need a run folder (none here); loggers and baselines are sweep options.
    "memory_horizon": False,
    # sb3's PPO defaults, so that the learning comparison differs only in the implementations
    "lr": 3e-4,
    "anneal_lr": False,
    "gamma": 0.99,
    "lambda_": 0.95,
    "clip_param": 0.2,
    "vf_loss_coeff": 0.5,
    "entropy_coeff": 0.0,
    "grad_clip": 0.5,
    "observation_filter": "none",
}


def rnnppo_config(env: str, steps: int, threads: int, device: str, overrides: dict):
    from rnnppo.core.config import build_config

    settings = {**MATCHED, "env": env, "total_steps": steps, "num_threads": threads, **overrides}
    if device != "cpu":
        settings["device"] = device
    return build_config(settings)


def run_rnnppo(env: str, steps: int, threads: int, device: str, overrides: dict, seed: int, episodes: int) -> dict:
    from rnnppo.core.runs.trainer import train

    config = rnnppo_config(env, steps, threads, device, {**overrides, "seed": seed, "eval_episodes": episodes})
    began, began_cpu = time.perf_counter(), time.process_time()
    result = train(config)
    wall = time.perf_counter() - began  # includes evaluation only in the learning part, which is not timed
    cpu = time.process_time() - began_cpu
    parts = {
        key: sum(row[key] for row in result.metrics)
        for key in ("time_rollout", "time_rollout_env", "time_rollout_policy", "time_chunking", "time_update")
    }
    out = {"env_steps": result.summary["env_steps"], "wall_s": wall, "cpu_s": cpu, **parts}
    if episodes:
        out["eval_return"] = result.summary["eval_return_mean"]
    return out


SB3_SIZES = ("lstm_cell_size", "num_envs")
"""The scaling axes sb3-contrib has too (its lstm_hidden_size and n_envs); max_seq_len has no counterpart there."""


def run_sb3(
    env: str, steps: int, threads: int, device: str, seed: int, episodes: int, sizes: dict | None = None
) -> dict:
    import gymnasium as gym
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env

    from rnnppo.core.envs import builtin as builtin_envs

    builtin_envs.register()
    torch.set_num_threads(threads)
    began, began_cpu = time.perf_counter(), time.process_time()  # like rnnppo's train(): env and model count
    sizes = {"lstm_cell_size": 64, "num_envs": 8, **(sizes or {})}
    vec = make_vec_env(lambda: gym.make(env), n_envs=sizes["num_envs"], seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        vec,
        n_steps=128,
        batch_size=256,
        n_epochs=4,
        policy_kwargs={"lstm_hidden_size": sizes["lstm_cell_size"], "net_arch": [64]},
        device=device,
        seed=seed,
        verbose=0,
    )
    model.learn(total_timesteps=steps)
    wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    out = {"env_steps": int(model.num_timesteps), "wall_s": wall, "cpu_s": cpu}
    if episodes:
        from stable_baselines3.common.evaluation import evaluate_policy

        eval_env = make_vec_env(lambda: gym.make(env), n_envs=1, seed=seed + 1_000_003)
        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True)
        out["eval_return"] = float(mean)
    return out


def env_only_rate(config, seconds: float) -> float:
    """Env steps/s of the config's N envs stepped alone in this process with random actions."""
    from rnnppo.core.envs.make import make_vector_env

    vec = make_vector_env(config, config.num_envs, 0)
    vec.action_space.seed(0)
    steps, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        vec.step(vec.action_space.sample())
        steps += config.num_envs
    rate = steps / (time.perf_counter() - began)
    vec.close()
    return rate


def forward_only_rate(step, policy, head, obs_dim: int, n: int, dev, seconds: float) -> float:
    """Env steps/s of the rollout's one-step forward + sampling (`step`, a RolloutStep) alone on a batch of n."""
    import numpy as np
    import torch

    obs = torch.as_tensor(np.zeros((n, obs_dim), dtype=np.float32), device=dev)
    prev_action = torch.zeros(n, head.prev_action_dim, device=dev)
    prev_reward = torch.zeros(n, device=dev)
    state = policy.initial_state(n, dev)
    calls, began = 0, time.perf_counter()
    with torch.inference_mode():
        while time.perf_counter() - began < seconds:
            dist_inputs, _, state = step(obs, prev_action, prev_reward, state)
            action, _ = head.sample(dist_inputs, policy.log_std)
            action.cpu().numpy()
            calls += 1
    return calls * n / (time.perf_counter() - began)


def run_bounds(env: str, threads: int, device: str, seconds: float = 3.0) -> dict:
    """Raw vectorised env stepping with random actions, and the policy's one-step forward alone."""
    import numpy as np
    import torch

    from rnnppo.core.envs.make import describe_spaces, make_vector_env
    from rnnppo.core.model import RolloutStep, build_policy
    from rnnppo.core.rollout import Collector

    torch.set_num_threads(threads)
    config = rnnppo_config(env, 10_000, threads, device, {})
    env_rate = env_only_rate(config, seconds)

    obs_space, action_space = describe_spaces(config)
    policy, head, obs_dim = build_policy(config, obs_space, action_space)
    dev = torch.device(device if device != "auto" else "cpu")
    policy.to(dev)
    n = config.num_envs
    step = RolloutStep(policy)  # the one-step forward the rollout runs
    forward_rate = forward_only_rate(step, policy, head, obs_dim, n, dev, seconds)
    prev_action = torch.zeros(n, head.prev_action_dim, device=dev)
    prev_reward = torch.zeros(n, device=dev)

    # The two, one after the other, with nothing else: the envs' observations into the policy and its
    # actions into the envs, no buffers, no episode handling. What a rollout without overhead reaches here.
    def bare_loop(vec, obs_np, state, until):
        """Steps until `until(calls)` is true; -> (calls, last observations, state)."""
        calls = 0
        with torch.inference_mode():
            while not until(calls):
                obs = torch.as_tensor(np.asarray(obs_np, dtype=np.float32), device=dev)
                dist_inputs, _, state = step(obs, prev_action, prev_reward, state)
                action, _ = head.sample(dist_inputs, policy.log_std)
                obs_np = vec.step(head.to_env(action.cpu().numpy()))[0]
                calls += 1
        return calls, obs_np, state

    vec = make_vector_env(config, n, 0)
    obs_np, _ = vec.reset(seed=0)
    began = time.perf_counter()
    state = policy.initial_state(n, dev)
    calls, obs_np, state = bare_loop(vec, obs_np, state, lambda _: time.perf_counter() - began > seconds)
    bare_rate = calls * n / (time.perf_counter() - began)

    # The rollout and the bare loop side by side in this process: the trainer's Collector on twin envs, the
    # same policy, alternating rounds of rollout_len steps, so load and cache state fall on both alike. (The
    # bare loop above and the training run's rollout ran at different times, in different processes.)
    collector = Collector(make_vector_env(config, n, 0), policy, head, config.frame_stack, dev)
    state = policy.initial_state(n, dev)
    rollout_s, bare_s = [], []
    for _ in range(max(3, round(seconds * 10))):
        began = time.perf_counter()
        collector.collect(config.rollout_len)
        rollout_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        _, obs_np, state = bare_loop(vec, obs_np, state, lambda calls: calls == config.rollout_len)
        bare_s.append(time.perf_counter() - began)
    vec.close()
    collector.env.close()
    steps = config.rollout_len * n
    return {
        "env_only_steps_per_s": env_rate,
        "forward_only_steps_per_s": forward_rate,
        "bare_loop_steps_per_s": bare_rate,
        "interleaved_rollout_steps_per_s": steps / float(np.median(rollout_s)),
        "interleaved_bare_steps_per_s": steps / float(np.median(bare_s)),
    }


def child(args: argparse.Namespace) -> None:
    from rnnppo.core.config import parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.child == "rnnppo":
        result = run_rnnppo(args.env, args.steps, args.threads, args.device, overrides, args.seed, args.episodes)
    elif args.child == "sb3":
        unknown = set(overrides) - set(SB3_SIZES)
        if unknown:
            raise SystemExit(f"the sb3-contrib runs take only {', '.join(SB3_SIZES)}, not {', '.join(sorted(unknown))}")
        sizes = {name: int(value) for name, value in overrides.items()}
        result = run_sb3(args.env, args.steps, args.threads, args.device, args.seed, args.episodes, sizes)
    else:
        result = run_bounds(args.env, args.threads, args.device)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(
    which: str, env: str, steps: int, threads: int, device: str, overrides: list[str], seed: int = 0, episodes: int = 0
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--env",
        env,
        "--steps",
        str(steps),
        "--threads",
        str(threads),
        "--device",
        device,
        "--seed",
        str(seed),
        "--episodes",
        str(episodes),
        *overrides,
    ]
    return child_result(command)


def compare(args: argparse.Namespace) -> dict[str, dict]:
    """sb3-contrib and rnnppo alternating, on the CPU; with --device cuda both on the GPU as well."""
    trainers = [("sb3", "cpu"), ("rnnppo", "cpu")]
    if args.device != "cpu":
        trainers += [("sb3", args.device), ("rnnppo", args.device)]
    medians: dict[str, dict] = {}
    for label in args.envs:
        env = ENVS[label]
        runs = alternate(
            {
                (which, device): partial(measure, which, env, args.steps, args.threads, device, args.overrides)
                for which, device in trainers
            },
            args.repeats,
        )
        every_bound = [measure("bounds", env, 0, args.threads, args.device, []) for _ in range(args.repeats)]
        bounds = {  # each bound's median over the repeats (one 3-second run of each varied by ~25%)
            key: sorted(b[key] for b in every_bound)[len(every_bound) // 2]
            for key in every_bound[0]
            if key != "peak_rss_mb"
        }
        anchor, ours = median_run(runs["sb3", "cpu"]), median_run(runs["rnnppo", args.device])
        medians[label] = {"sb3": anchor, "rnnppo": ours, "bounds": bounds, "all": runs}
        print(f"\n## {label} ({env}): {args.steps:,} env steps, {args.threads} torch thread(s), ", end="")
        print(f"median of {args.repeats}")
        print("| trainer | env steps/s (median) | all runs | / sb3-contrib (cpu) | peak RSS MB |")
        print("|---|---:|---|---:|---:|")
        for which, device in trainers:
            name = "sb3-contrib RecurrentPPO" if which == "sb3" else "rnnppo train"
            every = ", ".join(f"{rate(r):,.0f}" for r in runs[which, device])
            best = median_run(runs[which, device])
            print(
                f"| {name} ({device}) | {rate(best):,.0f} | {every} | {rate(best) / rate(anchor):.2f}x | "
                f"{best['peak_rss_mb']:.0f} |"
            )
        ratio = rate(ours) / rate(anchor)
        # each repeat ran the two back to back: the ratio within each pair, less exposed to the machine's load
        pairs = sorted(rate(r) / rate(s) for r, s in zip(runs["rnnppo", args.device], runs["sb3", "cpu"], strict=True))
        print(
            f"\nrnnppo ({args.device}) / sb3-contrib (cpu): **{ratio:.2f}x** env steps/s (ratio of the medians); ",
            end="",
        )
        print(
            f"per alternating pair {', '.join(f'{p:.2f}' for p in pairs)}: median **{pairs[len(pairs) // 2]:.2f}x**; ",
            end="",
        )
        print(f"peak RSS {ours['peak_rss_mb']:.0f} vs {anchor['peak_rss_mb']:.0f} MB")
        # CPU time (all threads of each process): the least exposed to other load on the machine
        cpu_pairs = sorted(
            (r["env_steps"] / r["cpu_s"]) / (s["env_steps"] / s["cpu_s"])
            for r, s in zip(runs["rnnppo", args.device], runs["sb3", "cpu"], strict=True)
        )
        print(f"\nIn CPU time per env step, per pair: {', '.join(f'{p:.2f}' for p in cpu_pairs)}: ", end="")
        print(f"median **{cpu_pairs[len(cpu_pairs) // 2]:.2f}x**")
    return medians


def breakdown(medians: dict[str, dict]) -> None:
    print("\n## Where rnnppo's time goes (the median run of each env, fractions of wall time)")
    print("| env | env stepping | policy forward (rollout) | rest of rollout | chunking (GAE, sequences) ", end="")
    print("| update | other |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, m in medians.items():
        r = m["rnnppo"]
        wall = r["wall_s"]
        rest = r["time_rollout"] - r["time_rollout_env"] - r["time_rollout_policy"]
        other = wall - r["time_rollout"] - r["time_chunking"] - r["time_update"]
        cells = [r["time_rollout_env"], r["time_rollout_policy"], rest, r["time_chunking"], r["time_update"], other]
        print(f"| {label} | " + " | ".join(f"{c / wall:.0%}" for c in cells) + " |")
    print("\n## Rollout throughput against its bounds (same sitting)")
    print(
        "| env | rollout-only steps/s | env stepping alone (random actions) | policy forward alone | "
        "rollout / tighter bound | serial ceiling | rollout / serial ceiling | bare serial loop | rollout / bare loop "
        "| interleaved in one process: rollout, bare loop, ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, m in medians.items():
        r, b = m["rnnppo"], m["bounds"]
        rollout_rate = r["env_steps"] / r["time_rollout"]
        env_rate, forward_rate = b["env_only_steps_per_s"], b["forward_only_steps_per_s"]
        tighter = min(env_rate, forward_rate)
        # A rollout steps the envs and then runs the policy, one after the other: with zero overhead it
        # would take the sum of the two times per step, so this is the most it could reach.
        ceiling = 1.0 / (1.0 / env_rate + 1.0 / forward_rate)
        print(
            f"| {label} | {rollout_rate:,.0f} | {env_rate:,.0f} | {forward_rate:,.0f} | {rollout_rate / tighter:.0%} | "
            f"{ceiling:,.0f} ({ceiling / tighter:.0%} of the tighter) | {rollout_rate / ceiling:.0%} | "
            f"{b['bare_loop_steps_per_s']:,.0f} ({b['bare_loop_steps_per_s'] / tighter:.0%} of the tighter) | "
            f"{rollout_rate / b['bare_loop_steps_per_s']:.0%} | {b['interleaved_rollout_steps_per_s']:,.0f}, "
            f"{b['interleaved_bare_steps_per_s']:,.0f}, "
            f"**{b['interleaved_rollout_steps_per_s'] / b['interleaved_bare_steps_per_s']:.0%}** |"
        )


def scaling(args: argparse.Namespace) -> None:
    env = ENVS["StatelessCartPole"]
    axes = {
        "max_seq_len": [4, 8, 16, 32, 64],
        "lstm_cell_size": [32, 64, 128, 256],
        "num_envs": [1, 8, 32, 64],
    }
    # sb3-contrib at the same size, run right after rnnppo's: its peak RSS and speed beside rnnppo's (max_seq_len
    # has no counterpart there: those rows face sb3-contrib at the matched settings, measured once)
    matched_sb3 = None
    for name, values in axes.items():
        print(f"\n## Scaling over {name} (StatelessCartPole, {args.scaling_steps:,} env steps, others as matched)")
        print(
            f"| {name} | env steps/s | relative | peak RSS MB | update share | sb3-contrib env steps/s | "
            "rnnppo / sb3-contrib | sb3-contrib peak RSS MB |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = None
        for value in values:
            words = [f"{name}={value}", *args.overrides]
            run = measure("rnnppo", env, args.scaling_steps, args.threads, args.device, words)
            if name in SB3_SIZES:
                anchor = measure("sb3", env, args.scaling_steps, args.threads, "cpu", [f"{name}={value}"])
            else:
                matched_sb3 = matched_sb3 or measure("sb3", env, args.scaling_steps, args.threads, "cpu", [])
                anchor = matched_sb3
            base = base or rate(run)
            print(
                f"| {value} | {rate(run):,.0f} | {rate(run) / base:.2f} | {run['peak_rss_mb']:.0f} | "
                f"{run['time_update'] / run['wall_s']:.0%} | {rate(anchor):,.0f} | {rate(run) / rate(anchor):.2f}x | "
                f"{anchor['peak_rss_mb']:.0f} |"
            )


def learning(args: argparse.Namespace) -> None:
    """Final greedy evaluation return of both trainers at the matched settings, same env-step budget."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [
        (label, which, seed) for label in args.envs for seed in range(args.learn_seeds) for which in ("sb3", "rnnppo")
    ]
    with ThreadPoolExecutor(args.processes) as pool:
        futures = {
            job: pool.submit(
                measure, job[1], ENVS[job[0]], args.learn_steps, args.threads, "cpu", args.overrides, job[2], 20
            )
            for job in jobs
        }
        results = {job: future.result() for job, future in futures.items()}
    print(f"\n## Learning at the matched settings: {args.learn_steps:,} env steps, mean return of 20 greedy episodes")
    print("| env | seed | sb3-contrib RecurrentPPO | rnnppo |")
    print("|---|---:|---:|---:|")
    for label in args.envs:
        for seed in range(args.learn_seeds):
            sb3, ours = results[label, "sb3", seed], results[label, "rnnppo", seed]
            print(f"| {label} | {seed} | {sb3['eval_return']:.1f} | {ours['eval_return']:.1f} |")
        sb3_mean = sum(results[label, "sb3", s]["eval_return"] for s in range(args.learn_seeds)) / args.learn_seeds
        ours_mean = sum(results[label, "rnnppo", s]["eval_return"] for s in range(args.learn_seeds)) / args.learn_seeds
        print(f"| {label} | mean | {sb3_mean:.1f} | {ours_mean:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "compare", "scaling", "learning"), default="all")
    parser.add_argument("--learn-steps", type=int, default=100_000, help="env steps per learning run")
    parser.add_argument("--learn-seeds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="parallel learning runs (not timed)")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--episodes", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per comparison run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling-steps", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda to add GPU runs of both trainers")
    parser.add_argument("--envs", default=",".join(ENVS), help=f"comma-separated, of: {', '.join(ENVS)}")
    parser.add_argument("--child", choices=("rnnppo", "sb3", "bounds"), help=argparse.SUPPRESS)
    parser.add_argument("--env", default=ENVS["StatelessCartPole"], help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra NAME=VALUE settings for the rnnppo runs")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.envs = [name.strip() for name in args.envs.split(",") if name.strip()]
    unknown = [name for name in args.envs if name not in ENVS]
    if unknown:
        parser.error(f"--envs: unknown {', '.join(unknown)}; choose from {', '.join(ENVS)}")
    if args.part in ("all", "compare"):
        breakdown(compare(args))
    if args.part in ("all", "scaling"):
        scaling(args)
    if args.part in ("all", "learning"):
        learning(args)


if __name__ == "__main__":
    main()
