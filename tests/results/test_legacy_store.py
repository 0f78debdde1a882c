"""Results written by rnnppo 0.1 (main at ee2f027, before the re-layering) still load: a sweep's study
and run folders, a two-night nightly history, and a run's model. The fixture was made with that commit
(`tests/fixtures/legacy-0.1*`: a 2-point seq_len sweep, 2 seeds, and two nights of a nightly file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rnnppo.core.runs.evaluation import load_run_policy
from rnnppo.nightly.history import history_table, load_nights
from rnnppo.results.report import build_report
from rnnppo.results.studies import load_study, open_readonly, storage_for_results

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    shutil.copytree(FIXTURES / "legacy-0.1", folder)
    return folder


def test_a_sweep_written_by_0_1_reports_the_same_numbers(legacy: Path) -> None:
    expected = json.loads((FIXTURES / "legacy-0.1-report.json").read_text())
    data = load_study(open_readonly(storage_for_results(legacy)), "legacy-sweep", legacy)
    assert data.warnings == []
    runs = data.runs.sort_values(["config", "seed"]).reset_index(drop=True)
    old_runs = sorted(expected["runs"], key=lambda r: (r["config"], r["seed"]))
    assert len(runs) == len(old_runs) == 4
    for new, old in zip(runs.to_dict("records"), old_runs, strict=True):
        for key in ("config", "seed", "final_return", "auc", "env_steps", "num_seqs", "seq_len_mean", "run_dir"):
            assert new[key] == pytest.approx(old[key]) if isinstance(old[key], float) else new[key] == old[key]
    table = build_report(data).comparison
    for old in expected["comparison"]:
        row = table[table["config"] == old["config"]].iloc[0]
        assert int(row["n"]) == old["n"]
        assert float(row["iqm"]) == pytest.approx(old["iqm"])


def test_a_nightly_history_written_by_0_1_loads(legacy: Path) -> None:
    storage = open_readonly(storage_for_results(legacy))
    history = load_nights(storage, "legacy-night", upto="2026-11-29")
    assert [night.date for night in history] == ["2026-11-28", "2026-11-29"]
    table = history_table(history, "max_seq_len=4")
    assert list(table["iqm"]) == [pytest.approx(0.25), pytest.approx(0.25)]


def test_a_model_written_by_0_1_loads(legacy: Path) -> None:
    config, policy = load_run_policy(legacy / "legacy-sweep" / "1" / "0")
    assert config.max_seq_len == 4
    assert config.lstm_cell_size == 8
    assert sum(p.numel() for p in policy.parameters()) > 0
