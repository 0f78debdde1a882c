"""Live progress of `train` and `sweep`: a rich bar with ETA on a terminal, a plain line at a steady
interval elsewhere (a pipe, a Slurm log, CI), with no escape codes, so a long run can be watched."""

from __future__ import annotations

import math
import time
from typing import Any

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

DEFAULT_EVERY_S = 30.0


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Rate:
    """Env steps per second measured in this process only (steps a resumed run or sweep had done before it
    started do not inflate the rate, so the ETA is honest)."""

    def __init__(self) -> None:
        self.base_steps: int | None = None
        self.base_time = 0.0

    def eta(self, done: int, total: int) -> float:
        now = time.monotonic()
        if self.base_steps is None:
            self.base_steps, self.base_time = done, now
            return math.nan
        rate = (done - self.base_steps) / max(now - self.base_time, 1e-9)
        return (total - done) / rate if rate > 0 else math.nan


class TrainProgress:
    """Per-iteration progress of one run: `update(row)` from train()'s on_iteration."""

    def __init__(self, console: Console, total_steps: int, interactive: bool, every_s: float = DEFAULT_EVERY_S):
        self.console, self.total, self.interactive, self.every_s = console, total_steps, interactive, every_s
        self.started = time.monotonic()
        self.last_line = -math.inf
        self.rate = Rate()
        self.bar: Progress | None = None
        if interactive:
            self.bar = Progress(
                TextColumn("[bold]train[/]"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} steps"),
                TextColumn("{task.fields[speed]:>7} steps/s"),
                TextColumn("return {task.fields[ret]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self.task = self.bar.add_task("train", total=total_steps, speed="-", ret="-")

    def __enter__(self) -> TrainProgress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(exc_type, exc, traceback)

    def update(self, row: dict[str, Any]) -> None:
        steps = min(int(row["env_steps"]), self.total)
        ret = row["return_mean_100"]
        ret_text = "-" if not math.isfinite(ret) else f"{ret:.1f}"
        if self.bar is not None:
            self.bar.update(self.task, completed=steps, speed=f"{row['steps_per_s']:,.0f}", ret=ret_text)
            return
        eta = self.rate.eta(steps, self.total)
        now = time.monotonic()
        if now - self.last_line < self.every_s and steps < self.total:
            return
        self.last_line = now
        self.console.print(
            f"train {steps:,}/{self.total:,} steps ({100 * steps / self.total:.0f}%), iteration {row['iteration']}, "
            f"{row['steps_per_s']:,.0f} steps/s, return {ret_text}, elapsed {duration(now - self.started)}, "
            f"ETA {duration(eta)}",
            soft_wrap=True,
            markup=False,
        )


# --- sweeps ------------------------------------------------------------------------------------------


def trial_steps_done(trial: FrozenTrial, seeds: int, steps_per_run: int) -> int:
    """Env steps a trial has done: finished ones count whole (a pruned or failed trial is no work left)."""
    if trial.state.is_finished():
        return seeds * steps_per_run
    if trial.state != TrialState.RUNNING:
        return 0
    live = trial.user_attrs.get("live") or {}
    seeds_done = int(trial.user_attrs.get("seeds_done", 0))
    return seeds_done * steps_per_run + int(live.get("env_steps", 0) if seeds_done < seeds else 0)


def live_text(trial: FrozenTrial) -> tuple[str, str, str]:
    """A running trial's (seed, env steps, recent return) from the live attribute its worker writes."""
    live = trial.user_attrs.get("live")
    if trial.state != TrialState.RUNNING or not live:
        return "", "", ""
    ret = live.get("return")
    return (
        str(live.get("seed", "")),
        f"{live.get('env_steps', 0):,}/{live.get('total_steps', 0):,}",
        "-" if ret is None else f"{ret:.1f}",
    )


class SweepProgress:
    """The sweep's overall progress in env steps (trials × seeds × steps), from the polled trials."""

    def __init__(self, trials: int, seeds: int, steps_per_run: int, every_s: float = DEFAULT_EVERY_S):
        self.trials, self.seeds, self.steps_per_run, self.every_s = trials, seeds, steps_per_run, every_s
        self.total = trials * seeds * steps_per_run
        self.rate = Rate()
        self.started = time.monotonic()
        self.last_line = -math.inf

    def measure(self, trials: list[FrozenTrial]) -> tuple[int, float]:
        """(env steps done, ETA in seconds) over the study's counted trials."""
        counted = [t for t in trials if t.state != TrialState.WAITING]
        done = sum(trial_steps_done(t, self.seeds, self.steps_per_run) for t in counted)
        done = min(done, self.total)
        return done, self.rate.eta(done, self.total)

    def line_due(self) -> bool:
        now = time.monotonic()
        if now - self.last_line < self.every_s:
            return False
        self.last_line = now
        return True

    def line(self, study: str, trials: list[FrozenTrial], done: int, eta: float) -> str:
        finished = [t for t in trials if t.state.is_finished()]
        failed = sum(1 for t in finished if t.state == TrialState.FAIL)
        running = []
        for trial in sorted(trials, key=lambda t: t.number):
            seed, steps, ret = live_text(trial)
            if seed:
                running.append(f"#{trial.number} seed {seed} {steps} steps return {ret}")
        elapsed = duration(time.monotonic() - self.started)
        return (
            f"sweep {study}: {len(finished)}/{self.trials} trials done ({failed} failed), "
            f"{100 * done / max(self.total, 1):.0f}% of env steps, elapsed {elapsed}, "
            f"ETA {duration(eta)}" + (f"; running {'; '.join(running)}" if running else "")
        )
