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
from typing import Any, cast

import torch
from torch import nn

from rnnppo.core.config import TrainConfig
from rnnppo.core.conv_plan import DEFAULT_FILTERS, ConvLayer, check_parts, conv_plan, example_filters, filters_for
from rnnppo.core.spaces import ObsPart
from rnnppo.errors import TrainingError

__all__ = ["DEFAULT_FILTERS", "ConvLayer", "check_parts", "conv_plan", "example_filters", "filters_for"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


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
        self.image_onehot = config.image_onehot
        # codes 0..N-1 [1, 1, N, 1, 1]: compared with the image, one plane per code (ONNX-exportable, unlike
        # one_hot). Not persistent: it follows from the config, and model.pt files written before it load as they are.
        self.register_buffer(
            "codes",
            torch.arange(max(1, config.image_onehot), dtype=torch.float32).view(1, 1, -1, 1, 1),
            persistent=False,
        )
        self.convs = nn.ModuleDict()
        width = 0
        for part in parts:
            if part.image is None:
                width += part.size * frame_stack
                continue
            height, image_width, channels = part.image
            planes = max(1, config.image_onehot)  # image_onehot: each channel becomes N one-hot planes
            stacked = (height, image_width, channels * frame_stack * planes)
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
            if self.image_onehot:
                images = self.one_hot(images)
            elif part.scale != 1.0 and self.normalize_images:
                images = images * part.scale
            pieces.append(self.convs[_key(part.name)](images))  # [N, C' H' W']
        x = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)  # [N, concat_size]
        return self.mlp(x)

    def one_hot(self, images: torch.Tensor) -> torch.Tensor:
        """image_onehot: [N, C, H, W] integer codes -> [N, C·N_codes, H, W] planes, channel c's planes together.
        A code outside 0..N-1 would give an all-zero cell that looks like a real one: it stops the run instead."""
        codes = cast(torch.Tensor, self.codes).to(images.dtype)
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            bad = (images < 0) | (images >= self.image_onehot) | (images != images.round())
            if bool(bad.any()):
                value = images[bad][0].item()
                raise TrainingError(
                    f"image_onehot={self.image_onehot}: the image holds the value {value:g}, not a code in "
                    f"0..{self.image_onehot - 1}; set image_onehot to the number of codes (largest + 1), or 0"
                )
        rows, channels, height, width = images.shape
        planes = torch.eq(images.unsqueeze(2), codes).to(images.dtype)  # [N, C, N_codes, H, W]
        return planes.reshape(rows, channels * self.image_onehot, height, width)

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
                    f"channels first{'' if self.image_onehot else scale}",
                )
            )
            if self.image_onehot:
                planes = channels * self.frame_stack * self.image_onehot
                rows.append(
                    ("  one-hot", f"[{planes}, {height}, {width}]", f"each code 0..{self.image_onehot - 1}: one plane")
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
