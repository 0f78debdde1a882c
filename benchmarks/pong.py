"""Pong from pixels: one rnnppo run on ALE/Pong-v5 through the documented wrapper stack, its learning curve as a
CSV and a figure. A partial figure: Pong needs about 10M frames to be solved; this machine allows a fraction.

    pip install -e '.[envs]'                                    # ale-py and opencv (matplotlib is a dependency)
    nice -n 10 python benchmarks/pong.py train --steps 614400   # writes benchmarks/pong/pong.csv, then plots
    python benchmarks/pong.py plot                              # redraws docs/images/pong.png from the CSV

The env: `ale_py:ALE/Pong-v5` (ALE's own 4-frame skip, sticky actions with p = 0.25, the minimal 6-action set,
episodes capped at 108,000 frames) through `gymnasium.wrappers:AtariPreprocessing(frame_skip=1,
grayscale_newaxis=True)`: up to 30 no-op steps at reset, grayscale, resized to 84x84x1 uint8; frame_skip=1 because
the env already skips (so no max-pooling over the last two frames), no life-loss episodes (Pong has none), no
reward clipping (Pong's rewards are already -1/+1). One frame per step, no frame stack: the LSTM carries the motion.
One agent step is 4 frames.

The settings follow CleanRL's ppo_atari_lstm.py where rnnppo has them: 8 envs x 128 steps, 4 epochs, 4 minibatches
of 256 steps (whole 128-step sequences, CleanRL's full-rollout BPTT), lr 2.5e-4 annealed to 0, gamma 0.99, GAE
lambda 0.95, clip 0.1, entropy 0.01, value coefficient 0.5, gradient clip 0.5, one shared tower (conv -> 512 ReLU
-> LSTM 128 -> policy and value heads). Differences: the conv layers are rnnppo's default for 84x84 (RLlib's
[[16,[8,8],4],[32,[4,4],2],[256,[11,11],1]] -> 256), not the Nature CNN (32/64/64 -> 3,136) that CleanRL uses,
about 4x less arithmetic per frame, which matters on 2 CPU cores; advantages normalised over the rollout (CleanRL:
per minibatch); no value clipping (CleanRL clips the value change by 0.1); sticky actions and no FIRE at reset
(CleanRL plays the NoFrameskip-v4 envs with its own wrappers). One torch thread, no evaluation episodes (the curve
is the training episodes' returns).

`train` writes, after every iteration, one row per iteration to benchmarks/pong/pong.csv (seed, iteration,
env_steps, frames, time_s, episodes, episode_return_mean, return_mean_100), so a run stopped early still leaves its
curve; `plot` draws return_mean_100 (the mean of the last 100 finished episodes, the number rnnppo reports) against
env steps, with frames on a second axis, the random policy's level and the best possible score.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path
from typing import Any

from rnnppo.core.config import TrainConfig

HERE = Path(__file__).resolve().parent
CSV_PATH = HERE / "pong" / "pong.csv"
FIGURE_PATH = HERE.parent / "docs" / "images" / "pong.png"
COLUMNS = (
    "seed",
    "iteration",
    "env_steps",
    "frames",
    "time_s",
    "episodes",
    "episode_return_mean",
    "return_mean_100",
)
FRAMES_PER_STEP = 4  # ALE/Pong-v5's own frame skip
RANDOM_RETURN = -20.7  # a uniformly random policy's mean Pong score (the DQN papers' random baseline)
BEST_RETURN = 21.0  # 21 points to 0
ENV = "ale_py:ALE/Pong-v5"
WRAPPER = "gymnasium.wrappers:AtariPreprocessing(frame_skip=1, grayscale_newaxis=True)"
SETTINGS: dict[str, Any] = {
    "num_envs": 8,
    "rollout_len": 128,
    "num_epochs": 4,
    "minibatch_size": 256,  # 8 x 128 / 4 minibatches
    "max_seq_len": 128,  # whole rollouts as sequences, as CleanRL
    "lr": 2.5e-4,
    "anneal_lr": True,
    "gamma": 0.99,
    "lambda_": 0.95,
    "clip_param": 0.1,
    "entropy_coeff": 0.01,
    "vf_loss_coeff": 0.5,
    "grad_clip": 0.5,
    "fcnet_hiddens": (512,),
    "fcnet_activation": "relu",
    "lstm_cell_size": 128,
    "vf_share_layers": True,
    "observation_filter": "none",
    "num_threads": 1,
    "eval_episodes": 0,
    "memory_horizon": False,
}


def pong_config(steps: int, seed: int) -> TrainConfig:
    """The benchmark's configuration for one seed at a budget of `steps` agent steps."""
    return TrainConfig(env=ENV, wrappers=(WRAPPER,), total_steps=steps, seed=seed, **SETTINGS)


def run_seed(steps: int, seed: int, out: Path, csv_path: Path) -> None:
    """Train one seed, appending each iteration's row to `csv_path` and printing a progress line."""
    from rnnppo.core.runs.trainer import train  # here, so `plot` and read_curve need no torch

    began = time.perf_counter()

    def on_iteration(row: dict) -> None:
        values = {
            "seed": seed,
            "iteration": row["iteration"],
            "env_steps": row["env_steps"],
            "frames": row["env_steps"] * FRAMES_PER_STEP,
            "time_s": round(time.perf_counter() - began, 1),
            "episodes": row["episodes"],
            "episode_return_mean": row["episode_return_mean"],
            "return_mean_100": row["return_mean_100"],
        }
        with csv_path.open("a", newline="") as handle:
            csv.DictWriter(handle, COLUMNS).writerow(values)
        print(
            f"seed {seed} it {row['iteration']} steps {row['env_steps']:,} ({values['time_s']:.0f} s, "
            f"{row['env_steps'] / values['time_s']:.0f} steps/s) return_mean_100 {row['return_mean_100']:.2f}",
            flush=True,
        )

    result = train(pong_config(steps, seed), out_dir=out / f"seed{seed}", on_iteration=on_iteration)
    print(f"seed {seed} done: {result.summary['env_steps']:,} steps, {result.summary['steps_per_s']:.0f} steps/s")


def read_curve(csv_path: Path) -> dict[int, list[dict[str, float]]]:
    """The CSV's rows per seed, numbers as floats (NaN where no episode had finished yet)."""
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise SystemExit(f"{csv_path}: no rows or missing columns {missing}; run `python benchmarks/pong.py train`")
    curves: dict[int, list[dict[str, float]]] = {}
    for row in rows:
        curves.setdefault(int(row["seed"]), []).append({k: float(row[k] or "nan") for k in COLUMNS})
    return curves


def window_ends(rows: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float], int] | None:
    """(the first row whose 100-episode window is full, or the first with any finished episode if none is; the
    last row with a finished episode; episodes finished in all), or None when no episode finished."""
    finite = [r for r in rows if not math.isnan(r["return_mean_100"])]
    if not finite:
        return None
    finished, first = 0.0, finite[0]
    for row in rows:
        finished += row["episodes"]
        if finished >= 100:
            first = row
            break
    return first, finite[-1], int(sum(r["episodes"] for r in rows))


def summary_line(curves: dict[int, list[dict[str, float]]]) -> str:
    """Per seed: steps reached, the mean speed, and return_mean_100 at the window's ends (window_ends)."""
    parts = []
    for seed, rows in sorted(curves.items()):
        ends = window_ends(rows)
        if ends is None:
            parts.append(f"seed {seed}: no finished episode")
            continue
        first, last, episodes = ends
        window = "first full 100-episode window" if episodes >= 100 else f"first {episodes} episodes"
        parts.append(
            f"seed {seed}: {int(rows[-1]['env_steps']):,} steps ({int(rows[-1]['frames']):,} frames) in "
            f"{rows[-1]['time_s'] / 60:.1f} min, {rows[-1]['env_steps'] / rows[-1]['time_s']:.0f} steps/s, "
            f"{episodes} episodes; return_mean_100 {first['return_mean_100']:.2f} ({window}, at "
            f"{int(first['env_steps']):,} steps) -> {last['return_mean_100']:.2f} (last)"
        )
    return "\n".join(parts)


def moved(curves: dict[int, list[dict[str, float]]]) -> str:
    """The title's second line: where each seed's 100-episode mean started and ended."""
    parts = []
    for seed, rows in sorted(curves.items()):
        ends = window_ends(rows)
        if ends is not None:
            parts.append(f"seed {seed}: {ends[0]['return_mean_100']:.2f} -> {ends[1]['return_mean_100']:.2f}")
    return "mean of last 100 episodes: " + ("; ".join(parts) or "no finished episode")


def _to_frames(steps: Any) -> Any:
    return steps * FRAMES_PER_STEP


def _to_steps(frames: Any) -> Any:
    return frames / FRAMES_PER_STEP


def plot(csv_path: Path, figure_path: Path) -> None:
    """Draw return_mean_100 against env steps (frames on top) for every seed in the CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = read_curve(csv_path)
    steps = max(int(rows[-1]["env_steps"]) for rows in curves.values())
    fig, ax = plt.subplots(figsize=(7, 4.3), dpi=110)
    for seed, rows in sorted(curves.items()):
        x = [r["env_steps"] for r in rows]
        ax.plot(
            x,
            [r["episode_return_mean"] for r in rows],
            ".",
            ms=2,
            alpha=0.35,
            label=f"seed {seed}: episodes ended in one iteration",
        )
        ax.plot(x, [r["return_mean_100"] for r in rows], lw=1.8, label=f"seed {seed}: mean of last 100 episodes")
    ax.axhline(BEST_RETURN, color="green", ls="--", lw=1, label=f"best possible (+{BEST_RETURN:.0f})")
    ax.axhline(RANDOM_RETURN, color="grey", ls=":", lw=1.2, label=f"random policy ({RANDOM_RETURN})")
    ax.set_xlabel("agent steps (8 envs)")
    ax.set_ylabel("episode return (training episodes)")
    ax.set_ylim(-22.5, 22.5)
    top = ax.secondary_xaxis("top", functions=(_to_frames, _to_steps))
    top.set_xlabel("Atari frames (4 per step)")
    millions = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:g}M")
    ax.xaxis.set_major_formatter(millions)
    top.xaxis.set_major_formatter(millions)
    seeds = len(curves)
    ax.set_title(
        f"rnnppo on ALE/Pong-v5, PARTIAL: {steps:,} steps ({steps * FRAMES_PER_STEP / 1e6:.1f}M frames), "
        f"{seeds} seed{'s' if seeds > 1 else ''}\n(solving Pong takes ~10M frames); {moved(curves)}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="center right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figure_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure_path)
    plt.close(fig)
    print(f"{figure_path}\n{summary_line(curves)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("train", "plot"))
    parser.add_argument("--steps", type=int, default=614_400, help="agent steps per seed (4 frames each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/pong"), help="run folders (metrics.csv, model)")
    parser.add_argument("--csv", type=Path, default=CSV_PATH)
    parser.add_argument("--figure", type=Path, default=FIGURE_PATH)
    args = parser.parse_args()
    if args.command == "train":
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as handle:
            csv.DictWriter(handle, COLUMNS).writeheader()
        run_seed(args.steps, args.seed, args.out, args.csv)
    plot(args.csv, args.figure)


if __name__ == "__main__":
    main()
