"""The comparison table and verdict printed at the end of `rnnppo sweep`."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console
from rich.markup import escape

MAX_WARNINGS = 5


def print_warnings(warnings: list[str], console: Console) -> None:
    """The first MAX_WARNINGS warnings, then how many more there were."""
    for message in warnings[:MAX_WARNINGS]:
        console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
    if len(warnings) > MAX_WARNINGS:
        console.print(f"[yellow]warning:[/] {len(warnings) - MAX_WARNINGS} more like these", soft_wrap=True)


def print_study_report(
    storage_url: str, study_name: str, results_dir: Path | None, console: Console | None = None
) -> None:
    """Print the study's comparison (best first) and the verdict. A report that cannot be built is a
    warning, never a failure: the sweep's results are already stored."""
    from rnnppo.results.render import print_race, print_report
    from rnnppo.results.report import build_report
    from rnnppo.results.studies import load_study, open_readonly

    if console is None:
        from rnnppo.cli.common import piped_width

        console = Console(highlight=False, width=piped_width())
    from rnnppo.results.suite_render import print_suite_report
    from rnnppo.results.suite_report import build_suite_report, is_multi_task
    from rnnppo.storage.race import study_race

    try:
        data = load_study(open_readonly(storage_url), study_name, results_dir)
        if is_multi_task(data):  # --suite / repeated --env: per-task tables and the cross-task aggregate
            print_warnings(data.warnings, console)
            print_suite_report(build_suite_report(data), console)
            print_race(study_race(data.trials, data.spec), console)
            console.print(f"full report: {escape(report_command(storage_url, study_name, results_dir))}")
            return
        report = build_report(data)
    except Exception as err:  # noqa: BLE001 - the sweep is done; say why there is no table and move on
        reason = escape(f"{type(err).__name__}: {err}")
        command = escape(report_command(storage_url, study_name, results_dir))
        console.print(f"[yellow]warning:[/] no report for study {escape(study_name)}: {reason}; try {command}")
        return
    print_warnings(report.warnings, console)
    print_report(report, console, full=False)
    command = report_command(storage_url, study_name, results_dir)
    console.print(f"full report (marginals, importance, plots): {escape(command)}")


def report_command(storage_url: str, study_name: str, results_dir: Path | None) -> str:
    """The `rnnppo report` line that shows this study in full (the password masked)."""
    from rnnppo.storage.backend import default_storage_url, mask_url

    words = ["rnnppo", "report"]
    if results_dir is not None:
        words.append(str(results_dir))
    if results_dir is None or storage_url != default_storage_url(results_dir):
        words += ["--storage", mask_url(storage_url)]
    words += ["--study", study_name]
    return shlex.join(words)  # a path with a space or a `$` stays one word when pasted into a shell
