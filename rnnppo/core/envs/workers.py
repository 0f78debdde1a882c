"""Env stepping in worker processes (`vector_mode=async|overlap`): W processes each step a slice of the N envs.

gymnasium's AsyncVectorEnv starts one process per env, so `--jobs 2` with 8 envs each would start 16
processes on a 2-core machine. Here each worker holds a SyncVectorEnv over its slice (SAME_STEP
autoreset, like the sync path) and the parent sends every worker its actions before reading any
answer, so the slices step at the same time. Env i gets the same seed and the same actions as in
sync mode, so the trajectories are the same.

Worth it only when an env step costs more than sending its data to and from a process (~50-100 us a
round trip): benchmarks/async_envs.py measures the break-even.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable, Sequence
from itertools import pairwise
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.vector.utils import CloudpickleWrapper, batch_space

from rnnppo.core.envs.ids import EnvError

# Set by a sweep worker to the number of runs that share this machine (`--jobs`), so the default
# number of env workers divides the cores between them.
CONCURRENT_RUNS_ENV = "RNNPPO_CONCURRENT_RUNS"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_env_workers(num_envs: int) -> int:
    """env_workers=0 (auto): the cores this process may use, shared by the runs on this machine, at
    most one worker per env."""
    try:
        runs = max(1, int(os.environ.get(CONCURRENT_RUNS_ENV, "1")))
    except ValueError:
        runs = 1
    return max(1, min(num_envs, usable_cores() // runs))


def _worker(conn: Connection, factory: CloudpickleWrapper, count: int) -> None:
    envs: SyncVectorEnv | None = None
    try:
        envs = SyncVectorEnv([factory.fn] * count, autoreset_mode=AutoresetMode.SAME_STEP)
        conn.send(("ok", None))
        while True:
            command, payload = conn.recv()
            if command == "step":
                conn.send(("ok", envs.step(payload)))
            elif command == "reset":
                seeds, options = payload
                conn.send(("ok", envs.reset(seed=seeds, options=options)))
            elif command == "close":
                break
    except (KeyboardInterrupt, EOFError):
        pass
    except Exception as err:  # noqa: BLE001 - sent to the parent, which raises it as one line
        conn.send(("error", (isinstance(err, EnvError), f"{type(err).__name__}: {err}", traceback.format_exc())))
    finally:
        if envs is not None:
            envs.close()
        conn.close()


def _concat(pieces: Sequence[Any]) -> Any:
    """Observation batches of the slices -> one batch, for Box/Discrete (arrays) and Dict/Tuple spaces."""
    first = pieces[0]
    if isinstance(first, dict):
        return {key: _concat([p[key] for p in pieces]) for key in first}
    if isinstance(first, tuple):
        return tuple(_concat([p[i] for p in pieces]) for i in range(len(first)))
    return np.concatenate(pieces, axis=0)


def _merge_infos(pieces: Sequence[dict], sizes: Sequence[int]) -> dict:
    """The slices' vector infos -> one vector info: every array is laid end to end; a key a slice lacks
    is filled with zeros (None for objects) and its `_key` mask with False, as gymnasium's own would be."""
    keys: list[str] = []
    for piece in pieces:
        keys.extend(key for key in piece if key not in keys)
    out: dict = {}
    for key in keys:
        values = [piece.get(key) for piece in pieces]
        if any(isinstance(v, dict) for v in values):
            out[key] = _merge_infos([v if isinstance(v, dict) else {} for v in values], sizes)
            continue
        present = next(np.asarray(v) for v in values if v is not None)
        filled = []
        for value, size in zip(values, sizes, strict=True):
            if value is None:
                value = np.zeros((size, *present.shape[1:]), dtype=present.dtype)
                if present.dtype == object:
                    value.fill(None)
            filled.append(np.asarray(value))
        out[key] = np.concatenate(filled, axis=0)
    return out


class WorkerVectorEnv(VectorEnv):
    """N copies of one env stepped by `workers` processes, each holding a SyncVectorEnv of its slice."""

    def __init__(self, factory: Callable[[], gym.Env], num_envs: int, workers: int):
        self.num_envs = num_envs
        probe = factory()  # spaces in the parent: some (a MiniGrid mission space) do not pickle
        try:
            self.single_observation_space = probe.observation_space
            self.single_action_space = probe.action_space
            self.metadata = {**probe.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        finally:
            probe.close()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.sizes = [len(part) for part in np.array_split(np.arange(num_envs), min(workers, num_envs))]
        self.bounds = np.cumsum([0, *self.sizes])
        forkserver = "forkserver" in mp.get_all_start_methods()
        context = mp.get_context("forkserver") if forkserver else mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes: list[mp.process.BaseProcess] = []
        self.closed = False
        try:
            for size in self.sizes:
                parent, child = context.Pipe()
                process = context.Process(target=_worker, args=(child, CloudpickleWrapper(factory), size), daemon=True)
                process.start()
                child.close()
                self.conns.append(parent)
                self.processes.append(process)
            for conn in self.conns:
                self._receive(conn)
        except BaseException:
            self.close()
            raise

    def _receive(self, conn: Connection) -> Any:
        try:
            status, payload = conn.recv()
        except EOFError:
            raise EnvError("an env worker process died (killed, or out of memory?)") from None
        if status == "error":
            is_env_error, line, trace = payload
            if is_env_error:
                raise EnvError(line.split(": ", 1)[1])
            raise EnvError(f"an env worker failed: {line}\n{trace}")
        return payload

    def _broadcast(self, command: str, payloads: Sequence[Any]) -> list[Any]:
        for conn, payload in zip(self.conns, payloads, strict=True):
            conn.send((command, payload))
        return [self._receive(conn) for conn in self.conns]  # every slice steps while we wait on the first

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        if isinstance(seed, int):
            seed = [seed + i for i in range(self.num_envs)]
        seeds = [None if seed is None else list(seed[lo:hi]) for lo, hi in pairwise(self.bounds)]
        answers = self._broadcast("reset", [(s, options) for s in seeds])
        return _concat([obs for obs, _ in answers]), _merge_infos([info for _, info in answers], self.sizes)

    def step(self, actions):
        self.send_step(actions)
        return self.receive_step()

    def send_step(self, actions) -> None:
        """Start a step: every worker gets its slice of the actions and steps while this process goes on
        (vector_mode=overlap computes the other half's policy step meanwhile). receive_step() ends it."""
        for conn, (lo, hi) in zip(self.conns, pairwise(self.bounds), strict=True):
            conn.send(("step", actions[lo:hi]))

    def receive_step(self):
        """The step started by send_step(): (obs, rewards, terminated, truncated, infos) of all N envs."""
        answers = [self._receive(conn) for conn in self.conns]
        obs, rewards, terminated, truncated, infos = zip(*answers, strict=True)
        return (
            _concat(obs),
            np.concatenate(rewards),
            np.concatenate(terminated),
            np.concatenate(truncated),
            _merge_infos(infos, self.sizes),
        )

    def close_extras(self, **kwargs: Any) -> None:
        if not hasattr(self, "conns"):  # __init__ failed before starting any worker (the env could not be made)
            return
        for conn in self.conns:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        for conn in self.conns:
            conn.close()
