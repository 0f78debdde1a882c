"""How closely a pinned training run must match its recorded numbers on another CPU.

Same machine, same seed: a run is reproduced bit for bit (test_same_seed_runs_are_identical_in_one_process
checks it with ==). Across machines the kernels round differently: torch picks AVX-512, AVX2 or plain code
at start (ATEN_CPU_CAPABILITY), oneDNN and MKL pick their own instruction sets, and ARM has its own
kernels. The tolerances below come from a measurement on 2026-12-07 (torch 2.13.0+cpu, AMD EPYC with
AVX-512): every pinned run under five kernel settings (the default AVX-512; ATEN_CPU_CAPABILITY=avx2;
=default, i.e. no vector kernels, the nearest stand-in for another architecture; avx2 with
ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2; default with SSE4.1/SSE4.2 for oneDNN/MKL), compared
with the AVX2 recording. The largest differences seen, over all runs and iterations:

    policy_loss  6.6e-7 absolute   (values 2e-4 .. 5e-2: a sum of terms that nearly cancel, so relative
                                     differences reached 8.5e-4 and mean nothing)
    value_loss   2.3e-7 relative
    entropy      1.7e-8 relative
    approx_kl    7.9e-10 absolute  (values 6e-8 .. 1.2e-5)
    checksum / weight sum  4.3e-6 absolute (values 0.2 .. 3.5)

Each tolerance is about ten times that. A change of meaning (minibatch order, a loss term, the clip, the
optimizer, the seed) moves these numbers by 1e-4 .. 1e-2 or more: far outside. Episode counts, returns and
greedy evaluation returns are integers or means of integers; they matched exactly under all five settings
and are compared exactly.
"""

from __future__ import annotations

import pytest

POLICY_LOSS_ABS = 1e-5
VALUE_LOSS_REL = 3e-6
ENTROPY_REL = 1e-6
APPROX_KL_ABS = 1e-8
WEIGHTS_ABS = 5e-5


def close(name: str, expected: float):
    """pytest.approx with the tolerance measured for one metric (see the module docstring)."""
    if name == "policy_loss":
        return pytest.approx(expected, rel=0, abs=POLICY_LOSS_ABS)
    if name == "value_loss":
        return pytest.approx(expected, rel=VALUE_LOSS_REL, abs=0)
    if name == "entropy":
        return pytest.approx(expected, rel=ENTROPY_REL, abs=0)
    if name == "approx_kl":
        return pytest.approx(expected, rel=0, abs=APPROX_KL_ABS)
    if name in ("checksum", "weights"):
        return pytest.approx(expected, rel=0, abs=WEIGHTS_ABS)
    return expected  # counts: exact
