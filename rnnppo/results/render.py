"""Writing a report out: rich tables for the terminal, plain text, markdown, CSV and JSON (every run, for
pandas), and one self-contained HTML file with the figures embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rnnppo.core.config import format_value
from rnnppo.core.runs.files import json_safe
from rnnppo.results import paired, stats
from rnnppo.results import verdict as claims
from rnnppo.results.report import Report
from rnnppo.storage.race import RaceSummary

FORMATS = ("table", "markdown", "csv", "json", "html")
SCORE_NAMES = {"final_return": "final return", "auc": "AUC"}
NOT_MEANINGFUL = f"n/a (<{stats.MIN_SEEDS} seeds)"


@dataclass
class Section:
    """One table of the report, already as text cells, in reading order."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    left: int = 1
    """Leading columns that hold names (left-aligned); the rest are numbers."""


def num(value: Any, digits: int = 3) -> str:
    """A number for a table cell: 3 significant digits, thousands grouped, '–' for missing."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * value:.0f}%"


def interval(row: Any) -> str:
    """An IQM's interval, or why there is none ("no spread": every seed, or every kept middle one, scored the same)."""
    if not bool(row["ci_meaningful"]):
        return "no spread" if "no spread" in str(row.get("ci_reason", "")) else NOT_MEANINGFUL
    return f"[{num(row['ci_low'])}, {num(row['ci_high'])}]"


def stacked(config: str) -> str:
    """A configuration one setting per line, so a table stays narrow without splitting a setting."""
    return config.replace(", ", "\n")


def header_line(report: Report) -> str:
    spec, counts = report.data.spec, report.data.counts
    rest = ", ".join(f"{n} {state}" for state, n in counts.items() if state != "complete" and n)
    steps = spec.get("total_steps")
    return (
        f"study {report.data.name}: env {spec.get('env', '?')}, "
        f"{num(steps) if isinstance(steps, int) else '?'} env steps per run, "
        f"objective {spec.get('objective', 'final')}; {counts.get('complete', 0)} trials complete"
        + (f" ({rest}: not in the tables)" if rest else "")
    )


SHORT_STATUS = {
    claims.BEST: "best",
    claims.TOP: "highest IQM",
    claims.TIE: "tie (identical)",
    claims.WORSE: "worse",
    claims.BETTER: "better by mean",
    claims.EQUIVALENT: "not worse (±D)",
    claims.OPEN: "not shown worse",
    claims.UNTESTED: "not compared",
}


def min_effect_text(report: Report) -> str:
    """The smallest difference worth detecting, where it came from, and what a seed's score is."""
    effect = "not set" if report.min_effect is None else f"{report.min_effect:.3g} ({report.min_effect_source})"
    return f"{report.score_text}; D (--min-effect, smallest difference worth detecting) = {effect}"


def comparison_section(report: Report) -> Section:
    """Rank, score and interval, and the paired verdict against the best; narrow enough for 80 columns."""
    score = SCORE_NAMES.get(report.score, report.score)
    header = ["rank", "configuration", "seeds", f"IQM {score}", "95% CI", "vs highest"]
    rows = [
        [
            str(int(row["rank"])),
            stacked(str(row["config"])),
            str(int(row["n"])),
            num(row["iqm"]),
            interval(row),
            SHORT_STATUS.get(str(row["vs_best"]), str(row["vs_best"])),
        ]
        for _, row in report.comparison.iterrows()
    ]
    note = (
        "vs highest: exact sign-flip test on per-seed differences, Holm-corrected, α = 0.05; 'best' only when "
        "separable from every other; equal IQMs and identical scores share a rank; 'not worse (±D)': an "
        "equivalence test puts the difference within ±D; 'not shown worse': no test separates it either way. "
        "95% CI: Tukey-McLaughlin t interval of the IQM"
        + (", clipped to [0, 1]" if report.score_kind == "success rate" else "")
        + f". {min_effect_text(report)}"
    )
    if report.comparison.empty:
        note = "no configuration has finished yet"
    elif report.comparison["ci_reason"].astype(str).str.contains("no spread").any():
        reasons = report.comparison.loc[report.comparison["ci_reason"].astype(str).str.contains("no spread")]
        note += f"; no spread: {reasons.iloc[0]['ci_reason']} (an interval of zero width would claim certainty)"
    return Section("comparison (highest IQM first)", header, rows, note, left=2)


def _p_text(value: Any) -> str:
    if value is None or pd.isna(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def paired_section(report: Report) -> Section:
    """Each configuration minus the best, seed by seed: the effect size with its t interval and p."""
    rows = [
        [
            str(int(row["rank"])),
            stacked(str(row["config"])),
            str(int(row["pairs"])) if not pd.isna(row["pairs"]) else "–",
            num(row["diff"]),
            str(row["diff_text"]),
            _p_text(row["p_holm"]),
            num(row.get("prob_improvement", math.nan), 2),
            paired.seeds_needed_text(None if pd.isna(row["seeds_needed"]) else int(row["seeds_needed"])),
        ]
        for _, row in report.comparison.iloc[1:].iterrows()
    ]
    header = [
        "rank",
        "configuration",
        "pairs",
        "minus highest",
        "95% CI",
        "p (Holm)",
        "P(this > highest)",
        "seeds for D",
    ]
    note = (
        "minus highest: mean over shared seeds of (this - highest IQM); 95% CI: the shifts the exact sign-flip "
        "test does not reject (unbounded, or the score's whole range, below 6 seeds: 3 seeds cannot give p below 0.25, "
        "5 not below 0.0625); P(this > highest): probability of improvement over all seed pairs (rliable); seeds "
        "for D: seeds a true difference of D needs for 80% power at the observed spread of the differences "
        f"(Holm over the comparisons). {min_effect_text(report)}"
    )
    return Section("against the highest IQM, paired by seed", header, rows, note, left=2)


def cost_section(report: Report) -> Section:
    """What each configuration costs (CPU time per env step, load-proof; wall time, not) and its AUC."""
    rows = []
    for _, row in report.comparison.iterrows():
        cpu = row.get("cpu_s_per_step", math.nan)
        spread = row.get("cpu_sd", math.nan)
        rows.append(
            [
                str(int(row["rank"])),
                stacked(str(row["config"])),
                num(1e6 * cpu) if not pd.isna(cpu) else "not measured",
                num(1e6 * spread) if not pd.isna(spread) else "–",
                num(row["wall_s"]),
                f"{num(row['mean'])} ± {num(row['std'])}",
                num(row["auc"]),
            ]
        )
    header = ["rank", "configuration", "CPU µs/step", "± (seeds)", "wall s/run", "mean ± std", "AUC"]
    note = (
        "CPU µs/step: this process's CPU time per env step (wall time depends on other processes; CPU time "
        "less, not nothing). A configuration is called cheaper only when shown not worse in score (within ±D, "
        "never one with identical per-seed scores: the same computation) and a one-sided sign-flip test over "
        f"the per-seed CPU times shows a saving beyond {100 * claims.MIN_COST_GAIN:.0f}%"
    )
    return Section("cost (and the plain mean)", header, rows, note, left=2)


def marginal_section(name: str, table: pd.DataFrame) -> Section:
    rows = [
        [
            format_value(r[name]) if not isinstance(r[name], str) else r[name],
            str(int(r["n"])),
            num(r["iqm"]),
            interval(r),
            f"{num(r['mean'])} ± {num(r['std'])}",
            SHORT_STATUS.get(str(r["vs_best"]), str(r["vs_best"])),
        ]
        for _, r in table.iterrows()
    ]
    header = [name, "seeds", "IQM", "95% CI", "mean ± std", "vs highest"]
    note = (
        "each seed is averaged over the other swept parameters first; vs highest: the comparison's words and "
        "test (exact sign-flip, Holm-corrected; 'best' only when separable from every other value)"
    )
    return Section(f"{name} (averaged over everything else)", header, rows, note)


def importance_section(report: Report) -> Section:
    rows = []
    for name, value in (report.importance or {}).items():
        low, high = report.importance_interval.get(name, (math.nan, math.nan))
        rows.append([name, f"{value:.2f}", f"[{low:.2f}, {high:.2f}]", "█" * round(20 * value)])
    return Section(
        "parameter importance (Optuna, PED-ANOVA)",
        ["parameter", "importance", "90% interval", ""],
        rows,
        report.importance_note,
    )


def lstm_saw_section(report: Report) -> Section:
    rows = [
        [
            stacked(str(r["config"])),
            num(r["seq_len_mean"]),
            num(r["seq_len_max"]),
            _pct(r["pad_frac"]),
            _pct(r["cut_by_episode_end"]),
            _pct(r["cut_by_max_seq_len"]),
            num(r.get("max_seq_len")),
            _horizon(r),
        ]
        for _, r in report.lstm_saw.iterrows()
    ]
    header = [
        "configuration",
        "mean seq len",
        "max seq len",
        "padding",
        "ended by episode end",
        "cut at max_seq_len",
        "max_seq_len",
        "memory horizon [95%]",
    ]
    note = (
        "real sequence lengths in training (mean over iterations and seeds); padding: share of padded steps; "
        "memory horizon: how many steps back the trained policy still reacts to an observation (rnnppo memory; "
        "IQM over seeds), which the carried state can take past max_seq_len; ≥: some runs saw nothing past their "
        "horizon (it reached their longest episode or the lag cap), so the true horizon may be longer"
    )
    if not rows:
        note = "no configuration has finished yet"
    return Section("what the LSTM saw", header, rows, note)


def _horizon(row: pd.Series) -> str:
    """IQM [interval] of the runs' memory horizons; '–' where no run measured it. When some runs' horizons
    are censored at the largest lag they measured, the IQM and the interval's low end are lower bounds and
    the high end is unknown: '≥ IQM [≥ low, –] (k of n at their last lag)'."""
    value = row.get("memory_horizon")
    if value is None or pd.isna(value):
        return "–"
    low, high = row.get("memory_horizon_low"), row.get("memory_horizon_high")
    at_cap = row.get("memory_at_cap")
    if at_cap is not None and pd.notna(at_cap) and at_cap > 0:
        interval = "" if low is None or pd.isna(low) else f" [≥ {low:.1f}, –]"
        return f"≥ {value:.1f}{interval} ({int(at_cap)} of {int(row['memory_runs'])} at their last lag)"
    if low is None or pd.isna(low):
        return f"{value:.1f}"
    return f"{value:.1f} [{low:.1f}, {high:.1f}]"


def controls_section(report: Report) -> Section | None:
    if report.controls is None:
        return None
    rows = [
        [
            stacked(str(r["config"])),
            stacked(str(r["control"])),
            num(r["gain"]),
            str(r["gain_text"]),
            "–" if r["significant"] is None or pd.isna(r["significant"]) else ("yes" if r["significant"] else "no"),
        ]
        for _, r in report.controls.iterrows()
    ]
    header = ["configuration", "memory-off control", "mean gain", "95% CI", "significant"]
    note = (
        "exact sign-flip test per row on per-seed differences (α = 0.05; each row its own question); "
        "95% CI: the shifts that test does not reject"
    )
    return Section("gain over the memory-off control (paired by seed)", header, rows, note, left=2)


def baseline_section(report: Report) -> Section | None:
    """The random-policy baseline, and whether each configuration beats it."""
    level = claims.baseline_mean(report.baseline)
    if report.baseline is None:
        return Section("against a random policy", [], [], "not measured (a study written before rnnppo 0.2)")
    if not math.isfinite(level):
        reason = report.baseline.get("error") or "no episode ended"
        return Section("against a random policy", [], [], f"not measured: {reason}")
    rows = [
        [
            str(int(row["rank"])),
            stacked(str(row["config"])),
            num(row["above_random"]),
            _flag(row.get("beats_random")),
            _flag(row.get("near_random")),
        ]
        for _, row in report.comparison.iterrows()
    ]
    episodes = report.baseline.get("episodes", "?")
    sem = report.baseline.get("sem_return")
    spread = f" ± {sem:.2g} (standard error)" if isinstance(sem, int | float) else ""
    effect = "–" if report.min_effect is None else f"{report.min_effect:.3g}"
    note = (
        f"a uniformly random policy returned {level:.3g}{spread} on average over {episodes} episodes of this env; "
        "beats it: one-sided Welch t-test of the per-seed scores against that mean with its standard error, Holm "
        f"over configurations; within D of it: one-sided 95% upper bound of (score - random) below D = {effect} "
        "('nothing learned' needs this for every configuration)"
    )
    header = ["rank", "configuration", "above random", "beats it", "within D of it"]
    return Section("against a random policy", header, rows, note, 2)


def _flag(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else num(bool(value))


def sections(report: Report) -> list[Section]:
    """Every table of the report, in reading order."""
    out = [comparison_section(report), paired_section(report), cost_section(report)]
    baseline = baseline_section(report)
    if baseline is not None:
        out.append(baseline)
    out += [marginal_section(name, table) for name, table in report.marginals.items()]
    out.append(importance_section(report))
    out.append(lstm_saw_section(report))
    controls = controls_section(report)
    if controls is not None:
        out.append(controls)
    return out


def frame_section(frame: pd.DataFrame, title: str, note: str = "") -> Section:
    """Any frame (the study list, a study comparison) as a section; its leading text columns align left."""
    rows = [
        [num(value) if not isinstance(value, str) else value for value in row] for row in frame.itertuples(index=False)
    ]
    left = 0
    for column in frame.columns:
        if not frame[column].map(lambda value: isinstance(value, str)).all():
            break
        left += 1
    return Section(title, [str(c) for c in frame.columns], rows, note, left=max(left, 1))


# --- terminal -------------------------------------------------------------------------------------


def _lines_width(text: str) -> int:
    return max((len(line) for line in text.split("\n")), default=0)


def _wrap_words(text: str, width: int) -> str:
    """Each line of `text` wrapped at spaces to at most `width` characters (a longer word stays whole)."""
    out = []
    for line in text.split("\n"):
        current = ""
        for word in line.split(" "):
            if current and len(current) + 1 + len(word) > width:
                out.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        out.append(current)
    return "\n".join(out)


def fit(section: Section, width: int) -> Section:
    """The section with its headers and cells broken between words (never inside one) until the table
    fits `width` columns: the widest column that can still narrow gives one character at a time."""
    columns = [[header, *(row[index] for row in section.rows)] for index, header in enumerate(section.header)]

    def table_width() -> int:
        return sum(max(_lines_width(text) for text in cells) for cells in columns) + 3 * len(columns) + 1

    while table_width() > width:
        widths = [max(_lines_width(text) for text in cells) for cells in columns]
        floors = [max(len(word) for text in cells for word in text.split()) if any(cells) else 1 for cells in columns]
        narrowable = [index for index in range(len(columns)) if widths[index] > floors[index]]
        if not narrowable:
            break  # every column is one word wide: nothing more can be done without splitting words
        index = max(narrowable, key=lambda i: widths[i] - floors[i])
        columns[index] = [_wrap_words(text, widths[index] - 1) for text in columns[index]]
    header = [cells[0] for cells in columns]
    rows = [[cells[1 + row] for cells in columns] for row in range(len(section.rows))]
    return Section(section.title, header, rows, section.note, section.left)


def _floor_width(section: Section, columns: list[int]) -> int:
    """The narrowest the table of these columns can be with every cell one word per line."""
    floors = []
    for i in columns:
        cells = [section.header[i], *(row[i] for row in section.rows)]
        floors.append(max((len(word) for text in cells for word in text.split()), default=0))
    return sum(floors) + 3 * len(columns) + 1


def split_to_fit(section: Section, width: int) -> list[Section]:
    """The section as one table, or, when not even one word per line fits `width`, as several tables that
    each repeat its name columns and take as many of the other columns as fit (in order)."""
    names = list(range(min(section.left, len(section.header))))
    rest = list(range(len(names), len(section.header)))
    if _floor_width(section, names + rest) <= width or not rest:
        return [fit(section, width)]
    groups: list[list[int]] = [[]]
    for index in rest:
        if groups[-1] and _floor_width(section, names + groups[-1] + [index]) > width:
            groups.append([])
        groups[-1].append(index)
    parts = []
    for number, group in enumerate(groups):
        keep = names + group
        part = Section(
            section.title if number == 0 else f"{section.title} (continued)",
            [section.header[i] for i in keep],
            [[row[i] for i in keep] for row in section.rows],
            section.note if number == len(groups) - 1 else "",
            len(names),
        )
        parts.append(fit(part, width))
    return parts


def rich_table(section: Section, width: int | None = None) -> Table:
    """A rich table whose cells are broken between words, never inside one, to fit `width` columns."""
    if width is not None:
        section = fit(section, width)
    table = Table(title=section.title, title_justify="left", caption=section.note or None, caption_justify="left")
    for index, column in enumerate(section.header):
        table.add_column(column, justify="left" if index < section.left else "right", no_wrap=True)
    for row in section.rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def print_sections(console: Console, parts: list[Section]) -> None:
    for section in parts:
        if section.rows:
            for part in split_to_fit(section, console.width):
                console.print(rich_table(part))
        elif section.note:
            console.print(f"[bold]{section.title}[/]: {section.note}")


def print_report(report: Report, console: Console, full: bool = True) -> None:
    """The report on the terminal; `full=False` prints only the comparison, the verdict and a race's lines."""
    console.print(f"[bold]{header_line(report)}[/]")
    print_sections(console, sections(report) if full else [comparison_section(report)])
    console.print(f"[bold green]verdict:[/] {escape(report.verdict)}")
    print_race(report.race, console)
    for line in report.atlas:
        console.print(escape(line), soft_wrap=True, highlight=False)


def print_race(race: RaceSummary | None, console: Console, note: bool = True) -> None:
    """A raced study's lines, as `rnnppo sweep` ends with them and `rnnppo report` repeats them; `note=False`
    leaves out the last, on the comparison table above (where no table is printed above them)."""
    lines = () if race is None else race.lines if note else race.lines[:-1]
    for line in lines:
        console.print(escape(line), soft_wrap=True, highlight=False)


def race_section(race: RaceSummary) -> Section:
    """The race as a table for the file formats: the same words as its lines, the first and last as the note."""
    rows = [[name, str(seeds), status, why] for name, seeds, status, why in race.rows]
    note = f"{race.lines[0]} {race.lines[-1]}"
    return Section("race (the claims of a raced sweep)", ["configuration", "seeds", "status", "why"], rows, note)


def _file_sections(report: Report) -> list[Section]:
    """The sections of the markdown and HTML files: every table, then a raced study's race and the atlas comparison."""
    race = [race_section(report.race)] if report.race is not None else []
    rows = [[line] for line in report.atlas]
    atlas = [Section("against the atlas", ["comparison"], rows)] if rows else []
    return sections(report) + race + atlas


def to_text(report: Report, width: int = 100) -> str:
    """The terminal tables as plain text (for `--format table --out FILE`)."""
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=width, color_system=None, highlight=False))
    return buffer.getvalue()


# --- files ----------------------------------------------------------------------------------------


def to_markdown(report: Report) -> str:
    return _markdown(f"rnnppo report: {header_line(report)}", _file_sections(report), report.verdict)


def _markdown(title: str, parts: list[Section], verdict: str = "") -> str:
    lines = [f"# {title}", ""]
    for section in parts:
        lines += [f"## {section.title}", ""]
        if section.rows:
            lines += [
                "| " + " | ".join(_cell(h) for h in section.header) + " |",
                "|" + "---|" * len(section.header),
            ]
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
            lines.append("")
        if section.note:
            lines += [f"_{section.note}_", ""]
    if verdict:
        lines.append(f"**verdict:** {verdict}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def runs_frame(report: Report) -> pd.DataFrame:
    """Every run, one row per configuration and seed (the CSV and JSON export); list values as text."""
    runs = report.data.runs.copy()
    for column in runs.columns:
        if runs[column].map(lambda v: isinstance(v, tuple | list)).any():
            runs[column] = runs[column].map(format_value)
    runs.insert(0, "study", report.data.name)
    if report.race is not None:  # per configuration: the seeds the race gave it and where it stands
        seeds = {name: count for name, count, _status, _why in report.race.rows}
        status = {name: state for name, _count, state, _why in report.race.rows}
        runs["race_seeds"] = runs["config"].map(seeds)
        runs["race_status"] = runs["config"].map(status)
    return runs


def _race_record(race: RaceSummary | None) -> dict[str, Any] | None:
    if race is None:
        return None
    configurations = [{"config": n, "seeds": k, "status": s, "why": w} for n, k, s, w in race.rows]
    return {"lines": list(race.lines), "configurations": configurations}


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if frame is None:
        return None
    return json.loads(frame.to_json(orient="records", default_handler=str))


def _best(report: Report) -> str | None:
    """The configuration a test separates from every other; None when there is none."""
    table = report.comparison
    if table.empty or table.iloc[0]["vs_best"] != claims.BEST:
        return None
    return str(table.iloc[0]["config"])


def _best_set(report: Report) -> list[str]:
    """The highest configuration and every one no test separates from it."""
    table = report.comparison
    if table.empty or table["iqm"].isna().all():
        return []
    return [str(key) for key in table.loc[table["vs_best"].isin((claims.BEST, *claims.BEST_SET)), "config"]]


def to_json(report: Report) -> str:
    payload = {
        "study": report.data.name,
        "spec": report.data.spec,
        "counts": report.data.counts,
        "score": report.score,
        "score_kind": report.score_kind,
        "score_text": report.score_text,
        "min_effect": report.min_effect,
        "min_effect_source": report.min_effect_source,
        "verdict": report.verdict,
        "best": _best(report),
        "best_set": _best_set(report),
        "cheapest_not_worse": report.cheapest,
        "baseline": report.baseline,
        "comparison": _records(report.comparison),
        "marginals": {name: _records(table) for name, table in report.marginals.items()},
        "importance": report.importance,
        "importance_note": report.importance_note,
        "importance_interval": report.importance_interval,
        "lstm_saw": _records(report.lstm_saw),
        "controls": _records(report.controls),
        "runs": _records(runs_frame(report)),
        "race": _race_record(report.race),
        "atlas": list(report.atlas),
        "warnings": report.warnings,
    }
    return json.dumps(json_safe(payload), indent=2, default=str, allow_nan=False) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:nth-child(-n+2),th{text-align:left}"
    "th{background:#f3f3f3}caption,.note{color:#666;font-size:90%;text-align:left}img{max-width:100%}"
    ".verdict{font-size:110%;background:#eef7ee;padding:.6em;border-left:4px solid #4a4}"
)


def _html(title: str, parts: list[Section], verdict: str = "", images: list[Path] | None = None) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    if verdict:
        body.append(f'<p class="verdict"><b>verdict:</b> {html.escape(verdict)}</p>')
    for section in parts:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.rows:
            body.append("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in section.header))
            body.append("</tr></thead><tbody>")
            for row in section.rows:
                body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
            body.append("</tbody></table>")
        if section.note:
            body.append(f'<p class="note">{html.escape(section.note)}</p>')
    for image in images or []:
        data = base64.b64encode(Path(image).read_bytes()).decode("ascii")
        label = html.escape(Path(image).stem.replace("_", " "))
        body.append(f'<h2>{label}</h2><img alt="{label}" src="data:image/png;base64,{data}">')
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def to_html(report: Report, images: list[Path] | None = None) -> str:
    """One file that opens without network: tables, verdict and the figures inlined as base64 PNG."""
    return _html(f"rnnppo report: {header_line(report)}", _file_sections(report), report.verdict, images)


def render(report: Report, fmt: str, images: list[Path] | None = None) -> str:
    """The report as text in one of FORMATS (`table` is the plain-text terminal rendering)."""
    if fmt == "table":
        return to_text(report)
    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "csv":
        return runs_frame(report).to_csv(index=False)
    if fmt == "json":
        return to_json(report)
    if fmt == "html":
        return to_html(report, images)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_frame(frame: pd.DataFrame, title: str, fmt: str, note: str = "") -> str:
    """A plain frame (e.g. the study comparison) in one of FORMATS."""
    section = frame_section(frame, title, note)
    if fmt == "table":
        buffer = io.StringIO()
        print_sections(Console(file=buffer, width=400, color_system=None, highlight=False), [section])
        return buffer.getvalue()
    if fmt == "markdown":
        return _markdown(title, [section])
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(_records(frame), indent=2, allow_nan=False) + "\n"
    if fmt == "html":
        return _html(title, [section])
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def compare_sections(frame: pd.DataFrame, names: list[str], title: str, note: str = "") -> list[Section]:
    """The study comparison for a terminal: one narrow table per later study against the first (the
    wide frame, one column per study and statistic, is what the file formats write)."""
    if frame.empty:
        return [Section(title, [], [], note or "the studies share no configuration")]
    first = names[0]
    out = []
    for later in names[1:]:
        rows = [
            [
                stacked(str(row["config"])),
                num(row[f"{first} IQM"]),
                num(row[f"{later} IQM"]),
                f"{num(row[f'change ({later})'])}\n{row[f'95% CI ({later})']}",
                str(row[f"significant ({later})"])
                + ("" if pd.isna(row[f"p ({later})"]) else f" (p {_p_text(row[f'p ({later})'])})"),
            ]
            for _, row in frame.iterrows()
        ]
        header = ["configuration", f"{first} IQM", f"{later} IQM", "change, 95% CI", "significant (Holm p)"]
        label = f"{later} against {first}, paired by seed"
        if "mismatch" in frame.columns:
            label = f"MISMATCHED: {label}"
        out.append(Section(label, header, rows, note))
    return out
