"""Which MiniGrid Memory tasks need memory: every pose (free cell x direction) from which the agent sees the
start-room object (the cue) and at least one end-of-hallway object at once, by MiniGrid's own visibility
(`agent_sees`, walls occluding as the observation does).

    python benchmarks/minigrid/memory_poses.py

The two end objects are of different kinds, so the cue and either one of them say which end matches. A
pose that sees both and from which one turn faces the matching arm (the junction facing back west) lets a
memoryless policy succeed on every episode: its turn carries the answer. A task with no such pose needs
the cue carried in memory.
"""

from __future__ import annotations

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid ids)
import numpy as np

TASKS = [
    ("MiniGrid-MemoryS7-v0", {}),
    ("MiniGrid-MemoryS9-v0", {}),
    ("MiniGrid-MemoryS11-v0", {}),
    ("MiniGrid-MemoryS7-v0", {"agent_view_size": 5}),
    ("MiniGrid-MemoryS7-v0", {"agent_view_size": 3}),
]


def poses_seeing_cue_and_an_end(env_id: str, env_kwargs: dict[str, int]) -> list[tuple[int, int, int]]:
    """(x, y, direction) of every pose from which the cue and at least one end object are both visible."""
    env = gym.make(env_id, **env_kwargs)
    env.reset(seed=0)
    grid_env = env.unwrapped
    cue = (1, grid_env.height // 2 - 1)  # where MemoryEnv puts the start-room object
    cells = [(x, y) for x in range(grid_env.width) for y in range(grid_env.height)]
    ends = [c for c in cells if c != cue and getattr(grid_env.grid.get(*c), "type", None) in ("key", "ball")]
    poses = []
    for x, y in cells:
        if grid_env.grid.get(x, y) is not None:
            continue
        for direction in range(4):
            grid_env.agent_pos, grid_env.agent_dir = np.array((x, y)), direction
            if grid_env.agent_sees(*cue) and any(grid_env.agent_sees(*end) for end in ends):
                poses.append((x, y, direction))
    env.close()
    return poses


def main() -> None:
    print("| task | poses that see the cue and an end object | the junction facing west among them |")
    print("|---|---|---|")
    for env_id, kwargs in TASKS:
        env = gym.make(env_id, **kwargs)
        env.reset(seed=0)
        junction = (env.unwrapped.width - 2, env.unwrapped.height // 2)  # hallway_end + 1 (= width - 3 + 1), middle row
        env.close()
        poses = poses_seeing_cue_and_an_end(env_id, kwargs)
        name = env_id + "".join(f" {k}={v}" for k, v in kwargs.items())
        west = any((x, y) == junction and d == 2 for x, y, d in poses)
        print(f"| {name} | {len(poses)} | {'yes' if west else 'no'} |")


if __name__ == "__main__":
    main()
