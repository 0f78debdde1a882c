"""`rnnppo nightly`: one study per night, reports written, the history of nights, regressions that
exit 1, the schedule, concurrent runs of one night, and bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from rnnppo.cli.app import app
from tests.shared import runner

pytestmark = pytest.mark.usefixtures("wide_terminal")


def write_toml(folder: Path, reward: float, name: str = "nightly.toml") -> Path:
    path = folder / name
    path.write_text(f"""
[nightly]
env = "tests.sweeps.constant_env:ConstantReward"
space = ["seq_len=2,4"]
study_prefix = "const"
steps = 64
seeds = 3
results = "{folder / "results"}"
reference = "max_seq_len=4"
speed_drop = 0.99

[settings]
"env.reward" = {reward}
num_envs = 2
rollout_len = 16
fcnet_hiddens = [4]
lstm_cell_size = 4
minibatch_size = 8
num_epochs = 1
eval_episodes = 2
""")
    return path


def night(toml: Path, date: str, *extra: str):
    return runner.invoke(app, ["nightly", str(toml), "--date", date, *extra])


def test_two_nights_give_a_history_and_reports_and_no_regression(tmp_path):
    toml = write_toml(tmp_path, reward=1.0)
    first = night(toml, "2026-01-01", "--fail-on-regression")
    assert first.exit_code == 0, first.output
    second = night(toml, "2026-01-02", "--fail-on-regression")
    assert second.exit_code == 0, second.output
    assert "2026-01-01" in second.output and "2026-01-02" in second.output
    assert "no regression" in second.output
    for date in ("2026-01-01", "2026-01-02"):
        folder = tmp_path / "results" / f"const-{date}"
        assert (folder / "report.md").is_file() and "<table>" in (folder / "report.html").read_text()
    names = optuna.get_all_study_names(f"sqlite:///{tmp_path / 'results' / 'rnnppo.db'}")
    assert sorted(names) == ["const-2026-01-01", "const-2026-01-02"]


def test_a_planted_score_regression_exits_1_and_names_the_nights(tmp_path):
    assert night(write_toml(tmp_path, reward=1.0), "2026-02-01").exit_code == 0
    worse = night(write_toml(tmp_path, reward=0.5, name="worse.toml"), "2026-02-02", "--fail-on-regression")
    assert worse.exit_code == 1, worse.output
    assert "score regression" in worse.output and "max_seq_len=4" in worse.output
    assert "2026-02-02" in worse.output and "2026-02-01" in worse.output
    # without the flag the same finding is reported but the exit code stays 0
    again = night(write_toml(tmp_path, reward=0.5, name="worse.toml"), "2026-02-02")
    assert again.exit_code == 0 and "score regression" in again.output


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
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=300)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
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


def test_a_night_where_no_trial_finishes_is_reported_and_exits_1(tmp_path):
    assert night(write_toml(tmp_path, reward=1.0), "2026-04-01").exit_code == 0
    broken = write_toml(tmp_path, reward=1.0, name="broken.toml")
    broken.write_text(broken.read_text().replace('"env.reward" = 1.0', '"env.reward" = nan'))
    result = night(broken, "2026-04-02")  # even without --fail-on-regression: nothing could be checked
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
