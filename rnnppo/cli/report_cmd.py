"""`rnnppo report` and `rnnppo best`: read a study back and print, export or plot it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from rnnppo.cli.common import console, err_console, fail, user_errors


def _open(results: Path, storage: str | None):
    from rnnppo.results.store import open_readonly, storage_for_results

    return open_readonly(storage or storage_for_results(results))


def _warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


def report(
    results: Path = typer.Argument(Path("results"), help="results folder of a sweep"),
    study: str = typer.Option(None, "--study", help="study to report (default: the only or latest one)"),
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL (default: RESULTS/rnnppo.db)"),
    fmt: str = typer.Option("table", "--format", help="table, markdown, csv, json or html"),
    out: Path = typer.Option(None, "--out", help="write the report to this file instead of the terminal"),
    plots: Path = typer.Option(None, "--plots", help="folder for PNG figures"),
    compare: list[str] = typer.Option(None, "--compare", help="studies to put side by side (repeat, 2 or more)"),
) -> None:
    """Compare the configurations of a study: IQM with 95% bootstrap intervals, marginals, importance."""
    from rnnppo.results import plots as plotting
    from rnnppo.results.render import FORMATS, print_tables, render
    from rnnppo.results.report import build_report, compare_studies
    from rnnppo.results.store import ReportError, list_studies, load_study, pick_study

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}")
    if compare is not None and len(compare) == 1:
        fail("--compare needs two or more studies: --compare A --compare B")
    with user_errors():
        try:
            store = _open(results, storage)
            results_dir = None if storage else results
            if compare:
                datas = [load_study(store, pick_study(store, name), results_dir, _warn) for name in compare]
                _print_frame(compare_studies(datas), f"the same configurations in {', '.join(compare)}")
                return
            listing = list_studies(store)
            name = pick_study(store, study)
            report_data = build_report(load_study(store, name, results_dir, _warn))
        except ReportError as err:
            fail(str(err))
    if out is not None and out.exists() and out.is_dir():
        fail(f"--out {out} is a folder; give a file name such as report.{fmt if fmt != 'table' else 'md'}")
    if len(listing) > 1 and fmt == "table" and out is None:
        _print_frame(listing, "studies in this storage")
    images: list[Path] = []
    if plots is not None:
        images = plotting.write_all(report_data, plots)
        console.print(f"wrote {len(images)} figures to {plots}")
    elif fmt == "html":
        images = plotting.write_all(report_data, Path(tempfile.mkdtemp(prefix="rnnppo-plots-")))
    if fmt == "table":
        if out is None:
            print_tables(report_data, console)
            return
        fmt = "markdown"
    text = render(report_data, fmt, images)
    if out is None:
        console.out(text, end="", highlight=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        console.print(f"wrote {out}")


def best(
    results: Path = typer.Argument(Path("results"), help="results folder of a sweep"),
    study: str = typer.Option(None, "--study", help="study (default: the only or latest one)"),
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL (default: RESULTS/rnnppo.db)"),
    export: Path = typer.Option(None, "--export", help="write the best configuration as TOML (for train --config)"),
) -> None:
    """The best configuration of a study, as the exact resolved settings `rnnppo train --config` accepts."""
    from rnnppo.core.config import TrainConfig, to_toml
    from rnnppo.results.report import comparison_table
    from rnnppo.results.store import ReportError, load_study, pick_study

    with user_errors():
        try:
            store = _open(results, storage)
            data = load_study(store, pick_study(store, study))
        except ReportError as err:
            fail(str(err))
    table = comparison_table(data)
    if table.empty:
        fail(f"study {data.name} has no finished trial yet")
    key = table.iloc[0]["config"]
    config = TrainConfig.from_dict({k: v for k, v in data.configs[key].items() if k != "seed"})
    text = to_toml(config)
    if export is None:
        console.out(text, end="", highlight=False)
        return
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text(text)
    console.print(f"best of {data.name}: {key} (IQM {table.iloc[0]['iqm']:.3g}) → {export}")


def _print_frame(frame, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for _, row in frame.iterrows():
        table.add_row(*[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
