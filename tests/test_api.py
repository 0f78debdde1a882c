"""The Python API: `import rnnppo` is light; train, sweep and load work from a notebook cell, with the
command line's checks and its files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

import rnnppo
from rnnppo.api import space_words
from rnnppo.errors import ConfigError, InputError, RunFileError, StorageError
from rnnppo.sweeps.spec import SweepRequest, build_spec
from tests.shared import TINY_SETTINGS

TINY = {**TINY_SETTINGS, "cell": 8, "seq_len": 4, "eval_episodes": 1}


def test_import_rnnppo_loads_neither_torch_nor_the_cli():
    code = (
        "import sys, rnnppo; print(sorted(m for m in ('torch', 'optuna', 'typer', 'rnnppo.cli') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
    assert {"train", "sweep", "load"} <= set(dir(rnnppo))


def test_train_then_load_gives_back_the_same_run(tmp_path):
    run_dir = tmp_path / "run"
    result = rnnppo.train("rnnppo/StatelessCartPole-v0", 64, out=run_dir, seed=3, **TINY)
    assert result.config.max_seq_len == 4 and result.config.lstm_cell_size == 8 and result.config.seed == 3
    loaded = rnnppo.load(run_dir)
    assert loaded.config == result.config.replace(device="cpu")
    for key in ("env_steps", "iterations", "final_train_return", "eval_returns"):
        assert loaded.summary[key] == pytest.approx(result.summary[key]), key
    assert list(loaded.metrics["iteration"]) == [row["iteration"] for row in result.metrics]
    for (name, a), (_, b) in zip(loaded.policy.state_dict().items(), result.policy.state_dict().items(), strict=True):
        assert torch.equal(a, b.cpu()), name
    assert not loaded.policy.training


def test_train_takes_a_config_and_writes_nothing_without_out(tmp_path):
    base = rnnppo.make_config({"seq_len": 4, "env.max_steps": 30}, **TINY)
    result = rnnppo.train("rnnppo/StatelessCartPole-v0", 32, config=base, lr=5e-4)
    assert result.out_dir is None and result.config.lr == 5e-4 and result.config.env_kwargs == {"max_steps": 30}
    toml = tmp_path / "base.toml"
    toml.write_text("max_seq_len = 2\n[ppo]\nlr = 0.01\n")
    assert rnnppo.make_config(toml, cell=16).max_seq_len == 2
    assert rnnppo.make_config(toml, cell=16).lr == 0.01


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"seq_lne": 4}, ConfigError, "did you mean 'seq_len'"),
        ({"max_seq_len": 0}, ConfigError, "max_seq_len=0 is invalid"),
        ({"env": "NoSuchEnv-v9"}, InputError, "NoSuchEnv-v9"),
    ],
)
def test_bad_input_raises_the_clis_message_and_writes_nothing(tmp_path, kwargs, error, words):
    with pytest.raises(error, match=words):
        rnnppo.train(steps=32, out=tmp_path / "run", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_an_existing_run_folder(tmp_path):
    with pytest.raises(RunFileError, match="already exists"):
        rnnppo.train("rnnppo/StatelessCartPole-v0", 32, out=tmp_path, **TINY)


def test_load_names_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunFileError, match="model.pt"):
        rnnppo.load(tmp_path)


def test_a_space_as_a_dict_is_the_same_words_as_on_the_command_line():
    assert space_words({"seq_len": [4, 8], "fcnet_hiddens": [[64], [64, 64]], "lr": "1e-4..1e-2:log", "cell": 64}) == [
        "seq_len=4,8",
        "fcnet_hiddens=[64],[64,64]",
        "lr=1e-4..1e-2:log",
        "cell=64",
    ]
    assert space_words({"fcnet_hiddens": [64, 64], "seq_len": (2, 4)}) == ["fcnet_hiddens=[64,64]", "seq_len=2,4"]
    assert space_words(["seq_len=4,8"]) == ["seq_len=4,8"]


@pytest.mark.slow  # worker processes start and import torch: about 10 s on 2 cores
def test_sweep_runs_a_grid_into_the_results_folder(tmp_path):
    fixed = {name: value for name, value in TINY.items() if name != "seq_len"}
    outcome = rnnppo.sweep(
        {"seq_len": [2, 4], **fixed}, env="rnnppo/StatelessCartPole-v0", steps=32, seeds=1, out=tmp_path
    )
    assert outcome.count(TrialState.COMPLETE) == 2 and not outcome.failures
    study = optuna.load_study(study_name=outcome.study_name, storage=f"sqlite:///{tmp_path / 'rnnppo.db'}")
    assert sorted(t.params["max_seq_len"] for t in study.trials) == [2, 4]
    first = next(Path(tmp_path, outcome.study_name).glob("*/*/model.pt")).parent
    assert rnnppo.load(first).config.max_seq_len in (2, 4)


def test_rnnppo_storage_is_the_default_storage_and_an_explicit_url_wins(tmp_path, monkeypatch):
    env_url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("RNNPPO_STORAGE", env_url)
    request = SweepRequest(env="rnnppo/StatelessCartPole-v0", out=tmp_path)
    assert build_spec(["seq_len=2,4"], request).storage_url == env_url
    explicit = f"sqlite:///{tmp_path / 'given.db'}"
    assert build_spec(["seq_len=2,4"], SweepRequest(env=request.env, storage=explicit)).storage_url == explicit
    monkeypatch.setenv("RNNPPO_STORAGE", "")
    assert build_spec(["seq_len=2,4"], request).storage_url.endswith("rnnppo.db")
    monkeypatch.setenv("RNNPPO_STORAGE", "postgres://user:hunter2@host/db")
    with pytest.raises(StorageError, match="RNNPPO_STORAGE") as caught:
        build_spec(["seq_len=2,4"], request)
    assert "hunter2" not in str(caught.value)
