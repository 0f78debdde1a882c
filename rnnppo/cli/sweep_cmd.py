"""`rnnppo sweep`: parse the space and options, run the sweep with live progress, print the comparison."""

from __future__ import annotations

import inspect
import signal
import types
import typing
from pathlib import Path
from typing import Any

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
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would run and an estimated time; store nothing"),
    progress_every: float = typer.Option(
        30.0, "--progress-every", min=0.0, help="seconds between progress lines when not on a terminal"
    ),
    **options: Any,
) -> None:
    """Run an Optuna sweep; re-running the same command resumes the same study."""
    from rnnppo.storage.backend import StorageError, mask_url
    from rnnppo.sweeps import runner
    from rnnppo.sweeps.plan import make_plan
    from rnnppo.sweeps.spec import build_spec, request_from
    from rnnppo.sweeps.study import SweepError, inert_warnings, seeds_warning, validate_grid
    from rnnppo.sweeps.tasks import left_out_tasks, mean_run_steps

    given = {name: value for name, value in options.items() if value is not None}
    with user_errors():
        try:
            spec = build_spec(space, request_from(given, "rnnppo sweep"))
        except SweepError as err:
            fail(str(err))
    out = Path(spec.results_dir)
    if dry_run:
        with user_errors():
            validate_grid(spec)
            _print_plan(spec, make_plan(spec))
        return
    check_writable(out)
    if spec.loggers:
        from rnnppo.core.runs.loggers import prepare_loggers

        with user_errors():
            prepare_loggers(spec.loggers, out, spec.mlflow_uri)
    table_state: dict = {"last": 0.0}
    with user_errors():
        notes = [*inert_warnings(spec), *filter(None, [seeds_warning(spec)]), *left_out_tasks(spec)]

    def announce() -> None:  # once the storage is open: a storage that cannot be used is the only line
        console.print(
            f"[bold]study[/] {spec.study_name}  [bold]storage[/] {mask_url(spec.storage_url)}  "
            f"[bold]jobs[/] {spec.jobs}  [bold]seeds[/] "
            + (f"{list(spec.seeds)}" if spec.race_min is None else f"{spec.race_min}..{len(spec.seeds)} (raced)")
        )
        for note in notes:
            console.print(f"[yellow]warning:[/] {escape(note)}")

    runs = (spec.trials * len(spec.seeds), 1) if spec.races_grid else (spec.trials, len(spec.seeds))
    progress = SweepProgress(*runs, mean_run_steps(spec), progress_every)

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


def _request_parameters() -> list[inspect.Parameter]:
    """One Typer option per SweepRequest field (sweeps/spec.py), with its flag, help and smallest value: the
    command line's options are the declaration's, never a copy of it."""
    from rnnppo.sweeps.request import REQUEST_TYPES, SweepRequest

    parameters = []
    for name, declared in SweepRequest.__dataclass_fields__.items():
        hint, meta = REQUEST_TYPES[name], declared.metadata
        cli_type: Any = {tuple[str, ...]: list[str], Path | None: Path}.get(hint, hint)
        if typing.get_origin(cli_type) in (types.UnionType, typing.Union):  # `int | None` -> int (default None)
            cli_type = next(arg for arg in typing.get_args(cli_type) if arg is not type(None))
        default = None if declared.default in ((), None) else declared.default
        option = typer.Option(default, SweepRequest.flag(name), help=meta["help"], min=meta["min"])
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=cli_type))
    return parameters


_own = inspect.signature(sweep)
sweep.__signature__ = _own.replace(  # type: ignore[attr-defined]
    parameters=[p for p in _own.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD] + _request_parameters()
)


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
    if spec.race_min is not None:
        _print_race_plan(spec, plan)
    console.print("nothing was stored (dry run)")


def _print_race_plan(spec, plan) -> None:
    """A race's cost is a range: every configuration on MIN seeds at the least, on MAX at the most."""
    from rnnppo.sweeps.racing import design_of

    design = design_of(spec)
    low, high = design.min_seeds, design.max_seeds
    per_run = plan.env_steps // max(plan.runs, 1)
    what = "trials (each races the finished leader after each seed)" if spec.races_samples else "configurations"
    console.print(
        f"raced: {plan.trials} {what} × {low} to {high} seeds = {plan.trials * low} to {plan.runs} runs, "
        f"{plan.trials * low * per_run:,} to {plan.env_steps:,} env steps (the counts above are the most)"
    )
    bars = ", ".join(f"{n}: {design.smallest_stop(n):.2g}" for n in design.looks)
    console.print(
        f"a configuration stops as worse after n seeds only when its mean difference to the leader is at least "
        f"this many times the differences' spread (α = {design.alpha:g} over {design.pairs} pairs and "
        f"{len(design.looks)} looks): {bars}"
        + ("" if spec.min_effect is None else f"; within ±{spec.min_effect:g} of the leader it stops as equivalent")
    )
    exact = [n for n in design.looks if 2.0 ** (1 - n) <= design.level(n)]
    console.print(
        "a difference with no spread (the same on every seed) stops "
        + (f"after {exact[0]} seeds at the earliest" if exact else "at no look (MAX is too few for it)")
    )


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


def _race_table(spec, trials: list[FrozenTrial]) -> Table:
    """A race's live table: one row per configuration, its seeds so far, open or why it stopped."""
    from rnnppo.storage.race import names_of, report_rows
    from rnnppo.sweeps.racing import plan_of, point_key, race_state

    state = race_state(trials, plan_of(spec))
    keys = names_of(state, spec.space.swept_names)
    running: dict[str, list[str]] = {}
    for trial in trials:
        seed, steps, _ = live_text(trial)
        if seed:
            running.setdefault(keys.get(point_key(trial.params), ""), []).append(f"seed {seed} {steps}")
    runs = sum(state.seeds.values())
    table = Table(
        title=f"{spec.study_name}: race over {len(keys)} configurations, {runs} seed runs done "
        f"(at most {len(keys) * len(spec.seeds)})",
        title_justify="left",
    )
    table.add_column("configuration", overflow="fold")
    table.add_column("seeds", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("running now / why", overflow="fold")
    for name, seeds, status, why in report_rows(state, keys):
        now = "\n".join(running.get(name, []))
        table.add_row(escape(name), f"{seeds}/{len(spec.seeds)}", status, escape(now or why))
    return table


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
            f"{seeds_done}/{len(spec.seeds)}" + _race_stop(trial),
            _live_cell(trial),
            _score(trial),
        )
    return table


def _race_stop(trial: FrozenTrial) -> str:
    """A raced sampler's trial stopped by its race: ' worse' or ' equivalent' after its seeds (race_trial.py)."""
    from rnnppo.storage.contract import RACE_LOOK

    look = trial.user_attrs.get(RACE_LOOK) or {}
    return f" {look['status']}" if look.get("stopped") else ""


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
    table = _race_table(spec, trials) if spec.races_grid else _progress_table(spec, trials)
    return Group(bar, table)


def _print_finished(trials: list[FrozenTrial], state: dict) -> None:
    """Non-interactive progress: one plain line per trial as it finishes."""
    seen = state.setdefault("seen", set())
    for trial in trials:
        if trial.state.is_finished() and trial.number not in seen:
            seen.add(trial.number)
            params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
            if trial.user_attrs.get("rnnppo_race_seed") is not None:
                params += f", seed {trial.user_attrs['rnnppo_race_seed']}"
            extra = f" ({trial.user_attrs['error']})" if trial.user_attrs.get("error") else ""
            if _race_stop(trial):
                extra += f" (race: shown{_race_stop(trial)} after {trial.user_attrs.get('seeds_done')} seeds)"
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

    print_study_report(spec.storage_url, spec.study_name, Path(spec.results_dir), console)  # a race's lines too
    if outcome.interrupted:
        raise typer.Exit(128 + outcome.stop_signal)  # the shell's code (130 for Ctrl-C): a stop is no finish
    if outcome.worker_errors:
        raise typer.Exit(1)
