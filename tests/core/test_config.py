"""The config contract: names, aliases, typed parsing, validation, TOML round trips."""

from __future__ import annotations

import pytest

from rnnppo.core.config import (
    ConfigError,
    TrainConfig,
    build_config,
    canonical_name,
    load_toml,
    parse_overrides,
    to_toml,
)


@pytest.mark.parametrize(
    ("alias", "full"),
    [
        ("seq_len", "max_seq_len"),
        ("cell", "lstm_cell_size"),
        ("emb", "encoder_out_size"),
        ("max_seq_len", "max_seq_len"),
    ],
)
def test_aliases_resolve_to_full_names(alias, full):
    assert canonical_name(alias) == full


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'lstm_cell_size'"):
        canonical_name("lstm_cel_size")


def test_overrides_are_typed():
    values = parse_overrides(
        [
            "seq_len=8",
            "fcnet_hiddens=[64,32]",
            "lr=3e-4",
            "vf_share_layers=false",
            "grad_clip=none",
            "env.cue_distance=12",
            "total_steps=1e5",
        ]
    )
    assert values == {
        "max_seq_len": 8,
        "fcnet_hiddens": (64, 32),
        "lr": 3e-4,
        "vf_share_layers": False,
        "grad_clip": None,
        "env_kwargs": {"cue_distance": 12},
        "total_steps": 100000,
    }


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("max_seq_len=0", "max_seq_len=0 is invalid"),
        ("lstm_cell_size=-4", "lstm_cell_size=-4 is invalid"),
        ("fcnet_hiddens=64", "bracketed list"),
        ("fcnet_hiddens=[64,,32]", "empty list item"),
        ("lr=fast", "is not a number"),
        ("max_seq_len=2.5", "is not an integer"),
        ("vf_share_layers=yes", "must be true or false"),
        ("rnn_type=lstn", "choose one of lstm, gru, none"),
        ("observation_filter=MeanStd", "choose one of none, mean_std"),
        ("gamma=1.5", "must be in [0, 1]"),
        ("minibatch_size=8", "must be >= max_seq_len"),
        ("curiosity_beta=2", "must be in [0, 1]"),
        ("lr=nan", "finite"),
        ("novalue", "is not NAME=VALUE"),
    ],
)
def test_bad_values_fail_with_one_clear_line(word, message):
    with pytest.raises(ConfigError) as info:
        build_config(parse_overrides([word]))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_rllib_observation_filter_names_are_accepted():
    assert build_config(parse_overrides(["observation_filter=MeanStdFilter"])).observation_filter == "mean_std"
    assert build_config(parse_overrides(["observation_filter=NoFilter"])).observation_filter == "none"


def test_encoder_out_size_adds_a_layer_after_fcnet_hiddens():
    assert build_config(fcnet_hiddens=(64,)).encoder_widths == (64,)
    assert build_config(fcnet_hiddens=(64,), encoder_out_size=1024).encoder_widths == (64, 1024)
    assert build_config(fcnet_hiddens=(), encoder_out_size=32).encoder_widths == (32,)


def test_toml_round_trip_keeps_every_field(tmp_path):
    config = build_config(
        parse_overrides(
            [
                "seq_len=4",
                "grad_clip=none",
                "fcnet_hiddens=[]",
                "env.cue_distance=7",
                "encoder_out_size=16",
                "kl_target=0.02",
            ]
        )
    )
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert build_config(load_toml(path)) == config


def test_toml_accepts_group_tables_and_aliases(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\nseq_len = 8\ncell = 32\n[env_kwargs]\ncue_distance = 5\n")
    config = build_config(load_toml(path))
    assert (config.max_seq_len, config.lstm_cell_size, config.env_kwargs) == (8, 32, {"cue_distance": 5})


def test_toml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seq_len = [\n")
    with pytest.raises(ConfigError, match="bad.toml is not valid TOML"):
        load_toml(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_from_dict_inverts_to_dict():
    config = build_config(lstm_cell_size=12, fcnet_hiddens=(5, 6), env_kwargs={"a": 1})
    assert TrainConfig.from_dict(config.to_dict()) == config
