"""Report figures (PNG): learning curves with confidence bands, a score heatmap over two swept
parameters, parameter importance, and score against cost with the Pareto front."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnppo.results.report import Report  # noqa: E402

GRID_POINTS = 100


def learning_curves(report: Report, path: Path) -> Path:
    """Mean training return over seeds per configuration, with a 95% band (normal approximation
    over seeds, drawn only with 3 or more seeds), on a shared env-step grid."""
    curves = report.data.curves
    fig, ax = plt.subplots(figsize=(8, 5))
    order = list(report.comparison["config"]) if not report.comparison.empty else []
    for key in order:
        group = curves[curves["config"] == key]
        if group.empty:
            continue
        grid = np.linspace(group["env_steps"].min(), group["env_steps"].max(), GRID_POINTS)
        per_seed = [np.interp(grid, g["env_steps"], g["return"]) for _, g in group.groupby("seed")]
        values = np.vstack(per_seed)
        mean = values.mean(axis=0)
        line = ax.plot(grid, mean, label=key)[0]
        if len(per_seed) >= 3:
            half = 1.96 * values.std(axis=0, ddof=1) / np.sqrt(len(per_seed))
            ax.fill_between(grid, mean - half, mean + half, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("training return (mean of last 100 episodes)")
    ax.set_title(f"learning curves: {report.data.name}")
    ax.grid(alpha=0.3)
    if order:
        ax.legend(fontsize=8)
    return _save(fig, path)


def heatmap(report: Report, path: Path) -> Path | None:
    """IQM final return over the first two swept parameters (averaged over any others)."""
    swept = [n for n in report.data.swept if report.data.runs[n].astype(str).nunique() > 1]
    if len(swept) < 2:
        return None
    x_name, y_name = swept[:2]
    runs = report.data.runs.assign(x=report.data.runs[x_name].astype(str), y=report.data.runs[y_name].astype(str))
    pivot = runs.pivot_table(index="y", columns="x", values="final_return", aggfunc="mean")
    pivot = pivot.reindex(index=_sorted(pivot.index), columns=_sorted(pivot.columns))
    fig, ax = plt.subplots(figsize=(1.4 * len(pivot.columns) + 3, 1.0 * len(pivot.index) + 2.5))
    image = ax.imshow(pivot.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(pivot.columns)), pivot.columns)
    ax.set_yticks(range(len(pivot.index)), pivot.index)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    for (i, j), value in np.ndenumerate(pivot.to_numpy(dtype=float)):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", color="white", fontsize=9)
    fig.colorbar(image, ax=ax, label="mean final return")
    ax.set_title(f"final return: {x_name} × {y_name}")
    return _save(fig, path)


def importance_bars(report: Report, path: Path) -> Path | None:
    if not report.importance:
        return None
    names, values = zip(*sorted(report.importance.items(), key=lambda kv: kv[1]), strict=True)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    ax.barh(names, values, color="tab:blue")
    ax.set_xlabel("importance (Optuna)")
    ax.set_title("which settings matter")
    return _save(fig, path)


def pareto(report: Report, path: Path) -> Path | None:
    """Score against speed; the Pareto front (no configuration both faster and better) is marked."""
    table = report.comparison
    if table.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(table["steps_per_s"], table["iqm"], color="tab:gray")
    front = _front(table)
    ax.plot(front["steps_per_s"], front["iqm"], "o-", color="tab:red", label="Pareto front")
    for _, row in table.iterrows():
        ax.annotate(
            row["config"], (row["steps_per_s"], row["iqm"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set_xlabel("env steps per second (higher is cheaper)")
    ax.set_ylabel("IQM final return")
    ax.set_title("score against cost")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _front(table: pd.DataFrame) -> pd.DataFrame:
    ordered = table.sort_values("steps_per_s", ascending=False)
    best, keep = -np.inf, []
    for index, row in ordered.iterrows():
        if row["iqm"] > best:
            keep.append(index)
            best = row["iqm"]
    return ordered.loc[keep]


def _sorted(labels: pd.Index) -> list[str]:
    def key(text: str) -> tuple:
        try:
            return (0, float(text), text)
        except ValueError:
            return (1, 0.0, text)

    return sorted(labels, key=key)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(report: Report, folder: Path) -> list[Path]:
    folder = Path(folder)
    made = [
        learning_curves(report, folder / "learning_curves.png"),
        heatmap(report, folder / "heatmap.png"),
        importance_bars(report, folder / "importance.png"),
        pareto(report, folder / "score_vs_cost.png"),
    ]
    return [p for p in made if p is not None]
