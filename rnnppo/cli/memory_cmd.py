"""`rnnppo memory`: how far back a trained run's policy remembers (parse, call core/analysis/memory.py, print)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from rnnppo.cli.common import check_writable, console, fail, user_errors

WHY = (
    "The horizon can exceed max_seq_len, because the recurrent state is carried through the whole episode "
    "and training only cuts the gradient, not the state; it can fall short of it when the task does not "
    "need more history than that."
)


def memory(
    run_dir: Path = typer.Argument(..., help="a run folder written by train or sweep"),
    episodes: int = typer.Option(16, "--episodes", help="episodes to play (actions sampled as in training)"),
    max_lag: int = typer.Option(
        None, "--max-lag", help="largest lag K (default: the longest episode played, at most 200 steps)"
    ),
    at: str = typer.Option("all", "--at", help="all: every step; rewarded: only steps with a non-zero reward"),
    by_feature: bool = typer.Option(False, "--by-feature", help="also split the influence by observation feature"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    plot: Path = typer.Option(None, "--plot", help="write the influence-by-lag curve with its band to this PNG"),
    seed: int = typer.Option(0, "--seed"),
    pairs: int = typer.Option(2048, "--pairs", help="(start step, replacement observation) draws"),
) -> None:
    """Measure how far back a trained policy remembers: the change of its action distribution at step t
    when the observation at t-k is swapped for one from elsewhere in the played data, for every lag k
    (95% bootstrap intervals over episodes), and the memory horizon: the largest lag whose lower bound
    reaches max(0.01, 5% of the lag-0 influence); ">= K" when K is the largest lag it could see (the lag
    cap, the longest episode). The horizon can exceed max_seq_len, because the recurrent
    state is carried through the whole episode and training only cuts the gradient, not the state; it
    can fall short of it when the task does not need more history than that."""
    from rnnppo.core.analysis.memory import TARGETS, measure_run
    from rnnppo.core.runs.evaluation import load_run_policy

    if max_lag is not None and max_lag < 1:
        fail(f"--max-lag {max_lag} must be at least 1 (lag 0 is always measured)")
    if episodes < 1:
        fail(f"--episodes {episodes} must be at least 1")
    if pairs < 1:
        fail(f"--pairs {pairs} must be at least 1")
    if at not in TARGETS:
        fail(f"--at {at!r} must be one of: {', '.join(TARGETS)}")
    if plot is not None:
        if plot.suffix.lower() != ".png":
            fail(f"--plot {plot} must end in .png")
        check_writable(plot.parent if str(plot.parent) else Path("."))
    with user_errors():
        config, policy = load_run_policy(run_dir)
        with console.status("playing episodes and re-running counterfactuals"):
            result = measure_run(policy, config, episodes, max_lag, pairs, at, by_feature, seed)
    if plot is not None:
        _plot(result, config.max_seq_len, plot)
    if as_json:
        out = {"run_dir": str(run_dir), "env": config.env, "max_seq_len": config.max_seq_len, **result.to_dict()}
        console.print_json(json.dumps(_finite(out)))
        return
    _print(result, config, run_dir)
    if plot is not None:
        console.print(f"plot: {plot}")


def _finite(value: Any) -> Any:
    """NaN (a lag without enough pairs) -> null, so the JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _num(value: float, digits: int = 4) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _print(result, config, run_dir: Path) -> None:
    table = Table(
        title=f"influence of the observation k steps back ({result.metric}; targets: {result.at} steps)",
        title_justify="left",
    )
    for column in ("lag k", "influence", "95% interval", "|value change|", "pairs"):
        table.add_column(column, justify="right")
    for lag in result.lags:
        mark = " *" if result.influence_lo[lag] >= result.threshold else ""
        table.add_row(
            str(lag),
            _num(result.influence[lag]) + mark,
            f"[{_num(result.influence_lo[lag])}, {_num(result.influence_hi[lag])}]",
            _num(result.value_change[lag]),
            str(result.pairs[lag]),
        )
    console.print(table)
    if result.by_feature is not None:
        features = Table(title="influence by observation feature (mean)", title_justify="left")
        features.add_column("lag k", justify="right")
        for name in result.feature_names or [f"f{i}" for i in range(len(result.by_feature[0]))]:
            features.add_column(name, justify="right")
        for lag, row in zip(result.lags, result.by_feature, strict=True):
            features.add_row(str(lag), *(_num(value) for value in row))
        console.print(features)
    low, high = result.horizon_interval
    where = (
        f"nothing past lag {result.horizon} could be seen ({result.horizon_limit}), so it may be longer"
        if result.horizon_at_cap
        else f"interval {low}-{high}"
    )
    console.print(
        f"[bold]memory horizon: {result.horizon_text} steps[/]: {where}. * = lower bound >= threshold "
        f"{result.threshold:.4f}; trained with max_seq_len {config.max_seq_len}. Lags 0-{result.lag_cap} "
        f"measured; {result.episodes} episodes (the longest {result.longest_episode} steps), {result.steps:,} "
        f"steps played from {run_dir}."
    )
    console.print(WHY)


def _plot(result, max_seq_len: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(result.lags, result.influence, marker="o", label="influence")
    ax.fill_between(result.lags, result.influence_lo, result.influence_hi, alpha=0.3, label="95% interval")
    ax.axhline(result.threshold, linestyle="--", color="grey", label=f"threshold {result.threshold:.3f}")
    ax.axvline(result.horizon, color="tab:red", label=f"horizon {result.horizon_text}".replace(">=", "≥"))
    if max_seq_len <= result.lags[-1]:
        ax.axvline(max_seq_len, linestyle=":", color="black", label=f"max_seq_len {max_seq_len}")
    ax.set_xlabel("lag k (steps back)")
    ax.set_ylabel(result.metric)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
