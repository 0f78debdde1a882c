"""The conv encoder and Dict/Tuple observations: RLlib's conv semantics and defaults, the one-line refusal,
the layout of flat rows, the filter passing images through, inspect's conv stages, and runs end to end
(MiniGrid's default observation, Atari through gymnasium's AtariPreprocessing)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from rnnppo.cli.app import app
from rnnppo.core.analysis.dataflow import describe
from rnnppo.core.config import ConfigError, TrainConfig, coerce
from rnnppo.core.encoders import DEFAULT_FILTERS, StructuredEncoder, conv_plan, filters_for
from rnnppo.core.model import RecurrentPolicy, build_policy, mlp
from rnnppo.core.obs_filter import MeanStdFilter
from rnnppo.core.runs.evaluation import load_run_policy
from rnnppo.core.runs.trainer import train
from rnnppo.core.spaces import ActionHead, dropped_parts, flatten_batch, obs_parts
from rnnppo.errors import TrainingError
from rnnppo.sweeps.space import Choice, SearchSpace
from tests.core.space_envs import IMAGE_FILTERS, OBSERVATION_SPACES
from tests.shared import TINY_SETTINGS, runner


@pytest.mark.parametrize(
    ("shape", "out"),
    [((84, 84, 4), (256, 1, 1)), ((42, 42, 3), (256, 1, 1)), ((64, 64, 3), (128, 3, 3)), ((7, 7, 3), (64, 1, 1))],
)
def test_default_filters_give_rllibs_output_shapes(shape, out):
    """'same' padding on every layer but the last, 'valid' on the last: 84x84 -> 21 -> 11 -> 1x1x256 (RLlib's
    Atari net), 64x64 -> 32 -> 16 -> 8 -> a 'valid' 4x4 stride 2 -> 3x3x128 (its Dreamer-style filters)."""
    plan = conv_plan(DEFAULT_FILTERS[shape[:2]], shape, "obs")
    assert plan[-1].out_shape == out
    if shape[:2] == (84, 84):
        assert [layer.out_shape[1:] for layer in plan] == [(21, 21), (11, 11), (1, 1)]
        assert plan[0].padding == (2, 2, 2, 2) and plan[1].padding == (1, 2, 1, 2)  # the extra row at the bottom


def test_the_conv_layers_compute_the_planned_shapes():
    encoder = StructuredEncoder(obs_parts(spaces.Box(0, 255, (84, 84, 4), np.uint8)), 1, TrainConfig(), mlp)
    assert encoder(torch.zeros(3, 84 * 84 * 4)).shape == (3, 64)
    assert encoder.concat_size == 256


def test_an_image_without_default_filters_is_refused_in_one_line_with_an_example_that_fits():
    part = obs_parts(spaces.Box(0, 255, (30, 17, 3), np.uint8))[0]
    with pytest.raises(ConfigError) as caught:
        filters_for(TrainConfig(), part)
    message = str(caught.value)
    assert "\n" not in message and "30x17x3" in message
    example = message.split("conv_filters=")[-1]
    plan = conv_plan(coerce("conv_filters", example), (30, 17, 3), "obs")  # the example itself works
    assert plan[-1].out_shape[1:] == (1, 1)


def test_the_cli_refuses_an_image_without_filters_with_exit_2_and_writes_nothing(tmp_path):
    result = runner.invoke(
        app,
        ["train", "--env", "tests.core.space_envs:AnySpaceEnv", "env.obs=dict_image", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2
    assert "'image' is a 5x5x2 image" in result.output and "conv_filters=[[" in result.output
    assert not (tmp_path / "o").exists()


def test_conv_filters_that_leave_no_output_are_refused():
    part = obs_parts(spaces.Box(0, 1, (5, 5, 1)))[0]
    with pytest.raises(ConfigError, match="larger than its 5x5 input"):
        filters_for(TrainConfig(conv_filters=((4, (6, 6), 1),)), part)
        conv_plan(((4, (6, 6), 1),), part.image, part.name)


def test_conv_filters_parse_as_a_sweep_dimension():
    space = SearchSpace.parse(["conv_filters=[[16,[3,3],1]],[[32,[3,3],1]]"])
    (dim,) = space.dims
    assert isinstance(dim, Choice) and dim.values == (((16, (3, 3), 1),), ((32, (3, 3), 1),))
    assert space.words() == ["conv_filters=[[16,[3,3],1]],[[32,[3,3],1]]"]


def test_dict_parts_keep_flattening_order_and_drop_text():
    space = OBSERVATION_SPACES["dict_image"]
    parts = obs_parts(space)
    assert [(p.name, p.start, p.size, p.image) for p in parts] == [
        ("flag", 0, 2, None),
        ("image", 2, 50, (5, 5, 2)),
        ("pos", 52, 3, None),
    ]
    assert dropped_parts(space) == ["mission"]
    sample = {key: np.stack([sub.sample()] * 2) if key != "mission" else ("ab", "cd") for key, sub in space.items()}
    flat = flatten_batch(space, sample, 2)
    np.testing.assert_array_equal(flat[:, 2:52], sample["image"].reshape(2, -1))


def test_the_encoder_reads_each_part_from_its_columns():
    """An image part's columns, unflattened channels last, are what its conv stack sees (scaled to [0, 1]);
    changing a flat part's columns leaves the conv output alone."""
    space = OBSERVATION_SPACES["dict_image"]
    config = TrainConfig(conv_filters=IMAGE_FILTERS, fcnet_hiddens=())
    encoder = StructuredEncoder(obs_parts(space), 1, config, mlp)
    image = torch.randint(0, 256, (3, 5, 5, 2)).float()
    flat = torch.cat([torch.zeros(3, 2), image.reshape(3, -1), torch.ones(3, 3)], dim=-1)
    out = encoder(flat)
    conv = encoder.convs["image"](image.permute(0, 3, 1, 2) / 255)
    torch.testing.assert_close(out[:, 2:-3], conv)
    assert torch.equal(out[:, :2], flat[:, :2]) and torch.equal(out[:, -3:], flat[:, -3:])


def test_the_observation_filter_passes_image_columns_through():
    space = OBSERVATION_SPACES["dict_image"]
    head = ActionHead.for_space(spaces.Discrete(3))
    policy = RecurrentPolicy(55, head, TrainConfig(conv_filters=IMAGE_FILTERS), obs_parts(space))
    obs_filter = MeanStdFilter.from_policy(policy)
    assert obs_filter is not None
    batch = np.random.default_rng(0).integers(0, 256, (4, 55)).astype(np.float32)
    out = obs_filter(batch, update=True)
    np.testing.assert_array_equal(out[:, 2:52], batch[:, 2:52])
    assert np.abs(out[:, :2]).max() < 10 and not np.array_equal(out[:, 52:], batch[:, 52:])


def test_inspect_draws_the_conv_stages_with_their_shapes():
    obs_space = spaces.Box(0, 255, (84, 84, 4), np.uint8)
    description = describe(TrainConfig(num_envs=8), obs_space, spaces.Discrete(6))
    rows = {row.stage.strip(): row for row in description.rollout}
    assert rows["obs (image)"].shape == "[8, 4, 84, 84]"
    assert rows["conv 1"].shape == "[8, 16, 21, 21]" and "8x8 stride 4x4, same" in rows["conv 1"].note
    assert rows["conv 3"].shape == "[8, 256, 1, 1]" and "valid" in rows["conv 3"].note
    assert rows["encoder MLP"].note.startswith("256 → 64")
    assert any(part == "conv stacks" and count > 0 for part, count in description.parameters)


def test_minigrid_default_observation_trains_with_a_conv_encoder(tmp_path):
    pytest.importorskip("minigrid")
    config = TrainConfig(env="minigrid:MiniGrid-MemoryS7-v0", total_steps=64, **TINY_SETTINGS, max_seq_len=8)
    result = train(config, out_dir=tmp_path)
    assert result.summary["env_steps"] == 64
    assert np.isfinite(result.summary["final_return"])
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    assert any("convs.image" in key for key in saved["state_dict"])
    _, loaded = load_run_policy(tmp_path)  # what eval, memory and export load: the same weights
    for key, value in result.policy.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.cpu()), key


def test_atari_pong_with_gymnasiums_preprocessing_runs_end_to_end(tmp_path):
    pytest.importorskip("ale_py")
    config = TrainConfig(
        env="ale_py:ALE/Pong-v5",
        wrappers=("gymnasium.wrappers:AtariPreprocessing(frame_skip=1, grayscale_newaxis=True)",),
        total_steps=64,
        **{**TINY_SETTINGS, "eval_episodes": 0},
        max_seq_len=8,
    )
    result = train(config, out_dir=tmp_path)
    assert result.summary["env_steps"] == 64
    (conv,) = [m for m in result.policy.actor.encoder.modules() if isinstance(m, torch.nn.Conv2d)][:1]
    assert conv.in_channels == 1 and conv.kernel_size == (8, 8)


def test_build_policy_keeps_the_mlp_encoder_for_observations_without_images():
    head = spaces.Discrete(2)
    policy, _, _ = build_policy(TrainConfig(), spaces.Box(-1, 1, (4,)), head)
    assert isinstance(policy.actor.encoder, torch.nn.Sequential) and policy.image_columns == []
    policy, _, _ = build_policy(TrainConfig(), OBSERVATION_SPACES["dict"], head)
    assert isinstance(policy.actor.encoder, torch.nn.Sequential)


def test_gym_vector_env_batches_the_text_part():
    """The dropped text part still reaches flatten_batch batched; it is skipped, not read."""
    env = gym.vector.SyncVectorEnv([lambda: _any_env("dict_image")] * 2)
    obs, _ = env.reset(seed=0)
    assert flatten_batch(env.single_observation_space, obs, 2).shape == (2, 55)
    env.close()
    assert json.dumps(dropped_parts(env.single_observation_space)) == '["mission"]'


def _any_env(obs: str):
    from tests.core.space_envs import AnySpaceEnv

    return AnySpaceEnv(obs=obs, act="discrete")


def test_the_inspect_command_prints_the_conv_stages():
    result = runner.invoke(app, ["inspect", "--obs-shape", "84,84,4", "--actions", "6", "num_envs=8"])
    assert result.exit_code == 0, result.output
    assert "conv 1" in result.output and "[8, 16, 21, 21]" in result.output and "[8, 256, 1, 1]" in result.output


def test_a_tuple_observation_names_its_parts_by_position_and_runs_the_image_through_a_conv():
    space = spaces.Tuple((spaces.Discrete(3), spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8)))
    parts = obs_parts(space)
    assert [(p.name, p.start, p.image) for p in parts] == [("0", 0, None), ("1", 3, (5, 5, 2))]
    config = TrainConfig(conv_filters=IMAGE_FILTERS, fcnet_hiddens=(8,))
    policy, _, obs_dim = build_policy(config, space, spaces.Discrete(2))
    assert obs_dim == 53 and policy.actor.structured
    flat = torch.as_tensor(flatten_batch(space, (np.array([1, 2]), np.zeros((2, 5, 5, 2), np.uint8)), 2))
    dist, value, _ = policy.step(flat, torch.zeros(2, 2), torch.zeros(2), policy.initial_state(2))
    assert dist.shape == (2, 2) and value.shape == (2,)


def test_normalize_images_false_feeds_the_raw_pixel_values():
    """MiniGrid's codes (object 5 = key, 6 = ball) differ by 1 raw, by 0.004 after /255."""
    parts = obs_parts(spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8))
    image = torch.randint(0, 11, (3, 5, 5, 2)).float()
    for normalize, divisor in ((True, 255.0), (False, 1.0)):
        config = TrainConfig(conv_filters=IMAGE_FILTERS, fcnet_hiddens=(), normalize_images=normalize)
        encoder = StructuredEncoder(parts, 1, config, mlp)
        expected = encoder.convs["obs"](image.permute(0, 3, 1, 2) / divisor)
        torch.testing.assert_close(encoder(image.reshape(3, -1)), expected)


def test_image_onehot_gives_the_conv_one_plane_per_code_of_each_channel():
    """image_onehot=N: channel c's code v lights plane c·N + v (torch's one_hot is the reference), from the raw
    codes whatever normalize_images says."""
    parts = obs_parts(spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8))
    image = torch.randint(0, 4, (3, 5, 5, 2)).float()  # [N, H, W, C], as the flat rows hold it
    planes = torch.nn.functional.one_hot(image.long(), 4).permute(0, 3, 4, 1, 2).reshape(3, 8, 5, 5).float()
    for normalize in (True, False):
        config = TrainConfig(conv_filters=IMAGE_FILTERS, fcnet_hiddens=(), image_onehot=4, normalize_images=normalize)
        encoder = StructuredEncoder(parts, 1, config, mlp)
        torch.testing.assert_close(encoder.one_hot(image.permute(0, 3, 1, 2)), planes)
        torch.testing.assert_close(encoder(image.reshape(3, -1)), encoder.convs["obs"](planes))
    first = next(m for m in encoder.convs["obs"].layers if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 8


def test_an_image_policy_saved_without_the_one_hot_codes_buffer_still_loads():
    """The codes buffer follows from the config: it is not in the state dict, so model.pt files written before
    image_onehot existed load into today's policy (strictly, as load_run_policy loads them)."""
    space = OBSERVATION_SPACES["dict_image"]
    head = ActionHead.for_space(spaces.Discrete(3))
    for onehot in (0, 256):
        policy = RecurrentPolicy(
            55, head, TrainConfig(conv_filters=IMAGE_FILTERS, image_onehot=onehot), obs_parts(space)
        )
        state = policy.state_dict()
        assert not any(key.endswith("codes") for key in state)
        policy.load_state_dict(state)


@pytest.mark.parametrize("bad", [4.0, -1.0, 2.5])
def test_an_image_value_that_is_not_a_code_stops_the_run_with_one_line_naming_it(bad):
    """A value past the codes would light no plane and look like a real cell: it stops the run instead."""
    parts = obs_parts(spaces.Box(0, 255, (5, 5, 2), dtype=np.uint8))
    encoder = StructuredEncoder(parts, 1, TrainConfig(conv_filters=IMAGE_FILTERS, image_onehot=4), mlp)
    image = torch.zeros(2, 5, 5, 2)
    image[1, 3, 2, 1] = bad
    with pytest.raises(
        TrainingError, match=rf"image_onehot=4: the image holds the value {bad:g}, not a code in 0\.\.3"
    ):
        encoder(image.reshape(2, -1))


def test_image_onehot_outside_0_to_256_is_refused():
    with pytest.raises(ConfigError, match="image_onehot=-1 .*number of codes per image channel"):
        TrainConfig(image_onehot=-1)


def test_inspect_draws_the_one_hot_planes_before_the_conv():
    obs_space = spaces.Dict({"image": spaces.Box(0, 255, (7, 7, 3), np.uint8), "direction": spaces.Discrete(4)})
    description = describe(TrainConfig(num_envs=8, image_onehot=11), obs_space, spaces.Discrete(7))
    rows = {row.stage.strip(): row for row in description.rollout}
    assert rows["image (image)"].shape == "[8, 3, 7, 7]" and "scaled" not in rows["image (image)"].note
    assert rows["one-hot"].shape == "[8, 33, 7, 7]" and rows["one-hot"].note == "each code 0..10: one plane"


def test_the_update_runs_the_conv_on_real_steps_only_with_the_same_outputs_and_gradients():
    """train_outputs(valid=mask) encodes only the unpadded rows: on every real step its outputs, and the
    gradients of a loss over real steps, are those of encoding every row (padding is on the right)."""
    space = OBSERVATION_SPACES["dict_image"]
    head = ActionHead.for_space(spaces.Discrete(3))
    config = TrainConfig(conv_filters=IMAGE_FILTERS, lstm_cell_size=8, head_fcnet_hiddens=(8,))
    policy = RecurrentPolicy(55, head, config, obs_parts(space))
    torch.manual_seed(0)
    obs, prev_a, prev_r = torch.rand(4, 6, 55) * 255, torch.zeros(4, 6, 3), torch.zeros(4, 6)
    state = torch.randn(4, policy.state_size)
    mask = torch.arange(6) < torch.tensor([6, 3, 1, 5]).unsqueeze(1)  # [S, L] real steps, then padding
    results = []
    for valid in (None, mask):
        policy.zero_grad()
        dist, values = policy.train_outputs(obs, prev_a, prev_r, state, valid=valid)
        (torch.where(mask, dist.sum(-1) + values, 0.0)).sum().backward()
        grads = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
        results.append((dist[mask], values[mask], grads))
    (dist_all, values_all, grads_all), (dist_real, values_real, grads_real) = results
    torch.testing.assert_close(dist_real, dist_all)
    torch.testing.assert_close(values_real, values_all)
    assert len(grads_all) == len(grads_real) > 0
    for full, real in zip(grads_all, grads_real, strict=True):
        torch.testing.assert_close(real, full)


def test_conv_filters_round_trip_through_json_and_toml(tmp_path):
    from rnnppo.core.config import load_toml, to_toml

    config = TrainConfig(conv_filters="[[16,[3,3],1],[32,4,[2,1]]]", conv_activation="elu", normalize_images=False)
    assert config.conv_filters == ((16, (3, 3), 1), (32, 4, (2, 1)))
    assert config.to_dict()["conv_filters"] == json.loads("[[16,[3,3],1],[32,4,[2,1]]]")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    (tmp_path / "c.toml").write_text(to_toml(config))
    assert TrainConfig.from_dict(load_toml(tmp_path / "c.toml")) == config


class MissionLike(spaces.Space):
    """A text space whose repr would carry a memory address, as MiniGrid's MissionSpace's does."""

    def __init__(self):
        super().__init__(dtype=str)

    def __repr__(self):
        return f"MissionLike(<function at {hex(id(self))}>)"


def test_inspect_names_a_text_part_by_its_class_without_a_memory_address():
    obs_space = spaces.Dict(image=spaces.Box(0, 255, (7, 7, 3), np.uint8), mission=MissionLike())
    description = describe(TrainConfig(num_envs=2), obs_space, spaces.Discrete(3))
    note = next(row.note for row in description.rollout if row.stage.strip() == "observation")
    assert "'mission': MissionLike (text)" in note and "0x" not in note
    assert "'mission' (text) dropped" in note
