"""`rnnppo export`: the exported step (ONNX through onnxruntime, and torch.export) computes what the
trained policy computes step by step, observation filter, frame stack and state chain included."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import rnnppo
from rnnppo.cli.app import app
from rnnppo.core.obs_filter import MeanStdFilter
from rnnppo.core.rollout import FrameStacker
from rnnppo.core.runs.export import export, policy_step
from rnnppo.core.spaces import flatten_batch
from rnnppo.errors import ExportError
from tests.core.space_envs import OBSERVATION_SPACES
from tests.shared import TINY_SETTINGS

TINY = {**TINY_SETTINGS, "fcnet_hiddens": [8], "cell": 8, "seq_len": 4, "eval_episodes": 0}  # a list: also CLI words
CASES = {
    # Discrete actions, the default separate critic LSTM, previous action and reward fed, filter on
    "discrete": ("rnnppo/StatelessCartPole-v0", {"lstm_use_prev_action": True, "lstm_use_prev_reward": True}),
    # Box actions (mean + log-std), a shared GRU with a head MLP, three stacked frames riding in the state,
    # filter on
    "box": (
        "Pendulum-v1",
        {
            "rnn_type": "gru",
            "vf_share_layers": True,
            "frame_stack": 3,
            "lstm_use_prev_action": True,
            "head_fcnet_hiddens": [6],
        },
    ),
}
MAX_DIFFERENCE = 1e-5


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request):
    env, settings = CASES[request.param]
    run = rnnppo.train(env, 64, seed=1, **TINY, **settings)
    assert float(run.policy.obs_count) > 0  # the filter has statistics of its own to apply
    return run.policy


def reference_steps(policy, observations, prev_actions, prev_rewards, starts):
    """What the rollout computes: numpy filter (frozen), frame stacker, policy.step with the state chained
    and reset to zeros where an episode starts."""
    obs_filter = MeanStdFilter.from_policy(policy)
    frame = policy.shapes.obs // policy.config.frame_stack
    stacker = FrameStacker(observations.shape[1], frame, policy.config.frame_stack)
    state = policy.initial_state(observations.shape[1])
    outputs = []
    with torch.no_grad():
        for t in range(observations.shape[0]):
            state = state * ~torch.from_numpy(starts[t]).unsqueeze(-1)
            obs = stacker.push(obs_filter(observations[t], update=False), starts[t])
            dist_inputs, value, state = policy.step(
                torch.from_numpy(obs), torch.from_numpy(prev_actions[t]), torch.from_numpy(prev_rewards[t]), state
            )
            outputs.append((dist_inputs.numpy(), value.numpy(), state.numpy()))
    return outputs


def exported_steps(run_step, policy, observations, prev_actions, prev_rewards, starts):
    step = policy_step(policy)
    state = np.zeros((observations.shape[1], step.state_size), dtype=np.float32)
    outputs = []
    for t in range(observations.shape[0]):
        state = state * ~starts[t][:, None]
        result = run_step(observations[t], prev_actions[t], prev_rewards[t], state)
        state = result[-1]
        if policy.log_std is not None:  # Box: the log-std output is the learned vector, per row
            np.testing.assert_allclose(result[1], np.broadcast_to(policy.log_std.detach().numpy(), result[1].shape))
            result = (result[0], *result[2:])
        outputs.append((result[0], result[1], state[:, : policy.state_size]))
    return outputs


def episode(policy, batch: int = 2, steps: int = 12):
    """Observations far from the filter's mean (so its clip acts), random previous inputs zeroed at episode
    starts, and an episode that starts again mid-way in env 0."""
    rng = np.random.default_rng(0)
    frame = policy.shapes.obs // policy.config.frame_stack
    observations = (rng.normal(size=(steps, batch, frame)) * 5 + 2).astype(np.float32)
    prev_actions = rng.normal(size=(steps, batch, policy.shapes.prev_action)).astype(np.float32)
    prev_rewards = rng.normal(size=(steps, batch)).astype(np.float32)
    starts = np.zeros((steps, batch), dtype=bool)
    starts[0] = True
    starts[steps // 2, 0] = True
    prev_actions[starts] = 0.0
    prev_rewards[starts] = 0.0
    return observations, prev_actions, prev_rewards, starts


def assert_same(expected, got):
    for t, (want, have) in enumerate(zip(expected, got, strict=True)):
        for name, a, b in zip(("dist_inputs", "value", "state"), want, have, strict=True):
            assert np.abs(a - b).max() < MAX_DIFFERENCE, (t, name, np.abs(a - b).max())


@pytest.mark.slow  # the ONNX exporter takes ~10 s on 2 cores
def test_the_onnx_step_computes_what_the_policy_computes(trained, tmp_path):
    import onnx
    import onnxruntime

    path = tmp_path / "policy.onnx"
    description = export(trained, "onnx", path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["obs", "prev_action", "prev_reward", "state"]
    assert [o.name for o in session.get_outputs()] == description["outputs"]
    stored = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(stored["rnnppo"]) == description

    def run_step(obs, prev_action, prev_reward, state):
        feeds = {"obs": obs, "prev_action": prev_action, "prev_reward": prev_reward, "state": state}
        return session.run(None, feeds)

    data = episode(trained)
    assert_same(reference_steps(trained, *data), exported_steps(run_step, trained, *data))
    one = episode(trained, batch=1, steps=3)  # the batch size is free, 1 included
    assert_same(reference_steps(trained, *one), exported_steps(run_step, trained, *one))


@pytest.mark.slow  # torch.export traces the step: ~5 s on 2 cores
def test_the_torch_export_step_computes_what_the_policy_computes(trained, tmp_path):
    path = tmp_path / "policy.pt2"
    description = export(trained, "torch-export", path)
    extra = {"rnnppo.json": ""}
    program = torch.export.load(str(path), extra_files=extra)
    assert json.loads(extra["rnnppo.json"]) == description
    module = program.module()

    def run_step(*arrays):
        with torch.no_grad():
            return [out.numpy() for out in module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))]

    data = episode(trained)
    assert_same(reference_steps(trained, *data), exported_steps(run_step, trained, *data))


def test_a_stateless_policy_is_refused_with_the_reason():
    run = rnnppo.train("rnnppo/StatelessCartPole-v0", 32, rnn_type="none", **TINY)
    with pytest.raises(ExportError, match="rnn_type=none with frame_stack=1 has no state"):
        policy_step(run.policy)


@pytest.mark.slow  # a run to export, then the exporter
def test_the_export_command_writes_the_file_or_exits_2(tmp_path):
    runner = CliRunner()
    words = [f"{k}={v}" if not isinstance(v, list) else f"{k}=[{v[0]}]" for k, v in TINY.items()]
    result = runner.invoke(
        app,
        [
            "train",
            *words,
            "--env",
            "rnnppo/StatelessCartPole-v0",
            "--steps",
            "32",
            "--out",
            str(tmp_path),
            "--name",
            "r",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "r"
    result = runner.invoke(app, ["export", str(run_dir), "--format", "torch-export"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (run_dir / "policy.pt2").is_file()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no partial file left behind
    for args, words_in_error in (
        (["export", str(run_dir), "--format", "tflite"], "choose one of onnx, torch-export"),
        (["export", str(tmp_path / "nope")], "is not a run folder"),
        (["export", str(run_dir), "--out", str(run_dir)], "is a folder"),
    ):
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 2 and words_in_error in result.output, result.output


@pytest.mark.slow  # two exporters: ~15 s on 2 cores
@pytest.mark.parametrize(("fmt", "onehot"), [("torch-export", 0), ("onnx", 256)])
def test_an_image_dict_policy_exports_with_the_envs_own_inputs(tmp_path, fmt, onehot):
    """A Dict observation with an image (conv encoder; its columns raw past the frozen filter), a text part
    dropped, two frames stacked on the image's channels and riding in the state: the exported step takes
    the env's parts (uint8 image, int flag, float pos) and computes what the rollout computes. The ONNX
    policy one-hot encodes the image's codes (image_onehot=256: every uint8 value is a code) inside."""
    settings = {"conv_filters": "[[4,[3,3],1],[6,[2,2],2]]", "frame_stack": 2, "lstm_use_prev_action": True}
    settings["image_onehot"] = onehot
    env_kwargs = {"obs": "dict_image", "act": "discrete"}
    run = rnnppo.train("tests.core.space_envs:AnySpaceEnv", 64, seed=1, env_kwargs=env_kwargs, **TINY, **settings)
    policy = run.policy
    space = OBSERVATION_SPACES["dict_image"]
    space.seed(0)
    steps, batch = 8, 2
    raw = [[space.sample() for _ in range(batch)] for _ in range(steps)]
    parts = [p.name for p in policy.parts]  # flag, image, pos (mission dropped)
    part_arrays = [[np.stack([np.asarray(obs[name]) for obs in row]) for name in parts] for row in raw]
    flat = np.stack([flatten_batch(space, dict(zip(parts, arrays, strict=True)), batch) for arrays in part_arrays])
    _, prev_actions, prev_rewards, starts = episode(policy, batch=batch, steps=steps)
    path = tmp_path / ("policy.onnx" if fmt == "onnx" else "policy.pt2")
    description = export(policy, fmt, path)
    assert list(description["inputs"])[:3] == ["obs.flag", "obs.image", "obs.pos"]
    assert description["inputs"]["obs.image"] == {"shape": [5, 5, 2], "dtype": "uint8"}
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        assert names == ["obs.flag", "obs.image", "obs.pos", "prev_action", "prev_reward", "state"]

        def call(arrays, prev_action, prev_reward, state):
            return session.run(None, dict(zip(names, [*arrays, prev_action, prev_reward, state], strict=True)))
    else:
        module = torch.export.load(str(path)).module()

        def call(arrays, prev_action, prev_reward, state):
            with torch.no_grad():
                tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
                rest = (torch.from_numpy(x) for x in (prev_action, prev_reward, state))
                return [out.numpy() for out in module(tensors, *rest)]

    got = exported_part_steps(call, policy, part_arrays, prev_actions, prev_rewards, starts)
    assert_same(reference_steps(policy, flat, prev_actions, prev_rewards, starts), got)


def exported_part_steps(call, policy, part_arrays, prev_actions, prev_rewards, starts):
    """The exported step driven as a caller drives it: the env's parts in, the state chained, zeroed where an
    episode starts; -> (dist_inputs, value, recurrent state) per step."""
    batch = prev_rewards.shape[1]
    state = np.zeros((batch, policy_step(policy).state_size), dtype=np.float32)
    got = []
    for t, arrays in enumerate(part_arrays):
        state = state * ~starts[t][:, None]
        result = call(arrays, prev_actions[t], prev_rewards[t], state)
        state = result[-1]
        got.append((result[0], result[1], state[:, : policy.state_size]))
    return got


@pytest.mark.slow  # the ONNX exporter: ~10 s on 2 cores
def test_a_dict_policy_without_images_exports_one_onnx_input_per_part(tmp_path):
    """No image (the Dict's 2x2 float Box is not one), so the plain MLP encoder on the flat parts (filter on): the
    ONNX step still takes the env's own parts (int64 flag, float32 2x2 part), one-hot and concatenates them
    inside, and computes the logits, value and state the trained policy computes on the same observations."""
    import onnxruntime

    env_kwargs = {"obs": "dict", "act": "discrete"}
    run = rnnppo.train(
        "tests.core.space_envs:AnySpaceEnv", 64, seed=1, env_kwargs=env_kwargs, lstm_use_prev_action=True, **TINY
    )
    policy = run.policy
    assert not policy.actor.structured and float(policy.obs_count) > 0
    space = OBSERVATION_SPACES["dict"]
    space.seed(0)
    steps, batch = 8, 3
    raw = [[space.sample() for _ in range(batch)] for _ in range(steps)]
    part_arrays = [[np.stack([obs[name] for obs in row]) for name in ("flag", "image")] for row in raw]
    flat = np.stack([flatten_batch(space, {"flag": f, "image": p}, batch) for f, p in part_arrays])
    _, prev_actions, prev_rewards, starts = episode(policy, batch=batch, steps=steps)
    path = tmp_path / "policy.onnx"
    description = export(policy, "onnx", path)
    assert description["inputs"]["obs.flag"] == {"shape": [], "dtype": "int64"}
    assert description["inputs"]["obs.image"] == {"shape": [2, 2], "dtype": "float32"}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["obs.flag", "obs.image", "prev_action", "prev_reward", "state"]

    def call(arrays, prev_action, prev_reward, state):
        return session.run(None, dict(zip(names, [*arrays, prev_action, prev_reward, state], strict=True)))

    got = exported_part_steps(call, policy, part_arrays, prev_actions, prev_rewards, starts)
    assert_same(reference_steps(policy, flat, prev_actions, prev_rewards, starts), got)
