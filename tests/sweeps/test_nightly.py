"""`rnnppo nightly`: one study per night, reports written, the history of nights, regressions that
exit 1, the schedule, concurrent runs of one night, and bad files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from rnnppo.nightly import history
from tests.shared import runner

pytestmark = pytest.mark.usefixtures("wide_terminal")


def write_toml(folder: Path, reward: float | None, name: str = "nightly.toml", seeds: int = 6) -> Path:
    """A nightly file on a constant-reward env: `reward` as a setting (env.reward), or None to read it
    from $RNNPPO_TEST_REWARD (the same settings every night, as when only the code changes)."""
    path = folder / name
    env = "ConstantReward" if reward is not None else "RewardFromEnviron"
    setting = f'"env.reward" = {reward}' if reward is not None else ""
    path.write_text(f"""
[nightly]
env = "tests.sweeps.constant_env:{env}"
space = ["seq_len=2,4"]
study_prefix = "const"
steps = 64
seeds = {seeds}
results = "{folder / "results"}"
reference = "max_seq_len=4"
speed_drop = 0.99

[settings]
{setting}
num_envs = 2
rollout_len = 16
fcnet_hiddens = [4]
lstm_cell_size = 4
minibatch_size = 8
num_epochs = 1
eval_episodes = 2
memory_horizon = false  # as in tests/shared.py's TINY: measured in tests/core/test_memory.py
""")
    return path


def night(toml: Path, date: str, *extra: str):
    return runner.invoke(app, ["nightly", str(toml), "--date", date, *extra])


FIRST_NIGHT = "2026-02-01"


@pytest.fixture(scope="module")
def first_night(tmp_path_factory) -> tuple[Path, Any]:
    """One finished night, shared by the tests whose story starts after it (a night costs a worker start
    and 12 seed runs): 6 seeds of reward 1.0 from $RNNPPO_TEST_REWARD, run through the Python API.
    Its results folder and the night's outcome; tests copy the folder (after_first_night), never write it."""
    import rnnppo

    folder = tmp_path_factory.mktemp("first-night")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNPPO_TEST_REWARD", "1.0")
        outcome = rnnppo.nightly(write_toml(folder, reward=None), date=FIRST_NIGHT)
    return folder / "results", outcome


def after_first_night(first_night: tuple[Path, Any], folder: Path) -> Path:
    """A copy of the first night's results in `folder`, and the same nightly file writing there."""
    shutil.copytree(first_night[0], folder / "results")
    return write_toml(folder, reward=None)


def with_setting(toml: Path, line: str, name: str) -> Path:
    """A copy of the nightly file `toml`, named `name`, with one more [settings] line: a change of settings."""
    path = toml.with_name(name)
    path.write_text(toml.read_text().replace("[settings]\n", f"[settings]\n{line}\n"))
    return path


def test_two_nights_give_a_history_and_reports_and_no_regression(tmp_path, monkeypatch, first_night):
    toml = after_first_night(first_night, tmp_path)
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "1.0")  # the first night's behaviour again
    second = night(toml, "2026-02-02", "--fail-on-regression")
    assert second.exit_code == 0, second.output
    assert "2026-02-01" in second.output and "2026-02-02" in second.output
    assert "no regression against the 1 previous comparable night(s)" in second.output
    assert "tonight's code: commit" in second.output  # the commit is named on every night
    for date in ("2026-02-01", "2026-02-02"):
        folder = tmp_path / "results" / f"const-{date}"
        assert (folder / "report.md").is_file() and "<table>" in (folder / "report.html").read_text()
    names = optuna.get_all_study_names(f"sqlite:///{tmp_path / 'results' / 'rnnppo.db'}")
    assert sorted(names) == ["const-2026-02-01", "const-2026-02-02"]


def test_a_planted_score_regression_exits_1_and_names_the_nights_and_the_test(tmp_path, monkeypatch, first_night):
    toml = after_first_night(first_night, tmp_path)  # 2026-02-01: reward 1.0
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "0.5")  # the same settings, another behaviour: a code change
    worse = night(toml, "2026-02-02", "--fail-on-regression")
    assert worse.exit_code == 1, worse.output
    assert "score regression" in worse.output and "max_seq_len=4" in worse.output
    assert "2026-02-02" in worse.output and "2026-02-01" in worse.output
    assert "exact sign-flip test over 6 seeds, Holm-adjusted p = 0.031" in " ".join(worse.output.split())
    assert "no regression" not in worse.output
    # without the flag the same finding is reported but the exit code stays 0
    again = night(toml, "2026-02-02")
    assert again.exit_code == 0 and "score regression" in again.output


def test_with_five_seeds_a_collapse_is_not_checked_and_the_seeds_a_check_needs_are_named(tmp_path, monkeypatch):
    """5 seeds cannot give an exact p below 0.0625: the night says so instead of claiming either way."""
    toml = write_toml(tmp_path, reward=None, seeds=5)
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "1.0")
    assert night(toml, "2026-02-11").exit_code == 0
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "0.55")
    collapsed = night(toml, "2026-02-12", "--fail-on-regression")
    assert collapsed.exit_code == 1, collapsed.output
    text = " ".join(collapsed.output.split())
    assert "score not checked: 5 seeds" in text and "set seeds = 6 or more" in text
    assert "no regression" not in text


def test_with_two_seeds_a_collapse_is_not_checked_and_never_called_no_regression(tmp_path, monkeypatch):
    toml = write_toml(tmp_path, reward=None, seeds=2)
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "1.0")
    first = night(toml, "2026-02-21", "--fail-on-regression")
    assert first.exit_code == 0 and "not checked: no previous comparable night" in first.output
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "0.55")
    collapsed = night(toml, "2026-02-22", "--fail-on-regression")
    assert collapsed.exit_code == 1, collapsed.output
    assert "score not checked: 2 seeds" in " ".join(collapsed.output.split())
    assert "no regression" not in collapsed.output


def test_a_change_of_settings_between_nights_is_named_and_those_nights_are_not_compared(tmp_path, first_night):
    other = with_setting(after_first_night(first_night, tmp_path), '"env.reward" = 0.5', "other.toml")
    changed = night(other, "2026-02-02", "--fail-on-regression")
    assert changed.exit_code == 0, changed.output
    text = " ".join(changed.output.split())
    assert "2026-02-01 is not compared: since then env_kwargs" in text and "'reward': 0.5" in text
    assert "not checked: no previous comparable night" in text
    assert "score regression" not in text and "no regression" not in text


def test_two_runs_of_the_same_night_at_once_share_one_study(tmp_path):
    toml = write_toml(tmp_path, reward=1.0)
    command = [
        sys.executable,
        "-c",
        "from rnnppo.cli.app import main; main()",
        "nightly",
        str(toml),
        "--date",
        "2026-03-01",
    ]
    # One as a separate command, the other in this process at the same time (a second process start would
    # only add its imports); which of the two creates the study is a race, as with two commands. The
    # command writes to a file: a pipe nobody reads while this one runs could fill up and stall it.
    log = tmp_path / "other.log"
    with log.open("w") as sink:
        other = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        here = night(toml, "2026-03-01")
        other.wait(timeout=300)
    assert [here.exit_code, other.returncode] == [0, 0], (here.output, log.read_text())
    study = optuna.load_study(study_name="const-2026-03-01", storage=f"sqlite:///{tmp_path / 'results' / 'rnnppo.db'}")
    done = sorted(t.params["max_seq_len"] for t in study.trials if t.state == TrialState.COMPLETE)
    assert done == [2, 4]


def test_print_schedule_gives_crontab_and_systemd_units(tmp_path):
    result = runner.invoke(app, ["nightly", str(write_toml(tmp_path, 1.0)), "--print-schedule"])
    assert result.exit_code == 0
    assert "0 2 * * *" in result.output and "OnCalendar=" in result.output and "ExecStart=" in result.output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nightly]\nenv = 'CartPole-v1'\nspace = ['seq_len=2,4']\nstudy_prefx = 'x'\n", "did you mean 'study_prefix'"),
        ("[nightly]\nenv = 'CartPole-v1'\nspace = ['seq_len=2,4']\n", "needs 'study_prefix'"),
        ("[nightly\n", "not valid TOML"),
        ("[nightly]\nenv = 'CartPole-v1'\nspace = ['seq_len=2,,4']\nstudy_prefix = 'x'\n", "empty choice"),
    ],
)
def test_bad_nightly_files_exit_2_with_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = runner.invoke(app, ["nightly", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_night_where_no_trial_finishes_is_reported_and_exits_1(tmp_path, first_night):
    broken = with_setting(after_first_night(first_night, tmp_path), '"env.reward" = nan', "broken.toml")
    result = night(broken, "2026-02-02")  # even without --fail-on-regression: nothing could be checked
    assert result.exit_code == 1, result.output
    assert "0 trials complete, 2 failed" in result.output
    assert "NaN" in result.output  # the trials' own error
    assert "no trial of tonight's sweep completed" in result.output
    assert "no regression" not in result.output


def test_a_reference_that_names_no_configuration_exits_2_before_running(tmp_path):
    toml = write_toml(tmp_path, reward=1.0)
    toml.write_text(toml.read_text().replace('reference = "max_seq_len=4"', 'reference = "seq_len=4"'))
    result = night(toml, "2026-05-01")
    assert result.exit_code == 2, result.output
    assert "did you mean 'max_seq_len=4'" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_a_reference_of_a_range_space_must_name_the_swept_settings(tmp_path):
    toml = write_toml(tmp_path, reward=1.0)
    text = toml.read_text().replace('space = ["seq_len=2,4"]', 'space = ["seq_len=2..4"]')
    toml.write_text(text.replace('reference = "max_seq_len=4"', 'reference = "seq_len=4"'))
    result = night(toml, "2026-05-02")
    assert result.exit_code == 2, result.output
    assert "must name the swept settings as 'max_seq_len=VALUE'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "results").exists()


def test_the_python_api_runs_a_night_and_returns_the_decision_the_cli_prints(tmp_path, monkeypatch, first_night):
    """rnnppo.nightly(...) is the workflow the command calls: the same sweep, report, history and decision,
    as data (no printing), with the exit code the command would end with. (The first night is the shared
    one: run by rnnppo.nightly with 6 seeds, the floor of the exact paired test.)"""
    import rnnppo

    _, first = first_night
    assert first.exit_code == 0 and first.complete == 2 and not first.regressed
    assert first.study_name == "const-2026-02-01" and all(path.is_file() for path in first.report_paths)
    toml = after_first_night(first_night, tmp_path)
    monkeypatch.setenv("RNNPPO_TEST_REWARD", "0.5")
    worse = rnnppo.nightly(toml, date="2026-02-02", fail_on_regression=True)
    assert worse.regressed and worse.exit_code == 1 and worse.previous_nights == 1
    assert any("score regression" in message for message in worse.regressions)
    assert list(worse.history["night"]) == ["2026-02-01", "2026-02-02"]


def _timed_night(date: str, commit: str, cpu_us: list[float]):
    """A night as history.py reads it: the reference's per-seed CPU time and the commit it ran."""
    runs = pd.DataFrame(
        {"config": "max_seq_len=4", "seed": range(len(cpu_us)), "cpu_s_per_step": np.array(cpu_us) / 1e6}
    )
    study = SimpleNamespace(user_attrs={"rnnppo_provenance": {"git": {"commit": commit, "dirty": False}}})
    return history.Night(date, SimpleNamespace(runs=runs, study=study), pd.DataFrame())


SPEC = SimpleNamespace(speed_drop=0.2)


def test_two_nights_of_the_same_commit_never_report_a_speed_regression():
    """The issue's nightly: the same commit, config and seeds, 299 against 214 µs: the machine's load."""
    before = _timed_night("2026-06-01", "abc", [214.0, 210.0, 216.0])
    tonight = _timed_night("2026-06-02", "abc", [299.0, 301.0, 297.0])
    assert history._cost_regression(tonight, [before], "max_seq_len=4", SPEC) == []


def test_a_speed_regression_needs_other_code_and_a_step_beyond_the_night_to_night_spread():
    same_code = [_timed_night(f"2026-06-0{day}", "abc", [us] * 3) for day, us in ((1, 200.0), (2, 260.0), (3, 210.0))]
    loaded = _timed_night("2026-06-05", "def", [255.0] * 3)  # 21% over the median 210, but load alone moved it 60
    assert history._cost_regression(loaded, same_code, "max_seq_len=4", SPEC) == []
    slow = _timed_night("2026-06-05", "def", [400.0] * 3)
    found = history._cost_regression(slow, same_code, "max_seq_len=4", SPEC)
    assert len(found) == 1 and "beyond the night-to-night spread of 60 µs" in found[0]
    assert history._cost_regression(slow, same_code[:1], "max_seq_len=4", SPEC) == []  # one night: no spread known
