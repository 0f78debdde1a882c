"""A recurrent policy built by hand whose memory is known: on CueRecall it writes the cue into its one LSTM
cell at the episode's first step, never forgets it, and turns to the cued side at every step after. Its
memory horizon is therefore the whole episode (cue_distance steps back), whatever max_seq_len says."""

from __future__ import annotations

import torch

from rnnppo.core.config import TrainConfig, build_config
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.model import RecurrentPolicy, build_policy


def cue_latch(cue_distance: int, max_seq_len: int = 2) -> tuple[TrainConfig, RecurrentPolicy, int]:
    """(config, policy, obs_dim): no encoder, a 1-unit LSTM reading [cue_left, cue_right, corridor, junction]."""
    settings = {"env_kwargs": {"cue_distance": cue_distance}, "max_seq_len": max_seq_len}
    config = build_config({"env": "rnnppo/CueRecall-v0", "fcnet_hiddens": [], "lstm_cell_size": 1, **settings})
    obs_space, action_space = describe_spaces(config)
    policy, _, obs_dim = build_policy(config, obs_space, action_space)
    rnn = policy.actor.rnn
    with torch.no_grad():
        for param in policy.parameters():
            param.zero_()
        # PyTorch's gate rows: input, forget, cell candidate, output
        rnn.weight_ih_l0[0] = torch.tensor([20.0, 20.0, 0.0, 0.0])
        rnn.bias_ih_l0[0] = -10.0  # the input gate opens at the cue only
        rnn.bias_ih_l0[1] = 20.0  # the forget gate stays open: the cell keeps what it holds
        rnn.weight_ih_l0[2] = torch.tensor([5.0, -5.0, 0.0, 0.0])  # writes about +1 for left, -1 for right
        rnn.bias_ih_l0[3] = 20.0  # the output gate always shows the cell
        policy.pi.weight[:, 0] = torch.tensor([10.0, -10.0])  # action 0 (left) while the cell says left
    return config, policy.eval(), obs_dim
