"""Many workers, one study, on a real PostgreSQL server (`.ci/start-postgres.sh` starts one).

Skipped when RNNPPO_TEST_POSTGRES_URL is not set, unless RNNPPO_REQUIRE_POSTGRES=1 (as in CI), where a
missing server is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from rnnppo.cli.app import app

pytestmark = pytest.mark.postgres
URL = os.environ.get("RNNPPO_TEST_POSTGRES_URL")
TINY = [
    "num_envs=2",
    "rollout_len=32",
    "fcnet_hiddens=[8]",
    "cell=4",
    "minibatch_size=16",
    "num_epochs=1",
    "eval_episodes=1",
]
GRID = ["seq_len=2,4", "emb=4,8"]
ENV = ["--env", "rnnppo/CueRecall-v0", "env.cue_distance=2", "--steps", "128", "--seeds", "2"]


@pytest.fixture
def url() -> str:
    if not URL:
        if os.environ.get("RNNPPO_REQUIRE_POSTGRES") == "1":
            pytest.fail("RNNPPO_REQUIRE_POSTGRES=1 but RNNPPO_TEST_POSTGRES_URL is not set")
        pytest.skip('set RNNPPO_TEST_POSTGRES_URL (eval "$(bash .ci/start-postgres.sh)") to run')
    return URL


def study_name() -> str:
    return f"pg-{uuid.uuid4().hex[:10]}"


def grid_points(url: str, name: str) -> list[tuple]:
    study = optuna.load_study(study_name=name, storage=url)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    return sorted((t.params["max_seq_len"], t.params["encoder_out_size"]) for t in done)


def test_two_machines_share_one_grid_and_run_each_point_once(url, tmp_path):
    name = study_name()
    command = [
        sys.executable,
        "-c",
        "from rnnppo.cli.app import main; main()",
        "sweep",
        *GRID,
        *TINY,
        *ENV,
        "--study",
        name,
        "--storage",
        url,
    ]
    # Two independent coordinators with their own results folders stand in for two machines.
    machines = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / f"m{i}")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for i in range(2)
    ]
    outputs = [m.communicate(timeout=300)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs
    assert grid_points(url, name) == [(2, 4), (2, 8), (4, 4), (4, 8)]
    study = optuna.load_study(study_name=name, storage=url)
    workers = {
        (t.user_attrs["worker"]["host"], t.user_attrs["worker"]["pid"])
        for t in study.trials
        if t.state == TrialState.COMPLETE
    }
    assert len(workers) >= 1


def test_jobs_2_against_postgres_and_the_password_never_printed(url, tmp_path):
    name = study_name()
    result = CliRunner().invoke(
        app, ["sweep", *GRID, *TINY, *ENV, "--study", name, "--storage", url, "--jobs", "2", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert grid_points(url, name) == [(2, 4), (2, 8), (4, 4), (4, 8)]
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in result.output and "***" in result.output
    assert not (Path(tmp_path) / "rnnppo.db").exists(), "with --storage, no SQLite file is made"


def test_a_wrong_password_is_one_line_exit_2_without_the_password(url, tmp_path):
    bad = url.replace("@", "x-wrong@", 1)
    result = CliRunner().invoke(
        app, ["sweep", *GRID, *ENV, "--study", study_name(), "--storage", bad, "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2, result.output
    assert "x-wrong" not in result.output and "cannot open storage" in result.output
