"""Cutting a rollout into `max_seq_len` sequences (RLlib's use_lstm semantics), padding and minibatching.

A rollout is stored time-major, `[T, N]` (T = rollout_len steps, N = envs). Each env's rollout is
cut at episode starts and at the rollout's first step (the pieces), then every `max_seq_len` steps
counted from each piece's start. Sequences are enumerated env-major (env 0's in time order, then
env 1's, ...) and right-padded to the longest one (RLlib's dynamic max): `[S, L]`.

Worked example: a 45-step piece with max_seq_len=20 gives seq_lens 20, 20, 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

END_EPISODE, END_MAX_SEQ_LEN, END_ROLLOUT = 0, 1, 2


@dataclass(frozen=True)
class Sequences:
    """Where every sequence's steps live in the flat `[T * N]` rollout (row index = t * N + n)."""

    seq_lens: torch.Tensor  # [S] int64, 1..max_seq_len
    index: torch.Tensor  # [S, L] int64 flat row of each (sequence, position); 0 at padded slots
    mask: torch.Tensor  # [S, L] bool, True on real steps
    env: torch.Tensor  # [S] env of each sequence
    start_t: torch.Tensor  # [S] rollout time step of each sequence's first step

    @property
    def num_seqs(self) -> int:
        return int(self.seq_lens.shape[0])

    @property
    def padded_len(self) -> int:
        return int(self.index.shape[1])

    @property
    def start_rows(self) -> torch.Tensor:
        """[S] flat row of each sequence's first step: where its state_in is read."""
        return self.index[:, 0]

    def pad(self, flat: torch.Tensor) -> torch.Tensor:
        """A per-step tensor `[T * N, ...]` -> `[S, L, ...]`, zeros at padded steps."""
        gathered = flat[self.index]  # [S, L, ...]
        mask = self.mask.reshape(*self.mask.shape, *([1] * (gathered.dim() - 2)))
        return torch.where(mask, gathered, torch.zeros((), dtype=gathered.dtype, device=gathered.device))

    def unpad(self, padded: torch.Tensor, num_rows: int) -> torch.Tensor:
        """Inverse of pad: `[S, L, ...]` -> `[T * N, ...]` (every row is covered exactly once)."""
        out = torch.empty((num_rows, *padded.shape[2:]), dtype=padded.dtype, device=padded.device)
        out[self.index[self.mask]] = padded[self.mask]
        return out


def chunk(episode_start: np.ndarray | torch.Tensor, max_seq_len: int) -> Sequences:
    """Cut a `[T, N]` rollout into sequences.

    episode_start[t, n] is True when step t of env n is the first step of an episode. Step 0 always
    starts a piece (a continued episode starts from the state carried over from the last rollout).
    """
    starts = torch.as_tensor(np.asarray(episode_start), dtype=torch.bool)
    if starts.dim() != 2 or starts.numel() == 0:
        raise ValueError(f"episode_start must be a non-empty [T, N] array, got shape {tuple(starts.shape)}")
    if max_seq_len < 1:
        raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")
    num_steps, num_envs = starts.shape
    piece_start = starts.T.clone()  # [N, T], env-major
    piece_start[:, 0] = True
    time = torch.arange(num_steps).expand(num_envs, num_steps)
    # Time of the latest piece start at or before t, per env: a running max over time.
    last_start = torch.cummax(torch.where(piece_start, time, torch.zeros_like(time)), dim=1).values
    offset = time - last_start  # [N, T] steps since the piece started
    position = offset % max_seq_len  # position inside its sequence
    seq_start = (position == 0).reshape(-1)  # env-major flat
    seq_id = torch.cumsum(seq_start.long(), 0) - 1  # [N * T]
    num_seqs = int(seq_id[-1]) + 1
    seq_lens = torch.bincount(seq_id, minlength=num_seqs)
    padded_len = int(seq_lens.max())
    rows = (time * num_envs + torch.arange(num_envs).unsqueeze(1)).reshape(-1)  # t * N + n
    index = torch.zeros(num_seqs, padded_len, dtype=torch.long)
    mask = torch.zeros(num_seqs, padded_len, dtype=torch.bool)
    flat_position = position.reshape(-1)
    index[seq_id, flat_position] = rows
    mask[seq_id, flat_position] = True
    first = seq_start.nonzero().squeeze(1)  # env-major flat position of each sequence's first step
    return Sequences(
        seq_lens=seq_lens,
        index=index,
        mask=mask,
        env=first // num_steps,
        start_t=first % num_steps,
    )


def end_reasons(seqs: Sequences, dones: np.ndarray | torch.Tensor, max_seq_len: int) -> torch.Tensor:
    """[S] why each sequence ended: END_EPISODE (done at its last step; wins ties), END_ROLLOUT
    (the rollout's last step), or END_MAX_SEQ_LEN (cut to max_seq_len inside an episode)."""
    device = seqs.seq_lens.device
    if isinstance(dones, torch.Tensor):
        dones = dones.to(device=device, dtype=torch.bool)
    else:
        dones = torch.as_tensor(np.asarray(dones), dtype=torch.bool, device=device)
    num_steps = dones.shape[0]
    last_t = seqs.start_t + seqs.seq_lens - 1
    done_at_end = dones[last_t, seqs.env]
    reasons = torch.full_like(seqs.seq_lens, END_MAX_SEQ_LEN)
    reasons[last_t == num_steps - 1] = END_ROLLOUT
    reasons[done_at_end] = END_EPISODE
    return reasons


def sequence_stats(seqs: Sequences, dones: np.ndarray | torch.Tensor, max_seq_len: int) -> dict[str, float]:
    """What the LSTM saw in training: the measured answer to "how many steps does it see?"."""
    reasons = end_reasons(seqs, dones, max_seq_len)
    num = max(seqs.num_seqs, 1)
    lens = seqs.seq_lens.float()
    return {
        "num_seqs": float(seqs.num_seqs),
        "seq_len_mean": float(lens.mean()),
        "seq_len_max": float(lens.max()),
        "pad_frac": float(1.0 - seqs.mask.float().mean()),
        "pad_frac_max_seq_len": float(1.0 - lens.sum() / (seqs.num_seqs * max_seq_len)),
        "cut_by_episode_end": float((reasons == END_EPISODE).sum()) / num,
        "cut_by_max_seq_len": float((reasons == END_MAX_SEQ_LEN).sum()) / num,
        "cut_by_rollout_end": float((reasons == END_ROLLOUT).sum()) / num,
    }


@dataclass(frozen=True)
class MinibatchPlan:
    """One epoch's minibatches as contiguous runs of one shuffled order of the sequences.

    Minibatch k is `order[first:stop]` with `(first, stop, length) = bounds[k]`, where `length` is its
    longest sequence's length. The update gathers each per-sequence tensor once per epoch in `order`
    and then slices every minibatch out of it as a view, instead of gathering (and re-padding) per
    minibatch.
    """

    order: torch.Tensor  # [S] int64, a permutation of the sequences
    bounds: list[tuple[int, int, int]]  # per minibatch: (first, stop) positions in order, padded length

    def members(self) -> list[torch.Tensor]:
        """Each minibatch's sequence indices."""
        return [self.order[first:stop] for first, stop, _ in self.bounds]


def plan_minibatches(
    seq_lens: torch.Tensor, minibatch_size: int, generator: torch.Generator | None = None
) -> MinibatchPlan:
    """Shuffle whole sequences and group them into minibatches of about `minibatch_size` real steps.

    Every sequence lands in exactly one minibatch (nothing is dropped). A sequence joins the
    minibatch in which its first step falls, so a minibatch holds at most
    minibatch_size + max_seq_len - 1 steps. Draws one randperm from `generator` per call.
    """
    order = torch.randperm(seq_lens.shape[0], generator=generator)
    lens = seq_lens[order]
    steps_before = torch.cumsum(lens, 0) - lens
    group = steps_before // minibatch_size
    counts = torch.bincount(group)
    stops = torch.cumsum(counts, 0)
    # each group's longest sequence, in one pass: lens are >= 1, so amax over an empty group gives 0 (dropped)
    longest = torch.zeros(len(counts), dtype=lens.dtype).scatter_reduce_(0, group, lens, reduce="amax")
    bounds = [
        (stop - count, stop, length)
        for count, stop, length in zip(counts.tolist(), stops.tolist(), longest.tolist(), strict=True)
        if count > 0
    ]
    return MinibatchPlan(order=order, bounds=bounds)


def minibatches(
    seq_lens: torch.Tensor, minibatch_size: int, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Each minibatch's sequence indices (see `plan_minibatches`)."""
    return plan_minibatches(seq_lens, minibatch_size, generator).members()
