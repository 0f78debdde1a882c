"""Settings that cannot change training under the other settings (e.g. `curiosity_eta` with curiosity
off): a sweep over one of them trains the same model for every value and measures only noise.

Each rule reads the code it stands for: the trainer builds the ICM only when `curiosity` is on, the
model has no recurrent state when `rnn_type=none`, evaluation runs only when `eval_episodes > 0`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rnnppo.core.config import FIELDS, TrainConfig

Rule = tuple[Callable[[str], bool], Callable[[TrainConfig], bool], str]

RULES: tuple[Rule, ...] = (
    (
        lambda name: FIELDS[name].metadata.get("group") == "curiosity" and name != "curiosity",
        lambda config: not config.curiosity,
        "has no effect: curiosity is off (curiosity=false), so no ICM is built and its settings are never read",
    ),
    (
        lambda name: name == "state_in",
        lambda config: config.rnn_type == "none",
        "has no effect: rnn_type=none has no recurrent state to start sequences from",
    ),
    (
        lambda name: name == "eval_deterministic",
        lambda config: config.eval_episodes == 0,
        "has no effect: eval_episodes=0, so no evaluation is run",
    ),
    (
        lambda name: name == "max_seq_len",
        lambda config: config.rnn_type == "none",
        "has no memory effect: rnn_type=none has no memory to truncate; it only changes how steps are "
        "grouped into minibatches",
    ),
    (
        lambda name: name == "normalize_images",
        lambda config: config.image_onehot > 0,
        "has no effect: image_onehot is set, so the conv reads one-hot planes of the raw codes",
    ),
)
"""(which settings, under which configuration, why). `lstm_cell_size` and `lstm_use_prev_*` are not
here: with rnn_type=none the dense layer that replaces the cell has lstm_cell_size units and still
receives the previous action and reward."""


def inert_settings(config: TrainConfig, names: Iterable[str]) -> dict[str, str]:
    """Of `names` (full setting names), those that cannot change training under `config`, with why."""
    found = {}
    for name in names:
        if name not in FIELDS:
            continue  # env.X and the like: the env decides
        for applies_to, holds, reason in RULES:
            if applies_to(name) and holds(config):
                found[name] = reason
                break
    return found
