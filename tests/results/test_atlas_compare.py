"""A max_seq_len sweep on a task of the atlas is put beside the atlas's finding there (rnnppo/results/atlas.py):
"agrees" and "disagrees" only when both sides are shown, the side that did not separate named otherwise, and
nothing said for studies the atlas has no finding for. The study is the fixture's (tests/results/fixtures.py:
max_seq_len 4 scores about 0.30, 8 and 20 about 0.9, on 12 seeds), the findings a file written here."""

from __future__ import annotations

import json

import optuna
import pytest

from rnnppo.results import atlas
from rnnppo.results.report import build_report
from rnnppo.results.studies import load_study, open_readonly
from rnnppo.storage.backend import default_storage_url
from tests.results.fixtures import BASE, ENV, build_study

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    build_study(folder, "seqlen", cells=(16,), rnn_types=("lstm",), extras=False)
    build_study(folder, "cells", seq_lens=(8,), cells=(16, 64), rnn_types=("lstm",), extras=False)
    return folder


def _data(folder, name):
    return load_study(open_readonly(default_storage_url(folder)), name, folder)


def _findings(tmp_path, monkeypatch, *, memory=8, difference=0.6, p_holm=0.001, env_kwargs=None):
    entry = {
        "task": "cue-3",
        "env": ENV,
        "env_kwargs": BASE["env_kwargs"] if env_kwargs is None else env_kwargs,
        "memory": memory,
        "budget": 60000,
        "seeds": 5,
        "difference": difference,
        "p_holm": p_holm,
    }
    path = tmp_path / "atlas.json"
    path.write_text(json.dumps({"page": "docs/atlas.md", "max_seq_len": [entry]}))
    monkeypatch.setattr(atlas, "FINDINGS", path)


def test_a_sweep_that_separates_like_the_atlas_agrees_and_names_both_tests(studies, tmp_path, monkeypatch):
    _findings(tmp_path, monkeypatch)
    (line,) = build_report(_data(studies, "seqlen")).atlas
    assert line.startswith("atlas (docs/atlas.md, task cue-3: memory distance 8 steps)")
    assert "agrees with the atlas" in line and "24 runs at or above, 12 below" in line
    assert "two-sample permutation p = " in line and "Holm p = 0.001" in line and "60,000 steps" in line


def test_opposite_signs_both_shown_is_a_disagreement(studies, tmp_path, monkeypatch):
    _findings(tmp_path, monkeypatch, difference=-0.4, p_holm=0.01)
    (line,) = build_report(_data(studies, "seqlen")).atlas
    assert "disagrees with the atlas (both shown, opposite signs)" in line


def test_an_atlas_that_did_not_separate_them_is_said_as_such_not_as_agreement(studies, tmp_path, monkeypatch):
    _findings(tmp_path, monkeypatch, difference=0.1, p_holm=0.4)
    (line,) = build_report(_data(studies, "seqlen")).atlas
    assert "separated here; the atlas did not separate them on this task" in line
    assert "agrees" not in line and "disagrees" not in line


def test_values_on_one_side_of_the_memory_distance_make_no_comparison(studies, tmp_path, monkeypatch):
    _findings(tmp_path, monkeypatch, memory=30)
    (line,) = build_report(_data(studies, "seqlen")).atlas
    assert line.endswith("every value of this sweep is below, so the atlas's comparison cannot be made here")


def test_nothing_is_said_for_another_task_or_a_sweep_of_something_else(studies, tmp_path, monkeypatch):
    _findings(tmp_path, monkeypatch, env_kwargs={"cue_distance": 99})
    assert build_report(_data(studies, "seqlen")).atlas == []
    _findings(tmp_path, monkeypatch)
    assert build_report(_data(studies, "cells")).atlas == []


def test_a_missing_or_broken_findings_file_means_no_atlas(tmp_path):
    assert atlas.findings(tmp_path / "absent.json") == []
    (tmp_path / "broken.json").write_text("{not json")
    assert atlas.findings(tmp_path / "broken.json") == []


def test_the_shipped_findings_name_suite_tasks_with_their_memory_distance():
    from rnnppo.core.suites import known_task

    shipped = atlas.findings()
    assert shipped, "rnnppo/suites/atlas.json is missing or empty: run `python benchmarks/atlas.py docs`"
    for finding in shipped:
        task = known_task(finding.env, finding.env_kwargs)
        assert task is not None and task.memory == finding.memory and task.name == finding.task
