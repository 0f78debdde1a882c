"""`rnnppo nightly`: tonight's sweep from a TOML file, its report, the history of nights, regressions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from optuna.trial import TrialState
from rich.markup import escape

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
    from rnnppo.core import run_files
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
    run_files.atomic_write_bytes(folder / "report.md", render(report, "markdown").encode())
    images = plots.write_all(report, Path(tempfile.mkdtemp(prefix="rnnppo-nightly-")))
    run_files.atomic_write_bytes(folder / "report.html", render(report, "html", images).encode())
    console.print(f"report: {folder / 'report.md'} and {folder / 'report.html'}")

    history = night_history.load_nights(storage, spec_file.study_prefix, upto=tonight)
    _print_history(night_history.history_table(history, spec_file.reference))
    console.print(f"tonight's code: commit {night_history.commit_of(history[-1])}" if history else "")
    # A night that could not be checked is no good night: nothing finished, a worker died, or the
    # reference configuration did not finish.
    unchecked = night_history.unchecked(history, spec_file, outcome.worker_errors)
    for message in unchecked:
        err_console.print(f"[bold red]night not checked:[/] {escape(message)}")
    previous, changes = night_history.comparable(history, spec_file)
    for message in changes:
        console.print(f"[yellow]settings changed:[/] {escape(message)}")
    too_few = None if unchecked else night_history.too_few_seeds(history, spec_file)
    if too_few:
        err_console.print(f"[bold red]night {escape(too_few)}[/]")
    problems = night_history.regressions(history, spec_file)
    for message in problems:
        err_console.print(f"[bold red]regression:[/] {escape(message)}")
    if not (problems or unchecked or too_few):
        if previous:
            console.print(
                f"no regression against the {len(previous)} previous comparable night(s) "
                "(exact sign-flip test per seed, Holm-corrected; CPU time per env step against nights of other code)"
            )
        else:
            console.print("not checked: no previous comparable night to compare with")
    if unchecked:
        raise typer.Exit(1)
    if (problems or too_few) and fail_on_regression:
        raise typer.Exit(1)


def _print_history(frame) -> None:
    """The nights, oldest first, in a table that fits the terminal (results.render breaks it between words)."""
    from rnnppo.results.render import Section, print_sections

    rows = []
    for _, row in frame.iterrows():
        rows.append(
            [
                row["night"],
                row["commit"],
                row["trials"],
                str(row["best"]).replace(", ", "\n"),
                str(row["reference"]).replace(", ", "\n"),
                str(row["seeds"]),
                "–" if row["iqm"] != row["iqm"] else f"{row['iqm']:.3g}",
                row["ci"],
                "–" if row["change"] != row["change"] else f"{row['change']:+.3g}",
                "–" if row["cpu_us_per_step"] != row["cpu_us_per_step"] else f"{row['cpu_us_per_step']:,.0f}",
                row["changed"] or "–",
            ]
        )
    header = ["night", "commit", "trials", "best", "reference", "seeds", "IQM", "95% CI", "change", "CPU µs/step"]
    header.append("changed since the night before")
    print_sections(console, [Section("nights", header, rows, left=5)])
