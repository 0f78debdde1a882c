"""`rnnppo nightly`: tonight's sweep from a TOML file, its report, the history of nights, regressions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from optuna.trial import TrialState
from rich.markup import escape
from rich.table import Table

from rnnppo.cli.common import check_writable, console, err_console, fail, user_errors


def nightly(
    config: Path = typer.Argument(..., help="nightly TOML file (see examples/nightly.toml)"),
    fail_on_regression: bool = typer.Option(False, "--fail-on-regression", help="exit 1 when tonight regressed"),
    print_schedule: bool = typer.Option(False, "--print-schedule", help="print a crontab line and systemd units"),
    date: str = typer.Option(None, "--date", help="run or continue this night (YYYY-MM-DD; default today)"),
) -> None:
    """Run tonight's sweep (or join/continue it), write its report, print the history and flag regressions.

    Exit 1: a regression (with --fail-on-regression), or a night not checked (nothing or no reference finished).

    Exit 2: bad input. Exit 128 + N: stopped by signal N (run it again to continue the night)."""
    from rnnppo.core import runio
    from rnnppo.core.config import format_value
    from rnnppo.nightly import config as night_config
    from rnnppo.nightly import history as night_history
    from rnnppo.results import plots
    from rnnppo.results.render import render
    from rnnppo.results.report import build_report
    from rnnppo.results.studies import load_study, open_readonly
    from rnnppo.storage.backend import StorageError
    from rnnppo.sweeps import runner
    from rnnppo.sweeps.spec import SweepRequest, build_spec

    with user_errors():
        spec_file = night_config.load_spec(config)
        if print_schedule:
            console.out(night_config.schedule_text(config), end="", highlight=False)
            return
        tonight = night_config.night_date(date)
        name = night_config.night_name(spec_file.study_prefix, tonight)
        results = Path(spec_file.results)
        words = [*spec_file.space, *(f"{k}={format_value(v)}" for k, v in spec_file.settings.items())]
        spec = build_spec(
            words,
            SweepRequest(
                env=spec_file.env,
                steps=spec_file.steps,
                trials=spec_file.trials,
                seeds=spec_file.seeds,
                jobs=spec_file.jobs,
                study=name,
                storage=spec_file.storage,
                out=results,
                sampler=spec_file.sampler,
                pruner=spec_file.pruner,
                timeout=spec_file.time_budget_s,
            ),
        )
        night_config.check_reference(spec_file, spec.space, config)
    check_writable(results)
    console.print(f"[bold]night[/] {tonight}  [bold]study[/] {name}")
    try:
        outcome = runner.run(spec)
    except (StorageError, ValueError) as err:
        fail(str(err))
    complete, failed = outcome.count(TrialState.COMPLETE), outcome.failures
    console.print(
        f"sweep {'interrupted' if outcome.interrupted else 'finished'}: {complete} trials complete, "
        f"{len(failed)} failed"
    )
    for number, error in failed[:10]:
        err_console.print(f"  [red]trial {number} failed:[/] {escape(error)}")
    for error in outcome.worker_errors:
        err_console.print(f"  [red]{escape(error)}[/]")
    if outcome.interrupted:
        console.print("run the same command again to continue tonight's sweep; no regression check on a partial night")
        raise typer.Exit(128 + outcome.stop_signal)

    storage = open_readonly(spec.storage_url)
    report = build_report(load_study(storage, name, results))
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    runio.atomic_write_bytes(folder / "report.md", render(report, "markdown").encode())
    images = plots.write_all(report, Path(tempfile.mkdtemp(prefix="rnnppo-nightly-")))
    runio.atomic_write_bytes(folder / "report.html", render(report, "html", images).encode())
    console.print(f"report: {folder / 'report.md'} and {folder / 'report.html'}")

    history = night_history.load_nights(storage, spec_file.study_prefix, upto=tonight)
    _print_history(night_history.history_table(history, spec_file.reference))
    # A night that could not be checked is no good night: nothing finished, a worker died, or the
    # reference configuration did not finish.
    unchecked = night_history.unchecked(history, spec_file, outcome.worker_errors)
    for message in unchecked:
        err_console.print(f"[bold red]night not checked:[/] {escape(message)}")
    problems = night_history.regressions(history, spec_file)
    for message in problems:
        err_console.print(f"[bold red]regression:[/] {escape(message)}")
    if not problems and not unchecked:
        console.print("no regression against the previous nights")
    if unchecked:
        raise typer.Exit(1)
    if problems and fail_on_regression:
        raise typer.Exit(1)


def _print_history(frame) -> None:
    table = Table(title="nights", title_justify="left")
    for column in ("night", "trials", "best", "reference", "IQM", "95% CI", "change", "env steps/s", "commit", "torch"):
        table.add_column(column)
    for _, row in frame.iterrows():
        change = "–" if row["change"] != row["change"] else f"{row['change']:+.3g}"
        table.add_row(
            row["night"],
            row["trials"],
            row["best"],
            row["reference"],
            f"{row['iqm']:.3g}",
            row["ci"],
            change,
            f"{row['steps_per_s']:,.0f}",
            row["commit"],
            str(row["torch"]),
        )
    console.print(table)
