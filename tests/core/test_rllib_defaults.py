"""The table of defaults in docs/rllib-differences.md next to RLlib's: rnnppo's column is TrainConfig's
defaults, RLlib's is what RLlib's source sets, so a row with equal columns
(a claim that rnnppo keeps RLlib's default) holds."""

from __future__ import annotations

from pathlib import Path

from rnnppo.core.config import FIELDS, TrainConfig, coerce

README = Path(__file__).resolve().parents[2] / "docs" / "rllib-differences.md"
MARKER = "<!-- rllib-defaults:"

# RLlib's defaults for the same names, old API stack (the `use_lstm` wrapper): PPOConfig / AlgorithmConfig
# (rllib/algorithms/ppo/ppo.py), MODEL_DEFAULTS (rllib/models/catalog.py) and Curiosity's signature
# (rllib/utils/exploration/curiosity.py). vf_share_layers: the wrapper always shares (ray#15166);
# state_in: RLlib always trains from the stored state; observation_filter: AlgorithmConfig's "NoFilter".
RLLIB = {
    "fcnet_hiddens": (256, 256),
    "fcnet_activation": "tanh",
    "lstm_cell_size": 256,
    "max_seq_len": 20,
    "lstm_use_prev_action": False,
    "lstm_use_prev_reward": False,
    "vf_share_layers": True,
    "state_in": "stored",
    "observation_filter": "none",
    "lr": 5e-5,
    "gamma": 0.99,
    "lambda_": 1.0,
    "clip_param": 0.3,
    "vf_clip_param": 10.0,
    "vf_loss_coeff": 1.0,
    "entropy_coeff": 0.0,
    "num_epochs": 30,
    "minibatch_size": 128,
    "grad_clip": None,
    "curiosity_feature_dim": 288,
    "curiosity_inverse_hiddens": (256,),
    "curiosity_forward_hiddens": (256,),
    "curiosity_beta": 0.2,
    "curiosity_eta": 1.0,
    "curiosity_lr": 1e-3,
}


def readme_rows() -> dict[str, tuple[str, str]]:
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(MARKER))
    rows = {}
    for line in lines[start + 3 :]:
        if not line.startswith("|"):
            break
        name, ours, theirs = (cell.strip() for cell in line.strip("|").split("|"))
        rows[name.strip("`")] = (ours, theirs)
    return rows


def test_the_readme_table_lists_rnnppos_defaults_and_rllibs():
    rows = readme_rows()
    assert set(rows) == set(RLLIB), "the README table and the recorded RLlib defaults name the same settings"
    defaults = TrainConfig()
    for name, (ours, theirs) in rows.items():
        assert name in FIELDS, name
        assert coerce(name, ours) == getattr(defaults, name), f"{name}: README says {ours}"
        assert coerce(name, theirs) == RLLIB[name], f"{name}: README says RLlib's is {theirs}"


def test_the_defaults_the_readme_says_are_rllibs_are_rllibs():
    """The rows with equal columns, checked without the README in between (it could be edited to agree)."""
    defaults = TrainConfig()
    same = {name for name, (ours, theirs) in readme_rows().items() if ours == theirs}
    assert same == {
        "fcnet_activation",
        "lstm_use_prev_action",
        "lstm_use_prev_reward",
        "state_in",
        "entropy_coeff",
        "curiosity_feature_dim",
        "curiosity_inverse_hiddens",
        "curiosity_forward_hiddens",
        "curiosity_beta",
        "curiosity_eta",
        "curiosity_lr",
    }
    for name in same:
        assert getattr(defaults, name) == RLLIB[name], name
