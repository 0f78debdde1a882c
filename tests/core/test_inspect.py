"""`inspect`'s sequence count is exact: with no episode end, num_envs x ceil(rollout_len / max_seq_len)
sequences of the padded length the chunking really makes (core/sequences.chunk is the reference)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.core.analysis.dataflow import describe, synthetic_spaces
from rnnppo.core.config import TrainConfig
from rnnppo.core.sequences import chunk


def training_rows(config: TrainConfig) -> dict[str, tuple[str, str]]:
    description = describe(config, *synthetic_spaces((6,), 3))
    return {row.stage: (row.shape, row.note) for row in description.training}


def test_the_issue_example_counts_56_sequences_not_52():
    config = TrainConfig(num_envs=8, rollout_len=128, max_seq_len=20, minibatch_size=256)
    shape, note = training_rows(config)["cut into sequences"]
    assert shape == "[S, L] = [56, 20] with no episode end"
    assert note.startswith("S = 8 × ⌈128/20⌉ = 56 when no episode ends")
    assert "B/T" not in " ".join(" ".join(row) for row in training_rows(config).values())


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 70), st.integers(1, 40))
def test_the_count_matches_the_chunking_of_a_rollout_with_no_episode_end(num_envs, rollout_len, max_seq_len):
    config = TrainConfig(
        num_envs=num_envs, rollout_len=rollout_len, max_seq_len=max_seq_len, minibatch_size=max(max_seq_len, 16)
    )
    seqs = chunk(np.zeros((rollout_len, num_envs), dtype=bool), max_seq_len)
    shape, _ = training_rows(config)["cut into sequences"]
    assert shape == f"[S, L] = [{seqs.num_seqs}, {seqs.padded_len}] with no episode end"


def test_a_head_mlp_shows_as_its_own_stage_and_parameter_count():
    plain = describe(TrainConfig(lstm_cell_size=8), *synthetic_spaces((6,), 3))
    config = TrainConfig(lstm_cell_size=8, head_fcnet_hiddens=(5, 4))
    description = describe(config, *synthetic_spaces((6,), 3))
    rollout = {row.stage: row.shape for row in description.rollout}
    assert "head MLP" not in {row.stage for row in plain.rollout}
    assert rollout["head MLP"] == "[8, 4]"
    assert {row.stage: row.shape for row in description.training}["reshape back + heads"].startswith("[S·L, 4] →")
    counts = dict(description.parameters)
    assert counts["head MLP"] == (8 * 5 + 5) + (5 * 4 + 4)
    assert counts["policy head"] == 4 * 3 + 3 and counts["value head"] == 4 + 1
    plain_counts = dict(plain.parameters)
    heads_change = (
        counts["policy head"] + counts["value head"] - plain_counts["policy head"] - plain_counts["value head"]
    )
    assert counts["total"] == plain_counts["total"] + 2 * counts["head MLP"] + heads_change  # actor's and critic's
