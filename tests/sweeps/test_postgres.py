"""Many workers, one study, on a real PostgreSQL server (`.ci/start-postgres.sh` starts one).

Skipped when RNNPPO_TEST_POSTGRES_URL is not set, unless RNNPPO_REQUIRE_POSTGRES=1 (as in CI), where a
missing server is a failure rather than a silent skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.storage.contract import SPARE
from tests.shared import TINY as SHARED_TINY
from tests.shared import runner

pytestmark = pytest.mark.postgres
URL = os.environ.get("RNNPPO_TEST_POSTGRES_URL")
TINY = [*SHARED_TINY, "cell=4"]
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


def sweep_command(name: str, url: str, *words: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from rnnppo.cli.app import main; main()",
        "sweep",
        *words,
        "--study",
        name,
        "--storage",
        url,
    ]


def test_three_machines_started_together_run_each_grid_point_once(url, tmp_path):
    name = study_name()
    command = sweep_command(name, url, "seq_len=2,4,8", "emb=4,8", *TINY, *ENV)
    # Independent coordinators with their own results folders stand in for three machines.
    machines = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / f"m{i}")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for i in range(3)
    ]
    outputs = [m.communicate(timeout=300)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0, 0], outputs
    assert grid_points(url, name) == [(2, 4), (2, 8), (4, 4), (4, 8), (8, 4), (8, 8)]
    study = optuna.load_study(study_name=name, storage=url)
    workers = {
        (t.user_attrs["worker"]["host"], t.user_attrs["worker"]["pid"])
        for t in study.trials
        if t.state == TrialState.COMPLETE
    }
    assert len(workers) >= 1
    study = optuna.load_study(study_name=name, storage=url)
    # A worker that pops from an empty queue in a race gets a spare trial, which it gives up unrun.
    counted = [t for t in study.trials if t.user_attrs.get("rnnppo_role") != SPARE]
    assert len(counted) == 6, "no duplicates"
    assert all(t.state != TrialState.COMPLETE for t in study.trials if t not in counted), "no spare was run"

    # The report from the storage alone (no results folder) matches the trials.
    result = runner.invoke(app, ["report", "--storage", url, "--study", name, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["runs"]
    stored = {
        (t.params["max_seq_len"], t.params["encoder_out_size"], seed): t.user_attrs[f"run_{seed}"]["final_return"]
        for t in study.trials
        if t.state == TrialState.COMPLETE
        for seed in (0, 1)
    }
    reported = {(r["max_seq_len"], r["encoder_out_size"], r["seed"]): r["final_return"] for r in rows}
    assert reported == stored


def test_a_machine_killed_mid_trial_has_its_trial_retried_by_a_survivor(url, tmp_path):
    """Machine A is SIGKILLed during a trial while machine B works on; A's trial has no heartbeat any
    more, so B fails it and runs it again (Optuna's heartbeat + retry callback)."""
    name = study_name()
    words = ["seq_len=2,4,8", "emb=4,8", *TINY, "--env", "rnnppo/CueRecall-v0", "env.cue_distance=2"]
    command = sweep_command(name, url, *words, "--steps", "3000", "--seeds", "1")
    env = {**os.environ, "RNNPPO_HEARTBEAT_S": "1"}
    first = subprocess.Popen(
        [*command, "--out", str(tmp_path / "a")],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while not running_trials(url, name):
            if time.monotonic() > deadline or first.poll() is not None:
                pytest.fail("machine A never started a trial")
            time.sleep(0.2)
        second = subprocess.Popen(
            [*command, "--out", str(tmp_path / "b")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(1.0)
        # Freeze A, and kill it only at an instant it holds a trial (not between two trials).
        killed: list[int] = []
        while not killed:
            os.killpg(first.pid, signal.SIGSTOP)
            killed = running_trials(url, name, group=first.pid)
            if not killed:
                os.killpg(first.pid, signal.SIGCONT)
                if time.monotonic() > deadline or first.poll() is not None:
                    pytest.fail("machine A was never caught holding a trial")
                time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output

    study = optuna.load_study(study_name=name, storage=url)
    assert grid_points(url, name) == [(2, 4), (2, 8), (4, 4), (4, 8), (8, 4), (8, 8)], "every point once"
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed, "the killed trial is marked failed"
    retried = {t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial")) for t in study.trials}
    assert {t.number for t in failed} <= retried, "and run again"
    assert set(killed) <= {t.number for t in failed}, "the trial A held when it was killed is one of them"


def running_trials(url: str, name: str, group: int | None = None) -> list[int]:
    """The running trials of the study; with `group`, only those held by a process of that process group."""
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError:
        return []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t.number for t in running if group is None or in_group(t.user_attrs.get("worker", {}).get("pid"), group)]


def in_group(pid: int | None, group: int) -> bool:
    try:
        return pid is not None and os.getpgid(pid) == group
    except ProcessLookupError:
        return False


def test_jobs_2_against_postgres_and_the_password_never_printed(url, tmp_path):
    name = study_name()
    result = runner.invoke(
        app, ["sweep", *GRID, *TINY, *ENV, "--study", name, "--storage", url, "--jobs", "2", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert grid_points(url, name) == [(2, 4), (2, 8), (4, 4), (4, 8)]
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in result.output and "***" in result.output
    assert not (Path(tmp_path) / "rnnppo.db").exists(), "with --storage, no SQLite file is made"


def test_a_wrong_password_is_one_line_exit_2_without_the_password(url, tmp_path):
    bad = url.replace("@", "x-wrong@", 1)
    result = runner.invoke(
        app, ["sweep", *GRID, *TINY, *ENV, "--study", study_name(), "--storage", bad, "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2, result.output
    assert "x-wrong" not in result.output and "cannot open storage" in result.output
