"""The sweep grammar: choices, ranges, fixed values, aliases, encoding for Optuna, and bad input."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.core.config import ConfigError
from rnnppo.sweeps.space import Choice, Fixed, Range, SearchSpace, decode_param, encode_param, parse_word


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("seq_len=4,8,20", Choice("max_seq_len", (4, 8, 20))),
        ("cell=32,64", Choice("lstm_cell_size", (32, 64))),
        ("emb=none,32", Choice("encoder_out_size", (None, 32))),
        ("fcnet_hiddens=[64],[64,64]", Choice("fcnet_hiddens", ((64,), (64, 64)))),
        ("rnn_type=lstm,gru,none", Choice("rnn_type", ("lstm", "gru", "none"))),
        ("lstm_use_prev_action=true,false", Choice("lstm_use_prev_action", (True, False))),
        ("lr=1e-4..1e-2:log", Range("lr", 1e-4, 1e-2, log=True, integer=False)),
        ("gamma=0..1", Range("gamma", 0.0, 1.0, log=False, integer=False)),
        ("seq_len=4..32", Range("max_seq_len", 4, 32, log=False, integer=True)),
        ("cell=16..256:log", Range("lstm_cell_size", 16, 256, log=True, integer=True)),
        ("env.cue_distance=5..15", Range("env.cue_distance", 5, 15, log=False, integer=True)),
        ("env.cue_distance=5,10", Choice("env.cue_distance", (5, 10))),
        ("seq_len=16", Fixed("max_seq_len", 16)),
        ("fcnet_hiddens=[32,32]", Fixed("fcnet_hiddens", (32, 32))),
    ],
)
def test_words_parse_to_typed_dimensions_under_full_names(word, expected):
    assert parse_word(word) == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("seq_len=4,,8", "empty choice"),
        ("seq_len=4,8,", "empty choice"),
        ("lr=1..", "both ends"),
        ("lr=..1", "both ends"),
        ("lr=0..1:log", "log range needs a low end above 0"),
        ("lr=1..1e-3", "low end must be below"),
        ("lr=1e-4..1e-2:exp", "only range suffix"),
        ("seq_len=0,8", "max_seq_len=0 is invalid"),
        ("seq_len=0..8", "max_seq_len=0 is invalid"),
        ("seq_len=2.5..8", "integer setting"),
        ("seq_len=four,8", "not an integer"),
        ("seq_lenn=4,8", "did you mean"),
        ("rnn_type=lstm..gru", "cannot be a range"),
        ("fcnet_hiddens=64,[64]", "bracketed list"),
        ("seq_len=4,4", "same value twice"),
        ("seed=1,2", "--seeds"),
        ("seq_len=", "no value"),
        ("seq_len", "NAME=VALUE"),
        ("lr=a..b", "not a number"),
    ],
)
def test_malformed_words_raise_one_clear_config_error(word, message):
    with pytest.raises(ConfigError, match=None) as info:
        SearchSpace.parse([word])
    assert message in str(info.value)


def test_the_same_setting_twice_is_an_error_even_through_an_alias():
    with pytest.raises(ConfigError, match="given twice"):
        SearchSpace.parse(["seq_len=4,8", "max_seq_len=16"])


def test_grid_points_are_the_product_and_fixed_values_are_not_swept():
    space = SearchSpace.parse(["seq_len=4,8,20", "cell=32,64", "lr=3e-4"])
    assert space.is_grid and space.grid_size == 6
    assert space.swept_names == ("max_seq_len", "lstm_cell_size")
    assert space.fixed() == {"lr": 3e-4}
    points = space.grid_points()
    assert len(points) == 6 and len({tuple(p.items()) for p in points}) == 6
    assert points[0] == {"max_seq_len": 4, "lstm_cell_size": 32}


def test_a_range_makes_the_space_not_a_grid():
    space = SearchSpace.parse(["seq_len=4,8", "lr=1e-4..1e-2:log"])
    assert not space.is_grid
    with pytest.raises(ConfigError, match="not a grid"):
        space.grid_points()


def test_list_values_are_stored_as_text_and_decoded_back():
    assert encode_param("fcnet_hiddens", (64, 64)) == "[64,64]"
    assert decode_param("fcnet_hiddens", "[64,64]") == (64, 64)
    assert decode_param("max_seq_len", 8) == 8
    assert decode_param("encoder_out_size", None) is None


def test_suggest_returns_typed_values_through_a_real_optuna_trial():
    space = SearchSpace.parse(["fcnet_hiddens=[64],[64,64]", "seq_len=2..4", "lr=1e-4..1e-2:log"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = space.suggest(trial)
    assert params["fcnet_hiddens"] in ((64,), (64, 64))
    assert isinstance(params["max_seq_len"], int) and 2 <= params["max_seq_len"] <= 4
    assert 1e-4 <= params["lr"] <= 1e-2
    assert set(trial.params) == {"fcnet_hiddens", "max_seq_len", "lr"}


def test_enqueued_grid_points_come_back_from_suggest():
    space = SearchSpace.parse(["fcnet_hiddens=[64],[64,64]", "seq_len=4,8"])
    study = optuna.create_study()
    point = space.grid_points()[3]
    study.enqueue_trial({k: space.encode_param(k, v) for k, v in point.items()})
    assert space.suggest(study.ask()) == point


# --- round trips (hypothesis) ------------------------------------------------------------------

int_fields = st.sampled_from(["max_seq_len", "lstm_cell_size", "num_epochs", "rollout_len"])
choice_ints = st.lists(st.integers(1, 200), min_size=2, max_size=5, unique=True)
widths = st.lists(st.integers(1, 512), min_size=1, max_size=3).map(tuple)


@st.composite
def dims(draw):
    kind = draw(st.sampled_from(["int_choice", "int_range", "float_range", "list_choice", "fixed"]))
    if kind == "int_choice":
        return Choice(draw(int_fields), tuple(draw(choice_ints)))
    if kind == "int_range":
        low = draw(st.integers(1, 100))
        return Range(draw(int_fields), low, low + draw(st.integers(1, 100)), draw(st.booleans()), True)
    if kind == "float_range":
        low = draw(st.floats(1e-6, 1.0))
        high = draw(st.floats(low * 1.01 + 1e-9, 10.0))
        return Range("lr", low, high, draw(st.booleans()), False)
    if kind == "list_choice":
        values = draw(st.lists(widths, min_size=2, max_size=4, unique=True))
        return Choice("fcnet_hiddens", tuple(values))
    return Fixed(draw(int_fields), draw(st.integers(1, 64)))


@settings(max_examples=200, deadline=None)
@given(dim=dims())
def test_every_dimension_prints_as_a_word_that_parses_back_to_itself(dim):
    assert parse_word(dim.text()) == dim


@settings(max_examples=100, deadline=None)
@given(values=st.lists(widths, min_size=1, max_size=4))
def test_encode_then_decode_is_the_identity_for_list_values(values):
    for value in values:
        assert decode_param("fcnet_hiddens", encode_param("fcnet_hiddens", value)) == value


@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(choice_ints, min_size=1, max_size=3))
def test_grid_size_is_the_product_of_the_choice_counts(sizes):
    names = ["max_seq_len", "lstm_cell_size", "rollout_len"]
    space = SearchSpace(tuple(Choice(n, tuple(v)) for n, v in zip(names, sizes, strict=False)))
    expected = 1
    for values in sizes:
        expected *= len(values)
    assert space.grid_size == expected == len(space.grid_points())
    assert SearchSpace.parse(space.words()) == space
