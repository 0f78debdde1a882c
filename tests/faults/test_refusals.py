"""Clean refusals: input that cannot work ends in one line and exit code 2 before anything is written (no
traceback, no half-made run folder): wrappers that are not wrappers, sizes no machine's memory holds,
options that disagree, fewer steps than one iteration, MLflow URIs that cannot work, crafted checkpoints.
And commands rnnppo prints are quoted so that they can be pasted whatever the paths hold."""

from __future__ import annotations

import shlex
from pathlib import Path

import optuna
import pytest
import torch

from rnnppo.cli.app import app
from rnnppo.cli.study_report import report_command
from rnnppo.core.config import assemble_config
from rnnppo.core.runs.loggers import default_mlflow_uri, mlflow_tracking_uri
from rnnppo.errors import ConfigError
from rnnppo.nightly.config import schedule_text
from tests.faults.harness import TINY, runner
from tests.faults.test_bad_input import one_line_exit_2

ENV = ["--env", "rnnppo/CueRecall-v0"]


def returns_nothing(env):
    """A wrapper function that forgets to return the env."""
    env.reset()


def refused(tmp_path: Path, words: list[str], message: str, env: dict | None = None) -> str:
    out = tmp_path / "results"
    result = runner.invoke(app, [*words, "--out", str(out)], env=env)
    one_line_exit_2(result)
    assert message in result.output, result.output
    assert not out.exists(), "nothing is written"
    return result.output


@pytest.mark.parametrize(
    "wrapper, message",
    [
        ("builtins:print", "'builtins:print' is not a gymnasium wrapper"),
        ("collections:OrderedDict", "is not a gymnasium wrapper"),
        ("tests.faults.test_refusals:returns_nothing", "returned NoneType, not an env"),
    ],
)
def test_a_wrapper_that_is_not_one_is_refused_without_being_called_on_the_env(tmp_path, capsys, wrapper, message):
    output = refused(tmp_path, ["train", *TINY, *ENV, "--steps", "64", "--wrapper", wrapper], message)
    assert "<" not in output, "print(env) was never called"


@pytest.mark.parametrize(
    "line, names",
    [
        ("num_envs = 100000000000", "num_envs or rollout_len"),
        ("rollout_len = 1e9", "num_envs or rollout_len"),
        ("lstm_cell_size = 1e9", "lstm_cell_size, fcnet_hiddens"),
        ("fcnet_hiddens = [100000, 100000, 100000]", "lstm_cell_size, fcnet_hiddens"),
    ],
)
@pytest.mark.parametrize("command", [["train"], ["sweep", "seq_len=2,4"]])
def test_sizes_no_memory_holds_are_refused_before_anything_is_allocated(tmp_path, line, names, command):
    config = tmp_path / "huge.toml"
    config.write_text(line + "\n")
    output = refused(tmp_path, [*command, "--config", str(config), *ENV, "--steps", "64"], f"lower {names}")
    assert "of memory, more than this machine's" in output


def test_an_option_and_a_setting_that_disagree_are_refused(tmp_path):
    refused(tmp_path, ["train", *ENV, "--steps", "2048", "total_steps=1024"], "--steps 2048 and total_steps=1024")
    refused(tmp_path, ["train", "--env", "CartPole-v1", "env=rnnppo/CueRecall-v0", "--steps", "64"], "disagree")


def test_a_sweeps_option_and_fixed_setting_that_disagree_are_refused(tmp_path):
    words = ["sweep", "seq_len=2,4", "total_steps=1024", *ENV, "--steps", "2048"]
    refused(tmp_path, words, "--steps 2048 and total_steps=1024 disagree")


def test_the_same_value_as_an_option_and_a_setting_is_fine():
    config = assemble_config(["total_steps=2048"], total_steps=2048, env="CartPole-v1")
    assert config.total_steps == 2048


@pytest.mark.parametrize("command", [["train"], ["sweep", "seq_len=2,4"]])
def test_fewer_steps_than_one_iteration_are_refused_naming_the_real_count(tmp_path, command):
    output = refused(tmp_path, [*command, *ENV, "--steps", "256"], "less than one iteration")
    assert "num_envs=8 x rollout_len=128 = 1,024 env steps" in output


def test_a_presets_env_arguments_apply_to_its_own_env_only():
    own = assemble_config([], preset="cue-recall")
    assert own.env_kwargs, "the preset sets its env's arguments"
    with pytest.raises(ConfigError, match=r"--preset cue-recall sets env.cue_distance=10 for rnnppo/CueRecall-v0"):
        assemble_config([], preset="cue-recall", env="CartPole-v1")
    assert assemble_config([], preset="pendulum-novel", env="Pendulum-v1").env == "Pendulum-v1"  # none to misapply


@pytest.mark.parametrize("command", [["train"], ["sweep", "seq_len=2,4"]])
def test_a_preset_with_env_arguments_on_another_env_is_refused_in_one_line(tmp_path, command):
    output = refused(tmp_path, [*command, "--preset", "cue-recall", "--env", "CartPole-v1"], "not for CartPole-v1")
    assert "give --env rnnppo/CueRecall-v0" in output


def test_mlflow_tracking_uri_comes_from_the_option_then_the_environment_then_the_results_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    odd = tmp_path / "a?b#c d"
    assert mlflow_tracking_uri(None, odd) == default_mlflow_uri(odd)
    assert "?" not in default_mlflow_uri(odd) and "#" not in default_mlflow_uri(odd)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert mlflow_tracking_uri(None, odd) == "http://mlflow.example:5000"
    assert mlflow_tracking_uri("sqlite:///x.db", odd) == "sqlite:///x.db"


@pytest.mark.slow
def test_the_default_mlflow_database_lands_in_a_results_folder_with_a_question_mark(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from rnnppo.core.runs.loggers import prepare_loggers

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    odd = tmp_path / "runs?v=1#x"
    prepare_loggers(["mlflow"], odd)
    assert (odd / "mlflow.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [odd.name], "no database elsewhere"


def test_an_optuna_storage_as_the_mlflow_uri_is_one_line(tmp_path):
    pytest.importorskip("mlflow")
    optuna_db = tmp_path / "optuna.db"
    optuna.create_study(storage=f"sqlite:///{optuna_db}", study_name="s")
    words = ["train", *TINY, *ENV, "--steps", "64", "--logger", "mlflow", "--mlflow-uri", f"sqlite:///{optuna_db}"]
    refused(tmp_path, words, "is an Optuna storage; give MLflow a database of its own")


def test_an_unreachable_mlflow_database_is_one_line_with_the_password_masked(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("psycopg")
    uri = "postgresql://alice:Sekr1t@127.0.0.1:9/mlflow"  # nothing listens on port 9
    words = ["train", *TINY, *ENV, "--steps", "64", "--logger", "mlflow", "--mlflow-uri", uri]
    output = refused(tmp_path, words, "MLflow tracking URI postgresql://alice:***@127.0.0.1:9/mlflow cannot be used")
    assert "Sekr1t" not in output


def test_printed_report_commands_quote_their_paths(tmp_path):
    folder = tmp_path / "my results $HOME"
    command = report_command("sqlite:////db/x y.db", "a study", folder)
    assert shlex.split(command) == [
        "rnnppo",
        "report",
        str(folder),
        "--storage",
        "sqlite:////db/x y.db",
        "--study",
        "a study",
    ]


def test_the_printed_schedule_quotes_paths_for_cron_and_systemd(tmp_path, monkeypatch):
    folder = tmp_path / "night 100% $x"
    folder.mkdir()
    monkeypatch.chdir(folder)
    text = schedule_text(folder / "nightly.toml")
    [cron] = [line for line in text.splitlines() if line.startswith("0 2 * * * ")]
    command = cron[len("0 2 * * * ") :]
    assert "%" not in command.replace("\\%", ""), "a bare % would end cron's command"
    words = shlex.split(command.replace("\\%", "%"))
    assert words[:3] == ["cd", str(folder), "&&"]
    assert str(folder / "nightly.toml") in words
    [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert f'"{str(folder / "nightly.toml").replace("%", "%%").replace("$", "$$")}"' in exec_start
    [workdir] = [line for line in text.splitlines() if line.startswith("WorkingDirectory=")]
    assert workdir == f"WorkingDirectory={str(folder).replace('%', '%%')}"


def test_a_crafted_checkpoint_is_refused_without_torchs_advice_to_unpickle_it(tmp_path):
    out = tmp_path / "results"
    words = ["train", *TINY, *ENV, "--steps", "64", "--out", str(out), "--name", "run"]
    assert runner.invoke(app, words).exit_code == 0
    run_dir = out / "runs" / "run"
    (run_dir / "summary.json").unlink()  # a killed run, as --resume finds it

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": 1, "x": Evil()}, run_dir / "checkpoint.pt")
    result = runner.invoke(app, ["train", "--resume", str(run_dir)])
    one_line_exit_2(result)
    assert "not an rnnppo checkpoint; refusing to unpickle it" in result.output
    assert "weights_only" not in result.output and "pwned" not in result.output
