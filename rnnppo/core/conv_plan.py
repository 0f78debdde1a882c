"""Planning conv layers for an image observation: RLlib's default filters by image size, each layer's padding
and output shape, and the one-line refusal for an image without usable filters. Pure arithmetic,
so checking a config's spaces (envs.make.describe_spaces) needs no model; core/encoders.py builds the layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnppo.core.config import ConfigError, TrainConfig, format_value
from rnnppo.core.spaces import ObsPart

# RLlib's get_filter_config, by (height, width) (any channel count). 7x7 is rnnppo's own addition for
# MiniGrid's partial view (RLlib has none): 'same' 3x3, 'same' 3x3 stride 2 to 4x4, a 'valid' 4x4 to 1x1.
DEFAULT_FILTERS: dict[tuple[int, int], tuple[tuple[Any, ...], ...]] = {
    (480, 640): ((16, (24, 32), (14, 18)), (32, (6, 6), 4), (256, (9, 9), 1)),
    (240, 320): ((16, (12, 16), (7, 9)), (32, (6, 6), 4), (256, (9, 9), 1)),
    (96, 96): ((16, (8, 8), 4), (32, (4, 4), 2), (256, (11, 11), 2)),
    (84, 84): ((16, (8, 8), 4), (32, (4, 4), 2), (256, (11, 11), 1)),
    (64, 64): ((16, (4, 4), 2), (32, (4, 4), 2), (64, (4, 4), 2), (128, (4, 4), 2)),
    (42, 42): ((16, (4, 4), 2), (32, (4, 4), 2), (256, (11, 11), 1)),
    (10, 10): ((16, (5, 5), 2), (32, (5, 5), 2)),
    (7, 7): ((16, (3, 3), 1), (32, (3, 3), 2), (64, (4, 4), 1)),
}


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer as planned for an input size: its sizes, padding (left, right, top, bottom) and output."""

    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    out_shape: tuple[int, int, int]  # (C, H, W) after the layer


def example_filters(height: int, width: int) -> str:
    """A conv_filters value that fits an image of this size: 'same' 4x4 stride-2 layers down to at most 8x8,
    then one 'valid' layer to 1x1 (a suggestion for the refusal, not a tuned model)."""
    layers, channels = [], 16
    while max(height, width) > 8:
        layers.append((channels, (4, 4), 2))
        height, width, channels = -(-height // 2), -(-width // 2), min(channels * 2, 64)
    layers.append((max(channels, 32), (height, width), 1))
    return format_value(tuple(layers))


def conv_plan(filters: tuple[tuple[Any, ...], ...], image: tuple[int, int, int], name: str) -> list[ConvLayer]:
    """The layers `filters` give on an image (H, W, C), with RLlib's padding; a ConfigError when a layer
    would leave nothing (a kernel larger than its input)."""
    height, width, _ = image
    plan = []
    for i, (out_channels, kernel, stride) in enumerate(filters):
        (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
        if i < len(filters) - 1:  # 'same': out = ceil(in / stride)
            out_h, out_w = -(-height // sh), -(-width // sw)
            pad_h = max((out_h - 1) * sh + kh - height, 0)
            pad_w = max((out_w - 1) * sw + kw - width, 0)
            padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        else:  # 'valid'
            out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
            padding = (0, 0, 0, 0)
        if out_h < 1 or out_w < 1:
            raise ConfigError(
                f"conv_filters={format_value(filters)} is invalid for '{name}' ({image[0]}x{image[1]}): layer "
                f"{i + 1}'s {kh}x{kw} kernel is larger than its {height}x{width} input; e.g. "
                f"conv_filters={example_filters(image[0], image[1])}"
            )
        height, width = out_h, out_w
        plan.append(ConvLayer(int(out_channels), (kh, kw), (sh, sw), padding, (int(out_channels), height, width)))
    return plan


def filters_for(config: TrainConfig, part: ObsPart) -> tuple[tuple[Any, ...], ...]:
    """conv_filters if set, else RLlib's default for the image's size; a one-line ConfigError without either."""
    assert part.image is not None
    if config.conv_filters is not None:
        return config.conv_filters
    height, width, channels = part.image
    default = DEFAULT_FILTERS.get((height, width))
    if default is None:
        raise ConfigError(
            f"observation '{part.name}' is a {height}x{width}x{channels} image and has no default conv filters "
            f"(RLlib's are for 84x84, 42x42, 64x64, 96x96, 10x10, 240x320, 480x640; rnnppo's for 7x7); set "
            f"conv_filters, e.g. conv_filters={example_filters(height, width)}"
        )
    return default


def check_parts(config: TrainConfig, parts: list[ObsPart]) -> None:
    """Fail early (before a run writes anything) when an image part has no usable conv filters."""
    for part in parts:
        if part.image is not None:
            conv_plan(filters_for(config, part), part.image, part.name)
