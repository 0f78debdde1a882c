"""`rnnppo nightly`: tonight's sweep from a TOML file, its report, the history of nights, regressions."""

from __future__ import annotations

from pathlib import Path

import typer
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
    from rnnppo.nightly import config as night_config
    from rnnppo.nightly.run import night_spec, run_night
    from rnnppo.storage.backend import StorageError

    with user_errors():
        if print_schedule:
            night_config.load_spec(config)
            console.out(night_config.schedule_text(config), end="", highlight=False)
            return
        spec_file, _, _ = night_spec(config, date)  # every input checked before anything is written
    check_writable(Path(spec_file.results))

    def announce(night: str, study: str) -> None:
        console.print(f"[bold]night[/] {night}  [bold]study[/] {study}")

    try:
        outcome = run_night(config, date, fail_on_regression, on_start=announce)
    except (StorageError, ValueError) as err:
        fail(str(err))
    _print_outcome(outcome)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def _print_outcome(outcome) -> None:
    """The night in lines: the sweep, the report's files (and a raced night's race), the history, then the
    decision."""
    from rnnppo.results.render import print_race

    state = "interrupted" if outcome.interrupted else "finished"
    console.print(f"sweep {state}: {outcome.complete} trials complete, {len(outcome.failures)} failed")
    for number, error in outcome.failures[:10]:
        err_console.print(f"  [red]trial {number} failed:[/] {escape(error)}")
    for error in outcome.worker_errors:
        err_console.print(f"  [red]{escape(error)}[/]")
    if outcome.interrupted:
        console.print("run the same command again to continue tonight's sweep; no regression check on a partial night")
        return
    console.print(f"report: {outcome.report_paths[0]} and {outcome.report_paths[1]}")
    print_race(outcome.race, console, note=False)  # the night prints no comparison table
    _print_history(outcome.history)
    console.print(f"tonight's code: commit {outcome.commit}" if outcome.commit else "")
    for message in outcome.unchecked:
        err_console.print(f"[bold red]night not checked:[/] {escape(message)}")
    for message in outcome.settings_changed:
        console.print(f"[yellow]settings changed:[/] {escape(message)}")
    for message in outcome.not_compared:
        console.print(f"[yellow]not compared:[/] {escape(message)}")
    if outcome.too_few_seeds:
        err_console.print(f"[bold red]night {escape(outcome.too_few_seeds)}[/]")
    for message in outcome.regressions:
        err_console.print(f"[bold red]regression:[/] {escape(message)}")
    if not (outcome.regressed or outcome.unchecked):
        if outcome.previous_nights:
            console.print(
                f"no regression against the {outcome.previous_nights} previous comparable night(s) "
                "(exact sign-flip test per seed, Holm-corrected; CPU time per env step against nights of other code)"
            )
        else:
            console.print("not checked: no previous comparable night to compare with")


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
                _seeds_cell(row),
                "–" if row["iqm"] != row["iqm"] else f"{row['iqm']:.3g}",
                row["ci"],
                "–" if row["change"] != row["change"] else f"{row['change']:+.3g}",
                "–" if row["cpu_us_per_step"] != row["cpu_us_per_step"] else f"{row['cpu_us_per_step']:,.0f}",
                row["changed"] or "–",
            ]
        )
    header = [
        "night",
        "commit",
        "trials",
        "highest IQM",
        "reference",
        "seeds",
        "IQM",
        "95% CI",
        "change",
        "CPU µs/step",
    ]
    header.append("changed since the night before")
    print_sections(console, [Section("nights", header, rows, left=5)])


def _seeds_cell(row) -> str:
    """The reference's seeds that night, and how many of them the score check uses when fewer (a race's MIN)."""
    checked = row.get("checked_seeds", row["seeds"])
    return str(row["seeds"]) + ("" if checked == row["seeds"] else f"\n({checked} checked)")
