"""The Pong figure in the README is drawn from a committed CSV: `benchmarks/pong.py plot` must be able to read it
(no torch, no training), and a CSV it cannot read stops with a line naming the file and the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pong_script():
    spec = importlib.util.spec_from_file_location("pong_benchmark", ROOT / "benchmarks" / "pong.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_pong_curve_reads_as_the_plot_reads_it():
    pong = _pong_script()
    curves = pong.read_curve(pong.CSV_PATH)
    assert curves, "benchmarks/pong/pong.csv holds no seed"
    for rows in curves.values():
        assert [r["iteration"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(r["frames"] == 4 * r["env_steps"] for r in rows)
    assert "first full 100-episode window" in pong.summary_line(curves)


def test_a_pong_csv_without_the_return_column_names_the_file_and_the_fix(tmp_path):
    pong = _pong_script()
    broken = tmp_path / "pong.csv"
    broken.write_text("seed,iteration,env_steps\n0,1,1024\n")
    with pytest.raises(SystemExit, match=r"pong\.csv: no rows or missing columns .*return_mean_100.*pong.py train"):
        pong.read_curve(broken)
