"""Chunking a [T, N] rollout into max_seq_len sequences, checked against a naive step-by-step reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnppo.core.sequences import (
    END_EPISODE,
    END_MAX_SEQ_LEN,
    END_ROLLOUT,
    chunk,
    end_reasons,
    minibatches,
    plan_minibatches,
    sequence_stats,
)

# --- the naive reference ---------------------------------------------------------------------------


@dataclass
class RefSeq:
    env: int
    start_t: int
    rows: list[int]  # flat rows t * N + n, in time order
    reason: int


def reference_chunks(episode_start: np.ndarray, dones: np.ndarray, max_seq_len: int) -> list[RefSeq]:
    """Walk each env's steps in time order; open a new sequence at t=0, at every episode start and
    whenever the open one already holds max_seq_len steps. Env-major order, time order inside."""
    num_steps, num_envs = episode_start.shape
    out: list[RefSeq] = []
    for n in range(num_envs):
        current: RefSeq | None = None
        for t in range(num_steps):
            if t == 0 or episode_start[t, n] or len(current.rows) == max_seq_len:
                current = RefSeq(env=n, start_t=t, rows=[], reason=-1)
                out.append(current)
            current.rows.append(t * num_envs + n)
    for seq in out:
        last_t = seq.start_t + len(seq.rows) - 1
        if dones[last_t, seq.env]:
            seq.reason = END_EPISODE
        elif last_t == num_steps - 1:
            seq.reason = END_ROLLOUT
        else:
            seq.reason = END_MAX_SEQ_LEN
    return out


@st.composite
def layouts(draw):
    """A consistent [T, N] (episode_start, dones) pair: dones[t] == episode_start[t + 1]."""
    num_steps = draw(st.integers(1, 40))
    num_envs = draw(st.integers(1, 4))
    p_start = draw(st.sampled_from([0.0, 0.05, 0.2, 0.6, 1.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    episode_start = rng.random((num_steps, num_envs)) < p_start
    last_done = rng.random(num_envs) < 0.5
    dones = np.concatenate([episode_start[1:], last_done[None]], axis=0)
    max_seq_len = draw(st.integers(1, 25))
    return episode_start, dones, max_seq_len


# --- against the reference -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_chunk_matches_naive_reference(layout):
    episode_start, dones, max_seq_len = layout
    ref = reference_chunks(episode_start, dones, max_seq_len)
    seqs = chunk(episode_start, max_seq_len)

    assert seqs.num_seqs == len(ref)
    assert seqs.seq_lens.tolist() == [len(r.rows) for r in ref]
    assert seqs.env.tolist() == [r.env for r in ref]
    assert seqs.start_t.tolist() == [r.start_t for r in ref]
    assert seqs.start_rows.tolist() == [r.rows[0] for r in ref]
    # Right-padded to the longest sequence (RLlib's dynamic max).
    assert seqs.padded_len == max(len(r.rows) for r in ref)
    for s, r in enumerate(ref):
        k = len(r.rows)
        assert seqs.index[s, :k].tolist() == r.rows
        assert seqs.mask[s, :k].all()
        assert not seqs.mask[s, k:].any()
    assert end_reasons(seqs, dones, max_seq_len).tolist() == [r.reason for r in ref]


@settings(max_examples=100, deadline=None)
@given(layouts())
def test_every_step_is_in_exactly_one_sequence(layout):
    episode_start, _, max_seq_len = layout
    seqs = chunk(episode_start, max_seq_len)
    rows = seqs.index[seqs.mask]
    assert sorted(rows.tolist()) == list(range(episode_start.size))
    assert int(seqs.seq_lens.min()) >= 1
    assert int(seqs.seq_lens.max()) <= max_seq_len


@settings(max_examples=100, deadline=None)
@given(layouts())
def test_no_sequence_crosses_an_episode_start(layout):
    episode_start, _, max_seq_len = layout
    seqs = chunk(episode_start, max_seq_len)
    num_envs = episode_start.shape[1]
    for s in range(seqs.num_seqs):
        rows = seqs.index[s, : int(seqs.seq_lens[s])]
        times = (rows // num_envs).tolist()
        envs = (rows % num_envs).tolist()
        assert len(set(envs)) == 1
        assert times == list(range(times[0], times[0] + len(times)))
        assert not episode_start[times[1:], envs[0]].any()


@settings(max_examples=100, deadline=None)
@given(layouts(), st.integers(1, 3))
def test_pad_then_unpad_round_trips(layout, width):
    episode_start, _, max_seq_len = layout
    seqs = chunk(episode_start, max_seq_len)
    rows = episode_start.size
    flat = torch.randn(rows, width) + 5.0  # never zero, so padding is recognisable
    padded = seqs.pad(flat)
    assert padded.shape == (seqs.num_seqs, seqs.padded_len, width)
    assert torch.equal(padded[~seqs.mask], torch.zeros(int((~seqs.mask).sum()), width))
    assert torch.equal(padded[seqs.mask], flat[seqs.index[seqs.mask]])
    assert torch.equal(seqs.unpad(padded, rows), flat)
    flat_1d = torch.arange(rows, dtype=torch.float32) + 1
    assert torch.equal(seqs.unpad(seqs.pad(flat_1d), rows), flat_1d)


# --- worked examples -------------------------------------------------------------------------------


def _starts(num_steps: int, starts_at: list[int]) -> np.ndarray:
    out = np.zeros((num_steps, 1), dtype=bool)
    out[starts_at, 0] = True
    return out


def test_45_step_piece_with_max_seq_len_20_gives_20_20_5():
    seqs = chunk(_starts(45, [0]), 20)
    assert seqs.seq_lens.tolist() == [20, 20, 5]
    assert seqs.start_t.tolist() == [0, 20, 40]
    assert seqs.padded_len == 20


def test_45_step_piece_is_counted_from_the_piece_start_not_the_rollout_start():
    # A 3-step piece then a 45-step piece: cuts at 3, 23, 43 (not at 20, 40).
    seqs = chunk(_starts(48, [0, 3]), 20)
    assert seqs.seq_lens.tolist() == [3, 20, 20, 5]
    assert seqs.start_t.tolist() == [0, 3, 23, 43]


def test_pieces_of_2_3_1_give_sequences_of_2_3_1():
    seqs = chunk(_starts(6, [0, 2, 5]), 20)
    assert seqs.seq_lens.tolist() == [2, 3, 1]
    assert seqs.padded_len == 3


def test_rllib_docstring_example_episode_ids_115555_max_seq_len_3():
    # episode_ids [1,1,5,5,5,5], max_seq_len 3 -> seq_lens [2,3,1]; [4,4,8,8,8,8] pads to
    # [4,4,0, 8,8,8, 8,0,0]; initial states at rows 0, 2 and 5.
    episode_ids = np.array([1, 1, 5, 5, 5, 5])
    episode_start = np.concatenate([[True], episode_ids[1:] != episode_ids[:-1]])[:, None]
    seqs = chunk(episode_start, 3)
    assert seqs.seq_lens.tolist() == [2, 3, 1]
    feature = torch.tensor([4, 4, 8, 8, 8, 8])
    assert seqs.pad(feature).reshape(-1).tolist() == [4, 4, 0, 8, 8, 8, 8, 0, 0]
    assert seqs.start_rows.tolist() == [0, 2, 5]


def test_forum_example_30_steps_with_max_seq_len_20_gives_20_10():
    seqs = chunk(_starts(30, [0]), 20)
    assert seqs.seq_lens.tolist() == [20, 10]
    assert seqs.mask[1].tolist() == [True] * 10 + [False] * 10


def test_sequences_are_env_major_with_rows_t_times_n_plus_n():
    episode_start = np.zeros((4, 2), dtype=bool)
    seqs = chunk(episode_start, 3)
    assert seqs.env.tolist() == [0, 0, 1, 1]
    assert seqs.start_t.tolist() == [0, 3, 0, 3]
    assert seqs.index.tolist() == [[0, 2, 4], [6, 0, 0], [1, 3, 5], [7, 0, 0]]


def test_chunk_rejects_bad_input():
    with pytest.raises(ValueError, match="max_seq_len"):
        chunk(np.zeros((3, 1), dtype=bool), 0)
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        chunk(np.zeros(3, dtype=bool), 2)


# --- end reasons and stats -------------------------------------------------------------------------


def test_episode_end_wins_a_tie_with_max_seq_len():
    # A 4-step episode with max_seq_len 4 ends by both rules at t=3: it counts as an episode end.
    episode_start = _starts(6, [0, 4])
    dones = np.zeros((6, 1), dtype=bool)
    dones[3, 0] = True
    seqs = chunk(episode_start, 4)
    assert end_reasons(seqs, dones, 4).tolist() == [END_EPISODE, END_ROLLOUT]


def test_episode_end_wins_a_tie_with_rollout_end():
    dones = np.zeros((5, 1), dtype=bool)
    dones[4, 0] = True
    seqs = chunk(_starts(5, [0]), 3)
    assert end_reasons(seqs, dones, 3).tolist() == [END_MAX_SEQ_LEN, END_EPISODE]


def test_sequence_stats_fractions_for_a_known_layout():
    # pieces 2, 3, 1 of a 6-step rollout, max_seq_len 2 -> seq_lens 2, 2, 1, 1
    episode_start = _starts(6, [0, 2, 5])
    dones = np.concatenate([episode_start[1:], [[False]]])
    seqs = chunk(episode_start, 2)
    assert seqs.seq_lens.tolist() == [2, 2, 1, 1]
    stats = sequence_stats(seqs, dones, 2)
    assert stats["num_seqs"] == 4
    assert stats["seq_len_mean"] == pytest.approx(1.5)
    assert stats["pad_frac"] == pytest.approx(2 / 8)
    assert stats["cut_by_episode_end"] == pytest.approx(2 / 4)
    assert stats["cut_by_max_seq_len"] == pytest.approx(1 / 4)
    assert stats["cut_by_rollout_end"] == pytest.approx(1 / 4)


# --- minibatches -----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(layouts(), st.integers(0, 40), st.integers(0, 2**31 - 1))
def test_minibatches_hold_every_sequence_once_and_stay_near_minibatch_size(layout, extra, seed):
    episode_start, _, max_seq_len = layout
    seqs = chunk(episode_start, max_seq_len)
    minibatch_size = max_seq_len + extra
    generator = torch.Generator().manual_seed(seed)
    for _ in range(2):  # two epochs
        parts = minibatches(seqs.seq_lens, minibatch_size, generator)
        members = torch.cat(parts)
        assert sorted(members.tolist()) == list(range(seqs.num_seqs))
        for part in parts:
            assert part.numel() > 0
            assert int(seqs.seq_lens[part].sum()) <= minibatch_size + max_seq_len - 1


@settings(max_examples=100, deadline=None)
@given(layouts(), st.integers(0, 40), st.integers(0, 2**31 - 1))
def test_a_minibatch_plan_is_contiguous_runs_of_its_order_each_padded_to_its_longest_sequence(layout, extra, seed):
    episode_start, _, max_seq_len = layout
    seqs = chunk(episode_start, max_seq_len)
    plan = plan_minibatches(seqs.seq_lens, max_seq_len + extra, torch.Generator().manual_seed(seed))
    assert [first for first, _, _ in plan.bounds] == [0] + [stop for _, stop, _ in plan.bounds[:-1]]
    assert plan.bounds[-1][1] == seqs.num_seqs
    for (first, stop, length), part in zip(plan.bounds, plan.members(), strict=True):
        assert torch.equal(part, plan.order[first:stop])
        assert length == int(seqs.seq_lens[part].max())
    # the same generator draws as minibatches(), so the update's shuffles did not change
    again = minibatches(seqs.seq_lens, max_seq_len + extra, torch.Generator().manual_seed(seed))
    assert [p.tolist() for p in again] == [p.tolist() for p in plan.members()]


def test_minibatch_count_covers_all_steps_without_dropping_a_remainder():
    seq_lens = torch.full((10,), 4)
    parts = minibatches(seq_lens, 12, torch.Generator().manual_seed(0))
    assert [int(seq_lens[p].sum()) for p in parts] == [12, 12, 12, 4]


def test_minibatch_shuffle_differs_between_calls_with_one_generator():
    seq_lens = torch.randint(1, 9, (60,), generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(0)
    first = torch.cat(minibatches(seq_lens, 32, generator))
    second = torch.cat(minibatches(seq_lens, 32, generator))
    assert not torch.equal(first, second)
    again = torch.cat(minibatches(seq_lens, 32, torch.Generator().manual_seed(0)))
    assert torch.equal(first, again)
