"""Writing a report out: rich tables for the terminal, markdown, CSV/JSON (every run), self-contained HTML."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from rnnppo.results.report import Report

FORMATS = ("table", "markdown", "csv", "json", "html")


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _interval(row: pd.Series) -> str:
    if not row["ci_meaningful"]:
        return "n/a (<3 seeds)"
    return f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}]"


def comparison_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = [
        "rank",
        "configuration",
        "seeds",
        "IQM final return",
        "95% CI",
        "mean ± std",
        "AUC",
        "env steps/s",
        "wall s",
        "vs best",
    ]
    rows = []
    for _, row in report.comparison.iterrows():
        tie = row["overlaps_best"]
        mark = "best" if row["rank"] == 1 else ("≈ best" if tie is True else ("worse" if tie is False else "?"))
        rows.append(
            [
                str(row["rank"]),
                row["config"],
                str(row["seeds"]),
                _num(row["iqm"]),
                _interval(row),
                f"{_num(row['mean'])} ± {_num(row['std'])}",
                _num(row["auc"]),
                _num(row["steps_per_s"]),
                _num(row["wall_s"]),
                mark,
            ]
        )
    return header, rows


def sections(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table of the report, in reading order."""
    out = [("comparison (best first; '≈ best': interval overlaps the best one's)", *comparison_rows(report))]
    for name, table in report.marginals.items():
        rows = [
            [
                _num(r[name]) if not isinstance(r[name], str) else r[name],
                str(r["n"]),
                _num(r["iqm"]),
                _interval(r),
                f"{_num(r['mean'])} ± {_num(r['std'])}",
            ]
            for _, r in table.iterrows()
        ]
        out.append(
            (f"{name} (averaged over everything else, per seed)", [name, "seeds", "IQM", "95% CI", "mean ± std"], rows)
        )
    if report.importance:
        out.append(
            (
                "parameter importance (Optuna)",
                ["parameter", "importance"],
                [[k, f"{v:.2f}"] for k, v in report.importance.items()],
            )
        )
    saw = report.lstm_saw
    out.append(
        (
            "what the LSTM saw (per configuration, mean over runs)",
            ["configuration", "mean seq len", "max seq len", "padding", "cut by episode end", "cut by max_seq_len"],
            [
                [
                    r["config"],
                    _num(r["seq_len_mean"]),
                    _num(r["seq_len_max"]),
                    _pct(r["pad_frac"]),
                    _pct(r["cut_by_episode_end"]),
                    _pct(r["cut_by_max_seq_len"]),
                ]
                for _, r in saw.iterrows()
            ],
        )
    )
    if report.controls is not None:
        out.append(
            (
                "gain over the memory-off control (paired by seed)",
                ["configuration", "control", "gain (IQM)", "95% CI"],
                [[r["config"], r["control"], _num(r["gain"]), _interval(r)] for _, r in report.controls.iterrows()],
            )
        )
    return out


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def header_line(report: Report) -> str:
    spec, counts = report.data.spec, report.data.counts
    pending = ", ".join(f"{v} {k}" for k, v in counts.items() if k != "complete" and v)
    return (
        f"study {report.data.name}: env {spec.get('env', '?')}, {spec.get('total_steps', '?')} env steps per run, "
        f"objective {spec.get('objective', 'final')}; {counts['complete']} trials complete"
        + (f" ({pending} not counted)" if pending else "")
    )


def print_tables(report: Report, console: Console) -> None:
    console.print(f"[bold]{header_line(report)}[/]")
    for title, header, rows in sections(report):
        table = Table(title=title, title_justify="left")
        for column in header:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(f"[bold green]verdict:[/] {report.verdict}")


def to_markdown(report: Report) -> str:
    lines = [f"# {header_line(report)}", ""]
    for title, header, rows in sections(report):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    lines.append(f"**verdict:** {report.verdict}")
    return "\n".join(lines) + "\n"


def runs_frame(report: Report) -> pd.DataFrame:
    """Every run: one row per configuration and seed (the CSV/JSON export)."""
    runs = report.data.runs.drop(columns=["rnn_type_"])
    return runs.assign(study=report.data.name)


def to_json(report: Report) -> str:
    summary = report.comparison.drop(columns=[c for c in report.comparison.columns if c.startswith("_")])
    payload = {
        "study": report.data.name,
        "spec": report.data.spec,
        "counts": report.data.counts,
        "verdict": report.verdict,
        "comparison": json.loads(summary.to_json(orient="records")),
        "runs": json.loads(runs_frame(report).to_json(orient="records")),
        "importance": report.importance,
    }
    return json.dumps(payload, indent=2)


def to_html(report: Report, images: list[Path]) -> str:
    parts = [f"<h1>{html.escape(header_line(report))}</h1>", f"<p><b>verdict:</b> {html.escape(report.verdict)}</p>"]
    for title, header, rows in sections(report):
        parts.append(
            f"<h2>{html.escape(title)}</h2><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
        )
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    for image in images:
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(image.stem.replace('_', ' '))}</h2>"
            f'<img alt="{html.escape(image.stem)}" src="data:image/png;base64,{data}">'
        )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>rnnppo report {html.escape(report.data.name)}'
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def render(report: Report, fmt: str, images: list[Path] | None = None) -> str:
    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "csv":
        return runs_frame(report).to_csv(index=False)
    if fmt == "json":
        return to_json(report)
    if fmt == "html":
        return to_html(report, images or [])
    raise ValueError(f"unknown format {fmt!r}")
