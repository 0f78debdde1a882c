"""Bad input: the space and override grammar under generated strings, hostile study names and output
paths, wrong nightly TOML files, and storage URLs that cannot work. Every one either works or fails
with exit code 2 and one line (passwords masked), never a traceback, and writes nothing."""

from __future__ import annotations

import json
import socket
import string
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rnnppo.cli.app import app
from rnnppo.core.config import ConfigError, parse_overrides
from rnnppo.results.studies import open_readonly, storage_for_results
from rnnppo.storage.backend import default_storage_url, open_storage
from rnnppo.sweeps.space import SearchSpace
from rnnppo.sweeps.study import SweepError, check_study_name, study_folder
from tests.faults.harness import runner

NAMES = ["seq_len", "max_seq_len", "cell", "emb", "lr", "gamma", "fcnet_hiddens", "head_fcnet_hiddens"]
NAMES += ["rnn_type", "vf_clip_param", "lstm_use_prev_action", "num_envs", "seed", "env", "env.x", "steps"]
NAMES += ["bogus", "", " "]
PIECES = ["1", "2", "0", "-1", "1e-3", "0.5", "..", ":log", ",", "[", "]", "[64,64]", "true", "none", "nan", "inf"]
PIECES += ["lstm", " ", "1e400", "9" * 30, "=", "\x00", "é", "$(touch pwned)"]
grammar_word = st.builds(
    lambda name, eq, pieces: name + eq + "".join(pieces),
    st.sampled_from(NAMES),
    st.sampled_from(["=", "=="]),
    st.lists(st.sampled_from(PIECES), max_size=5),
)
words = st.lists(st.one_of(grammar_word, st.text(max_size=20)), max_size=4)
CLI_FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_line_exit_2(result) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def shown_in(error: Exception, output: str) -> bool:
    """Whether the CLI printed the whole message: on its one line, line breaks as \\n (the terminal's
    rendering of tabs and control characters aside)."""

    def visible(text: str) -> str:
        return "".join(char for char in text if char.isprintable() and not char.isspace())

    return visible("\\n".join(str(error).strip().splitlines())) in visible(output)


# --- the grammar ---------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(words=words)
@example(words=["env.x=nan"])  # found by this test: NaN != NaN made a study conflict with its own re-run
@example(words=["env.x=1,nan", "seq_len=2,4"])
@example(words=["seq_len=2\n,4"])
def test_any_space_words_parse_or_raise_one_config_error(words):
    try:
        space = SearchSpace.parse(words)
    except ConfigError as err:
        assert str(err).strip()
        return
    # What parses prints back to words that parse to the same space, and survives a storage round trip
    # (a study compares its stored spec with every re-run's: a NaN would never equal itself).
    assert SearchSpace.parse(space.words()) == space
    stored = {"space": space.spec(), "fixed": _jsonable(space.fixed())}
    assert json.loads(json.dumps(stored)) == stored


def _jsonable(fixed: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fixed.items()}


@settings(max_examples=400, deadline=None)
@given(words=words)
def test_any_override_words_parse_or_raise_one_config_error(words):
    try:
        parse_overrides(words)
    except ConfigError as err:
        assert str(err).strip()


@CLI_FAST
@given(words=words)
@example(words=["seq_len=2\n,4"])  # found by this test: the error line was cut at the newline
def test_sweep_with_any_words_exits_2_with_one_line_and_writes_nothing(words):
    assume(not any(word.startswith("-") for word in words))  # those are options to the CLI itself
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "results"
        # A storage that can never open: input that parses runs into it, so nothing ever trains.
        args = ["sweep", *words, "--env", "rnnppo/CueRecall-v0", "--storage", "nope://u:pw@h", "--out", str(out)]
        result = runner.invoke(app, args)
        one_line_exit_2(result)
        assert not out.exists()
        assert not (Path.cwd() / "pwned").exists()
    try:
        SearchSpace.parse(words)
    except ConfigError as err:
        assert shown_in(err, result.output), "the whole message, on its one line"


@CLI_FAST
@given(words=words)
def test_train_with_any_words_exits_2_with_one_line_and_writes_nothing(words):
    assume(not any(word.startswith("-") for word in words))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "results"
        # --device tpu is always invalid, so input that parses still stops before training.
        args = ["train", *words, "--env", "rnnppo/CueRecall-v0", "--device", "tpu", "--out", str(out)]
        result = runner.invoke(app, args)
        one_line_exit_2(result)
        assert not out.exists()
    try:
        parse_overrides(words)
    except ConfigError as err:
        assert shown_in(err, result.output), "the whole message, on its one line"


# --- study names and output paths ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(st.text(), st.text(alphabet=string.printable + "\x00", min_size=1, max_size=200)))
def test_a_study_name_is_refused_or_stays_inside_the_results_folder(name):
    results = Path("/srv/results")
    try:
        check_study_name(name)
    except SweepError:
        return
    assert "/" not in name and "\x00" not in name and ".." not in name and len(name) <= 120
    assert results in study_folder(results, name).parents


HOSTILE_NAMES = [
    "../escape",
    "a/../../b",
    "/etc",
    "a/b",
    "x\x00y",
    "$(touch pwned)",
    "`touch pwned`",
    "a;touch pwned",
    "a|b",
    "'quoted'",
    "-rf",
    ".hidden",
    "..",
    "",
    " ",
    "a" * 10_000,
    "é",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("option", ["--study", "--warm-start"])
def test_a_hostile_study_name_exits_2_and_creates_nothing(tmp_path, monkeypatch, name, option):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results"
    # (A storage that cannot open stops a name that is wrongly accepted before anything trains.)
    args = ["sweep", "seq_len=2,4", "--env", "rnnppo/CueRecall-v0", option, name, "--storage", "nope://", "--out"]
    result = runner.invoke(app, [*args, str(out)])
    one_line_exit_2(result)
    assert "study name" in result.output
    assert list(tmp_path.iterdir()) == [], "nothing written, inside or outside the results folder"


def test_the_longest_allowed_study_name_works_in_the_storage(tmp_path):
    name = ("a" + "._-" * 40)[:120]
    assert check_study_name(name) == name
    optuna.create_study(storage=open_storage(default_storage_url(tmp_path), heartbeat=False), study_name=name)
    assert optuna.get_all_study_names(open_readonly(storage_for_results(tmp_path))) == [name]
    assert study_folder(tmp_path, name).parent == tmp_path.resolve()


@pytest.mark.parametrize("folder", ["res?mode=ro", "a#b", "100%41", "with space", "q?x=1#y%20z"])
def test_url_characters_in_the_results_folder_keep_the_storage_inside_it(tmp_path, folder):
    out = tmp_path / folder
    optuna.create_study(storage=open_storage(default_storage_url(out), heartbeat=False), study_name="s")
    assert (out / "rnnppo.db").is_file()
    assert list(tmp_path.iterdir()) == [out], "no database outside the results folder"
    assert optuna.get_all_study_names(open_readonly(storage_for_results(out))) == ["s"]


# (A NUL cannot reach --out from a shell, and click refuses it with its usage box; the nightly tests put
# one in a TOML file's `results`, where it can.)
@pytest.mark.parametrize("out", ["x" * 300, "deep/" + "y" * 300 + "/results"])
def test_an_unusable_output_path_exits_2_with_one_line(tmp_path, out):
    result = runner.invoke(app, ["sweep", "seq_len=2,4", "--env", "rnnppo/CueRecall-v0", "--out", str(tmp_path / out)])
    one_line_exit_2(result)
    assert "File name too long" in result.output
    assert not [path for path in tmp_path.rglob("*") if not path.is_dir()], "no file written"


# --- nightly TOML files -------------------------------------------------------------------------------

GOOD = """[nightly]
env = "rnnppo/CueRecall-v0"
space = ["seq_len=2,4"]
study_prefix = "n"
results = "{results}"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('seeds = "three"', "[nightly] seeds='three' is not an integer"),
        ("seeds = 0", "seeds=0 must be 1 or more"),
        ('seeds = "3"\nsteps = 0.0', "steps=0 must be 1 or more"),
        ("steps = -5", "must be 1 or more"),
        ("jobs = 1.5", "[nightly] jobs=1.5 is not an integer"),
        ("trials = true", "trials=True is not an integer"),
        ("time_budget_s = 'soon'", "time_budget_s='soon' is not a number"),
        ("speed_drop = -0.5", "speed_drop=-0.5 must not be negative"),
        ("history_nights = [1]", "history_nights=[1] is not an integer"),
        ("storage = 5", "[nightly] storage=5 must be text"),
        ("reference = 8", "must be text"),
        ("sampler = ['grid']", "must be text"),
        ("study_prefx = 'x'", "did you mean 'study_prefix'"),
        ("seed = 3", "did you mean 'seeds'"),
        ('study_prefix = "a/b"\nenv = "x"', "not valid TOML"),
    ],
)
def test_a_wrong_nightly_value_exits_2_with_one_line_naming_it(tmp_path, change, message):
    results = tmp_path / "results"
    path = tmp_path / "night.toml"
    path.write_text(GOOD.format(results=results) + change + "\n")
    result = runner.invoke(app, ["nightly", str(path)])
    one_line_exit_2(result)
    assert message in result.output
    assert not results.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[nightly]\nspace = ["seq_len=2,4"]\nstudy_prefix = "n"\n', "needs 'env'"),
        ('[nightly]\nenv = "CartPole-v1"\nstudy_prefix = "n"\n', "needs 'space'"),
        ("nightly = 5\n[settings]\nlr = 0.1\n", "needs a [nightly] table"),
        ('[nightly]\nenv = "x"\nspace = []\nstudy_prefix = "n"\n[setings]\nlr = 1\n', "did you mean [settings]"),
        ('[nightly]\nenv = "x"\nspace = []\nstudy_prefix = "n"\nsettings = 3\n', "unknown [nightly] key 'settings'"),
        ('settings = 3\n[nightly]\nenv = "x"\nspace = []\nstudy_prefix = "n"\n', "[settings] must be a table"),
        ('[nightly]\nenv = "x"\nspace = []\nstudy_prefix = "a/b"\n', "study name"),
        ('[nightly]\nenv = "x"\nspace = []\nstudy_prefix = "n\\u0000"\n', "study name"),
        (
            '[nightly]\nenv = "CartPole-v1"\nspace = ["seq_len=2,4"]\nstudy_prefix = "n"\n[settings]\nlr = "fast"\n',
            "lr=",
        ),
        (
            '[nightly]\nenv = "CartPole-v1"\nspace = ["seq_len=2,4"]\nstudy_prefix = "n"\n[settings]\nlrr = 1\n',
            "did you mean",
        ),
        (
            '[nightly]\nenv = "CartPole-v1"\nspace = ["seq_len=2,4"]\nstudy_prefix = "n"\nresults = "r\\u0000"\n',
            "cannot be used",
        ),
    ],
)
def test_a_nightly_file_with_missing_or_misplaced_parts_exits_2_with_one_line(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "night.toml"
    path.write_text(text)
    result = runner.invoke(app, ["nightly", str(path)])
    one_line_exit_2(result)
    assert message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.toml"]


# --- storage URLs -----------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"redis://user:{SECRET}@localhost/0", "unsupported scheme"),
        (f"postgresql://user:{SECRET}@127.0.0.1:{{port}}/rnnppo", "cannot open storage"),
        (f"postgresql://user:{SECRET}@@127.0.0.1:{{port}}/rnnppo", "cannot open storage"),
        (f"postgresql://user@127.0.0.1:{{port}}/rnnppo?password={SECRET}", "cannot open storage"),
        (f"postgresql://user:{SECRET}@[::1/rnnppo", "cannot open storage"),
        (f"mysql://user:{SECRET}@127.0.0.1:{{port}}/rnnppo", "storage"),
        ("sqlite:////proc/rnnppo-faults/no/such.db", "storage"),
    ],
)
@pytest.mark.parametrize("command", ["sweep", "report", "best"])
def test_a_storage_url_that_cannot_work_is_one_line_exit_2_with_the_password_masked(tmp_path, url, message, command):
    url = url.replace("{port}", str(closed_port()))
    args = {
        "sweep": ["sweep", "seq_len=2,4", "--env", "rnnppo/CueRecall-v0", "--out", str(tmp_path / "r")],
        "report": ["report"],
        "best": ["best"],
    }[command]
    began = time.monotonic()
    result = runner.invoke(app, [*args, "--storage", url])
    one_line_exit_2(result)
    assert time.monotonic() - began < 15, "an unreachable server fails fast"
    assert message in result.output or command != "sweep"
    assert SECRET not in result.output and "3cr3t" not in result.output
    assert not (tmp_path / "r").exists()
