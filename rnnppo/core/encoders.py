"""Observation encoders for image and Dict/Tuple observations: conv stacks, then fcnet_hiddens.

Everything before the policy (rollout buffers, chunking, the observation filter, frame stacking) keeps
one flat float vector per step (spaces.flatten_batch: Dict/Tuple parts concatenated in order, Discrete
one-hot). `spaces.obs_parts` says which columns are which part; this module turns the flat rows back
into parts: each image part (a 3-D Box, channels last) runs through its own conv stack, every other part
stays flat, and the concatenation goes through the fcnet_hiddens MLP (RLlib's ComplexInputNetwork idea,
its VisionNet for one image). An observation without an image part never comes here: the policy keeps
its plain MLP encoder (and its numbers).

Conv semantics are RLlib's (`conv_filters=[[out_channels, [kh, kw], stride], ...]`): every layer but the
last pads 'same' (output ⌈in/stride⌉, the padding split with the extra row/column at the bottom/right),
the last layer pads 'valid', each layer is followed by `conv_activation`, and the output is flattened.
RLlib's VisionNet then ends (with `use_lstm`) without a dense layer; here `fcnet_hiddens` runs on the
flattened conv output, as the issue's stack asks (set `fcnet_hiddens=[]` for RLlib's exact model).
With `frame_stack=k` an image's k frames are stacked on the channel axis (C·k input channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from rnnppo.core.config import ConfigError, TrainConfig, format_value
from rnnppo.core.spaces import ObsPart

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}

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


class ConvStack(nn.Module):
    """One image part's conv layers: [N, C, H, W] -> [N, C' H' W'] (flattened after the last layer)."""

    def __init__(self, filters: tuple[tuple[Any, ...], ...], image: tuple[int, int, int], name: str, activation: str):
        super().__init__()
        self.plan = conv_plan(filters, image, name)
        layers: list[nn.Module] = []
        channels = image[2]
        gain = 1.0 if activation == "linear" else nn.init.calculate_gain("relu")
        for layer in self.plan:
            if any(layer.padding):
                layers.append(nn.ZeroPad2d(layer.padding))
            conv = nn.Conv2d(channels, layer.out_channels, layer.kernel, layer.stride)
            nn.init.orthogonal_(conv.weight, gain=gain)
            assert conv.bias is not None  # Conv2d's default bias=True
            nn.init.zeros_(conv.bias)
            layers.append(conv)
            if activation != "linear":
                layers.append(_ACTIVATIONS[activation]())
            channels = layer.out_channels
        layers.append(nn.Flatten())
        self.layers = nn.Sequential(*layers)
        self.out_size = math.prod(self.plan[-1].out_shape)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class StructuredEncoder(nn.Module):
    """Flat rows [N, k·frame] -> [N, E]: image parts through their conv stacks, the other parts as they are,
    concatenated in part order, then the fcnet_hiddens MLP (see the module docstring)."""

    def __init__(self, parts: list[ObsPart], frame_stack: int, config: TrainConfig, mlp_factory: Any):
        super().__init__()
        self.parts = parts
        self.frame_stack = frame_stack
        self.frame = sum(p.size for p in parts)
        self.normalize_images = config.normalize_images
        self.convs = nn.ModuleDict()
        width = 0
        for part in parts:
            if part.image is None:
                width += part.size * frame_stack
                continue
            height, image_width, channels = part.image
            stacked = (height, image_width, channels * frame_stack)
            stack = ConvStack(filters_for(config, part), stacked, part.name, config.conv_activation)
            self.convs[_key(part.name)] = stack
            width += stack.out_size
        self.concat_size = width
        self.mlp = mlp_factory(width, config.encoder_widths, config.fcnet_activation)
        self.out_size = config.encoder_widths[-1] if config.encoder_widths else width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [N, k·frame] (k frames of the flat layout, oldest first) -> [N, E]."""
        rows = obs.shape[0]
        frames = obs.reshape(rows, self.frame_stack, self.frame)  # [N, k, frame]
        pieces = []
        for part in self.parts:
            columns = frames[:, :, part.start : part.start + part.size]  # [N, k, size]
            if part.image is None:
                pieces.append(columns.reshape(rows, -1))
                continue
            height, width, channels = part.image
            images = columns.reshape(rows, self.frame_stack, height, width, channels)
            images = images.permute(0, 1, 4, 2, 3).reshape(rows, self.frame_stack * channels, height, width)
            if part.scale != 1.0 and self.normalize_images:
                images = images * part.scale
            pieces.append(self.convs[_key(part.name)](images))  # [N, C' H' W']
        x = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)  # [N, concat_size]
        return self.mlp(x)

    def stages(self) -> list[tuple[str, str, str]]:
        """(stage, shape, note) rows for `inspect`: each conv layer with its output shape, then the concatenation."""
        rows = []
        for part in self.parts:
            if part.image is None:
                rows.append((f"{part.name} (flat)", f"[{part.size * self.frame_stack}]", "passed as it is"))
                continue
            stack = cast(ConvStack, self.convs[_key(part.name)])
            height, width, channels = part.image
            scale = ", scaled by 1/255" if part.scale != 1.0 and self.normalize_images else ", raw values"
            rows.append(
                (
                    f"{part.name} (image)",
                    f"[{channels * self.frame_stack}, {height}, {width}]",
                    f"channels first{scale}",
                )
            )
            for i, layer in enumerate(stack.plan):
                padding = "valid" if i == len(stack.plan) - 1 else "same"
                kernel, stride = "x".join(map(str, layer.kernel)), "x".join(map(str, layer.stride))
                shape = ", ".join(map(str, layer.out_shape))
                rows.append((f"  conv {i + 1}", f"[{shape}]", f"{kernel} stride {stride}, {padding} padding"))
            rows.append(("  flatten", f"[{stack.out_size}]", ""))
        return rows


def _key(name: str) -> str:
    """A ModuleDict key for a part name ('.' is not allowed in module names)."""
    return name.replace(".", "__")
