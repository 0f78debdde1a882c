"""A sweep's options are declared once (rnnppo.sweeps.request.SweepRequest): the command line, the Python API
and the nightly file must offer every one of them by the same name, with the same default and help. A
field added, renamed or given another default in one place and not the others fails here."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import typer.main

import rnnppo
from rnnppo.cli.app import app
from rnnppo.errors import InputError
from rnnppo.nightly.config import NIGHT_KEYS, NOT_FOR_A_NIGHT, RENAMED, load_spec
from rnnppo.sweeps.request import SweepRequest, request_from

FIELDS = {f.name: f for f in dataclasses.fields(SweepRequest)}
CLI_ONLY = {"space", "dry_run", "progress_every"}  # the words, and what only a terminal run has


def cli_options() -> dict[str, object]:
    command = typer.main.get_command(app).commands["sweep"]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def test_the_command_line_has_every_declared_option_with_its_flag_default_and_help():
    options = cli_options()
    assert set(options) - CLI_ONLY == set(FIELDS), "rnnppo sweep's options and SweepRequest's fields differ"
    for name, declared in FIELDS.items():
        option = options[name]
        assert SweepRequest.flag(name) in option.opts, name
        assert option.help == declared.metadata["help"], name
        expected = None if declared.default in ((), None) else declared.default
        assert option.default == expected, name


def test_the_python_api_takes_every_declared_option_with_the_same_default():
    parameters = inspect.signature(rnnppo.sweep).parameters
    assert set(parameters) - {"space", "on_poll"} == set(FIELDS), "rnnppo.sweep's keywords and SweepRequest differ"
    for name, declared in FIELDS.items():
        default = parameters[name].default
        if isinstance(declared.default, Path):
            default = Path(default)
        if name == "seeds":  # N or MIN..MAX: an int is read as N
            default = str(default)
        assert default == declared.default, f"rnnppo.sweep({name}=...) defaults to {default!r}"


def test_a_nightly_file_accepts_every_declared_option_by_its_name(tmp_path):
    options = {name: field for name, field in FIELDS.items() if name not in NOT_FOR_A_NIGHT}
    values = {
        "steps": 64,
        "seeds": "5",
        "jobs": 2,
        "out": str(tmp_path / "nights"),
        "timeout": 60.0,
        "wrappers": ["gymnasium.wrappers:TimeLimit(max_episode_steps=5)"],
        "loggers": ["tensorboard"],
    }
    lines = ['env = "rnnppo/CueRecall-v0"', 'space = ["seq_len=2,4"]', 'study_prefix = "n"']
    lines += [f"{name} = {value!r}".replace("'", '"') for name, value in values.items()]
    path = tmp_path / "night.toml"
    path.write_text("[nightly]\n" + "\n".join(lines) + "\n")
    spec = load_spec(path)
    for name, value in values.items():
        got = getattr(spec.request, name)
        assert got == (tuple(value) if isinstance(value, list) else Path(value) if name == "out" else value), name
    assert set(options) - set(NIGHT_KEYS) == set(options)  # no nightly key shadows a sweep option
    assert set(RENAMED.values()) <= set(FIELDS)


def test_a_nightly_file_of_the_old_names_still_reads():
    spec = load_spec(Path(__file__).resolve().parents[1] / "fixtures" / "legacy-0.1-nightly.toml")
    assert spec.request.env is not None and spec.study_prefix


@pytest.mark.parametrize(
    "values, message",
    [
        ({"seed": 3}, "unknown option 'seed'; did you mean 'seeds'?"),
        ({"jobs": 0}, "jobs=0 must be 1 or more"),
        ({"steps": "many"}, "steps"),
    ],
)
def test_a_wrong_option_name_or_value_is_one_input_error(values, message):
    with pytest.raises(InputError, match=message.replace("?", r"\?").replace("(", r"\(")):
        request_from(values, "rnnppo.sweep()")


def test_the_api_refuses_an_unknown_keyword_before_running_anything(tmp_path):
    with pytest.raises(TypeError):
        rnnppo.sweep(["seq_len=2,4"], env="rnnppo/CueRecall-v0", steps=64, seed=3, out=tmp_path)  # type: ignore[call-arg]
    assert not (tmp_path / "rnnppo.db").exists()
