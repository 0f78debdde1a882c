"""`rnnppo report` and `rnnppo best`: read a study back, then print, export or plot it."""

from __future__ import annotations

import contextlib
import math
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.markup import escape

from rnnppo.cli.common import console, err_console, fail, user_errors

RESULTS_HELP = "results folder of a sweep (default: results); with --storage it only adds run-file detail"
STORAGE_HELP = (
    "Optuna storage URL, e.g. postgresql://user:pw@host/db (default: $RNNPPO_STORAGE, else RESULTS/rnnppo.db)"
)


def _open(results: Path | None, storage: str | None):
    """The storage to read and the folder whose run files add detail (None: the storage alone)."""
    from rnnppo.results.studies import ReportError, open_readonly, storage_for_results
    from rnnppo.storage.backend import StorageError, storage_from_env

    try:
        storage = storage_from_env(storage)
        if storage is not None:
            return open_readonly(storage), results
        folder = results if results is not None else Path("results")
        return open_readonly(storage_for_results(folder)), folder
    except (ReportError, StorageError) as err:
        fail(str(err))


@contextlib.contextmanager
def _readable() -> Iterator[None]:
    """A storage that fails while being read (a damaged file: "database disk image is malformed") is one
    line and exit 2, not SQLAlchemy's traceback; the same words `sweep` gives."""
    from rnnppo.storage.backend import storage_read_error

    try:
        yield
    except Exception as err:
        problem = storage_read_error(err)
        if problem is None:
            raise
        fail(f"the storage cannot be read: {problem}; it is damaged or not an rnnppo storage (restore a backup)")


def _studies(compare: list[str] | None) -> list[str]:
    """--compare A --compare B, or --compare A,B."""
    names = [name.strip() for word in compare or [] for name in word.split(",") if name.strip()]
    return list(dict.fromkeys(names))


def _emit(text: str, out: Path | None, option: str = "--out") -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    from rnnppo.core.runs import files as run_files

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        run_files.atomic_write_bytes(out, text.encode("utf-8"))
    except OSError as err:
        fail(f"cannot write {option} {out}: {err.strerror or err}")
    err_console.print(f"wrote {out}")


def report(
    results: Path = typer.Argument(None, help=RESULTS_HELP, show_default=False, metavar="RESULTS_DIR"),
    study: str = typer.Option(None, "--study", help="study to report (default: the only or the latest one)"),
    storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
    fmt: str = typer.Option("table", "--format", help="table, markdown, csv, json or html"),
    out: Path = typer.Option(None, "--out", help="write the report to this file instead of the terminal"),
    plots: Path = typer.Option(None, "--plots", help="folder for PNG figures (curves, heatmap, importance, cost)"),
    compare: list[str] = typer.Option(
        None,
        "--compare",
        help="put the same configurations of 2+ studies side by side: --compare A --compare B",
    ),
    allow_mismatch: bool = typer.Option(
        False, "--allow-mismatch", help="--compare studies of different envs or env steps per run (labelled)"
    ),
    min_effect: float = typer.Option(
        None, "--min-effect", help="smallest score difference worth detecting (score units; default: the sweep's)"
    ),
) -> None:
    """Compare a study's configurations: IQM with 95% bootstrap intervals, marginals, importance, verdict."""
    from rnnppo.cli.study_report import print_warnings
    from rnnppo.results import plots as figures
    from rnnppo.results.render import FORMATS, frame_section, print_report, print_sections, render
    from rnnppo.results.report import build_report
    from rnnppo.results.studies import ReportError, list_studies, load_study, pick_study
    from rnnppo.results.suite_report import is_multi_task

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}")
    if min_effect is not None and not (math.isfinite(min_effect) and min_effect > 0):
        fail(f"--min-effect {min_effect} must be a positive number in score units, e.g. --min-effect 0.1")
    names = _studies(compare)
    if compare is not None and len(names) < 2:
        fail("--compare needs two or more studies: --compare A --compare B (or --compare A,B)")
    if out is not None and out.is_dir():
        fail(f"--out {out} is a folder; give a file name such as {out / ('report.' + fmt)}")
    if plots is not None and plots.exists() and not plots.is_dir():
        fail(f"--plots {plots} is a file; give a folder for the PNG figures")
    with user_errors(), _readable():
        store, results_dir = _open(results, storage)
        try:
            if names:
                datas = [load_study(store, pick_study(store, name), results_dir) for name in names]
            else:
                listing = list_studies(store)
                data = load_study(store, pick_study(store, study), results_dir)
                if is_multi_task(data):  # --suite / repeated --env: per-task reports and the aggregate
                    _suite(data, fmt, out, plots)
                    return
                built = build_report(data, min_effect)
        except ReportError as err:
            fail(str(err))

    if names:
        _compare(datas, fmt, out, allow_mismatch)
        return
    print_warnings(built.warnings, err_console)
    images: list[Path] = []
    if plots is not None:
        images = _write_plots(figures.write_all, built, plots)
    if fmt == "table" and out is None:
        listing = listing.assign(last_update=listing["last_update"].map(_stamp))
        print_sections(console, [frame_section(listing, "studies in this storage")])
        print_report(built, console)
        return
    if fmt == "html" and not images:
        with tempfile.TemporaryDirectory(prefix="rnnppo-plots-") as folder:
            _emit(render(built, fmt, figures.write_all(built, Path(folder))), out)
        return
    _emit(render(built, fmt, images), out)


def _write_plots(write_all, built, plots: Path) -> list[Path]:
    """--plots DIR: every figure of a study's or a suite's report as PNG; one line if the folder cannot take them."""
    try:
        images = write_all(built, plots)
    except OSError as err:
        fail(f"cannot write figures to --plots {plots}: {err.strerror or err}")
    err_console.print(f"wrote {len(images)} figures to {plots}")
    return images


def _suite(data, fmt: str, out: Path | None, plots: Path | None) -> None:
    """A study over several tasks: each task's comparison, then the cross-task aggregate."""
    from rnnppo.cli.study_report import print_warnings
    from rnnppo.results import suite_plots
    from rnnppo.results.render import print_race
    from rnnppo.results.suite_render import print_suite_report, render
    from rnnppo.results.suite_report import build_suite_report
    from rnnppo.storage.race import study_race

    built = build_suite_report(data)
    print_warnings(data.warnings, err_console)
    if plots is not None:
        _write_plots(suite_plots.write_all, built, plots)
    if fmt == "table" and out is None:
        print_suite_report(built, console)
        print_race(study_race(data.trials, data.spec), console)
        return
    _emit(render(built, fmt), out)


def _compare(datas, fmt: str, out: Path | None, allow_mismatch: bool = False) -> None:
    """The configurations the studies share, side by side, in the chosen format."""
    from rnnppo.cli.study_report import print_warnings
    from rnnppo.results.render import compare_sections, print_sections, render_frame
    from rnnppo.results.report import compare_studies, study_mismatches

    mismatches = study_mismatches(datas)
    if mismatches and not allow_mismatch:
        fail(
            f"--compare: the studies are not comparable ({'; '.join(mismatches)}); "
            "compare studies of one env and budget, or pass --allow-mismatch to see them labelled"
        )
    for data in datas:
        print_warnings(data.warnings, err_console)
    names = [data.name for data in datas]
    title = f"the same configurations in {', '.join(names)} (change against {names[0]}, paired by seed)"
    frame = compare_studies(datas)
    if mismatches:
        title = "MISMATCHED STUDIES: " + title
        frame.insert(1, "mismatch", "; ".join(mismatches))
    note = (
        "change: mean over shared seeds of (later - first); p: exact sign-flip test over those seeds, Holm-corrected "
        "over the configurations"
        if not frame.empty
        else "the studies share no configuration"
    )
    if mismatches:
        note = f"not like for like: {'; '.join(mismatches)}; " + note
    if fmt == "table" and out is None:
        console.print(f"[bold]{escape(title)}[/]")
        print_sections(console, compare_sections(frame, names, title, note))
    else:
        _emit(render_frame(frame, title, fmt, note), out)


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None and hasattr(value, "strftime") else "–"


def best(
    results: Path = typer.Argument(None, help=RESULTS_HELP, show_default=False, metavar="RESULTS_DIR"),
    study: str = typer.Option(None, "--study", help="study (default: the only or the latest one)"),
    storage: str = typer.Option(None, "--storage", help=STORAGE_HELP),
    export: Path = typer.Option(None, "--export", help="write the configuration as TOML for `rnnppo train --config`"),
) -> None:
    """The best configuration of a study as the exact settings it trained with (TOML)."""
    from rnnppo.core.config import to_toml
    from rnnppo.results.render import interval
    from rnnppo.results.report import comparison_table, resolved_config, verdict
    from rnnppo.results.studies import ReportError, load_study, pick_study

    if export is not None and export.is_dir():
        fail(f"--export {export} is a folder; give a file name such as {export / 'best.toml'}")
    with user_errors(), _readable():
        store, _ = _open(results, storage)
        try:
            data = load_study(store, pick_study(store, study))
        except ReportError as err:
            fail(str(err))
        if data.spec.get("tasks"):  # a configuration's settings differ per task (env, budget, task settings)
            fail(f"study {data.name} ran on several tasks; `rnnppo report` names the best on each and across them")
        table = comparison_table(data)
        if table.empty or table["iqm"].isna().all():
            counts = data.counts
            if counts["running"] + counts["waiting"]:
                fail(f"study {data.name} has no finished configuration yet; wait for a trial to complete")
            fail(
                f"study {data.name} has no finished configuration and nothing left to run "
                f"({counts['failed']} failed, {counts['pruned']} pruned); `rnnppo report` shows why they failed"
            )
        top = table.iloc[0]
        try:
            text = to_toml(resolved_config(data, str(top["config"])))
        except ReportError as err:
            fail(str(err))
    score = f"IQM {top['iqm']:.3g}, 95% CI {interval(top)}, {top['n']} seeds"
    # "best" only when a test separates it from every other configuration (results/verdict.py)
    label = "best" if top["vs_best"] == "best" else "highest IQM"
    summary = f"{label} of {data.name}: {top['config']} ({score})"
    err_console.print(summary, soft_wrap=True)
    err_console.print(f"verdict: {verdict(data, table)}", soft_wrap=True, markup=False)
    if export is None:
        typer.echo(text, nl=False)
        return
    _emit(text, export, "--export")
    err_console.print(f"train it with: rnnppo train --config {shlex.quote(str(export))}", markup=False)
