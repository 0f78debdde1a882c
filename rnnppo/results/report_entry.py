"""The comparison printed at the end of `rnnppo sweep`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console


def print_study_report(storage_url: str, study_name: str, results_dir: Path, console: Console | None = None) -> None:
    from rnnppo.results.render import print_tables
    from rnnppo.results.report import build_report
    from rnnppo.results.store import load_study, open_readonly

    console = console or Console()
    report = build_report(load_study(open_readonly(storage_url), study_name, results_dir))
    print_tables(report, console)
