"""What one resumable checkpoint costs: checkpoint.pt's size and the time to write it (atomically, fsynced)
and to read it back, for a small, the default and a large network. Prints a markdown table.

    python benchmarks/checkpoint_cost.py            # 20 writes and reads each

With the default checkpoint_every=5m a run pays one write per 5 minutes; compare the write time with that.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnnppo.core.config import build_config
from rnnppo.core.envs.make import describe_spaces
from rnnppo.core.model import build_policy
from rnnppo.core.optim import Adam
from rnnppo.core.runs import checkpoint

NETWORKS = {
    "small ([8], cell 8)": dict(fcnet_hiddens=(8,), lstm_cell_size=8),
    "default ([64], cell 64)": {},
    "large ([256,256], cell 512)": dict(fcnet_hiddens=(256, 256), lstm_cell_size=512),
}


def measure(changes: dict, repeats: int, folder: Path) -> tuple[int, int, float, float]:
    config = build_config({}, env="rnnppo/CueRecall-v0", **changes)
    policy, _, _ = build_policy(config, *describe_spaces(config))
    optimizer = Adam(policy.parameters(), lr=1e-3)
    for p in policy.parameters():  # one step, so the Adam moments exist and are saved
        p.grad = torch.ones_like(p)
    optimizer.step()
    generator = torch.Generator().manual_seed(0)
    counters = checkpoint.Counters(iteration=10, env_steps=10_240, recent_returns=[1.0] * 100)
    writes, reads = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        checkpoint.save(
            folder,
            config=config.to_dict(),
            policy=policy,
            optimizer=optimizer,
            curiosity=None,
            generator=generator,
            counters=counters,
        )
        writes.append(time.perf_counter() - began)
        began = time.perf_counter()
        checkpoint.load(folder, config.to_dict())
        reads.append(time.perf_counter() - began)
    parameters = sum(p.numel() for p in policy.parameters())
    size = (folder / checkpoint.CHECKPOINT_FILE).stat().st_size
    return parameters, size, statistics.median(writes), statistics.median(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| network | parameters | checkpoint.pt | write (median) | read (median) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name, changes in NETWORKS.items():
            parameters, size, write, read = measure(changes, args.repeats, Path(folder))
            print(f"| {name} | {parameters:,} | {size / 1e6:.2f} MB | {1e3 * write:.1f} ms | {1e3 * read:.1f} ms |")


if __name__ == "__main__":
    main()
