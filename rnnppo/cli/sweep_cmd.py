"""`rnnppo sweep`: parse the space and options, run the sweep with live progress, print the comparison."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import typer
from optuna.trial import FrozenTrial, TrialState
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from rnnppo.cli.common import check_writable, console, fail, is_interactive, user_errors
from rnnppo.cli.progress import SweepProgress, duration, live_text

STATE_STYLE = {
    TrialState.COMPLETE: "green",
    TrialState.RUNNING: "yellow",
    TrialState.FAIL: "red",
    TrialState.PRUNED: "magenta",
    TrialState.WAITING: "dim",
}


def sweep(
    space: list[str] = typer.Argument(None, help="NAME=SPACE words: v1,v2,.. (choices), lo..hi, lo..hi:log, value"),
    env: str = typer.Option(None, "--env", help="gymnasium id or package.module:ClassName"),
    steps: int = typer.Option(None, "--steps", help="env steps per run"),
    trials: int = typer.Option(None, "--trials", min=1, help="trials in the study (default: the grid's size, else 20)"),
    seeds: int = typer.Option(
        3, "--seeds", min=1, help="seeds per configuration (the same seeds for every one; 3+ to compare them)"
    ),
    jobs: int = typer.Option(1, "--jobs", min=1, help="trials at once, each in its own process"),
    study: str = typer.Option(None, "--study", help="study name (default: from the env and the swept names)"),
    storage: str = typer.Option(
        None, "--storage", help="Optuna storage URL (default: $RNNPPO_STORAGE, else sqlite:///OUT/rnnppo.db)"
    ),
    out: Path = typer.Option(Path("results"), "--out", help="results folder"),
    sampler: str = typer.Option("auto", "--sampler", help="auto, grid, tpe, random or cmaes"),
    sampler_seed: int = typer.Option(0, "--sampler-seed", help="seeds the sampler and the grid's order"),
    pruner: str = typer.Option("none", "--pruner", help="none, median or hyperband"),
    timeout: float = typer.Option(None, "--timeout", min=1, help="time budget in seconds for the whole sweep"),
    trial_timeout: float = typer.Option(None, "--trial-timeout", min=1, help="seconds one trial may take"),
    objective: str = typer.Option("final", "--objective", help="final (evaluation return) or auc"),
    min_effect: float = typer.Option(
        None, "--min-effect", help="smallest score difference worth detecting (score units; default per score kind)"
    ),
    warm_start: str = typer.Option(None, "--warm-start", help="queue another study's best configurations first"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would run and an estimated time; store nothing"),
    device: str = typer.Option(None, "--device", help="cpu, cuda or auto"),
    config_file: Path = typer.Option(None, "--config", help="TOML file of base settings"),
    wrapper: list[str] = typer.Option(
        None, "--wrapper", help="package.module:Wrapper or ...:Wrapper(key=literal, ...) for every env (repeatable)"
    ),
    preset: str = typer.Option(None, "--preset", help="a shipped tuned config (`rnnppo presets`) as the base"),
    logger: list[str] = typer.Option(None, "--logger", help="also log every run to tensorboard, wandb or mlflow"),
    mlflow_uri: str = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI (default: SQLite in OUT)"),
    progress_every: float = typer.Option(
        30.0, "--progress-every", min=0.0, help="seconds between progress lines when not on a terminal"
    ),
) -> None:
    """Run an Optuna sweep; re-running the same command resumes the same study."""
    from rnnppo.core.loggers import check_loggers
    from rnnppo.storage.backend import StorageError, mask_url
    from rnnppo.sweeps import runner
    from rnnppo.sweeps.plan import make_plan
    from rnnppo.sweeps.spec import SweepRequest, build_spec
    from rnnppo.sweeps.study import SweepError, inert_warnings, seeds_warning, validate_grid

    with user_errors():
        try:
            spec = build_spec(
                space,
                SweepRequest(
                    env=env,
                    steps=steps,
                    trials=trials,
                    seeds=seeds,
                    jobs=jobs,
                    study=study,
                    storage=storage,
                    out=out,
                    sampler=sampler,
                    sampler_seed=sampler_seed,
                    pruner=pruner,
                    timeout=timeout,
                    trial_timeout=trial_timeout,
                    objective=objective,
                    warm_start=warm_start,
                    device=device,
                    config_file=config_file,
                    wrappers=tuple(wrapper or ()),
                    preset=preset,
                    min_effect=min_effect,
                ),
            )
        except SweepError as err:
            fail(str(err))
        spec = dataclasses.replace(spec, loggers=check_loggers(logger), mlflow_uri=mlflow_uri)
    if dry_run:
        with user_errors():
            validate_grid(spec)
            _print_plan(spec, make_plan(spec))
        return
    check_writable(out)
    if spec.loggers:
        from rnnppo.core.loggers import prepare_loggers

        prepare_loggers(spec.loggers, out, spec.mlflow_uri)
    table_state: dict = {"last": 0.0}
    with user_errors():
        notes = [*inert_warnings(spec), *filter(None, [seeds_warning(spec)])]

    def announce() -> None:  # once the storage is open: a storage that cannot be used is the only line
        console.print(
            f"[bold]study[/] {spec.study_name}  [bold]storage[/] {mask_url(spec.storage_url)}  "
            f"[bold]jobs[/] {spec.jobs}  [bold]seeds[/] {list(spec.seeds)}"
        )
        for note in notes:
            console.print(f"[yellow]warning:[/] {escape(note)}")

    progress = SweepProgress(spec.trials, len(spec.seeds), spec.base_config().total_steps, progress_every)

    def print_progress(trials: list[FrozenTrial]) -> None:
        _print_finished(trials, table_state)
        done, eta = progress.measure(trials)
        if progress.line_due():
            console.print(progress.line(spec.study_name, trials, done, eta), soft_wrap=True, markup=False)

    try:
        if is_interactive():
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                outcome = runner.run(
                    spec,
                    on_poll=lambda trials: live.update(_live_view(spec, trials, progress)),
                    on_start=announce,
                )
        else:
            outcome = runner.run(spec, on_poll=print_progress, on_start=announce)
    except (SweepError, StorageError) as err:
        fail(str(err))
    except KeyboardInterrupt:  # before the workers started (after, the runner stops them and returns)
        console.print("sweep stopped (Ctrl-C) before any trial ran; run the same command again to start it")
        raise typer.Exit(130) from None
    _print_outcome(spec, outcome)


def _print_plan(spec, plan) -> None:
    table = Table(title=f"dry run: study {spec.study_name} ({plan.sampler} sampler)", title_justify="left")
    table.add_column("setting", style="bold")
    table.add_column("space")
    for name, text in plan.space_rows:
        table.add_row(name, text)
    console.print(table)
    console.print(
        f"{plan.trials} trials × {len(spec.seeds)} seeds = {plan.runs} runs, "
        f"{plan.env_steps:,} env steps in all ({plan.iterations_per_run} iterations per run)"
    )
    eta = plan.estimated_seconds(spec.jobs)
    if eta is not None:
        concurrent = max(1, min(spec.jobs, plan.trials))
        console.print(
            f"probe iteration: {plan.probe_steps_per_s:,.0f} env steps/s → about {_duration(eta)} "
            + ("" if eta < 90 else f"({eta:,.0f} s) ")
            + f"with --jobs {spec.jobs} ({plan.trials} trials in waves of {concurrent}; "
            f"each trial runs its {plan.seeds} seeds one after another)"
        )
    console.print("nothing was stored (dry run)")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _score(trial: FrozenTrial) -> str:
    if trial.value is not None:
        return f"{trial.value:.2f}"
    if trial.intermediate_values:
        last = trial.intermediate_values[max(trial.intermediate_values)]
        return f"{last:.2f}…"
    return "-"


def _progress_table(spec, trials: list[FrozenTrial]) -> Table:
    """The live table: one row per trial, its configuration stacked one setting per line so that it fits
    an 80-column terminal however many settings are swept."""
    counted = [t for t in trials if t.state != TrialState.WAITING]
    done = [t for t in counted if t.state.is_finished()]
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in done
        if t.datetime_complete and t.datetime_start and t.state == TrialState.COMPLETE
    ]
    remaining = max(0, spec.trials - len(done))
    eta = _duration(sum(durations) / len(durations) * remaining / spec.jobs) if durations and remaining else "-"
    failed = sum(1 for t in done if t.state == TrialState.FAIL)
    table = Table(
        title=f"{spec.study_name}: {len(done)}/{spec.trials} trials done, {failed} failed, ETA {eta}",
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("configuration", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("seeds", justify="right", no_wrap=True)
    table.add_column("running now", no_wrap=True)  # seed, env steps, recent return: stacked to fit 80 columns
    table.add_column("score", justify="right", no_wrap=True)
    names = list(spec.space.swept_names)
    shown = sorted(counted, key=lambda t: t.number)[-20:]
    for trial in shown:
        config = "\n".join(f"{name}={trial.params.get(name, '')}" for name in names) or "(base config)"
        seeds_done = trial.user_attrs.get("seeds_done", 0)
        state = trial.state
        table.add_row(
            str(trial.number),
            escape(config),
            f"[{STATE_STYLE.get(state, '')}]{state.name.lower()}[/]",
            f"{seeds_done}/{len(spec.seeds)}",
            _live_cell(trial),
            _score(trial),
        )
    return table


def _live_cell(trial: FrozenTrial) -> str:
    """A running trial's current seed, its env steps and its recent return, one per line."""
    seed, steps, ret = live_text(trial)
    return f"seed {seed}\n{steps}\nreturn {ret}" if seed else ""


def _live_view(spec, trials: list[FrozenTrial], progress: SweepProgress) -> Group:
    """The terminal's live view: a bar over the sweep's env steps with its ETA, then the trials table."""
    done, eta = progress.measure(trials)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        "[bold]sweep[/]",
        ProgressBar(total=max(progress.total, 1), completed=done, width=40),
        f"{done:,}/{progress.total:,} env steps",
        f"ETA {duration(eta)}",
    )
    return Group(bar, _progress_table(spec, trials))


def _print_finished(trials: list[FrozenTrial], state: dict) -> None:
    """Non-interactive progress: one plain line per trial as it finishes."""
    seen = state.setdefault("seen", set())
    for trial in trials:
        if trial.state.is_finished() and trial.number not in seen:
            seen.add(trial.number)
            params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
            extra = f" ({trial.user_attrs['error']})" if trial.user_attrs.get("error") else ""
            console.print(f"trial {trial.number} {trial.state.name.lower()}: {params} → {_score(trial)}{extra}")


def _print_outcome(spec, outcome) -> None:
    complete = outcome.count(TrialState.COMPLETE)
    failed = outcome.failures
    pruned = outcome.count(TrialState.PRUNED)
    waiting = outcome.count(TrialState.WAITING)
    stopped_by = "Ctrl-C" if outcome.stop_signal == signal.SIGINT else signal.Signals(outcome.stop_signal).name
    verb = "stopped early" if outcome.worker_errors else "finished"
    if outcome.interrupted:
        verb = f"stopped ({stopped_by})"
    console.print(
        f"[bold]sweep {verb}[/] in {_duration(outcome.elapsed_s)}: {complete} complete, {len(failed)} failed, "
        f"{pruned} pruned, {waiting} queued"
        + (f"; re-queued dead trials {outcome.reclaimed}" if outcome.reclaimed else "")
    )
    for number, error in failed[:10]:
        console.print(f"  [red]trial {number} failed:[/] {error}")
    if outcome.duplicates:
        size = spec.space.distinct_points
        exhausted = f"; the space has {size} distinct configurations and all of them ran" if size else ""
        console.print(
            f"skipped {outcome.duplicates} sampled trials that repeated a configuration already run on the same "
            f"seeds{exhausted}"
        )
    elif spec.space.distinct_points is not None and outcome.distinct >= spec.space.distinct_points < spec.trials:
        console.print(f"the space has {spec.space.distinct_points} distinct configurations and all of them ran")
    for error in outcome.worker_errors:
        console.print(f"  [red]{error}[/]")
    if outcome.interrupted:
        console.print(
            f"{complete} finished trials kept; run the same command again for the {waiting} queued "
            "(interrupted ones included)"
        )
    from rnnppo.cli.study_report import print_study_report

    print_study_report(spec.storage_url, spec.study_name, Path(spec.results_dir), console)
    if outcome.interrupted:
        raise typer.Exit(128 + outcome.stop_signal)  # the shell's code (130 for Ctrl-C): a stop is no finish
    if outcome.worker_errors:
        raise typer.Exit(1)
